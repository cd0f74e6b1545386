import json

import keras
import numpy as np
import pytest

from keras_music.models.backbone import Backbone
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.pase.pase_backbone import PASEBackbone
from keras_music.models.pase.pase_plus_backbone import PASEPlusBackbone
from keras_music.models.resnet.resnet50_backbone import ResNet50Backbone
from keras_music.models.resnet.resnet_backbone import ResNetBackbone
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from keras_music.models.swin.swin_backbone import SwinBackbone
from tests.test_case import TestCase

FAMILIES = (
    MAESTBackbone,
    PASEBackbone,
    PASEPlusBackbone,
    ResNet50Backbone,
    ResNetBackbone,
    SampleCNNBackbone,
    SwinBackbone,
)


@keras.saving.register_keras_serializable(package="backbone_test")
class DenseBackbone(Backbone):
    preset_configs = {"dense_tiny": {"width": 4}, "dense_wide": {"width": 16}}

    def __init__(self, width=8, dtype=None, **kwargs):
        inputs = keras.Input((3,))
        outputs = keras.layers.Dense(width, dtype=dtype, name="dense")(inputs)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)
        self.width = width

    def get_config(self):
        return {**super().get_config(), "width": self.width}


@keras.saving.register_keras_serializable(package="backbone_test")
class WiderDenseBackbone(DenseBackbone):
    """A subclass without a table of its own."""


class BackboneTest(TestCase):
    def test_every_family_is_a_backbone_with_its_own_presets(self):
        for cls in FAMILIES:
            self.assertTrue(issubclass(cls, Backbone), cls.__name__)
            self.assertIn("from_preset", dir(cls))
        self.assertEqual(PASEBackbone.presets, ["pase", "pase_tiny"])
        self.assertEqual(
            PASEPlusBackbone.presets, ["pase_plus", "pase_plus_tiny"]
        )
        self.assertIn("maest_30s", MAESTBackbone.presets)
        self.assertEqual(ResNet50Backbone.presets, [])

    def test_presets_and_overrides(self):
        self.assertEqual(DenseBackbone.presets, ["dense_tiny", "dense_wide"])
        backbone = DenseBackbone.from_preset("dense_tiny")
        self.assertEqual(backbone.output_shape, (None, 4))
        backbone = DenseBackbone.from_preset("dense_tiny", width=5)
        self.assertEqual(backbone.width, 5)
        # Per class: a subclass does not offer its parent's sizes.
        self.assertEqual(WiderDenseBackbone.presets, [])
        # Overrides do not change the table.
        self.assertEqual(DenseBackbone.preset_configs["dense_tiny"]["width"], 4)

    def test_one_error_wording(self):
        message = (
            r"Unknown Dense preset\. Received: name='dense_huge'; "
            r"available: \['dense_tiny', 'dense_wide'\]"
        )
        with pytest.raises(ValueError, match=message):
            DenseBackbone.from_preset("dense_huge")
        with pytest.raises(ValueError, match=r"Unknown WiderDense preset"):
            WiderDenseBackbone.from_preset("dense_tiny")
        with pytest.raises(
            ValueError,
            match=r"Unknown Dense argument to override preset 'dense_tiny'\. "
            r"Received: depth; available: \['dtype', 'width'\]",
        ):
            DenseBackbone.from_preset("dense_tiny", depth=3)
        # The same wording in every family.
        with pytest.raises(ValueError, match=r"Unknown MAEST preset.*maest_5s"):
            MAESTBackbone.from_preset("maest_3s")
        with pytest.raises(
            ValueError, match=r"Unknown PASEPlus argument.*Received: emb"
        ):
            PASEPlusBackbone.from_preset("pase_plus_tiny", emb=3)

    def test_dtype_policy_in_config(self):
        x = np.zeros((1, 3), "float32")
        for dtype in ("mixed_bfloat16", keras.DTypePolicy("mixed_bfloat16")):
            config = DenseBackbone(dtype=dtype).get_config()
            json.dumps(config)
            revived = DenseBackbone.from_config(config)
            out = revived(x)
            self.assertEqual(
                keras.backend.standardize_dtype(out.dtype), "bfloat16"
            )
            layer = revived.get_layer("dense")
            self.assertEqual(layer.dtype_policy.name, "mixed_bfloat16")
        # Without a dtype: the global policy when built, and when rebuilt
        # (a model trained in mixed precision reloads in float32).
        keras.config.set_dtype_policy("mixed_float16")
        backbone = DenseBackbone()
        keras.config.set_dtype_policy("float32")
        self.assertEqual(backbone.get_layer("dense").compute_dtype, "float16")
        config = backbone.get_config()
        self.assertIsNone(config["dtype"])
        revived = DenseBackbone.from_config(config)
        self.assertEqual(revived.get_layer("dense").compute_dtype, "float32")

    def test_shared_checks(self):
        self.run_backbone_test(
            DenseBackbone,
            {"width": 4},
            np.ones((2, 3), "float32"),
            expected_output_shape=(2, 4),
        )
