import keras
import numpy as np
import pytest

from keras_music.models.swin.swin_backbone import SwinBackbone
from tests.test_case import TestCase

TINY = {
    "input_size": (32, 40),
    "patch_size": 4,
    "embed_dim": 16,
    "depths": (2, 2),
    "num_heads": (1, 2),
    "window_size": 4,
    "mlp_ratio": 4.0,
    "qkv_bias": True,
    "drop_path_rate": 0.1,
    "layer_norm_epsilon": 1e-5,
}


def _swin_parameters(embed, depths, heads, window, channels, patch=4):
    """Parameter count of the reference layout, from its tensor shapes."""
    count = patch * patch * channels * embed + embed + 2 * embed
    for i, (depth, h) in enumerate(zip(depths, heads)):
        c = embed * 2**i
        block = (
            2 * c  # norm1
            + (2 * window - 1) ** 2 * h  # relative position bias table
            + 3 * c * c
            + 3 * c  # qkv
            + c * c
            + c  # proj
            + 2 * c  # norm2
            + 4 * c * c
            + 4 * c  # fc1
            + 4 * c * c
            + c  # fc2
        )
        count += depth * block
        if i < len(depths) - 1:
            count += 2 * 4 * c + 4 * c * 2 * c  # merging norm, reduction
    return count + 2 * embed * 2 ** (len(depths) - 1)  # final norm


def _spectrogram(batch=2, size=(32, 40), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch,) + size).astype("float32")


class SwinBackboneTest(TestCase):
    def test_swin_tiny_parameter_count(self):
        backbone = SwinBackbone.from_preset("swin_tiny")
        ours = backbone.count_params()
        self.assertEqual(ours, 27_524_010)
        self.assertEqual(
            ours, _swin_parameters(96, (2, 2, 6, 2), (3, 6, 12, 24), 8, 1)
        )
        # The paper's 28.3 M: three input channels and a 1000-class head.
        reference = _swin_parameters(96, (2, 2, 6, 2), (3, 6, 12, 24), 8, 3)
        reference += 768 * 1000 + 1000
        self.assertEqual(reference, ours + 2 * 96 * 16 + 769_000)
        self.assertEqual(round(reference / 1e6, 1), 28.3)
        # Swin-T at 224 / window 7 is the well-known 28,288,354.
        self.assertEqual(
            _swin_parameters(96, (2, 2, 6, 2), (3, 6, 12, 24), 7, 3) + 769_000,
            28_288_354,
        )
        self.assertEqual(backbone.output_dim, 768)
        self.assertEqual(
            backbone.stage_grids, [(64, 64), (32, 32), (16, 16), (8, 8)]
        )
        # Stage 4 (8 x 8, no larger than the window) does not shift.
        shifts = [blocks[1].shift_size for blocks in backbone.stage_blocks]
        self.assertEqual(shifts, [4, 4, 4, 0])
        rates = [b.drop_path_rate for s in backbone.stage_blocks for b in s]
        self.assertAllClose(np.array(rates), np.linspace(0.0, 0.1, 12))

    def test_swin_mini_fills_its_windows(self):
        # The recipe's CPU demo model: 168 x 168 (84 bins folded twice)
        # gives grids 42 x 42 and 21 x 21, whole windows of 7, shifted.
        backbone = SwinBackbone.from_preset("swin_mini")
        self.assertEqual(
            backbone.count_params(), _swin_parameters(32, (2, 2), (2, 4), 7, 1)
        )
        self.assertEqual(backbone.stage_grids, [(42, 42), (21, 21)])
        for blocks, grid in zip(backbone.stage_blocks, backbone.stage_grids):
            self.assertEqual([b.window_size for b in blocks], [7, 7])
            self.assertEqual([b.shift_size for b in blocks], [0, 3])
            # No padding: the grid is a whole number of windows.
            self.assertEqual([b.padded_size for b in blocks], [grid, grid])
        self.assertEqual(backbone.output_dim, 64)

    def test_outputs_and_stages(self):
        backbone = SwinBackbone(**TINY)
        x = _spectrogram()
        self.assertEqual(tuple(backbone(x).shape), (2, 32))
        # A trailing channel axis of 1 is accepted.
        self.assertAllClose(backbone(x[..., None]), backbone(x), atol=0)
        self.assertEqual(backbone.stage_grids, [(8, 10), (4, 5)])
        windows = [
            (b.window_size, b.shift_size)
            for blocks in backbone.stage_blocks
            for b in blocks
        ]
        # Stage 2 (4 x 5): window clamped to 4, no shift.
        self.assertEqual(windows, [(4, 0), (4, 2), (4, 0), (4, 0)])
        probe = keras.Model(backbone.input, backbone.stage_outputs)
        stages = probe(x)
        self.assertEqual(tuple(stages["stage_1"].shape), (2, 8, 10, 16))
        self.assertEqual(tuple(stages["stage_2"].shape), (2, 4, 5, 32))
        # The pooled output is the mean of the normalised last stage
        # (float32 rounding).
        norm = backbone.get_layer("final_norm")
        pooled = np.array(norm(stages["stage_2"])).mean(axis=(1, 2))
        self.assertAllClose(backbone(x), pooled, atol=1e-5)

    def test_small_window_clamp(self):
        # 16 x 64 input: grids 4 x 16 and 2 x 8, whose short sides are no
        # larger than window 4: windows 4 and 2, no shifts.
        backbone = SwinBackbone(**{**TINY, "input_size": (16, 64)})
        windows = [
            (b.window_size, b.shift_size)
            for blocks in backbone.stage_blocks
            for b in blocks
        ]
        self.assertEqual(windows, [(4, 0), (4, 0), (2, 0), (2, 0)])
        output = backbone(_spectrogram(1, (16, 64)))
        self.assertEqual(tuple(output.shape), (1, 32))

    def test_weights_in_stage_order(self):
        # The order of `weights` (what `get_weights` / `set_weights` and
        # checkpoints by position rely on): the patch embedding, then each
        # stage's blocks followed by its merging, then the final norm.
        backbone = SwinBackbone(
            **{**TINY, "depths": (2, 1, 1), "num_heads": (1, 2, 4)}
        )
        layers = []
        for weight in backbone.weights:
            layer = weight.path.split("/")[0]
            if not layers or layers[-1] != layer:
                layers.append(layer)
        self.assertEqual(
            layers,
            [
                "patch_embedding",
                "stage_0_block_0",
                "stage_0_block_1",
                "stage_0_merging",
                "stage_1_block_0",
                "stage_1_merging",
                "stage_2_block_0",
                "final_norm",
            ],
        )
        self.assertEqual(backbone.stage_grids, [(8, 10), (4, 5), (2, 3)])

    def test_training_changes_with_drop_path(self):
        backbone = SwinBackbone(**{**TINY, "drop_path_rate": 0.5})
        x = _spectrogram()
        self.assertAllClose(
            backbone(x, training=False), backbone(x, training=False), atol=0
        )
        self.assertFalse(np.allclose(backbone(x, training=True), backbone(x)))

    def test_serialization_saving_export(self):
        backbone = SwinBackbone(**TINY)
        self.run_serialization_test(backbone, TINY)
        x = _spectrogram()
        self.run_model_saving_test(backbone, x, atol=1e-6)
        # SavedModel graph vs eager: op fusion changes rounding.
        self.run_export_test(backbone, x, atol=1e-5)

    def test_mixed_precision(self):
        backbone = SwinBackbone(**TINY, dtype="mixed_bfloat16")
        output = backbone(_spectrogram())
        self.assertEqual(
            keras.backend.standardize_dtype(output.dtype), "bfloat16"
        )
        for weight in backbone.weights:
            self.assertEqual(weight.dtype, "float32")

    @pytest.mark.large
    def test_fit(self):
        backbone = SwinBackbone(**TINY)
        inputs = keras.Input((32, 40))
        model = keras.Model(inputs, keras.layers.Dense(3)(backbone(inputs)))
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        before = [np.array(w) for w in backbone.trainable_weights]
        model.fit(_spectrogram(), np.zeros((2, 3)), verbose=0)
        moved = [
            not np.array_equal(b, np.array(w))
            for b, w in zip(before, backbone.trainable_weights)
        ]
        self.assertTrue(all(moved))

    def test_errors(self):
        for kwargs, match in (
            ({"input_size": (32,)}, r"input_size=\(32,\)"),
            ({"input_size": (32, 0)}, r"input_size=\(32, 0\)"),
            ({"depths": (2, 2, 2)}, "one value per stage"),
            ({"num_heads": (3, 2)}, r"num_heads=\(3, 2\)"),
            ({"patch_size": 0}, "patch_size=0"),
            ({"window_size": 0}, "window_size=0"),
            ({"drop_path_rate": 1.0}, "drop_path_rate=1.0"),
            ({"mlp_ratio": -1}, "mlp_ratio=-1"),
        ):
            with pytest.raises(ValueError, match=match):
                SwinBackbone(**{**TINY, **kwargs})
        with pytest.raises(ValueError, match="Unknown Swin preset"):
            SwinBackbone.from_preset("swin_huge")


class SwinBackboneSharedTest(TestCase):
    def test_shared_backbone_checks(self):
        self.run_backbone_test(
            SwinBackbone,
            TINY,
            np.random.rand(2, 32, 40).astype("float32"),
            expected_output_shape=(2, 32),
        )
