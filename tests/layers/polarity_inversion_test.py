import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.polarity_inversion import PolarityInversion
from tests.test_case import TestCase


class PolarityInversionTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            PolarityInversion,
            init_kwargs={"p": 0.5, "seed": 3},
            input_data=np.random.randn(2, 64).astype("float32"),
            expected_output_shape=(2, 64),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_twice_is_identity(self):
        audio = np.random.randn(3, 50).astype("float32")
        layer = PolarityInversion(p=1.0, seed=0)
        once = layer(audio, training=True)
        # Negation is exact in floating point.
        self.assertAllEqual(once, -audio)
        self.assertAllEqual(layer(once, training=True), audio)

    def test_identity_at_inference(self):
        audio = np.random.randn(2, 30).astype("float32")
        layer = PolarityInversion(p=1.0, seed=0)
        self.assertAllEqual(layer(audio), audio)
        self.assertAllEqual(layer(audio, training=False), audio)

    def test_unbatched(self):
        audio = np.random.randn(40).astype("float32")
        out = PolarityInversion(p=1.0)(audio, training=True)
        self.assertAllEqual(out, -audio)

    def test_seed_and_per_example(self):
        audio = np.ones((64, 8), "float32")
        a = PolarityInversion(p=0.5, seed=7)(audio, training=True)
        b = PolarityInversion(p=0.5, seed=7)(audio, training=True)
        self.assertAllEqual(a, b)
        signs = np.asarray(a)[:, 0]
        self.assertTrue(np.any(signs > 0) and np.any(signs < 0))

    def test_fires_with_probability(self):
        p, n = 0.8, 0
        fired = 0
        for seed in range(5):
            out = PolarityInversion(p=p, seed=seed)(
                np.ones((400, 4), "float32"), training=True
            )
            fired += int(np.sum(np.asarray(out)[:, 0] < 0))
            n += 400
        sigma = np.sqrt(p * (1 - p) / n)
        # Binomial sampling error: within 4 standard deviations.
        self.assertLess(abs(fired / n - p), 4 * sigma)

    def test_in_tf_data(self):
        layer = PolarityInversion(p=1.0, seed=0)
        audio = np.random.randn(4, 20).astype("float32")
        ds = tf.data.Dataset.from_tensor_slices(audio).batch(2)
        ds = ds.map(lambda x: layer(x, training=True))
        out = np.concatenate([b.numpy() for b in ds])
        self.assertAllEqual(out, -audio)

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`p` must be a probability"):
            PolarityInversion(p=1.5)
        with pytest.raises(ValueError, match="`seed` must be an integer"):
            PolarityInversion(seed="a")

    def test_invalid_audio(self):
        layer = PolarityInversion()
        with pytest.raises(ValueError, match="must have rank 1 or 2"):
            layer(np.zeros((2, 3, 4), "float32"), training=True)
        with pytest.raises(ValueError, match="at least 1 samples"):
            layer(np.zeros((2, 0), "float32"), training=True)
