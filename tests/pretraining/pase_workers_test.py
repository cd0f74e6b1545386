import keras
import numpy as np
import pytest

from keras_music.pretraining.pase_workers import WORKER_LOSSES
from keras_music.pretraining.pase_workers import PASEWorkers
from keras_music.pretraining.pase_workers import parse_workers
from tests.test_case import TestCase

TINY = {
    "workers": ["waveform", "mfcc", "chroma"],
    "target_dims": {"mfcc": 5, "chroma": 12},
    "hidden_dim": 8,
    "decoder_filters": [4, 3],
    "decoder_strides": [4, 5],
}


def _numpy(x):
    return keras.ops.convert_to_numpy(x).astype("float64")


def _prelu(x, alpha):
    return np.where(x >= 0, x, alpha * x)


def numpy_frame_mlp(head, frames):
    """1x1 conv -> per-channel PReLU -> 1x1 conv, from the formula."""
    conv_1, prelu, conv_2 = head.layers
    hidden = frames @ _numpy(conv_1.kernel)[0] + _numpy(conv_1.bias)
    hidden = _prelu(hidden, _numpy(prelu.alpha)[0])
    return hidden @ _numpy(conv_2.kernel)[0] + _numpy(conv_2.bias)


def numpy_transposed_conv(x, kernel, bias, stride):
    """Transposed conv, kernel `2 * stride`, "same": each input frame adds
    `kernel` at offset `t * stride` of the full output, whose first
    `(kernel - stride) // 2` samples "same" padding crops."""
    batch, length, _ = x.shape
    size = kernel.shape[0]
    full = np.zeros((batch, (length - 1) * stride + size, kernel.shape[1]))
    for t in range(length):
        full[:, t * stride : t * stride + size] += np.einsum(
            "bi,koi->bko", x[:, t], kernel
        )
    start = (size - stride) // 2
    return full[:, start : start + length * stride] + bias


def numpy_waveform_decoder(head, frames):
    x = frames
    layers = list(head.layers)
    for conv, prelu in zip(layers[:-1:2], layers[1:-1:2]):
        x = numpy_transposed_conv(
            x, _numpy(conv.kernel), _numpy(conv.bias), conv.strides[0]
        )
        x = _prelu(x, _numpy(prelu.alpha)[0])
    final = layers[-1]
    return (x @ _numpy(final.kernel)[0] + _numpy(final.bias))[..., 0]


def numpy_workers(heads, frames):
    """The workers' outputs computed in NumPy from `heads`' weights."""
    outputs = {}
    for name, head in heads.heads.items():
        if name == "waveform":
            outputs[name] = numpy_waveform_decoder(head, frames)
        else:
            outputs[name] = numpy_frame_mlp(head, frames)
    return outputs


def randomize_prelu(layer, seed=0):
    # PReLU starts at alpha 0 (a ReLU); random slopes make the reference
    # check the negative branch too.
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        if "alpha" in weight.path:
            weight.assign(rng.uniform(0.1, 0.5, weight.shape))


class PASEWorkersTest(TestCase):
    def test_layer(self):
        frames = np.random.default_rng(0).normal(size=(2, 3, 16))
        self.run_layer_test(
            PASEWorkers,
            TINY,
            frames.astype("float32"),
            expected_output_shape={
                "waveform": (2, 3 * 20),
                "mfcc": (2, 3, 5),
                "chroma": (2, 3, 12),
            },
            # Per MLP: two convs (kernel, bias) + PReLU alpha; decoder: two
            # (transposed conv kernel, bias, PReLU alpha) + a final conv.
            expected_num_trainable_weights=2 * 5 + 2 * 3 + 2,
            expected_num_non_trainable_weights=0,
        )

    def test_outputs_match_numpy(self):
        heads = PASEWorkers(**TINY)
        frames = np.random.default_rng(1).normal(size=(3, 4, 16))
        heads.build(frames.shape)
        randomize_prelu(heads)
        outputs = heads(frames.astype("float32"))
        expected = numpy_workers(heads, frames)
        self.assertEqual(sorted(outputs), sorted(expected))
        for name in expected:
            # float32 matmuls of O(1) values, depth <= 3 layers.
            self.assertAllClose(
                outputs[name], expected[name], atol=1e-5, rtol=1e-5
            )

    def test_default_decoder_upsamples_to_16khz(self):
        heads = PASEWorkers("W,L", target_dims={"lps": 1025})
        self.assertEqual(heads.hop_length, 160)
        frames = np.zeros((1, 7, 32), dtype="float32")
        outputs = heads(frames)
        self.assertEqual(tuple(outputs["waveform"].shape), (1, 7 * 160))
        self.assertEqual(tuple(outputs["lps"].shape), (1, 7, 1025))
        self.assertEqual(heads.heads["lps"].layers[0].filters, 256)

    def test_symbolic_unknown_frames(self):
        heads = PASEWorkers(**TINY)
        inputs = keras.Input((None, 16))
        outputs = heads(inputs)
        self.assertEqual(tuple(outputs["waveform"].shape), (None, None))
        self.assertEqual(tuple(outputs["chroma"].shape), (None, None, 12))

    def test_parse_workers(self):
        self.assertEqual(
            parse_workers("W,L,P,M,C,T"),
            ("waveform", "lps", "prosody", "mfcc", "chroma", "tempogram"),
        )
        self.assertEqual(
            parse_workers(["t", " MFCC ", "Waveform"]),
            ("tempogram", "mfcc", "waveform"),
        )
        self.assertEqual(WORKER_LOSSES["waveform"], "mae")
        self.assertEqual(WORKER_LOSSES["lps"], "mse")

    def test_worker_errors(self):
        with pytest.raises(ValueError, match="Unknown worker 'X'"):
            parse_workers("W,X")
        with pytest.raises(ValueError, match="Unknown worker 'spectrum'"):
            PASEWorkers(["lps", "spectrum"], target_dims={"lps": 3})
        with pytest.raises(ValueError, match="Worker 'lps' is given twice"):
            parse_workers("L,lps")
        with pytest.raises(ValueError, match="at least one worker"):
            parse_workers("")
        with pytest.raises(ValueError, match="sequence of worker names"):
            parse_workers(3)

    def test_target_dims_errors(self):
        with pytest.raises(ValueError, match="Worker 'mfcc' needs its"):
            PASEWorkers("W,M,C", target_dims={"chroma": 12})
        with pytest.raises(ValueError, match="target_dims` of worker 'mfcc'"):
            PASEWorkers("M", target_dims={"mfcc": 0})
        with pytest.raises(ValueError, match="unknown worker 'pitch'"):
            PASEWorkers("M", target_dims={"mfcc": 3, "pitch": 2})
        with pytest.raises(ValueError, match="must be a dict"):
            PASEWorkers("M", target_dims=[20])

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="hidden_dim=0"):
            PASEWorkers("W", hidden_dim=0)
        with pytest.raises(ValueError, match=r"decoder_strides=\[4, 0\]"):
            PASEWorkers("W", decoder_filters=[4, 4], decoder_strides=[4, 0])
        with pytest.raises(ValueError, match="decoder_filters=5"):
            PASEWorkers("W", decoder_filters=5)
        with pytest.raises(ValueError, match="the same length"):
            PASEWorkers("W", decoder_filters=[4], decoder_strides=[4, 40])

    def test_input_rank_error(self):
        heads = PASEWorkers("W")
        with pytest.raises(ValueError, match=r"\(batch, frames, emb_dim\)"):
            heads(np.zeros((2, 16), dtype="float32"))
