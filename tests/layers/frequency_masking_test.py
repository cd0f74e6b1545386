import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.frequency_masking import FrequencyMasking
from tests.test_case import TestCase


def simulate_masked_bins(rng, n, bins, num_range, width_range):
    """NumPy Monte-Carlo of the paper's process: masked bins per example."""
    counts = np.empty(n)
    for i in range(n):
        mask = np.zeros(bins, bool)
        for _ in range(rng.integers(num_range[0], num_range[1] + 1)):
            width = min(rng.integers(width_range[0], width_range[1] + 1), bins)
            start = rng.integers(0, bins - width + 1)
            mask[start : start + width] = True
        counts[i] = mask.sum()
    return counts


class FrequencyMaskingTest(TestCase):
    def test_layer_checks(self):
        self.run_layer_test(
            FrequencyMasking,
            {"p": 1.0, "mask_value": -1.0, "max_total_bins": 20, "seed": 3},
            np.random.rand(2, 40, 6).astype("float32"),
            expected_output_shape=(2, 40, 6),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_identity_at_inference(self):
        x = np.random.rand(4, 40, 6).astype("float32")
        self.assertAllEqual(FrequencyMasking(p=1.0)(x), x)
        self.assertAllEqual(FrequencyMasking(p=1.0)(x, training=False), x)

    def test_mask_statistics(self):
        bins, n = 84, 2000
        x = np.ones((n, bins, 3), "float32")
        out = np.asarray(FrequencyMasking(p=1.0, seed=7)(x, training=True))
        rows = out[:, :, 0] == 0.0
        # A masked bin is masked in every frame.
        np.testing.assert_array_equal(np.all(out == 0.0, axis=2), rows)
        masked = rows.sum(axis=1)
        # At least one band of >= 5 bins, at most 5 bands of <= 30 bins.
        self.assertGreaterEqual(masked.min(), 5)
        self.assertLessEqual(masked.max(), 5 * 30)
        # Every maximal run is >= 5 bins (union of bands >= 5), and there
        # are at most 5 runs.
        edges = np.diff(np.pad(rows.astype(int), ((0, 0), (1, 1))), axis=1)
        self.assertLessEqual((edges == 1).sum(axis=1).max(), 5)
        run_lengths = np.where(edges == -1)[1] - np.where(edges == 1)[1]
        self.assertGreaterEqual(run_lengths.min(), 5)
        # Mean masked fraction vs an independent NumPy simulation of the
        # same distributions; tolerance: 4 standard errors of the two
        # Monte-Carlo means (sd ~20 bins, n=2000 and 4000 -> se ~0.55).
        ref = simulate_masked_bins(
            np.random.default_rng(0), 4000, bins, (1, 5), (5, 30)
        )
        se = np.sqrt(masked.var() / n + ref.var() / len(ref))
        self.assertLess(abs(masked.mean() - ref.mean()), 4 * se)

    def test_probability(self):
        n = 2000
        x = np.ones((n, 40, 2), "float32")
        out = np.asarray(FrequencyMasking(p=0.5, seed=1)(x, training=True))
        touched = np.any(out == 0.0, axis=(1, 2)).mean()
        # Binomial(2000, 0.5): sd 0.011; 4 sd.
        self.assertLess(abs(touched - 0.5), 0.045)

    def test_max_total_bins(self):
        x = np.ones((500, 84, 1), "float32")
        layer = FrequencyMasking(p=1.0, max_total_bins=25, seed=2)
        out = np.asarray(layer(x, training=True))
        masked = (out[:, :, 0] == 0.0).sum(axis=1)
        self.assertLessEqual(masked.max(), 25)

    def test_seeded_and_per_example(self):
        x = np.random.rand(8, 60, 5).astype("float32")
        a = FrequencyMasking(p=1.0, seed=11)(x, training=True)
        b = FrequencyMasking(p=1.0, seed=11)(x, training=True)
        c = FrequencyMasking(p=1.0, seed=12)(x, training=True)
        self.assertAllEqual(a, b)
        self.assertFalse(np.array_equal(np.asarray(a), np.asarray(c)))
        masks = np.asarray(a)[:, :, 0] == 0.0
        self.assertGreater(len({m.tobytes() for m in masks}), 1)

    def test_channels_share_mask(self):
        x = np.ones((6, 40, 5, 3), "float32")
        out = np.asarray(FrequencyMasking(p=1.0, seed=0)(x, training=True))
        for c in (1, 2):
            np.testing.assert_array_equal(out[..., c], out[..., 0])

    def test_in_dataset_map(self):
        x = np.ones((8, 40, 5), "float32")
        layer = FrequencyMasking(p=1.0, seed=4)
        ds = tf.data.Dataset.from_tensor_slices(x).batch(4)
        ds = ds.map(lambda s: layer(s, training=True))
        for batch in ds:
            self.assertEqual(tuple(batch.shape), (4, 40, 5))
            self.assertTrue(np.all(np.any(batch.numpy() == 0.0, axis=(1, 2))))

    def test_invalid(self):
        with pytest.raises(ValueError, match="`p` must be a probability"):
            FrequencyMasking(p=1.5)
        with pytest.raises(ValueError, match="`num_masks_range` must sat"):
            FrequencyMasking(num_masks_range=(5, 1))
        with pytest.raises(ValueError, match="`mask_width_range` must be a p"):
            FrequencyMasking(mask_width_range=(2.5, 4))
        with pytest.raises(ValueError, match="`max_total_bins` must be a po"):
            FrequencyMasking(max_total_bins=0)
        with pytest.raises(ValueError, match="must have rank 3 or 4"):
            FrequencyMasking()(np.zeros((2, 40), "float32"), training=True)
