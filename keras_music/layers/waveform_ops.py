"""Private helpers shared by the waveform augmentation layers.

`WaveformAugmentation` adds to the random augmentations' base
(`random_augmentation.RandomAugmentation`: `p`, `seed`, the identity at
inference) what every random waveform augmentation does the same way:
input checks, the per-example coin flip that decides which examples of a
batch change, and the cast to the compute dtype. A subclass only
writes `augment(audio)`, which transforms every example of a float32
`(batch, samples)` batch and draws its random parameters for the examples
it is given: only the examples whose coin fires are passed to it (any
number, zero included), except under XLA, where the whole batch is.
"""

import bisect

import keras
import tensorflow as tf
from tensorflow.python.ops import control_flow_util

from keras_music.layers.random_augmentation import RandomAugmentation
from keras_music.layers.random_augmentation import check_seed  # noqa: F401
from keras_music.layers.validation import check_audio


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


# FFT lengths m * 2 ** a with a small odd part m, ascending. TensorFlow's
# CPU FFT of 32 x 81098 points (2 * 23 * 41 * 43) costs about 3 times one
# of 81920 (5 * 2 ** 14); 2 * 3 ** 10 costs 1.5 times 15 * 2 ** 13.
_FAST_FFT_LENGTHS = sorted(
    m * 2**a for m in (1, 3, 5, 15) for a in range(31) if m * 2**a < 2**31
)


def fast_fft_length(length):
    """The smallest fast FFT length at least `length` (an int or a scalar
    int32 tensor); zero-padding a signal to it is free, and a linear
    convolution can use any length from the one it needs."""
    if isinstance(length, int):
        return _FAST_FFT_LENGTHS[bisect.bisect_left(_FAST_FFT_LENGTHS, length)]
    lengths = tf.constant(_FAST_FFT_LENGTHS, "int32")
    index = tf.searchsorted(lengths, tf.reshape(length, [1]), side="left")
    return tf.gather(lengths, index[0])


def static_length(audio):
    """The number of samples of `(batch, samples)` audio: a Python int
    where it is static, so that FFT lengths are constants."""
    samples = audio.shape[-1]
    return samples if samples is not None else tf.shape(audio)[-1]


def db_to_amplitude(db):
    return tf.pow(10.0, db / 20.0)


class WaveformAugmentation(RandomAugmentation):
    """Base of the random waveform augmentations (not exported).

    Args:
        p: float. Probability that an example is augmented. Each example
            of a batch flips its own coin; the coins are drawn before the
            transform's parameters, which are drawn only for the examples
            that fire (for the whole batch under XLA, or with `p=1`, where
            no coin is drawn), so layers that differ only in `p` draw
            different parameters.
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

    def to_batch(self, inputs):
        return prepare_audio(inputs, f"{self.name} input")

    def from_batch(self, audio, unbatched):
        return finish_audio(audio, unbatched, self.compute_dtype)

    def augment_batch(self, audio):
        if self.p >= 1.0:
            return self.augment(audio)
        if self.p > 0.0:
            return self._augment_some(audio)
        return audio

    def _augment_some(self, audio):
        # The coin is drawn first so that only the examples that fire are
        # augmented: the transforms cost up to hundreds of ms per batch
        # and CLMR fires most stages on 30% to 80% of the examples.
        fire = self.fires(tf.shape(audio)[0])
        if control_flow_util.GraphOrParentsInXlaContext(
            tf.compat.v1.get_default_graph()
        ):
            # XLA needs static shapes, and the number of examples that
            # fire is not: under XLA the whole batch is augmented.
            return tf.where(fire[:, tf.newaxis], self.augment(audio), audio)
        indices = tf.where(fire)
        count = tf.shape(indices)[0]
        # Some transforms (the FFTs) refuse an empty batch, so when no
        # example fires the first one is augmented and thrown away. (A
        # `tf.cond` would skip it, but Keras cannot trace the seed
        # generator's update inside a branch when it builds a model.)
        some = tf.concat([indices, tf.zeros((1, 1), "int64")], axis=0)
        some = some[: tf.maximum(count, 1)]
        augmented = self.augment(tf.gather_nd(audio, some))[:count]
        return tf.tensor_scatter_nd_update(audio, indices, augmented)
