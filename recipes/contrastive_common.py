"""What `recipes/clmr.py` and `recipes/multiformat.py` share: the CPU demo
size of SampleCNN, the batches of view pairs, and the frozen evaluation
of their encoders (a linear probe on each embedding, on concatenated
embeddings, and a weighted fusion of two probes' probabilities).

Both recipes run from the repository root (`python recipes/clmr.py`), so
this file is importable next to them; it reads no flags.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from run_flags import compile_options
from run_flags import training_input

from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.evaluation.probe import task_split
from keras_music.evaluation.probe import train_probe
from keras_music.evaluation.probe_encoder import probe_caches
from keras_music.evaluation.probe_protocol import get_probe_protocol
from keras_music.evaluation.task_metrics import selection_score
from keras_music.evaluation.task_metrics import task_metrics
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from keras_music.models.sample_cnn.sample_cnn_presets import backbone_presets
from keras_music.pretraining.simclr import SimCLR

SAMPLE_RATE = 22050
# The CPU demo narrows SampleCNN to an eighth of the preset's width (at
# least 4 filters): CLMR's network then pre-trains, and embeds the 600 x
# 30 s corpus twice, within a few minutes on two CPU cores.
CPU_DEMO_WIDTH_DIVISOR = 8
# Candidate weights of the waveform probe in the weighted fusion.
FUSION_WEIGHTS = np.linspace(0.0, 1.0, 11)
METRIC_NAMES = {"top1": "accuracy", "f1": "macro F1", "roc_auc": "ROC-AUC"}
METRIC_NAMES["pr_auc"] = "PR-AUC"


def sample_cnn(preset, input_length, demo):
    """A SampleCNN preset on `input_length` samples, narrowed for the
    CPU demo."""
    overrides = {"input_length": input_length}
    if demo:
        config = backbone_presets[preset]

        def narrow(filters):
            return max(4, filters // CPU_DEMO_WIDTH_DIVISOR)

        overrides["stem_filters"] = narrow(config["stem_filters"])
        overrides["block_filters"] = tuple(
            narrow(f) for f in config["block_filters"]
        )
        if config["output_filters"] is not None:
            overrides["output_filters"] = narrow(config["output_filters"])
    return SampleCNNBackbone.from_preset(preset, **overrides)


def simclr_model(backbone, flags):
    """SimCLR on `backbone`, compiled as both recipes train it: AdamW
    with the recipe's `--learning_rate` and `--weight_decay`, the
    projection and temperature of its flags, and the run's compile
    options (`--jit_compile`). Build it in the strategy's scope."""
    simclr = SimCLR(
        backbone,
        projection_dim=flags.projection_dim,
        temperature=flags.temperature,
    )
    simclr.compile(
        optimizer=keras.optimizers.AdamW(
            flags.learning_rate, weight_decay=flags.weight_decay
        ),
        **compile_options(),
    )
    return simclr


def view_pairs(directory, span_seconds, batch_size, make_views, seed):
    """Batches `(view_1, view_2)` for `SimCLR.fit`: a random window of
    `span_seconds` of each track, of which `make_views` draws two random
    crops and augments them."""
    dataset = tfrecord_dataset(
        directory,
        segment_seconds=span_seconds,
        mode="random",
        batch_size=batch_size,
        seed=seed,
        # Replicas split the global batch evenly.
        drop_remainder=True,
        repeat=True,
    )
    dataset = dataset.map(make_views, num_parallel_calls=tf.data.AUTOTUNE)
    return training_input(dataset).prefetch(tf.data.AUTOTUNE)


def linear_protocol(probe_epochs=None, trials=3):
    """The multi-format paper's linear classifier: Adam with weight decay
    1e-6 (decoupled here), the PASE protocol's learning rate 1e-3, batch
    64 and early stopping on the validation loss (patience 10, at most 200
    epochs), mean of `trials` seeds."""
    overrides = {"trials": trials}
    if probe_epochs:
        overrides["epochs"] = probe_epochs
    protocol = get_probe_protocol(
        "pase", optimizer="adamw", weight_decay=1e-6, **overrides
    )
    return dataclasses.replace(protocol, name="multiformat_linear")


def concatenated(caches_a, caches_b):
    """Per split, the two encoders' track embeddings side by side (the
    paper's 512 + 512 -> 1024-d late fusion)."""
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
    """Test scores of a linear probe on frozen embeddings, trial means."""
    result = probe_caches(caches, task, protocol, seed=seed)
    return {"tracks": result.test_tracks} | result.mean


def weighted_fusion_scores(caches_a, caches_b, task, protocol, seed):
    """Decision-level fusion: one probe per encoder, test probabilities
    `w p_a + (1 - w) p_b` with `w` (0, 0.1, ..., 1) chosen by the
    validation score (accuracy, or ROC-AUC for multi-label tasks);
    trial means, and the chosen weights."""
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
            valid_p.append(_probabilities(model, valid_x, multi_label))
            test_p.append(_probabilities(model, test_x, multi_label))
        valid_scores = [
            selection_score(
                valid_y, _fuse(*valid_p, w, multi_label), multi_label
            )
            for w in FUSION_WEIGHTS
        ]
        # Ties go to the weight nearest the even mix.
        order = np.argsort(np.abs(FUSION_WEIGHTS - 0.5), kind="stable")
        best = max(
            order, key=lambda i: np.nan_to_num(valid_scores[i], nan=-1.0)
        )
        w = float(FUSION_WEIGHTS[best])
        scores = task_metrics(
            test_y, _fuse(*test_p, w, multi_label), multi_label
        )
        for name, value in scores.items():
            trials.setdefault(name, []).append(value)
        weights.append(w)
    return {"tracks": len(test_y), "waveform_weights": weights} | {
        name: float(np.mean(values)) for name, values in trials.items()
    }


def _probabilities(model, x, multi_label):
    logits = np.asarray(model(np.asarray(x, "float32"), training=False))
    if multi_label:
        return 1.0 / (1.0 + np.exp(-logits))
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def _fuse(p_a, p_b, w, multi_label):
    fused = w * p_a + (1 - w) * p_b
    if multi_label:
        return fused
    # The single-label metrics take logits; the log keeps the ranking.
    return np.log(np.maximum(fused, 1e-12))


def describe(scores):
    return " ".join(
        f"{label} {scores[key]:.3f}"
        for key, label in METRIC_NAMES.items()
        if key in scores
    )
