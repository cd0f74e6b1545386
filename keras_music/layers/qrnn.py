import keras
import tensorflow as tf
from keras import ops

from keras_music.layers import validation


def fo_pooling(forget, candidate):
    """The cell states `c_t = f_t c_{t-1} + (1 - f_t) z_t`, `c_0 = 0`.

    `forget` and `candidate` are `(batch, time, units)`. Each step is the
    affine map `c -> a c + b` with `a = f`, `b = (1 - f) z`; affine maps
    compose associatively (`(a1, b1)` then `(a2, b2)` is `(a1 a2, a2 b1 +
    b2)`), so the prefix compositions come from a parallel scan in
    `O(log time)` sequential steps, and with `c_0 = 0` the state `c_t` is
    the `b` of the `t`-th prefix.

    The scan is a doubling scan: `ceil(log2(time))` steps, each composing
    every prefix with the one `2^k` steps before it. With a static time
    length the steps are unrolled at trace time into static slices, which
    XLA compiles (`keras.ops.associative_scan`'s TensorFlow implementation
    does not under XLA for some lengths, and unrolls nested conditionals);
    a graph with an unknown length (a SavedModel taking any length) runs
    the same steps in a `tf.while_loop`.
    """
    a, b = forget, (1.0 - forget) * candidate
    length = forget.shape[1]
    if length is None:
        return _doubling_scan(a, b)
    shift = 1
    while shift < length:
        a, b = _compose_shifted(a, b, shift)
        shift *= 2
    return b


def _compose_shifted(a, b, shift):
    """Composes each prefix `(a, b)` with the one `shift` steps before it;
    the identity map (a = 1, b = 0) stands before the first step."""
    a_earlier = tf.concat([tf.ones_like(a[:, :shift]), a[:, :-shift]], 1)
    b_earlier = tf.concat([tf.zeros_like(b[:, :shift]), b[:, :-shift]], 1)
    return a_earlier * a, a * b_earlier + b


def _doubling_scan(a, b):
    """`c_t` of the affine steps `(a_t, b_t)`, `(batch, time, units)`."""
    length = tf.shape(a)[1]

    def body(shift, a, b):
        return (shift * 2, *_compose_shifted(a, b, shift))

    _, _, cells = tf.while_loop(
        lambda shift, a, b: shift < length,
        body,
        (tf.constant(1), a, b),
        shape_invariants=(tf.TensorShape([]), a.shape, b.shape),
    )
    return cells


@keras.saving.register_keras_serializable(package="keras_music")
class QRNN(keras.layers.Layer):
    """Quasi-recurrent layer with fo-pooling.

    A causal convolution of width `window_size` over the input gives, at
    every step, a candidate `z = tanh(.)`, a forget gate `f = sigmoid(.)`
    and an output gate `o = sigmoid(.)`; the only recurrence is the
    element-wise `c_t = f_t c_{t-1} + (1 - f_t) z_t` (from `c_0 = 0`), and
    the output is `h_t = o_t c_t`. The recurrence is linear in `c`, so it
    runs as a parallel doubling scan of `ceil(log2(time))` steps, not as a
    loop over time steps (see `fo_pooling`). PASE+ puts one such layer
    (512 units, window 2) after its convolutional stack. There is no
    initial or returned state: every sequence starts from `c_0 = 0`.

    Gates are computed in float32 and the output is cast to the layer's
    compute dtype.

    Args:
        units: int. Width of the state and the output.
        window_size: int. Width of the causal convolution (the current
            and the `window_size - 1` previous steps). Defaults to 2.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:

    >>> x = np.random.normal(size=(2, 100, 64)).astype("float32")
    >>> QRNN(units=32)(x).shape
    TensorShape([2, 100, 32])

    Input shape:
        `(batch, time, features)`.

    Output shape:
        `(batch, time, units)`: the whole sequence `h_1 … h_T`.

    Reference:
        - [Bradbury et al., Quasi-Recurrent Neural Networks, ICLR 2017](
          https://arxiv.org/abs/1611.01576), section 2 (fo-pooling); in
          PASE+: [Ravanelli et al., Multi-task self-supervised learning
          for Robust Speech Recognition, ICASSP 2020](
          https://arxiv.org/abs/2001.09239), section 2.1.
    """

    def __init__(
        self,
        units,
        window_size=2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.check_positive_int("units", units)
        validation.check_positive_int("window_size", window_size)
        self.units = units
        self.window_size = window_size

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                "QRNN input must have a known feature size. "
                f"Received: shape={tuple(input_shape)}"
            )
        # z, f and o side by side, as one convolution.
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.window_size, input_shape[-1], 3 * self.units),
            initializer="glorot_uniform",
            autocast=False,
        )
        self.bias = self.add_weight(
            name="bias",
            shape=(3 * self.units,),
            initializer="zeros",
            autocast=False,
        )

    def call(self, inputs):
        validation.check_rank(inputs, (3,), "QRNN input")
        x = ops.cast(inputs, "float32")
        # Causal: step t sees steps t - window_size + 1 .. t only.
        x = ops.pad(x, ((0, 0), (self.window_size - 1, 0), (0, 0)))
        gates = ops.conv(x, self.kernel, padding="valid") + self.bias
        z, f, o = ops.split(gates, 3, axis=-1)
        cells = fo_pooling(ops.sigmoid(f), ops.tanh(z))
        return ops.cast(ops.sigmoid(o) * cells, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "window_size": self.window_size,
            }
        )
        return config
