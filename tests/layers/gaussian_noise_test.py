import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.gaussian_noise import GaussianNoise
from tests.test_case import TestCase


class GaussianNoiseTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            GaussianNoise,
            init_kwargs={"snr_range": (10.0, 20.0), "p": 0.5, "seed": 2},
            input_data=np.random.randn(2, 64).astype("float32"),
            expected_output_shape=(2, 64),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_measured_snr(self):
        samples = 16000
        t = np.arange(samples) / 16000.0
        audio = np.stack(
            [0.3 * np.sin(2 * np.pi * f * t) for f in (220, 440, 1000, 3000)]
        ).astype("float32")
        for snr in (0.0, 10.0, 30.0):
            out = GaussianNoise(snr_range=(snr, snr), p=1.0, seed=1)(
                audio, training=True
            )
            noise = np.asarray(out, "float64") - audio
            measured = 10 * np.log10(
                np.mean(audio.astype("float64") ** 2, -1)
                / np.mean(noise**2, -1)
            )
            # The mean of N squared Gaussians has relative std sqrt(2 / N),
            # i.e. 10 / ln(10) * sqrt(2 / 16000) = 0.049 dB; allow 4 sigma.
            sigma_db = 10 / np.log(10) * np.sqrt(2 / samples)
            np.testing.assert_allclose(measured, snr, atol=4 * sigma_db)

    def test_silence_stays_silent(self):
        audio = np.zeros((2, 100), "float32")
        out = GaussianNoise(p=1.0)(audio, training=True)
        self.assertAllEqual(out, audio)

    def test_seeded_per_example_and_inference(self):
        audio = np.ones((8, 100), "float32")
        a = GaussianNoise(p=1.0, seed=4)(audio, training=True)
        b = GaussianNoise(p=1.0, seed=4)(audio, training=True)
        self.assertAllEqual(a, b)
        a = np.asarray(a)
        self.assertFalse(np.array_equal(a[0], a[1]))
        self.assertAllEqual(GaussianNoise(p=1.0)(audio), audio)

    def test_fires_with_probability(self):
        p, n, fired = 0.3, 0, 0
        for seed in range(5):
            audio = np.ones((400, 8), "float32")
            out = GaussianNoise(p=p, seed=seed)(audio, training=True)
            fired += int(np.sum(np.any(np.asarray(out) != 1.0, axis=-1)))
            n += 400
        # Binomial sampling error: within 4 standard deviations.
        self.assertLess(abs(fired / n - p), 4 * np.sqrt(p * (1 - p) / n))

    def test_unbatched_and_tf_data(self):
        audio = np.ones((4, 10), "float32")
        layer = GaussianNoise(snr_range=(20.0, 20.0), p=1.0, seed=0)
        self.assertEqual(layer(audio[0], training=True).shape, (10,))
        ds = tf.data.Dataset.from_tensor_slices(audio).batch(2)
        out = np.concatenate(
            [b.numpy() for b in ds.map(lambda x: layer(x, training=True))]
        )
        self.assertEqual(out.shape, (4, 10))
        self.assertFalse(np.array_equal(out, audio))

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`snr_range` must satisfy"):
            GaussianNoise(snr_range=(30.0, 10.0))
        with pytest.raises(ValueError, match="`p` must be a probability"):
            GaussianNoise(p=2)

    def test_invalid_audio(self):
        with pytest.raises(ValueError, match="must have rank 1 or 2"):
            GaussianNoise()(np.zeros((1, 2, 8), "float32"), training=True)
        with pytest.raises(ValueError, match="NaN or infinite"):
            GaussianNoise()(np.full((1, 8), np.nan, "float32"), training=True)
