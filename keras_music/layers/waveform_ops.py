"""Private helpers shared by the waveform augmentation layers.

`WaveformAugmentation` holds what every random waveform augmentation does
the same way: argument checks for `p` and `seed`, input checks, the
per-example coin flip that decides which examples of a batch change, the
identity at inference and the cast to the compute dtype. A subclass only
writes `augment(audio)`, which transforms every example of a float32
`(batch, samples)` batch.
"""

import keras
import tensorflow as tf

from keras_music.layers.validation import check_audio
from keras_music.layers.validation import check_probability


def check_seed(seed):
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int)
    ):
        raise ValueError(
            f"`seed` must be an integer or None. Received: seed={seed!r}"
        )
    return seed


def prepare_audio(inputs, name, min_length=1):
    """Checks audio and returns it as float32 `(batch, samples)`.

    Returns the batch and whether the input was a single `(samples,)`
    signal, so that `finish_audio` can give the caller its own rank back.
    """
    audio = check_audio(inputs, name, min_length=min_length)
    audio = tf.cast(audio, "float32")
    unbatched = len(audio.shape) == 1
    if unbatched:
        audio = audio[tf.newaxis]
    return audio, unbatched


def finish_audio(audio, unbatched, dtype):
    if unbatched:
        audio = audio[0]
    return tf.cast(audio, dtype)


def random_uniform(batch_size, value_range, seed_generator):
    """One value per example, uniform in `value_range = (min, max)`."""
    low, high = value_range
    return keras.random.uniform(
        (batch_size,), minval=low, maxval=high, seed=seed_generator
    )


def db_to_amplitude(db):
    return tf.pow(10.0, db / 20.0)


class WaveformAugmentation(keras.layers.Layer):
    """Base of the random waveform augmentations (not exported).

    Args:
        p: float. Probability that an example is augmented. Each example
            of a batch flips its own coin.
        seed: int or None. Seed of the layer's `keras.random.SeedGenerator`;
            two layers built with the same seed give the same outputs for
            the same inputs and the same sequence of calls.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Example:

    A subclass writes only `augment`; here, halving the amplitude:

    >>> class Halve(WaveformAugmentation):
    ...     def augment(self, audio):
    ...         return audio * 0.5
    >>> layer = Halve(p=1.0, seed=0)
    >>> audio = np.ones((2, 3), "float32")
    >>> keras.ops.convert_to_numpy(layer(audio, training=True))
    array([[0.5, 0.5, 0.5],
           [0.5, 0.5, 0.5]], dtype=float32)
    >>> keras.ops.convert_to_numpy(layer(audio))  # inference: identity
    array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float32)

    Input shape:
        `(batch, samples)` or `(samples,)` float waveforms.

    Output shape:
        Same as the input.
    """

    def __init__(self, p, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.p = check_probability("p", p)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        audio, unbatched = prepare_audio(inputs, f"{self.name} input")
        if training and self.p > 0.0:
            batch_size = tf.shape(audio)[0]
            augmented = self.augment(audio)
            # The coin is drawn after the parameters so that a layer with
            # p=1 draws the same parameters as one with p<1.
            fire = (
                keras.random.uniform((batch_size,), seed=self.seed_generator)
                < self.p
            )
            audio = tf.where(fire[:, tf.newaxis], augmented, audio)
        return finish_audio(audio, unbatched, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"p": self.p, "seed": self.seed})
        return config
