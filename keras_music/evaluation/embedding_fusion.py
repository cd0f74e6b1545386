"""Frozen evaluation of two encoders alone and fused, the multi-format
contrastive paper's Table 2 (papers/multiformat-contrastive.txt, Sec. 4).

Feature-level fusion concatenates the two embeddings of each track
(`concatenated`, 512 + 512 -> 1024-d) before one linear probe;
decision-level fusion trains one probe per encoder and mixes their test
probabilities with the weight the validation split prefers
(`weighted_fusion_scores`). Both use the paper's linear classifier
(`linear_protocol`).
"""

import dataclasses

import numpy as np

from keras_music.evaluation.probe import task_split
from keras_music.evaluation.probe import train_probe
from keras_music.evaluation.probe_encoder import probe_caches
from keras_music.evaluation.probe_protocol import get_probe_protocol
from keras_music.evaluation.task_metrics import selection_score
from keras_music.evaluation.task_metrics import task_metrics

# Candidate weights of the first encoder's probe in the weighted fusion.
FUSION_WEIGHTS = np.linspace(0.0, 1.0, 11)
METRIC_NAMES = {
    "top1": "accuracy",
    "f1": "macro F1",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
}


def linear_protocol(probe_epochs=None, trials=3):
    """The multi-format paper's linear classifier, a `ProbeProtocol`.

    Adam with weight decay 1e-6 (decoupled here), the PASE protocol's
    learning rate 1e-3, batch 64 and early stopping on the validation
    loss (patience 10, at most 200 epochs), mean of `trials` seeds. CLMR
    probes with it too.

    Args:
        probe_epochs: int or None. Epoch cap; None keeps 200.
        trials: int. Seeds to average. Defaults to 3.
    """
    overrides = {"trials": trials}
    if probe_epochs:
        overrides["epochs"] = probe_epochs
    protocol = get_probe_protocol(
        "pase", optimizer="adamw", weight_decay=1e-6, **overrides
    )
    return dataclasses.replace(protocol, name="multiformat_linear")


def concatenated(caches_a, caches_b):
    """Per split, the two encoders' track embeddings side by side.

    Args:
        caches_a, caches_b: lists of embedding caches (`embed_splits`),
            the same splits in the same order, of the same tracks.

    Returns:
        A list of caches like `caches_a`, whose `"embeddings"` are
        `[a, b]` concatenated on the feature axis.
    """
    joined = []
    for a, b in zip(caches_a, caches_b):
        if not np.array_equal(a["track_ids"], b["track_ids"]):
            raise ValueError(
                "The two embedding caches list different tracks; they must "
                f"come from the same split. Received: {a['path']} and "
                f"{b['path']}"
            )
        cache = dict(a)
        cache["embeddings"] = np.concatenate(
            [a["embeddings"], b["embeddings"]], axis=1
        )
        joined.append(cache)
    return joined


def probe_scores(caches, task, protocol, seed):
    """Test scores of a linear probe on frozen embeddings (train, valid,
    test caches), trial means, with the number of test tracks."""
    result = probe_caches(caches, task, protocol, seed=seed)
    return {"tracks": result.test_tracks} | result.mean


def weighted_fusion_scores(caches_a, caches_b, task, protocol, seed):
    """Decision-level fusion of two encoders' linear probes.

    Per trial, one probe per encoder (seed `seed + trial`); test
    probabilities `w p_a + (1 - w) p_b` with `w` in `FUSION_WEIGHTS` (0,
    0.1, ..., 1) chosen by the validation score (accuracy, or ROC-AUC
    for multi-label tasks; ties go to the weight nearest 0.5).

    Returns:
        Trial means of the test metrics, `"tracks"` and the chosen
        weights of `caches_a`'s probe (`"waveform_weights"`, one a trial).
    """
    spec = caches_a[0]["tasks"][task]
    multi_label = spec["multi_label"]
    num_outputs = len(spec["vocabulary"])
    trials, weights = {}, []
    for trial in range(protocol.trials):
        valid_p, test_p = [], []
        for caches in (caches_a, caches_b):
            (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = (
                task_split(cache, task) for cache in caches
            )
            model, _ = train_probe(
                train_x,
                train_y,
                valid_x,
                valid_y,
                num_outputs,
                multi_label,
                protocol,
                seed + trial,
            )
            valid_p.append(probabilities(model, valid_x, multi_label))
            test_p.append(probabilities(model, test_x, multi_label))
        w = best_fusion_weight(valid_y, valid_p, multi_label)
        scores = task_metrics(
            test_y, fuse(*test_p, w, multi_label), multi_label
        )
        for name, value in scores.items():
            trials.setdefault(name, []).append(value)
        weights.append(w)
    return {"tracks": len(test_y), "waveform_weights": weights} | {
        name: float(np.mean(values)) for name, values in trials.items()
    }


def best_fusion_weight(valid_y, valid_p, multi_label):
    """The weight `w` in `FUSION_WEIGHTS` of `valid_p[0]` in `fuse` that
    the validation score prefers (accuracy, or ROC-AUC for multi-label
    tasks); ties go to the weight nearest the even mix 0.5.

    Args:
        valid_y: validation labels (class indices, or multi-hot).
        valid_p: pair of probability arrays `(tracks, classes)`, the two
            probes' outputs on the validation split.
        multi_label: bool. Whether the task is multi-label.
    """
    valid_scores = [
        selection_score(valid_y, fuse(*valid_p, w, multi_label), multi_label)
        for w in FUSION_WEIGHTS
    ]
    # Ties go to the weight nearest the even mix.
    order = np.argsort(np.abs(FUSION_WEIGHTS - 0.5), kind="stable")
    best = max(order, key=lambda i: np.nan_to_num(valid_scores[i], nan=-1.0))
    return float(FUSION_WEIGHTS[best])


def probabilities(model, x, multi_label):
    """A probe's class probabilities: sigmoid (multi-label) or softmax of
    its logits."""
    logits = np.asarray(model(np.asarray(x, "float32"), training=False))
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def fuse(p_a, p_b, w, multi_label):
    """`w p_a + (1 - w) p_b`; for single-label tasks its log, as the
    metrics take logits (the log keeps the ranking)."""
    fused = w * p_a + (1 - w) * p_b
    if multi_label:
        return fused
    return np.log(np.maximum(fused, 1e-12))


def describe(scores):
    """`"accuracy 0.500 macro F1 0.410"`: the named metrics in `scores`."""
    return " ".join(
        f"{label} {scores[key]:.3f}"
        for key, label in METRIC_NAMES.items()
        if key in scores
    )
