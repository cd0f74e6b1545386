"""The keras_music TFRecord format: the one place that defines it.

A dataset is a directory:

```
manifest.json                        written last; describes everything
shard-00000-of-00004.tfrecord        tf.train.Example records
shard-00000-of-00004.index.json      per-shard index: tracks, checksum
...
```

Each record is a `tf.train.Example` with the features:

- `track_id`: bytes, unique within the dataset.
- `data`: bytes, the samples in little-endian order: int16 PCM
  (`round(x * 32768)` clipped to int16) or float16 audio `(samples,)`, or
  float16 features `(freq, frames)` / `(freq, frames, channels)` computed
  by the frontend layer stored in the manifest.
- `shape`: int64 list, the shape of `data`.
- `sample_rate`: int64, Hz.
- `duration`: float, seconds of audio the record was made from.
- `labels/<task>`: int64 list, indices into the task's vocabulary (one for
  a single-label track, any number for multi-label tasks, none for a track
  without a label for that task).
- `targets/<name>` (optional, audio records only): bytes, float16
  little-endian frame-level targets `(frames, dim)` in row-major order,
  unnormalised; `dim` is in the manifest and `frames = samples //
  hop_length` (e.g. the PASE worker targets of
  `keras_music.features.pase_targets`, hop 160 at 16 kHz).

`manifest.json` holds the format version, sample rate, data kind
(`"audio"` or `"features"`), audio format or frontend config with the
feature shape and frame rate, the tasks with their vocabularies, counts per
shard and in total, sha256 checksums of the shards and the skipped items
with the reason. Each shard entry of the manifest also has its `size` in
bytes (folders written before sizes were recorded have only the sha256):
readers refuse a folder whose shard is missing, of another size or of
another checksum, naming the shard. Each shard's `.index.json` lists
its tracks (id, length, label indices, metadata) in record order: readers
use it to warn about short tracks and to draw balanced samples without
reading the audio.

A dataset with targets has a `targets` entry in its manifest:

```
"targets": {
  "names": ["lps", "prosody"], "dims": {"lps": 1025, "prosody": 4},
  "hop_length": 160, "frame_rate": 100.0, "storage": "float16",
  "function": "<what computed them>",
  "statistics": {"lps": {"count": frames, "mean": [...], "std": [...]}},
  "statistics_from": null or "<training folder>"
}
```

`statistics` are the per-dimension mean and (population) standard
deviation over every frame of the TRAINING set, accumulated in float64
from the stored float16 values; readers z-normalise with them
(`target_normalization`). In a training folder `statistics_from` is null
(its own frames); a validation or test folder is written with
`target_statistics_from=<training folder>` and carries a copy of the
training statistics, so that every split is normalised the same way.
Each shard's index keeps its own moments (`target_moments`: count, mean,
sum of squared deviations) so that a resumed write merges them without
reading finished shards. Folders without targets (all folders written
before targets existed) have no `targets` entry and read as before.
"""

import concurrent.futures
import hashlib
import json
import os

import numpy as np
import tensorflow as tf

# Re-exported: recipes import the JSON writer from here.
from keras_music.utils.atomic_write import remove_stale_temporaries  # noqa: F401
from keras_music.utils.atomic_write import write_json_atomic  # noqa: F401

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
AUDIO_FORMATS = ("int16", "float16")
# A power of two, so that int16 -> float32 is exact both ways and a 16-bit
# source file survives the round trip bit for bit.
INT16_SCALE = 32768.0


def shard_name(index, num_shards):
    return f"shard-{index:05d}-of-{num_shards:05d}.tfrecord"


def shard_index_name(shard_file):
    return shard_file[: -len(".tfrecord")] + ".index.json"


def label_key(task):
    return f"labels/{task}"


def target_key(name):
    return f"targets/{name}"


def audio_to_int16(audio):
    scaled = np.round(np.asarray(audio, dtype=np.float64) * INT16_SCALE)
    return np.clip(scaled, -32768, 32767).astype("<i2")


def encode_example(
    track_id, data, sample_rate, duration, label_indices, targets=None
):
    """Serialises one record.

    Args:
        track_id: str.
        data: int16 or float16 NumPy array (audio or features).
        sample_rate: int.
        duration: float, seconds.
        label_indices: dict task -> list of int vocabulary indices.
        targets: dict name -> float16 NumPy array `(frames, dim)`, or
            `None`.

    Returns:
        bytes, a serialised `tf.train.Example`.
    """
    if not isinstance(track_id, str):
        raise ValueError(
            f"`track_id` must be a str. Received: track_id={track_id!r} "
            f"({type(track_id).__name__})"
        )
    data = np.asarray(data)
    if data.dtype not in (np.int16, np.float16):
        raise ValueError(
            "`data` must be int16 or float16. "
            f"Received: data.dtype={data.dtype}"
        )
    little_endian = data.astype(data.dtype.newbyteorder("<"), copy=False)
    feature = {
        "track_id": _bytes(track_id.encode("utf-8")),
        "data": _bytes(little_endian.tobytes()),
        "shape": _ints(data.shape),
        "sample_rate": _ints([sample_rate]),
        "duration": tf.train.Feature(
            float_list=tf.train.FloatList(value=[duration])
        ),
    }
    for task, indices in label_indices.items():
        feature[label_key(task)] = _ints(indices)
    for name, values in (targets or {}).items():
        values = np.asarray(values)
        if values.dtype != np.float16 or values.ndim != 2:
            raise ValueError(
                f"`targets[{name!r}]` must be a float16 array (frames, dim). "
                f"Received: dtype={values.dtype}, shape={values.shape}"
            )
        feature[target_key(name)] = _bytes(values.astype("<f2").tobytes())
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    # Map fields (`feature`) serialise in hash order unless asked: sorted
    # keys make a shard byte-identical whichever process writes it.
    return example.SerializeToString(deterministic=True)


def feature_spec(tasks, targets=()):
    """The `tf.io.parse_single_example` spec for `tasks` and `targets`."""
    spec = {
        "track_id": tf.io.FixedLenFeature([], tf.string),
        "data": tf.io.FixedLenFeature([], tf.string),
        "shape": tf.io.VarLenFeature(tf.int64),
        "sample_rate": tf.io.FixedLenFeature([], tf.int64),
        "duration": tf.io.FixedLenFeature([], tf.float32),
    }
    for task in tasks:
        spec[label_key(task)] = tf.io.VarLenFeature(tf.int64)
    for name in targets:
        spec[target_key(name)] = tf.io.FixedLenFeature([], tf.string)
    return spec


def parse_example(serialized, manifest, targets=()):
    """Parses one record (graph-safe) into a dict of dense tensors.

    `data` comes back as float32: int16 audio divided by 32768 (values in
    [-1, 1)), float16 audio and features widened exactly. Each name in
    `targets` gives `targets/<name>`, float32 `(frames, dim)`, as stored
    (not normalised).
    """
    dims = manifest["targets"]["dims"] if targets else {}
    parsed = tf.io.parse_single_example(
        serialized, feature_spec(manifest["tasks"], targets)
    )
    shape = tf.sparse.to_dense(parsed["shape"])
    raw_dtype = tf.int16 if manifest.get("audio_format") == "int16" else None
    if manifest["data_kind"] == "audio" and raw_dtype is not None:
        data = tf.io.decode_raw(parsed["data"], tf.int16, little_endian=True)
        # Multiplying by 2**-15 is exact, like the division, and cheaper.
        data = tf.cast(data, tf.float32) * (1.0 / INT16_SCALE)
    else:
        data = tf.io.decode_raw(parsed["data"], tf.float16, little_endian=True)
        data = tf.cast(data, tf.float32)
    data = tf.reshape(data, shape)
    if manifest["data_kind"] == "features":
        data = tf.ensure_shape(data, _static_feature_shape(manifest))
    else:
        data = tf.ensure_shape(data, [None])
    result = {
        "track_id": parsed["track_id"],
        "data": data,
        "sample_rate": parsed["sample_rate"],
        "duration": parsed["duration"],
    }
    for task in manifest["tasks"]:
        result[label_key(task)] = tf.sparse.to_dense(parsed[label_key(task)])
    for name in targets:
        values = tf.io.decode_raw(
            parsed[target_key(name)], tf.float16, little_endian=True
        )
        values = tf.reshape(tf.cast(values, tf.float32), [-1, dims[name]])
        result[target_key(name)] = values
    return result


def target_normalization(manifest, name):
    """`(mean, scale)` float32 `(dim,)`: readers give `(x - mean) / scale`.

    `scale` is the training standard deviation, or 1 for a dimension that
    never varies (std exactly 0), which then reads as 0.
    """
    statistics = manifest["targets"]["statistics"][name]
    mean = np.asarray(statistics["mean"], np.float64)
    std = np.asarray(statistics["std"], np.float64)
    scale = np.where(std > 0, std, 1.0)
    return mean.astype(np.float32), scale.astype(np.float32)


def _static_feature_shape(manifest):
    return [None if d is None else int(d) for d in manifest["feature_shape"]]


def read_manifest(directory):
    """Reads and checks `manifest.json` in `directory`.

    Args:
        directory: str. A TFRecord folder written by `write_tfrecords`.

    Returns:
        The manifest as a dict: `sample_rate`, `tasks` (vocabularies),
        `shards`, `num_examples`, `label_counts`, `skipped`.

    Raises:
        ValueError: the folder has no `manifest.json` (not a TFRecord
            folder, or an unfinished write), or one of another format
            version.

    Example:

    >>> import tempfile
    >>> from keras_music.data.track import Track
    >>> from keras_music.data.tfrecord_writer import write_tfrecords
    >>> directory = tempfile.mkdtemp()
    >>> track = Track("t0", np.zeros(8000, "float32"), 8000, {"genre": ["a"]})
    >>> _ = write_tfrecords(
    ...     [track], lambda t: t, directory, sample_rate=8000,
    ...     tasks={"genre": {"vocabulary": ["a"], "multi_label": False}},
    ...     progress=False,
    ... )
    >>> manifest = read_manifest(directory)
    >>> manifest["sample_rate"], manifest["tasks"]["genre"]["vocabulary"]
    (8000, ['a'])
    """
    path = os.path.join(directory, MANIFEST_NAME)
    if not os.path.isfile(path):
        raise ValueError(
            f"No {MANIFEST_NAME} in {directory!r}: not a keras_music "
            "TFRecord directory, or its writing did not finish (run "
            "`write_tfrecords` again to complete it)."
        )
    with open(path) as stream:
        manifest = json.load(stream)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format_version={version!r}; this keras_music "
            f"reads format_version={FORMAT_VERSION}."
        )
    return manifest


def sha256(path):
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# `(path, size, mtime_ns, inode) -> sha256` of the shards checked in this
# process: a folder opened again (train, then valid, then each epoch's
# evaluation) is hashed once.
_VERIFIED = {}


def verify_shards(directory, shards):
    """Checks that each shard of the manifest is on disk as it was written.

    A shard file that is missing, of another size or with another sha256
    than `manifest.json` records (deleted, replaced by a stale copy, or
    left by an interrupted rewrite) raises before anything is read: reading
    it would hang, fail mid-epoch or silently mix two datasets.

    Args:
        directory: str. The TFRecord folder.
        shards: the manifest's `shards` entries to check.

    Raises:
        ValueError: naming the shard and what differs.
    """
    manifest_path = os.path.join(directory, MANIFEST_NAME)
    for shard in shards:
        for key in ("file", "index"):
            path = os.path.join(directory, shard[key])
            if not os.path.isfile(path):
                raise ValueError(
                    f"{manifest_path} lists {path}, which does not exist "
                    "(deleted after the folder was written?). Write the "
                    "folder again with `write_tfrecords`."
                )
        path = os.path.join(directory, shard["file"])
        size = os.path.getsize(path)
        if "size" in shard and size != shard["size"]:
            raise _stale(
                path, manifest_path, f"{size} bytes", f"{shard['size']} bytes"
            )
    paths = [os.path.join(directory, shard["file"]) for shard in shards]
    with concurrent.futures.ThreadPoolExecutor(min(8, len(paths) or 1)) as pool:
        # hashlib releases the GIL on large blocks: shards hash in parallel.
        digests = list(pool.map(_cached_sha256, paths))
    for shard, path, digest in zip(shards, paths, digests):
        if "sha256" in shard and digest != shard["sha256"]:
            raise _stale(
                path,
                manifest_path,
                f"sha256 {digest}",
                f"sha256 {shard['sha256']}",
            )


def _cached_sha256(path):
    status = os.stat(path)
    key = (
        os.path.realpath(path),
        status.st_size,
        status.st_mtime_ns,
        status.st_ino,
    )
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256(path)
    return _VERIFIED[key]


def _stale(path, manifest_path, found, expected):
    return ValueError(
        f"TFRecord shard {path} does not match {manifest_path}: it has "
        f"{found}, the manifest expects {expected}. It is stale or was "
        "swapped (an interrupted rewrite, or a copy from another folder): "
        "write the folder again with `write_tfrecords`."
    )


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(values):
    return tf.train.Feature(
        int64_list=tf.train.Int64List(value=[int(v) for v in values])
    )
