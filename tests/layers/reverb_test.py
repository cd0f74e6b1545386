import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.reverb import Reverb
from tests.test_case import TestCase

SR = 4000


class ReverbTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            Reverb,
            init_kwargs={
                "sample_rate": SR,
                "rt60_range": (0.01, 0.05),
                "p": 0.5,
                "seed": 2,
            },
            input_data=np.random.randn(2, 200).astype("float32"),
            expected_output_shape=(2, 200),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_causal_and_keeps_length(self):
        audio = np.zeros((8, 2000), "float32")
        audio[:, 500] = 1.0
        layer = Reverb(
            sample_rate=SR,
            rt60_range=(0.05, 0.1),
            wet_range=(0.5, 0.5),
            p=1.0,
            seed=1,
        )
        out = np.asarray(layer(audio, training=True), "float64")
        self.assertEqual(out.shape, audio.shape)
        # Nothing before the impulse; FFT round-off is ~1e-7.
        self.assertLess(np.max(np.abs(out[:, :500])), 1e-5)
        # The wet half is 0.5 x a unit-energy response that fits in the
        # 1500 samples after the impulse (at most 400 taps): energy 0.25,
        # up to float32 FFT round-off.
        wet = out - 0.5 * audio
        np.testing.assert_allclose(np.sum(wet**2, -1), 0.25, rtol=1e-4)

    def test_linear_convolution_with_its_response(self):
        # The response, read from an impulse: with wet = 1 the output is
        # the response itself. The same seed draws it again for the
        # noise batch, whose output must be NumPy's linear convolution
        # (the FFT length, 15 * 2 ** 7 = 1920, is longer than the 1799
        # points the convolution needs).
        kwargs = {
            "sample_rate": SR,
            "rt60_range": (0.1, 0.2),
            "wet_range": (1.0, 1.0),
            "p": 1.0,
            "seed": 7,
        }
        impulse = np.zeros((3, 1000), "float32")
        impulse[:, 0] = 1.0
        response = np.asarray(Reverb(**kwargs)(impulse, training=True))
        audio = np.random.RandomState(0).randn(3, 1000).astype("float32")
        out = np.asarray(Reverb(**kwargs)(audio, training=True))
        for x, h, y in zip(audio, response, out):
            expected = np.convolve(x, h[:800])[:1000]
            # float32 FFTs of unit-variance noise: round-off ~1e-6.
            np.testing.assert_allclose(y, expected, atol=1e-4)

    def test_decay_matches_rt60(self):
        audio = np.zeros((64, 8000), "float32")
        audio[:, 0] = 1.0
        rt60 = 0.5
        layer = Reverb(
            sample_rate=SR,
            rt60_range=(rt60, rt60),
            wet_range=(1.0, 1.0),
            p=1.0,
            seed=0,
        )
        tail = np.asarray(layer(audio, training=True), "float64")
        energy = np.mean(tail**2, axis=0)
        # Energy falls by 60 dB over rt60: compare the mean energy of two
        # 50 ms windows 0.25 s apart, expected 30 dB apart. 64 examples x
        # 200 samples of squared Gaussian noise: std ~0.4 dB; allow 1.5 dB.
        w = int(0.05 * SR)
        a = 10 * np.log10(np.mean(energy[400 : 400 + w]))
        b = 10 * np.log10(np.mean(energy[1400 : 1400 + w]))
        self.assertAlmostEqual(a - b, 60.0 * (1000 / SR) / rt60, delta=1.5)
        # Truncated at rt60: nothing after 0.5 s.
        self.assertLess(np.max(np.abs(tail[:, 2001:])), 1e-5)

    def test_seeded_and_inference(self):
        audio = np.random.randn(4, 300).astype("float32")
        kwargs = {"sample_rate": SR, "p": 1.0, "seed": 4}
        a = Reverb(**kwargs)(audio, training=True)
        b = Reverb(**kwargs)(audio, training=True)
        self.assertAllEqual(a, b)
        a = np.asarray(a)
        self.assertFalse(np.allclose(a[0] - audio[0], a[1] - audio[1]))
        self.assertAllEqual(Reverb(**kwargs)(audio), audio)

    def test_fires_with_probability(self):
        p, n, fired = 0.6, 0, 0
        audio = np.random.RandomState(0).randn(400, 64).astype("float32")
        for seed in range(5):
            out = Reverb(
                sample_rate=SR, rt60_range=(0.005, 0.01), p=p, seed=seed
            )(audio, training=True)
            diff = np.max(np.abs(np.asarray(out) - audio), axis=-1)
            fired += int(np.sum(diff > 1e-3))
            n += 400
        # Binomial sampling error: within 4 standard deviations.
        self.assertLess(abs(fired / n - p), 4 * np.sqrt(p * (1 - p) / n))

    def test_unbatched_and_tf_data(self):
        audio = np.random.randn(4, 100).astype("float32")
        layer = Reverb(sample_rate=SR, rt60_range=(0.01, 0.02), p=1.0)
        self.assertEqual(layer(audio[0], training=True).shape, (100,))
        ds = tf.data.Dataset.from_tensor_slices(audio).batch(2)
        out = np.concatenate(
            [b.numpy() for b in ds.map(lambda x: layer(x, training=True))]
        )
        self.assertEqual(out.shape, (4, 100))
        self.assertFalse(np.allclose(out, audio))

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`sample_rate` must be a posit"):
            Reverb(sample_rate=0)
        with pytest.raises(ValueError, match="`rt60_range` must satisfy"):
            Reverb(rt60_range=(1.0, 0.2))
        with pytest.raises(ValueError, match="positive times"):
            Reverb(rt60_range=(0.0, 0.2))
        with pytest.raises(ValueError, match="`wet_range` must satisfy"):
            Reverb(wet_range=(0.5, 1.5))
        with pytest.raises(ValueError, match="`p` must be a probability"):
            Reverb(p=1.2)

    def test_invalid_audio(self):
        with pytest.raises(ValueError, match="must have rank 1 or 2"):
            Reverb()(np.zeros((1, 2, 8), "float32"), training=True)
