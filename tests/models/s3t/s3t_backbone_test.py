import keras
import numpy as np
import pytest

from keras_music.layers.cqt import CQT
from keras_music.layers.frequency_tiling import FrequencyTiling
from keras_music.layers.time_folding import TimeFolding
from keras_music.models.s3t.s3t_backbone import S3TBackbone
from keras_music.models.s3t.s3t_backbone import s3t_clip
from keras_music.models.swin.swin_backbone import SwinBackbone
from keras_music.models.swin.swin_presets import backbone_presets as swin
from tests.test_case import TestCase

TINY_SWIN = {**swin["swin_test_tiny"], "input_size": (32, 32)}
TINY = {
    "transform": "time_folding",
    "fold": 2,
    "time_compression": 1,
    "n_bins": 16,
}


def _audio(samples, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.5, 0.5, (batch, samples)).astype("float32")


def _reference_encoder(swin_backbone, samples, square, n_bins, compression):
    """The encoder as composed from its parts (CQT in dB, standardised
    over bins and frames, square image, Swin), without S3TBackbone."""
    frontend = keras.Sequential(
        [
            CQT(
                sample_rate=22050,
                hop_length=512,
                n_bins=n_bins,
                output_scale="db",
                time_compression=compression,
            ),
            keras.layers.LayerNormalization(
                axis=(1, 2), center=False, scale=False, epsilon=1e-3
            ),
        ]
    )
    audio = keras.Input((samples,))
    return keras.Model(audio, swin_backbone(square(frontend(audio))))


class S3TBackboneTest(TestCase):
    def test_backbone_basics(self):
        backbone = self.run_backbone_test(
            S3TBackbone,
            {**TINY, "swin": SwinBackbone(**TINY_SWIN)},
            _audio(32256),
            expected_output_shape=(2, 32),
            # A given Swin keeps its own policy: checked below instead.
            policy=None,
        )
        # 32 x 32 from 2 chunks of 32 frames: (64 - 1) x 512 samples.
        self.assertEqual(backbone.clip_samples, 32256)
        self.assertEqual(backbone.view_frames, 64)
        self.assertEqual(backbone.preprocessor.sample_rate, 22050)
        self.assertEqual(backbone.preprocessor.segment_samples, 32256)

    def test_mixed_precision_round_trip(self):
        policy = "mixed_bfloat16"
        backbone = S3TBackbone(**TINY, swin=TINY_SWIN, dtype=policy)
        revived = S3TBackbone.from_config(backbone.get_config())
        self.assertEqual(revived.get_config()["dtype"], policy)
        self.assertMixedPrecision(policy, revived, revived(_audio(32256)))

    def test_from_config_takes_a_serialised_swin_or_its_arguments(self):
        backbone = S3TBackbone(**TINY, swin=TINY_SWIN)
        config = backbone.get_config()
        # The Swin is stored as a serialised Keras object and rebuilt.
        self.assertEqual(config["swin"]["class_name"], "SwinBackbone")
        revived = S3TBackbone.from_config(config)
        self.assertIsInstance(revived.swin, SwinBackbone)
        self.assertIsNot(revived.swin, backbone.swin)
        self.assertEqual(revived.swin.get_config(), backbone.swin.get_config())
        # A dict of the Swin's arguments (a preset's form) is built as one.
        from_arguments = S3TBackbone.from_config({**config, "swin": TINY_SWIN})
        self.assertEqual(from_arguments.swin.input_size, (32, 32))
        self.assertEqual(from_arguments.count_params(), backbone.count_params())

    def test_equals_composed_encoder(self):
        for transform, square in (
            ("time_folding", TimeFolding(n=2, target_size=(32, 32))),
            ("frequency_tiling", FrequencyTiling(size=32)),
        ):
            swin_backbone = SwinBackbone(**TINY_SWIN)
            backbone = S3TBackbone(
                **{**TINY, "transform": transform}, swin=swin_backbone
            )
            samples = backbone.clip_samples
            reference = _reference_encoder(
                swin_backbone, samples, square, 16, 1
            )
            x = _audio(samples)
            # The same layers in the same order: equal to float32
            # round-off (the brief's 1e-6).
            self.assertAllClose(backbone(x), reference(x), atol=1e-6)

    def test_presets(self):
        self.assertEqual(
            S3TBackbone.presets,
            ["s3t_swin_mini", "s3t_swin_tiny", "s3t_test_tiny"],
        )
        # The paper's input: 3 chunks of 256 frames compressed 10x,
        # (7680 - 1) x 512 samples = 178.3 s at 22.05 kHz.
        config = S3TBackbone.preset_configs["s3t_swin_tiny"]
        self.assertEqual(config["swin"], "swin_tiny")
        mini = S3TBackbone.from_preset("s3t_swin_mini")
        self.assertEqual(mini.clip_samples, (336 * 2 - 1) * 512)
        self.assertAlmostEqual(mini.clip_seconds, 15.58, places=2)
        self.assertEqual(mini.output_dim, 64)

    @pytest.mark.large
    def test_paper_preset(self):
        backbone = S3TBackbone.from_preset("s3t_swin_tiny")
        self.assertEqual(backbone.clip_samples, (768 * 10 - 1) * 512)
        # Swin-T with one input channel (swin_presets.py): 27,524,010;
        # the frontend and pre-processor have no weights.
        self.assertEqual(backbone.count_params(), 27_524_010)

    def test_clip_seconds_crops_or_pads(self):
        backbone = S3TBackbone(**TINY, swin=TINY_SWIN, clip_seconds=1.0)
        self.assertEqual(backbone.clip_samples, 22050)
        self.assertEqual(tuple(backbone(_audio(22050)).shape), (2, 32))

    def test_bad_arguments_are_named(self):
        with self.assertRaisesRegex(ValueError, "`transform` must be one"):
            S3TBackbone(**{**TINY, "transform": "tiling"}, swin=TINY_SWIN)
        with self.assertRaisesRegex(ValueError, "`swin` must take a square"):
            S3TBackbone(**TINY, swin=swin["swin_test_tiny"])
        with self.assertRaisesRegex(ValueError, "`swin` must be a"):
            S3TBackbone(**TINY, swin=3)
        with self.assertRaisesRegex(ValueError, "`clip_seconds` must hold"):
            S3TBackbone(
                **{**TINY, "time_compression": 10},
                swin=TINY_SWIN,
                clip_seconds=0.01,
            )
        with self.assertRaisesRegex(ValueError, "Unknown S3T preset"):
            S3TBackbone.from_preset("s3t_huge")


def test_s3t_clip():
    # The paper's input: 768 frames compressed 10x, a centred CQT of
    # 1 + samples // 512 frames: (7680 - 1) x 512 samples, 178.3 s.
    samples, seconds = s3t_clip(768, 10)
    assert samples == 3_931_648 and 1 + samples // 512 == 7680
    assert seconds == pytest.approx(178.306, abs=1e-3)
    # A clip asked for is kept, however many frames it has.
    assert s3t_clip(768, 10, clip_seconds=30.0) == (661_500, 30.0)
    # 0.1 s: 1 + 2205 // 512 = 5 CQT frames, fewer than 10 compressed.
    with pytest.raises(ValueError, match="Received: --clip_seconds=0.1"):
        s3t_clip(768, 10, clip_seconds=0.1, name="--clip_seconds")
    positive = "`clip_seconds` must be a positive number"
    with pytest.raises(ValueError, match=positive):
        s3t_clip(768, 10, clip_seconds=-1.0)
