import keras
import numpy as np
import pytest

from keras_music.models.pase.pase_backbone import PASEBackbone
from keras_music.models.pase.pase_plus_backbone import PASEPlusBackbone
from keras_music.models.pase.pase_presets import pase_plus_presets
from tests.models.pase.pase_backbone_test import CHANNELS
from tests.models.pase.pase_backbone_test import pase_parameters
from tests.test_case import TestCase


def _audio(batch, samples, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.5, 0.5, (batch, samples)).astype("float32")


class PASEPlusBackboneTest(TestCase):
    def test_output_frames_are_samples_over_160(self):
        backbone = PASEPlusBackbone.from_preset("pase_plus_tiny")
        self.assertEqual(backbone.min_samples, 480)
        for samples in (480, 639, 1000, 3200, 16159):
            out = backbone(_audio(2, samples))
            self.assertEqual(tuple(out.shape), (2, samples // 160, 16))

    def test_parameter_count(self):
        backbone = PASEPlusBackbone.from_preset("pase_plus")
        # PASE, plus the QRNN (window 2: 2 x 512 x 3 x 512 + 3 x 512) and
        # the skips from blocks 1-7 (1x1, no bias).
        qrnn = 2 * 512 * 3 * 512 + 3 * 512
        skips = 512 * (64 + sum(CHANNELS[:6]))
        expected = pase_parameters() + qrnn + skips
        self.assertEqual(backbone.count_params(), expected)
        self.assertEqual(backbone.count_params(), 8_329_536)
        trainable = sum(
            int(np.prod(w.shape)) for w in backbone.trainable_weights
        )
        self.assertEqual(trainable, 8_324_672)
        # REFERENCE.md §3: ≈8.3 M at emb 512.
        self.assertEqual(round(trainable / 1e6, 1), 8.3)

    def test_dense_skips_match_numpy(self):
        backbone = PASEPlusBackbone.from_preset("pase_plus_tiny")
        names = [f"block_{n}_prelu" for n in range(1, 8)] + ["projection"]
        probe = keras.Model(
            backbone.input,
            [backbone.get_layer(n).output for n in names] + [backbone.output],
        )
        *blocks, projected, actual = (
            np.asarray(t, "float64") for t in probe(_audio(2, 3200))
        )
        expected = projected
        for n, block in enumerate(blocks, start=1):
            pool = block.shape[1] // 20
            pooled = block[:, : 20 * pool].reshape(2, 20, pool, -1).mean(2)
            kernel = backbone.get_layer(f"skip_{n}_projection").kernel
            expected = expected + pooled @ np.asarray(kernel)[0]
        # Inference BatchNorm with its initial statistics (0, 1).
        expected = expected / np.sqrt(1 + 1e-5)
        # float32 pooling and 1x1 products over <= 16 channels.
        self.assertAllClose(actual, expected, atol=1e-5, rtol=1e-5)

    def test_serialization_and_saving(self):
        init_kwargs = {**pase_plus_presets["pase_plus_tiny"], "qrnn_units": 6}
        backbone = PASEPlusBackbone(**init_kwargs)
        self.run_serialization_test(backbone, init_kwargs)
        self.run_model_saving_test(backbone, _audio(2, 1600))

    def test_export_takes_any_length(self):
        # The SavedModel has no fixed length: the QRNN runs its doubling
        # scan there, and must agree with the eager associative scan.
        backbone = PASEPlusBackbone.from_preset("pase_plus_tiny")
        restored = self.run_export_test(backbone, _audio(1, 1600))
        x = _audio(1, 2000, seed=1)
        out = restored.serve(x)
        self.assertEqual(tuple(out.shape), (1, 12, 16))
        # float32, two scan orders of the same products.
        self.assertAllClose(
            out, backbone(x, training=False), atol=1e-5, rtol=1e-5
        )

    def test_mixed_precision(self):
        policy = "mixed_bfloat16"
        backbone = PASEPlusBackbone.from_preset("pase_plus_tiny", dtype=policy)
        out = backbone(_audio(1, 1600))
        self.assertEqual(keras.backend.standardize_dtype(out.dtype), "bfloat16")
        self.assertTrue(all(w.dtype == "float32" for w in backbone.weights))

    def test_errors(self):
        with pytest.raises(ValueError, match="name='pase'"):
            PASEPlusBackbone.from_preset("pase")
        with pytest.raises(ValueError, match="qrnn_units=0"):
            PASEPlusBackbone.from_preset("pase_plus_tiny", qrnn_units=0)
        with pytest.raises(ValueError, match="emb_dim=2.5"):
            PASEPlusBackbone.from_preset("pase_plus_tiny", emb_dim=2.5)
        backbone = PASEPlusBackbone.from_preset("pase_plus_tiny")
        with pytest.raises(ValueError, match="at least 480 samples"):
            backbone(_audio(1, 300))
        backbone = PASEPlusBackbone.from_preset(
            "pase_plus_tiny", official_padding=True
        )
        self.assertEqual(tuple(backbone(_audio(1, 1600)).shape), (1, 10, 16))
        # Official skips average length-dependent windows off the grid.
        with pytest.raises(ValueError, match="multiple of 160 samples"):
            backbone(_audio(1, 1601))


class PASEPlusBackboneSharedTest(TestCase):
    def test_shared_backbone_checks(self):
        backbone = self.run_backbone_test(
            PASEPlusBackbone,
            pase_plus_presets["pase_plus_tiny"],
            np.random.rand(2, 1600).astype("float32") - 0.5,
            expected_output_shape=(2, 10, 16),
        )
        # Builds on PASEBackbone, with presets of its own.
        self.assertIsInstance(backbone, PASEBackbone)
        self.assertEqual(
            PASEPlusBackbone.presets, ["pase_plus", "pase_plus_tiny"]
        )
