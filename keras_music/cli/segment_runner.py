"""Runs a model on the segments of many files, batched across files."""

import queue
import sys
import threading
import time

import numpy as np
import tqdm

from keras_music.cli.audio_files import audio_seconds
from keras_music.cli.audio_files import read_mono
from keras_music.cli.audio_files import segment_stream
from keras_music.data.errors import AudioDecodeError


def compiled(model, batch_shape=None):
    """`model(batch)` as a traced function returning NumPy.

    With `batch_shape` (`(batch_size, segment_samples)`, the shape of
    every batch `SegmentRunner` makes: it pads the last one) that shape
    is traced once, with a fixed input signature, and never retraced;
    other shapes (a file shorter than one segment, run on its own) go
    through a second function that `reduce_retracing` keeps from tracing
    per length. Calls skip Keras' `predict` (its data adapter and
    callbacks cost more than the model on a batch of a few segments)."""
    import tensorflow as tf

    def call(batch):
        return model(batch, training=False)

    other = tf.function(call, reduce_retracing=True)
    if batch_shape is None:
        return lambda batch: np.asarray(other(tf.constant(batch)))
    fixed = tf.function(
        call, input_signature=[tf.TensorSpec(batch_shape, tf.float32)]
    )
    batch_shape = tuple(batch_shape)

    def predict(batch):
        function = fixed if batch.shape == batch_shape else other
        return np.asarray(function(tf.constant(batch)))

    return predict


class SegmentRunner:
    """Cuts files into segments and runs `predict` on batches of
    `batch_size` segments drawn from consecutive files, so that a folder of
    short files fills the batch as well as one long file does.

    Files are read block by block (`read_mono`) in a background thread,
    so memory holds the batch, one more batch of segments read ahead, one
    read block and one segment per file being read, whatever the files'
    length. A file shorter than one segment is one shorter
    segment, run on its own, or with `pad_short` zero-padded to one
    segment and batched like the others. The last batch is zero-padded to
    `batch_size` (its extra outputs dropped), so the function is traced
    for one shape.

    Args:
        predict: callable, `(batch, segment_samples)` float32 -> array
            `(batch, ...)`.
        sample_rate: int. Rate the files are read at.
        segment_samples: int. Samples per segment.
        hop_samples: int. Samples between segment starts.
        batch_size: int. Segments per call of `predict`.
        pad_short: bool. Zero-pad a file shorter than one segment to one
            segment (its span keeps its true length). Defaults to `False`.

    Example:

    >>> import soundfile
    >>> soundfile.write("a.wav", np.ones(2500, "float32"), 1000)
    >>> soundfile.write("b.wav", np.zeros(500, "float32"), 1000)
    >>> runner = SegmentRunner(
    ...     lambda batch: batch.mean(axis=1, keepdims=True), 1000, 1000,
    ...     1000, batch_size=4
    ... )
    >>> done = {}
    >>> runner.run(["a.wav", "b.wav"], lambda i, out, spans: done.update(
    ...     {i: (out.shape, spans[:, 0].tolist())}))
    []
    >>> sorted(done.items())
    [(0, ((3, 1), [0, 1000, 1500])), (1, ((1, 1), [0]))]
    """

    def __init__(
        self,
        predict,
        sample_rate,
        segment_samples,
        hop_samples,
        batch_size,
        pad_short=False,
    ):
        self.predict = predict
        self.pad_short = pad_short
        self.sample_rate = sample_rate
        self.segment_samples = segment_samples
        self.hop_samples = hop_samples
        self.batch_size = batch_size

    def run(self, files, on_done, progress=None):
        """Runs every file of `files` (a list of paths) and calls
        `on_done(index, outputs, spans)` once per file, in the order the
        files finish, with `outputs` `(segments, ...)` and `spans`
        `(segments, 2)` the first sample and the length of each segment.

        The files are decoded, resampled and cut in a background thread
        while the model runs on the batch before (decoding releases the
        GIL); at most one batch of segments waits between the two.

        Returns:
            A list of `(path, reason)` for the files that could not be read.
        """
        pending = []  # (file index, segment index, samples)
        results = {}  # file index -> {segment index: output}
        starts = {}
        expected = {}  # file index -> segments, once read to the end
        failed = []

        def finish_ready():
            for index in list(expected):
                if len(results[index]) == expected[index]:
                    outputs = np.stack(
                        [results[index][i] for i in range(expected[index])]
                    )
                    on_done(
                        index,
                        outputs,
                        np.asarray(starts.pop(index)).reshape(-1, 2),
                    )
                    del results[index], expected[index]

        def flush():
            if not pending:
                return
            batch = np.zeros((self.batch_size, self.segment_samples), "float32")
            for row, (_, _, samples) in enumerate(pending):
                batch[row] = samples
            outputs = self.predict(batch)
            for row, (index, segment, _) in enumerate(pending):
                results[index][segment] = outputs[row]
            pending.clear()
            finish_ready()

        for event in self._read_ahead(files):
            kind, index = event[0], event[1]
            if kind == "start":
                results[index], starts[index] = {}, []
            elif kind == "segment":
                _, _, count, start, length, samples = event
                starts[index].append((start, length))
                if len(samples) < self.segment_samples:
                    # Shorter than one segment: its own batch of one.
                    results[index][count] = self.predict(samples[None])[0]
                else:
                    pending.append((index, count, samples))
                if len(pending) == self.batch_size:
                    flush()
            elif kind == "failed":
                failed.append((files[index], event[2]))
                pending[:] = [p for p in pending if p[0] != index]
                del results[index], starts[index]
                if progress is not None:
                    progress.update(files[index])
            else:  # "end"
                expected[index] = event[2]
                finish_ready()
                if progress is not None:
                    progress.update(files[index])
        flush()
        return failed

    def _segments(self, index, path):
        """The events of one file: `start`, its segments, then `end` or
        `failed` with the reason."""
        yield ("start", index)
        count = 0
        try:
            blocks = read_mono(path, self.sample_rate)
            for start, samples in segment_stream(
                blocks, self.segment_samples, self.hop_samples
            ):
                length = len(samples)
                if length < self.segment_samples and self.pad_short:
                    padding = self.segment_samples - length
                    samples = np.pad(samples, (0, padding))
                yield ("segment", index, count, start, length, samples)
                count += 1
        except AudioDecodeError as error:
            yield ("failed", index, error.reason)
        else:
            yield ("end", index, count)

    def _read_ahead(self, files):
        """The events of every file, produced by a background thread a
        bounded queue ahead of the caller. An error of the thread is
        raised here; leaving early stops the thread."""
        events = queue.Queue(maxsize=self.batch_size)
        stop = threading.Event()
        # Warnings (resampling notices) raised in the thread are shown
        # as the caller's filters and `showwarning` say, in file order.

        def put(item):
            while not stop.is_set():
                try:
                    events.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce():
            try:
                for index, path in enumerate(files):
                    for event in self._segments(index, path):
                        if not put(event):
                            return
                put(("done", None))
            except BaseException as error:  # raised again by the caller
                put(("error", error))

        reader = threading.Thread(
            target=produce, name="segment-reader", daemon=True
        )
        reader.start()
        try:
            while True:
                event = events.get()
                if event[0] == "done":
                    return
                if event[0] == "error":
                    raise event[1]
                yield event
        finally:
            stop.set()
            reader.join()


class Progress:
    """A progress bar on stderr: files, audio hours and the ETA (by audio
    duration, from the files' headers). Silent when stderr is not a
    terminal, or when `enabled` is false.

    Args:
        files: list of str. The files to be processed.
        enabled: bool. Whether to show the bar (on a terminal). Defaults
            to `True`.

    Example:

    >>> progress = Progress([], enabled=False)
    >>> progress.update("a.wav"); progress.close()
    >>> progress.done_files
    1
    """

    def __init__(self, files, enabled=True):
        self.seconds = {path: audio_seconds(path) for path in files}
        total_hours = sum(self.seconds.values()) / 3600
        self.enabled = enabled and sys.stderr.isatty()
        self.done_files = 0
        self.total_files = len(files)
        self.started = time.time()
        self.bar = None
        if self.enabled:
            self.bar = tqdm.tqdm(
                total=round(total_hours, 4),
                unit="h",
                unit_scale=False,
                bar_format="{l_bar}{bar}| {n:.3f}/{total:.3f} audio h "
                "[{elapsed}<{remaining}] {postfix}",
                file=sys.stderr,
            )
            self._postfix()

    def _postfix(self):
        self.bar.set_postfix_str(f"{self.done_files}/{self.total_files} files")

    def update(self, path):
        self.done_files += 1
        if self.bar is not None:
            self.bar.update(round(self.seconds.get(path, 0.0) / 3600, 4))
            self._postfix()

    def close(self):
        if self.bar is not None:
            self.bar.close()
