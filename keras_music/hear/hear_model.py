"""`HEARModel`: a keras_music encoder behind the HEAR 2021 common API.

The HEAR modules (`keras_music.hear.maest`, `s3t`, `clmr`, `pase_plus`)
wrap an encoder in a `HEARModel` and answer `get_scene_embeddings` and
`get_timestamp_embeddings` with the two functions of this module.

Two kinds of encoder:

- Segment encoders (MAEST, S3T, CLMR): `(batch, window samples)` ->
  `(batch, dim)`. The timestamp embedding at time `t` is the encoder's
  embedding of the window of one segment centred on `t` (the sound
  zero-padded by half a window on each side). Timestamps run from 0 to
  the end of the sound every `hop_seconds` (each window centred on the
  sample nearest to its timestamp; HEAR suggests at most 50 ms,
  the onset tolerance of its transcription tasks; 50 ms is the default),
  each computed from its index so that rounding does not drift over long
  sounds. The scene embedding is the mean over the sound's consecutive
  segments (`AudioPreprocessor.segments`: the last one aligned with the
  end; a sound shorter than a segment is one segment, zero-padded to the
  encoder's fixed length when it has one).
- Frame encoders (PASE+): `(batch, samples)` -> `(batch, frames, dim)`
  at `frame_hop` samples per frame, frame `t` centred on sample
  `frame_hop * t + frame_offset`; the sound is zero-padded to whole
  frames and the frames centred within it are kept. Long sounds are read
  in chunks of `chunk_samples` with `context_samples` of audio on each
  side, so that memory does not grow with the sound's length. The scene
  embedding is the mean over the frames.

The encoder is called on at most `batch_size` windows (or chunks) at a
time, so that its working memory does not grow with the length of the
sounds (only the audio and the embeddings themselves do).
"""

import math
import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.models.audio_preprocessor import AudioPreprocessor

# HEAR 2021's rates (hear-validator's `ACCEPTABLE_SAMPLE_RATE`).
HEAR_SAMPLE_RATES = (16000, 22050, 44100, 48000)
# HEAR's suggested largest timestamp hop (50 ms onset tolerance).
DEFAULT_HOP_SECONDS = 0.05


class HEARModel(tf.Module):
    """A keras_music encoder with the attributes HEAR 2021 reads.

    HEAR's `load_model` must return a TensorFlow module with
    `sample_rate`, `scene_embedding_size` and `timestamp_embedding_size`
    (ints); the encoder is a `keras.Model` (not itself a `tf.Module`), so
    it is held here, in `encoder`.

    Args:
        encoder: `keras.Model`. Audio at `sample_rate` -> `(batch, dim)`
            (a segment encoder) or `(batch, frames, dim)` (a frame
            encoder, with `frame_hop`).
        sample_rate: int. The encoder's rate in Hz, one of HEAR's.
        segment_samples: optional int. Samples of one segment, also the
            timestamp window (segment encoders).
        hop_seconds: float. Seconds between timestamps (segment
            encoders). Defaults to 0.05.
        frame_hop: optional int. Samples per frame (frame encoders).
        frame_offset: int. Sample on which frame 0 is centred. Defaults
            to 0.
        chunk_samples: optional int. Samples of audio per encoder call
            (frame encoders), a multiple of `frame_hop`. Defaults to
            `None`: 30 s.
        context_samples: int. Audio read on each side of a chunk (frame
            encoders), a multiple of `frame_hop`. Defaults to 0.
        min_samples: int. Shorter inputs are zero-padded to this length.
            Defaults to 1.
        batch_size: int. Windows (or chunks) per encoder call. Defaults
            to 16.
        source: str. What was loaded (a file path or a preset), for the
            record. Defaults to `""`.

    Example:

    >>> inputs = keras.Input((400,))
    >>> encoder = keras.Model(inputs, keras.layers.Dense(8)(inputs))
    >>> model = HEARModel(encoder, 16000, segment_samples=400,
    ...                   hop_seconds=0.0125)
    >>> embeddings, timestamps = timestamp_embeddings(
    ...     np.zeros((2, 1600), "float32"), model)
    >>> tuple(embeddings.shape), timestamps.numpy()[0, :3].tolist()
    ((2, 9, 8), [0.0, 12.5, 25.0])
    """

    def __init__(
        self,
        encoder,
        sample_rate,
        segment_samples=None,
        hop_seconds=DEFAULT_HOP_SECONDS,
        frame_hop=None,
        frame_offset=0,
        chunk_samples=None,
        context_samples=0,
        min_samples=1,
        batch_size=16,
        source="",
    ):
        super().__init__(name="hear_model")
        if not isinstance(encoder, keras.Model):
            raise ValueError(
                f"`encoder` must be a `keras.Model`. Received: {encoder!r}"
            )
        sample_rate = check_positive_int("sample_rate", sample_rate)
        if sample_rate not in HEAR_SAMPLE_RATES:
            raise ValueError(
                f"`sample_rate` must be one of HEAR's {HEAR_SAMPLE_RATES}. "
                f"Received: sample_rate={sample_rate}"
            )
        if (segment_samples is None) == (frame_hop is None):
            raise ValueError(
                "Give exactly one of `segment_samples` (a segment encoder) "
                "and `frame_hop` (a frame encoder). Received: "
                f"segment_samples={segment_samples}, frame_hop={frame_hop}"
            )
        self.encoder = encoder
        self.sample_rate = sample_rate
        self.segment_samples = None
        self.hop_seconds = None
        self.frame_hop = None
        self.frame_offset = int(frame_offset)
        self.chunk_samples = None
        self.context_samples = None
        if segment_samples is not None:
            self.segment_samples = check_positive_int(
                "segment_samples", segment_samples
            )
            self.hop_seconds = float(check_positive("hop_seconds", hop_seconds))
        else:
            self.frame_hop = check_positive_int("frame_hop", frame_hop)
            if chunk_samples is None:
                chunk_samples = 30 * sample_rate // frame_hop * frame_hop
            self.chunk_samples = _check_multiple(
                "chunk_samples", chunk_samples, frame_hop
            )
            self.context_samples = 0
            if context_samples:
                self.context_samples = _check_multiple(
                    "context_samples", context_samples, frame_hop
                )
        self.min_samples = check_positive_int("min_samples", min_samples)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.source = str(source)
        # A fixed-length encoder (S3T, CLMR) needs whole segments.
        self.fixed_length = encoder.input_shape[-1] is not None
        if self.fixed_length and segment_samples not in (
            None,
            encoder.input_shape[-1],
        ):
            raise ValueError(
                "`segment_samples` must be the encoder's input length "
                f"({encoder.input_shape[-1]}). "
                f"Received: segment_samples={segment_samples}"
            )
        size = int(encoder.output_shape[-1])
        self.scene_embedding_size = size
        self.timestamp_embedding_size = size
        self._call = tf.function(
            lambda x: self.encoder(x, training=False), reduce_retracing=True
        )

    def embed(self, batch):
        """Encoder outputs of `batch` (NumPy), `batch_size` at a time, as
        float32 NumPy."""
        outputs = []
        for i in range(0, len(batch), self.batch_size):
            x = tf.constant(batch[i : i + self.batch_size])
            y = keras.ops.convert_to_numpy(self._call(x))
            outputs.append(np.asarray(y, dtype="float32"))
        return np.concatenate(outputs)


def _check_multiple(name, value, step):
    value = check_positive_int(name, value)
    if value % step:
        raise ValueError(
            f"`{name}` must be a multiple of the frame hop ({step} samples). "
            f"Received: {name}={value}"
        )
    return value


def as_audio(audio, model):
    """HEAR's `audio` `(n_sounds, n_samples)` as float32 NumPy, checked."""
    if not isinstance(model, HEARModel):
        raise ValueError(
            "`model` must be what this module's `load_model` returns. "
            f"Received: model={type(model).__name__}"
        )
    if hasattr(audio, "numpy"):
        audio = audio.numpy()
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[0] < 1 or audio.shape[1] < 1:
        raise ValueError(
            "`audio` must be a batch (n_sounds, n_samples) of mono audio at "
            f"{model.sample_rate} Hz. Received: shape={audio.shape}"
        )
    if not np.issubdtype(audio.dtype, np.floating):
        raise ValueError(
            "`audio` must be float audio in [-1, 1]. "
            f"Received: dtype={audio.dtype}"
        )
    audio = audio.astype("float32")
    if not np.all(np.isfinite(audio)):
        raise ValueError(
            "`audio` must be finite. Received: NaN or Inf in sound(s) "
            f"{np.flatnonzero(~np.isfinite(audio).all(axis=1)).tolist()}"
        )
    return audio


def _pad_to(audio, length):
    missing = length - audio.shape[-1]
    if missing <= 0:
        return audio
    return np.pad(audio, ((0, 0), (0, missing)))


def window_centres(length, rate, hop_seconds):
    """Sample centres of the timestamp windows of a sound of `length`
    samples: `round(k * hop)` for every `k` with `k * hop <= length`,
    each computed from `k` (no accumulated rounding)."""
    hop = hop_seconds * rate
    count = math.floor(length / hop + 1e-9) + 1
    centres = np.round(np.arange(count) * hop).astype("int64")
    return np.minimum(centres, length)


def _frame_outputs(audio, model):
    """Frame encoder: `(n, frames, dim)` and the centres in samples."""
    length = audio.shape[1]
    hop, context = model.frame_hop, model.context_samples
    # Zero-padded to whole frames (at least the encoder's minimum), so
    # that the last frame centred within the sound is computed and every
    # slice below is whole frames.
    total = -(-max(length, model.min_samples) // hop) * hop
    padded = _pad_to(audio, total)
    frames = total // hop
    # The shortest input the encoder takes, in whole frames.
    shortest = math.ceil(model.min_samples / hop) * hop
    parts = []
    for start in range(0, frames * hop, model.chunk_samples):
        stop = min(frames * hop, start + model.chunk_samples)
        begin = max(0, start - context)
        end = min(total, stop + context)
        begin = max(0, min(begin, end - shortest))
        # `begin` is a whole number of frames: the slice's frame `j` is
        # the sound's frame `begin // hop + j`.
        first = (start - begin) // hop
        out = model.embed(padded[:, begin:end])
        parts.append(out[:, first : first + (stop - start) // hop])
    embeddings = np.concatenate(parts, axis=1)
    centres = model.frame_offset + hop * np.arange(embeddings.shape[1])
    # Frames of the zero padding beyond the sound are dropped; one stays.
    keep = max(1, int(np.sum(centres <= length)))
    return embeddings[:, :keep], centres[:keep]


def timestamp_embeddings(audio, model):
    """HEAR's `get_timestamp_embeddings` for a `HEARModel`.

    Args:
        audio: float32 `(n_sounds, n_samples)` at `model.sample_rate`,
            the sounds of a batch zero-padded to one length (as HEAR
            does).
        model: a `HEARModel` (the module's `load_model()`).

    Returns:
        `(embeddings, timestamps)`: float32 tensors `(n_sounds,
        n_timestamps, model.timestamp_embedding_size)` and `(n_sounds,
        n_timestamps)`, the centre of each embedding's window in ms.
    """
    audio = as_audio(audio, model)
    n, length = audio.shape
    rate = model.sample_rate
    if model.frame_hop is not None:
        embeddings, centres = _frame_outputs(audio, model)
    else:
        window = model.segment_samples
        centres = window_centres(length, rate, model.hop_seconds)
        padded = np.pad(audio, ((0, 0), (window // 2, window - window // 2)))
        # Timestamps per encoder call: `batch_size` windows in all.
        step = max(1, model.batch_size // n)
        parts = []
        for i in range(0, len(centres), step):
            windows = np.stack(
                [padded[:, c : c + window] for c in centres[i : i + step]],
                axis=1,
            )
            out = model.embed(windows.reshape(-1, window))
            parts.append(out.reshape(n, windows.shape[1], -1))
        embeddings = np.concatenate(parts, axis=1)
        # The grid itself, `k * hop` (exact in float32 for a hop of whole
        # milliseconds): each window is centred within half a sample of
        # it, and the validator sees a regular hop of at most 50 ms where
        # rounded sample centres would alternate 49.98 and 50.02 ms.
        centres = np.arange(len(centres)) * model.hop_seconds * rate
    timestamps = np.tile(1000.0 * centres / rate, (n, 1))
    return (
        tf.convert_to_tensor(embeddings, tf.float32),
        tf.convert_to_tensor(timestamps, tf.float32),
    )


def scene_embeddings(audio, model):
    """HEAR's `get_scene_embeddings` for a `HEARModel`.

    Args:
        audio: float32 `(n_sounds, n_samples)` at `model.sample_rate`.
        model: a `HEARModel` (the module's `load_model()`).

    Returns:
        float32 tensor `(n_sounds, model.scene_embedding_size)`.
    """
    audio = as_audio(audio, model)
    if model.frame_hop is not None:
        embeddings = _frame_outputs(audio, model)[0].mean(axis=1)
        return tf.convert_to_tensor(embeddings, tf.float32)
    splitter = AudioPreprocessor(
        sample_rate=model.sample_rate,
        segment_seconds=model.segment_samples / model.sample_rate,
    )
    sums = np.zeros((len(audio), model.scene_embedding_size), "float64")
    for i, sound in enumerate(audio):
        segments = splitter.segments(sound)
        if model.fixed_length:
            segments = _pad_to(segments, model.segment_samples)
        segments = _pad_to(segments, model.min_samples)
        sums[i] = model.embed(segments).mean(axis=0)
    return tf.convert_to_tensor(sums, tf.float32)


def keras_or_preset(model_file_path, kinds, module, preset, build):
    """What every module's `load_model` starts from: the `.keras` model of
    `model_file_path` (checked to be one of `kinds`, see
    `load_keras_file`), or with no file `build(preset)` at random
    initialisation, with a warning that its embeddings are untrained."""
    if model_file_path:
        return load_keras_file(model_file_path, kinds, module)
    warnings.warn(
        f"keras_music.hear.{module}: no `model_file_path`, so the "
        f"{preset!r} preset is built at random initialisation: its "
        "embeddings are untrained. Pass a `.keras` file to load weights.",
        # The caller of the module's `load_model`.
        stacklevel=3,
    )
    return build(preset)


def load_keras_file(model_file_path, kinds, module):
    """The `.keras` model in `model_file_path`, checked to be one of
    `kinds` (classes); the error names the file and what was expected."""
    names = ", ".join(kind.__name__ for kind in kinds)
    path = os.fspath(model_file_path)
    if not path.endswith(".keras"):
        raise ValueError(
            f"`model_file_path` must be a `.keras` file holding a {names} "
            f"(keras_music.hear.{module}). Received: {path!r}"
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"`model_file_path` {path!r} does not exist (expected a "
            f"`.keras` file holding a {names})."
        )
    try:
        loaded = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds; name the file.
        raise ValueError(
            f"`model_file_path` {path!r} could not be loaded as a Keras "
            f"model (expected a {names}): {error}"
        ) from error
    if not isinstance(loaded, kinds):
        raise ValueError(
            f"`model_file_path` {path!r} must hold a {names} for "
            f"keras_music.hear.{module}. Received: a "
            f"{type(loaded).__name__}"
        )
    return loaded
