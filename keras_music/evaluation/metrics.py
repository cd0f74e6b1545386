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


def _as_2d(y_true, y_score, mask):
    y_true = np.asarray(y_true, dtype="float64")
    y_score = np.asarray(y_score, dtype="float64")
    if y_true.ndim == 1:
        y_true, y_score = y_true[:, None], y_score[:, None]
    if y_true.shape != y_score.shape or y_true.ndim != 2:
        raise ValueError(
            "`y_true` and `y_score` must have the same shape "
            "(examples, labels). Received: "
            f"y_true.shape={y_true.shape}, y_score.shape={y_score.shape}"
        )
    if not np.all(np.isfinite(y_score)):
        raise ValueError("`y_score` contains NaN or infinite values.")
    if mask is None:
        mask = np.ones_like(y_true, dtype=bool)
    else:
        mask = np.asarray(mask).reshape(y_true.shape).astype(bool)
    return y_true > 0.5, y_score, mask


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
        raise ValueError(
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
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype="float64")
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ValueError(
            "`labels` must be (examples,) and `scores` (examples, classes). "
            f"Received: labels.shape={labels.shape}, "
            f"scores.shape={scores.shape}"
        )
    if not 1 <= k <= scores.shape[1]:
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
    tasks, or binary matrices `(examples, labels)` for multi-label tasks
    (with an optional `mask`). Classes never present nor predicted count
    as F1 = 0, like scikit-learn's `zero_division=0` default.

    Args:
        y_true: class indices `(examples,)` or a binary matrix
            `(examples, labels)`.
        y_pred: predictions in the same form as `y_true`.
        num_classes: int or `None`. Number of classes (single-label);
            defaults to one more than the largest index seen.
        mask: optional bool array `(examples, labels)` (multi-label).

    Example:

    >>> macro_f1([0, 1, 1], [0, 1, 0])
    0.6666666666666666
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            "`y_true` and `y_pred` must have the same shape. Received: "
            f"{y_true.shape} and {y_pred.shape}"
        )
    if y_true.ndim == 1:
        n = num_classes or int(max(y_true.max(), y_pred.max()) + 1)
        y_true = np.eye(n, dtype=bool)[y_true.astype(int)]
        y_pred = np.eye(n, dtype=bool)[y_pred.astype(int)]
    y_true, y_pred = y_true > 0.5, y_pred > 0.5
    mask = np.ones_like(y_true) if mask is None else np.asarray(mask) > 0
    tp = (y_true & y_pred & mask).sum(axis=0)
    fp = (~y_true & y_pred & mask).sum(axis=0)
    fn = (y_true & ~y_pred & mask).sum(axis=0)
    denominator = 2 * tp + fp + fn
    f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
    return float(np.mean(f1))
