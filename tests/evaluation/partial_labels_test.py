"""Partially labelled tasks (OpenMIC-2018): unknown labels are masked
from the labels a probe sees, its loss and its metrics."""

import keras
import numpy as np

from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from keras_music.evaluation.embedding_cache import labelled_tracks
from keras_music.evaluation.embedding_cache import partially_labelled_tasks
from keras_music.evaluation.embedding_cache import track_labels
from keras_music.evaluation.probe_heads import probe_loss

INSTRUMENTS = ["piano", "voice", "drums"]
TASKS = {
    "instrument": {"vocabulary": INSTRUMENTS, "multi_label": True},
    "instrument_negative": {"vocabulary": INSTRUMENTS, "multi_label": True},
    "genre": {"vocabulary": ["a", "b"], "multi_label": False},
}
# (positives, confirmed negatives) per clip.
CLIPS = {
    "c0": (["piano"], ["voice"]),
    "c1": ([], ["piano", "voice", "drums"]),
    "c2": (["drums", "voice"], []),
    "c3": ([], []),
}


def _load(item):
    positive, negative = CLIPS[item]
    return Track(
        track_id=item,
        audio=np.full(1600, 0.1, "float32"),
        sample_rate=16000,
        labels={"instrument": positive, "instrument_negative": negative},
    )


def test_track_labels_marks_unknown_entries(tmp_path):
    write_tfrecords(
        sorted(CLIPS),
        _load,
        str(tmp_path),
        tasks=TASKS,
        sample_rate=16000,
        progress=False,
    )
    ids, labels, tasks = track_labels(str(tmp_path))
    assert partially_labelled_tasks(tasks) == ["instrument"]
    by_id = dict(zip(ids.tolist(), labels["instrument"].tolist()))
    # Columns in vocabulary order: piano, voice, drums.
    assert by_id == {
        "c0": [1, 0, -1],
        "c1": [0, 0, 0],
        "c2": [-1, 1, 1],
        "c3": [-1, -1, -1],
    }
    # A clip with confirmed negatives only is labelled; one with nothing
    # known is not.
    keep = dict(zip(ids.tolist(), labelled_tracks(labels["instrument"])))
    assert keep == {"c0": True, "c1": True, "c2": True, "c3": False}
    # The companion keeps its own multi-hot form.
    assert labels["instrument_negative"].min() == 0


def test_masked_loss_averages_known_tags():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 4)).astype("float32")
    labels = (rng.random((6, 4)) < 0.5).astype("float32")
    loss = probe_loss(multi_label=True)
    # Fully labelled: the same as Keras' binary cross-entropy on logits
    # (float32 arithmetic, different formula order).
    reference = keras.losses.BinaryCrossentropy(from_logits=True)
    np.testing.assert_allclose(
        float(loss(labels, logits)), float(reference(labels, logits)), 1e-6
    )
    # Unknown entries (-1) do not count: NumPy reference, mean over the
    # known tags of each example, then over examples.
    partial = np.where(rng.random((6, 4)) < 0.4, -1.0, labels)
    partial[0] = -1.0  # an example with nothing known contributes 0
    p = 1 / (1 + np.exp(-logits.astype("float64")))
    bce = -(partial * np.log(p) + (1 - partial) * np.log(1 - p))
    known = partial >= 0
    per_example = np.where(known, bce, 0).sum(1) / np.maximum(known.sum(1), 1)
    np.testing.assert_allclose(
        float(loss(partial, logits)), per_example.mean(), rtol=1e-5
    )


def test_frozen_probe_trains_and_scores_on_known_labels_only():
    from keras_music.evaluation.probe import evaluate_frozen
    from keras_music.evaluation.probe_protocol import get_probe_protocol

    spec = {"vocabulary": INSTRUMENTS, "multi_label": True}

    def cache(n, seed, unknown):
        r = np.random.default_rng(seed)
        truth = (r.random((n, 3)) < 0.4).astype("int8")
        # Each tag is its own feature, 3 sigma apart.
        x = truth * 3.0 + r.normal(size=(n, 3))
        # Most positives (and a few others) were never annotated, as in
        # OpenMIC: read as negatives they would teach the probe and the
        # metric the opposite of the truth.
        hidden = (truth == 1) & (r.random((n, 3)) < 0.6)
        hidden |= r.random((n, 3)) < 0.1
        return {
            "embeddings": np.concatenate([x, r.normal(size=(n, 5))], 1),
            "labels": {"instrument": np.where(hidden, unknown, truth)},
            "tasks": {"instrument": spec},
        }

    protocol = get_probe_protocol(
        "s3t", epochs=20, warmup_epochs=2, batch_size=32, learning_rate=1e-2
    )

    def score(unknown):
        splits = [cache(n, seed, unknown) for n, seed in ((300, 0), (60, 1))]
        test = cache(200, 2, unknown)
        return evaluate_frozen(*splits, test, "instrument", protocol)[1.0]

    masked = score(unknown=-1)["roc_auc"][0]
    naive = score(unknown=0)["roc_auc"][0]
    # Measured 0.93 masked against 0.64 when the unknown labels are read
    # as negatives (the single-feature optimum is about 0.98).
    assert masked > 0.88, masked
    assert naive < 0.75, naive
