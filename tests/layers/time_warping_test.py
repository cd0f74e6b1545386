import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.time_warping import TimeWarping
from tests.test_case import TestCase


def ramp_and_noise(batch, bins, frames, seed=0):
    """Channel 0 holds the frame index, so its warp shows where each
    output frame reads the input; channel 1 is random content."""
    ramp = np.broadcast_to(
        np.arange(frames, dtype="float32"), (batch, bins, frames)
    )
    noise = np.random.default_rng(seed).random((batch, bins, frames))
    return np.stack([ramp, noise.astype("float32")], axis=-1)


class TimeWarpingTest(TestCase):
    def test_layer_checks(self):
        self.run_layer_test(
            TimeWarping,
            {"p": 1.0, "max_warp": 4.0, "seed": 3},
            np.random.rand(2, 4, 30).astype("float32"),
            expected_output_shape=(2, 4, 30),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_identity_at_inference_and_p_zero(self):
        x = np.random.rand(4, 6, 50).astype("float32")
        self.assertAllEqual(TimeWarping(p=1.0)(x), x)
        self.assertAllEqual(TimeWarping(p=0.0)(x, training=True), x)

    def test_warp_is_piecewise_linear_and_matches_np_interp(self):
        frames = 60
        x = ramp_and_noise(64, 3, frames)
        out = np.asarray(TimeWarping(p=1.0, seed=5)(x, training=True))
        positions = out[:, 0, :, 0]
        # Ends fixed, order kept, nothing moves by more than W = 10.
        # Tolerance 1e-4: float32 arithmetic on frame indices < 60.
        np.testing.assert_allclose(positions[:, 0], 0.0, atol=1e-4)
        np.testing.assert_allclose(positions[:, -1], frames - 1, atol=1e-4)
        self.assertTrue(np.all(np.diff(positions, axis=1) > -1e-4))
        displacement = np.abs(positions - np.arange(frames)).max(axis=1)
        self.assertLessEqual(displacement.max(), 10.0 + 1e-4)
        self.assertGreater(displacement.mean(), 1.0)
        # Two linear pieces: the slope changes between at most 2 frames.
        kinks = np.abs(np.diff(positions, n=2, axis=1)) > 1e-3
        self.assertLessEqual(kinks.sum(axis=1).max(), 2)
        # Every bin and channel reads the same positions: content equals
        # np.interp of the input at those positions (float32 lerp: 1e-5).
        for b in range(4):
            for f in range(3):
                np.testing.assert_allclose(
                    np.asarray(out[b, f, :, 1]),
                    np.interp(positions[b], np.arange(frames), x[b, f, :, 1]),
                    atol=1e-5,
                )
                np.testing.assert_allclose(
                    out[b, f, :, 0], positions[b], atol=1e-5
                )

    def test_probability_seed_and_per_example(self):
        x = ramp_and_noise(1000, 1, 40)[..., :1]
        out = np.asarray(TimeWarping(p=0.4, seed=2)(x, training=True))
        warped = np.abs(out - x).max(axis=(1, 2, 3)) > 1e-3
        # Binomial(1000, 0.4): sd 0.0155, 4 sd (a draw of d ~ 0 looks
        # unwarped, with probability ~1e-4 at this threshold).
        self.assertLess(abs(warped.mean() - 0.4), 0.062)
        again = TimeWarping(p=0.4, seed=2)(x, training=True)
        self.assertAllEqual(again, out)
        self.assertGreater(len({o.tobytes() for o in out[warped]}), 100)

    def test_short_inputs_and_dataset(self):
        layer = TimeWarping(p=1.0, seed=0)
        fn = tf.function(
            lambda s: layer(s, training=True),
            input_signature=[tf.TensorSpec((None, 2, None))],
        )
        for frames in (1, 2, 5, 21):
            x = np.random.rand(3, 2, frames).astype("float32")
            out = fn(x).numpy()
            self.assertEqual(out.shape, x.shape)
            self.assertTrue(np.all(np.isfinite(out)))
        ds = tf.data.Dataset.from_tensor_slices(np.ones((4, 2, 30), "float32"))
        ds = ds.batch(2).map(lambda s: layer(s, training=True))
        for batch in ds:
            self.assertEqual(tuple(batch.shape), (2, 2, 30))

    def test_invalid(self):
        with pytest.raises(ValueError, match="`p` must be a probability"):
            TimeWarping(p=2.0)
        with pytest.raises(ValueError, match="`max_warp` must be a positive"):
            TimeWarping(max_warp=0)
        with pytest.raises(ValueError, match="must have rank 3 or 4"):
            TimeWarping()(np.zeros((2, 40), "float32"), training=True)
