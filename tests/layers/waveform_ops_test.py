import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.waveform_ops import WaveformAugmentation
from keras_music.layers.waveform_ops import fast_fft_length
from keras_music.layers.waveform_ops import static_length
from tests.test_case import TestCase


class AddCount(WaveformAugmentation):
    """Adds the number of examples `augment` was given, so that a test
    can read which examples were transformed and in how large a batch."""

    def augment(self, audio):
        return audio + tf.cast(tf.shape(audio)[0], "float32")


def _reference_fast_length(n):
    # Brute force from the definition: the smallest m * 2 ** a >= n.
    return min(
        m * 2**a for m in (1, 3, 5, 15) for a in range(40) if m * 2**a >= n
    )


class FastFftLengthTest(TestCase):
    def test_static_lengths(self):
        for n in [1, 2, 7, 81098, 81920, 81921, 118098, 122880, 10**6 + 1]:
            self.assertEqual(fast_fft_length(n), _reference_fast_length(n))
        # CLMR's reverb (59049 + 22050 - 1) and filter (2 * 59049).
        self.assertEqual(fast_fft_length(81098), 5 * 2**14)
        self.assertEqual(fast_fft_length(118098), 15 * 2**13)

    def test_dynamic_lengths_match_static(self):
        lengths = [1, 3, 81098, 81920, 118098, 999999]
        fn = tf.function(
            fast_fft_length,
            input_signature=[tf.TensorSpec([], "int32")],
        )
        for n in lengths:
            self.assertEqual(int(fn(tf.constant(n))), fast_fft_length(n))

    def test_static_length(self):
        self.assertEqual(static_length(tf.zeros((2, 5))), 5)
        fn = tf.function(
            static_length, input_signature=[tf.TensorSpec([2, None])]
        )
        self.assertEqual(int(fn(tf.zeros((2, 7)))), 7)


class WaveformAugmentationTest(TestCase):
    def test_only_fired_examples_are_augmented(self):
        audio = np.zeros((64, 3), "float32")
        out = np.asarray(AddCount(p=0.5, seed=1)(audio, training=True))
        fired = out[:, 0] != 0.0
        count = int(np.sum(fired))
        # 64 fair coins: some fire and some do not for this seed.
        self.assertTrue(0 < count < 64)
        # `augment` saw exactly the fired examples, and the others are
        # left as they were.
        np.testing.assert_array_equal(out[fired], float(count))
        np.testing.assert_array_equal(out[~fired], 0.0)

    def test_p_one_augments_the_whole_batch(self):
        out = AddCount(p=1.0, seed=0)(
            np.zeros((5, 2), "float32"), training=True
        )
        np.testing.assert_array_equal(out, 5.0)

    def test_no_example_fires(self):
        audio = np.random.randn(4, 8).astype("float32")
        layer = AddCount(p=1e-9, seed=0)
        self.assertAllEqual(layer(audio, training=True), audio)
        fn = tf.function(lambda x: layer(x, training=True))
        self.assertAllEqual(fn(audio), audio)

    def test_seeded(self):
        audio = np.zeros((32, 4), "float32")
        a = AddCount(p=0.5, seed=3)(audio, training=True)
        b = AddCount(p=0.5, seed=3)(audio, training=True)
        self.assertAllEqual(a, b)

    def test_dynamic_batch_in_tf_function_and_tf_data(self):
        layer = AddCount(p=0.5, seed=4)
        fn = tf.function(
            lambda x: layer(x, training=True),
            input_signature=[tf.TensorSpec([None, 3])],
        )
        out = np.asarray(fn(np.zeros((40, 3), "float32")))
        fired = out[:, 0] != 0.0
        np.testing.assert_array_equal(out[fired], float(np.sum(fired)))
        ds = tf.data.Dataset.from_tensor_slices(np.zeros((20, 3), "float32"))
        for batch in ds.batch(8).map(lambda x: layer(x, training=True)):
            batch = batch.numpy()
            fired = batch[:, 0] != 0.0
            np.testing.assert_array_equal(batch[fired], float(np.sum(fired)))

    def test_xla_augments_the_whole_batch_and_keeps_the_coins(self):
        layer = AddCount(p=0.5, seed=5)
        fn = tf.function(lambda x: layer(x, training=True), jit_compile=True)
        out = np.asarray(fn(np.zeros((64, 3), "float32")))
        fired = out[:, 0] != 0.0
        self.assertTrue(0 < np.sum(fired) < 64)
        # Under XLA `augment` sees the whole batch (static shapes).
        np.testing.assert_array_equal(out[fired], 64.0)
        np.testing.assert_array_equal(out[~fired], 0.0)

    def test_invalid_seed(self):
        with pytest.raises(ValueError, match="`seed` must be an integer"):
            AddCount(p=0.5, seed=1.5)
