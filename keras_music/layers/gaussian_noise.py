import keras
import tensorflow as tf

from keras_music.layers.validation import check_range
from keras_music.layers.waveform_ops import WaveformAugmentation
from keras_music.layers.waveform_ops import random_uniform


@keras.saving.register_keras_serializable(package="keras_music")
class GaussianNoise(WaveformAugmentation):
    """Adds white Gaussian noise at a random signal-to-noise ratio.

    Unlike `keras.layers.GaussianNoise` (a fixed standard deviation), the
    noise level here is relative to each example: an SNR in dB is drawn
    uniformly from `snr_range` and the noise power is set to the example's
    mean power divided by `10 ** (snr / 10)`. Silent examples stay silent.
    Identity at inference.

    The default range, 40 to 80 dB, is CLMR's noise level (a noise
    standard deviation of 0.0001 to 0.01 times the signal's) written as
    an SNR.

    Args:
        snr_range: pair of floats. `(min, max)` SNR in dB. Defaults to
            `(40.0, 80.0)`.
        p: float. Probability that noise is added to an example. Defaults
            to 0.01 (CLMR).
        seed: int or None. Seed of the layer's random generator. Defaults
            to None.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Example:

    >>> layer = GaussianNoise(snr_range=(10.0, 20.0), p=1.0, seed=0)
    >>> audio = keras.random.normal((2, 1000), seed=1)
    >>> layer(audio, training=True).shape
    TensorShape([2, 1000])

    Input shape:
        `(batch, samples)` or `(samples,)` float waveforms.

    Output shape:
        Same as the input.

    Reference:
        CLMR (Spijkervet & Burgoyne, ISMIR 2021), Sec. 3.1; multi-format
        contrastive learning (papers/multiformat-contrastive.txt), Sec. 3.
    """

    def __init__(self, snr_range=(40.0, 80.0), p=0.01, seed=None, **kwargs):
        super().__init__(p=p, seed=seed, **kwargs)
        self.snr_range = check_range("snr_range", snr_range)

    def augment(self, audio):
        snr_db = random_uniform(
            tf.shape(audio)[0], self.snr_range, self.seed_generator
        )
        signal_power = tf.reduce_mean(tf.square(audio), axis=-1)
        noise_std = tf.sqrt(signal_power / tf.pow(10.0, snr_db / 10.0))
        noise = keras.random.normal(tf.shape(audio), seed=self.seed_generator)
        return audio + noise * noise_std[:, tf.newaxis]

    def get_config(self):
        config = super().get_config()
        config.update({"snr_range": self.snr_range})
        return config
