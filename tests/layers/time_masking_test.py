import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.time_masking import TimeMasking
from tests.test_case import TestCase


def simulate_masked_frames(rng, n, frames):
    """NumPy Monte-Carlo of S3T time masking: masked frames per example."""
    counts = np.empty(n)
    limit = int(np.floor(0.4 * frames))
    for i in range(n):
        mask = np.zeros(frames, bool)
        total = 0
        for _ in range(rng.integers(1, 11)):
            width = int(np.round(frames * rng.uniform(0.01, 0.2)))
            total += width
            if total > limit:
                break
            start = rng.integers(0, frames - width + 1)
            mask[start : start + width] = True
        counts[i] = mask.sum()
    return counts


class TimeMaskingTest(TestCase):
    def test_layer_checks(self):
        self.run_layer_test(
            TimeMasking,
            {"p": 1.0, "mask_value": -1.0, "seed": 3},
            np.random.rand(2, 4, 50).astype("float32"),
            expected_output_shape=(2, 4, 50),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_identity_at_inference(self):
        x = np.random.rand(4, 6, 50).astype("float32")
        self.assertAllEqual(TimeMasking(p=1.0)(x), x)

    def test_mask_statistics(self):
        frames, n = 200, 2000
        x = np.ones((n, 3, frames), "float32")
        out = np.asarray(TimeMasking(p=1.0, seed=7)(x, training=True))
        cols = out[:, 0, :] == 0.0
        np.testing.assert_array_equal(np.all(out == 0.0, axis=1), cols)
        masked = cols.sum(axis=1)
        # The total never exceeds 0.4 * T; the first segment always fits
        # (r <= 0.2), so every example has >= round(0.01 * T) frames.
        self.assertLessEqual(masked.max(), int(0.4 * frames))
        self.assertGreaterEqual(masked.min(), 2)
        edges = np.diff(np.pad(cols.astype(int), ((0, 0), (1, 1))), axis=1)
        runs = (edges == 1).sum(axis=1)
        self.assertGreaterEqual(runs.min(), 1)
        self.assertLessEqual(runs.max(), 10)
        # Mean masked fraction vs an independent NumPy simulation;
        # tolerance: 4 standard errors of the two Monte-Carlo means.
        ref = simulate_masked_frames(np.random.default_rng(0), 4000, frames)
        se = np.sqrt(masked.var() / n + ref.var() / len(ref))
        self.assertLess(abs(masked.mean() - ref.mean()), 4 * se)
        self.assertTrue(0.01 < masked.mean() / frames < 0.4)

    def test_total_limit_over_many_seeds(self):
        x = np.ones((64, 1, 37), "float32")
        for seed in range(20):
            layer = TimeMasking(p=1.0, max_total_ratio=0.3, seed=seed)
            out = np.asarray(layer(x, training=True))
            self.assertLessEqual((out[:, 0] == 0.0).sum(axis=1).max(), 11)

    def test_probability(self):
        x = np.ones((2000, 2, 100), "float32")
        out = np.asarray(TimeMasking(p=0.5, seed=1)(x, training=True))
        touched = np.any(out == 0.0, axis=(1, 2)).mean()
        # Binomial(2000, 0.5): sd 0.011; 4 sd.
        self.assertLess(abs(touched - 0.5), 0.045)

    def test_seeded_and_per_example(self):
        x = np.random.rand(8, 5, 100).astype("float32")
        a = TimeMasking(p=1.0, seed=11)(x, training=True)
        b = TimeMasking(p=1.0, seed=11)(x, training=True)
        self.assertAllEqual(a, b)
        masks = np.asarray(a)[:, 0, :] == 0.0
        self.assertGreater(len({m.tobytes() for m in masks}), 1)

    def test_channels_and_any_length(self):
        layer = TimeMasking(p=1.0, seed=0)
        fn = tf.function(
            lambda s: layer(s, training=True),
            input_signature=[tf.TensorSpec((None, 4, None, 2))],
        )
        for frames in (1, 7, 120):
            out = fn(np.ones((3, 4, frames, 2), "float32")).numpy()
            np.testing.assert_array_equal(out[..., 1], out[..., 0])
            masked = (out[:, 0, :, 0] == 0.0).sum(axis=1)
            self.assertLessEqual(masked.max(), int(0.4 * frames))

    def test_in_dataset_map(self):
        layer = TimeMasking(p=1.0, seed=4)
        ds = tf.data.Dataset.from_tensor_slices(np.ones((8, 4, 50), "float32"))
        ds = ds.batch(4).map(lambda s: layer(s, training=True))
        for batch in ds:
            self.assertTrue(np.all(np.any(batch.numpy() == 0.0, axis=(1, 2))))

    def test_invalid(self):
        with pytest.raises(ValueError, match="`p` must be a probability"):
            TimeMasking(p=-0.1)
        with pytest.raises(ValueError, match="`num_masks_range` must sat"):
            TimeMasking(num_masks_range=(3, 2))
        with pytest.raises(ValueError, match="`mask_ratio_range` must sat"):
            TimeMasking(mask_ratio_range=(0.2, 0.01))
        with pytest.raises(ValueError, match="`max_total_ratio` must be a p"):
            TimeMasking(max_total_ratio=1.5)
        with pytest.raises(ValueError, match="must have rank 3 or 4"):
            TimeMasking()(np.zeros((2, 40), "float32"), training=True)
