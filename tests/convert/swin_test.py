import numpy as np
import pytest

from keras_music.convert.interpolate import torch_bicubic_resize_axis
from keras_music.convert.swin import load_swin_state_dict
from keras_music.convert.swin import resize_relative_position_bias_table
from keras_music.convert.swin import swin_state_dict
from keras_music.models.swin.swin_backbone import SwinBackbone
from tests.test_case import TestCase


def _tiny(**kwargs):
    return SwinBackbone.from_preset("swin_test_tiny", **kwargs)


class SwinConvertTest(TestCase):
    def test_official_names(self):
        state = swin_state_dict(_tiny())
        for name, shape in {
            "patch_embed.proj.weight": (16, 1, 4, 4),
            "patch_embed.norm.weight": (16,),
            "layers.0.blocks.1.attn.qkv.weight": (48, 16),
            "layers.0.blocks.1.attn.relative_position_bias_table": (49, 1),
            "layers.1.blocks.0.mlp.fc1.weight": (128, 32),
            "layers.1.blocks.1.norm2.bias": (32,),
            "layers.0.downsample.reduction.weight": (32, 64),
            "layers.0.downsample.norm.weight": (64,),
            "norm.weight": (32,),
        }.items():
            self.assertEqual(state[name].shape, shape, name)
        self.assertEqual(len(state), len(_tiny().weights))

    def test_round_trip_gives_equal_outputs(self):
        source = _tiny()
        x = np.random.default_rng(0).normal(size=(2, 32, 40))
        x = x.astype("float32")
        state = swin_state_dict(source)
        # Torch checkpoints also hold buffers and a classifier: skipped.
        state["layers.0.blocks.1.attn.attn_mask"] = np.zeros((6, 16, 16))
        state["layers.0.blocks.0.attn.relative_position_index"] = np.zeros(
            (16, 16)
        )
        state["head.weight"] = np.zeros((10, 32))
        target = _tiny()
        skipped = load_swin_state_dict(target, state)
        self.assertEqual(len(skipped), 3)
        # Same weights, same graph: equal outputs to float32 rounding.
        self.assertAllClose(target(x), source(x), atol=1e-6)

    def test_rgb_patch_weights_summed(self):
        source = _tiny()
        state = swin_state_dict(source)
        rgb = np.random.default_rng(1).normal(size=(16, 3, 4, 4))
        state["patch_embed.proj.weight"] = rgb.astype("float32")
        target = _tiny()
        load_swin_state_dict(target, state)
        kernel = np.array(target.get_layer("patch_embedding").weights[0])
        expected = rgb.sum(axis=1).transpose(1, 2, 0)[:, :, None, :]
        self.assertAllClose(kernel, expected, atol=1e-6)

    def test_window_7_checkpoint_into_window_8(self):
        # Stage 1 of a 64 x 64 input is 16 x 16 (windows 7 vs 8), stage 2
        # 8 x 8 (clamped to 8 vs 7 and 8).
        source = _tiny(input_size=(64, 64), window_size=7)
        state = swin_state_dict(source)
        table = "layers.0.blocks.0.attn.relative_position_bias_table"
        self.assertEqual(state[table].shape, (169, 1))
        target = _tiny(input_size=(64, 64), window_size=8)
        load_swin_state_dict(target, state)
        resized = target.get_layer("stage_0_block_0").attn
        resized = np.array(resized.relative_position_bias_table)
        self.assertEqual(resized.shape, (225, 1))
        self.assertAllClose(
            resized, resize_relative_position_bias_table(state[table], 8)
        )

    def test_bicubic_resize(self):
        rng = np.random.default_rng(0)
        table = rng.normal(size=(169, 3))
        out = resize_relative_position_bias_table(table, 8)
        self.assertEqual(out.shape, (225, 3))
        grid, new = table.reshape(13, 13, 3), out.reshape(15, 15, 3)
        # 13 -> 15 with half-pixel centres: output 7 samples input 6
        # exactly, so the zero-offset bias is kept (float32 rounding).
        self.assertAllClose(new[7, 7], grid[6, 6], atol=1e-6)
        # The kernel's weights sum to 1: constants stay constant.
        self.assertAllClose(
            resize_relative_position_bias_table(np.full((169, 2), 0.3), 8),
            np.full((225, 2), 0.3),
            atol=1e-6,
        )
        # Halving 4 samples puts the outputs half way between samples
        # (source 0.5 and 2.5): torch's a = -0.75 kernel there weighs
        # the neighbours 0.59375 (near) and -0.09375 (far).
        deltas = np.eye(4)
        halved = torch_bicubic_resize_axis(deltas, 2, axis=0)
        self.assertAllClose(halved[:, 1], np.array([0.59375, -0.09375]))
        self.assertAllClose(halved[:, 2], np.array([-0.09375, 0.59375]))
        # Keys' a = -0.5 kernel reproduces straight lines away from the
        # repeated edges: checks the half-pixel source positions.
        rows = np.arange(13.0)
        line = torch_bicubic_resize_axis(rows, 15, axis=0, a=-0.5)
        source = (np.arange(15) + 0.5) * 13 / 15 - 0.5
        self.assertAllClose(line[2:-2], source[2:-2], atol=1e-12)
        # Unchanged window: unchanged table.
        self.assertAllClose(
            resize_relative_position_bias_table(table, 7), table, atol=1e-6
        )

    def test_errors_list_every_problem(self):
        state = swin_state_dict(_tiny())
        del state["norm.weight"]
        state["layers.9.blocks.0.norm1.weight"] = np.zeros(16)
        state["layers.0.blocks.0.mlp.fc1.weight"] = np.zeros((3, 3))
        with pytest.raises(ValueError, match="missing keys") as error:
            load_swin_state_dict(_tiny(), state)
        message = str(error.value)
        self.assertIn("norm.weight", message)
        self.assertIn(
            "unknown keys: ['layers.9.blocks.0.norm1.weight']", message
        )
        self.assertIn(
            "layers.0.blocks.0.mlp.fc1.weight: checkpoint (3, 3)", message
        )
        with pytest.raises(ValueError, match="must be a SwinBackbone"):
            load_swin_state_dict(object(), state)
        with pytest.raises(ValueError, match="must be a SwinBackbone"):
            swin_state_dict(object())
        with pytest.raises(ValueError, match=r"table.shape=\(10, 2\)"):
            resize_relative_position_bias_table(np.zeros((10, 2)), 8)

    def test_prefix(self):
        source = _tiny()
        state = {
            "module.encoder_q." + k: v
            for k, v in swin_state_dict(source).items()
        }
        state["module.encoder_k.norm.weight"] = np.zeros(32)
        target = _tiny()
        load_swin_state_dict(target, state, prefix="module.encoder_q.")
        self.assertAllEqual(target.weights[-1], source.weights[-1])
