import os
import warnings

import keras
import numpy as np
import pytest
import soundfile

from keras_music.data.errors import AudioDecodeError
from keras_music.layers.cqt import CQT
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.layers.resample import resample
from keras_music.models.audio_preprocessor import AudioPreprocessor
from tests.test_case import TestCase


def _tone(seconds, rate, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440.0 * t).astype("float32")
    return np.stack([tone] * channels, axis=-1)


class AudioPreprocessorTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            AudioPreprocessor,
            {
                "frontend": LogMelSpectrogram(sample_rate=16000),
                "sample_rate": 16000,
                "segment_seconds": 1.0,
                "normalization": "per_clip",
            },
            np.random.uniform(-1, 1, (2, 4000)).astype("float32"),
            # 1 + 4000 // 256 frames.
            expected_output_shape=(2, 96, 16),
            run_training_check=False,
        )

    def test_equals_the_frontend_it_wraps(self):
        audio = np.random.uniform(-1, 1, (2, 8000)).astype("float32")
        for frontend in (
            LogMelSpectrogram(sample_rate=16000, normalize=True),
            CQT(sample_rate=22050, hop_length=512, output_scale="db"),
        ):
            preprocessor = AudioPreprocessor(frontend)
            self.assertEqual(preprocessor.sample_rate, frontend.sample_rate)
            self.assertEqual(preprocessor.hop_length, frontend.hop_length)
            # The same layer: bit-identical output.
            self.assertAllEqual(preprocessor(audio), frontend(audio))

    def test_per_clip_normalization(self):
        frontend = CQT(sample_rate=22050, output_scale="db")
        preprocessor = AudioPreprocessor(frontend, normalization="per_clip")
        audio = np.random.uniform(-1, 1, (2, 22050)).astype("float32")
        x = np.asarray(frontend(audio), "float64")
        mean = x.mean(axis=(1, 2), keepdims=True)
        var = x.var(axis=(1, 2), keepdims=True)
        # float32 moments against float64 ones: ~1e-5 relative on dB.
        self.assertAllClose(
            preprocessor(audio), (x - mean) / np.sqrt(var + 1e-3), atol=1e-4
        )

    def test_raw_waveform(self):
        preprocessor = AudioPreprocessor(sample_rate=22050, segment_seconds=2)
        self.assertIsNone(preprocessor.hop_length)
        self.assertEqual(preprocessor.segment_samples, 44100)
        audio = np.random.rand(2, 100).astype("float32")
        self.assertAllEqual(preprocessor(audio), audio)
        self.run_serialization_test(preprocessor, {"sample_rate": 22050})

    def test_config_round_trip_keeps_the_frontend(self):
        preprocessor = AudioPreprocessor(
            LogMelSpectrogram(sample_rate=16000, hop_length=160, n_mels=64),
            segment_seconds=10.0,
        )
        revived = self.run_serialization_test(preprocessor)
        self.assertIsInstance(revived.frontend, LogMelSpectrogram)
        self.assertEqual(revived.frontend.hop_length, 160)
        self.assertEqual(revived.frontend.n_mels, 64)
        self.assertEqual(revived.segment_seconds, 10.0)

    def test_load_audio_resamples_with_a_notice(self):
        path = os.path.join(self.get_temp_dir(), "stereo.wav")
        soundfile.write(path, _tone(1.0, 22050, channels=2), 22050)
        preprocessor = AudioPreprocessor(LogMelSpectrogram(sample_rate=16000))
        with pytest.warns(UserWarning, match=r"22050 Hz .*2 channel.*16000"):
            audio = preprocessor.load_audio(path)
        self.assertEqual(audio.shape, (16000,))
        self.assertEqual(audio.dtype, np.float32)
        # The library's resampler on the channel mean.
        expected = resample(_tone(1.0, 22050)[:, 0], 22050, 16000)
        self.assertAllClose(audio, expected, atol=1e-4)

    def test_load_audio_at_the_model_rate_is_silent(self):
        path = os.path.join(self.get_temp_dir(), "mono.wav")
        soundfile.write(path, _tone(0.5, 16000), 16000)
        preprocessor = AudioPreprocessor(sample_rate=16000)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            audio = preprocessor.load_audio(path)
        self.assertEqual(audio.shape, (8000,))
        with pytest.raises(AudioDecodeError, match="no such file"):
            preprocessor.load_audio(path + ".missing.wav")

    def test_segments(self):
        preprocessor = AudioPreprocessor(sample_rate=10, segment_seconds=1)
        audio = np.arange(25, dtype="float32")
        segments = preprocessor.segments(audio)
        # Three segments of 10, the last aligned with the end.
        self.assertAllEqual(segments[:, 0], np.array([0, 10, 15]))
        self.assertEqual(segments.shape, (3, 10))
        self.assertEqual(preprocessor.segments(audio[:4]).shape, (1, 4))

    def test_errors(self):
        with pytest.raises(ValueError, match="frontend="):
            AudioPreprocessor("log_mel")
        with pytest.raises(ValueError, match="sample_rate=None"):
            AudioPreprocessor()
        with pytest.raises(ValueError, match="sample_rate=8000"):
            AudioPreprocessor(LogMelSpectrogram(), sample_rate=8000)
        with pytest.raises(ValueError, match="`frontend` must have"):
            AudioPreprocessor(keras.layers.Identity())
        with pytest.raises(ValueError, match="segment_seconds"):
            AudioPreprocessor(sample_rate=16000, segment_seconds=0)
        with pytest.raises(ValueError, match="normalization='z'"):
            AudioPreprocessor(sample_rate=16000, normalization="z")
