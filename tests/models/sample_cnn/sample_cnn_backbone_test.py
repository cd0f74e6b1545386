import keras
import numpy as np
import pytest

from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from keras_music.models.sample_cnn.sample_cnn_presets import backbone_presets
from tests.test_case import TestCase

TINY = {
    "input_length": 81,
    "stem_filters": 4,
    "stem_stride": 3,
    "block_filters": (4, 6, 8),
    "kernel_size": 3,
    "pool_size": 3,
    "output_filters": 8,
    "output_batch_norm": True,
    "pooling": "max",
    "synchronized_batch_norm": False,
}


def _clmr_parameter_count(blocks, output_batch_norm):
    """CLMR's SampleCNN from its description (REFERENCE.md Section 4).

    Conv1D weights + biases; BatchNorm has 2 trainable (gamma, beta) and 2
    non-trainable (moving mean, variance) numbers per channel.
    """
    trainable = non_trainable = 0
    channels = 1
    layers = [(128, 3)] + [(f, 3) for f in blocks] + [(512, 3)]
    for filters, kernel in layers:
        trainable += kernel * channels * filters + filters + 2 * filters
        non_trainable += 2 * filters
        channels = filters
    if output_batch_norm:
        trainable += 2 * 512
        non_trainable += 2 * 512
    return trainable, non_trainable


def _numpy_forward(backbone, x):
    """Inference-mode forward pass from the architecture's definition."""

    def conv(x, kernel, bias, stride, same):
        k = kernel.shape[0]
        if same:
            x = np.pad(x, ((0, 0), (k // 2, k // 2), (0, 0)))
        frames = (x.shape[1] - k) // stride + 1
        windows = np.stack(
            [x[:, t * stride : t * stride + k] for t in range(frames)], 1
        )
        return np.einsum("btkc,kcf->btf", windows, kernel) + bias

    def bn_relu(x, layer):
        gamma, beta, mean, var = (np.array(w) for w in layer.weights)
        return np.maximum((x - mean) / np.sqrt(var + 1e-5) * gamma + beta, 0)

    def pool(x, size):
        frames = x.shape[1] // size
        return x[:, : frames * size].reshape(len(x), frames, size, -1).max(2)

    weights = {layer.name: layer for layer in backbone.layers}

    def get(name):
        return [np.array(w, dtype="float64") for w in weights[name].weights]

    x = x[..., None].astype("float64")
    x = conv(x, *get("stem_conv"), stride=3, same=False)
    x = bn_relu(x, weights["stem_bn"])
    for i in range(len(backbone.block_filters)):
        x = conv(x, *get(f"block_{i}_conv"), stride=1, same=True)
        x = pool(bn_relu(x, weights[f"block_{i}_bn"]), 3)
    x = conv(x, *get("output_conv"), stride=1, same=True)
    x = bn_relu(x, weights["output_bn"])
    gamma, beta, mean, var = get("embedding_bn")
    x = (x - mean) / np.sqrt(var + 1e-5) * gamma + beta
    return x.max(axis=1)


class SampleCNNBackboneTest(TestCase):
    def _randomize_batch_norms(self, backbone):
        rng = np.random.default_rng(1)
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                gamma, beta, mean, var = layer.weights
                for w, low in ((gamma, 0.5), (beta, -0.5), (mean, -0.5)):
                    w.assign(rng.uniform(low, 1.0, w.shape).astype("float32"))
                var.assign(rng.uniform(0.5, 2.0, var.shape).astype("float32"))

    def test_matches_numpy_forward_pass(self):
        backbone = SampleCNNBackbone(**{**TINY, "input_length": None})
        self._randomize_batch_norms(backbone)
        # 200 samples: 66 frames after the stem, 22, 7, 2 after the
        # pools (floors drop samples); max pooling over the last two.
        x = np.random.default_rng(0).normal(size=(2, 200)).astype("float32")
        actual = backbone(x, training=False)
        # float32 convolutions vs float64 NumPy, O(1) activations.
        self.assertAllClose(actual, _numpy_forward(backbone, x), atol=1e-4)

    def test_shapes_and_inputs(self):
        backbone = SampleCNNBackbone(**TINY)
        x = np.random.default_rng(0).normal(size=(3, 81)).astype("float32")
        self.assertEqual(tuple(backbone(x).shape), (3, 8))
        # A trailing channel axis gives the same output.
        self.assertAllClose(backbone(x[..., None]), backbone(x))
        self.assertEqual(backbone.output_dim, 8)
        no_output_conv = SampleCNNBackbone(**{**TINY, "output_filters": None})
        self.assertEqual(tuple(no_output_conv(x).shape), (3, 8))
        self.assertEqual(no_output_conv.output_dim, 8)
        averaged = SampleCNNBackbone(
            **{**TINY, "input_length": None, "pooling": "avg"}
        )
        self.assertEqual(tuple(averaged(np.zeros((1, 500))).shape), (1, 8))
        norms = [
            layer
            for layer in backbone.layers
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        # stem, 3 blocks, output conv, output features.
        self.assertEqual(len(norms), 6)
        self.assertFalse(any(layer.synchronized for layer in norms))
        synced = SampleCNNBackbone(**{**TINY, "synchronized_batch_norm": True})
        self.assertTrue(
            all(
                layer.synchronized
                for layer in synced.layers
                if isinstance(layer, keras.layers.BatchNormalization)
            )
        )

    def test_clmr_preset(self):
        backbone = SampleCNNBackbone.from_preset("sample_cnn_clmr")
        trainable, non_trainable = _clmr_parameter_count(
            (128, 128, 256, 256, 256, 256, 256, 256, 512), False
        )
        # 2,368,512 trainable + 5,888 BatchNorm statistics = 2,374,400,
        # CLMR's "about 2.4 M".
        self.assertEqual(trainable, 2_368_512)
        self.assertEqual(
            sum(int(np.prod(w.shape)) for w in backbone.trainable_weights),
            trainable,
        )
        self.assertEqual(backbone.count_params(), trainable + non_trainable)
        self.assertEqual(backbone.count_params(), 2_374_400)
        x = np.random.default_rng(0).normal(size=(1, 59049))
        self.assertEqual(tuple(backbone(x.astype("float32")).shape), (1, 512))
        # 3^10 samples: one frame left before the pooling.
        self.assertEqual(backbone.get_layer("output_conv").output.shape[1], 1)

    def test_multiformat_preset(self):
        backbone = SampleCNNBackbone.from_preset("sample_cnn_multiformat")
        trainable, non_trainable = _clmr_parameter_count(
            (128, 128, 256, 256, 256, 256, 256, 256, 512), True
        )
        self.assertEqual(backbone.count_params(), trainable + non_trainable)
        self.assertEqual(backbone.count_params(), 2_376_448)
        self.assertEqual(backbone.input_length, 110250)
        self.assertEqual(backbone.output_shape, (None, 512))
        # 5 s at 22.05 kHz: floor(110250 / 3 / 3^9) = 1 frame remains.
        self.assertEqual(backbone.get_layer("output_conv").output.shape[1], 1)
        self.assertIsInstance(
            backbone.get_layer("embedding_bn"),
            keras.layers.BatchNormalization,
        )

    def test_layer_checks(self):
        x = np.random.default_rng(0).normal(size=(2, 81)).astype("float32")
        self.run_layer_test(
            SampleCNNBackbone,
            TINY,
            x,
            expected_output_shape=(2, 8),
            # 5 convs x (kernel, bias) + 6 BatchNorms x (gamma, beta).
            expected_num_trainable_weights=22,
            expected_num_non_trainable_weights=12,
        )

    def test_from_preset_overrides(self):
        backbone = SampleCNNBackbone.from_preset(
            "sample_cnn_test_tiny", input_length=None, pooling="avg"
        )
        self.assertIsNone(backbone.input_length)
        self.assertEqual(backbone.pooling, "avg")
        self.assertEqual(backbone.block_filters, (8, 8, 16, 16))
        self.assertEqual(tuple(backbone(np.zeros((2, 300))).shape), (2, 16))

    def test_errors(self):
        for name, value in (
            ("stem_filters", 0),
            ("stem_stride", 1.5),
            ("kernel_size", -3),
            ("pool_size", 0),
            ("output_filters", 0),
            ("input_length", 0),
        ):
            with pytest.raises(ValueError, match=f"{name}={value!r}"):
                SampleCNNBackbone(**{**TINY, name: value})
        for value in ((), (4, -1), "abc"):
            with pytest.raises(ValueError, match="block_filters="):
                SampleCNNBackbone(**{**TINY, "block_filters": value})
        with pytest.raises(ValueError, match="pooling='sum'"):
            SampleCNNBackbone(**{**TINY, "pooling": "sum"})
        # 3 * 3 ** 3 = 81 samples leave one frame; 80 leave none.
        with pytest.raises(ValueError, match="at least 81.*input_length=80"):
            SampleCNNBackbone(**{**TINY, "input_length": 80})
        with pytest.raises(ValueError, match="name='sample_cnn_huge'"):
            SampleCNNBackbone.from_preset("sample_cnn_huge")


class SampleCNNBackboneSharedTest(TestCase):
    def test_shared_backbone_checks(self):
        self.run_backbone_test(
            SampleCNNBackbone,
            backbone_presets["sample_cnn_test_tiny"],
            np.random.rand(2, 243).astype("float32"),
            expected_output_shape=(2, 16),
        )
