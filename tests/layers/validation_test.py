import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers import validation
from tests.test_case import TestCase


class ValidationTest(TestCase):
    def test_argument_checks_accept_valid_values(self):
        self.assertEqual(validation.check_positive_int("n", np.int64(3)), 3)
        self.assertEqual(validation.check_non_negative_int("n", 0), 0)
        self.assertEqual(validation.check_non_negative_int("n", np.int32(2)), 2)
        self.assertEqual(validation.check_positive("x", 0.5), 0.5)
        self.assertEqual(validation.check_probability("p", 1), 1.0)
        self.assertEqual(validation.check_range("r", (1, 2), 0, 3), (1, 2))

    def test_argument_checks_reject_invalid_values(self):
        with pytest.raises(ValueError, match=r"Received: n=True"):
            validation.check_positive_int("n", True)
        with pytest.raises(ValueError, match=r"Received: n=0"):
            validation.check_positive_int("n", 0)
        with pytest.raises(ValueError, match=r"non-negative.*n=-1"):
            validation.check_non_negative_int("n", -1)
        with pytest.raises(ValueError, match=r"non-negative.*n=False"):
            validation.check_non_negative_int("n", False)
        with pytest.raises(ValueError, match=r"non-negative.*n=1.0"):
            validation.check_non_negative_int("n", 1.0)
        with pytest.raises(ValueError, match=r"Received: x=nan"):
            validation.check_positive("x", float("nan"))
        with pytest.raises(ValueError, match=r"Received: x='1'"):
            validation.check_positive("x", "1")
        with pytest.raises(ValueError, match=r"Received: p=1.5"):
            validation.check_probability("p", 1.5)
        with pytest.raises(ValueError, match="must be a pair"):
            validation.check_range("r", 3)
        with pytest.raises(ValueError, match=r"min <= max"):
            validation.check_range("r", (2, 1))

    def test_check_audio_static_and_eager(self):
        with pytest.raises(ValueError, match="rank 1 or 2"):
            validation.check_audio(np.zeros((1, 1, 4)), "audio")
        with pytest.raises(ValueError, match="at least 8 samples"):
            validation.check_audio(tf.zeros((1, 4)), "audio", min_length=8)
        with pytest.raises(ValueError, match="NaN"):
            validation.check_audio(tf.constant([0.0, np.nan]), "audio")
        ok = tf.constant([[0.0, 1.0]])
        self.assertAllEqual(validation.check_audio(ok, "audio"), ok)
        # Values are not checked when asked not to (TFLite graphs).
        bad = tf.constant([[np.inf, 0.0]])
        self.assertAllEqual(
            validation.check_audio(bad, "audio", check_values=False), bad
        )

    def test_check_audio_in_graph(self):
        fn = tf.function(
            lambda x: validation.check_audio(x, "audio", min_length=4),
            input_signature=[tf.TensorSpec((None, None), tf.float32)],
        )
        with pytest.raises(tf.errors.InvalidArgumentError, match="at least"):
            fn(tf.zeros((1, 2)))
        with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
            fn(tf.constant([[0.0, np.nan, 0.0, 0.0]]))


def test_check_positive_int_tuple():
    from keras_music.layers.validation import check_positive_int_tuple

    assert check_positive_int_tuple("depths", [2, np.int64(6)]) == (2, 6)
    for bad in ([], [2, 0], [2, True], 3, [2.0], None):
        with pytest.raises(ValueError, match="`depths` must be a non-empty"):
            check_positive_int_tuple("depths", bad)
