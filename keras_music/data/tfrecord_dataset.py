"""`tfrecord_dataset`: keras_music TFRecords as a `tf.data.Dataset`."""

import json
import os
import warnings

import numpy as np
import tensorflow as tf

from keras_music.data import tfrecord_format as fmt
from keras_music.data.balanced_sampler import BalancedSampler
from keras_music.data.tfrecord_split import TFRecordSplit
from keras_music.utils.validation import check_positive
from keras_music.utils.validation import check_positive_int

MODES = ("random", "center", "all")
# The example entry holding a record's random key (shape (2,) int64).
_KEY = "_key"
# Epochs of an endless dataset (`repeat=True`).
_ENDLESS = 2**62


def tfrecord_dataset(
    pattern_or_dir,
    segment_seconds=None,
    task=None,
    mode="random",
    batch_size=None,
    shuffle=None,
    seed=None,
    balanced=False,
    num_samples=None,
    replacement=False,
    one_hot=False,
    shuffle_buffer_size=256,
    drop_remainder=False,
    cycle_length=8,
    targets=None,
    repeat=False,
):
    """Reads TFRecords written by `write_tfrecords` as `(input, target)`.

    Shards are read in parallel (interleaved), records shuffled, audio
    decoded to float32 (int16 PCM becomes `x / 32768`, in [-1, 1)) and cut
    into segments; features are cut the same way along their frame axis.
    A track shorter than a segment is zero-padded at the end, and one
    warning says how many tracks are. A damaged or truncated shard stops
    the iteration with an error naming the shard file. Before anything is
    read, every shard and index the manifest lists must exist with the
    recorded size and sha256 (each file is hashed once per process), and
    every label index must be inside its task's vocabulary: a deleted,
    stale or swapped shard raises `ValueError` naming it.

    Modes:
    - `"random"`: one segment per track at a uniformly random offset
      (training).
    - `"center"`: the central segment of each track (validation).
    - `"all"`: every segment of each track with 50% overlap, the last one
      aligned to the end of the track (evaluation). Elements then carry
      the track id as a last item, `(input, target, track_id)` or
      `(input, track_id)`, to average predictions per track.

    Frame-level targets (`targets=("lps", "mfcc", ...)`, folders written
    with `write_tfrecords(..., targets=...)`): elements are `(audio,
    {name: (frames, dim) float32})`, with a batch axis first when batched,
    and `{name: ..., task: labels}` when a `task` is given too (and
    `(audio, {...}, track_id)` in `"all"` mode). Targets are z-normalised
    per dimension with the statistics in the folder's manifest (the
    training set's: see `write_tfrecords`' `target_statistics_from`). A
    segment of `segment` samples carries `segment // hop` target frames
    (hop 160 at 16 kHz for the PASE targets): segments then start on a
    multiple of the hop, target frame `t` of the segment being the frame
    of samples `[hop t, hop t + hop)`, in every mode; `"all"` segments
    step by `(segment // hop) // 2` frames, the last one ending within one
    hop of the track's end. Tracks shorter than a segment are padded with
    zeros, in the audio and in the normalised targets (the training mean).

    Args:
        pattern_or_dir: str. A directory with `manifest.json`, or a glob of
            some of its shards (`".../shard-0000[0-3]-*.tfrecord"`).
        segment_seconds: float or `None`. Segment length; in frames for
            features (`round(segment_seconds * frame_rate)`). `None` yields
            whole tracks (batched with zero padding).
        task: str or `None`. The task whose labels are the targets; `None`
            yields inputs only.
        mode: `"random"`, `"center"` or `"all"`. Defaults to `"random"`.
        batch_size: int or `None` (unbatched).
        shuffle: bool or `None`. Shuffle shards and records. Defaults to
            `True` in `"random"` mode, `False` otherwise.
        seed: int or `None`. Makes shuffling, cropping and balanced
            sampling reproducible (each iteration still differs, except
            with `repeat=True`, whose one endless stream is fixed by the
            seed).
        balanced: bool. Draw each epoch (each iteration over the dataset,
            or each epoch of `repeat=True`) `num_samples` tracks with
            MAEST's inverse label frequency weights (`BalancedSampler`);
            needs `task`. Every shard is read each epoch and tracks not
            drawn are dropped.
        num_samples: int or `None`. Tracks per balanced epoch. Defaults to
            the number of tracks with a label.
        replacement: bool. Balanced draws with replacement.
        one_hot: bool. One-hot float32 targets for single-label tasks
            instead of int32 class indices. Multi-label tasks always give
            multi-hot float32 targets.
        shuffle_buffer_size: int. Records in the shuffle buffer.
        drop_remainder: bool. Drop the last incomplete batch.
        cycle_length: int. Shards read at the same time.
        targets: sequence of target names stored in the folder, or `None`
            (no targets, the default).
        repeat: bool. Yield epochs one after another without end, for
            training (`fit` with `steps_per_epoch`). Epoch `e`'s shard
            order, balanced draw and crops are functions of `seed` and
            `e` alone, so that every tf.data service worker computes the
            same epoch `e`, and the service hands out whole epochs: each
            epoch is read once, by one worker. Prefer it to `.repeat()`,
            which under the service makes every worker send the same
            balanced epochs. Defaults to `False` (one epoch per
            iteration, each iteration drawn afresh).

    Returns:
        A `tf.data.Dataset` (prefetched).

    Example:

    A tiny TFRecord folder (4 one-second tracks at 8 kHz), read as
    batches of half-second segments with genre labels:

    >>> import tempfile
    >>> from keras_music.data.track import Track
    >>> from keras_music.data.tfrecord_writer import write_tfrecords
    >>> directory = tempfile.mkdtemp()
    >>> tracks = [
    ...     Track(f"t{i}", np.zeros(8000, "float32"), 8000, {"genre": [g]})
    ...     for i, g in enumerate(["rock", "jazz", "rock", "jazz"])
    ... ]
    >>> _ = write_tfrecords(
    ...     tracks, lambda t: t, directory, sample_rate=8000,
    ...     tasks={"genre": {"vocabulary": ["rock", "jazz"],
    ...                      "multi_label": False}},
    ...     progress=False,
    ... )
    >>> train = tfrecord_dataset(
    ...     directory, segment_seconds=0.5, task="genre", batch_size=2, seed=0
    ... )
    >>> audio, labels = next(iter(train))
    >>> audio.shape, labels.shape
    (TensorShape([2, 4000]), TensorShape([2]))
    """
    _check_arguments(
        segment_seconds, mode, batch_size, shuffle_buffer_size, cycle_length
    )
    if not isinstance(repeat, bool):
        raise ValueError(
            f"`repeat` must be a bool. Received: repeat={repeat!r}"
        )
    split, shards = _resolve_split(pattern_or_dir)
    _check_task(split, task, balanced)
    target_names = _check_targets(targets, split, task)
    if shuffle is None:
        shuffle = mode == "random"
    tracks = _checked_tracks(split, shards)
    segment = _segment_length(split, segment_seconds, tracks)
    _check_target_frames(split, target_names, segment, segment_seconds)
    sampler = None
    if balanced:
        sampler = BalancedSampler(
            [entry["labels"][task] for entry in tracks],
            num_samples=num_samples
            or sum(bool(entry["labels"][task]) for entry in tracks),
            replacement=replacement,
        )
    records = _ShardReader(
        [split.shard_path(shard) for shard in shards],
        [shard["num_examples"] for shard in shards],
        cycle_length,
    ).records(shuffle, sampler, seed, repeat)
    if shuffle:
        records = records.shuffle(shuffle_buffer_size, seed=seed)
    examples = _parsed(records, split, target_names, task)
    outputs = _Outputs(split, task, one_hot)
    dataset = _segmented(examples, split, mode, segment, target_names, outputs)
    if batch_size is not None:
        if segment is None:
            dataset = dataset.padded_batch(
                batch_size, drop_remainder=drop_remainder
            )
        else:
            dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _check_arguments(
    segment_seconds, mode, batch_size, shuffle_buffer_size, cycle_length
):
    if mode not in MODES:
        raise ValueError(
            f"`mode` must be one of {MODES}. Received: mode={mode!r}"
        )
    if segment_seconds is not None:
        check_positive("segment_seconds", segment_seconds)
    elif mode == "all":
        raise ValueError(
            "`segment_seconds` is required when mode='all'. "
            f"Received: segment_seconds={segment_seconds!r}"
        )
    if batch_size is not None:
        check_positive_int("batch_size", batch_size)
    check_positive_int("shuffle_buffer_size", shuffle_buffer_size)
    check_positive_int("cycle_length", cycle_length)


def _check_task(split, task, balanced):
    if task is not None and task not in split.tasks:
        raise ValueError(
            f"`task` must be one of the dataset's tasks "
            f"{split.task_names}. Received: task={task!r}"
        )
    if balanced and task is None:
        raise ValueError(
            "`balanced=True` needs a `task` whose labels give the weights. "
            f"Received: task={task!r}"
        )


def _checked_tracks(split, shards):
    """The index entries of the shards' tracks, after checking the files."""
    split.verify(shards)
    indices = [_read_index(split.directory, shard) for shard in shards]
    tracks = [entry for index in indices for entry in index["tracks"]]
    _check_label_indices(tracks, split, split.directory)
    return tracks


def _segment_length(split, segment_seconds, tracks):
    """Samples (or frames) per segment, or None; warns about short tracks."""
    if segment_seconds is None:
        return None
    segment = max(1, int(round(segment_seconds * split.segment_rate)))
    short = sum(entry["length"] < segment for entry in tracks)
    if short:
        unit = "frames" if split.is_features else "samples"
        warnings.warn(
            f"{short} of {len(tracks)} tracks in {split.directory} are "
            f"shorter than segment_seconds={segment_seconds} ({segment} "
            f"{unit}); they are zero-padded at the end.",
            # tfrecord_dataset -> _segment_length -> here.
            stacklevel=3,
        )
    return segment


def _check_target_frames(split, target_names, segment, segment_seconds):
    if not target_names or segment is None:
        return
    hop = split.target_hop
    if segment // hop == 0:
        raise ValueError(
            f"`segment_seconds` must give at least one target frame "
            f"({hop} samples). Received: segment_seconds="
            f"{segment_seconds}"
        )


class _ShardReader:
    """The records of a list of shards as `(key, index, record)`.

    Every random choice is a stateless function of a key: an epoch's key
    gives its shard order and balanced draw, and a record's key (the
    epoch's folded with the record's index) gives its crop.
    """

    def __init__(self, paths, counts, cycle_length):
        self.num_shards = len(paths)
        self.cycle_length = cycle_length
        offsets = np.cumsum([0] + counts[:-1]).tolist()
        self.table = (
            tf.constant(paths),
            tf.constant(counts, tf.int64),
            tf.constant(offsets, tf.int64),
        )
        self.files = tf.data.Dataset.from_tensor_slices(self.table)

    def read(self, files):
        return files.interleave(
            _read_shard,
            cycle_length=min(self.cycle_length, self.num_shards),
            num_parallel_calls=tf.data.AUTOTUNE,
        )

    def one_epoch(self, key, shuffle, sampler):
        """`(key, index, record)` of one epoch, all random from `key`."""
        epoch_files = self.files
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(
                tf.range(self.num_shards), seed=key
            )
            epoch_files = tf.data.Dataset.from_tensor_slices(
                tuple(tf.gather(column, order) for column in self.table)
            )
        records = self.read(epoch_files)
        if sampler is None:
            return records.map(lambda i, record: (key, i, record))
        draws = tf.cast(sampler.sample_counts(key), tf.int64)

        def drawn(i, record):
            # A track drawn n times is n records, each with its own key.
            return tf.data.Dataset.range(draws[i]).map(
                lambda n: (_fold(key, n), i, record)
            )

        return records.filter(lambda i, record: draws[i] > 0).flat_map(drawn)

    def records(self, shuffle, sampler, seed, repeat):
        root = _root_key(seed)

        def one_epoch(key):
            return self.one_epoch(key, shuffle, sampler)

        if repeat:
            # A range (not `Dataset.counter`, a scan) so that the tf.data
            # service's dynamic sharding hands out whole epochs.
            return (
                tf.data.Dataset.range(_ENDLESS)
                .map(lambda epoch: _fold(root, epoch))
                .flat_map(one_epoch)
            )
        if sampler is not None:
            return (
                tf.data.Dataset.random(
                    seed=seed, rerandomize_each_iteration=True
                )
                .take(1)
                .map(lambda draw: _fold(root, draw))
                .flat_map(one_epoch)
            )
        # Shards stay the source, so the tf.data service splits an epoch
        # among its workers shard by shard; records take keys from a
        # stream that differs on each iteration.
        files = self.files
        if shuffle:
            files = files.shuffle(self.num_shards, seed=seed)
        return tf.data.Dataset.zip(
            self.read(files),
            tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True),
        ).map(lambda record, draw: (_fold(root, draw), *record))


def _parsed(records, split, target_names, task):
    """Records parsed to example dicts, targets normalised, keyed."""
    normalization = {
        name: split.target_normalization(name) for name in target_names
    }

    def parse(epoch_key, i, record):
        example = fmt.parse_example(record, split.manifest, target_names)
        example[_KEY] = _fold(epoch_key, i)
        for name in target_names:
            mean, scale = normalization[name]
            key = fmt.target_key(name)
            example[key] = (example[key] - mean) / scale
        return example

    dataset = records.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if task is not None and not split.multi_label(task):
        # Tracks unlabelled for this task have no class to learn.
        label = fmt.label_key(task)
        dataset = dataset.filter(lambda x: tf.size(x[label]) > 0)
    return dataset


class _Outputs:
    """Builds the dataset's elements from inputs and an example's labels."""

    def __init__(self, split, task, one_hot):
        self.task = task
        self.one_hot = one_hot
        self.label = fmt.label_key(task) if task is not None else None
        self.vocabulary_size = len(split.vocabulary(task)) if task else None
        self.multi_label = task is not None and split.multi_label(task)

    def target(self, example):
        indices = example[self.label]
        if self.multi_label:
            hot = tf.reduce_sum(
                tf.one_hot(indices, self.vocabulary_size), axis=0
            )
            return tf.minimum(hot, 1.0)
        if self.one_hot:
            return tf.one_hot(indices[0], self.vocabulary_size)
        return tf.cast(indices[0], tf.int32)

    def __call__(self, x, example, frame_targets=None):
        if frame_targets is not None:
            if self.task is None:
                return x, frame_targets
            return x, {**frame_targets, self.task: self.target(example)}
        if self.task is None:
            return x
        return x, self.target(example)


def _segmented(dataset, split, mode, segment, target_names, output):
    """Whole tracks, or segments cut as `mode` says, as elements."""
    if segment is None:

        def whole(example):
            frame_targets = None
            if target_names:
                frame_targets = {
                    name: example[fmt.target_key(name)] for name in target_names
                }
            return output(example["data"], example, frame_targets)

        return dataset.map(whole, num_parallel_calls=tf.data.AUTOTUNE)
    if target_names:
        return _segments_with_targets(
            dataset,
            mode,
            segment,
            split.target_hop,
            target_names,
            output,
            output.task is not None,
        )
    time_axis = split.time_axis
    if mode == "all":

        def all_segments(example):
            x = _all_segments(example["data"], segment, time_axis)
            n = tf.shape(x)[0]
            ids = tf.fill([n], example["track_id"])
            if output.task is None:
                return x, ids
            y = output.target(example)
            return x, tf.repeat(y[None], n, axis=0), ids

        return dataset.map(
            all_segments, num_parallel_calls=tf.data.AUTOTUNE
        ).unbatch()

    def crop(example):
        x = _pad_to(example["data"], segment, time_axis)
        room = tf.shape(x)[time_axis] - segment
        if mode == "center":
            start = room // 2
        else:
            start = _uniform_int(example[_KEY], room + 1)
        x = _slice(x, start, segment, time_axis)
        return output(x, example)

    return dataset.map(crop, num_parallel_calls=tf.data.AUTOTUNE)


def _check_targets(targets, split, task):
    """The requested target names as a tuple (empty for none)."""
    if targets is None:
        return ()
    if isinstance(targets, str) or not isinstance(targets, (list, tuple)):
        raise ValueError(
            "`targets` must be a list or tuple of target names. "
            f"Received: targets={targets!r}"
        )
    stored = split.targets
    if stored is None:
        raise ValueError(
            "`targets` were requested but this folder stores none (write "
            "it with `write_tfrecords(..., targets=...)`, or `--features "
            f"pase`). Received: targets={targets!r}"
        )
    unknown = [name for name in targets if name not in stored["names"]]
    if unknown or not targets or len(set(targets)) != len(targets):
        raise ValueError(
            f"`targets` must be distinct names among the stored targets "
            f"{stored['names']}. Received: targets={targets!r}"
        )
    if task is not None and task in targets:
        raise ValueError(
            f"`task` {task!r} has the name of a target; the labels would "
            f"replace it in the targets dict. Received: task={task!r}, "
            f"targets={targets!r}"
        )
    return tuple(targets)


def _segments_with_targets(
    dataset, mode, segment, hop, names, output, labelled
):
    """Cuts audio and targets at the same hop-aligned positions."""
    frames = segment // hop

    def padded(example):
        x = _pad_to(example["data"], segment, 0)
        ys = {
            name: tf.ensure_shape(
                _pad_to(example[fmt.target_key(name)], frames, 0),
                example[fmt.target_key(name)].shape,
            )
            for name in names
        }
        # Starts k with hop k + segment <= samples keep k + frames within
        # the track's samples // hop target frames.
        room = (tf.shape(x)[0] - segment) // hop
        return x, ys, room

    if mode == "all":

        def all_segments(example):
            x, ys, room = padded(example)
            starts = tf.range(0, room + 1, max(1, frames // 2))
            starts = tf.cond(
                starts[-1] < room,
                lambda: tf.concat([starts, [room]], axis=0),
                lambda: starts,
            )
            xs = tf.gather(x, starts[:, None] * hop + tf.range(segment))
            windows = starts[:, None] + tf.range(frames)
            ys = {name: tf.gather(y, windows) for name, y in ys.items()}
            n = tf.shape(starts)[0]
            ids = tf.fill([n], example["track_id"])
            x, ys = output(xs, example, ys)
            if labelled:
                # The label of the track, repeated for each segment.
                ys = {
                    key: value
                    if key in names
                    else tf.repeat(value[None], n, axis=0)
                    for key, value in ys.items()
                }
            return x, ys, ids

        return dataset.map(
            all_segments, num_parallel_calls=tf.data.AUTOTUNE
        ).unbatch()

    def crop(example):
        x, ys, room = padded(example)
        if mode == "center":
            start = room // 2
        else:
            start = _uniform_int(example[_KEY], room + 1)
        x = _slice(x, start * hop, segment, 0)
        ys = {name: _slice(y, start, frames, 0) for name, y in ys.items()}
        return output(x, example, ys)

    return dataset.map(crop, num_parallel_calls=tf.data.AUTOTUNE)


def _root_key(seed):
    """The stateless key all of a dataset's randomness derives from."""
    if seed is None:
        seed = np.random.default_rng().integers(2**62)
    return tf.constant([seed, 0], tf.int64)


def _fold(key, data):
    """A new key from `key` and an integer: distinct data, distinct keys."""
    return tf.random.experimental.stateless_fold_in(
        key, tf.cast(data, tf.int64)
    )


def _uniform_int(key, maxval):
    """An int32 uniform in `[0, maxval)`, a stateless function of `key`."""
    return tf.random.stateless_uniform(
        [], seed=key, maxval=maxval, dtype=tf.int32
    )


def _resolve_split(pattern_or_dir):
    """The split (`TFRecordSplit`) and the shard entries to read."""
    path = os.fspath(pattern_or_dir)
    if os.path.isdir(path):
        split = TFRecordSplit.read(path)
        return split, list(split.shards)
    matches = sorted(tf.io.gfile.glob(path))
    if not matches:
        raise ValueError(
            "`pattern_or_dir` matches no directory or file. "
            f"Received: pattern_or_dir={pattern_or_dir!r}"
        )
    directories = {os.path.dirname(m) for m in matches}
    if len(directories) != 1:
        raise ValueError(
            "`pattern_or_dir` must match shards of one dataset directory. "
            f"Received: pattern_or_dir={pattern_or_dir!r}, matching "
            f"directories {sorted(directories)}"
        )
    split = TFRecordSplit.read(directories.pop())
    return split, split.select(path)


def _read_index(directory, shard):
    """A shard's `.index.json`, checked against its manifest entry."""
    path = os.path.join(directory, shard["index"])
    with open(path) as stream:
        index = json.load(stream)
    for key in ("sha256", "num_examples"):
        if key in shard and index.get(key) != shard[key]:
            raise ValueError(
                f"{path} does not match {directory}/{fmt.MANIFEST_NAME}: "
                f"{key} is {index.get(key)!r}, the manifest expects "
                f"{shard[key]!r} (a stale index). Write the folder again "
                "with `write_tfrecords`."
            )
    return index


def _check_label_indices(tracks, split, directory):
    """Label indices beyond a vocabulary would read as all-zero targets."""
    for entry in tracks:
        for task, indices in entry["labels"].items():
            size = len(split.vocabulary(task))
            bad = [i for i in indices if not 0 <= i < size]
            if bad:
                raise ValueError(
                    f"Track {entry['track_id']!r} in {directory} has label "
                    f"indices {bad} for task {task!r}, outside its "
                    f"vocabulary of size {size} (expected 0 to {size - 1})."
                )


def _read_shard(path, expected, offset):
    """Records of one shard as `(global index, record)`, checked complete.

    TensorFlow's own error for a damaged record does not name the file, so
    reading stops quietly at the damage (`ignore_errors`) and a sentinel at
    the end compares the count with the manifest's, failing with the path.
    """
    records = tf.data.TFRecordDataset(path).ignore_errors()
    end = tf.data.Dataset.from_tensors(tf.constant(b""))

    def count(seen, record):
        at_end = tf.equal(tf.strings.length(record), 0)
        complete = tf.logical_or(tf.logical_not(at_end), seen == expected)
        check = tf.debugging.Assert(
            complete,
            [
                "Corrupt or truncated TFRecord shard",
                path,
                "- read",
                seen,
                "of",
                expected,
                "records before the damage. Check its sha256 in "
                "manifest.json and rewrite it (delete the shard and run "
                "write_tfrecords again).",
            ],
        )
        with tf.control_dependencies([check]):
            return seen + 1, (offset + seen, tf.identity(record))

    return (
        records.concatenate(end)
        .scan(tf.constant(0, tf.int64), count)
        .filter(lambda i, record: tf.strings.length(record) > 0)
    )


def _pad_to(x, length, axis):
    missing = tf.maximum(length - tf.shape(x)[axis], 0)
    paddings = tf.one_hot(axis, tf.rank(x), dtype=tf.int32)[:, None] * tf.stack(
        [0, missing]
    )
    return tf.pad(x, paddings)


def _slice(x, start, length, axis):
    # A strided copy: much cheaper than gathering `length` indices.
    at_axis = tf.one_hot(axis, tf.rank(x), on_value=True, off_value=False)
    begin = tf.where(at_axis, start, 0)
    size = tf.where(at_axis, length, -1)
    shape = x.shape.as_list()
    shape[axis] = length
    return tf.ensure_shape(tf.slice(x, begin, size), shape)


def _all_segments(x, segment, axis):
    """Half-overlapping segments covering `x`, stacked on a new axis 0."""
    x = _pad_to(x, segment, axis)
    hop = max(1, segment // 2)
    last = tf.shape(x)[axis] - segment
    starts = tf.range(0, last + 1, hop)
    starts = tf.cond(
        starts[-1] < last,
        lambda: tf.concat([starts, [last]], axis=0),
        lambda: starts,
    )
    windows = starts[:, None] + tf.range(segment)[None, :]
    segments = tf.gather(x, windows, axis=axis)
    if axis == 0:
        return segments
    # (freq, n, frames[, channels]) -> (n, freq, frames[, channels]).
    rank = len(x.shape)
    return tf.transpose(segments, [1, 0] + list(range(2, rank + 1)))
