"""Track embeddings of an encoder, extracted once and cached on disk.

`extract_embeddings` reads every half-overlapped segment of every track of
a keras_music TFRecord dataset (`tfrecord_dataset(..., mode="all")`), runs
the segments through an encoder (any model mapping a batch of segments to
`(batch, dim)`), averages the segment embeddings of each track and writes

```
<cache_dir>/<cache_key>/
    embeddings.npy      float32 (tracks, dim)
    track_ids.npy       str (tracks,)
    labels-<task>.npy   int32 (tracks,) class index, -1 = no label
                        (single-label) or int8 (tracks, classes) multi-hot
                        (multi-label)
    manifest.json       encoder description, data, segment, tasks, counts
```

into a temporary folder renamed into place when complete, so that a cache
is either whole or absent. A later call with the same key loads the cache
without running the encoder; the default key hashes the encoder's config
and weights, the dataset's manifest (shard checksums included) and the
segment length, so a changed encoder or dataset never reuses a stale one.
"""

import hashlib
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.data.tfrecord_format import read_manifest
from keras_music.utils.atomic_write import atomic_path
from keras_music.utils.validation import check_positive
from keras_music.utils.validation import check_positive_int

MANIFEST_NAME = "manifest.json"
_CACHE_VERSION = 2


def encoder_fingerprint(encoder):
    """A short hash of an encoder's config and weights."""
    digest = hashlib.sha1()
    config = keras.saving.serialize_keras_object(encoder)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    for weight in encoder.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


def default_cache_key(encoder, data_dir, segment_seconds):
    """`<encoder name>-<hash of encoder, data and segment>`."""
    manifest = read_manifest(data_dir)
    digest = hashlib.sha1()
    digest.update(encoder_fingerprint(encoder).encode())
    digest.update(json.dumps(manifest, sort_keys=True).encode())
    digest.update(f"{float(segment_seconds)!r}/{_CACHE_VERSION}".encode())
    return f"{encoder.name}-{digest.hexdigest()[:16]}"


def track_labels(data_dir):
    """Labels of every track from the shard indices, without reading audio.

    A multi-label task `T` with a companion task `T_negative` over the
    same vocabulary (OpenMIC-2018's confirmed negatives, see
    `keras_music.data.datasets.openmic_2018`) is partially labelled: its
    array holds 1 (positive), 0 (confirmed negative) and -1 (not
    annotated). Probes ignore the -1 entries in their loss and the metrics
    mask them out (`task_metrics`).

    Returns:
        `(track_ids, labels, tasks)`: track ids in index order; a dict task
        -> array (int32 class index with -1 for "no label" for single-label
        tasks, int8 multi-hot for multi-label tasks, with -1 for unknown
        labels of a partially labelled task); the manifest's task
        specifications.
    """
    manifest = read_manifest(data_dir)
    entries = []
    for shard in manifest["shards"]:
        with open(os.path.join(data_dir, shard["index"])) as stream:
            entries += json.load(stream)["tracks"]
    track_ids = np.asarray([entry["track_id"] for entry in entries])
    labels = {}
    for task, spec in manifest["tasks"].items():
        indices = [entry["labels"].get(task, []) for entry in entries]
        if spec["multi_label"]:
            hot = np.zeros((len(entries), len(spec["vocabulary"])), "int8")
            for row, columns in enumerate(indices):
                hot[row, columns] = 1
            labels[task] = hot
        else:
            labels[task] = np.asarray(
                [i[0] if i else -1 for i in indices], dtype="int32"
            )
    for task in partially_labelled_tasks(manifest["tasks"]):
        negative = labels[negative_task(task)]
        labels[task] = np.where(
            labels[task] > 0, 1, np.where(negative > 0, 0, -1)
        ).astype("int8")
    return track_ids, labels, manifest["tasks"]


def negative_task(task):
    """The name of the task holding the confirmed negatives of `task`."""
    return f"{task}_negative"


def partially_labelled_tasks(tasks):
    """The multi-label tasks that have a `negative_task` companion over the
    same vocabulary (their unknown labels are masked)."""
    return [
        name
        for name, spec in tasks.items()
        if spec["multi_label"]
        and negative_task(name) in tasks
        and tasks[negative_task(name)]["multi_label"]
        and len(tasks[negative_task(name)]["vocabulary"])
        == len(spec["vocabulary"])
    ]


def extract_embeddings(
    encoder,
    data_dir,
    segment_seconds,
    cache_dir,
    cache_key=None,
    batch_size=64,
    description=None,
    progress=False,
):
    """Track embeddings of one split, from the cache or by running `encoder`.

    Args:
        encoder: callable `keras.Model`. Maps a batch of segments as the
            dataset yields them (audio `(batch, samples)` or features) to
            `(batch, dim)`.
        data_dir: str. A keras_music TFRecord dataset folder (one split).
        segment_seconds: float. Segment length; segments overlap by half.
        cache_dir: str. Root of the embedding caches.
        cache_key: str. Folder name of this cache under `cache_dir`.
            Defaults to `default_cache_key(encoder, data_dir,
            segment_seconds)`.
        batch_size: int. Segments per encoder call. Defaults to 64.
        description: str or dict. What the encoder is, written to the
            manifest. Defaults to the encoder's name.
        progress: bool. Print one line per 50 batches. Defaults to `False`.

    Returns:
        dict with `"embeddings"` (float32 `(tracks, dim)`), `"track_ids"`,
        `"labels"` (task -> array, see `track_labels`), `"tasks"` (task
        specifications), `"path"` (the cache folder) and `"reused"`
        (whether the cache existed).

    Example:

    A tiny TFRecord split (4 one-second tracks at 8 kHz) through a
    linear encoder of half-second segments:

    >>> import tempfile
    >>> from keras_music.data.track import Track
    >>> from keras_music.data.tfrecord_writer import write_tfrecords
    >>> data_dir = tempfile.mkdtemp()
    >>> tracks = [
    ...     Track(f"t{i}", np.full(8000, i / 10, "float32"), 8000,
    ...           {"genre": [g]})
    ...     for i, g in enumerate(["rock", "jazz", "rock", "jazz"])
    ... ]
    >>> _ = write_tfrecords(
    ...     tracks, lambda t: t, data_dir, sample_rate=8000,
    ...     tasks={"genre": {"vocabulary": ["rock", "jazz"],
    ...                      "multi_label": False}},
    ...     progress=False,
    ... )
    >>> encoder = keras.Sequential(
    ...     [keras.Input((4000,)), keras.layers.Dense(8)]
    ... )
    >>> train = extract_embeddings(
    ...     encoder, data_dir, 0.5, cache_dir=tempfile.mkdtemp()
    ... )
    >>> train["embeddings"].shape, train["labels"]["genre"]
    ((4, 8), array([0, 1, 0, 1], dtype=int32))

    `load_embeddings` reads the cache back as it was returned:

    >>> cache = load_embeddings(train["path"])
    >>> np.array_equal(cache["embeddings"], train["embeddings"])
    True
    """
    check_positive("segment_seconds", segment_seconds)
    check_positive_int("batch_size", batch_size)
    if not os.path.isfile(os.path.join(os.fspath(data_dir), MANIFEST_NAME)):
        raise ValueError(
            "`data_dir` must be a keras_music TFRecord dataset folder with "
            f"a {MANIFEST_NAME}. Received: data_dir={data_dir!r}"
        )
    if cache_key is None:
        cache_key = default_cache_key(encoder, data_dir, segment_seconds)
    if not cache_key or os.sep in cache_key or cache_key in (".", ".."):
        raise ValueError(
            "`cache_key` must be a non-empty folder name. "
            f"Received: cache_key={cache_key!r}"
        )
    path = os.path.join(os.fspath(cache_dir), cache_key)
    if os.path.isfile(os.path.join(path, MANIFEST_NAME)):
        result = load_embeddings(path)
        result["reused"] = True
        return result

    started = time.time()
    track_ids, labels, tasks = track_labels(data_dir)
    sums, counts = segment_sums(
        encoder, data_dir, segment_seconds, batch_size, progress
    )
    missing = [t for t in track_ids if t not in sums]
    if missing:
        raise ValueError(
            f"The encoder produced no embedding for {len(missing)} tracks of "
            f"{data_dir} (first: {missing[0]!r}); the dataset and its "
            "shard indices disagree."
        )
    embeddings = np.stack(
        [sums[t] / counts[t] for t in track_ids.tolist()]
    ).astype("float32")
    broken = ~np.all(np.isfinite(embeddings), axis=1)
    if broken.any():
        # Caching them would only move the failure to a NaN score.
        raise ValueError(
            f"The encoder {encoder.name!r} produced NaN or infinite "
            f"embeddings for {int(broken.sum())} of {len(track_ids)} tracks "
            f"of {data_dir} (first: {track_ids[broken][0]!r}); its weights "
            "or its inputs are not finite."
        )

    manifest = {
        "version": _CACHE_VERSION,
        "cache_key": cache_key,
        "encoder": description or encoder.name,
        "encoder_fingerprint": encoder_fingerprint(encoder),
        "data_dir": os.path.abspath(os.fspath(data_dir)),
        "segment_seconds": float(segment_seconds),
        "num_tracks": len(track_ids),
        "num_segments": int(sum(counts.values())),
        "dim": int(embeddings.shape[1]),
        "tasks": tasks,
        "labelled_tracks": {
            task: int(_labelled(values).sum())
            for task, values in labels.items()
        },
        "seconds": round(time.time() - started, 2),
    }
    try:
        with atomic_path(path) as temporary:
            os.makedirs(temporary)
            np.save(os.path.join(temporary, "embeddings.npy"), embeddings)
            np.save(os.path.join(temporary, "track_ids.npy"), track_ids)
            for task, values in labels.items():
                np.save(os.path.join(temporary, f"labels-{task}.npy"), values)
            with open(os.path.join(temporary, MANIFEST_NAME), "w") as stream:
                json.dump(manifest, stream, indent=2)
    except OSError:
        # Another process finished the same cache first: keep theirs.
        if not os.path.isfile(os.path.join(path, MANIFEST_NAME)):
            raise
    result = load_embeddings(path)
    result["reused"] = False
    return result


def load_embeddings(path):
    """A cache written by `extract_embeddings`, as the dict it returns.

    Args:
        path: str. The cache folder (`extract_embeddings(...)["path"]`).

    Example:

    `extract_embeddings`'s example reads its cache back; a folder that
    is not a cache is refused:

    >>> import tempfile
    >>> load_embeddings(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    ValueError: `path` must be an embedding cache folder with a ...
    """
    manifest_path = os.path.join(os.fspath(path), MANIFEST_NAME)
    if not os.path.isfile(manifest_path):
        raise ValueError(
            "`path` must be an embedding cache folder with a "
            f"{MANIFEST_NAME}. Received: path={path!r}"
        )
    with open(manifest_path) as stream:
        manifest = json.load(stream)
    return {
        "embeddings": np.load(os.path.join(path, "embeddings.npy")),
        "track_ids": np.load(os.path.join(path, "track_ids.npy")),
        "labels": {
            task: np.load(os.path.join(path, f"labels-{task}.npy"))
            for task in manifest["tasks"]
        },
        "tasks": manifest["tasks"],
        "manifest": manifest,
        "path": os.fspath(path),
    }


def labelled_tracks(labels):
    """Boolean mask of the tracks that carry a label for a task.

    Single-label: a class index (not -1). Multi-label: at least one tag; a
    track with no tag at all is taken as not annotated for the task rather
    than as a negative for every tag. Partially labelled (entries -1 for
    unknown): at least one known entry, positive or negative.
    """
    return _labelled(np.asarray(labels))


def _labelled(values):
    if values.ndim == 1:
        return values >= 0
    if (values < 0).any():
        return (values >= 0).any(axis=1)
    return values.sum(axis=1) > 0


def segment_sums(
    encoder, data_dir, segment_seconds, batch_size=32, progress=False
):
    """Sum and count of a model's outputs over the half-overlapped
    segments of each track (`tfrecord_dataset(mode="all")`).

    Args:
        encoder: callable taking a batch of segments as the dataset yields
            them and `training=False`, returning `(batch, dim)`.
        data_dir: str. A TFRecord folder.
        segment_seconds: float. Segment length.
        batch_size: int. Segments per call. Defaults to 32.
        progress: bool. Print a line every 50 batches.

    Returns:
        `(sums, counts)`: dicts from track id (str) to the float64 sum of
        its segments' outputs and their number.
    """
    dataset = tfrecord_dataset(
        data_dir,
        segment_seconds=segment_seconds,
        mode="all",
        batch_size=batch_size,
    )

    @tf.function(reduce_retracing=True)
    def embed(segments):
        return encoder(segments, training=False)

    sums, counts = {}, {}
    for step, (segments, ids) in enumerate(dataset):
        embeddings = np.asarray(embed(segments), dtype="float64")
        if embeddings.ndim != 2:
            raise ValueError(
                "The encoder must map a batch of segments to (batch, dim). "
                f"Received an output of shape {embeddings.shape}"
            )
        for track_id, embedding in zip(
            ids.numpy().astype(str).tolist(), embeddings
        ):
            if track_id in sums:
                sums[track_id] += embedding
                counts[track_id] += 1
            else:
                sums[track_id] = embedding.copy()
                counts[track_id] = 1
        if progress and step % 50 == 0:
            print(f"  {data_dir}: {step + 1} batches, {len(sums)} tracks")
    return sums, counts
