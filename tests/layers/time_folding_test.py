import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.time_folding import TimeFolding
from tests.test_case import TestCase


def fold_reference(x, n, remainder="crop", pad_value=0.0):
    """Index-level NumPy reference: out[b, k*F + f, t] = x[b, f, k*T' + t]."""
    batch, freq, frames = x.shape
    folded = frames // n if remainder == "crop" else -(-frames // n)
    padded = np.full((batch, freq, folded * n), pad_value, dtype=x.dtype)
    used = min(frames, folded * n)
    padded[:, :, :used] = x[:, :, :used]
    out = np.empty((batch, n * freq, folded), dtype=x.dtype)
    for k in range(n):
        for f in range(freq):
            for t in range(folded):
                out[:, k * freq + f, t] = padded[:, f, k * folded + t]
    return out


class TimeFoldingTest(TestCase):
    def test_layer_checks(self):
        self.run_layer_test(
            TimeFolding,
            {"n": 2, "remainder": "pad", "target_size": (8, 6)},
            np.random.rand(2, 4, 11).astype("float32"),
            expected_output_shape=(2, 8, 6),
            expected_num_trainable_weights=0,
            run_export_check=True,
        )

    def test_matches_index_reference_crop(self):
        x = np.random.rand(2, 5, 11).astype("float32")
        out = TimeFolding(n=3)(x)
        # Pure data movement: exact equality.
        self.assertAllEqual(out, fold_reference(x, 3))
        self.assertEqual(tuple(out.shape), (2, 15, 3))

    def test_matches_index_reference_pad(self):
        x = np.random.rand(2, 5, 11).astype("float32")
        out = TimeFolding(n=3, remainder="pad", pad_value=-1.0)(x)
        self.assertAllEqual(out, fold_reference(x, 3, "pad", -1.0))
        self.assertEqual(tuple(out.shape), (2, 15, 4))

    def test_inverse_reshape_is_identity(self):
        x = np.random.rand(3, 7, 12).astype("float32")
        out = np.asarray(TimeFolding(n=4)(x))
        chunks = out.reshape(3, 4, 7, 3)  # (batch, chunk, freq, frames')
        restored = np.concatenate(list(chunks.transpose(1, 0, 2, 3)), axis=-1)
        np.testing.assert_array_equal(restored, x)

    def test_channels_axis_folded_per_channel(self):
        x = np.random.rand(2, 4, 9, 3).astype("float32")
        out = np.asarray(TimeFolding(n=3)(x))
        self.assertEqual(out.shape, (2, 12, 3, 3))
        for c in range(3):
            np.testing.assert_array_equal(
                out[..., c], fold_reference(x[..., c], 3)
            )

    def test_s3t_swin_input_size(self):
        # 84 bins x 780 frames -> fold 3 -> 252 x 260 -> pad/crop 256 x 256.
        x = np.random.rand(1, 84, 780).astype("float32")
        out = np.asarray(TimeFolding(n=3, target_size=(256, 256))(x))
        self.assertEqual(out.shape, (1, 256, 256))
        folded = fold_reference(x, 3)
        self.assertEqual(folded.shape, (1, 252, 260))
        np.testing.assert_array_equal(out[:, :252], folded[:, :, :256])
        np.testing.assert_array_equal(out[:, 252:], 0.0)

    def test_any_length_in_graph(self):
        layer = TimeFolding(n=3, remainder="pad")
        fn = tf.function(
            layer, input_signature=[tf.TensorSpec((None, 4, None))]
        )
        for frames in (3, 10, 17):
            x = np.random.rand(2, 4, frames).astype("float32")
            self.assertAllEqual(fn(x), fold_reference(x, 3, "pad"))

    def test_in_dataset_map(self):
        x = np.random.rand(4, 4, 12).astype("float32")
        layer = TimeFolding(n=2)
        ds = tf.data.Dataset.from_tensor_slices(x).batch(2).map(layer)
        out = np.concatenate([b.numpy() for b in ds])
        np.testing.assert_array_equal(out, fold_reference(x, 2))

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`n` must be a positive"):
            TimeFolding(n=0)
        with pytest.raises(ValueError, match="`remainder` must be one of"):
            TimeFolding(remainder="wrap")
        with pytest.raises(ValueError, match="`target_size` must be a pair"):
            TimeFolding(target_size=(256,))
        with pytest.raises(ValueError, match="`target_size` must be a pos"):
            TimeFolding(target_size=(256, -1))

    def test_invalid_inputs(self):
        with pytest.raises(ValueError, match="must have rank 3 or 4"):
            TimeFolding()(np.zeros((4, 10), "float32"))
        with pytest.raises(ValueError, match="at least n=3 frames"):
            TimeFolding(n=3)(np.zeros((1, 4, 2), "float32"))
