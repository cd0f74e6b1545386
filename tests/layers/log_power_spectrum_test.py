import librosa
import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.log_power_spectrum import LogPowerSpectrum
from tests.test_case import TestCase


def _audio(samples, seed=0):
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(samples)).astype("float32")


class LogPowerSpectrumTest(TestCase):
    def test_layer_behaviour(self):
        audio = np.random.uniform(-1, 1, (2, 1600)).astype("float32")
        self.run_layer_test(
            LogPowerSpectrum,
            init_kwargs={"n_fft": 256, "hop_length": 160},
            input_data=audio,
            expected_output_shape=(2, 129, 11),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            run_export_check=True,
        )

    def test_matches_librosa(self):
        y = _audio(8000)
        stft = librosa.stft(y, n_fft=2048, hop_length=160, center=True)
        expected = 10 * np.log10(np.abs(stft) ** 2 + 1e-10)
        actual = LogPowerSpectrum()(y[None])[0].numpy()
        self.assertEqual(actual.shape, (1025, 51))
        # dB of float32 powers: a 1e-4 relative error is 4e-4 dB; the
        # quietest bins (near the eps floor) lose more digits.
        self.assertAllClose(actual, expected, atol=1e-2, rtol=0)

    def test_matches_numpy_uncentred(self):
        y = _audio(4096, seed=1)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048)
        frames = np.stack([y[i : i + 2048] for i in range(0, 2049, 160)])
        power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
        expected = (10 * np.log10(power + 1e-10)).T
        actual = LogPowerSpectrum(center=False)(y).numpy()
        self.assertEqual(actual.shape, expected.shape)
        # float64 NumPy reference vs float32: see test_matches_librosa.
        self.assertAllClose(actual, expected, atol=1e-2, rtol=0)

    def test_tf_data_map(self):
        clips = np.stack([_audio(3200, seed=s) for s in range(2)])
        layer = LogPowerSpectrum(n_fft=512)
        outputs = np.stack(
            [
                o.numpy()
                for o in tf.data.Dataset.from_tensor_slices(clips).map(layer)
            ]
        )
        self.assertAllClose(outputs, layer(clips), atol=1e-4, rtol=0)

    def test_invalid(self):
        with pytest.raises(ValueError, match="hop_length"):
            LogPowerSpectrum(hop_length=-1)
        with pytest.raises(ValueError, match="eps"):
            LogPowerSpectrum(eps=0.0)
        with pytest.raises(ValueError, match="rank 1 or 2"):
            LogPowerSpectrum()(np.zeros((1, 1, 4096), "float32"))
        with pytest.raises(ValueError, match="at least 2048 samples"):
            LogPowerSpectrum(center=False)(np.zeros((1, 100), "float32"))
        audio = np.zeros((1, 4096), "float32")
        audio[0, 0] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            LogPowerSpectrum()(audio)
