import librosa
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_music.layers import spectral_utils
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from tests.test_case import TestCase

SR = 16000


def _audio(seconds, seed=0):
    rng = np.random.default_rng(seed)
    tone = librosa.tone(1000.0, sr=SR, duration=seconds)
    noise = 0.1 * rng.standard_normal(int(seconds * SR))
    return (0.5 * tone + noise).astype("float32")


def _librosa_log_mel(y, pad_mode="constant"):
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=SR,
        n_fft=512,
        hop_length=256,
        window="hann",
        center=True,
        pad_mode=pad_mode,
        power=2,
        n_mels=96,
        fmin=0,
        fmax=8000,
        htk=False,
        norm="slaney",
    )
    return np.log10(1 + 10000 * mel)


class LogMelSpectrogramTest(TestCase):
    def test_layer_behaviour(self):
        audio = np.random.uniform(-1, 1, (2, 2048)).astype("float32")
        self.run_layer_test(
            LogMelSpectrogram,
            init_kwargs={"n_mels": 96, "normalize": True},
            input_data=audio,
            expected_output_shape=(2, 96, 9),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            run_export_check=True,
        )

    def test_filterbank_matches_librosa(self):
        expected = librosa.filters.mel(
            sr=SR, n_fft=512, n_mels=96, fmin=0, fmax=8000, norm="slaney"
        )
        actual = spectral_utils.slaney_mel_filterbank(SR, 512, 96, 0, 8000)
        # float64 formula vs librosa's float32 weights.
        self.assertAllClose(actual.T, expected, atol=1e-7 * expected.max())

    def test_matches_librosa(self):
        y = _audio(2.0)
        expected = _librosa_log_mel(y)
        actual = LogMelSpectrogram()(y[None])[0].numpy()
        self.assertEqual(actual.shape, expected.shape)
        # float32 FFT order differs (measured 2.2e-7 of the peak).
        self.assertAllClose(actual, expected, atol=1e-4 * expected.max())

    def test_reflect_padding_and_max_frames(self):
        # The official MAEST frontend's framing: reflection at the edges
        # and the segment cut to its nominal length.
        y = _audio(1.0)
        expected = _librosa_log_mel(y, pad_mode="reflect")[:, :62]
        layer = LogMelSpectrogram(pad_mode="reflect", max_frames=62)
        actual = layer(y[None])[0].numpy()
        self.assertEqual(actual.shape, (96, 62))
        self.assertEqual(layer.compute_output_shape((1, 16000)), (1, 96, 62))
        # As test_matches_librosa: float32 FFT order.
        self.assertAllClose(actual, expected, atol=1e-4 * expected.max())
        # The edge frames differ from zero padding.
        zeros = LogMelSpectrogram()(y[None])[0].numpy()
        self.assertGreater(np.abs(zeros[:, 0] - actual[:, 0]).max(), 1e-2)

    def test_maest_normalization(self):
        y = _audio(0.5)
        expected = (_librosa_log_mel(y) - 2.06755686098554) / (
            2 * 1.268292820667291
        )
        actual = LogMelSpectrogram(normalize=True)(y)
        self.assertAllClose(
            actual, expected, atol=1e-4 * np.abs(expected).max()
        )

    def test_frame_counts(self):
        # MAEST 30 s: 480,000 samples, hop 256. Centred: 1 + n // hop =
        # 1876 (Essentia); uncentred: 1 + (n - 512) // 256 = 1874.
        spec = tf.TensorSpec((1, 480000), tf.float32)
        self.assertEqual(
            LogMelSpectrogram().compute_output_shape(spec.shape),
            (1, 96, 1876),
        )
        self.assertEqual(
            LogMelSpectrogram(center=False).compute_output_shape(spec.shape),
            (1, 96, 1874),
        )
        y = _audio(0.5)
        # The layer's own count agrees with librosa's on actual audio.
        self.assertEqual(
            LogMelSpectrogram()(y).shape, _librosa_log_mel(y).shape
        )
        uncentred = librosa.feature.melspectrogram(
            y=y, sr=SR, n_fft=512, hop_length=256, center=False, n_mels=96
        )
        self.assertEqual(
            LogMelSpectrogram(center=False)(y).shape, uncentred.shape
        )

    def test_tf_data_map(self):
        clips = np.stack([_audio(0.25, seed=s) for s in range(3)])
        layer = LogMelSpectrogram()
        outputs = np.stack(
            [
                o.numpy()
                for o in tf.data.Dataset.from_tensor_slices(clips).map(layer)
            ]
        )
        self.assertAllClose(outputs, layer(clips), atol=1e-5, rtol=1e-5)

    def test_tflite_builtins(self):
        y = _audio(0.25)[None]
        layer = LogMelSpectrogram(check_values=False)
        fn = tf.function(
            lambda x: layer(x),
            input_signature=[tf.TensorSpec(y.shape, tf.float32)],
        )
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [fn.get_concrete_function()], layer
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        interpreter = Interpreter(model_content=converter.convert())
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], y)
        interpreter.invoke()
        actual = interpreter.get_tensor(
            interpreter.get_output_details()[0]["index"]
        )
        # RFFT2D vs TF's FFT: float32 rounding only.
        self.assertAllClose(actual, layer(y), atol=1e-4, rtol=0)

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="hop_length"):
            LogMelSpectrogram(hop_length=0)
        with pytest.raises(ValueError, match="fmax"):
            LogMelSpectrogram(fmax=9000)
        with pytest.raises(ValueError, match="fmin"):
            LogMelSpectrogram(fmin=8000)
        with pytest.raises(ValueError, match="n_mels"):
            LogMelSpectrogram(n_mels=0)
        with pytest.raises(ValueError, match="pad_mode='edge'"):
            LogMelSpectrogram(pad_mode="edge")
        with pytest.raises(ValueError, match="max_frames"):
            LogMelSpectrogram(max_frames=0)
        with pytest.raises(ValueError, match="at least 257 samples"):
            LogMelSpectrogram(pad_mode="reflect")(np.zeros((1, 200), "float32"))

    def test_invalid_audio(self):
        with pytest.raises(ValueError, match="rank 1 or 2"):
            LogMelSpectrogram()(np.zeros((1, 1, 512), "float32"))
        with pytest.raises(ValueError, match="at least 1 samples"):
            LogMelSpectrogram()(np.zeros((1, 0), "float32"))
        with pytest.raises(ValueError, match="at least 512 samples"):
            LogMelSpectrogram(center=False)(np.zeros((1, 300), "float32"))
        audio = np.zeros((1, 1024), "float32")
        audio[0, 5] = np.inf
        with pytest.raises(ValueError, match="NaN"):
            LogMelSpectrogram()(audio)
