"""Exact evaluation metrics as the papers report them (NumPy).

Tagging: macro ROC-AUC and macro PR-AUC (average precision), computed per
tag and averaged over the tags that have both positives and negatives.
Classification: top-k accuracy and macro F1. Every function takes an
optional `mask` of the labels' shape (1 = label known) for partially
labelled data such as OpenMIC-2018, whose unknown labels must not count.

Keras' streaming `keras.metrics.AUC` approximates these with a fixed set
of thresholds; use it for per-epoch monitoring and these for the reported
figures.
"""

import numpy as np

from keras_music.layers import validation

_MASK_HINT = " (mark unknown labels with `mask`, e.g. mask=y_true >= 0)"


class UndefinedMetricError(ValueError):
    """The metric has no value for this (valid) input.

    Raised when no label has both positive and negative examples. It is a
    `ValueError`, but unlike the errors for bad input (NaN, shapes, class
    indices) it says nothing is wrong with the input: `task_metrics`
    reports it as NaN.

    Example:

    >>> try:
    ...     roc_auc([[1], [1]], [[0.2], [0.3]])
    ... except UndefinedMetricError as error:
    ...     print(str(error)[:39])
    No label has both positive and negative
    """


def _check_mask(mask, shape):
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = validation.check_finite_array("mask", mask)
    if mask.shape != shape:
        raise ValueError(
            "`mask` must have the labels' shape. Received: "
            f"mask.shape={mask.shape}, y_true.shape={shape}"
        )
    return mask.astype(bool)


def _as_2d(y_true, y_score, mask):
    validation.check_same_shape(("y_true", "y_score"), (y_true, y_score))
    y_true = validation.check_finite_array("y_true", y_true)
    y_score = validation.check_finite_array("y_score", y_score)
    if y_true.ndim == 1:
        y_true, y_score = y_true[:, None], y_score[:, None]
        mask = None if mask is None else np.asarray(mask)[:, None]
    if y_true.ndim != 2:
        raise ValueError(
            "`y_true` and `y_score` must be (examples, labels). Received: "
            f"y_true.shape={y_true.shape}, y_score.shape={y_score.shape}"
        )
    known = _check_mask(mask, y_true.shape)
    positive = validation.check_binary(
        "y_true", y_true, None if mask is None else known, _MASK_HINT
    )
    return positive, y_score.astype("float64"), known


def _roc_auc(positive, score):
    """Mann-Whitney U statistic with average ranks for ties."""
    order = np.argsort(score, kind="mergesort")
    sorted_score = score[order]
    ranks = np.empty(len(score), dtype="float64")
    # Average rank within groups of equal scores.
    _, first, counts = np.unique(
        sorted_score, return_index=True, return_counts=True
    )
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    n_pos = positive.sum()
    n_neg = len(positive) - n_pos
    return (ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _average_precision(positive, score):
    """AP = sum over thresholds of (R_n - R_{n-1}) * P_n (no interpolation)."""
    order = np.argsort(-score, kind="mergesort")
    score, positive = score[order], positive[order]
    # Thresholds at each distinct score: the last index of each group.
    last = np.r_[np.nonzero(np.diff(score))[0], len(score) - 1]
    true_pos = np.cumsum(positive)[last]
    predicted = last + 1
    precision = true_pos / predicted
    recall = true_pos / positive.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _per_label(metric, y_true, y_score, mask):
    positive, score, mask = _as_2d(y_true, y_score, mask)
    values = []
    for j in range(positive.shape[1]):
        known = mask[:, j]
        pos = positive[known, j]
        if 0 < pos.sum() < len(pos):
            values.append(metric(pos, score[known, j]))
    if not values:
        raise UndefinedMetricError(
            "No label has both positive and negative examples: the metric "
            "is undefined."
        )
    return float(np.mean(values))


def roc_auc(y_true, y_score, mask=None):
    """Macro ROC-AUC over labels (labels without both classes skipped).

    Args:
        y_true: binary array `(examples, labels)`.
        y_score: float array `(examples, labels)`, higher for positive.
        mask: optional bool array `(examples, labels)`; `False` entries
            (labels not annotated) are left out.

    Example:

    >>> roc_auc([[1, 0], [0, 1], [1, 1]], [[0.9, 0.2], [0.1, 0.8], [0.7, 0.4]])
    1.0
    """
    return _per_label(_roc_auc, y_true, y_score, mask)


def pr_auc(y_true, y_score, mask=None):
    """Macro PR-AUC as average precision (scikit-learn's definition).

    Args:
        y_true: binary array `(examples, labels)`.
        y_score: float array `(examples, labels)`, higher for positive.
        mask: optional bool array `(examples, labels)`; `False` entries
            (labels not annotated) are left out.

    Example:

    >>> pr_auc([[1], [0], [1]], [[0.9], [0.8], [0.1]])
    0.8333333333333333
    """
    return _per_label(_average_precision, y_true, y_score, mask)


def top_k_accuracy(labels, scores, k=1):
    """Fraction of examples whose class is among the `k` top scores.

    Args:
        labels: int array `(examples,)` of class indices.
        scores: float array `(examples, classes)`.
        k: int. How many top scores count. Defaults to 1.

    Example:

    >>> top_k_accuracy([0, 2], [[0.5, 0.3, 0.2], [0.5, 0.3, 0.2]], k=2)
    0.5
    """
    scores = validation.check_finite_array("scores", scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(
            "`labels` must be (examples,) and `scores` (examples, classes). "
            f"Received: labels.shape={labels.shape}, "
            f"scores.shape={scores.shape}"
        )
    labels = validation.check_class_indices("labels", labels, scores.shape[1])
    if isinstance(k, bool) or not 1 <= k <= scores.shape[1]:
        raise ValueError(
            f"`k` must be in [1, {scores.shape[1]}]. Received: k={k}"
        )
    # Ties are broken against the true class (a strict count).
    true_score = scores[np.arange(len(labels)), labels]
    better = (scores > true_score[:, None]).sum(axis=1)
    return float(np.mean(better < k))


def macro_f1(y_true, y_pred, num_classes=None, mask=None):
    """Macro F1 over classes.

    `y_true`/`y_pred` are class indices `(examples,)` for single-label
    tasks (`y_pred` may also be scores `(examples, classes)`: their
    argmax is the prediction), or binary matrices `(examples, labels)` for
    multi-label tasks (with an optional `mask`). Classes never present
    nor predicted count as F1 = 0, like scikit-learn's `zero_division=0`
    default.

    Args:
        y_true: class indices `(examples,)` or a binary matrix
            `(examples, labels)`.
        y_pred: predictions in the same form as `y_true`, or scores
            `(examples, classes)` for class indices `y_true`.
        num_classes: int or `None`. Number of classes (single-label);
            defaults to the scores' width, else to one more than the
            largest index seen.

    Raises:
        ValueError: NaN anywhere, indices outside `[0, num_classes)`,
            fractional indices, non-binary matrices (probabilities must
            be thresholded), or shapes that differ (both are named).
        mask: optional bool array `(examples, labels)` (multi-label).

    Example:

    >>> macro_f1([0, 1, 1], [0, 1, 0])
    0.6666666666666666
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == 1 and y_pred.ndim == 2 and len(y_pred) == len(y_true):
        # Scores or probabilities (examples, classes): their top class.
        y_pred = validation.check_finite_array("y_pred", y_pred)
        num_classes = num_classes or y_pred.shape[1]
        y_pred = y_pred.argmax(axis=1)
    validation.check_same_shape(("y_true", "y_pred"), (y_true, y_pred))
    if y_true.ndim == 1:
        y_true = validation.check_class_indices("y_true", y_true, num_classes)
        y_pred = validation.check_class_indices("y_pred", y_pred, num_classes)
        n = num_classes or int(max(y_true.max(), y_pred.max()) + 1)
        y_true, y_pred = (
            np.eye(n, dtype=bool)[y_true],
            np.eye(n, dtype=bool)[y_pred],
        )
        mask = _check_mask(mask, y_true.shape)
    else:
        where = None if mask is None else _check_mask(mask, y_true.shape)
        y_true = validation.check_binary("y_true", y_true, where, _MASK_HINT)
        y_pred = validation.check_binary(
            "y_pred", y_pred, where, " (threshold scores or probabilities)"
        )
        mask = _check_mask(mask, y_true.shape)
    tp = (y_true & y_pred & mask).sum(axis=0)
    fp = (~y_true & y_pred & mask).sum(axis=0)
    fn = (y_true & ~y_pred & mask).sum(axis=0)
    denominator = 2 * tp + fp + fn
    f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
    return float(np.mean(f1))
