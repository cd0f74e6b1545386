import keras
import numpy as np
import pytest

from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from keras_music.models.swin.swin_backbone import SwinBackbone
from keras_music.models.swin.swin_readout import swin_stage_readout
from tests.test_case import TestCase


class SwinStageReadoutTest(TestCase):
    def test_each_stage_is_its_output_averaged_over_the_grid(self):
        backbone = SwinBackbone.from_preset("swin_test_tiny")
        x = np.random.default_rng(0).normal(size=(3, 32, 40))
        x = x.astype("float32")
        stages = keras.Model(backbone.input, backbone.stage_outputs)(x)
        for stage in (1, 2):
            readout = swin_stage_readout(backbone, stage)
            self.assertEqual(readout.name, f"{backbone.name}_stage_{stage}")
            # NumPy mean of the backbone's own stage output; float32 sums
            # in another order: 1e-5.
            expected = np.asarray(stages[f"stage_{stage}"]).mean(axis=(1, 2))
            self.assertAllClose(readout(x), expected, atol=1e-5)
        self.assertIs(swin_stage_readout(backbone), backbone)

    def test_errors(self):
        backbone = SwinBackbone.from_preset("swin_test_tiny")
        with pytest.raises(ValueError, match=r"integer in \[1, 2\]"):
            swin_stage_readout(backbone, 3)
        with pytest.raises(ValueError, match=r"Received: stage='1'"):
            backbone.stage_output("1")
        sample_cnn = SampleCNNBackbone.from_preset("sample_cnn_test_tiny")
        with pytest.raises(ValueError, match="must be a `SwinBackbone`"):
            swin_stage_readout(sample_cnn, 1)
