"""MAEST against the official code (palonso/MAEST), from its own fixture.

Tolerances: 1e-4 absolute on outputs of order 1 (logits, sigmoid, tokens,
log-mel values): float32 in both frameworks, different summation orders
(oneDNN vs ATen); the measured differences are about 1e-6 to 1e-5.
"""

import keras
import numpy as np

from keras_music.convert.maest import load_maest_weights
from keras_music.convert.maest import maest_frontend
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_layers import MAESTTokenPooling
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.golden.golden import assert_matches
from tests.golden.golden import fixture_path
from tests.golden.golden import load_fixture
from tests.test_case import TestCase

ATOL = 1e-4


def official_backbone(constructor, time_grid=None):
    """Our backbone of the official constructor's size and grid."""
    mel_bins, frames = constructor["img_size"]
    stride, patch = constructor["stride"], constructor["patch_size"]
    # The official grid is img_size // stride; ours counts the patches of
    # `num_frames`, (num_frames - patch) // stride + 1.
    time_grid = time_grid or frames // stride
    return MAESTBackbone(
        num_mel_bins=mel_bins,
        num_frames=(time_grid - 1) * stride + patch,
        patch_size=patch,
        patch_stride=stride,
        hidden_dim=constructor["embed_dim"],
        num_layers=constructor["depth"],
        num_heads=constructor["num_heads"],
        intermediate_dim=4 * constructor["embed_dim"],
        layer_norm_epsilon=1e-6,
    )


def converted_tagger(name, state_dict, constructor, activation=None):
    tagger = MAESTTagger(
        official_backbone(constructor),
        constructor["num_classes"],
        activation=activation,
    )
    report = load_maest_weights(tagger, state_dict)
    return tagger, report


def block_tokens(backbone, x, blocks):
    """(cls, dist, avg) after each block, via our public pieces."""
    outputs = [backbone.block_output(n) for n in blocks]
    tokens = keras.Model(backbone.input, outputs)(x)
    if len(blocks) == 1:
        tokens = [tokens]
    pooling = MAESTTokenPooling("stack")
    return [pooling(t) for t in tokens]


class MAESTGoldenTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.state, cls.arrays, cls.meta = load_fixture("maest")
        cls.constructor = cls.meta["constructor"]

    def tagger(self, activation=None):
        return converted_tagger(
            "maest", self.state, self.constructor, activation
        )

    def test_meta_names_the_reference(self):
        self.assertEqual(self.meta["repo"], "palonso/MAEST")
        self.assertRegex(self.meta["commit"], "^[0-9a-f]{40}$")

    def test_official_state_dict_loads_with_frontend_buffers(self):
        # get_maest's models carry the mel frontend's buffers: accepted,
        # checked against our filters, dropped.
        self.assertIn("melspectrogram.mel_scale.fb", self.state)
        _, report = self.tagger()
        self.assertIn("melspectrogram.mel_scale.fb", report["skipped"])
        self.assertIn("melspectrogram.spec.window", report["skipped"])
        self.assertIn("head_dist.weight", report["skipped"])
        self.assertEqual(report["resized"], [])

    def test_logits_and_sigmoid(self):
        x = self.arrays["spectrogram"]
        logits, _ = self.tagger()
        assert_matches(logits(x), self.arrays["logits"], ATOL, "logits")
        probabilities, _ = self.tagger("sigmoid")
        assert_matches(
            probabilities(x), self.arrays["sigmoid"], ATOL, "sigmoid"
        )

    def test_block_tokens(self):
        tagger, _ = self.tagger()
        tokens = block_tokens(
            tagger.backbone, self.arrays["spectrogram"], [1, 2]
        )
        for n, value in enumerate(tokens, 1):
            expected = self.arrays[f"block_{n}_tokens"]
            assert_matches(value, expected, ATOL, f"block {n} tokens")

    def test_inference_patchout(self):
        tagger, _ = self.tagger()
        # Official: s_patchout_t_interleaved=3, s_patchout_f_indices [0, 8].
        tagger.set_inference_patchout(time_stride=3, freq_drop=(0, 8))
        x = self.arrays["spectrogram"]
        assert_matches(
            tagger(x), self.arrays["patchout_logits"], ATOL, "patchout logits"
        )
        (tokens,) = block_tokens(tagger.backbone, x, [2])
        assert_matches(
            tokens,
            self.arrays["patchout_block_2_tokens"],
            ATOL,
            "patchout block 2 tokens",
        )

    def test_position_encodings_resized_to_another_grid(self):
        backbone = official_backbone(self.constructor, time_grid=31)
        report = load_maest_weights(backbone, self.state)
        self.assertEqual(report["resized"], ["time_new_pos_embed"])
        embedding = backbone.patch_embedding
        time = self.arrays["resized_time_pos_embed"][0, :, 0, :].T
        freq = self.arrays["resized_freq_pos_embed"][0, :, :, 0].T
        # Encodings of order 0.02; the resize is float64 here, float32
        # in torch: 1e-6.
        assert_matches(embedding.time_position, time, 1e-6, "time encoding")
        assert_matches(embedding.freq_position, freq, 1e-6, "freq encoding")

    def test_frontend_matches_official_mel(self):
        frontend = LogMelSpectrogram(pad_mode="reflect", normalize=True)
        for name in ("audio", "noise"):
            mel = frontend(self.arrays[name])
            expected = self.arrays[f"{name}_log_mel"]
            assert_matches(mel, expected, ATOL, f"{name} log-mel")

    def test_raw_audio_end_to_end(self):
        # The official 1-D path: reflect-padded frames, the segment cut to
        # img_size[1] frames, then the model.
        frames = self.constructor["img_size"][1]
        frontend = LogMelSpectrogram(
            pad_mode="reflect", normalize=True, max_frames=frames
        )
        tagger, _ = self.tagger()
        for name in ("audio", "noise"):
            logits = tagger(frontend(self.arrays[name][None]))
            expected = self.arrays[f"{name}_logits"]
            assert_matches(logits, expected, ATOL, f"{name} logits")

    def test_zero_padded_frontend_is_not_the_official_one(self):
        # What the official framing fixes: zero padding and one frame more
        # change the logits well beyond the tolerance.
        tagger, _ = self.tagger()
        logits = tagger(
            LogMelSpectrogram(normalize=True)(self.arrays["audio"][None])
        )
        # Measured: 8.5e-4.
        with self.assertRaisesRegex(AssertionError, "audio logits"):
            assert_matches(
                logits, self.arrays["audio_logits"], ATOL, "audio logits"
            )

    def test_corrupted_tensor_fails(self):
        # The check can fail: one weight changed by 0.05 moves the logits.
        state = dict(self.state)
        bias = state["blocks.1.mlp.fc2.bias"].copy()
        bias[3] += 0.05
        state["blocks.1.mlp.fc2.bias"] = bias
        tagger, _ = converted_tagger("maest", state, self.constructor)
        with self.assertRaisesRegex(AssertionError, "exceeds 0.0001"):
            assert_matches(
                tagger(self.arrays["spectrogram"]),
                self.arrays["logits"],
                ATOL,
                "logits",
            )

    def test_fixture_file_is_read_from_disk(self):
        tagger = MAESTTagger(
            official_backbone(self.constructor), self.constructor["num_classes"]
        )
        load_maest_weights(tagger, fixture_path("maest", "weights.safetensors"))
        assert_matches(
            tagger(self.arrays["spectrogram"]),
            self.arrays["sigmoid"],
            ATOL,
            "sigmoid",
        )


class MAESTFrontendPresetTest(TestCase):
    def test_official_frontend_of_the_30s_preset(self):
        frontend = maest_frontend("maest_30s")
        self.assertEqual(frontend.pad_mode, "reflect")
        self.assertTrue(frontend.normalize)
        audio = np.random.default_rng(0).uniform(-1, 1, (1, 480000))
        # 30 s: 1 + 480000 // 256 = 1876 centred frames, cut to 1875.
        self.assertEqual(frontend(audio.astype("float32")).shape, (1, 96, 1875))

    def test_unknown_preset(self):
        with self.assertRaisesRegex(ValueError, "preset='maest_40s'"):
            maest_frontend("maest_40s")
