import math

import numpy as np
import pytest

from keras_music.models.swin.swin_layers import DropPath
from keras_music.models.swin.swin_layers import SwinPatchEmbedding
from keras_music.models.swin.swin_layers import SwinPatchMerging
from keras_music.models.swin.swin_layers import SwinTransformerBlock
from keras_music.models.swin.swin_layers import SwinWindowAttention
from tests.test_case import TestCase


def _layer_norm(x, gamma, beta, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def _region(i, size, w, s):
    """Region of row/column `i` of the padded grid after the roll."""
    if i < size - w:
        return 0
    if i < size - s:
        return 1
    return 2


def _numpy_block(x, p, heads, w, s):
    """One Swin block from the paper's formulas, window by window."""
    batch, height, width, dim = x.shape
    hd = dim // heads
    y = _layer_norm(x, p["norm1_g"], p["norm1_b"])
    hp, wp = -(-height // w) * w, -(-width // w) * w
    y = np.pad(y, [(0, 0), (0, hp - height), (0, wp - width), (0, 0)])
    y = np.roll(y, (-s, -s), axis=(1, 2))
    out = np.zeros_like(y)
    positions = [(r, c) for r in range(w) for c in range(w)]
    for a in range(hp // w):
        for b in range(wp // w):
            tokens = y[:, a * w : (a + 1) * w, b * w : (b + 1) * w]
            tokens = tokens.reshape(batch, w * w, dim)
            qkv = tokens @ p["qkv_k"] + p["qkv_b"]
            q, k, v = (
                qkv[..., :dim],
                qkv[..., dim : 2 * dim],
                qkv[..., 2 * dim :],
            )
            labels = [
                3 * _region(a * w + r, hp, w, s) + _region(b * w + c, wp, w, s)
                if s
                else 0
                for r, c in positions
            ]
            result = np.zeros_like(tokens)
            for h in range(heads):
                part = slice(h * hd, (h + 1) * hd)
                logits = q[..., part] @ k[..., part].transpose(0, 2, 1)
                logits = logits / math.sqrt(hd)
                for i, (ri, ci) in enumerate(positions):
                    for j, (rj, cj) in enumerate(positions):
                        idx = (ri - rj + w - 1) * (2 * w - 1) + (
                            ci - cj + w - 1
                        )
                        logits[:, i, j] += p["table"][idx, h]
                        if labels[i] != labels[j]:
                            logits[:, i, j] -= 100.0
                logits -= logits.max(-1, keepdims=True)
                attn = np.exp(logits)
                attn /= attn.sum(-1, keepdims=True)
                result[..., part] = attn @ v[..., part]
            result = result @ p["proj_k"] + p["proj_b"]
            out[:, a * w : (a + 1) * w, b * w : (b + 1) * w] = result.reshape(
                batch, w, w, dim
            )
    out = np.roll(out, (s, s), axis=(1, 2))[:, :height, :width]
    x = x + out
    hidden = _gelu(
        _layer_norm(x, p["norm2_g"], p["norm2_b"]) @ p["fc1_k"] + p["fc1_b"]
    )
    return x + hidden @ p["fc2_k"] + p["fc2_b"]


def _randomise(layer, seed=0):
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        v.assign(rng.normal(scale=0.5, size=v.shape).astype("float32"))


class SwinTransformerBlockTest(TestCase):
    def test_shifted_block_matches_numpy_reference(self):
        # 6 x 10 grid, window 4, shift 2: padded to 8 x 12, 6 windows, the
        # shift mask splits the bottom/right windows into regions.
        block = SwinTransformerBlock(
            dim=8, num_heads=2, window_size=4, shift_size=2
        )
        x = np.random.default_rng(1).normal(size=(2, 6, 10, 8))
        x = x.astype("float32")
        block.build(x.shape)
        _randomise(block)
        names = {
            "norm1/gamma": "norm1_g",
            "norm1/beta": "norm1_b",
            "attn/relative_position_bias_table": "table",
            "attn/qkv/kernel": "qkv_k",
            "attn/qkv/bias": "qkv_b",
            "attn/proj/kernel": "proj_k",
            "attn/proj/bias": "proj_b",
            "norm2/gamma": "norm2_g",
            "norm2/beta": "norm2_b",
            "fc1/kernel": "fc1_k",
            "fc1/bias": "fc1_b",
            "fc2/kernel": "fc2_k",
            "fc2/bias": "fc2_b",
        }
        params = {}
        for v in block.weights:
            key = v.path.split("/", 1)[1]
            params[names[key]] = np.array(v, dtype="float64")
        expected = _numpy_block(x.astype("float64"), params, 2, 4, 2)
        actual = block(x)
        # float32 vs float64 through two LayerNorms, softmax and GELU.
        self.assertAllClose(actual, expected, atol=1e-5, rtol=1e-5)
        # The shift and mask matter: the unshifted reference differs.
        unshifted = _numpy_block(x.astype("float64"), params, 2, 4, 0)
        self.assertGreater(np.abs(unshifted - expected).max(), 1e-2)

    def test_layer(self):
        self.run_layer_test(
            SwinTransformerBlock,
            {
                "dim": 8,
                "num_heads": 2,
                "window_size": 4,
                "shift_size": 2,
                "mlp_ratio": 2.0,
                "qkv_bias": False,
                "drop_path_rate": 0.2,
                "layer_norm_epsilon": 1e-6,
            },
            np.random.rand(2, 5, 7, 8).astype("float32"),
            expected_output_shape=(2, 5, 7, 8),
            expected_num_trainable_weights=12,
        )

    def test_errors(self):
        with pytest.raises(ValueError, match="shift_size=4"):
            SwinTransformerBlock(8, 2, window_size=4, shift_size=4)
        with pytest.raises(ValueError, match="static height and width"):
            SwinTransformerBlock(8, 2, 4).build((None, None, 8, 8))
        with pytest.raises(ValueError, match="dim=8, num_heads=3"):
            SwinWindowAttention(dim=8, num_heads=3)
        with pytest.raises(ValueError, match="drop_path_rate=1.5"):
            SwinTransformerBlock(8, 2, 4, drop_path_rate=1.5)


class SwinPatchMergingTest(TestCase):
    def test_matches_numpy(self):
        layer = SwinPatchMerging(dim=3)
        x = np.random.default_rng(0).normal(size=(2, 5, 4, 3))
        x = x.astype("float32")
        layer.build(x.shape)
        _randomise(layer)
        gamma, beta, kernel = (np.array(v, "float64") for v in layer.weights)
        padded = np.pad(x, [(0, 0), (0, 1), (0, 0), (0, 0)])
        expected = np.zeros((2, 3, 2, 12))
        for r in range(3):
            for c in range(2):
                # Reference order: (even, even), (odd, even), (even, odd),
                # (odd, odd) rows/columns of each 2 x 2 group.
                expected[:, r, c] = np.concatenate(
                    [
                        padded[:, 2 * r, 2 * c],
                        padded[:, 2 * r + 1, 2 * c],
                        padded[:, 2 * r, 2 * c + 1],
                        padded[:, 2 * r + 1, 2 * c + 1],
                    ],
                    axis=-1,
                )
        expected = _layer_norm(expected, gamma, beta) @ kernel
        # float32 LayerNorm vs float64.
        self.assertAllClose(layer(x), expected, atol=1e-5, rtol=1e-5)

    def test_layer(self):
        self.run_layer_test(
            SwinPatchMerging,
            {"dim": 4, "layer_norm_epsilon": 1e-6},
            np.random.rand(2, 5, 6, 4).astype("float32"),
            expected_output_shape=(2, 3, 3, 8),
            expected_num_trainable_weights=3,
        )


class SwinPatchEmbeddingTest(TestCase):
    def test_layer_pads_to_patches(self):
        self.run_layer_test(
            SwinPatchEmbedding,
            {"embed_dim": 8, "patch_size": 4, "layer_norm_epsilon": 1e-6},
            np.random.rand(2, 10, 13, 1).astype("float32"),
            expected_output_shape=(2, 3, 4, 8),
            expected_num_trainable_weights=4,
        )

    def test_matches_numpy(self):
        layer = SwinPatchEmbedding(embed_dim=4, patch_size=2)
        x = np.random.default_rng(0).normal(size=(1, 3, 4, 1))
        x = x.astype("float32")
        out = np.array(layer(x))
        kernel, bias, gamma, beta = (np.array(v) for v in layer.weights)
        padded = np.pad(x, [(0, 0), (0, 1), (0, 0), (0, 0)])
        patches = padded.reshape(1, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4)
        proj = patches.reshape(1, 2, 2, 4) @ kernel.reshape(4, 4) + bias
        # float32 rounding in the convolution and LayerNorm.
        self.assertAllClose(out, _layer_norm(proj, gamma, beta), atol=1e-5)


class DropPathTest(TestCase):
    def test_drops_whole_examples(self):
        layer = DropPath(rate=0.5, seed=1)
        x = np.ones((2000, 3, 4), "float32")
        y = np.array(layer(x, training=True))
        per_example = y.reshape(2000, -1)
        # Each example is all 0 or all 1 / (1 - rate) = 2.
        self.assertTrue(
            np.all((per_example == 0).all(1) | (per_example == 2).all(1))
        )
        # Binomial(2000, 0.5): 5 standard deviations is +-0.056.
        self.assertAllClose(per_example[:, 0].mean(), 1.0, atol=0.06)
        self.assertAllEqual(layer(x, training=False), x)

    def test_layer(self):
        self.run_layer_test(
            DropPath,
            {"rate": 0.3, "seed": 2},
            np.random.rand(2, 4).astype("float32"),
            expected_output_shape=(2, 4),
            expected_num_trainable_weights=0,
        )

    def test_errors(self):
        with pytest.raises(ValueError, match="rate=1.0"):
            DropPath(1.0)
        with pytest.raises(ValueError, match="rate=-0.1"):
            DropPath(-0.1)
