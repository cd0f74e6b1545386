import os

import numpy as np
import pytest
from scipy.special import erf

from keras_music.convert.maest import load_maest_weights
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.test_case import TestCase

D, HEADS, MLP, LAYERS, TAGS = 32, 2, 64, 2, 5


def _reference_state_dict(rng, time_grid=6, rgb=False, deit=False):
    """Random weights under the reference names (REFERENCE.md §1)."""

    def r(*shape):
        return rng.normal(0, 0.2, shape).astype("float32")

    sd = {
        "patch_embed.proj.weight": r(D, 3 if rgb else 1, 16, 16) / 4,
        "patch_embed.proj.bias": r(D),
        "cls_token": r(1, 1, D),
        "dist_token": r(1, 1, D),
        "norm.weight": 1 + r(D),
        "norm.bias": r(D),
        "head.0.weight": 1 + r(D),
        "head.0.bias": r(D),
        "head.1.weight": r(TAGS, D),
        "head.1.bias": r(TAGS),
        "head_dist.weight": r(TAGS, D),
        "head_dist.bias": r(TAGS),
    }
    if deit:
        sd["pos_embed"] = r(1, 2 + 4 * 4, D)
    else:
        sd["new_pos_embed"] = r(1, 2, D)
        sd["freq_new_pos_embed"] = r(1, D, 9, 1)
        sd["time_new_pos_embed"] = r(1, D, 1, time_grid)
    for i in range(LAYERS):
        p = f"blocks.{i}."
        sd.update(
            {
                p + "norm1.weight": 1 + r(D),
                p + "norm1.bias": r(D),
                p + "attn.qkv.weight": r(3 * D, D),
                p + "attn.qkv.bias": r(3 * D),
                p + "attn.proj.weight": r(D, D),
                p + "attn.proj.bias": r(D),
                p + "norm2.weight": 1 + r(D),
                p + "norm2.bias": r(D),
                p + "mlp.fc1.weight": r(MLP, D),
                p + "mlp.fc1.bias": r(MLP),
                p + "mlp.fc2.weight": r(D, MLP),
                p + "mlp.fc2.bias": r(D),
            }
        )
    return sd


def _layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _numpy_forward(sd, x):
    """The PaSST/MAEST forward pass from the formulas, in float64."""
    sd = {k: v.astype("float64") for k, v in sd.items()}
    w = sd["patch_embed.proj.weight"].sum(1)  # (D, 16, 16), one channel
    rows, cols = 9, (x.shape[2] - 16) // 10 + 1
    grid = np.zeros((x.shape[0], D, rows, cols))  # torch layout B, D, F, T
    for f in range(rows):
        for t in range(cols):
            patch = x[:, f * 10 : f * 10 + 16, t * 10 : t * 10 + 16]
            grid[:, :, f, t] = np.einsum("bij,dij->bd", patch, w)
    grid += sd["patch_embed.proj.bias"][None, :, None, None]
    grid += sd["freq_new_pos_embed"]
    grid += sd["time_new_pos_embed"][:, :, :, :cols]
    tokens = grid.reshape(x.shape[0], D, rows * cols).transpose(0, 2, 1)
    cls = sd["cls_token"] + sd["new_pos_embed"][:, :1]
    dist = sd["dist_token"] + sd["new_pos_embed"][:, 1:]
    extra = np.concatenate([cls, dist], 1).repeat(x.shape[0], 0)
    h = np.concatenate([extra, tokens], 1)
    hd = D // HEADS
    for i in range(LAYERS):
        p = f"blocks.{i}."
        y = _layer_norm(h, sd[p + "norm1.weight"], sd[p + "norm1.bias"], 1e-6)
        qkv = y @ sd[p + "attn.qkv.weight"].T + sd[p + "attn.qkv.bias"]
        qkv = qkv.reshape(h.shape[0], h.shape[1], 3, HEADS, hd)
        q, k, v = qkv.transpose(2, 0, 3, 1, 4)
        a = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = (a @ v).transpose(0, 2, 1, 3).reshape(h.shape)
        h = h + o @ sd[p + "attn.proj.weight"].T + sd[p + "attn.proj.bias"]
        y = _layer_norm(h, sd[p + "norm2.weight"], sd[p + "norm2.bias"], 1e-6)
        y = y @ sd[p + "mlp.fc1.weight"].T + sd[p + "mlp.fc1.bias"]
        y = 0.5 * y * (1 + erf(y / np.sqrt(2)))
        h = h + y @ sd[p + "mlp.fc2.weight"].T + sd[p + "mlp.fc2.bias"]
    h = _layer_norm(h, sd["norm.weight"], sd["norm.bias"], 1e-6)
    feat = (h[:, 0] + h[:, 1]) / 2
    feat = _layer_norm(feat, sd["head.0.weight"], sd["head.0.bias"], 1e-5)
    logits = feat @ sd["head.1.weight"].T + sd["head.1.bias"]
    return h, 1 / (1 + np.exp(-logits))


def _tiny_tagger():
    backbone = MAESTBackbone.from_preset("maest_tiny")
    return MAESTTagger(backbone, num_tags=TAGS)


class LoadMAESTWeightsTest(TestCase):
    def test_forward_matches_numpy(self):
        rng = np.random.default_rng(0)
        sd = _reference_state_dict(rng)
        tagger = _tiny_tagger()
        report = load_maest_weights(tagger, sd)
        self.assertEqual(
            report["skipped"], ["head_dist.bias", "head_dist.weight"]
        )
        x = rng.normal(size=(2, 96, 66)).astype("float32")
        tokens, probs = _numpy_forward(sd, x.astype("float64"))
        # float32 against float64 through two blocks: measured ~1e-6.
        self.assertAllClose(tagger.backbone(x), tokens, atol=1e-5, rtol=0)
        self.assertAllClose(tagger(x), probs, atol=1e-5, rtol=0)
        # A shorter input uses the first time encodings, as in NumPy.
        tokens, _ = _numpy_forward(sd, x[:, :, :46].astype("float64"))
        self.assertAllClose(
            tagger.backbone(x[:, :, :46]), tokens, atol=1e-5, rtol=0
        )

    def test_torch_checkpoint_with_net_prefix(self):
        torch = pytest.importorskip("torch")
        rng = np.random.default_rng(3)
        sd = _reference_state_dict(rng)
        path = os.path.join(self.get_temp_dir(), "maest.ckpt")
        torch.save(
            {
                "state_dict": {
                    f"net.{k}": torch.from_numpy(v) for k, v in sd.items()
                },
                "epoch": 129,
            },
            path,
        )
        tagger = _tiny_tagger()
        load_maest_weights(tagger, path, prefix="net.")
        x = rng.normal(size=(2, 96, 66)).astype("float32")
        _, probs = _numpy_forward(sd, x.astype("float64"))
        # As test_forward_matches_numpy: float32 against float64.
        self.assertAllClose(tagger(x), probs, atol=1e-5, rtol=0)

    def test_rgb_kernel_summed_and_backbone_skips_head(self):
        rng = np.random.default_rng(1)
        sd = _reference_state_dict(rng, rgb=True)
        backbone = MAESTBackbone.from_preset("maest_tiny")
        report = load_maest_weights(backbone, sd)
        self.assertIn("head.1.weight", report["skipped"])
        x = rng.normal(size=(1, 96, 66)).astype("float32")
        tokens, _ = _numpy_forward(sd, x.astype("float64"))
        self.assertAllClose(backbone(x), tokens, atol=1e-5, rtol=0)

    def test_time_encoding_is_resized_bicubic(self):
        rng = np.random.default_rng(2)
        sd = _reference_state_dict(rng, time_grid=12)
        # A linear ramp stays a ramp under bicubic resizing (away from
        # the clamped borders), so the middle is checkable exactly.
        ramp = np.linspace(0, 1, 12, dtype="float32")
        sd["time_new_pos_embed"][:] = ramp[None, None, None, :]
        backbone = MAESTBackbone.from_preset("maest_tiny")
        report = load_maest_weights(backbone, sd)
        self.assertEqual(report["resized"], ["time_new_pos_embed"])
        time = np.array(backbone.patch_embedding.time_position)
        self.assertEqual(time.shape, (6, D))
        # Half-pixel centres: output t samples input 2t + 0.5.
        expected = (2 * np.arange(6) + 0.5) / 11
        # Keys cubic reproduces linear functions: float32 rounding only.
        self.assertAllClose(time[1:5, 0], expected[1:5], atol=1e-5)

    def test_deit_position_split(self):
        rng = np.random.default_rng(3)
        sd = _reference_state_dict(rng, deit=True)
        # A constant grid stays constant under bicubic resizing; the
        # official split (PaSST's adapt_image_pos_embed_to_passt) takes
        # the mean over time as the frequency encoding and the mean over
        # frequency as the time encoding, so each is that constant (their
        # sum counts it twice). Official numbers: tests/golden.
        c = rng.normal(size=D)
        sd["pos_embed"][0, 2:] = c
        backbone = MAESTBackbone.from_preset("maest_tiny")
        report = load_maest_weights(backbone, sd)
        self.assertEqual(report["resized"], ["pos_embed"])
        emb = backbone.patch_embedding
        self.assertAllClose(emb.freq_position, np.tile(c, (9, 1)), atol=1e-6)
        self.assertAllClose(emb.time_position, np.tile(c, (6, 1)), atol=1e-6)
        self.assertAllClose(emb.token_position, sd["pos_embed"][0, :2])

    def test_errors_list_every_problem(self):
        rng = np.random.default_rng(4)
        sd = _reference_state_dict(rng)
        sd["blocks.5.norm1.weight"] = np.ones(D, "float32")
        del sd["norm.bias"]
        sd["blocks.0.mlp.fc1.weight"] = np.ones((MLP + 1, D), "float32")
        tagger = _tiny_tagger()
        before = [np.array(w) for w in tagger.weights]
        with pytest.raises(ValueError) as info:
            load_maest_weights(tagger, sd)
        message = str(info.value)
        self.assertIn("unknown keys: ['blocks.5.norm1.weight']", message)
        self.assertIn("missing keys: ['norm.bias']", message)
        self.assertIn("blocks.0.mlp.fc1.weight", message)
        self.assertIn("(65, 32)", message)
        for b, w in zip(before, tagger.weights):
            self.assertAllEqual(w, b)  # nothing loaded

    def test_head_shape_and_load_head(self):
        rng = np.random.default_rng(5)
        sd = _reference_state_dict(rng)
        tagger = MAESTTagger(MAESTBackbone.from_preset("maest_tiny"), 7)
        with pytest.raises(ValueError, match="head.1.weight"):
            load_maest_weights(tagger, sd)
        report = load_maest_weights(tagger, sd, load_head=False)
        self.assertIn("head.0.weight", report["skipped"])

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="state_dict=list"):
            load_maest_weights(_tiny_tagger(), [1, 2])
        with pytest.raises(ValueError, match="model="):
            load_maest_weights(object(), {})
