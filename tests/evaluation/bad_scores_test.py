"""Scores in: ground truth, predictions and scores the metrics refuse.

Each case names the function, its bad arguments and the message that must
name the argument and what was expected; every one used to return a
number (NaN labels counted as negative, NaN scores as correct, -1 as the
last class, probabilities truncated to class 0) or a raw NumPy error.
"""

import numpy as np
import pytest

from keras_music.evaluation import metrics
from keras_music.evaluation.task_metrics import task_metrics

NAN = float("nan")
Y = [[1, 0], [0, 1], [1, 1]]
SCORE = [[0.9, 0.2], [0.1, 0.8], [0.7, 0.4]]
LABELS = [0, 2, 1]
SCORES = [[0.5, 0.3, 0.2], [0.1, 0.3, 0.6], [0.2, 0.7, 0.1]]

CASES = {
    "roc_nan_truth": (
        metrics.roc_auc,
        ([[1, 0], [NAN, 1], [1, 1]], SCORE),
        r"`y_true` must be finite: 1 of its 6 values are NaN",
    ),
    "pr_nan_truth": (
        metrics.pr_auc,
        ([[1, 0], [0, 1], [1, NAN]], SCORE),
        r"`y_true` must be finite",
    ),
    "roc_minus_one_truth": (
        metrics.roc_auc,
        ([[1, 0], [-1, 1], [1, 1]], SCORE),
        r"`y_true` must hold 0 or 1 \(mark unknown labels with `mask`.*"
        r"\[-1\]",
    ),
    "pr_soft_truth": (
        metrics.pr_auc,
        ([[1, 0], [0.3, 1], [1, 1]], SCORE),
        r"`y_true` must hold 0 or 1.*0\.3",
    ),
    "roc_nan_score": (
        metrics.roc_auc,
        (Y, [[0.9, 0.2], [0.1, NAN], [0.7, 0.4]]),
        r"`y_score` must be finite: 1 of its 6",
    ),
    "pr_inf_score": (
        metrics.pr_auc,
        (Y, [[0.9, 0.2], [0.1, np.inf], [0.7, 0.4]]),
        r"`y_score` must be finite",
    ),
    "roc_shape_mismatch": (
        metrics.roc_auc,
        (Y, [[0.9], [0.1], [0.7]]),
        r"`y_true` and `y_score` must have the same shape\. Received: "
        r"y_true\.shape=\(3, 2\), y_score\.shape=\(3, 1\)",
    ),
    "roc_mask_shape": (
        metrics.roc_auc,
        (Y, SCORE, [[True, True]]),
        r"`mask` must have the labels' shape\. Received: mask\.shape=\(1, 2\)"
        r", y_true\.shape=\(3, 2\)",
    ),
    "roc_masked_minus_one_is_nan_elsewhere": (
        metrics.roc_auc,
        ([[1, 0], [-1, 1], [1, NAN]], SCORE, [[1, 1], [0, 1], [1, 0]]),
        r"`y_true` must be finite",
    ),
    "roc_string_truth": (
        metrics.roc_auc,
        ([["a", "b"]] * 3, SCORE),
        r"`y_true` must be an array of numbers",
    ),
    "top_k_nan_scores": (
        metrics.top_k_accuracy,
        (LABELS, [[NAN, NAN, NAN]] * 3),
        r"`scores` must be finite: 9 of its 9 values",
    ),
    "top_k_minus_one_class": (
        metrics.top_k_accuracy,
        ([0, -1, 1], SCORES),
        r"`labels` must be class indices in \[0, 2\]\. Received: labels "
        r"with values \[-1\]",
    ),
    "top_k_class_beyond": (
        metrics.top_k_accuracy,
        ([0, 3, 1], SCORES),
        r"`labels` must be class indices in \[0, 2\].*\[3\]",
    ),
    "top_k_nan_label": (
        metrics.top_k_accuracy,
        ([0, NAN, 1], SCORES),
        r"`labels` must be finite",
    ),
    "top_k_fractional_label": (
        metrics.top_k_accuracy,
        ([0, 1.5, 1], SCORES),
        r"`labels` must be integer class indices.*1\.5",
    ),
    "top_k_shape_mismatch": (
        metrics.top_k_accuracy,
        ([0, 1], SCORES),
        r"Received: labels\.shape=\(2,\), scores\.shape=\(3, 3\)",
    ),
    "top_k_bool_k": (
        metrics.top_k_accuracy,
        (LABELS, SCORES, True),
        r"`k` must be in \[1, 3\]\. Received: k=True",
    ),
    "f1_minus_one_class": (
        metrics.macro_f1,
        ([0, -1, 1], [0, 1, 1]),
        r"`y_true` must be class indices 0 or more.*\[-1\]",
    ),
    "f1_prediction_beyond_num_classes": (
        metrics.macro_f1,
        ([0, 1, 1], [0, 1, 3], 3),
        r"`y_pred` must be class indices in \[0, 2\].*\[3\]",
    ),
    "f1_probabilities_as_indices": (
        metrics.macro_f1,
        ([0, 1, 1], [0.9, 0.7, 0.6]),
        r"`y_pred` must be integer class indices \(for scores or "
        r"probabilities, pass their argmax\).*0\.9",
    ),
    "f1_multi_label_probabilities": (
        metrics.macro_f1,
        (Y, SCORE),
        r"`y_pred` must hold 0 or 1 \(threshold scores or probabilities\)",
    ),
    "f1_nan_prediction": (
        metrics.macro_f1,
        (Y, [[1, 0], [NAN, 1], [1, 1]]),
        r"`y_pred` must be finite",
    ),
    "f1_nan_truth": (
        metrics.macro_f1,
        ([0, NAN, 1], [0, 1, 1]),
        r"`y_true` must be finite",
    ),
    "f1_shape_mismatch": (
        metrics.macro_f1,
        ([0, 1, 1], [0, 1]),
        r"`y_true` and `y_pred` must have the same shape\. Received: "
        r"y_true\.shape=\(3,\), y_pred\.shape=\(2,\)",
    ),
    "f1_scores_of_another_length": (
        metrics.macro_f1,
        ([0, 1, 1], SCORES[:2]),
        r"y_true\.shape=\(3,\), y_pred\.shape=\(2, 3\)",
    ),
    "f1_nan_scores": (
        metrics.macro_f1,
        ([0, 1, 1], [[NAN, 0.1, 0.2]] * 3),
        r"`y_pred` must be finite",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_and_named(case):
    function, arguments, message = CASES[case]
    with pytest.raises(ValueError, match=message):
        function(*arguments)


def test_macro_f1_takes_the_argmax_of_scores():
    # Reference: the argmax by hand, then the index form (rows 0 and 1
    # right, row 2 wrong): classes 0, 1, 2 have F1 1, 0, 2/3.
    scores = np.asarray([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.1, 0.3, 0.6]])
    labels = [2, 0, 1]
    assert metrics.macro_f1(labels, scores) == metrics.macro_f1(
        labels, [2, 0, 2], num_classes=3
    )
    assert metrics.macro_f1(labels, scores) == pytest.approx(
        (1 + 0 + 2 / 3) / 3
    )


def test_task_metrics_refuse_nan_labels_instead_of_masking_them():
    logits = np.asarray(SCORE)
    with pytest.raises(ValueError, match=r"`y_true` must be finite"):
        task_metrics([[1, 0], [NAN, 1], [1, 1]], logits, multi_label=True)
    with pytest.raises(ValueError, match=r"`y_true` must hold 0 or 1.*-2"):
        task_metrics([[1, 0], [-2, 1], [1, 1]], logits, multi_label=True)
    with pytest.raises(ValueError, match=r"`labels` must be class indices"):
        task_metrics([0, -1, 1], SCORES, multi_label=False)
    with pytest.raises(ValueError, match=r"`scores` must be finite"):
        task_metrics(LABELS, [[NAN] * 3] * 3, multi_label=False)


def test_task_metrics_keep_minus_one_as_unknown_and_nan_for_undefined():
    # -1 is "not annotated" (OpenMIC): masked, not an error; a tag with
    # one class only leaves the metric undefined, reported as NaN.
    y = [[1, -1], [0, 1], [1, 1]]
    result = task_metrics(y, np.asarray(SCORE), multi_label=True)
    assert result["roc_auc"] == 1.0
    assert np.isnan(task_metrics([[1], [1]], [[0.2], [0.3]], True)["roc_auc"])
