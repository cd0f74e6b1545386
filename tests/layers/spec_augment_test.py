import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.spec_augment import SpecAugment
from tests.test_case import TestCase


def runs(mask):
    """Lengths of the maximal runs of True in each row of `mask`."""
    edges = np.diff(np.pad(mask.astype(int), ((0, 0), (1, 1))), axis=1)
    return np.where(edges == -1)[1] - np.where(edges == 1)[1]


def simulate_masked(rng, n, length, max_masks, width):
    counts = np.empty(n)
    for i in range(n):
        mask = np.zeros(length, bool)
        for _ in range(rng.integers(0, max_masks + 1)):
            start = rng.integers(0, length - width + 1)
            mask[start : start + width] = True
        counts[i] = mask.sum()
    return counts


class SpecAugmentTest(TestCase):
    def test_layer_checks(self):
        self.run_layer_test(
            SpecAugment,
            {"max_time_masks": 2, "max_freq_masks": 1, "seed": 3},
            np.random.rand(2, 16, 30).astype("float32"),
            expected_output_shape=(2, 16, 30),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_identity_at_inference(self):
        x = np.random.rand(2, 16, 30).astype("float32")
        self.assertAllEqual(SpecAugment()(x), x)

    def test_maest_groups(self):
        n, bins, frames = 1000, 96, 312
        x = np.ones((n, bins, frames), "float32")
        out = np.asarray(SpecAugment(seed=1)(x, training=True))
        cols = np.all(out == 0.0, axis=1)  # masked frames
        rows = np.all(out == 0.0, axis=2)  # masked bands
        # Every other zero lies in a masked row or column.
        zeros = out == 0.0
        np.testing.assert_array_equal(
            zeros, cols[:, None, :] | rows[:, :, None]
        )
        # Unions of groups of exactly 8: runs >= 8, totals <= 20*8, 5*8.
        self.assertGreaterEqual(runs(cols).min(), 8)
        self.assertGreaterEqual(runs(rows).min(), 8)
        self.assertLessEqual(cols.sum(axis=1).max(), 160)
        self.assertLessEqual(rows.sum(axis=1).max(), 40)
        # Means vs an independent NumPy simulation: 4 standard errors.
        rng = np.random.default_rng(0)
        for masked, length, max_masks in (
            (cols.sum(axis=1), frames, 20),
            (rows.sum(axis=1), bins, 5),
        ):
            ref = simulate_masked(rng, 3000, length, max_masks, 8)
            se = np.sqrt(masked.var() / n + ref.var() / len(ref))
            self.assertLess(abs(masked.mean() - ref.mean()), 4 * se)

    def test_seeded_channels_and_dataset(self):
        x = np.ones((6, 16, 40, 2), "float32")
        a = np.asarray(SpecAugment(seed=5)(x, training=True))
        self.assertAllEqual(SpecAugment(seed=5)(x, training=True), a)
        np.testing.assert_array_equal(a[..., 0], a[..., 1])
        self.assertGreater(len({m.tobytes() for m in a[..., 0]}), 1)
        layer = SpecAugment(p=0.0, seed=0)
        ds = tf.data.Dataset.from_tensor_slices(x).batch(3)
        ds = ds.map(lambda s: layer(s, training=True))
        for batch in ds:
            np.testing.assert_array_equal(batch.numpy(), 1.0)

    def test_invalid(self):
        with pytest.raises(ValueError, match="`max_time_masks` must be a non"):
            SpecAugment(max_time_masks=-1)
        with pytest.raises(ValueError, match="`freq_mask_width` must be a po"):
            SpecAugment(freq_mask_width=0)
        with pytest.raises(ValueError, match="`p` must be a probability"):
            SpecAugment(p=3.0)
        with pytest.raises(ValueError, match="must have rank 3 or 4"):
            SpecAugment()(np.zeros((2, 40), "float32"), training=True)
