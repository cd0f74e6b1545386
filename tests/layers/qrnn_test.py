import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.qrnn import QRNN
from keras_music.layers.qrnn import fo_pooling
from tests.test_case import TestCase


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _numpy_qrnn(x, kernel, bias, units):
    """A plain sequential loop in float64, straight from the equations."""
    x = x.astype("float64")
    window = kernel.shape[0]
    padded = np.pad(x, ((0, 0), (window - 1, 0), (0, 0)))
    steps = x.shape[1]
    gates = bias + sum(
        np.einsum("btf,fo->bto", padded[:, i : i + steps], kernel[i])
        for i in range(window)
    )
    z = np.tanh(gates[..., :units])
    f = _sigmoid(gates[..., units : 2 * units])
    o = _sigmoid(gates[..., 2 * units :])
    c = np.zeros((x.shape[0], units))
    outputs = []
    for t in range(steps):
        c = f[:, t] * c + (1 - f[:, t]) * z[:, t]
        outputs.append(o[:, t] * c)
    return np.stack(outputs, axis=1)


class QRNNTest(TestCase):
    def test_layer_behaviour(self):
        self.run_layer_test(
            QRNN,
            init_kwargs={
                "units": 6,
                "window_size": 2,
            },
            input_data=np.random.normal(size=(2, 9, 4)).astype("float32"),
            expected_output_shape=(2, 9, 6),
            expected_num_trainable_weights=2,
            expected_num_non_trainable_weights=0,
            run_export_check=True,
        )

    def test_matches_sequential_loop(self):
        rng = np.random.default_rng(0)
        # Lengths around powers of two exercise the scan's odd/even split.
        for window, steps in ((2, 1), (2, 2), (2, 3), (2, 64), (3, 201)):
            layer = QRNN(units=5, window_size=window)
            x = rng.normal(size=(3, steps, 4)).astype("float32")
            layer.build(x.shape)
            # Non-zero biases so that the gates are not centred.
            layer.bias.assign(rng.normal(size=15).astype("float32"))
            actual = layer(x).numpy()
            expected = _numpy_qrnn(
                x, layer.kernel.numpy(), layer.bias.numpy(), 5
            )
            # float32 against a float64 loop: |h| < 1 and each step
            # rounds once, so errors stay at a few 1e-7.
            self.assertAllClose(actual, expected, atol=1e-5, rtol=0)

    def test_unknown_length_graph_matches_loop(self):
        # A graph traced without a time length uses the doubling scan.
        layer = QRNN(units=4)
        layer.build((None, None, 3))
        fn = tf.function(
            layer, input_signature=[tf.TensorSpec((None, None, 3))]
        )
        rng = np.random.default_rng(1)
        for steps in (1, 2, 5, 33):
            x = rng.normal(size=(2, steps, 3)).astype("float32")
            expected = _numpy_qrnn(
                x, layer.kernel.numpy(), layer.bias.numpy(), 4
            )
            # As in test_matches_sequential_loop.
            self.assertAllClose(fn(x), expected, atol=1e-5, rtol=0)

    def test_fo_pooling_long_sequence(self):
        rng = np.random.default_rng(2)
        f = rng.uniform(0, 1, (1, 2000, 3))
        z = rng.uniform(-1, 1, (1, 2000, 3))
        c = np.zeros((1, 3))
        expected = []
        for t in range(2000):
            c = f[:, t] * c + (1 - f[:, t]) * z[:, t]
            expected.append(c)
        actual = fo_pooling(
            tf.constant(f, "float32"), tf.constant(z, "float32")
        )
        # float32 over 2,000 steps: |c| <= 1, the scan's 11 levels round
        # a few times each.
        self.assertAllClose(actual, np.stack(expected, 1), atol=1e-5, rtol=0)

    def test_xla_train_step_on_odd_lengths(self):
        # `--jit_compile` in the PASE+ recipe: XLA compiles the scan for
        # any static length, odd ones included.
        for frames in (7, 13):
            model = keras.Sequential(
                [keras.Input((frames, 3)), QRNN(4), keras.layers.Dense(1)]
            )
            model.compile(optimizer="sgd", loss="mse", jit_compile=True)
            x = np.random.default_rng(0).normal(size=(2, frames, 3))
            loss = model.train_on_batch(x, np.zeros((2, frames, 1)))
            self.assertTrue(np.isfinite(loss))

    def test_causal(self):
        layer = QRNN(units=3)
        x = np.random.normal(size=(1, 10, 2)).astype("float32")
        changed = x.copy()
        changed[:, 6:] += 1.0
        self.assertAllEqual(layer(x)[:, :6], layer(changed)[:, :6])

    def test_errors(self):
        with pytest.raises(ValueError, match="units=0"):
            QRNN(units=0)
        with pytest.raises(ValueError, match="window_size=0"):
            QRNN(units=2, window_size=0)
        with pytest.raises(ValueError, match="rank 3"):
            QRNN(units=2)(np.zeros((2, 3), "float32"))
        with pytest.raises(ValueError, match="known feature size"):
            QRNN(units=2).build((None, None, None))
