import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.delay import Delay
from tests.test_case import TestCase


class DelayTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            Delay,
            init_kwargs={"sample_rate": 1000, "p": 0.5, "seed": 2},
            input_data=np.random.randn(2, 600).astype("float32"),
            expected_output_shape=(2, 600),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_echo_at_the_right_lag(self):
        sr = 8000
        audio = np.random.RandomState(0).randn(3, 8000).astype("float32")
        for ms in (200.0, 333.0, 500.0):
            out = Delay(sample_rate=sr, delay_range=(ms, ms), p=1.0)(
                audio, training=True
            )
            echo = 2 * np.asarray(out) - audio  # decay * delayed copy
            lag = round(ms * sr / 1000)
            for x, e in zip(audio, echo):
                xcorr = np.correlate(e, x, mode="full")[len(x) - 1 :]
                self.assertEqual(int(np.argmax(xcorr)), lag)
            # The echo is the delayed input times the decay; float32.
            expected = np.zeros_like(audio)
            expected[:, lag:] = 0.5 * audio[:, :-lag]
            self.assertAllClose(echo, expected, atol=1e-5)

    def test_lags_per_example_within_range(self):
        sr = 1000
        impulse = np.zeros((64, 1000), "float32")
        impulse[:, 0] = 1.0
        out = Delay(sample_rate=sr, p=1.0, seed=1)(impulse, training=True)
        lags = np.argmax(np.asarray(out)[:, 1:], axis=-1) + 1
        self.assertTrue(np.all((lags >= 200) & (lags <= 500)))
        self.assertGreater(len(np.unique(lags)), 20)

    def test_seeded_and_inference(self):
        audio = np.random.randn(4, 1000).astype("float32")
        a = Delay(sample_rate=1000, p=1.0, seed=4)(audio, training=True)
        b = Delay(sample_rate=1000, p=1.0, seed=4)(audio, training=True)
        self.assertAllEqual(a, b)
        self.assertAllEqual(Delay(p=1.0)(audio), audio)

    def test_fires_with_probability(self):
        p, n, fired = 0.3, 0, 0
        for seed in range(5):
            audio = np.ones((400, 8), "float32")
            out = Delay(
                sample_rate=1000, delay_range=(2.0, 5.0), p=p, seed=seed
            )(audio, training=True)
            fired += int(np.sum(np.asarray(out)[:, 0] != 1.0))
            n += 400
        # Binomial sampling error: within 4 standard deviations.
        self.assertLess(abs(fired / n - p), 4 * np.sqrt(p * (1 - p) / n))

    def test_unbatched_and_tf_data(self):
        audio = np.random.randn(4, 100).astype("float32")
        layer = Delay(sample_rate=1000, delay_range=(10.0, 10.0), p=1.0)
        expected = audio.copy()
        expected[:, 10:] += 0.5 * audio[:, :-10]
        expected /= 2
        self.assertAllClose(layer(audio[0], training=True), expected[0])
        ds = tf.data.Dataset.from_tensor_slices(audio).batch(2)
        out = np.concatenate(
            [b.numpy() for b in ds.map(lambda x: layer(x, training=True))]
        )
        # float32 sums: 1e-6.
        self.assertAllClose(out, expected, atol=1e-6)

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`sample_rate` must be a posit"):
            Delay(sample_rate=-1)
        with pytest.raises(ValueError, match="`delay_range` must satisfy"):
            Delay(delay_range=(500.0, 200.0))
        with pytest.raises(ValueError, match="`decay` must be a probability"):
            Delay(decay=1.5)
        with pytest.raises(ValueError, match="`p` must be a probability"):
            Delay(p=-1)

    def test_invalid_audio(self):
        with pytest.raises(ValueError, match="must have rank 1 or 2"):
            Delay()(np.zeros((1, 2, 8), "float32"), training=True)
