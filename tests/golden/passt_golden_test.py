"""PaSST against the official code (kkoutini/PaSST), from its fixture.

Tolerance 1e-4 absolute on outputs of order 1, as for MAEST; the
encodings split from a DeiT `pos_embed` are of order 0.02 and compared
to 1e-6 (a float64 resize here, float32 in torch).
"""

import numpy as np

from keras_music.convert.maest import load_maest_weights
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.golden.golden import assert_matches
from tests.golden.golden import load_fixture
from tests.golden.maest_golden_test import block_tokens
from tests.golden.maest_golden_test import official_backbone
from tests.test_case import TestCase

ATOL = 1e-4


class PaSSTGoldenTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.state, cls.arrays, cls.meta = load_fixture("passt")
        cls.constructor = cls.meta["constructor"]

    def tagger(self, activation=None):
        tagger = MAESTTagger(
            official_backbone(self.constructor),
            self.constructor["num_classes"],
            activation=activation,
        )
        load_maest_weights(tagger, self.state)
        return tagger

    def test_meta_names_the_reference(self):
        self.assertEqual(self.meta["repo"], "kkoutini/PaSST")
        self.assertRegex(self.meta["commit"], "^[0-9a-f]{40}$")

    def test_logits_sigmoid_and_block_tokens(self):
        x = self.arrays["spectrogram"]
        tagger = self.tagger()
        assert_matches(tagger(x), self.arrays["logits"], ATOL, "logits")
        assert_matches(
            self.tagger("sigmoid")(x), self.arrays["sigmoid"], ATOL, "sigmoid"
        )
        for n, value in enumerate(block_tokens(tagger.backbone, x, [1, 2]), 1):
            expected = self.arrays[f"block_{n}_tokens"]
            assert_matches(value, expected, ATOL, f"block {n} tokens")

    def test_deit_position_encoding_split(self):
        state = {
            k: v
            for k, v in self.state.items()
            if not k.endswith("new_pos_embed")
        }
        state["pos_embed"] = self.arrays["deit_pos_embed"]
        backbone = official_backbone(self.constructor)
        report = load_maest_weights(backbone, state)
        self.assertEqual(report["resized"], ["pos_embed"])
        embedding = backbone.patch_embedding
        a = self.arrays
        assert_matches(
            embedding.token_position,
            a["deit_new_pos_embed"][0],
            1e-6,
            "token encodings",
        )
        assert_matches(
            embedding.freq_position,
            a["deit_freq_new_pos_embed"][0, :, :, 0].T,
            1e-6,
            "frequency encodings",
        )
        assert_matches(
            embedding.time_position,
            a["deit_time_new_pos_embed"][0, :, 0, :].T,
            1e-6,
            "time encodings",
        )

    def test_corrupted_tensor_fails(self):
        tagger = self.tagger()
        # One weight of the head moved by 0.05.
        weights = tagger.get_layer("head").kernel
        weights.assign(weights.numpy() + 0.05 * (np.arange(5) == 2))
        with self.assertRaisesRegex(AssertionError, "logits: max abs"):
            assert_matches(
                tagger(self.arrays["spectrogram"]),
                self.arrays["logits"],
                ATOL,
                "logits",
            )
