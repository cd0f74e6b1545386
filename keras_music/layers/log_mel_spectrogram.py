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
    MAEST); uncentred `1 + (n - n_fft) // hop` (1874). MAEST's nominal
    1875 frames (n / hop) and the 1876 centred ones both give the same
    187 patch columns (kernel 16, stride 10).

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
        **kwargs,
    ):
        super().__init__(**kwargs)
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
            1 if self.center else self.n_fft,
            self.check_values,
        )
        power = spectral_utils.power_spectrogram(
            x, self._window, self.hop_length, self.center
        )
        mel = tf.tensordot(power, self._filterbank, axes=1)
        x = tf.math.log(1.0 + 10000.0 * mel) / np.log(10.0)
        if self.normalize:
            x = (x - MAEST_MEAN) / (2.0 * MAEST_STD)
        x = spectral_utils.frequency_first(x)
        return tf.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        def frames(length):
            return spectral_utils.num_frames(
                length, self.hop_length, self.n_fft, self.center
            )

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
            }
        )
        return config
