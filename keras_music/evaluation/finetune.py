"""The `finetune` and `supervised` scenarios: encoder and head trained
end to end on segments, scored per track.

`finetune` starts from the encoder's weights; `supervised` rebuilds the
encoder from its config (random initialisation, PASE's "supervised"
baseline). Both train on every half-overlapped segment of the training
tracks of the label fraction (each segment carries its track's labels),
select the epoch on validation and score the test tracks by averaging the
segment logits of each track, as the frozen scenario averages embeddings.
"""

import json
import math
import os

import keras
import numpy as np
import tensorflow as tf

from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.data.tfrecord_format import read_manifest
from keras_music.evaluation.embedding_cache import labelled_tracks
from keras_music.evaluation.embedding_cache import track_labels
from keras_music.evaluation.epoch_selector import EpochSelector
from keras_music.evaluation.label_fractions import label_fraction_indices
from keras_music.evaluation.probe_heads import probe_head
from keras_music.evaluation.probe_heads import probe_loss
from keras_music.evaluation.task_metrics import task_metrics
from keras_music.layers.validation import check_positive

SCENARIOS = ("frozen", "finetune", "supervised")


def evaluate_finetune(
    encoder,
    splits,
    task,
    protocol,
    segment_seconds,
    scenario="finetune",
    fractions=(1.0,),
    seed=0,
):
    """End-to-end evaluation of one task (`finetune` or `supervised`).

    Args:
        encoder: `keras.Model` mapping a batch of segments to
            `(batch, dim)` (see `keras_music.evaluation.segment_encoder`).
            It is copied, never modified.
        splits: dict with `"train"`, `"valid"` and `"test"` TFRecord
            dataset folders.
        task: str. A task of the dataset.
        protocol: `ProbeProtocol` (its head, optimiser, schedule, epochs,
            batch size, selection and trials; its grid is not searched:
            end-to-end training is too costly for it).
        segment_seconds: float. Segment length the encoder takes.
        scenario: str. `"finetune"` or `"supervised"`.
        fractions: list of float. Label fractions. Defaults to `(1.0,)`.
        seed: int. Seeds the subsets and the trials. Defaults to 0.

    Returns:
        dict fraction -> dict metric name -> list of per-trial values.

    Example:

    Three tiny TFRecord splits (4 one-second tracks at 1 kHz each:
    silent "rock", constant "jazz") and a linear encoder of half-second
    segments, fine-tuned for one epoch:

    >>> import tempfile
    >>> from keras_music.data.track import Track
    >>> from keras_music.data.tfrecord_writer import write_tfrecords
    >>> tasks = {"genre": {"vocabulary": ["rock", "jazz"],
    ...                    "multi_label": False}}
    >>> splits = {}
    >>> for split in ("train", "valid", "test"):
    ...     splits[split] = tempfile.mkdtemp()
    ...     tracks = [
    ...         Track(f"{split}{i}", np.full(1000, i % 2, "float32"), 1000,
    ...               {"genre": [tasks["genre"]["vocabulary"][i % 2]]})
    ...         for i in range(4)
    ...     ]
    ...     _ = write_tfrecords(
    ...         tracks, lambda t: t, splits[split], sample_rate=1000,
    ...         tasks=tasks, progress=False,
    ...     )
    >>> encoder = keras.Sequential([keras.Input((500,)), keras.layers.Dense(4)])
    >>> protocol = get_probe_protocol(
    ...     "s3t", epochs=1, warmup_epochs=0, batch_size=4
    ... )
    >>> scores = evaluate_finetune(encoder, splits, "genre", protocol, 0.5)
    >>> sorted(scores), sorted(scores[1.0]), len(scores[1.0]["top1"])
    ([1.0], ['f1', 'top1', 'top5'], 1)
    """
    if scenario not in ("finetune", "supervised"):
        raise ValueError(
            "`scenario` must be 'finetune' or 'supervised'. "
            f"Received: scenario={scenario!r}"
        )
    check_positive("segment_seconds", segment_seconds)
    manifest = read_manifest(splits["train"])
    if task not in manifest["tasks"]:
        raise ValueError(
            f"`task` must be one of the dataset's tasks "
            f"{sorted(manifest['tasks'])}. Received: task={task!r}"
        )
    spec = manifest["tasks"][task]
    multi_label = spec["multi_label"]
    num_outputs = len(spec["vocabulary"])

    ids, labels, _ = track_labels(splits["train"])
    labelled = labelled_tracks(labels[task])
    ids, labels = ids[labelled], labels[task][labelled]
    subsets = label_fraction_indices(labels, fractions, seed=seed)
    valid = _TrackLevel(splits["valid"], task, segment_seconds)
    test = _TrackLevel(splits["test"], task, segment_seconds)

    results = {}
    for fraction in fractions:
        subset = ids[subsets[float(fraction)]]
        targets = labels[subsets[float(fraction)]]
        segments = _count_segments(splits["train"], subset, segment_seconds)
        steps = max(1, math.ceil(segments / protocol.batch_size))
        trials = {}
        for trial in range(protocol.trials):
            keras.utils.set_random_seed(seed + trial)
            model = _end_to_end_model(encoder, scenario, protocol, num_outputs)
            model.compile(
                optimizer=protocol.make_optimizer(steps),
                loss=probe_loss(multi_label),
            )
            selector = EpochSelector(
                valid.logits,
                valid.labels,
                multi_label,
                protocol.selection,
                protocol.patience,
            )
            model.fit(
                _training_segments(
                    splits["train"],
                    segment_seconds,
                    subset,
                    targets,
                    protocol.batch_size,
                    seed + trial,
                ),
                epochs=protocol.epochs,
                verbose=0,
                callbacks=[selector],
            )
            scores = task_metrics(test.labels, test.logits(model), multi_label)
            for name, value in scores.items():
                trials.setdefault(name, []).append(value)
        results[float(fraction)] = trials
    return results


def _end_to_end_model(encoder, scenario, protocol, num_outputs):
    # `clone_model` rebuilds every layer from its config: fresh weights,
    # which is the supervised baseline; fine-tuning copies the weights so
    # that the caller's encoder is left as it was.
    copy = keras.models.clone_model(encoder)
    if scenario == "finetune":
        copy.set_weights(encoder.get_weights())
    inputs = keras.Input(shape=encoder.input_shape[1:], name="segment")
    embedding = copy(inputs)
    head = probe_head(
        protocol.head,
        int(embedding.shape[-1]),
        num_outputs,
        hidden_dim=protocol.hidden_dim,
        dropout=protocol.dropout,
    )
    return keras.Model(inputs, head(embedding), name=f"{scenario}_model")


def _training_segments(directory, segment_seconds, ids, targets, batch, seed):
    """`(segment, target)` batches of the tracks `ids`, each segment with
    its track's row of `targets` (as `track_labels` gives them, so that
    unknown labels stay -1 for the masked loss)."""
    rows = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(ids)), tf.range(len(ids), dtype=tf.int32)
        ),
        default_value=-1,
    )
    targets = tf.constant(
        targets, "float32" if np.ndim(targets) > 1 else "int32"
    )
    dataset = tfrecord_dataset(
        directory, segment_seconds=segment_seconds, mode="all"
    )
    return (
        dataset.filter(lambda x, track: rows.lookup(track) >= 0)
        .map(lambda x, track: (x, tf.gather(targets, rows.lookup(track))))
        .shuffle(1024, seed=seed, reshuffle_each_iteration=True)
        .batch(batch)
        .prefetch(tf.data.AUTOTUNE)
    )


def _count_segments(directory, ids, segment_seconds):
    """Segments of the given tracks, as `tfrecord_dataset(mode="all")`
    cuts them, from the shard indices (no audio read)."""
    manifest = read_manifest(directory)
    features = manifest["data_kind"] == "features"
    rate = manifest["frame_rate"] if features else manifest["sample_rate"]
    segment = max(1, int(round(segment_seconds * rate)))
    hop = max(1, segment // 2)
    wanted, total = set(np.asarray(ids).tolist()), 0
    for shard in manifest["shards"]:
        with open(os.path.join(directory, shard["index"])) as stream:
            entries = json.load(stream)["tracks"]
        for entry in entries:
            if entry["track_id"] in wanted:
                last = max(entry["length"], segment) - segment
                total += last // hop + 1 + (1 if last % hop else 0)
    return total


class _TrackLevel:
    """Track-level logits of a model on one split: segment logits averaged
    per track, in the order of `labels` (labelled tracks only)."""

    def __init__(self, directory, task, segment_seconds, batch_size=64):
        ids, labels, _ = track_labels(directory)
        keep = labelled_tracks(labels[task])
        self.ids = ids[keep]
        self.labels = labels[task][keep]
        self.dataset = tfrecord_dataset(
            directory,
            segment_seconds=segment_seconds,
            mode="all",
            batch_size=batch_size,
        )

    def logits(self, model):
        if len(self.ids) == 0:
            return np.zeros((0, model.output_shape[-1]), "float32")
        sums, counts = {}, {}
        for segments, ids in self.dataset:
            logits = np.asarray(model.predict_on_batch(segments), "float64")
            for track, row in zip(ids.numpy().astype(str).tolist(), logits):
                sums[track] = sums.get(track, 0.0) + row
                counts[track] = counts.get(track, 0) + 1
        return np.stack(
            [sums[t] / counts[t] for t in self.ids.tolist()]
        ).astype("float32")
