import keras
import numpy as np
import tensorflow as tf

from keras_music.layers import spectral_utils
from keras_music.layers import validation


@keras.saving.register_keras_serializable(package="keras_music")
class LogPowerSpectrum(keras.layers.Layer):
    """Log power spectrum `10 * log10(|STFT|^2 + eps)` of raw audio.

    The LPS target (and frontend) of PASE/PASE+: a centred STFT with a
    periodic Hann window and zero padding, as `librosa.stft(y,
    n_fft=2048, hop_length=160, center=True)` computes it at 16 kHz (10 ms
    hop), in decibels. `eps` keeps silent bins finite.

    Args:
        n_fft: int. Frame (and FFT) length in samples; a power of two
            keeps a TFLite export on builtin ops. Defaults to 2048.
        hop_length: int. Hop between frames in samples. Defaults to 160.
        center: bool. Whether frames are centred on `t * hop_length`
            (zero padding of `n_fft // 2` on both sides). Defaults to
            `True`.
        eps: float. Added to the power before the logarithm. Defaults to
            1e-10 (a floor of -100 dB).
        check_values: bool. Whether to check at run time that the audio
            is finite and long enough. Set it to `False` for TFLite,
            whose builtin ops have no assertions. Defaults to `True`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:

    >>> audio = np.random.uniform(-1, 1, size=(2, 16000)).astype("float32")
    >>> LogPowerSpectrum()(audio).shape
    TensorShape([2, 1025, 101])

    Input shape:
        `(batch, samples)` float audio, or `(samples,)` for one clip.

    Output shape:
        `(batch, n_fft // 2 + 1, frames)` (or without the batch axis for
        a single clip), with `frames = 1 + samples // hop_length` when
        centred and `1 + (samples - n_fft) // hop_length` otherwise.

    Reference:
        - [Ravanelli et al., Multi-task self-supervised learning for
          Robust Speech Recognition (PASE+), ICASSP 2020](
          https://arxiv.org/abs/2001.09239), section 2.2 (workers).
    """

    def __init__(
        self,
        n_fft=2048,
        hop_length=160,
        center=True,
        eps=1e-10,
        check_values=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.check_positive_int("n_fft", n_fft)
        validation.check_positive_int("hop_length", hop_length)
        validation.check_positive("eps", eps)
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.center = center
        self.eps = eps
        self.check_values = check_values
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
            "LogPowerSpectrum input",
            1 if self.center else self.n_fft,
            self.check_values,
        )
        power = spectral_utils.power_spectrogram(
            x, self._window, self.hop_length, self.center
        )
        x = 10.0 * tf.math.log(power + self.eps) / np.log(10.0)
        return tf.cast(spectral_utils.frequency_first(x), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        def frames(length):
            return spectral_utils.num_frames(
                length, self.hop_length, self.n_fft, self.center
            )

        return spectral_utils.audio_output_shape(
            input_shape, self.n_fft // 2 + 1, frames
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "n_fft": self.n_fft,
                "hop_length": self.hop_length,
                "center": self.center,
                "eps": self.eps,
                "check_values": self.check_values,
            }
        )
        return config
