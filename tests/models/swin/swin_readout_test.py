import numpy as np
import pytest

from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from keras_music.models.swin.swin_backbone import SwinBackbone
from keras_music.models.swin.swin_readout import swin_stage_readout
from tests.test_case import TestCase


class SwinStageReadoutTest(TestCase):
    def test_a_stage_is_its_blocks_applied_by_hand_then_averaged(self):
        backbone = SwinBackbone.from_preset("swin_test_tiny")
        x = np.random.default_rng(0).normal(size=(3, 32, 40))
        x = x.astype("float32")
        # Stage 1 computed layer by layer: the patch embedding of the
        # 1-channel image, then the stage's blocks; stage 2 after the
        # merging and its blocks.
        h = backbone.patch_embedding(x[..., None])
        by_hand = []
        for i, blocks in enumerate(backbone.stage_blocks):
            if i:
                h = backbone.stage_mergings[i - 1](h)
            for block in blocks:
                h = block(h)
            by_hand.append(np.asarray(h).mean(axis=(1, 2)))
        for stage, expected in enumerate(by_hand, start=1):
            readout = swin_stage_readout(backbone, stage)
            self.assertEqual(readout.name, f"{backbone.name}_stage_{stage}")
            # The same layers in another graph; float32 means summed in
            # another order: 1e-5.
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
