import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.pitch_shift import PitchShift
from keras_music.layers.pitch_shift import _running_sum
from tests.test_case import TestCase

SR = 8000


def _sine(freq, samples=8000):
    return np.sin(2 * np.pi * freq * np.arange(samples) / SR).astype("float32")


def _peak_hz(x):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spectrum) * SR / len(x)


class PitchShiftTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            PitchShift,
            init_kwargs={"n_fft": 64, "hop_length": 16, "p": 0.5, "seed": 2},
            input_data=np.random.randn(2, 200).astype("float32"),
            expected_output_shape=(2, 200),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_octave_doubles_and_halves_frequency(self):
        bin_hz = SR / 8000  # resolution of the 8000-point analysis: 1 Hz
        for freq in (440.0, 1000.0):
            for semitones, ratio in ((12.0, 2.0), (-12.0, 0.5), (7.0, None)):
                layer = PitchShift(
                    semitone_range=(semitones, semitones),
                    n_fft=512,
                    hop_length=128,
                    p=1.0,
                )
                out = np.asarray(layer(_sine(freq)[None], training=True))
                self.assertEqual(out.shape, (1, 8000))
                ratio = ratio or 2 ** (semitones / 12)
                # Within one FFT bin of the analysis.
                self.assertLessEqual(
                    abs(_peak_hz(out[0]) - freq * ratio), bin_hz
                )

    def test_zero_shift_reconstructs(self):
        audio = np.random.RandomState(0).randn(2, 1000).astype("float32")
        layer = PitchShift(
            semitone_range=(0.0, 0.0), n_fft=256, hop_length=64, p=1.0
        )
        # STFT + inverse STFT in float32: ~1e-5 of unit-variance audio.
        self.assertAllClose(layer(audio, training=True), audio, atol=1e-4)

    def test_level_and_per_example_shifts(self):
        audio = np.tile(_sine(500.0), (16, 1))
        layer = PitchShift(
            semitone_range=(-7.0, 7.0),
            n_fft=512,
            hop_length=128,
            p=1.0,
            seed=3,
        )
        out = np.asarray(layer(audio, training=True))
        peaks = np.array([_peak_hz(x) for x in out])
        # Every peak within +-7 semitones (+-1 Hz bin) and not all alike.
        self.assertTrue(np.all(peaks >= 500 * 2 ** (-7 / 12) - 1))
        self.assertTrue(np.all(peaks <= 500 * 2 ** (7 / 12) + 1))
        self.assertGreater(len(np.unique(peaks)), 8)
        # The RMS level is restored exactly (float32).
        np.testing.assert_allclose(
            np.sqrt(np.mean(out**2, -1)), np.sqrt(0.5), rtol=1e-4
        )

    def test_seeded_and_inference(self):
        audio = np.random.randn(4, 300).astype("float32")
        kwargs = {"n_fft": 64, "hop_length": 16, "p": 1.0, "seed": 4}
        a = PitchShift(**kwargs)(audio, training=True)
        b = PitchShift(**kwargs)(audio, training=True)
        self.assertAllEqual(a, b)
        self.assertAllEqual(PitchShift(**kwargs)(audio), audio)

    def test_fires_with_probability(self):
        p, n, fired = 0.6, 0, 0
        audio = np.tile(_sine(1000.0, 256), (400, 1))
        for seed in range(5):
            out = PitchShift(
                semitone_range=(2.0, 7.0),
                n_fft=64,
                hop_length=16,
                p=p,
                seed=seed,
            )(audio, training=True)
            diff = np.max(np.abs(np.asarray(out) - audio), axis=-1)
            fired += int(np.sum(diff > 1e-2))
            n += 400
        # Binomial sampling error: within 4 standard deviations.
        self.assertLess(abs(fired / n - p), 4 * np.sqrt(p * (1 - p) / n))

    def test_unbatched_and_tf_data(self):
        audio = np.tile(_sine(440.0, 4000), (4, 1))
        layer = PitchShift(
            semitone_range=(12.0, 12.0), n_fft=256, hop_length=64, p=1.0
        )
        self.assertEqual(layer(audio[0], training=True).shape, (4000,))
        ds = tf.data.Dataset.from_tensor_slices(audio).batch(2)
        out = np.concatenate(
            [b.numpy() for b in ds.map(lambda x: layer(x, training=True))]
        )
        # 4000-point analysis: 2 Hz bins.
        for x in out:
            self.assertLessEqual(abs(_peak_hz(x) - 880.0), 2.0)

    def test_running_sum_is_cumsum(self):
        # The phase accumulation: blocks of 64 frames, any frame count.
        rng = np.random.default_rng(0)
        for frames in (1, 63, 64, 65, 130):
            x = rng.uniform(-np.pi, np.pi, (2, 3, frames)).astype("float32")
            expected = np.cumsum(x.astype("float64"), axis=-1)
            # float32 rounding of up to `frames` terms of at most pi.
            atol = frames * np.pi * np.finfo("float32").eps
            self.assertAllClose(_running_sum(tf.constant(x)), expected, atol)

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`semitone_range` must satisfy"):
            PitchShift(semitone_range=(7.0, -7.0))
        with pytest.raises(ValueError, match="`n_fft` must be a positive"):
            PitchShift(n_fft=0)
        with pytest.raises(ValueError, match="`hop_length` must be at most"):
            PitchShift(n_fft=256, hop_length=200)
        with pytest.raises(ValueError, match="`p` must be a probability"):
            PitchShift(p=3)

    def test_invalid_audio(self):
        with pytest.raises(ValueError, match="must have rank 1 or 2"):
            PitchShift()(np.zeros((1, 2, 8), "float32"), training=True)
