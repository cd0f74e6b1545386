"""Swin against the official code (microsoft/Swin-Transformer).

Square (32 x 32) and non-square (32 x 64) inputs whose patch grids are
multiples of the window: the official model asserts such sizes. Our
backbone also takes grids that are not (it pads each stage's grid to a
multiple of the window and crops it back, see `SwinBackbone`); the
official code has no counterpart for those.

Tolerance 1e-4 absolute on stage outputs and pooled features of order 1.
"""

import keras

from keras_music.convert.swin import load_swin_state_dict
from keras_music.models.swin.swin_backbone import SwinBackbone
from tests.golden.golden import assert_matches
from tests.golden.golden import load_fixture
from tests.test_case import TestCase

ATOL = 1e-4


def converted(name, corrupt=None):
    state, arrays, meta = load_fixture(name)
    c = meta["constructor"]
    backbone = SwinBackbone(
        input_size=tuple(c["img_size"]),
        patch_size=c["patch_size"],
        embed_dim=c["embed_dim"],
        depths=tuple(c["depths"]),
        num_heads=tuple(c["num_heads"]),
        window_size=c["window_size"],
        mlp_ratio=c["mlp_ratio"],
        qkv_bias=c["qkv_bias"],
        drop_path_rate=c["drop_path_rate"],
    )
    if corrupt:
        state = dict(state)
        state[corrupt] = state[corrupt] + 1e-2
    skipped = load_swin_state_dict(backbone, state)
    return backbone, arrays, meta, skipped


class SwinGoldenTest(TestCase):
    def check(self, name):
        backbone, arrays, meta, skipped = converted(name)
        self.assertEqual(meta["repo"], "microsoft/Swin-Transformer")
        self.assertRegex(meta["commit"], "^[0-9a-f]{40}$")
        self.assertTrue(any(k.endswith("attn_mask") for k in skipped))
        x = arrays["input"]
        assert_matches(backbone(x), arrays["pooled"], ATOL, f"{name} pooled")
        stages = keras.Model(backbone.inputs, backbone.stage_outputs)(x)
        for key, value in stages.items():
            assert_matches(value, arrays[key], ATOL, f"{name} {key}")

    def test_square_input(self):
        self.check("swin_square")

    def test_non_square_input(self):
        self.check("swin_wide")

    def test_corrupted_tensor_fails(self):
        # Every entry of one bias moved by 0.01.
        key = "layers.0.blocks.1.mlp.fc2.bias"
        backbone, arrays, _, _ = converted("swin_wide", corrupt=key)
        stages = keras.Model(backbone.inputs, backbone.stage_outputs)
        with self.assertRaisesRegex(AssertionError, "stage_1: max abs"):
            assert_matches(
                stages(arrays["input"])["stage_1"],
                arrays["stage_1"],
                ATOL,
                "stage_1",
            )
