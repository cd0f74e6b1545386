import numpy as np
from sklearn import metrics as skm

from keras_music.evaluation.task_metrics import selection_score
from keras_music.evaluation.task_metrics import task_metrics

RNG = np.random.default_rng(0)


def test_single_label_metrics_match_sklearn():
    labels = RNG.integers(0, 7, 200)
    logits = RNG.normal(size=(200, 7)) + 1.5 * np.eye(7)[labels]
    values = task_metrics(labels, logits, multi_label=False)
    classes = np.arange(7)
    # Same definitions, float64: equal to rounding.
    assert (
        abs(values["top1"] - skm.accuracy_score(labels, logits.argmax(1)))
        < 1e-12
    )
    top5 = skm.top_k_accuracy_score(labels, logits, k=5, labels=classes)
    assert abs(values["top5"] - top5) < 1e-12
    f1 = skm.f1_score(labels, logits.argmax(1), average="macro")
    assert abs(values["f1"] - f1) < 1e-12
    assert selection_score(labels, logits, False) == values["top1"]


def test_top5_with_fewer_classes_is_top_all():
    values = task_metrics([0, 1, 2], RNG.normal(size=(3, 3)), False)
    assert values["top5"] == 1.0


def test_multi_label_metrics_match_sklearn():
    labels = (RNG.random((150, 6)) < 0.3).astype(int)
    logits = RNG.normal(size=(150, 6)) + labels
    values = task_metrics(labels, logits, multi_label=True)
    roc = skm.roc_auc_score(labels, logits, average="macro")
    ap = skm.average_precision_score(labels, logits, average="macro")
    assert abs(values["roc_auc"] - roc) < 1e-12
    assert abs(values["pr_auc"] - ap) < 1e-12
    assert selection_score(labels, logits, True) == values["roc_auc"]


def test_undefined_metrics_are_nan():
    values = task_metrics([[1, 0], [1, 0]], [[0.3, 0.1], [0.2, 0.5]], True)
    assert np.isnan(values["roc_auc"]) and np.isnan(values["pr_auc"])
    empty = task_metrics(np.zeros(0), np.zeros((0, 4)), False)
    assert all(np.isnan(v) for v in empty.values())


def test_partial_labels_are_masked_like_sklearn_on_known_entries():
    labels = (RNG.random((200, 5)) < 0.3).astype(int)
    logits = RNG.normal(size=(200, 5)) + labels
    partial = np.where(RNG.random((200, 5)) < 0.4, -1, labels)
    values = task_metrics(partial, logits, multi_label=True)
    # Reference: scikit-learn per tag on the annotated entries only, then
    # the macro mean (float64, equal to rounding).
    known = partial >= 0
    roc = np.mean(
        [
            skm.roc_auc_score(partial[known[:, j], j], logits[known[:, j], j])
            for j in range(5)
        ]
    )
    ap = np.mean(
        [
            skm.average_precision_score(
                partial[known[:, j], j], logits[known[:, j], j]
            )
            for j in range(5)
        ]
    )
    assert abs(values["roc_auc"] - roc) < 1e-12
    assert abs(values["pr_auc"] - ap) < 1e-12
