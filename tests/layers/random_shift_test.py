import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.random_shift import RandomShift
from tests.test_case import TestCase


def shift_reference(x, axis, steps, fill):
    """NumPy shift of one (freq, frames) example, filling what enters."""
    out = np.full_like(x, fill)
    n = x.shape[axis]
    src = slice(max(-steps, 0), n - max(steps, 0))
    dst = slice(max(steps, 0), n - max(-steps, 0))
    if axis == 0:
        out[dst] = x[src]
    else:
        out[:, dst] = x[:, src]
    return out


def find_shift(x, out, fill):
    """The (axis, steps) pairs whose NumPy shift gives `out`."""
    found = []
    for axis in (0, 1):
        for steps in [s for s in range(-10, 11) if s != 0]:
            if np.array_equal(shift_reference(x, axis, steps, fill), out):
                found.append((axis, steps))
    return found


class RandomShiftTest(TestCase):
    def test_layer_checks(self):
        self.run_layer_test(
            RandomShift,
            {"p": 1.0, "shift_range": (1, 3), "fill_value": -1.0, "seed": 3},
            np.random.rand(2, 12, 14).astype("float32"),
            expected_output_shape=(2, 12, 14),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_identity_at_inference_and_p_zero(self):
        x = np.random.rand(4, 6, 50).astype("float32")
        self.assertAllEqual(RandomShift(p=1.0)(x), x)
        self.assertAllEqual(RandomShift(p=0.0)(x, training=True), x)

    def test_matches_numpy_shift(self):
        x = np.random.rand(200, 24, 30).astype("float32")
        out = np.asarray(
            RandomShift(p=1.0, fill_value=-1.0, seed=9)(x, training=True)
        )
        axes = []
        for b in range(len(x)):
            found = find_shift(x[b], out[b], -1.0)
            # Exactly one pitch or time shift of 1..10 steps explains it.
            self.assertEqual(len(found), 1, f"example {b}: {found}")
            axes.append(found[0][0])
            self.assertTrue(1 <= abs(found[0][1]) <= 10)
        # Axis drawn with equal odds: Binomial(200, 0.5), sd 0.035, 4 sd.
        self.assertLess(abs(np.mean(axes) - 0.5), 0.14)

    def test_frequency_only_with_channels(self):
        x = np.random.rand(50, 20, 16, 2).astype("float32")
        layer = RandomShift(p=1.0, axis="frequency", seed=1)
        out = np.asarray(layer(x, training=True))
        for b in range(50):
            found = find_shift(x[b, ..., 0], out[b, ..., 0], 0.0)
            self.assertEqual(len(found), 1)
            self.assertEqual(found[0][0], 0)
            np.testing.assert_array_equal(
                out[b, ..., 1],
                shift_reference(x[b, ..., 1], 0, found[0][1], 0.0),
            )

    def test_probability_seed_and_dataset(self):
        x = np.random.rand(1000, 12, 12).astype("float32")
        out = np.asarray(RandomShift(p=0.4, seed=2)(x, training=True))
        shifted = np.any(out != x, axis=(1, 2)).mean()
        # Binomial(1000, 0.4): sd 0.0155, 4 sd.
        self.assertLess(abs(shifted - 0.4), 0.062)
        self.assertAllEqual(RandomShift(p=0.4, seed=2)(x, training=True), out)
        layer = RandomShift(p=1.0, seed=0)
        ds = tf.data.Dataset.from_tensor_slices(x[:8]).batch(4)
        ds = ds.map(lambda s: layer(s, training=True))
        for batch in ds:
            self.assertEqual(tuple(batch.shape), (4, 12, 12))

    def test_invalid(self):
        with pytest.raises(ValueError, match="`p` must be a probability"):
            RandomShift(p=1.2)
        with pytest.raises(ValueError, match="`shift_range` must satisfy"):
            RandomShift(shift_range=(10, 1))
        with pytest.raises(ValueError, match="`axis` must be one of"):
            RandomShift(axis="pitch")
        with pytest.raises(ValueError, match="must have rank 3 or 4"):
            RandomShift()(np.zeros((2, 40), "float32"), training=True)
