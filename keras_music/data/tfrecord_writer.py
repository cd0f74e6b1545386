"""`write_tfrecords`: decode items into sharded TFRecords + manifest."""

import concurrent.futures
import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import math
import multiprocessing
import os
import pickle
import shutil
import time
import warnings

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from keras_music.data import tfrecord_format as fmt
from keras_music.data.errors import AudioDecodeError
from keras_music.data.frame_targets import FrameTargets
from keras_music.data.track import Track
from keras_music.layers.resample import resample
from keras_music.utils.atomic_write import atomic_path
from keras_music.utils.atomic_write import finish_directory_swap
from keras_music.utils.atomic_write import swap_directory
from keras_music.utils.validation import check_float_audio
from keras_music.utils.validation import check_positive_int

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
    targets=None,
    target_statistics_from=None,
):
    """Writes a dataset as sharded TFRecords with a `manifest.json`.

    Items are split into contiguous shards in the given order. Each shard
    is written to a temporary file, renamed when complete and followed by
    its `.index.json`; a shard whose index exists (with the same items and
    settings and a matching checksum) is not written again, so re-running
    after a crash or Ctrl-C continues where it stopped without calling
    `load_fn` on finished shards. `manifest.json` is written last. A
    complete folder written again with other items, labels or settings is
    rewritten beside it, in `<output_dir>.rewrite` (unchanged shards are
    hard-linked), and swapped in when complete: a rewrite killed half-way
    leaves the old folder, and running it again finishes it. Items whose
    `load_fn` raises `AudioDecodeError`, or whose audio is empty or not
    finite, are skipped and listed with the reason in the manifest. Float
    audio peaking above 8 (int16 PCM passed as float) raises; samples
    beyond [-1, 1] are clipped to int16 with a warning per shard naming
    the tracks and the fraction clipped.
    The record format is described in `keras_music.data.tfrecord_format`.

    Args:
        items: list of cheap, picklable descriptors (paths, specs), one per
            track. Their `repr` identifies a shard's content on resume.
        load_fn: callable `item -> Track`. Must be picklable (a module
            level function) when `num_workers > 1`, like `items` and
            `targets`; this is checked before any worker starts.
        output_dir: str. Created if missing.
        tasks: dict mapping a task name to `{"vocabulary": [names],
            "multi_label": bool}`. Tracks' labels are looked up there.
        sample_rate: int. Hz of the stored audio; tracks at another rate
            are resampled (`keras_music.layers.resample`).
        num_shards: int or `None`. Defaults to one shard per 256 items.
        audio_format: `"int16"` or `"float16"`: how raw audio is stored.
            Ignored when `frontend` is given. Defaults to `"int16"`.
        frontend: a Keras layer or `None`. If given, it is applied to each
            track's audio `(1, samples)` and its output, frequency-first
            `(1, freq, frames[, channels])`, is stored as float16 features
            instead of audio. Its config goes into the manifest.
        progress: bool. Shows a tqdm progress bar. Defaults to `True`.
        num_workers: int. Processes running `load_fn` (and `targets`).
            Defaults to 1 (in this process).
        targets: `None`, a `keras_music.data.frame_targets.FrameTargets`
            (e.g. PASE's workers' targets,
            `keras_music.features.pase_targets.frame_targets()`, at 16
            kHz), or a callable `audio (samples,) float32 -> {name: array
            (samples // hop, dim)}` at `sample_rate` (its hop and dims are
            found by calling it on 1 s and 2 s of noise). The function must
            be picklable when `num_workers > 1`. Frame-level targets
            stored with each record as float16, beside the audio (not with
            `frontend`). The manifest gets their dims, frame rate and
            per-dimension mean/std (see `target_statistics_from`).
            Tracks shorter than one target frame are skipped. A list of
            PASE target names still works (deprecated).
        target_statistics_from: str or `None`. The TRAINING split's folder,
            already written with the same targets: its statistics are
            copied into this manifest, so that a validation or test split
            is normalised with the training statistics. `None` (for the
            training split) computes them from this folder's frames
            (float64 accumulation of the stored float16 values).

    Returns:
        dict, the manifest (also written to `output_dir/manifest.json`).

    Example:

    >>> import tempfile
    >>> from keras_music.data.track import Track
    >>> tracks = [
    ...     Track(f"t{i}", np.zeros(8000, "float32"), 8000, {"genre": [g]})
    ...     for i, g in enumerate(["rock", "jazz", "rock"])
    ... ]
    >>> manifest = write_tfrecords(
    ...     tracks,
    ...     load_fn=lambda track: track,
    ...     output_dir=tempfile.mkdtemp(),
    ...     tasks={"genre": {"vocabulary": ["rock", "jazz"],
    ...                      "multi_label": False}},
    ...     sample_rate=8000,
    ...     progress=False,
    ... )
    >>> manifest["num_examples"], manifest["label_counts"]
    (3, {'genre': {'rock': 2, 'jazz': 1}})
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
    targets_fn, targets_spec = _check_targets(targets, frontend, sample_rate)
    target_statistics = _statistics_from(target_statistics_from, targets_spec)
    if not items:
        raise ValueError(
            "`items` is empty: there is nothing to write to "
            f"{os.fspath(output_dir)!r}. Received: items=[]"
        )
    settings = _settings(sample_rate, tasks, audio_format, frontend)
    if targets_spec is not None:
        settings["targets"] = targets_spec
    encoder = _Encoder(settings, frontend)
    computer = None
    if targets_fn is not None:
        computer = _TargetComputer(targets_fn, targets_spec, sample_rate)

    shard_items, names, fingerprints = _plan_shards(items, num_shards, settings)
    if num_workers > 1:
        _check_picklable(items=items, load_fn=load_fn, targets=targets_fn)
    work_dir, indices = _working_folder(output_dir, names, fingerprints)
    _write_missing_shards(
        work_dir,
        names,
        fingerprints,
        shard_items,
        indices,
        lambda shard, executor: _load_all(load_fn, computer, shard, executor),
        encoder,
        num_workers,
        progress=progress,
        description=f"Writing {output_dir}",
    )

    manifest = _manifest(work_dir, settings, names, indices)
    if targets_spec is not None:
        if target_statistics is None:
            target_statistics = _statistics(targets_spec["names"], indices)
        manifest["targets"] = {
            **targets_spec,
            "statistics": target_statistics,
            "statistics_from": (
                None
                if target_statistics_from is None
                else os.fspath(target_statistics_from)
            ),
        }
    _commit(work_dir, output_dir, manifest, len(items))
    return manifest


def _settings(sample_rate, tasks, audio_format, frontend):
    """What every record of the folder shares, as the manifest states it
    (and shard fingerprints cover)."""
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
    return settings


def _plan_shards(items, num_shards, settings):
    """`(items of each shard, shard file names, fingerprints)`: contiguous
    shards in the given order."""
    bounds = np.linspace(0, len(items), num_shards + 1).astype(int)
    shard_items = [items[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    names = [fmt.shard_name(i, num_shards) for i in range(num_shards)]
    fingerprints = [
        _fingerprint(settings, shard, name)
        for shard, name in zip(shard_items, names)
    ]
    return shard_items, names, fingerprints


def _write_missing_shards(
    work_dir,
    names,
    fingerprints,
    shard_items,
    indices,
    load,
    encoder,
    num_workers,
    progress,
    description,
):
    """Writes the shards whose `indices` entry is `None`, filling it in;
    `load(items, executor)` gives a shard's loaded tracks."""
    bar = tqdm(
        total=sum(len(s) for s in shard_items),
        initial=sum(len(s) for s, x in zip(shard_items, indices) if x),
        disable=not progress,
        desc=description,
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
            loaded = load(shard_items[i], executor)
            indices[i] = _write_shard(
                work_dir, name, fingerprints[i], loaded, encoder, bar
            )
    finally:
        bar.close()
        if executor is not None:
            _shutdown(executor)


def _commit(work_dir, output_dir, manifest, num_items):
    """Writes the manifest (last), swaps a rewrite in and reports the
    skipped items."""
    manifest_path = os.path.join(work_dir, fmt.MANIFEST_NAME)
    if not _same_json(manifest_path, manifest):
        # A reused dataset keeps its file untouched (it may be read-only,
        # or read by other processes).
        fmt.write_json_atomic(manifest_path, manifest)
    if work_dir != output_dir:
        _swap_in(work_dir, output_dir, manifest)
    if manifest["skipped"]:
        lines = [f"  {s['item']}: {s['reason']}" for s in manifest["skipped"]]
        print(
            f"Skipped {len(lines)} of {num_items} items:\n" + "\n".join(lines)
        )


def _check_picklable(**values):
    """Worker processes receive these pickled: refuse what cannot be.

    Found here, before the pool starts, a pickling error cannot strand
    the pool's feeder thread (which made the shutdown hang).
    """
    for name, value in values.items():
        try:
            pickle.dumps(value)
        except Exception as error:
            raise ValueError(
                f"`{name}` must be picklable when `num_workers > 1` (module "
                "level functions and plain data, not lambdas or local "
                f"functions): {type(error).__name__}: {error}. "
                f"Received: {name}={_short_repr(value)}"
            ) from None


def _short_repr(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _shutdown(executor, timeout=30.0):
    """Shuts the pool down without waiting more than `timeout` seconds."""
    # The pool's processes, taken before `shutdown` forgets them: the
    # executor has no public way to stop a worker that does not return.
    processes = list((executor._processes or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join(5.0)


def _sibling(output_dir, suffix):
    return os.path.normpath(os.fspath(output_dir)) + suffix


@contextlib.contextmanager
def _parent_lock(output_dir):
    """An exclusive lock on the folder's parent, for swapping folders."""
    parent = os.path.dirname(os.path.abspath(os.fspath(output_dir)))
    os.makedirs(parent, exist_ok=True)
    descriptor = os.open(parent, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        except OSError:
            pass  # a filesystem without locks: one writer at a time then
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _working_folder(output_dir, names, fingerprints):
    """`(folder to write in, finished indices there)`.

    A new folder, or an unfinished first write, is written in place (and
    resumed in place). A complete folder that changes (new labels, items
    or settings) is rewritten aside, in `<output_dir>.rewrite`, with its
    unchanged shards linked in, and swapped in when complete: readers
    see the old folder or the new one, never a mix.
    """
    with _parent_lock(output_dir):
        _finish_swap(output_dir)
        os.makedirs(output_dir, exist_ok=True)
    fmt.remove_stale_temporaries(output_dir)
    indices = [
        _finished_index(output_dir, name, fingerprint)
        for name, fingerprint in zip(names, fingerprints)
    ]
    complete = os.path.isfile(os.path.join(output_dir, fmt.MANIFEST_NAME))
    aside = _sibling(output_dir, ".rewrite")
    if not complete or all(index is not None for index in indices):
        if complete:
            # A rewrite to other content, killed and then given up.
            shutil.rmtree(aside, ignore_errors=True)
        return output_dir, indices
    os.makedirs(aside, exist_ok=True)
    fmt.remove_stale_temporaries(aside)
    for i, (name, fingerprint) in enumerate(zip(names, fingerprints)):
        done = _finished_index(aside, name, fingerprint)
        if done is None and indices[i] is not None:
            for file in (name, fmt.shard_index_name(name)):
                _link(os.path.join(output_dir, file), os.path.join(aside, file))
            done = indices[i]
        indices[i] = done
    return aside, indices


def _link(source, target):
    """Puts `source` at `target`: a hard link, or a copy where none."""
    with atomic_path(target) as temporary:
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copy2(source, temporary)


def _swap_in(aside, output_dir, manifest):
    """Replaces `output_dir` by the complete folder `aside`."""
    with _parent_lock(output_dir):
        if _same_json(os.path.join(output_dir, fmt.MANIFEST_NAME), manifest):
            # Another process writing the same data swapped it in first.
            shutil.rmtree(aside, ignore_errors=True)
            return
        # A kill between its renames leaves no `output_dir`, not a mix:
        # `_finish_swap` completes the swap on the next run.
        swap_directory(aside, output_dir)


def _finish_swap(output_dir):
    """Completes a swap that a killed writer left half-done: to the
    rewrite if it was whole (has its manifest), else back to the old."""
    finish_directory_swap(
        output_dir,
        _sibling(output_dir, ".rewrite"),
        is_complete=lambda aside: os.path.isfile(
            os.path.join(aside, fmt.MANIFEST_NAME)
        ),
    )


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


def _check_targets(targets, frontend, sample_rate):
    """`(function, spec without statistics)`, or `(None, None)`."""
    if targets is None:
        return None, None
    if frontend is not None:
        raise ValueError(
            "`targets` are stored beside raw audio, not with a `frontend`. "
            f"Received: targets={targets!r}, frontend={frontend!r}"
        )
    if isinstance(targets, (list, tuple)):
        warnings.warn(
            "`targets` as a list of PASE target names is deprecated: pass "
            "`keras_music.features.pase_targets.frame_targets(names)`.",
            DeprecationWarning,
            stacklevel=3,
        )
        # Imported here: librosa is only needed by writers of targets.
        from keras_music.features.pase_targets import frame_targets

        targets = frame_targets(targets)
    elif callable(targets):
        targets = FrameTargets.from_function(targets, sample_rate)
    elif not isinstance(targets, FrameTargets):
        raise ValueError(
            "`targets` must be None, a `FrameTargets` or a callable. "
            f"Received: targets={targets!r}"
        )
    if targets.sample_rate not in (None, sample_rate):
        raise ValueError(
            f"`targets` {targets.names} are defined at "
            f"{targets.sample_rate} Hz. Received: sample_rate={sample_rate}"
        )
    return targets.function, targets.spec(sample_rate)


def _statistics_from(directory, targets_spec):
    """The training statistics copied from `directory`, or None."""
    if directory is None:
        return None
    if targets_spec is None:
        raise ValueError(
            "`target_statistics_from` needs `targets`. "
            f"Received: target_statistics_from={directory!r}, targets=None"
        )
    source = fmt.read_manifest(directory).get("targets")
    if source is None or any(
        source["dims"].get(name) != dim
        for name, dim in targets_spec["dims"].items()
    ):
        raise ValueError(
            "`target_statistics_from` must be a folder written with the "
            f"same targets {targets_spec['dims']} (hop "
            f"{targets_spec['hop_length']}). Received: "
            f"target_statistics_from={directory!r} with targets "
            f"{None if source is None else source['dims']}"
        )
    if source["hop_length"] != targets_spec["hop_length"]:
        raise ValueError(
            "`target_statistics_from` has targets at hop "
            f"{source['hop_length']}, these at "
            f"{targets_spec['hop_length']}. Received: "
            f"target_statistics_from={directory!r}"
        )
    return {name: source["statistics"][name] for name in targets_spec["names"]}


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
    if fmt.sha256(shard_path) != index.get("sha256"):
        return None
    return index


def _same_json(path, value):
    """Whether the JSON file at `path` holds `value`."""
    try:
        with open(path) as stream:
            return json.load(stream) == json.loads(json.dumps(value))
    except (OSError, ValueError):
        return False


def _safe_load(load_fn, computer, item):
    """`(track, targets, reason)`; runs in the worker processes."""
    try:
        track = load_fn(item)
        targets = None
        if computer is not None:
            track, targets = computer(track)
        return track, targets, None
    except AudioDecodeError as error:
        return None, None, str(error)


def _load_all(load_fn, computer, shard_items, executor):
    """Yields `(item, track or None, targets, reason)` lazily, in order."""
    load = functools.partial(_safe_load, load_fn, computer)
    results = (
        executor.map(load, shard_items)
        if executor is not None
        else map(load, shard_items)
    )
    for item, (track, targets, reason) in zip(shard_items, results):
        yield item, track, targets, reason


def _checked_audio(track, sample_rate):
    """The track's audio as float32 at `sample_rate`, checked."""
    if not isinstance(track, Track):
        raise ValueError(f"`load_fn` must return a Track. Received: {track!r}")
    if not isinstance(track.track_id, str) or not track.track_id:
        raise ValueError(
            "`load_fn` must return Tracks whose `track_id` is a non-empty "
            f"str. Received: track_id={track.track_id!r} "
            f"({type(track.track_id).__name__})"
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
    check_float_audio(f"Track {track.track_id!r}: `audio`", audio)
    if track.sample_rate != sample_rate:
        audio = resample(audio, track.sample_rate, sample_rate).numpy()
    return audio


class _TargetComputer:
    """Computes a track's targets where it is loaded (picklable)."""

    def __init__(self, function, spec, sample_rate):
        self.function = function
        self.spec = spec
        self.sample_rate = sample_rate

    def __call__(self, track):
        audio = _checked_audio(track, self.sample_rate)
        hop = self.spec["hop_length"]
        if len(audio) < hop:
            raise AudioDecodeError(
                track.track_id,
                f"{len(audio)} samples, shorter than one target frame "
                f"({hop} samples)",
            )
        # The audio is now at the stored rate: the encoder keeps it as is.
        track = dataclasses.replace(
            track, audio=audio, sample_rate=self.sample_rate
        )
        outputs = self.function(audio)
        targets = {}
        for name in self.spec["names"]:
            shape = (len(audio) // hop, self.spec["dims"][name])
            value = outputs.get(name) if isinstance(outputs, dict) else None
            if value is None or np.shape(value) != shape:
                raise ValueError(
                    f"Track {track.track_id!r}: `targets` must give "
                    f"{name!r} with shape {shape}. Received: "
                    f"{None if value is None else np.shape(value)}"
                )
            with np.errstate(over="ignore"):  # checked on the next line
                value = np.asarray(value, np.float32).astype(np.float16)
            if not np.all(np.isfinite(value)):
                raise ValueError(
                    f"Track {track.track_id!r}: target {name!r} has NaN or "
                    "values beyond float16's range (65504)."
                )
            targets[name] = value
        return track, targets


class _Encoder:
    """Turns a `Track` into a record and its index entry."""

    def __init__(self, settings, frontend):
        self.settings = settings
        self.frontend = frontend

    def __call__(self, track, targets=None):
        sample_rate = self.settings["sample_rate"]
        audio = _checked_audio(track, sample_rate)
        labels = self._label_indices(track)
        clipped = 0.0
        if self.frontend is None:
            if self.settings["audio_format"] == "int16":
                clipped = float(np.mean(np.abs(audio) > 1.0))
                data = fmt.audio_to_int16(audio)
            else:
                data = audio.astype(np.float16)
        else:
            features = self.frontend(audio[None, :])
            data = keras.ops.convert_to_numpy(features)[0].astype(np.float16)
        duration = len(audio) / float(sample_rate)
        record = fmt.encode_example(
            track.track_id, data, sample_rate, duration, labels, targets
        )
        entry = {
            "track_id": track.track_id,
            "length": int(data.shape[0 if self.frontend is None else 1]),
            "duration": duration,
            "labels": labels,
            "metadata": track.metadata,
        }
        if targets:
            entry["target_frames"] = (
                len(audio) // self.settings["targets"]["hop_length"]
            )
        return record, entry, clipped

    def _label_indices(self, track):
        tasks = self.settings["tasks"]
        if not isinstance(track.labels, dict) or set(track.labels) - set(tasks):
            raise ValueError(
                f"Track {track.track_id!r}: `labels` must be a dict from "
                f"tasks among {sorted(tasks)} to lists of names. Received: "
                f"labels={track.labels!r}"
            )
        indices = {}
        for task, spec in tasks.items():
            names = track.labels.get(task, [])
            if isinstance(names, str) or not isinstance(names, (list, tuple)):
                raise ValueError(
                    f"Track {track.track_id!r}: the labels of task {task!r} "
                    f"must be a list of names. Received: {names!r}"
                )
            names = list(names)
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
    # Per process: workers of one multi-worker run may build the same data.
    with atomic_path(shard_path) as temporary:
        tracks, skipped, moments, clipped = _write_records(
            temporary, loaded, encoder, bar
        )
    if clipped:
        _warn_clipped(shard_path, clipped, len(tracks))
    # The index is the shard's completion mark: written after the rename,
    # so a crash in between only costs rewriting this shard.
    index = {
        "fingerprint": fingerprint,
        "file": name,
        "num_examples": len(tracks),
        "sha256": fmt.sha256(shard_path),
        "size": os.path.getsize(shard_path),
        "skipped": skipped,
        "tracks": tracks,
    }
    if "targets" in encoder.settings:
        index["target_moments"] = {
            target: _moments_to_json(moments.get(target), dim)
            for target, dim in encoder.settings["targets"]["dims"].items()
        }
    fmt.write_json_atomic(
        os.path.join(output_dir, fmt.shard_index_name(name)), index
    )
    return index


def _write_records(path, loaded, encoder, bar):
    """Writes the loaded tracks to the TFRecord file `path`.

    Returns:
        `(tracks, skipped, moments, clipped)`: the index entries, the
        skipped items with their reason, the targets' moments and the
        clipped fraction of each track that had clipped samples.
    """
    tracks, skipped, moments, clipped = [], [], {}, {}
    with tf.io.TFRecordWriter(path) as writer:
        for item, track, targets, reason in loaded:
            if track is not None:
                try:
                    record, entry, fraction = encoder(track, targets)
                except AudioDecodeError as error:
                    reason = str(error)
                else:
                    writer.write(record)
                    tracks.append(entry)
                    if fraction:
                        clipped[entry["track_id"]] = fraction
                    for target, values in (targets or {}).items():
                        moments[target] = _merge_moments(
                            moments.get(target), _moments(values)
                        )
            if reason is not None:
                skipped.append({"item": repr(item), "reason": reason})
            bar.update(1)
    return tracks, skipped, moments, clipped


def _warn_clipped(shard_path, clipped, count):
    worst = sorted(clipped.items(), key=lambda pair: -pair[1])
    examples = ", ".join(f"{t!r} ({f:.1%} of samples)" for t, f in worst[:5])
    warnings.warn(
        f"{len(clipped)} of {count} tracks written to {shard_path} have "
        f"samples beyond [-1, 1], clipped to int16: {examples}"
        f"{', ...' if len(worst) > 5 else ''}. Scale the audio to [-1, 1] "
        "in `load_fn`, or write with audio_format='float16'.",
        stacklevel=2,
    )


def _manifest(output_dir, settings, names, indices):
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
                # Indices written before sizes were recorded: the file's.
                "size": index.get("size")
                or os.path.getsize(os.path.join(output_dir, name)),
            }
            for name, index in zip(names, indices)
        ],
        "skipped": [
            {**entry, "shard": name}
            for name, index in zip(names, indices)
            for entry in index["skipped"]
        ],
    }


def _moments(values):
    """`(count, mean, M2)` per dimension of `(frames, dim)`, in float64."""
    values = np.asarray(values, np.float64)
    mean = values.mean(axis=0)
    return len(values), mean, np.square(values - mean).sum(axis=0)


def _merge_moments(a, b):
    """Chan et al.'s pairwise update: exact, and stable for any counts."""
    if a is None or a[0] == 0:
        return b
    if b[0] == 0:
        return a
    count = a[0] + b[0]
    delta = b[1] - a[1]
    mean = a[1] + delta * (b[0] / count)
    m2 = a[2] + b[2] + np.square(delta) * (a[0] * b[0] / count)
    return count, mean, m2


def _moments_to_json(moments, dim):
    if moments is None:
        moments = (0, np.zeros(dim), np.zeros(dim))
    count, mean, m2 = moments
    # float64 -> Python float -> JSON -> float64 is exact (repr round trip).
    return {"count": int(count), "mean": mean.tolist(), "m2": m2.tolist()}


def _statistics(names, indices):
    """Per-dimension mean and std over every shard's frames."""
    statistics = {}
    for name in names:
        total = None
        for index in indices:
            part = index["target_moments"][name]
            total = _merge_moments(
                total,
                (
                    part["count"],
                    np.asarray(part["mean"]),
                    np.asarray(part["m2"]),
                ),
            )
        count, mean, m2 = total
        std = np.sqrt(m2 / count) if count else np.zeros_like(mean)
        statistics[name] = {
            "count": int(count),
            "mean": mean.tolist(),
            "std": std.tolist(),
        }
    return statistics
