import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.random_filter import RandomFilter
from tests.test_case import TestCase

SR = 16000


def _sine(freq, samples=8000):
    t = np.arange(samples) / SR
    return np.sin(2 * np.pi * freq * t).astype("float32")


def _butterworth_db(freq, cutoff, order, high_pass):
    # The analog Butterworth magnitude, from its definition.
    ratio = cutoff / freq if high_pass else freq / cutoff
    return -10 * np.log10(1 + ratio ** (2 * order))


def _middle_rms_db(x):
    # Steady state: the middle half, away from the edge transients.
    n = x.shape[-1]
    mid = np.asarray(x, "float64")[..., n // 4 : 3 * n // 4]
    return 10 * np.log10(np.mean(mid**2, -1))


class RandomFilterTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            RandomFilter,
            init_kwargs={"sample_rate": SR, "p": 0.5, "seed": 2},
            input_data=np.random.randn(2, 64).astype("float32"),
            expected_output_shape=(2, 64),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def _filter(self, audio, cutoff, order=2):
        # One cut-off for both types; each example is high- or low-passed.
        layer = RandomFilter(
            sample_rate=SR,
            high_pass_range=(cutoff, cutoff),
            low_pass_range=(cutoff, cutoff),
            order=order,
            p=1.0,
            seed=0,
        )
        return np.asarray(layer(np.tile(audio, (64, 1)), training=True))

    def test_stop_and_pass_bands(self):
        cutoff, order = 1000.0, 2
        for freq in (250.0, 4000.0):
            audio = _sine(freq)
            out = self._filter(audio, cutoff, order)
            gains = _middle_rms_db(out) - _middle_rms_db(audio)
            hp = _butterworth_db(freq, cutoff, order, high_pass=True)
            lp = _butterworth_db(freq, cutoff, order, high_pass=False)
            # Each example is either filter type; the zero-phase FFT filter
            # on a steady sine matches the analog magnitude response up to
            # leakage of the edge transients into the middle: 0.1 dB.
            is_hp = np.abs(gains - hp) < 0.1
            is_lp = np.abs(gains - lp) < 0.1
            self.assertTrue(np.all(is_hp | is_lp), gains)
            self.assertTrue(np.any(is_hp) and np.any(is_lp))
        # Two octaves into the stop band, order 2: 24.1 dB down; in the
        # pass band, two octaves away: within 0.03 dB of unity.
        self.assertLess(_butterworth_db(250.0, 1000.0, 2, True), -24.0)
        self.assertGreater(_butterworth_db(4000.0, 1000.0, 2, True), -0.03)

    def test_ranges_per_example(self):
        audio = _sine(1500.0)
        layer = RandomFilter(
            sample_rate=SR,
            high_pass_range=(200.0, 1200.0),
            low_pass_range=(2200.0, 4000.0),
            p=1.0,
            seed=3,
        )
        out = layer(np.tile(audio, (32, 1)), training=True)
        gains = _middle_rms_db(np.asarray(out)) - _middle_rms_db(audio)
        # 1500 Hz is in the pass band of every possible filter, at worst
        # 3 dB down next to a 1200 Hz high-pass; gains differ per example.
        self.assertTrue(np.all(gains > -3.1) and np.all(gains < 0.01))
        self.assertGreater(np.ptp(gains), 0.1)

    def test_seeded_and_inference(self):
        audio = np.random.randn(4, 200).astype("float32")
        a = RandomFilter(sample_rate=SR, p=1.0, seed=4)(audio, training=True)
        b = RandomFilter(sample_rate=SR, p=1.0, seed=4)(audio, training=True)
        self.assertAllEqual(a, b)
        self.assertAllEqual(RandomFilter(sample_rate=SR)(audio), audio)

    def test_fires_with_probability(self):
        p, n, fired = 0.8, 0, 0
        for seed in range(5):
            audio = np.random.randn(400, 32).astype("float32")
            out = RandomFilter(sample_rate=SR, p=p, seed=seed)(
                audio, training=True
            )
            diff = np.max(np.abs(np.asarray(out) - audio), axis=-1)
            fired += int(np.sum(diff > 1e-3))
            n += 400
        # Binomial sampling error: within 4 standard deviations.
        self.assertLess(abs(fired / n - p), 4 * np.sqrt(p * (1 - p) / n))

    def test_unbatched_and_tf_data(self):
        audio = np.random.randn(4, 100).astype("float32")
        layer = RandomFilter(sample_rate=SR, p=1.0, seed=0)
        self.assertEqual(layer(audio[0], training=True).shape, (100,))
        ds = tf.data.Dataset.from_tensor_slices(audio).batch(2)
        out = np.concatenate(
            [b.numpy() for b in ds.map(lambda x: layer(x, training=True))]
        )
        self.assertEqual(out.shape, (4, 100))
        self.assertFalse(np.allclose(out, audio))

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`sample_rate` must be a posit"):
            RandomFilter(sample_rate=0)
        with pytest.raises(ValueError, match="`low_pass_range` must satisfy"):
            RandomFilter(sample_rate=8000, low_pass_range=(2200.0, 4500.0))
        with pytest.raises(ValueError, match="`high_pass_range` must satisf"):
            RandomFilter(high_pass_range=(1200.0, 200.0))
        with pytest.raises(ValueError, match="positive cut-off"):
            RandomFilter(high_pass_range=(0.0, 200.0))
        with pytest.raises(ValueError, match="`order` must be a positive"):
            RandomFilter(order=0)
        with pytest.raises(ValueError, match="`p` must be a probability"):
            RandomFilter(p=1.1)

    def test_invalid_audio(self):
        with pytest.raises(ValueError, match="must have rank 1 or 2"):
            RandomFilter()(np.zeros((1, 2, 8), "float32"), training=True)
