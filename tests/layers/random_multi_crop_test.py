import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.random_multi_crop import RandomMultiCrop
from tests.test_case import TestCase


class RandomMultiCropTest(TestCase):
    def test_layer_checks(self):
        self.run_layer_test(
            RandomMultiCrop,
            {"num_crops": 2, "output_length": 8, "mode": "pad", "seed": 3},
            np.random.rand(2, 4, 20).astype("float32"),
            expected_output_shape=((2, 4, 8), (2, 4, 8)),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
            # The harness compares the reloaded model's outputs (a list)
            # with the original's (a tuple) by structure; checked below.
            run_saving_check=False,
        )

    def test_model_saving(self):
        x = np.random.rand(2, 4, 20).astype("float32")
        inputs = keras.Input((4, 20))
        model = keras.Model(inputs, RandomMultiCrop(output_length=8)(inputs))
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        revived = keras.saving.load_model(path)
        self.assertAllClose(list(revived(x)), list(model(x)))

    def test_inference_returns_whole_input(self):
        x = np.random.rand(3, 4, 20).astype("float32")
        v1, v2 = RandomMultiCrop()(x)
        self.assertAllEqual(v1, x)
        self.assertAllEqual(v2, x)

    def test_pad_mode_crops_are_input_slices(self):
        frames = 100
        x = np.random.rand(300, 3, frames).astype("float32") + 1.0
        views = RandomMultiCrop(mode="pad", pad_value=-1.0, seed=4)(
            x, training=True
        )
        lengths = []
        for view in views:
            view = np.asarray(view)
            for b in range(len(x)):
                length = int((view[b, 0] != -1.0).sum())
                lengths.append(length)
                # The crop is a contiguous slice of the input, then pad.
                starts = [
                    s
                    for s in range(frames - length + 1)
                    if np.array_equal(
                        view[b, :, :length], x[b, :, s : s + length]
                    )
                ]
                self.assertEqual(len(starts), 1)
                np.testing.assert_array_equal(view[b, :, length:], -1.0)
        lengths = np.array(lengths)
        # r ~ U[0.1, 0.9] of T = 100 frames: lengths 10..90, mean 50
        # (sd of the mean over 600 crops: 23 / sqrt(600) ~ 0.95; 4 sd).
        self.assertGreaterEqual(lengths.min(), 10)
        self.assertLessEqual(lengths.max(), 90)
        self.assertLess(abs(lengths.mean() - 50.0), 3.8)

    def test_resize_mode_matches_np_interp(self):
        frames, out_len = 50, 32
        ramp = np.broadcast_to(
            np.arange(frames, dtype="float32"), (64, 2, frames)
        )
        noise = np.random.rand(64, 2, frames).astype("float32")
        x = np.stack([ramp, noise], axis=-1)
        views = RandomMultiCrop(output_length=out_len, seed=1)(x, training=True)
        self.assertFalse(np.array_equal(np.asarray(views[0]), views[1]))
        for view in views:
            view = np.asarray(view)
            positions = view[:, 0, :, 0]
            self.assertTrue(np.all(np.diff(positions, axis=1) >= -1e-5))
            span = positions[:, -1] - positions[:, 0]
            # Crops of 5..45 frames resampled: the span read stays inside.
            self.assertLessEqual(span.max(), 45.0)
            self.assertGreater(span.min(), 0.0)
            for b in range(8):
                # Content is np.interp of the input at the read positions
                # (float32 linear interpolation: 1e-5).
                np.testing.assert_allclose(
                    view[b, 1, :, 1],
                    np.interp(positions[b], np.arange(frames), x[b, 1, :, 1]),
                    atol=1e-5,
                )

    def test_seeded_any_length_and_dataset(self):
        x = np.random.rand(4, 3, 30).astype("float32")
        a = RandomMultiCrop(seed=5)(x, training=True)
        b = RandomMultiCrop(seed=5)(x, training=True)
        self.assertAllEqual(a, b)
        layer = RandomMultiCrop(output_length=16, seed=0)
        fn = tf.function(
            lambda s: layer(s, training=True),
            input_signature=[tf.TensorSpec((None, 3, None))],
        )
        for frames in (1, 9, 70):
            views = fn(np.random.rand(2, 3, frames).astype("float32"))
            self.assertEqual([tuple(v.shape) for v in views], [(2, 3, 16)] * 2)
        ds = tf.data.Dataset.from_tensor_slices(x).batch(2)
        ds = ds.map(lambda s: layer(s, training=True))
        for views in ds:
            self.assertEqual([tuple(v.shape) for v in views], [(2, 3, 16)] * 2)

    def test_invalid(self):
        with pytest.raises(ValueError, match="`num_crops` must be a positive"):
            RandomMultiCrop(num_crops=0)
        with pytest.raises(ValueError, match="`ratio_range` must satisfy"):
            RandomMultiCrop(ratio_range=(0.9, 0.1))
        with pytest.raises(ValueError, match=r"`ratio_range` must be within"):
            RandomMultiCrop(ratio_range=(0.0, 0.5))
        with pytest.raises(ValueError, match="`output_length` must be a pos"):
            RandomMultiCrop(output_length=-3)
        with pytest.raises(ValueError, match="`mode` must be one of"):
            RandomMultiCrop(mode="tile")
        with pytest.raises(ValueError, match="must have rank 3 or 4"):
            RandomMultiCrop()(np.zeros((2, 40), "float32"), training=True)
