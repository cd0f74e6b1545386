"""`AudioPreprocessor`: what a model expects of its audio, in one layer."""

import warnings

import keras
import numpy as np
import soundfile

from keras_music.data.audio import load_audio
from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.utils.serialization import deserialize_objects
from keras_music.utils.serialization import serialize_objects

NORMALIZATIONS = (None, "per_clip")


@keras.saving.register_keras_serializable(package="keras_music")
class AudioPreprocessor(keras.layers.Layer):
    """Sample rate, segment length, frontend and normalisation of a model.

    The knowledge a model needs to be used on new audio, kept with it: the
    sample rate it was trained at, the length of one input segment, the
    frontend that turns audio into its input (a `LogMelSpectrogram`, a
    `CQT`, or none for raw-waveform models) and the normalisation after
    it. A task model holds one (`MAESTTagger(..., preprocessor=...)`), so
    a `.keras` file reloads with everything needed to tag a file:
    `model.preprocessor.load_audio(path)` decodes any file at any rate and
    channel count to this preprocessor's mono rate, and calling the layer
    on the audio gives the model's input.

    The layer wraps the frontend: it does not compute a transform of its
    own, so it gives exactly the frontend's output (then normalised).

    Args:
        frontend: optional `keras.layers.Layer`. Maps audio `(batch,
            samples)` to the model's input, e.g. `LogMelSpectrogram` or
            `CQT`; it must have a `sample_rate` attribute. `None` passes
            the audio through (raw-waveform models). Defaults to `None`.
        sample_rate: optional int. Sample rate in Hz. Defaults to the
            frontend's; required without a frontend, and must agree with
            the frontend's when both are given.
        segment_seconds: optional float. Length of one model input in
            seconds (MAEST-30s: 30). `None`: any length. Defaults to
            `None`.
        normalization: optional str. `"per_clip"` standardises each
            clip's frontend output to zero mean and unit variance over all
            its bins and frames (epsilon 1e-3, as the S3T encoder does);
            `None` leaves it as the frontend gives it. Defaults to `None`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:

    >>> preprocessor = AudioPreprocessor(
    ...     LogMelSpectrogram(sample_rate=16000), segment_seconds=1.0
    ... )
    >>> preprocessor.sample_rate, preprocessor.segment_samples
    (16000, 16000)
    >>> preprocessor(np.zeros((2, 16000), "float32")).shape
    TensorShape([2, 96, 63])

    Input shape:
        `(batch, samples)` mono audio at `sample_rate`.

    Output shape:
        The frontend's output shape, or `(batch, samples)` without one.
    """

    def __init__(
        self,
        frontend=None,
        sample_rate=None,
        segment_seconds=None,
        normalization=None,
        **kwargs,
    ):
        if frontend is not None and not isinstance(
            frontend, keras.layers.Layer
        ):
            raise ValueError(
                "`frontend` must be a Keras layer or None. "
                f"Received: frontend={frontend!r}"
            )
        frontend_rate = getattr(frontend, "sample_rate", None)
        if frontend is not None and frontend_rate is None:
            raise ValueError(
                "`frontend` must have a `sample_rate` attribute (the rate "
                f"it expects). Received: frontend={frontend!r}"
            )
        if sample_rate is None:
            sample_rate = frontend_rate
        if sample_rate is None:
            raise ValueError(
                "`sample_rate` is required without a `frontend`. "
                "Received: sample_rate=None"
            )
        sample_rate = check_positive_int("sample_rate", sample_rate)
        if frontend_rate is not None and frontend_rate != sample_rate:
            raise ValueError(
                f"`sample_rate` must be the frontend's ({frontend_rate} Hz). "
                f"Received: sample_rate={sample_rate}"
            )
        if segment_seconds is not None:
            check_positive("segment_seconds", segment_seconds)
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"`normalization` must be one of {NORMALIZATIONS}. "
                f"Received: normalization={normalization!r}"
            )
        super().__init__(**kwargs)
        self.frontend = frontend
        self.sample_rate = sample_rate
        self.segment_seconds = segment_seconds
        self.normalization = normalization
        self.norm = None
        if normalization == "per_clip":
            self.norm = keras.layers.LayerNormalization(
                axis=(-2, -1),
                center=False,
                scale=False,
                epsilon=1e-3,
                dtype=self.dtype_policy,
                name="per_clip_norm",
            )

    @property
    def hop_length(self):
        """The frontend's hop in samples, or `None` without one."""
        return getattr(self.frontend, "hop_length", None)

    @property
    def segment_samples(self):
        """Samples in one segment, or `None` for any length."""
        if self.segment_seconds is None:
            return None
        return int(round(self.segment_seconds * self.sample_rate))

    def build(self, input_shape):
        shape = input_shape
        if self.frontend is not None:
            if not self.frontend.built:
                self.frontend.build(input_shape)
            shape = self.frontend.compute_output_shape(input_shape)
        if self.norm is not None and not self.norm.built:
            self.norm.build(shape)
        self.built = True

    def call(self, audio):
        x = audio if self.frontend is None else self.frontend(audio)
        if self.norm is not None:
            x = self.norm(x)
        return x

    def compute_output_shape(self, input_shape):
        if self.frontend is None:
            return input_shape
        return self.frontend.compute_output_shape(input_shape)

    def load_audio(self, path):
        """Decodes an audio file for this preprocessor: float32 mono at
        `sample_rate`, `(samples,)`.

        Any rate and channel count `keras_music.data.load_audio` reads is
        accepted: channels are averaged, and a file at another rate is
        resampled by the library's resampler
        (`keras_music.layers.resample`, also that of `keras-music tag` and
        of the exports' WAV signatures) with a `UserWarning` saying so, as
        a model hears resampled audio differently from native audio.
        Errors are `load_audio`'s (`AudioDecodeError` naming the file).
        """
        audio = load_audio(path, self.sample_rate, mono=True)
        # Only the header: `load_audio` has decoded and checked the file.
        info = soundfile.info(path)
        if info.samplerate != self.sample_rate:
            warnings.warn(
                f"Resampled {path} from {info.samplerate} Hz "
                f"({info.channels} channel(s)) to {self.sample_rate} Hz "
                "mono, the model's rate.",
                stacklevel=2,
            )
        return audio

    def segments(self, audio, hop=None, pad=False):
        """Cuts mono audio `(samples,)` into `(segments, segment_samples)`.

        Segments start every `hop` samples (default: one segment, so they
        are consecutive); the last one is aligned with the end of the
        audio (it overlaps the one before). Audio shorter than a segment
        is one segment of its own length, or, with `pad`, zero-padded to
        one segment. With no `segment_seconds`, the audio is one segment.

        `hop=segment_samples // 2, pad=True` is how the evaluation
        (`tfrecord_dataset(mode="all")`) and the exports' `tag_wav` /
        `serving_default` cut a track, and how `keras-music tag` does.
        """
        audio = np.asarray(audio, dtype="float32")
        length, size = audio.shape[-1], self.segment_samples
        if size is None:
            return audio[None]
        if length <= size:
            if pad:
                audio = np.pad(audio, (0, size - length))
            return audio[None]
        hop = size if hop is None else int(hop)
        if hop < 1:
            raise ValueError(
                f"`hop` must be a positive integer. Received: {hop}"
            )
        last = length - size
        starts = list(range(0, last + 1, hop))
        if starts[-1] != last:
            starts.append(last)
        return np.stack([audio[s : s + size] for s in starts])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                **serialize_objects(frontend=self.frontend),
                "sample_rate": self.sample_rate,
                "segment_seconds": self.segment_seconds,
                "normalization": self.normalization,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_objects(config, "frontend"))
