import math

import keras
import tensorflow as tf

from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_range
from keras_music.layers.waveform_ops import WaveformAugmentation
from keras_music.layers.waveform_ops import fast_fft_length
from keras_music.layers.waveform_ops import random_uniform
from keras_music.layers.waveform_ops import static_length

# An exponential envelope exp(-_DECAY_60DB * t / rt60) falls by 60 dB at
# t = rt60: ln(10 ** (60 / 20)) = 3 ln 10.
_DECAY_60DB = 3.0 * math.log(10.0)


@keras.saving.register_keras_serializable(package="keras_music")
class Reverb(WaveformAugmentation):
    """Adds synthetic room reverberation.

    Each augmented example is convolved (FFT convolution, vectorised over
    the batch) with its own synthetic impulse response: white Gaussian
    noise under an exponential envelope that falls by 60 dB after the
    reverberation time RT60, drawn uniformly from `rt60_range` (larger,
    more reverberant rooms have longer RT60s). The response is
    normalised to unit energy and mixed with the dry signal,
    `(1 - wet) * x + wet * (h * x)`, with the wet level drawn uniformly
    from `wet_range`. The response starts at lag 0 and is truncated at
    the largest RT60, so the output is causal and keeps the input's
    length (the tail past the end is dropped). Identity at inference.

    Args:
        sample_rate: int. Sample rate of the audio in Hz. Defaults to
            22050.
        rt60_range: pair of floats. `(min, max)` reverberation time in
            seconds, both positive. Defaults to `(0.2, 1.0)`.
        wet_range: pair of floats. `(min, max)` level of the reverberant
            signal in the mix, within `[0, 1]`. Defaults to `(0.1, 0.5)`.
        p: float. Probability that an example is reverberated. Defaults to
            0.6 (CLMR).
        seed: int or None. Seed of the layer's random generator. Defaults
            to None.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Example:

    >>> layer = Reverb(sample_rate=8000, rt60_range=(0.1, 0.3), p=1.0)
    >>> audio = keras.random.normal((2, 800), seed=1)
    >>> layer(audio, training=True).shape
    TensorShape([2, 800])

    Input shape:
        `(batch, samples)` or `(samples,)` float waveforms.

    Output shape:
        Same as the input.

    Reference:
        CLMR (Spijkervet & Burgoyne, ISMIR 2021), Sec. 3.1 (reverb with
        probability 0.6); the impulse response model is the classic
        exponentially decaying noise (Schroeder's statistical reverb).
    """

    def __init__(
        self,
        sample_rate=22050,
        rt60_range=(0.2, 1.0),
        wet_range=(0.1, 0.5),
        p=0.6,
        seed=None,
        **kwargs,
    ):
        super().__init__(p=p, seed=seed, **kwargs)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.rt60_range = check_range("rt60_range", rt60_range, low=0.0)
        if self.rt60_range[0] <= 0.0:
            raise ValueError(
                "`rt60_range` must hold positive times. "
                f"Received: rt60_range={rt60_range!r}"
            )
        self.wet_range = check_range("wet_range", wet_range, 0.0, 1.0)
        self.ir_length = max(
            1, int(math.ceil(self.rt60_range[1] * self.sample_rate))
        )

    def augment(self, audio):
        batch_size = tf.shape(audio)[0]
        rt60 = random_uniform(batch_size, self.rt60_range, self.seed_generator)
        wet = random_uniform(batch_size, self.wet_range, self.seed_generator)
        t = tf.range(self.ir_length, dtype="float32") / self.sample_rate
        envelope = tf.exp(-_DECAY_60DB * t[tf.newaxis] / rt60[:, tf.newaxis])
        noise = keras.random.normal(
            (batch_size, self.ir_length), seed=self.seed_generator
        )
        response = noise * envelope
        response *= tf.math.rsqrt(
            tf.reduce_sum(tf.square(response), axis=-1, keepdims=True)
        )
        samples = static_length(audio)
        # Linear (not circular) convolution needs samples + ir_length - 1
        # points; any longer FFT gives the same result, and a smooth
        # length is several times faster than an arbitrary one.
        fft_length = fast_fft_length(samples + self.ir_length - 1)
        wet_audio = tf.signal.irfft(
            tf.signal.rfft(audio, [fft_length])
            * tf.signal.rfft(response, [fft_length]),
            [fft_length],
        )[:, :samples]
        wet = wet[:, tf.newaxis]
        return (1.0 - wet) * audio + wet * wet_audio

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "rt60_range": self.rt60_range,
                "wet_range": self.wet_range,
            }
        )
        return config
