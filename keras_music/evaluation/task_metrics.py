"""The metrics reported per task, and the score that selects epochs."""

import numpy as np

from keras_music.evaluation import metrics

SINGLE_LABEL_METRICS = ("top1", "top5", "f1")
MULTI_LABEL_METRICS = ("roc_auc", "pr_auc")


def task_metrics(labels, logits, multi_label):
    """The reported metrics of a task, `nan` where a metric is undefined.

    Single-label: top-1 and top-5 accuracy (top-k with k = number of
    classes when there are fewer than 5) and macro F1 over the task's
    classes. Multi-label: macro ROC-AUC and PR-AUC (average precision)
    over the tags that have positives and negatives; labels of -1 (not
    annotated, in partially labelled tasks) are masked out.

    Example:

    >>> task_metrics([0, 1], [[2.0, 0.0], [0.0, 1.0]], multi_label=False)
    {'top1': 1.0, 'top5': 1.0, 'f1': 1.0}
    """
    labels = np.asarray(labels)
    logits = np.asarray(logits, dtype="float64")
    if len(labels) == 0:
        names = MULTI_LABEL_METRICS if multi_label else SINGLE_LABEL_METRICS
        return {name: float("nan") for name in names}
    if multi_label:
        # Only -1 means "not annotated"; any other value is checked.
        mask = labels != -1
        return {
            "roc_auc": _or_nan(metrics.roc_auc, labels, logits, mask),
            "pr_auc": _or_nan(metrics.pr_auc, labels, logits, mask),
        }
    num_classes = logits.shape[1]
    return {
        "top1": metrics.top_k_accuracy(labels, logits, k=1),
        "top5": metrics.top_k_accuracy(labels, logits, k=min(5, num_classes)),
        "f1": metrics.macro_f1(
            labels, logits.argmax(axis=1), num_classes=num_classes
        ),
    }


def selection_score(labels, logits, multi_label):
    """The validation score that `selection="best_metric"` maximises:
    macro ROC-AUC for multi-label tasks, top-1 accuracy otherwise."""
    scores = task_metrics(labels, logits, multi_label)
    return scores["roc_auc"] if multi_label else scores["top1"]


def _or_nan(metric, labels, scores, mask=None):
    try:
        return metric(labels, scores, mask=mask)
    except metrics.UndefinedMetricError:
        return float("nan")
