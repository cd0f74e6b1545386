import keras
import numpy as np
import tensorflow as tf

from keras_music.layers import spectral_utils
from keras_music.layers import validation

# Mean and standard deviation of the MAEST training set; the released
# models divide by *twice* the standard deviation.
MAEST_MEAN = 2.06755686098554
MAEST_STD = 1.268292820667291


@keras.saving.register_keras_serializable(package="keras_music")
class LogMelSpectrogram(keras.layers.Layer):
    """Log-compressed Slaney mel spectrogram, the MAEST/Essentia frontend.

    Turns mono audio into the input of MAEST/PaSST-style transformers: a
    centred power STFT (periodic Hann window, zero padding), 96 Slaney
    mel bands with Slaney area normalisation, then
    `log10(1 + 10000 * x)`. It matches `librosa.feature.melspectrogram(
    y, sr=16000, n_fft=512, hop_length=256, center=True, power=2,
    n_mels=96, fmin=0, fmax=8000, htk=False, norm="slaney")` followed by
    the same compression. With `normalize=True` the output is further
    standardised as the released MAEST models expect:
    `(x - 2.06755686098554) / (2 * 1.268292820667291)`.

    Frame count: centred, a clip of `n` samples gives `1 + n // hop`
    frames (30 s at 16 kHz: 480,000 samples -> 1876, what Essentia feeds
    MAEST); uncentred `1 + (n - n_fft) // hop` (1874). The official MAEST
    code (palonso/MAEST, torchaudio's `Spectrogram`) pads by reflection
    and keeps the nominal `n / hop` = 1875 frames of a segment, which
    give 186 patch columns instead of 187: `pad_mode="reflect",
    max_frames=1875` reproduces it exactly (see
    `keras_music.models.maest.maest_presets.frontend_presets`).

    Args:
        sample_rate: int. Sample rate of the input audio in Hz. Defaults
            to 16000.
        n_fft: int. Frame (and FFT) length in samples; a power of two
            keeps the TFLite export on builtin ops. Defaults to 512.
        hop_length: int. Hop between frames in samples. Defaults to 256.
        n_mels: int. Number of mel bands. Defaults to 96.
        fmin: float. Lowest band edge in Hz. Defaults to 0.
        fmax: float. Highest band edge in Hz, at most `sample_rate / 2`.
            Defaults to `None` (`sample_rate / 2`).
        center: bool. Whether frames are centred on `t * hop_length`
            (zero padding of `n_fft // 2` on both sides). Defaults to
            `True`.
        pad_mode: str. How centred frames are padded at the edges:
            `"constant"` (zeros, librosa's and Essentia's) or `"reflect"`
            (torch.stft's and the official MAEST code's). Defaults to
            `"constant"`.
        max_frames: optional int. Keep at most the first `max_frames`
            frames, as the official MAEST code trims a segment to its
            nominal length. Defaults to `None` (all frames).
        normalize: bool. Whether to apply the released MAEST models'
            input normalisation. Defaults to `False`.
        check_values: bool. Whether to check at run time that the audio
            is finite and long enough. Set it to `False` for TFLite,
            whose builtin ops have no assertions. Defaults to `True`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:

    >>> audio = np.random.uniform(-1, 1, size=(2, 16000)).astype("float32")
    >>> LogMelSpectrogram()(audio).shape
    TensorShape([2, 96, 63])

    Input shape:
        `(batch, samples)` float audio, or `(samples,)` for one clip
        (e.g. in `tf.data` before batching).

    Output shape:
        `(batch, n_mels, frames)` (or `(n_mels, frames)` for a single
        clip), lowest band first.

    Reference:
        - [Alonso-Jiménez et al., Efficient Supervised Training of Audio
          Transformers for Music Representation Learning, ISMIR 2023](
          https://arxiv.org/abs/2309.16418), section 3.1.
    """

    def __init__(
        self,
        sample_rate=16000,
        n_fft=512,
        hop_length=256,
        n_mels=96,
        fmin=0.0,
        fmax=None,
        center=True,
        normalize=False,
        check_values=True,
        pad_mode="constant",
        max_frames=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if pad_mode not in ("constant", "reflect"):
            raise ValueError(
                '`pad_mode` must be "constant" or "reflect". '
                f"Received: pad_mode={pad_mode!r}"
            )
        if max_frames is not None:
            validation.check_positive_int("max_frames", max_frames)
        validation.check_positive_int("sample_rate", sample_rate)
        validation.check_positive_int("n_fft", n_fft)
        validation.check_positive_int("hop_length", hop_length)
        validation.check_positive_int("n_mels", n_mels)
        nyquist = sample_rate / 2.0
        if fmax is not None and (
            isinstance(fmax, bool)
            or not isinstance(fmax, (int, float, np.integer, np.floating))
            or not 0 < fmax <= nyquist
        ):
            raise ValueError(
                f"`fmax` must be in (0, sample_rate / 2 = {nyquist}]. "
                f"Received: fmax={fmax!r}"
            )
        top = nyquist if fmax is None else fmax
        if (
            isinstance(fmin, bool)
            or not isinstance(fmin, (int, float, np.integer, np.floating))
            or not 0 <= fmin < top
        ):
            raise ValueError(
                f"`fmin` must be in [0, fmax = {top}). Received: fmin={fmin!r}"
            )
        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.center = center
        self.normalize = normalize
        self.check_values = check_values
        self.pad_mode = pad_mode
        self.max_frames = max_frames
        self._filterbank = tf.constant(
            spectral_utils.slaney_mel_filterbank(
                sample_rate, n_fft, n_mels, fmin, top
            ),
            dtype="float32",
        )
        self._window = tf.constant(
            spectral_utils.periodic_hann(n_fft), dtype="float32"
        )

    @property
    def input_dtype(self):
        # Audio stays float32 under mixed precision.
        return "float32"

    def call(self, inputs):
        x = tf.cast(inputs, "float32")
        x = validation.check_audio(
            x,
            "LogMelSpectrogram input",
            self._min_samples(),
            self.check_values,
        )
        power = spectral_utils.power_spectrogram(
            x, self._window, self.hop_length, self.center, self.pad_mode
        )
        if self.max_frames is not None:
            power = power[..., : self.max_frames, :]
        mel = tf.tensordot(power, self._filterbank, axes=1)
        x = tf.math.log(1.0 + 10000.0 * mel) / np.log(10.0)
        if self.normalize:
            x = (x - MAEST_MEAN) / (2.0 * MAEST_STD)
        x = spectral_utils.frequency_first(x)
        return tf.cast(x, self.compute_dtype)

    def _min_samples(self):
        if not self.center:
            return self.n_fft
        # Reflection needs more samples than the padding on each side.
        return self.n_fft // 2 + 1 if self.pad_mode == "reflect" else 1

    def compute_output_shape(self, input_shape):
        def frames(length):
            count = spectral_utils.num_frames(
                length, self.hop_length, self.n_fft, self.center
            )
            if count is None or self.max_frames is None:
                return count
            return min(count, self.max_frames)

        return spectral_utils.audio_output_shape(
            input_shape, self.n_mels, frames
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "n_fft": self.n_fft,
                "hop_length": self.hop_length,
                "n_mels": self.n_mels,
                "fmin": self.fmin,
                "fmax": self.fmax,
                "center": self.center,
                "normalize": self.normalize,
                "check_values": self.check_values,
                "pad_mode": self.pad_mode,
                "max_frames": self.max_frames,
            }
        )
        return config
