import keras
import tensorflow as tf

from keras_music.layers.validation import check_range
from keras_music.layers.waveform_ops import WaveformAugmentation
from keras_music.layers.waveform_ops import db_to_amplitude
from keras_music.layers.waveform_ops import random_uniform


@keras.saving.register_keras_serializable(package="keras_music")
class RandomGain(WaveformAugmentation):
    """Scales waveforms by a random gain in decibels.

    Makes an encoder insensitive to the recording level. Each augmented
    example gets its own gain, drawn uniformly (in dB) from `gain_range`
    and applied as a factor `10 ** (gain / 20)`, so the RMS level changes
    by exactly that many decibels. Identity at inference.

    Args:
        gain_range: pair of floats. `(min, max)` gain in dB. Defaults to
            `(-20.0, -1.0)` (CLMR); the multi-format paper uses
            `(-6.0, 0.0)`.
        p: float. Probability that an example is scaled. Defaults to 0.3
            (CLMR).
        seed: int or None. Seed of the layer's random generator. Defaults
            to None.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Example:

    >>> layer = RandomGain(gain_range=(-6.0, -6.0), p=1.0, seed=0)
    >>> audio = keras.ops.ones((1, 4))
    >>> out = layer(audio, training=True)
    >>> round(float(out[0, 0]), 3)
    0.501

    Input shape:
        `(batch, samples)` or `(samples,)` float waveforms.

    Output shape:
        Same as the input.

    Reference:
        CLMR (Spijkervet & Burgoyne, ISMIR 2021), Sec. 3.1; multi-format
        contrastive learning (papers/multiformat-contrastive.txt), Sec. 3.
    """

    def __init__(self, gain_range=(-20.0, -1.0), p=0.3, seed=None, **kwargs):
        super().__init__(p=p, seed=seed, **kwargs)
        self.gain_range = check_range("gain_range", gain_range)

    def augment(self, audio):
        gain_db = random_uniform(
            tf.shape(audio)[0], self.gain_range, self.seed_generator
        )
        return audio * db_to_amplitude(gain_db)[:, tf.newaxis]

    def get_config(self):
        config = super().get_config()
        config.update({"gain_range": self.gain_range})
        return config
