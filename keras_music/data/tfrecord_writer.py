"""`write_tfrecords`: decode items into sharded TFRecords + manifest."""

import concurrent.futures
import functools
import hashlib
import json
import math
import multiprocessing
import os

import keras
import numpy as np
import soxr
import tensorflow as tf
from tqdm import tqdm

from keras_music.data import tfrecord_format as fmt
from keras_music.data.errors import AudioDecodeError
from keras_music.data.track import Track
from keras_music.layers.validation import check_positive_int

# ~250 MB shards for 30 s int16 clips at 16 kHz: large enough for fast
# sequential reads, small enough to interleave and to redo after a crash.
DEFAULT_TRACKS_PER_SHARD = 256


def write_tfrecords(
    items,
    load_fn,
    output_dir,
    *,
    tasks,
    sample_rate,
    num_shards=None,
    audio_format="int16",
    frontend=None,
    progress=True,
    num_workers=1,
):
    """Writes a dataset as sharded TFRecords with a `manifest.json`.

    Items are split into contiguous shards in the given order. Each shard
    is written to a temporary file, renamed when complete and followed by
    its `.index.json`; a shard whose index exists (with the same items and
    settings and a matching checksum) is not written again, so re-running
    after a crash or Ctrl-C continues where it stopped without calling
    `load_fn` on finished shards. `manifest.json` is written last. Items
    whose `load_fn` raises `AudioDecodeError`, or whose audio is empty or
    not finite, are skipped and listed with the reason in the manifest.
    The record format is described in `keras_music.data.tfrecord_format`.

    Args:
        items: list of cheap, picklable descriptors (paths, specs), one per
            track. Their `repr` identifies a shard's content on resume.
        load_fn: callable `item -> Track`. Must be picklable (a module
            level function) when `num_workers > 1`.
        output_dir: str. Created if missing.
        tasks: dict mapping a task name to `{"vocabulary": [names],
            "multi_label": bool}`. Tracks' labels are looked up there.
        sample_rate: int. Hz of the stored audio; tracks at another rate
            are resampled (soxr, high quality).
        num_shards: int or `None`. Defaults to one shard per 256 items.
        audio_format: `"int16"` or `"float16"`: how raw audio is stored.
            Ignored when `frontend` is given. Defaults to `"int16"`.
        frontend: a Keras layer or `None`. If given, it is applied to each
            track's audio `(1, samples)` and its output, frequency-first
            `(1, freq, frames[, channels])`, is stored as float16 features
            instead of audio. Its config goes into the manifest.
        progress: bool. Shows a tqdm progress bar. Defaults to `True`.
        num_workers: int. Processes running `load_fn`. Defaults to 1 (in
            this process).

    Returns:
        dict, the manifest (also written to `output_dir/manifest.json`).

    Example:

    ```python
    manifest = write_tfrecords(
        ["a.wav", "b.wav"],
        load_fn=lambda path: Track(
            path, load_audio(path, 16000), 16000, {"genre": ["rock"]}
        ),
        output_dir="tfrecords/toy",
        tasks={"genre": {"vocabulary": ["rock", "jazz"],
                         "multi_label": False}},
        sample_rate=16000,
    )
    ```
    """
    items = list(items)
    if not callable(load_fn):
        raise ValueError(
            f"`load_fn` must be callable. Received: load_fn={load_fn!r}"
        )
    tasks = _check_tasks(tasks)
    sample_rate = check_positive_int("sample_rate", sample_rate)
    if num_shards is None:
        num_shards = max(1, math.ceil(len(items) / DEFAULT_TRACKS_PER_SHARD))
    num_shards = check_positive_int("num_shards", num_shards)
    if audio_format not in fmt.AUDIO_FORMATS:
        raise ValueError(
            f"`audio_format` must be one of {fmt.AUDIO_FORMATS}. "
            f"Received: audio_format={audio_format!r}"
        )
    if frontend is not None and not isinstance(frontend, keras.layers.Layer):
        raise ValueError(
            "`frontend` must be a Keras layer or None. "
            f"Received: frontend={frontend!r}"
        )
    num_workers = check_positive_int("num_workers", num_workers)
    os.makedirs(output_dir, exist_ok=True)

    settings = {
        "format_version": fmt.FORMAT_VERSION,
        "sample_rate": sample_rate,
        "tasks": tasks,
    }
    if frontend is None:
        settings.update(data_kind="audio", audio_format=audio_format)
    else:
        feature_shape, frame_rate = _probe_frontend(frontend, sample_rate)
        settings.update(
            data_kind="features",
            audio_format=None,
            frontend=keras.saving.serialize_keras_object(frontend),
            feature_shape=feature_shape,
            frame_rate=frame_rate,
        )
    encoder = _Encoder(settings, frontend)

    bounds = np.linspace(0, len(items), num_shards + 1).astype(int)
    shard_items = [items[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    names = [fmt.shard_name(i, num_shards) for i in range(num_shards)]
    fingerprints = [
        _fingerprint(settings, shard, name)
        for shard, name in zip(shard_items, names)
    ]
    indices = [None] * num_shards
    for i, name in enumerate(names):
        indices[i] = _finished_index(output_dir, name, fingerprints[i])

    bar = tqdm(
        total=len(items),
        initial=sum(len(s) for s, x in zip(shard_items, indices) if x),
        disable=not progress,
        desc=f"Writing {output_dir}",
        unit="track",
    )
    executor = None
    if num_workers > 1 and any(x is None for x in indices):
        # Spawned, not forked: forking a process that runs TensorFlow can
        # deadlock in the children.
        executor = concurrent.futures.ProcessPoolExecutor(
            num_workers, mp_context=multiprocessing.get_context("spawn")
        )
    try:
        for i, name in enumerate(names):
            if indices[i] is not None:
                continue
            loaded = _load_all(load_fn, shard_items[i], executor)
            indices[i] = _write_shard(
                output_dir, name, fingerprints[i], loaded, encoder, bar
            )
    finally:
        bar.close()
        if executor is not None:
            executor.shutdown(cancel_futures=True)

    manifest = _manifest(settings, names, indices)
    fmt.write_json_atomic(os.path.join(output_dir, fmt.MANIFEST_NAME), manifest)
    if manifest["skipped"]:
        lines = [f"  {s['item']}: {s['reason']}" for s in manifest["skipped"]]
        print(
            f"Skipped {len(lines)} of {len(items)} items:\n" + "\n".join(lines)
        )
    return manifest


def _check_tasks(tasks):
    if not isinstance(tasks, dict):
        raise ValueError(
            "`tasks` must be a dict task -> {'vocabulary': [...], "
            f"'multi_label': bool}}. Received: tasks={tasks!r}"
        )
    checked = {}
    for name, spec in tasks.items():
        vocabulary = spec.get("vocabulary") if isinstance(spec, dict) else None
        multi_label = (
            spec.get("multi_label") if isinstance(spec, dict) else None
        )
        if (
            not isinstance(name, str)
            or not isinstance(vocabulary, (list, tuple))
            or not vocabulary
            or not all(isinstance(v, str) for v in vocabulary)
            or len(set(vocabulary)) != len(vocabulary)
            or not isinstance(multi_label, bool)
        ):
            raise ValueError(
                "`tasks` must map each task name to {'vocabulary': a "
                "non-empty list of distinct names, 'multi_label': bool}. "
                f"Received: tasks={tasks!r}"
            )
        checked[name] = {
            "vocabulary": list(vocabulary),
            "multi_label": multi_label,
        }
    return checked


def _probe_frontend(frontend, sample_rate):
    """Feature shape (time as None) and frames per second of `frontend`."""
    # Two lengths 2**16 samples apart: power-of-two hops divide it, so the
    # frame difference is exact (else off by at most one in hundreds).
    lengths = (sample_rate, sample_rate + 2**16)
    outputs = [
        keras.ops.convert_to_numpy(frontend(np.zeros((1, length), "float32")))
        for length in lengths
    ]
    if outputs[0].ndim not in (3, 4):
        raise ValueError(
            "`frontend` must return `(batch, freq, frames)` or `(batch, "
            "freq, frames, channels)`. Received: output shape="
            f"{outputs[0].shape}"
        )
    shape = list(outputs[0].shape[1:])
    shape[1] = None
    frames = outputs[1].shape[2] - outputs[0].shape[2]
    frame_rate = frames * sample_rate / float(lengths[1] - lengths[0])
    return shape, frame_rate


def _fingerprint(settings, shard_items, name):
    description = json.dumps(
        [settings, name, [repr(item) for item in shard_items]],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(description.encode("utf-8")).hexdigest()


def _finished_index(output_dir, name, fingerprint):
    """The index of an already complete shard, or None to (re)write it."""
    index_path = os.path.join(output_dir, fmt.shard_index_name(name))
    shard_path = os.path.join(output_dir, name)
    if not (os.path.isfile(index_path) and os.path.isfile(shard_path)):
        return None
    with open(index_path) as stream:
        index = json.load(stream)
    if index.get("fingerprint") != fingerprint:
        return None
    if _sha256(shard_path) != index.get("sha256"):
        return None
    return index


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _safe_load(load_fn, item):
    try:
        return load_fn(item), None
    except AudioDecodeError as error:
        return None, str(error)


def _load_all(load_fn, shard_items, executor):
    """Yields `(item, track or None, reason)` lazily, in order."""
    load = functools.partial(_safe_load, load_fn)
    results = (
        executor.map(load, shard_items)
        if executor is not None
        else map(load, shard_items)
    )
    for item, (track, reason) in zip(shard_items, results):
        yield item, track, reason


class _Encoder:
    """Turns a `Track` into a record and its index entry."""

    def __init__(self, settings, frontend):
        self.settings = settings
        self.frontend = frontend

    def __call__(self, track):
        if not isinstance(track, Track):
            raise ValueError(
                f"`load_fn` must return a Track. Received: {track!r}"
            )
        audio = np.asarray(track.audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(
                f"Track {track.track_id!r}: audio must be mono (samples,). "
                f"Received: shape={audio.shape}"
            )
        # Bad content is a property of the file: skipped and reported.
        if audio.size == 0:
            raise AudioDecodeError(track.track_id, "the audio is empty")
        if not np.all(np.isfinite(audio)):
            raise AudioDecodeError(
                track.track_id, "the audio contains NaN or infinite samples"
            )
        sample_rate = self.settings["sample_rate"]
        if track.sample_rate != sample_rate:
            audio = soxr.resample(
                audio, track.sample_rate, sample_rate, quality="HQ"
            ).astype(np.float32)
        labels = self._label_indices(track)
        if self.frontend is None:
            if self.settings["audio_format"] == "int16":
                data = fmt.audio_to_int16(audio)
            else:
                data = audio.astype(np.float16)
        else:
            features = self.frontend(audio[None, :])
            data = keras.ops.convert_to_numpy(features)[0].astype(np.float16)
        duration = len(audio) / float(sample_rate)
        record = fmt.encode_example(
            track.track_id, data, sample_rate, duration, labels
        )
        entry = {
            "track_id": track.track_id,
            "length": int(data.shape[0 if self.frontend is None else 1]),
            "duration": duration,
            "labels": labels,
            "metadata": track.metadata,
        }
        return record, entry

    def _label_indices(self, track):
        indices = {}
        for task, spec in self.settings["tasks"].items():
            names = list(track.labels.get(task, []))
            if not spec["multi_label"] and len(names) > 1:
                raise ValueError(
                    f"Track {track.track_id!r}: task {task!r} is "
                    f"single-label but has labels {names}."
                )
            vocabulary = spec["vocabulary"]
            unknown = [n for n in names if n not in vocabulary]
            if unknown:
                raise ValueError(
                    f"Track {track.track_id!r}: labels {unknown} are not in "
                    f"the vocabulary of task {task!r}: {vocabulary}."
                )
            indices[task] = sorted({vocabulary.index(n) for n in names})
        return indices


def _write_shard(output_dir, name, fingerprint, loaded, encoder, bar):
    shard_path = os.path.join(output_dir, name)
    temporary = f"{shard_path}.incomplete"
    tracks, skipped = [], []
    with tf.io.TFRecordWriter(temporary) as writer:
        for item, track, reason in loaded:
            if track is not None:
                try:
                    record, entry = encoder(track)
                except AudioDecodeError as error:
                    reason = str(error)
                else:
                    writer.write(record)
                    tracks.append(entry)
            if reason is not None:
                skipped.append({"item": repr(item), "reason": reason})
            bar.update(1)
    os.replace(temporary, shard_path)
    # The index is the shard's completion mark: written after the rename,
    # so a crash in between only costs rewriting this shard.
    index = {
        "fingerprint": fingerprint,
        "file": name,
        "num_examples": len(tracks),
        "sha256": _sha256(shard_path),
        "skipped": skipped,
        "tracks": tracks,
    }
    fmt.write_json_atomic(
        os.path.join(output_dir, fmt.shard_index_name(name)), index
    )
    return index


def _manifest(settings, names, indices):
    seen = {}
    for name, index in zip(names, indices):
        for entry in index["tracks"]:
            if entry["track_id"] in seen:
                raise ValueError(
                    f"Track id {entry['track_id']!r} appears twice (shards "
                    f"{seen[entry['track_id']]} and {name}); ids must be "
                    "unique."
                )
            seen[entry["track_id"]] = name
    label_counts = {
        task: dict.fromkeys(spec["vocabulary"], 0)
        for task, spec in settings["tasks"].items()
    }
    for index in indices:
        for entry in index["tracks"]:
            for task, label_indices in entry["labels"].items():
                vocabulary = settings["tasks"][task]["vocabulary"]
                for i in label_indices:
                    label_counts[task][vocabulary[i]] += 1
    return {
        **settings,
        "num_examples": sum(index["num_examples"] for index in indices),
        "label_counts": label_counts,
        "shards": [
            {
                "file": name,
                "index": fmt.shard_index_name(name),
                "num_examples": index["num_examples"],
                "num_skipped": len(index["skipped"]),
                "sha256": index["sha256"],
            }
            for name, index in zip(names, indices)
        ],
        "skipped": [
            {**entry, "shard": name}
            for name, index in zip(names, indices)
            for entry in index["skipped"]
        ],
    }
