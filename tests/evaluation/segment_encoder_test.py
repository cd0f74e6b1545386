import numpy as np
import pytest

from keras_music.evaluation.segment_encoder import maest_preset_encoder
from keras_music.evaluation.segment_encoder import maest_segment_encoder
from keras_music.evaluation.segment_encoder import swin_segment_encoder
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.swin.swin_backbone import SwinBackbone
from tests.test_case import TestCase


class SegmentEncoderTest(TestCase):
    def test_maest_tokens_from_block(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        x = np.random.default_rng(0).normal(size=(2, 96, 66))
        x = x.astype("float32")
        tokens = np.asarray(
            __import__("keras").Model(backbone.input, backbone.block_output(1))(
                x
            )
        )
        stack = maest_segment_encoder(backbone, block=1, token="stack")(x)
        # Reference from the raw tokens with NumPy: cls, dist, patch mean.
        expected = np.concatenate(
            [tokens[:, 0], tokens[:, 1], tokens[:, 2:].mean(1)], axis=1
        )
        self.assertAllClose(stack, expected, atol=1e-5)
        cls = maest_segment_encoder(backbone, block=1, token="cls")(x)
        self.assertAllClose(cls, tokens[:, 0], atol=1e-6)

    def test_maest_preset_on_audio(self):
        encoder, seconds = maest_preset_encoder("maest_tiny")
        self.assertAlmostEqual(seconds, 65 * 256 / 16000)
        audio = np.zeros((2, int(round(seconds * 16000))), "float32")
        self.assertEqual(tuple(encoder(audio).shape), (2, 96))
        self.run_model_saving_test(encoder, audio, atol=1e-5)

    def test_swin_stage_pooled(self):
        backbone = SwinBackbone.from_preset("swin_test_tiny")
        x = np.random.default_rng(0).normal(size=(2, 32, 40))
        x = x.astype("float32")
        stage = np.asarray(
            __import__("keras").Model(
                backbone.input, backbone.stage_outputs["stage_1"]
            )(x)
        )
        encoder = swin_segment_encoder(backbone, stage=1)
        # Global average over the (8, 10) grid, from NumPy.
        self.assertAllClose(encoder(x), stage.mean(axis=(1, 2)), atol=1e-5)
        last = swin_segment_encoder(backbone)
        self.assertAllClose(last(x), backbone(x), atol=1e-6)

    def test_errors(self):
        backbone = SwinBackbone.from_preset("swin_test_tiny")
        with pytest.raises(ValueError, match="`stage` must be an integer"):
            swin_segment_encoder(backbone, stage=3)
        with pytest.raises(ValueError, match="must be a `MAESTBackbone`"):
            maest_segment_encoder(backbone)
        maest = MAESTBackbone.from_preset("maest_tiny")
        with pytest.raises(ValueError, match="must be a `SwinBackbone`"):
            swin_segment_encoder(maest)
        with pytest.raises(ValueError, match="`block` must be an integer"):
            maest_segment_encoder(maest, block=3)
