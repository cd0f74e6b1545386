import numpy as np
import pytest
import scipy.signal
import scipy.special
import soxr
import tensorflow as tf

from keras_music.layers import resample as resample_module
from keras_music.layers.resample import ResampleStream
from keras_music.layers.resample import resample
from tests.test_case import TestCase

RATIOS = (
    (44100, 16000),
    (22050, 16000),
    (48000, 22050),
    (16000, 44100),
    (8000, 16000),
    (48000, 16000),
    (44101, 16000),  # coprime: 16000 phases
)


def _reference_filter(up, down):
    """The filter the module docstring states, sampled at `up` times the
    input rate in float64 (SciPy's Bessel function), for
    `resample_poly`."""
    fc = resample_module.ROLLOFF * min(1.0, up / down)
    half_width = resample_module.ZERO_CROSSINGS / fc
    reach = int(np.floor(half_width * up))
    t = np.arange(-reach, reach + 1) / up
    u = np.minimum(np.abs(t) / half_width, 1.0)
    window = scipy.special.i0(resample_module.BETA * np.sqrt(1 - u * u))
    h = fc * np.sinc(fc * t) * window / scipy.special.i0(resample_module.BETA)
    h[np.abs(t) >= half_width] = 0.0
    # `resample_poly` multiplies its filter by `up`.
    return h / up


def _amplitude(y):
    return np.sqrt(2 * np.mean(np.square(y, dtype="float64")))


class ResampleTest(TestCase):
    def test_matches_resample_poly_with_the_stated_filter(self):
        x = np.random.default_rng(0).uniform(-1, 1, 6007).astype("float32")
        for rate, target in RATIOS:
            g = np.gcd(rate, target)
            up, down = target // g, rate // g
            y = resample(x, rate, target).numpy()
            self.assertEqual(y.shape, (round(len(x) * target / rate),))
            expected = scipy.signal.resample_poly(
                x.astype("float64"),
                up,
                down,
                window=_reference_filter(up, down),
            )
            # The same filter and the same zero padding at both ends; float32
            # products of ~200-400 taps on samples in [-1, 1] against float64
            # (measured <= 1.5e-6).
            self.assertAllClose(
                y,
                expected[: len(y)],
                atol=5e-6,
                rtol=0,
                msg=f"{rate}->{target}",
            )

    def test_sine_sweep_passband_and_stopband(self):
        for rate, target in ((44100, 16000), (48000, 22050), (16000, 44100)):
            low = min(rate, target) / 2
            t = np.arange(rate) / rate
            t_out = np.arange(target) / target
            edge = target // 50  # 20 ms of edge transients left out
            for frac in np.linspace(0.02, 0.90, 23):
                f = frac * low
                x = np.sin(2 * np.pi * f * t + 0.3).astype("float32")
                y = resample(x, rate, target).numpy()
                want = np.sin(2 * np.pi * f * t_out + 0.3)
                # Passband to 0.9 of the lower Nyquist frequency: the
                # exact sine within 5e-5 (measured 2.3e-5; float32 sines).
                error = np.abs(y - want)[edge:-edge].max()
                self.assertLess(error, 5e-5, f"{rate}->{target} at {f} Hz")
            if rate < target:
                continue
            # Stopband from the lower Nyquist frequency to the input's:
            # what reaches the output (as aliases) is >= 88 dB down
            # (measured >= 90.8 dB, at 1.002).
            for frac in np.linspace(1.0, 0.99 * rate / target, 29):
                f = frac * low
                x = np.sin(2 * np.pi * f * t + 0.3).astype("float32")
                y = resample(x, rate, target).numpy()
                level = 20 * np.log10(_amplitude(y[edge:-edge]) + 1e-12)
                self.assertLess(level, -88.0, f"{rate}->{target} at {f} Hz")

    def test_chirp_agrees_with_soxr(self):
        # An independent resampler (soxr, very high quality) on a chirp to
        # 0.8 of the lower Nyquist frequency: two band-limited filters with
        # different passband ripples, away from the edges.
        for rate, target in ((44100, 16000), (16000, 44100), (22050, 16000)):
            low = min(rate, target) / 2
            t = np.arange(2 * rate) / rate
            x = 0.5 * scipy.signal.chirp(t, 20, t[-1], 0.8 * low)
            x = x.astype("float32")
            y = resample(x, rate, target).numpy()
            expected = soxr.resample(x, rate, target, "VHQ")
            self.assertEqual(len(y), len(expected))
            edge = target // 50
            # Measured 1.4e-4 (5.5e-5 upsampling), largest near the end,
            # where the chirp stops abruptly at its highest frequency and
            # the two filters' transients differ.
            self.assertAllClose(
                y[edge:-edge], expected[edge:-edge], atol=3e-4, rtol=0
            )

    def test_blocks_give_the_whole_signal(self):
        rng = np.random.default_rng(1)
        x = rng.uniform(-1, 1, 30011).astype("float32")
        for rate, target in RATIOS:
            whole = resample(x, rate, target).numpy()
            for sizes in ((30011,), (1, 2, 3, 5000, 7), (4096,) * 7):
                stream = ResampleStream(rate, target)
                # The last block takes what the sizes leave.
                pieces = np.split(x, np.cumsum(sizes)[:-1])
                blocks = [
                    stream.resample_chunk(p, last=i == len(pieces) - 1)
                    for i, p in enumerate(pieces)
                ]
                streamed = np.concatenate(blocks)
                self.assertEqual(streamed.shape, whole.shape)
                # The same filter on the same samples; only the shapes of
                # the matrix products differ (float32 rounding, measured
                # 0, bit-identical, on this machine).
                self.assertAllClose(
                    streamed, whole, atol=1e-6, rtol=0, msg=f"{rate} {sizes}"
                )

    def test_in_a_graph_with_the_rate_as_a_tensor(self):
        x = np.random.default_rng(2).normal(size=5000).astype("float32")

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([], tf.int32),
            ]
        )
        def graph(x, rate):
            return resample(x, rate, 16000)

        for rate in (44100, 22050, 8000):
            self.assertAllClose(
                graph(x, rate), resample(x, rate, 16000), atol=1e-6, rtol=0
            )

    def test_tflite_builtins_run_it_at_a_rate_given_at_run_time(self):
        from ai_edge_litert.interpreter import Interpreter

        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.float32, name="x"),
                tf.TensorSpec([], tf.int32, name="rate"),
            ]
        )
        def graph(x, rate):
            return {"y": resample(x, rate, 16000)}

        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [graph.get_concrete_function()], graph
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        interpreter = Interpreter(model_content=converter.convert())
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        self.assertFalse([op for op in ops if op.startswith("Flex")])
        inputs = {
            d["name"]: d["index"] for d in interpreter.get_input_details()
        }
        output = interpreter.get_output_details()[0]["index"]
        x = np.random.default_rng(3).uniform(-1, 1, 20000).astype("float32")
        for rate in (44100, 48000, 8000):
            interpreter.resize_tensor_input(inputs["x"], [len(x)])
            interpreter.allocate_tensors()
            interpreter.set_tensor(inputs["x"], x)
            interpreter.set_tensor(inputs["rate"], np.array(rate, np.int32))
            interpreter.invoke()
            # TFLite (XNNPACK) vs TF kernels: float32 rounding (measured
            # 3.6e-6).
            self.assertAllClose(
                interpreter.get_tensor(output),
                resample(x, rate, 16000),
                atol=2e-5,
                rtol=0,
            )

    def test_equal_rates_and_short_signals(self):
        x = np.arange(5, dtype="float32")
        self.assertAllEqual(resample(x, 16000, 16000), x)
        # One sample still gives one sample; three samples at 48 kHz give
        # one at 16 kHz, as the whole-signal formula says.
        self.assertEqual(resample(x[:1], 44100, 16000).shape, (1,))
        self.assertEqual(resample(x[:3], 48000, 16000).shape, (1,))
        stream = ResampleStream(48000, 16000)
        self.assertEqual(stream.resample_chunk(x[:3], last=True).shape, (1,))

    def test_errors_name_the_argument(self):
        with pytest.raises(ValueError, match="`rate` must be a positive"):
            ResampleStream(0, 16000)
        with pytest.raises(ValueError, match="`target_rate` must be a"):
            ResampleStream(44100, 16000.5)
        stream = ResampleStream(44100, 16000)
        stream.resample_chunk(np.zeros(10, "float32"), last=True)
        with pytest.raises(ValueError, match="given its last block"):
            stream.resample_chunk(np.zeros(10, "float32"))
        with pytest.raises(tf.errors.InvalidArgumentError, match="too fine"):
            resample(np.zeros(100, "float32"), tf.constant(44101), 48000)
        with pytest.raises(tf.errors.InvalidArgumentError, match="positive"):
            resample(np.zeros(100, "float32"), tf.constant(0), 16000)
