import keras
import tensorflow as tf

from keras_music.layers.validation import check_positive_int
from keras_music.layers.waveform_ops import check_seed
from keras_music.layers.waveform_ops import finish_audio
from keras_music.layers.waveform_ops import prepare_audio


@keras.saving.register_keras_serializable(package="keras_music")
class RandomCrop(keras.layers.Layer):
    """Crops a fixed number of samples at a random offset.

    The first step of CLMR's augmentation chain: two crops of the same
    track at different offsets make a positive pair. During training each
    example of a batch is cropped at its own offset, drawn uniformly from
    all valid offsets; at inference the crop is centred, so the layer is
    deterministic. Audio shorter than `length` is zero-padded at the end
    to `length` samples (then the only valid offset is 0). This is a 1-D
    audio crop, unlike `keras.layers.RandomCrop` for images.

    Args:
        length: int. Number of samples to keep. Defaults to 59049 (CLMR:
            2.7 s at 22.05 kHz).
        seed: int or None. Seed of the layer's random generator. Defaults
            to None.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Example:

    >>> layer = RandomCrop(length=3, seed=0)
    >>> audio = keras.ops.reshape(keras.ops.arange(8.0), (1, 8))
    >>> keras.ops.convert_to_numpy(layer(audio))
    array([[2., 3., 4.]], dtype=float32)

    Input shape:
        `(batch, samples)` or `(samples,)` float waveforms.

    Output shape:
        `(batch, length)` or `(length,)`.

    Reference:
        CLMR (Spijkervet & Burgoyne, ISMIR 2021), Sec. 3.1.
    """

    def __init__(self, length=59049, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.length = check_positive_int("length", length)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        audio, unbatched = prepare_audio(inputs, f"{self.name} input")
        samples = tf.shape(audio)[-1]
        audio = tf.pad(
            audio, [[0, 0], [0, tf.maximum(self.length - samples, 0)]]
        )
        max_offset = tf.maximum(samples - self.length, 0)
        batch_size = tf.shape(audio)[0]
        if training:
            # floor(u * (max + 1)) is uniform over 0..max; the minimum
            # guards against u rounding up to 1 in float32.
            u = keras.random.uniform((batch_size,), seed=self.seed_generator)
            offsets = tf.minimum(
                tf.cast(u * tf.cast(max_offset + 1, "float32"), "int32"),
                max_offset,
            )
        else:
            offsets = tf.fill([batch_size], max_offset // 2)
        indices = offsets[:, tf.newaxis] + tf.range(self.length)
        cropped = tf.gather(audio, indices, batch_dims=1)
        return finish_audio(cropped, unbatched, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.length,)

    def get_config(self):
        config = super().get_config()
        config.update({"length": self.length, "seed": self.seed})
        return config
