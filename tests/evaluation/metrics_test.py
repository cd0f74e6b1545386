import numpy as np
import pytest
from sklearn import metrics as skm

from keras_music.evaluation import metrics

RNG = np.random.default_rng(0)


def _tagging(n=300, labels=12, ties=False):
    y = (RNG.random((n, labels)) < 0.2).astype("float32")
    score = RNG.random((n, labels)) + 0.3 * y
    if ties:
        score = np.round(score, 1)  # many equal scores
    return y, score


@pytest.mark.parametrize("ties", [False, True])
def test_roc_and_pr_auc_match_sklearn(ties):
    y, score = _tagging(ties=ties)
    # Same definitions, float64: equal to rounding (1e-12).
    assert metrics.roc_auc(y, score) == pytest.approx(
        skm.roc_auc_score(y, score, average="macro"), abs=1e-12
    )
    assert metrics.pr_auc(y, score) == pytest.approx(
        skm.average_precision_score(y, score, average="macro"), abs=1e-12
    )


def test_masked_metrics_ignore_unknown_labels():
    y, score = _tagging(labels=5)
    mask = RNG.random(y.shape) < 0.6
    expected_roc, expected_ap = [], []
    for j in range(y.shape[1]):
        known = mask[:, j]
        expected_roc.append(skm.roc_auc_score(y[known, j], score[known, j]))
        expected_ap.append(
            skm.average_precision_score(y[known, j], score[known, j])
        )
    assert metrics.roc_auc(y, score, mask) == pytest.approx(
        np.mean(expected_roc), abs=1e-12
    )
    assert metrics.pr_auc(y, score, mask) == pytest.approx(
        np.mean(expected_ap), abs=1e-12
    )
    # Unknown labels set to garbage must not change the result.
    garbage = np.where(mask, y, 1 - y)
    assert metrics.roc_auc(garbage, score, mask) == metrics.roc_auc(
        y, score, mask
    )


def test_labels_without_both_classes_are_skipped():
    y, score = _tagging(labels=4)
    y[:, 0] = 0
    expected = np.mean(
        [skm.roc_auc_score(y[:, j], score[:, j]) for j in range(1, 4)]
    )
    assert metrics.roc_auc(y, score) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_top_k_accuracy_matches_sklearn(k):
    labels = RNG.integers(0, 8, size=200)
    scores = RNG.random((200, 8))
    assert metrics.top_k_accuracy(labels, scores, k=k) == pytest.approx(
        skm.top_k_accuracy_score(labels, scores, k=k, labels=np.arange(8))
    )


def test_macro_f1_matches_sklearn():
    labels = RNG.integers(0, 6, size=300)
    pred = np.where(RNG.random(300) < 0.5, labels, RNG.integers(0, 6, 300))
    assert metrics.macro_f1(labels, pred, num_classes=6) == pytest.approx(
        skm.f1_score(labels, pred, average="macro")
    )
    y, score = _tagging(labels=6)
    pred = score > 0.6
    assert metrics.macro_f1(y, pred) == pytest.approx(
        skm.f1_score(y, pred, average="macro", zero_division=0)
    )


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same shape"):
        metrics.roc_auc(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.pr_auc([[1], [0]], [[np.nan], [0.2]])
    with pytest.raises(ValueError, match="undefined"):
        metrics.roc_auc([[1], [1]], [[0.2], [0.3]])
    with pytest.raises(ValueError, match="k=9"):
        metrics.top_k_accuracy([0], [[0.1, 0.9]], k=9)
