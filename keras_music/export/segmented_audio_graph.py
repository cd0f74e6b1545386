"""`SegmentedAudioGraph`: raw audio of any length, checked, cut into
half-overlapped segments and averaged per track, in a TensorFlow graph."""

import warnings

import tensorflow as tf

from keras_music.layers.resample import resample
from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int


class SegmentedAudioGraph(tf.Module):
    """The track-level machinery shared by the serving graphs.

    A serving graph (`ServingGraph` for a tagger, `EmbedderServingGraph`
    for an encoder) maps a fixed-length segment of audio to a few named
    vectors; this base class turns that into a function of whole tracks.
    The audio of every track in a batch is checked, split into
    half-overlapped segments exactly as `tfrecord_dataset(mode="all")`
    splits it (hop `segment // 2`, the last segment aligned with the end
    of the track, a track shorter than one segment zero-padded to one
    segment), the segments of all tracks go through the segment function
    `batch_size` at a time, and the outputs are averaged per track. WAV
    bytes are decoded (16-bit PCM, channels averaged to mono) and
    resampled to `sample_rate` in the graph by the library's resampler
    (`keras_music.layers.resample.resample`, the one `keras-music tag`
    and `AudioPreprocessor.load_audio` use). Only core TensorFlow ops are
    used (no `py_function`).

    Bad requests fail with an `InvalidArgumentError` naming the input and
    what was expected: wrong rank, empty batch or track, lengths out of
    range, non-finite samples, bytes that are not a WAV file.

    Args:
        sample_rate: int. Rate of the audio the graph takes, in Hz.
        segment_seconds: float. Segment length in seconds; segments are
            `round(segment_seconds * sample_rate)` samples.
        batch_size: int. Segments per call of the segment function;
            bounds memory on long tracks. Defaults to 8.
        resample_wav: bool. Whether WAV files at another rate are
            resampled (else refused). Defaults to `True`.
        name: str. Module name. Defaults to `"segmented_audio_graph"`.

    Example:

    Through `EmbedderServingGraph`, with an encoder that gives the mean
    of its 800-sample segment: a track of 2,000 ones is cut into four
    segments of ones, a track of 500 ones is zero-padded to one segment.

    >>> from keras_music.export.embedder_serving_graph import (
    ...     EmbedderServingGraph,
    ... )
    >>> encoder = keras.Sequential([
    ...     keras.Input((800,)),
    ...     keras.layers.Reshape((800, 1)),
    ...     keras.layers.GlobalAveragePooling1D(),
    ... ])
    >>> graph = EmbedderServingGraph(encoder, sample_rate=8000)
    >>> isinstance(graph, SegmentedAudioGraph), graph.segment, graph.hop
    (True, 800, 400)
    >>> audio = np.ones((2, 2000), "float32")
    >>> lengths = tf.constant([2000, 500])
    >>> graph.serving_default(audio, lengths)["embedding"].numpy()
    array([[1.   ],
           [0.625]], dtype=float32)

    Reference:
        Alonso-Jiménez et al., ISMIR 2023, Section 3.3 (averaging the
        outputs of half-overlapped segments).
    """

    def __init__(
        self,
        sample_rate,
        segment_seconds,
        batch_size=8,
        resample_wav=True,
        name="segmented_audio_graph",
    ):
        super().__init__(name=name)
        check_positive_int("sample_rate", sample_rate)
        check_positive("segment_seconds", segment_seconds)
        check_positive_int("batch_size", batch_size)
        self.sample_rate = sample_rate
        self.segment_seconds = segment_seconds
        # The rule of `tfrecord_dataset`: segments in whole samples.
        self.segment = max(1, int(round(segment_seconds * sample_rate)))
        self.hop = max(1, self.segment // 2)
        self.batch_size = batch_size
        self.resample_wav = resample_wav

    # === Graph pieces ===

    def _check_request(self, audio, lengths):
        rank = tf.debugging.Assert(
            tf.equal(tf.rank(audio), 2),
            [
                "audio must be (batch, samples) float32 mono audio; "
                "received rank",
                tf.rank(audio),
            ],
        )
        with tf.control_dependencies([rank]):
            # Reshaped (not `ensure_shape`d) so that the check above runs
            # first and gives its message.
            shape = tf.shape(audio)
            audio = tf.reshape(audio, [shape[0], shape[-1]])
        batch, samples = tf.shape(audio)[0], tf.shape(audio)[1]
        checks = [
            tf.debugging.assert_positive(
                batch * samples,
                message="audio is empty: it must hold at least one track "
                "of at least one sample",
            ),
            tf.debugging.assert_equal(
                tf.shape(lengths)[0],
                batch,
                message="lengths must give one length per row of audio",
            ),
            tf.debugging.assert_positive(
                lengths,
                message="lengths must be positive: an empty track has no tags",
            ),
            tf.debugging.assert_less_equal(
                lengths,
                samples,
                message="lengths must be at most the number of samples per "
                "row of audio",
            ),
        ]
        with tf.control_dependencies(checks):
            # Padding past a track's length is ignored, whatever it holds.
            inside = tf.range(samples)[None, :] < lengths[:, None]
            audio = tf.where(inside, audio, 0.0)
        finite = tf.debugging.Assert(
            tf.reduce_all(tf.math.is_finite(audio)),
            ["audio contains NaN or infinite samples"],
        )
        with tf.control_dependencies([finite]):
            return tf.identity(audio), tf.identity(lengths)

    def _segments(self, audio, lengths):
        """Half-overlapped segments of every track and the track of each."""
        segment, hop = self.segment, self.hop
        batch = tf.shape(audio)[0]
        # A track shorter than a segment is zero-padded to one segment.
        padded_length = tf.maximum(lengths, segment)
        audio = tf.pad(
            audio, [[0, 0], [0, tf.maximum(segment - tf.shape(audio)[1], 0)]]
        )
        last = padded_length - segment
        # Starts 0, hop, 2 hop, ... up to `last`, plus `last` itself when
        # the hops do not land on it: the last segment ends the track.
        counts = last // hop + 1 + tf.cast((last // hop) * hop < last, tf.int32)
        track = tf.repeat(tf.range(batch), counts)
        first_row = tf.cumsum(counts, exclusive=True)
        position = tf.range(tf.size(track)) - tf.gather(first_row, track)
        starts = tf.minimum(position * hop, tf.gather(last, track))
        width = tf.shape(audio)[1]
        index = (track * width + starts)[:, None] + tf.range(segment)[None, :]
        segments = tf.gather(tf.reshape(audio, [-1]), index)
        return tf.ensure_shape(segments, [None, segment]), track

    def _per_track(self, audio, lengths, segment_fn, widths):
        """`segment_fn` on every segment, `batch_size` at a time, averaged
        per track; `widths` maps each output of `segment_fn` to its
        static width."""
        segments, track = self._segments(audio, lengths)
        total = tf.shape(segments)[0]
        steps = (total + self.batch_size - 1) // self.batch_size
        arrays = {
            key: tf.TensorArray(
                tf.float32,
                size=steps,
                infer_shape=False,
                element_shape=tf.TensorShape([None, width]),
            )
            for key, width in widths.items()
        }

        def body(step, arrays):
            start = step * self.batch_size
            outputs = segment_fn(segments[start : start + self.batch_size])
            return step + 1, {
                key: arrays[key].write(step, tf.cast(outputs[key], tf.float32))
                for key in arrays
            }

        _, arrays = tf.while_loop(
            lambda step, _: step < steps, body, (tf.constant(0), arrays)
        )
        batch = tf.shape(audio)[0]
        return {
            key: tf.math.unsorted_segment_mean(array.concat(), track, batch)
            for key, array in arrays.items()
        }

    def _wav_tracks(self, wav):
        """WAV file bytes `(batch,)` -> checked `(audio, lengths)`."""
        tf.debugging.assert_positive(
            tf.size(wav), message="wav must hold at least one WAV file."
        )
        tracks = tf.map_fn(
            self._decode_wav,
            wav,
            fn_output_signature=tf.RaggedTensorSpec([None], tf.float32),
        )
        lengths = tf.cast(tracks.row_lengths(), tf.int32)
        return self._check_request(tracks.to_tensor(), lengths)

    def _decode_wav(self, contents):
        is_wav = tf.logical_and(
            tf.equal(tf.strings.substr(contents, 0, 4), "RIFF"),
            tf.equal(tf.strings.substr(contents, 8, 4), "WAVE"),
        )
        check = tf.debugging.Assert(
            tf.logical_and(tf.strings.length(contents) >= 12, is_wav),
            ["wav must be the bytes of a WAV file (RIFF/WAVE header)"],
        )
        with tf.control_dependencies([check]):
            audio, rate = tf.audio.decode_wav(contents)
        mono = tf.reduce_mean(audio, axis=1)
        if not self.resample_wav:
            same = tf.debugging.assert_equal(
                rate,
                self.sample_rate,
                message=f"wav must be at {self.sample_rate} Hz (this export "
                "does not resample)",
            )
            with tf.control_dependencies([same]):
                return tf.identity(mono)
        return tf.cond(
            tf.equal(rate, self.sample_rate),
            lambda: mono,
            lambda: resample(mono, rate, self.sample_rate),
        )


def fourier_resample(x, rate, target_rate):
    """Deprecated: resamples `x` in the Fourier domain (whole signal).

    The export graphs now resample with `keras_music.layers.resample`,
    the resampler of the rest of the library; use `resample(x, rate,
    target_rate)` instead. Kept, with a `DeprecationWarning`, for code
    that calls it.

    The spectrum of the whole signal is truncated (down) or zero-padded
    (up) to `round(n * target_rate / rate)` samples, as
    `scipy.signal.resample` does: band-limited, and built from core ops
    (RFFT / IRFFT) so that it runs inside a SavedModel. The signal is
    taken as periodic, so the first and last few milliseconds differ
    slightly from a streaming resampler such as soxr.

    Args:
        x: float32 tensor `(samples,)`.
        rate: int32 scalar tensor, the rate of `x`.
        target_rate: int. The rate wanted.

    Returns:
        float32 tensor `(round(samples * target_rate / rate),)`.
    """
    warnings.warn(
        "`fourier_resample` is deprecated: use "
        "`keras_music.layers.resample.resample`, the library's one "
        "resampler.",
        DeprecationWarning,
        stacklevel=2,
    )
    rate = tf.cast(rate, tf.int64)
    n_in = tf.size(x, out_type=tf.int64)
    n_out = tf.maximum((n_in * target_rate + rate // 2) // rate, 1)
    spectrum = tf.signal.rfft(x)
    kept = tf.minimum(n_in, n_out)
    bins = n_out // 2 + 1
    nyquist = kept // 2 + 1
    spectrum = spectrum[:nyquist]
    # A component at the shorter length's Nyquist frequency is split
    # between +/- frequencies in the longer signal: doubled when it
    # becomes the new Nyquist bin (down), halved when it stops being one
    # (up).
    is_even = tf.equal(kept % 2, 0)
    scale = tf.where(
        is_even & (n_out < n_in),
        2.0,
        tf.where(is_even & (n_out > n_in), 0.5, 1.0),
    )
    last = tf.one_hot(nyquist - 1, tf.cast(nyquist, tf.int32), dtype=tf.float32)
    factor = tf.complex(1.0 + (scale - 1.0) * last, tf.zeros_like(last))
    spectrum = tf.pad(spectrum * factor, [[0, bins - nyquist]])
    y = tf.signal.irfft(spectrum, fft_length=tf.cast(n_out, tf.int32)[None])
    return y * tf.cast(n_out, tf.float32) / tf.cast(n_in, tf.float32)
