import librosa
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_music.layers.cqt import CQT
from tests.test_case import TestCase

SR = 22050


def _music_like(seconds, seed=0):
    """Noise plus a tone and a chirp sweeping all seven octaves."""
    rng = np.random.default_rng(seed)
    noise = 0.05 * rng.standard_normal(int(seconds * SR))
    tone = librosa.tone(440.0, sr=SR, duration=seconds)
    chirp = librosa.chirp(fmin=30.0, fmax=8000.0, sr=SR, duration=seconds)
    return (noise + 0.5 * tone + 0.3 * chirp).astype("float32")


def _to_tflite(layer, length):
    fn = tf.function(
        lambda x: layer(x),
        input_signature=[tf.TensorSpec((1, length), tf.float32)],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [fn.get_concrete_function()], layer
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def _run_tflite(content, x):
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


class CQTTest(TestCase):
    def test_layer_behaviour(self):
        # 4096 samples: 1 + 4096 // 512 = 9 frames.
        audio = np.random.uniform(-1, 1, (2, 4096)).astype("float32")
        self.run_layer_test(
            CQT,
            init_kwargs={"time_compression": 1, "output_scale": "magnitude"},
            input_data=audio,
            expected_output_shape=(2, 84, 9),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            run_export_check=True,
        )

    def test_matches_librosa(self):
        y = _music_like(3.0)
        expected = np.abs(librosa.cqt(y, sr=SR))
        actual = CQT()(y[None])[0].numpy()
        self.assertEqual(actual.shape, expected.shape)
        # Interior frames: the lowest filters are ~22 frames long and the
        # edges depend on how each resampler treats the zero padding.
        inner = slice(12, -12)
        error = np.abs(actual - expected)[:, inner]
        peak = expected[:, inner].max()
        # The top octave uses librosa's filters on the same samples: only
        # float32 rounding differs (measured 4.1e-7 of its peak; 10x
        # margin).
        top = expected[-12:, inner].max()
        self.assertLess(error[-12:].max() / top, 5e-6)
        # Lower octaves see our half-band decimator instead of soxr's
        # resampler (measured 3.0e-5 of the peak, 2.4e-4 on pure noise;
        # a single-rate CQT reaches only ~2e-2). 10x margin.
        self.assertLess(error.max() / peak, 3e-4)

    def test_early_downsampling_matches_librosa(self):
        # Three octaves from C1 at hop 512: librosa (and the layer)
        # decimate the input 16x before the first octave.
        y = _music_like(3.0, seed=1)
        kwargs = {"n_bins": 36, "hop_length": 512}
        expected = np.abs(librosa.cqt(y, sr=SR, **kwargs))
        actual = CQT(**kwargs)(y[None])[0].numpy()
        self.assertEqual(actual.shape, expected.shape)
        inner = slice(12, -12)
        error = np.abs(actual - expected)[:, inner].max()
        # Cascaded half-band decimators instead of one soxr call
        # (measured 3.5e-5 of the peak; 10x margin).
        self.assertLess(error / expected[:, inner].max(), 3e-4)

    def test_time_compression_and_db(self):
        y = _music_like(1.0)
        magnitude = CQT()(y[None])[0].numpy()
        layer = CQT(time_compression=4, output_scale="db")
        actual = layer(y[None])[0].numpy()
        # Reference from the formula on the uncompressed magnitude.
        frames = magnitude.shape[1] // 4
        pooled = magnitude[:, : frames * 4].reshape(84, frames, 4).mean(-1)
        expected = librosa.amplitude_to_db(
            pooled, ref=1.0, amin=1e-5, top_db=None
        )
        self.assertEqual(actual.shape, (84, frames))
        # dB of float32 values: 1e-4 dB is ~2e-5 relative.
        self.assertAllClose(actual, expected, atol=1e-3, rtol=0)

    def test_unbatched_and_any_length(self):
        layer = CQT()
        for length in (64, 1000, 5003):
            y = _music_like(length / SR)
            single = layer(y).numpy()
            self.assertEqual(single.shape, (84, 1 + length // 512))
            batched = layer(y[None])[0].numpy()
            self.assertAllClose(single, batched, atol=1e-6, rtol=1e-5)

    def test_tf_data_map(self):
        clips = np.stack([_music_like(0.5, seed=s) for s in range(3)])
        layer = CQT()
        dataset = tf.data.Dataset.from_tensor_slices(clips).map(layer)
        outputs = np.stack([o.numpy() for o in dataset])
        # Same graph-free math in tf.data: only op ordering may differ.
        self.assertAllClose(outputs, layer(clips), atol=1e-6, rtol=1e-5)

    def test_tflite_builtins(self):
        y = _music_like(0.5)[None]
        layer = CQT(check_values=False)
        content = _to_tflite(layer, y.shape[1])
        actual = _run_tflite(content, y)
        expected = layer(y).numpy()
        # Same float32 kernels, different matmul order: 1e-4 of the peak.
        self.assertAllClose(actual, expected, atol=1e-4 * expected.max())

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="hop_length"):
            CQT(hop_length=0)
        with pytest.raises(ValueError, match="multiple of 2"):
            CQT(hop_length=100)
        with pytest.raises(ValueError, match="Nyquist"):
            CQT(n_bins=120)
        with pytest.raises(ValueError, match="Nyquist"):
            CQT(sample_rate=8000)
        with pytest.raises(ValueError, match="fmin"):
            CQT(fmin=-1.0)
        with pytest.raises(ValueError, match="output_scale"):
            CQT(output_scale="power")
        with pytest.raises(ValueError, match="time_compression"):
            CQT(time_compression=0)

    def test_invalid_audio(self):
        layer = CQT()
        with pytest.raises(ValueError, match="rank 1 or 2"):
            layer(np.zeros((1, 2, 4096), "float32"))
        with pytest.raises(ValueError, match="at least 64 samples"):
            layer(np.zeros((1, 0), "float32"))
        with pytest.raises(ValueError, match="at least 64 samples"):
            layer(np.zeros((1, 63), "float32"))
        with pytest.raises(ValueError, match="at least 51200 samples"):
            CQT(time_compression=101)(np.zeros((1, 4096), "float32"))
        audio = np.zeros((1, 4096), "float32")
        audio[0, 10] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            layer(audio)

    def test_invalid_audio_in_graph(self):
        layer = CQT()
        fn = tf.function(
            lambda x: layer(x),
            input_signature=[tf.TensorSpec((None, None), tf.float32)],
        )
        audio = np.zeros((1, 4096), "float32")
        audio[0, 3] = np.inf
        with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
            fn(audio)

    @pytest.mark.large
    def test_full_clip_matches_librosa(self):
        y = _music_like(30.0)
        expected = np.abs(librosa.cqt(y, sr=SR))
        actual = CQT()(y[None])[0].numpy()
        self.assertEqual(actual.shape, (84, 1292))
        inner = slice(12, -12)
        error = np.abs(actual - expected)[:, inner].max()
        self.assertLess(error / expected[:, inner].max(), 1e-3)
