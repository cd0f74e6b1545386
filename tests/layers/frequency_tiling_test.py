import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.frequency_tiling import FrequencyTiling
from tests.test_case import TestCase


def tile_reference(x, size, pad_value=0.0):
    """out[b, f, t] = x[b, f mod F, t] for f, t < size (time padded)."""
    batch, freq, frames = x.shape
    padded = np.full((batch, freq, max(size, frames)), pad_value, x.dtype)
    padded[:, :, :frames] = x
    out = np.empty((batch, size, size), dtype=x.dtype)
    for f in range(size):
        out[:, f, :] = padded[:, f % freq, :size]
    return out


class FrequencyTilingTest(TestCase):
    def test_layer_checks(self):
        self.run_layer_test(
            FrequencyTiling,
            {"size": 12, "pad_value": -1.0},
            np.random.rand(2, 5, 9).astype("float32"),
            expected_output_shape=(2, 12, 12),
            expected_num_trainable_weights=0,
            run_export_check=True,
        )

    def test_matches_np_tile_reference(self):
        x = np.random.rand(2, 84, 300).astype("float32")
        out = FrequencyTiling(size=256)(x)
        # ceil(256 / 84) = 4 copies stacked, then the top is cut.
        expected = np.tile(x, (1, 4, 1))[:, :256, :256]
        self.assertAllEqual(out, expected)
        self.assertAllEqual(out, tile_reference(x, 256))

    def test_short_input_is_padded_in_time(self):
        x = np.random.rand(2, 3, 5).astype("float32")
        out = FrequencyTiling(size=8, pad_value=-2.0)(x)
        self.assertAllEqual(out, tile_reference(x, 8, -2.0))

    def test_size_none_is_frames_square(self):
        x = np.random.rand(2, 4, 10, 2).astype("float32")
        out = np.asarray(FrequencyTiling(size=None)(x))
        self.assertEqual(out.shape, (2, 10, 10, 2))
        for c in range(2):
            np.testing.assert_array_equal(
                out[..., c], tile_reference(x[..., c], 10)
            )

    def test_any_length_in_graph(self):
        fn = tf.function(
            FrequencyTiling(size=16),
            input_signature=[tf.TensorSpec((None, 6, None))],
        )
        for frames in (4, 16, 40):
            x = np.random.rand(1, 6, frames).astype("float32")
            self.assertAllEqual(fn(x), tile_reference(x, 16))

    def test_invalid(self):
        with pytest.raises(ValueError, match="`size` must be a positive"):
            FrequencyTiling(size=0)
        with pytest.raises(ValueError, match="must have rank 3 or 4"):
            FrequencyTiling()(np.zeros((2, 3, 4, 5, 6), "float32"))
