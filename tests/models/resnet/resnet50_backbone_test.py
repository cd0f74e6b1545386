import keras
import numpy as np
import pytest

from keras_music.models.resnet.resnet50_backbone import ResNet50Backbone
from tests.test_case import TestCase


class ResNet50BackboneTest(TestCase):
    def test_shapes_and_parameters(self):
        backbone = ResNet50Backbone(input_size=(32, 48))
        x = np.random.default_rng(0).normal(size=(2, 32, 48))
        x = x.astype("float32")
        self.assertEqual(tuple(backbone(x).shape), (2, 2048))
        self.assertEqual(tuple(backbone(x[..., None]).shape), (2, 2048))
        # keras.applications' ResNet-50 without top has 23,587,712
        # parameters on RGB; one channel drops 7 * 7 * 2 * 64 of conv1.
        self.assertEqual(backbone.count_params(), 23_587_712 - 6_272)
        norms = [
            layer
            for layer in backbone.resnet.layers
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        self.assertEqual(len(norms), 53)
        self.assertTrue(all(layer.synchronized for layer in norms))
        plain = ResNet50Backbone((32, 32), synchronized_batch_norm=False)
        self.assertFalse(
            any(
                getattr(layer, "synchronized", False)
                for layer in plain.resnet.layers
            )
        )

    def test_serialization(self):
        kwargs = {"input_size": (32, 32), "synchronized_batch_norm": False}
        self.run_serialization_test(ResNet50Backbone(**kwargs), kwargs)

    @pytest.mark.large
    def test_saving(self):
        backbone = ResNet50Backbone(input_size=(32, 32))
        x = np.random.default_rng(0).normal(size=(2, 32, 32))
        # Save/load keeps every weight: outputs equal to float32 rounding.
        self.run_model_saving_test(backbone, x.astype("float32"), atol=1e-5)

    def test_errors(self):
        with pytest.raises(ValueError, match=r"input_size=\(16, 64\)"):
            ResNet50Backbone(input_size=(16, 64))
        with pytest.raises(ValueError, match=r"input_size=\(32,\)"):
            ResNet50Backbone(input_size=(32,))


class ResNet50BackboneSharedTest(TestCase):
    def test_shared_backbone_checks(self):
        self.run_backbone_test(
            ResNet50Backbone,
            {"input_size": (32, 32), "synchronized_batch_norm": False},
            np.random.rand(1, 32, 32).astype("float32"),
            expected_output_shape=(1, 2048),
            # A 94 MB `.keras` file: saved in the large `test_saving`.
            run_saving_check=False,
            # `keras.applications.ResNet50` takes no dtype policy: its
            # layers follow the global one.
            policy=None,
        )
