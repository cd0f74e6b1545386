"""`EmbedderServingGraph`: a raw-audio segment encoder on tracks of any
length, as SavedModel signatures."""

import keras
import tensorflow as tf
from tensorflow.python.trackable.data_structures import NoDependency

from keras_music.export.segmented_audio_graph import SegmentedAudioGraph
from keras_music.layers.validation import check_positive_int


class EmbedderServingGraph(SegmentedAudioGraph):
    """An audio encoder on raw audio of any length, in one TF graph.

    For encoders whose frontend is inside the model: a Keras model mapping
    a fixed-length segment of raw audio `(batch, segment_samples)` to an
    embedding `(batch, dim)`, such as the `encoder.keras` that
    `recipes/s3t.py` saves (CQT, pre-processor and Swin). Each track is
    checked, cut into half-overlapped segments of the model's length,
    encoded `batch_size` segments at a time, and the embeddings averaged
    per track (see `SegmentedAudioGraph`). Three functions, each a
    signature of the export:

    - `serving_default(audio, lengths)` -> `embedding` `(batch, dim)`;
    - `embed(audio, lengths)` -> the same, under the name the tagger
      exports use for their embeddings;
    - `embed_wav(wav)` -> `embedding`, from WAV file bytes (16-bit PCM,
      channels averaged to mono; resampled to `sample_rate` in the graph
      when `resample_wav`, else a different rate is an error).

    `audio` is `(batch, samples)` float32 at `sample_rate`, a padded
    batch when tracks differ in length; `lengths` `(batch,)` int32 gives
    each track's true length (samples past it are ignored).

    Args:
        model: `keras.Model`. The encoder: input `(batch, segment_samples)`
            raw audio, output `(batch, dim)`, both with static sizes.
        sample_rate: int. Rate of the audio the encoder was trained on,
            in Hz (the model does not record it).
        segment_seconds: float. Segment length in seconds. Defaults to
            the model's input length divided by `sample_rate`; when given
            it must round to the model's input length.
        batch_size: int. Segments per call of the encoder inside the
            graph. Defaults to 8.
        resample_wav: bool. Whether `embed_wav` resamples files at
            another rate (else it refuses them). Defaults to `True`.

    Example:

    An encoder of 800-sample segments at 8 kHz giving each segment's
    mean, on a WAV file at 16 kHz (resampled in the graph):

    >>> import io, soundfile
    >>> encoder = keras.Sequential([
    ...     keras.Input((800,)),
    ...     keras.layers.Reshape((800, 1)),
    ...     keras.layers.GlobalAveragePooling1D(),
    ... ])
    >>> graph = EmbedderServingGraph(encoder, sample_rate=8000)
    >>> wav = io.BytesIO()
    >>> soundfile.write(wav, np.full(4000, 0.5), 16000, format="WAV")
    >>> embedding = graph.embed_wav(tf.constant([wav.getvalue()]))
    >>> np.round(embedding["embedding"].numpy(), 3)
    array([[0.5]], dtype=float32)

    Reference:
        Zhao et al., "S3T: Self-Supervised Pre-training with Swin
        Transformer for Music Classification", ICASSP 2022, Section 4.2
        (clip embeddings averaged over a track).
    """

    def __init__(
        self,
        model,
        sample_rate,
        segment_seconds=None,
        batch_size=8,
        resample_wav=True,
        name="embedder_serving_graph",
    ):
        samples, width = embedder_shape(model)
        sample_rate = check_positive_int("sample_rate", sample_rate)
        if segment_seconds is None:
            segment_seconds = samples / sample_rate
        super().__init__(
            sample_rate=sample_rate,
            segment_seconds=segment_seconds,
            batch_size=batch_size,
            resample_wav=resample_wav,
            name=name,
        )
        if self.segment != samples:
            raise ValueError(
                f"`segment_seconds` must give the model's {samples} input "
                f"samples at {sample_rate} Hz; it gives {self.segment}. "
                f"Received: segment_seconds={segment_seconds}"
            )
        self.model = NoDependency(model)
        self.embedding_width = width
        # As in `ServingGraph`: the tf.Variables, not the Keras ones, so
        # that TF1-style loaders (TF Serving) find them initialised.
        self._variables = [v.value for v in model.variables]

    # === Signatures ===

    @tf.function(
        input_signature=[
            tf.TensorSpec(None, tf.float32, name="audio"),
            tf.TensorSpec([None], tf.int32, name="lengths"),
        ]
    )
    def serving_default(self, audio, lengths):
        return self._embed(*self._check_request(audio, lengths))

    @tf.function(
        input_signature=[
            tf.TensorSpec(None, tf.float32, name="audio"),
            tf.TensorSpec([None], tf.int32, name="lengths"),
        ]
    )
    def embed(self, audio, lengths):
        return self._embed(*self._check_request(audio, lengths))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="wav")])
    def embed_wav(self, wav):
        return self._embed(*self._wav_tracks(wav))

    # === Graph pieces ===

    def embed_segments(self, segments):
        """Per-segment `embedding` of audio segments `(n, segment)`."""
        x = self.model(segments, training=False)
        return {"embedding": keras.ops.cast(x, "float32")}

    def _embed(self, audio, lengths):
        return self._per_track(
            audio,
            lengths,
            self.embed_segments,
            {"embedding": self.embedding_width},
        )


def embedder_shape(model):
    """`(segment_samples, dim)` of a raw-audio encoder, or a `ValueError`
    saying what the model is not."""
    inputs = getattr(model, "inputs", None)
    outputs = getattr(model, "outputs", None)
    if (
        not isinstance(model, keras.Model)
        or inputs is None
        or outputs is None
        or len(inputs) != 1
        or len(outputs) != 1
    ):
        raise ValueError(
            "`model` must be a built Keras model with one input and one "
            f"output (raw audio segment -> embedding). Received: "
            f"model={model!r}"
        )
    input_shape = tuple(inputs[0].shape)
    output_shape = tuple(outputs[0].shape)
    if len(input_shape) != 2 or not input_shape[1]:
        raise ValueError(
            "`model` must take raw audio segments `(batch, samples)` with a "
            f"fixed number of samples. Received: model with input shape "
            f"{input_shape}"
        )
    if len(output_shape) != 2 or not output_shape[1]:
        raise ValueError(
            "`model` must give one embedding `(batch, dim)` per segment. "
            f"Received: model with output shape {output_shape}"
        )
    return int(input_shape[1]), int(output_shape[1])
