import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.random_crop import RandomCrop
from tests.test_case import TestCase


def _ramp(batch, samples):
    return np.tile(np.arange(samples, dtype="float32"), (batch, 1))


class RandomCropTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            RandomCrop,
            init_kwargs={"length": 16, "seed": 1},
            input_data=np.random.randn(2, 40).astype("float32"),
            expected_output_shape=(2, 16),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
            run_export_check=True,
        )

    def test_centre_crop_at_inference(self):
        out = RandomCrop(length=4)(_ramp(2, 11))
        # Offset (11 - 4) // 2 = 3.
        self.assertAllEqual(out, np.tile([3.0, 4.0, 5.0, 6.0], (2, 1)))

    def test_random_crops_are_contiguous_per_example(self):
        audio = _ramp(256, 100)
        out = np.asarray(RandomCrop(length=10, seed=0)(audio, training=True))
        offsets = out[:, 0]
        self.assertAllEqual(out, offsets[:, None] + np.arange(10))
        self.assertGreaterEqual(offsets.min(), 0)
        self.assertLessEqual(offsets.max(), 90)
        # 256 draws over 91 offsets: both ends of the range are reached
        # with overwhelming probability and many distinct offsets occur.
        self.assertGreater(len(np.unique(offsets)), 50)

    def test_seeded(self):
        audio = _ramp(8, 100)
        a = RandomCrop(length=10, seed=5)(audio, training=True)
        b = RandomCrop(length=10, seed=5)(audio, training=True)
        self.assertAllEqual(a, b)

    def test_pads_short_audio(self):
        audio = _ramp(2, 3) + 1.0
        for training in (True, False):
            out = RandomCrop(length=5, seed=0)(audio, training=training)
            self.assertAllEqual(out, np.tile([1.0, 2.0, 3.0, 0.0, 0.0], (2, 1)))

    def test_unbatched(self):
        out = RandomCrop(length=3)(np.arange(7, dtype="float32"))
        self.assertAllEqual(out, np.array([2.0, 3.0, 4.0], "float32"))

    def test_in_tf_data(self):
        layer = RandomCrop(length=10, seed=0)
        ds = tf.data.Dataset.from_tensor_slices(_ramp(6, 50)).batch(3)
        ds = ds.map(lambda x: layer(x, training=True))
        out = np.concatenate([b.numpy() for b in ds])
        self.assertEqual(out.shape, (6, 10))
        self.assertAllEqual(out, out[:, :1] + np.arange(10))

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`length` must be a positive"):
            RandomCrop(length=0)
        with pytest.raises(ValueError, match="`seed` must be an integer"):
            RandomCrop(length=4, seed=1.5)

    def test_invalid_audio(self):
        with pytest.raises(ValueError, match="must have rank 1 or 2"):
            RandomCrop(length=4)(np.zeros((1, 2, 8), "float32"))
        with pytest.raises(ValueError, match="at least 1 samples"):
            RandomCrop(length=4)(np.zeros((1, 0), "float32"))
