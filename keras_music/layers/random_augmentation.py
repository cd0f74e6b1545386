"""Bases of the random augmentation layers (private).

Like Keras' preprocessing layers, which share a base that owns batching,
dtypes and the `training` switch and leaves the transform to each layer,
the random augmentations here share `RandomAugmentation`: it holds the
checks of `p` and `seed`, the layer's `keras.random.SeedGenerator`, the
identity at inference, the output shape (that of the input) and the
`p` / `seed` entries of the config. A layer states its input layout
(`to_batch` / `from_batch`) and writes `augment`, which transforms a whole
float32 batch and draws its own random numbers, in its own order, from
`self.seed_generator`: the base draws nothing, so a layer's random stream
is the one its `augment` asks for.

`SpectrogramAugmentation` is the base of the spectrogram layers; the
waveform layers' base is `waveform_ops.WaveformAugmentation`.
"""

import keras

from keras_music.layers.spectrogram_ops import bernoulli
from keras_music.layers.spectrogram_ops import from_4d
from keras_music.layers.spectrogram_ops import to_4d
from keras_music.layers.validation import check_probability


def check_seed(seed):
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int)
    ):
        raise ValueError(
            f"`seed` must be an integer or None. Received: seed={seed!r}"
        )
    return seed


class RandomAugmentation(keras.layers.Layer):
    """Base of the random augmentation layers (not exported).

    Args:
        p: float. Probability that an example is augmented; each example
            of a batch draws its own coin (`fires`).
        seed: int or None. Seed of the layer's `keras.random.SeedGenerator`;
            two layers built with the same seed give the same outputs for
            the same inputs and the same sequence of calls.
        **kwargs: Base layer arguments (`name`, `dtype`).

    A subclass writes `to_batch(inputs)` (the input as a float32 batch and
    what `from_batch` needs to give the caller its layout back),
    `from_batch(x, restore)` and `augment(x)`; `augment_batch` is where a
    subclass decides which examples reach `augment` (all by default).

    Example:

    A layer on `(batch, features)` that negates the examples whose coin
    fires:

    >>> class Negate(RandomAugmentation):
    ...     def to_batch(self, inputs):
    ...         return keras.ops.cast(inputs, "float32"), None
    ...     def from_batch(self, x, restore):
    ...         return keras.ops.cast(x, self.compute_dtype)
    ...     def augment(self, x):
    ...         sign = keras.ops.where(self.fires(keras.ops.shape(x)[0]), -1, 1)
    ...         return x * keras.ops.cast(sign, x.dtype)[:, None]
    >>> x = np.ones((2, 3), "float32")
    >>> keras.ops.convert_to_numpy(Negate(p=1.0, seed=0)(x, training=True))
    array([[-1., -1., -1.],
           [-1., -1., -1.]], dtype=float32)
    >>> keras.ops.convert_to_numpy(Negate(p=1.0, seed=0)(x))  # inference
    array([[1., 1., 1.],
           [1., 1., 1.]], dtype=float32)
    """

    def __init__(self, p, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.p = check_probability("p", p)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        x, restore = self.to_batch(inputs)
        if training:
            x = self.augment_batch(x)
        return self.from_batch(x, restore)

    def to_batch(self, inputs):
        raise NotImplementedError

    def from_batch(self, x, restore):
        raise NotImplementedError

    def augment(self, x):
        raise NotImplementedError

    def augment_batch(self, x):
        return self.augment(x)

    def fires(self, batch_size):
        """`(batch,)` coins, each True with probability `p`."""
        return bernoulli(batch_size, self.p, self.seed_generator)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"p": self.p, "seed": self.seed})
        return config


class SpectrogramAugmentation(RandomAugmentation):
    """Base of the random spectrogram augmentations (not exported).

    `augment` gets float32 `(batch, freq, frames, channels)`; rank-3
    inputs `(batch, freq, frames)` get their channel axis for it and lose
    it after, and the result is cast to the compute dtype.

    Args:
        p: float. Probability that an example is augmented.
        seed: int or None. Seed of the layer's random generator.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Example:

    A subclass writes only `augment`; here, zeroing the examples whose
    coin fires:

    >>> class Drop(SpectrogramAugmentation):
    ...     def augment(self, x):
    ...         keep = ~self.fires(keras.ops.shape(x)[0])
    ...         return x * keras.ops.cast(keep, x.dtype)[:, None, None, None]
    >>> spec = np.ones((2, 3, 4), "float32")
    >>> Drop(p=1.0, seed=0)(spec, training=True).shape
    TensorShape([2, 3, 4])
    >>> float(keras.ops.sum(Drop(p=1.0, seed=0)(spec, training=True)))
    0.0
    >>> float(keras.ops.sum(Drop(p=1.0, seed=0)(spec)))  # inference
    24.0
    """

    def to_batch(self, inputs):
        return to_4d(inputs, f"{type(self).__name__} input")

    def from_batch(self, x, restore):
        return from_4d(x, restore, self.compute_dtype)
