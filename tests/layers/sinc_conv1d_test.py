import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.sinc_conv1d import SincConv1D
from tests.test_case import TestCase


def _numpy_kernels(low_param, band_param, kernel_size, sr, min_low, min_band):
    """Band-pass kernels in float64 straight from the formulas: difference
    of two windowed sinc low-passes (np.sinc, np.hamming), centre tap 1."""
    low = min_low + np.abs(low_param)
    high = np.clip(low + min_band + np.abs(band_param), min_low, sr / 2)
    n = np.arange(kernel_size) - (kernel_size - 1) / 2
    lowpass_high = 2 * high[None] * np.sinc(2 * high[None] * n[:, None] / sr)
    lowpass_low = 2 * low[None] * np.sinc(2 * low[None] * n[:, None] / sr)
    kernels = (lowpass_high - lowpass_low) * np.hamming(kernel_size)[:, None]
    return kernels / (2 * (high - low))[None]


def _mel_edges(filters, sr):
    mel = np.linspace(
        2595 * np.log10(1 + 30 / 700),
        2595 * np.log10(1 + (sr / 2 - 100) / 700),
        filters + 1,
    )
    return 700 * (10 ** (mel / 2595) - 1)


class SincConv1DTest(TestCase):
    def test_layer_behaviour(self):
        self.run_layer_test(
            SincConv1D,
            init_kwargs={
                "filters": 4,
                "kernel_size": 15,
                "sample_rate": 16000,
                "strides": 2,
                "padding": "reflect",
                "min_low_hz": 50.0,
                "min_band_hz": 50.0,
            },
            input_data=np.random.uniform(-1, 1, (2, 101)).astype("float32"),
            expected_output_shape=(2, 51, 4),
            expected_num_trainable_weights=2,
            expected_num_non_trainable_weights=0,
            run_export_check=True,
        )

    def test_initial_cutoffs_are_mel_spaced(self):
        layer = SincConv1D(filters=64, kernel_size=251)
        layer.build((None, None))
        edges = _mel_edges(64, 16000)
        low, high = (t.numpy() for t in layer.cutoffs())
        # float32 Hz up to 7,900: a few ulp (1e-3 Hz) of rounding.
        self.assertAllClose(low, 50 + edges[:-1], atol=2e-3, rtol=0)
        self.assertAllClose(high, 50 + edges[1:] + 50, atol=2e-3, rtol=0)
        self.assertAllClose(high[-1], 8000.0, atol=2e-3, rtol=0)

    def test_kernels_match_numpy(self):
        layer = SincConv1D(filters=16, kernel_size=101, sample_rate=16000)
        layer.build((None, None))
        # Away from the initial values too: negative parameters (|.|) and
        # a band past Nyquist (clipped).
        rng = np.random.default_rng(0)
        low = rng.uniform(-3000, 6000, 16).astype("float32")
        band = rng.uniform(-2000, 5000, 16).astype("float32")
        band[0] = 20000.0
        layer.low_hz.assign(low)
        layer.band_hz.assign(band)
        expected = _numpy_kernels(low, band, 101, 16000, 50.0, 50.0)
        actual = layer.kernel().numpy()
        self.assertEqual(actual.shape, (101, 16))
        # float32 sines of arguments up to 2 pi * 8000 * 50 / 16000 ~ 157
        # rad (ulp ~1e-5 rad): measured 2e-6 here, 4e-6 at 251 taps.
        self.assertAllClose(actual, expected, atol=2e-5, rtol=0)
        self.assertAllClose(actual[50], np.ones(16), atol=1e-6, rtol=0)
        self.assertAllEqual(actual, actual[::-1])

    def test_output_matches_numpy_convolution(self):
        layer = SincConv1D(filters=3, kernel_size=21, strides=3)
        x = np.random.default_rng(1).uniform(-1, 1, (2, 100))
        x = x.astype("float32")
        actual = layer(x[..., None]).numpy()
        kernels = layer.kernel().numpy().astype("float64")
        padded = np.pad(x, ((0, 0), (10, 10)), mode="reflect")
        expected = np.stack(
            [
                np.stack(
                    [
                        np.correlate(p, kernels[:, k], mode="valid")[::3]
                        for k in range(3)
                    ],
                    axis=-1,
                )
                for p in padded
            ]
        )
        self.assertEqual(actual.shape, (2, 34, 3))
        # float32 sums of 21 products of magnitude <= 1.
        self.assertAllClose(actual, expected, atol=1e-5, rtol=0)

    def test_padding_modes(self):
        x = np.random.uniform(-1, 1, (1, 50)).astype("float32")
        valid = SincConv1D(2, 11, padding="valid")
        self.assertEqual(tuple(valid(x).shape), (1, 40, 2))
        same = SincConv1D(2, 11, strides=4, padding="same")
        out = same(x).numpy()
        self.assertEqual(out.shape, (1, 13, 2))
        kernels = same.kernel().numpy()
        padded = np.pad(x[0], 5)
        expected = np.correlate(padded, kernels[:, 0], "valid")[::4]
        # float32 sums of 11 products of magnitude <= 1.
        self.assertAllClose(out[0, :, 0], expected, atol=1e-5, rtol=0)

    def test_both_parameters_receive_gradients(self):
        layer = SincConv1D(filters=8, kernel_size=51)
        x = tf.random.stateless_normal((2, 400), seed=(1, 2))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer(x)))
        grads = tape.gradient(loss, [layer.low_hz, layer.band_hz])
        for grad in grads:
            self.assertIsNotNone(grad)
            self.assertTrue(np.all(np.abs(grad.numpy()) > 0), grad)

    def test_errors(self):
        with pytest.raises(ValueError, match="kernel_size=250"):
            SincConv1D(kernel_size=250)
        with pytest.raises(ValueError, match="filters=0"):
            SincConv1D(filters=0)
        with pytest.raises(ValueError, match="strides=0"):
            SincConv1D(strides=0)
        with pytest.raises(ValueError, match="padding='causal'"):
            SincConv1D(padding="causal")
        with pytest.raises(ValueError, match="sample_rate=-1"):
            SincConv1D(sample_rate=-1)
        with pytest.raises(ValueError, match="min_low_hz=0"):
            SincConv1D(min_low_hz=0)
        with pytest.raises(ValueError, match="min_band_hz=-5"):
            SincConv1D(min_band_hz=-5)
        with pytest.raises(ValueError, match="sample_rate=200"):
            SincConv1D(sample_rate=200)
        layer = SincConv1D(filters=2, kernel_size=11)
        with pytest.raises(ValueError, match="more than 5 samples"):
            layer(np.zeros((1, 5), "float32"))
        with pytest.raises(ValueError, match="must be mono"):
            layer(np.zeros((1, 50, 2), "float32"))
        with pytest.raises(ValueError, match="rank 2 or 3"):
            layer(np.zeros((50,), "float32"))
