import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.random_gain import RandomGain
from tests.test_case import TestCase


def _rms_db(x):
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype="float64"), -1)))


class RandomGainTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            RandomGain,
            init_kwargs={"gain_range": (-6.0, 0.0), "p": 0.5, "seed": 2},
            input_data=np.random.randn(2, 64).astype("float32"),
            expected_output_shape=(2, 64),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_gain_matches_rms_change(self):
        audio = np.random.randn(4, 2000).astype("float32")
        for gain in (-20.0, -6.0, -1.0, 3.0):
            out = RandomGain(gain_range=(gain, gain), p=1.0)(
                audio, training=True
            )
            measured = _rms_db(np.asarray(out)) - _rms_db(audio)
            # float32 scaling: relative error ~1e-7, i.e. ~1e-6 dB.
            np.testing.assert_allclose(measured, gain, atol=1e-4)

    def test_per_example_gains_in_range(self):
        audio = np.random.randn(64, 500).astype("float32")
        out = RandomGain(gain_range=(-20.0, -1.0), p=1.0, seed=0)(
            audio, training=True
        )
        measured = _rms_db(np.asarray(out)) - _rms_db(audio)
        self.assertTrue(np.all(measured >= -20.0 - 1e-4))
        self.assertTrue(np.all(measured <= -1.0 + 1e-4))
        # Uniform over 19 dB: 64 draws spread over most of the range.
        self.assertGreater(np.ptp(measured), 10.0)

    def test_seeded_and_inference(self):
        audio = np.random.randn(8, 100).astype("float32")
        a = RandomGain(p=0.5, seed=4)(audio, training=True)
        b = RandomGain(p=0.5, seed=4)(audio, training=True)
        self.assertAllEqual(a, b)
        self.assertAllEqual(RandomGain(p=1.0)(audio), audio)

    def test_fires_with_probability(self):
        p, n, fired = 0.3, 0, 0
        for seed in range(5):
            audio = np.ones((400, 4), "float32")
            out = RandomGain(p=p, seed=seed)(audio, training=True)
            fired += int(np.sum(np.asarray(out)[:, 0] != 1.0))
            n += 400
        # Binomial sampling error: within 4 standard deviations.
        self.assertLess(abs(fired / n - p), 4 * np.sqrt(p * (1 - p) / n))

    def test_unbatched_and_tf_data(self):
        audio = np.ones((6, 10), "float32")
        layer = RandomGain(gain_range=(-6.0, -6.0), p=1.0, seed=0)
        self.assertAllClose(
            layer(audio[0], training=True),
            audio[0] * 10 ** (-6 / 20),
            atol=1e-6,
        )
        ds = tf.data.Dataset.from_tensor_slices(audio).batch(3)
        out = np.concatenate(
            [b.numpy() for b in ds.map(lambda x: layer(x, training=True))]
        )
        # float32 scaling of ones by 10 ** (-6 / 20): exact to float32 rounding.
        self.assertAllClose(out, audio * 10 ** (-6 / 20), atol=1e-6)

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`gain_range` must satisfy"):
            RandomGain(gain_range=(0.0, -6.0))
        with pytest.raises(ValueError, match="`gain_range` must be a pair"):
            RandomGain(gain_range=3.0)
        with pytest.raises(ValueError, match="`p` must be a probability"):
            RandomGain(p=-0.1)

    def test_invalid_audio(self):
        with pytest.raises(ValueError, match="must have rank 1 or 2"):
            RandomGain()(np.zeros((1, 2, 8), "float32"), training=True)
        with pytest.raises(ValueError, match="at least 1 samples"):
            RandomGain()(np.zeros((3, 0), "float32"), training=True)
