import keras
import tensorflow as tf

from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_probability
from keras_music.layers.validation import check_range
from keras_music.layers.waveform_ops import WaveformAugmentation
from keras_music.layers.waveform_ops import random_uniform


@keras.saving.register_keras_serializable(package="keras_music")
class Delay(WaveformAugmentation):
    """Mixes waveforms with a delayed, attenuated copy of themselves (echo).

    Each augmented example gets its own delay, drawn uniformly from
    `delay_range` (milliseconds) and rounded to whole samples. As in
    CLMR, the output is `(x[t] + decay * x[t - lag]) / 2`, with zeros
    before the start of the signal; halving keeps the level of the mix
    close to the input's. Identity at inference.

    Args:
        sample_rate: int. Sample rate of the audio in Hz. Defaults to
            22050.
        delay_range: pair of floats. `(min, max)` delay in milliseconds.
            Defaults to `(200.0, 500.0)` (CLMR).
        decay: float. Gain of the delayed copy, in `[0, 1]`. Defaults to
            0.5 (CLMR's volume factor).
        p: float. Probability that an example gets an echo. Defaults to 0.3
            (CLMR).
        seed: int or None. Seed of the layer's random generator. Defaults
            to None.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Example:

    >>> layer = Delay(sample_rate=1000, delay_range=(2.0, 2.0), p=1.0)
    >>> audio = keras.ops.convert_to_tensor([[1.0, 0.0, 0.0, 0.0]])
    >>> keras.ops.convert_to_numpy(layer(audio, training=True))
    array([[0.5 , 0.  , 0.25, 0.  ]], dtype=float32)

    Input shape:
        `(batch, samples)` or `(samples,)` float waveforms.

    Output shape:
        Same as the input.

    Reference:
        CLMR (Spijkervet & Burgoyne, ISMIR 2021), Sec. 3.1.
    """

    def __init__(
        self,
        sample_rate=22050,
        delay_range=(200.0, 500.0),
        decay=0.5,
        p=0.3,
        seed=None,
        **kwargs,
    ):
        super().__init__(p=p, seed=seed, **kwargs)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.delay_range = check_range("delay_range", delay_range, low=0.0)
        self.decay = check_probability("decay", decay)

    def augment(self, audio):
        delay_ms = random_uniform(
            tf.shape(audio)[0], self.delay_range, self.seed_generator
        )
        lags = tf.cast(
            tf.round(delay_ms * (float(self.sample_rate) / 1000.0)), "int32"
        )
        source = tf.range(tf.shape(audio)[-1])[tf.newaxis, :] - lags[:, None]
        delayed = tf.gather(audio, tf.maximum(source, 0), batch_dims=1)
        delayed = tf.where(source >= 0, delayed, 0.0)
        return (audio + self.decay * delayed) / 2.0

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "delay_range": self.delay_range,
                "decay": self.decay,
            }
        )
        return config
