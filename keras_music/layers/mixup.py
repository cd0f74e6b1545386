import keras
from keras import ops

from keras_music.layers.spectrogram_ops import bernoulli
from keras_music.layers.spectrogram_ops import dim
from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_probability


def _per_example(values, rank):
    """`(batch,)` values shaped to broadcast over a rank-`rank` tensor."""
    return ops.reshape(values, (-1,) + (1,) * (rank - 1))


@keras.saving.register_keras_serializable(package="keras_music")
class Mixup(keras.layers.Layer):
    """Mixes each example and its targets with another example of the batch.

    mixup as used to train MAEST: the batch is paired with a random
    permutation of itself, and each example `i` with partner `j` becomes

    `x_i' = lam_i * x_i + (1 - lam_i) * x_j`,
    `y_i' = lam_i * y_i + (1 - lam_i) * y_j`,

    with `lam_i = max(l, 1 - l)`, `l ~ Beta(alpha, alpha)`, so that
    `lam_i >= 0.5` and the example keeps most of its own content. Inputs
    and multi-hot targets are mixed with the same `lam_i`. With
    probability `1 - p` an example keeps `lam_i = 1`. At inference the
    layer is the identity. The inputs may have any shape with a leading
    batch axis (spectrograms or waveforms).

    Args:
        alpha: float. Concentration of the Beta distribution. Defaults to
            `0.3`.
        p: float. Probability that an example is mixed. Defaults to
            `1.0`.
        seed: int or `None`. Seed of the layer's random generator.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:
    >>> x = np.random.rand(4, 96, 100).astype("float32")
    >>> y = np.eye(4, 10, dtype="float32")
    >>> x_mixed, y_mixed = Mixup(seed=0)((x, y), training=True)
    >>> y_mixed.shape
    TensorShape([4, 10])

    Input shape:
        A tuple `(x, y)`: `x` of shape `(batch, ...)`, `y` of shape
        `(batch, num_classes)`.

    Output shape:
        A tuple `(x, y)` of the same shapes.

    Reference:
        - [Zhang et al., "mixup: Beyond empirical risk minimization",
          ICLR 2018](https://arxiv.org/abs/1710.09412)
        - [Alonso-Jiménez et al., "Efficient supervised training of audio
          transformers for music representation learning", ISMIR 2023,
          §4 (training)](https://arxiv.org/abs/2309.16418)
    """

    def __init__(self, alpha=0.3, p=1.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(check_positive("alpha", alpha))
        self.p = check_probability("p", p)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _split(self, inputs):
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
            raise ValueError(
                "Mixup expects a tuple (x, y) of inputs and targets. "
                f"Received: inputs={inputs!r}"
            )
        x, y = inputs
        if len(x.shape) < 2 or len(y.shape) < 2:
            raise ValueError(
                "Mixup expects `x` and `y` with a batch axis and at least "
                f"one more axis. Received: x.shape={tuple(x.shape)}, "
                f"y.shape={tuple(y.shape)}"
            )
        if (
            x.shape[0] is not None
            and y.shape[0] is not None
            and x.shape[0] != y.shape[0]
        ):
            raise ValueError(
                "Mixup expects `x` and `y` with the same batch size. "
                f"Received: x.shape={tuple(x.shape)}, "
                f"y.shape={tuple(y.shape)}"
            )
        return ops.cast(x, "float32"), ops.cast(y, "float32")

    def call(self, inputs, training=None):
        x, y = self._split(inputs)
        if training:
            x, y = self._mix(x, y)
        return ops.cast(x, self.compute_dtype), ops.cast(y, self.compute_dtype)

    def _mix(self, x, y):
        batch = dim(x, 0)
        beta = keras.random.beta(
            (batch,), self.alpha, self.alpha, seed=self.seed_generator
        )
        lam = ops.maximum(beta, 1.0 - beta)
        lam = ops.where(bernoulli(batch, self.p, self.seed_generator), lam, 1.0)
        partner = keras.random.shuffle(
            ops.arange(batch, dtype="int32"), seed=self.seed_generator
        )
        mixed = []
        for tensor in (x, y):
            weight = _per_example(lam, len(tensor.shape))
            other = ops.take(tensor, partner, axis=0)
            mixed.append(weight * tensor + (1.0 - weight) * other)
        return tuple(mixed)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0]), tuple(input_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update({"alpha": self.alpha, "p": self.p, "seed": self.seed})
        return config
