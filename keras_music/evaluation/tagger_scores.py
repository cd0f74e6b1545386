"""`track_tag_scores`: a tagger's exact per-track ROC-AUC and PR-AUC;
`track_tag_outputs`: the per-track scores and labels they compare."""

import numpy as np

from keras_music.evaluation.embedding_cache import labelled_tracks
from keras_music.evaluation.embedding_cache import segment_sums
from keras_music.evaluation.embedding_cache import track_labels
from keras_music.evaluation.metrics import pr_auc
from keras_music.evaluation.metrics import roc_auc


def track_tag_scores(
    model, data_dir, task, segment_seconds=None, frontend=None, batch_size=32
):
    """Exact ROC-AUC and PR-AUC of a tagger, per track.

    Every half-overlapped segment of each track (`tfrecord_dataset(mode=
    "all")`) goes through `frontend` and `model`, the outputs are
    averaged per track, and the metrics (`keras_music.evaluation.metrics`,
    macro over tags) compare them with the track's labels. A single-label
    task is scored one-hot; tracks without a label are left out, and the
    unknown entries (-1) of a partially labelled task are masked.

    Args:
        model: callable `(segments, training=False) -> (batch, num_tags)`
            on the frontend's output, e.g. a `MAESTTagger`.
        data_dir: str. A TFRecord folder (`tfrecords/make_tfrecords.py`).
        task: str. The label task of `data_dir` scored.
        segment_seconds: optional float. Segment length. Defaults to the
            model's `preprocessor.segment_seconds`.
        frontend: optional callable, audio `(batch, samples)` -> the
            model's input. Defaults to the model's `preprocessor.frontend`
            (raw audio when it has none).
        batch_size: int. Segments per call. Defaults to 32.

    Returns:
        dict: `tracks` (int, the tracks scored), `roc_auc`, `pr_auc`
        (float).

    Example:

    >>> import tempfile
    >>> from keras_music.data.track import Track
    >>> from keras_music.data.tfrecord_writer import write_tfrecords
    >>> folder = tempfile.mkdtemp()
    >>> tasks = {"tags": {"vocabulary": ["loud", "soft"], "multi_label": True}}
    >>> def load(item):  # loud tracks have the larger amplitude
    ...     level = {"a": 0.9, "b": 0.1, "c": 0.7}[item]
    ...     tag = "loud" if level > 0.5 else "soft"
    ...     return Track(item, np.full(8000, level, "float32"), 8000,
    ...                  labels={"tags": [tag]})
    >>> write_tfrecords(["a", "b", "c"], load, folder, tasks=tasks,
    ...                 sample_rate=8000, progress=False)["num_examples"]
    3
    >>> level = keras.layers.Lambda(
    ...     lambda x: keras.ops.mean(x, axis=-1, keepdims=True))
    >>> tagger = keras.layers.Lambda(lambda x: keras.ops.concatenate(
    ...     [x, 1.0 - x], axis=-1))
    >>> track_tag_scores(tagger, folder, "tags", 0.5, frontend=level)
    {'tracks': 3, 'roc_auc': 1.0, 'pr_auc': 1.0}
    """
    outputs = track_tag_outputs(
        model, data_dir, task, segment_seconds, frontend, batch_size
    )
    truth, scores = outputs["labels"], outputs["scores"]
    mask = truth >= 0
    return {
        "tracks": len(outputs["track_ids"]),
        "roc_auc": float(roc_auc(truth, scores, mask=mask)),
        "pr_auc": float(pr_auc(truth, scores, mask=mask)),
    }


def track_tag_outputs(
    model, data_dir, task, segment_seconds=None, frontend=None, batch_size=32
):
    """A tagger's outputs averaged per track, with the track's labels: what
    `track_tag_scores` scores (the arguments are its own), for metrics of
    one's own (a bootstrap over tracks).

    Returns:
        dict: `track_ids` (str array `(tracks,)`, the labelled tracks in
        the folder's order), `labels` (array `(tracks, num_tags)`, 1 / 0,
        -1 where unknown; a single-label task one-hot) and
        `scores` (float64 array `(tracks, num_tags)`).

    Example:

    >>> import tempfile
    >>> from keras_music.data.track import Track
    >>> from keras_music.data.tfrecord_writer import write_tfrecords
    >>> folder = tempfile.mkdtemp()
    >>> tasks = {"tags": {"vocabulary": ["loud", "soft"], "multi_label": True}}
    >>> def load(item):
    ...     level = {"a": 0.9, "b": 0.1}[item]
    ...     tag = "loud" if level > 0.5 else "soft"
    ...     return Track(item, np.full(8000, level, "float32"), 8000,
    ...                  labels={"tags": [tag]})
    >>> write_tfrecords(["a", "b"], load, folder, tasks=tasks,
    ...                 sample_rate=8000, progress=False)["num_examples"]
    2
    >>> level = keras.layers.Lambda(
    ...     lambda x: keras.ops.mean(x, axis=-1, keepdims=True))
    >>> tagger = keras.layers.Lambda(lambda x: keras.ops.concatenate(
    ...     [x, 1.0 - x], axis=-1))
    >>> outputs = track_tag_outputs(tagger, folder, "tags", 0.5, level)
    >>> outputs["labels"].tolist(), outputs["scores"].round(2).tolist()
    ([[1, 0], [0, 1]], [[0.9, 0.1], [0.1, 0.9]])
    """
    preprocessor = getattr(model, "preprocessor", None)
    if segment_seconds is None:
        segment_seconds = getattr(preprocessor, "segment_seconds", None)
    if segment_seconds is None:
        raise ValueError(
            "`segment_seconds` is required for a model without a "
            "preprocessor that sets one. Received: segment_seconds=None"
        )
    if frontend is None:
        frontend = getattr(preprocessor, "frontend", None)
    track_ids, labels, tasks = track_labels(data_dir)
    if task not in tasks:
        raise ValueError(
            f"`task` must be one of the tasks of {data_dir}: "
            f"{sorted(tasks)}. Received: task={task!r}"
        )

    def tag(audio, training):
        x = audio if frontend is None else frontend(audio)
        return model(x, training=training)

    sums, counts = segment_sums(
        tag, data_dir, segment_seconds, batch_size=batch_size
    )
    truth = labels[task]
    keep = labelled_tracks(truth)
    if not tasks[task]["multi_label"]:
        truth = np.eye(len(tasks[task]["vocabulary"]))[truth]
    # Partially labelled tasks (OpenMIC) mark unknown labels -1.
    truth = truth[keep]
    scores = np.stack([sums[t] / counts[t] for t in track_ids[keep]])
    return {"track_ids": track_ids[keep], "labels": truth, "scores": scores}
