import keras
import numpy as np
import pytest

from keras_music.models.resnet.resnet_backbone import ResNetBackbone
from keras_music.models.resnet.resnet_presets import backbone_presets
from tests.test_case import TestCase

TINY = {
    "input_size": (33, 47),
    "stem_filters": 4,
    "stage_filters": (4, 8),
    "stage_blocks": (1, 2),
    "synchronized_batch_norm": False,
}


def _basic_resnet_parameters(stem, filters, blocks, in_channels=1):
    """torchvision's ResNet trunk (no fc) from He et al., Table 1.

    Returns (parameters, BatchNorm channels): bias-free convolutions plus
    BatchNorm gamma and beta, which is what `torch.nn.Module.parameters()`
    counts; Keras adds the moving mean and variance of each channel.
    """
    params = 7 * 7 * in_channels * stem + 2 * stem
    norm_channels = stem
    channels = stem
    for i, (width, depth) in enumerate(zip(filters, blocks)):
        for j in range(depth):
            params += 9 * channels * width + 2 * width
            params += 9 * width * width + 2 * width
            norm_channels += 2 * width
            if (i > 0 and j == 0) or channels != width:
                params += channels * width + 2 * width
                norm_channels += width
            channels = width
    return params, norm_channels


def _torch_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


class ResNetBackboneTest(TestCase):
    def test_resnet18_parameters_and_shape(self):
        backbone = ResNetBackbone.from_preset(
            "resnet18", input_size=(128, None)
        )
        params, norm_channels = _basic_resnet_parameters(
            64, (64, 128, 256, 512), (2, 2, 2, 2)
        )
        # torchvision's resnet18 has 11,689,512 parameters with RGB input
        # and the 1000-class fc (513,000); one input channel removes
        # 2 * 7 * 7 * 64 = 6,272 stem weights.
        self.assertEqual(params, 11_689_512 - 513_000 - 6_272)
        self.assertEqual(params, 11_170_240)
        trainable = sum(
            int(np.prod(w.shape)) for w in backbone.trainable_weights
        )
        self.assertEqual(trainable, params)
        self.assertEqual(backbone.count_params(), params + 2 * norm_channels)
        self.assertEqual(backbone.output_dim, 512)
        x = np.random.default_rng(0).normal(size=(1, 128, 40))
        self.assertEqual(tuple(backbone(x.astype("float32")).shape), (1, 512))

    def test_spatial_sizes_follow_torchvision_padding(self):
        backbone = ResNetBackbone(**TINY)
        # Stem: 7x7/2 pad 3, max pool 3x3/2 pad 1; stage 1: 3x3/2 pad 1.
        height, width = TINY["input_size"]
        sizes = []
        for size in (height, width):
            size = _torch_size(size, 7, 2, 3)
            size = _torch_size(size, 3, 2, 1)
            sizes.append(size)
        self.assertEqual(sizes, [9, 12])
        pooled = backbone.get_layer("stem_pool").output.shape
        self.assertEqual(tuple(pooled[1:3]), tuple(sizes))
        stage_1 = backbone.get_layer("stage_1_block_1_relu").output.shape
        self.assertEqual(
            tuple(stage_1[1:]),
            (_torch_size(9, 3, 2, 1), _torch_size(12, 3, 2, 1), 8),
        )

    def test_residual_structure(self):
        backbone = ResNetBackbone(**TINY)
        names = {layer.name for layer in backbone.layers}
        # Only where the shape changes (stage 1, block 0) is there a
        # projection shortcut; elsewhere the shortcut is the identity.
        shortcuts = sorted(n for n in names if n.endswith("shortcut_conv"))
        self.assertEqual(shortcuts, ["stage_1_block_0_shortcut_conv"])
        widened = ResNetBackbone(**{**TINY, "stem_filters": 2})
        self.assertIn(
            "stage_0_block_0_shortcut_conv",
            [layer.name for layer in widened.layers],
        )
        # With every residual branch zeroed (last BatchNorm gamma, beta =
        # 0) each block is relu(shortcut); stage 1's shortcut is then a
        # 1x1 strided conv of the stem output, which we recompute.
        for layer in backbone.layers:
            if layer.name.endswith("bn_2"):
                for w in layer.weights[:2]:
                    w.assign(np.zeros(w.shape, "float32"))
        x = np.random.default_rng(0).normal(size=(2, 33, 47))
        x = x.astype("float32")
        probe = keras.Model(
            backbone.input, backbone.get_layer("stem_pool").output
        )
        stem = np.maximum(np.array(probe(x)), 0.0)
        kernel = np.array(
            backbone.get_layer("stage_1_block_0_shortcut_conv").kernel
        )[0, 0]
        gamma, beta, mean, var = (
            np.array(w)
            for w in backbone.get_layer("stage_1_block_0_shortcut_bn").weights
        )
        shortcut = stem[:, ::2, ::2] @ kernel
        shortcut = (shortcut - mean) / np.sqrt(var + 1e-5) * gamma + beta
        expected = np.maximum(shortcut, 0.0).mean(axis=(1, 2))
        # float32 1x1 conv + BatchNorm vs NumPy.
        self.assertAllClose(backbone(x), expected, atol=1e-5)

    def test_inputs(self):
        backbone = ResNetBackbone(**{**TINY, "input_size": (33, None)})
        x = np.random.default_rng(0).normal(size=(2, 33, 20))
        x = x.astype("float32")
        self.assertEqual(tuple(backbone(x).shape), (2, 8))
        self.assertAllClose(backbone(x[..., None]), backbone(x))
        longer = np.random.default_rng(0).normal(size=(2, 33, 64))
        self.assertEqual(tuple(backbone(longer).shape), (2, 8))

    def test_synchronized_batch_norm(self):
        def norms(backbone):
            return [
                layer
                for layer in backbone.layers
                if isinstance(layer, keras.layers.BatchNormalization)
            ]

        synced = ResNetBackbone(**{**TINY, "synchronized_batch_norm": True})
        # Stem, 3 blocks x 2, one projection shortcut.
        self.assertEqual(len(norms(synced)), 8)
        self.assertTrue(all(layer.synchronized for layer in norms(synced)))
        plain = ResNetBackbone(**TINY)
        self.assertFalse(any(layer.synchronized for layer in norms(plain)))

    def test_layer_checks(self):
        x = np.random.default_rng(0).normal(size=(2, 33, 47))
        self.run_layer_test(
            ResNetBackbone,
            TINY,
            x.astype("float32"),
            expected_output_shape=(2, 8),
            # 8 convolutions (no bias) + 8 BatchNorms x (gamma, beta).
            expected_num_trainable_weights=24,
            expected_num_non_trainable_weights=16,
        )

    def test_from_preset(self):
        backbone = ResNetBackbone.from_preset(
            "resnet_test_tiny", input_size=(32, None)
        )
        self.assertEqual(backbone.stage_blocks, (1, 1))
        self.assertEqual(backbone.input_size, (32, None))
        self.assertEqual(tuple(backbone(np.zeros((1, 32, 40))).shape), (1, 16))

    def test_errors(self):
        for value in ((32,), (0, 10), (32, -1), "ab", (32.5, 10)):
            with pytest.raises(ValueError, match="input_size="):
                ResNetBackbone(**{**TINY, "input_size": value})
        with pytest.raises(ValueError, match="stem_filters=0"):
            ResNetBackbone(**{**TINY, "stem_filters": 0})
        for name in ("stage_filters", "stage_blocks"):
            for value in ((), (4, 0)):
                with pytest.raises(ValueError, match=f"{name}="):
                    ResNetBackbone(**{**TINY, name: value})
        with pytest.raises(ValueError, match="one value per stage"):
            ResNetBackbone(**{**TINY, "stage_blocks": (1, 1, 1)})
        with pytest.raises(ValueError, match="name='resnet152'"):
            ResNetBackbone.from_preset("resnet152")


class ResNetBackboneSharedTest(TestCase):
    def test_shared_backbone_checks(self):
        self.run_backbone_test(
            ResNetBackbone,
            {**backbone_presets["resnet_test_tiny"], "input_size": (32, None)},
            np.random.rand(2, 32, 40).astype("float32"),
            expected_output_shape=(2, 16),
        )
