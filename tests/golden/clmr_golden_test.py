"""CLMR's SampleCNN (Spijkervet/CLMR) and its NT-Xent loss
(Spijkervet/SimCLR's `NT_Xent`, which CLMR trains with) against ours.

Tolerances: 1e-4 absolute on features, block outputs and logits of order
1 (eval-mode BatchNorm with random statistics; measured about 1e-6), and
on the NT-Xent loss (order 1-3; measured about 1e-6).
"""

import keras
import numpy as np
import pytest

from keras_music.convert.sample_cnn import load_sample_cnn_weights
from keras_music.losses.ntxent import NTXent
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from tests.golden.golden import assert_matches
from tests.golden.golden import load_fixture
from tests.test_case import TestCase

ATOL = 1e-4


def converted(state):
    backbone = SampleCNNBackbone.from_preset("sample_cnn_clmr")
    skipped = load_sample_cnn_weights(backbone, state)
    return backbone, skipped


class SampleCNNGoldenTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.state, cls.arrays, cls.meta = load_fixture("clmr_sample_cnn")

    def test_features_blocks_and_logits(self):
        self.assertEqual(self.meta["repo"], "Spijkervet/CLMR")
        backbone, skipped = converted(self.state)
        self.assertIn("fc.weight", skipped)
        x = self.arrays["waveform"]
        features = backbone(x)
        assert_matches(features, self.arrays["features"], ATOL, "features")
        # CLMR's fc on the 512 features (the class replaces it).
        logits = np.asarray(features) @ self.state["fc.weight"].T
        logits += self.state["fc.bias"]
        assert_matches(logits, self.arrays["logits"], ATOL, "logits")
        for i in range(5, 9):
            block = keras.Model(
                backbone.input, backbone.get_layer(f"block_{i}_pool").output
            )
            expected = self.arrays[f"block_{i}"].transpose(0, 2, 1)
            assert_matches(block(x), expected, ATOL, f"block {i}")

    def test_corrupted_tensor_fails(self):
        state = dict(self.state)
        state["sequential.10.1.running_mean"] = (
            state["sequential.10.1.running_mean"] + 0.01
        )
        backbone, _ = converted(state)
        with pytest.raises(AssertionError, match="features: max abs"):
            assert_matches(
                backbone(self.arrays["waveform"]),
                self.arrays["features"],
                ATOL,
                "features",
            )

    def test_refuses_output_batch_norm(self):
        backbone = SampleCNNBackbone.from_preset("sample_cnn_multiformat")
        with pytest.raises(ValueError, match="output_batch_norm=True"):
            load_sample_cnn_weights(backbone, self.state)


class NTXentGoldenTest(TestCase):
    def test_loss_matches_official(self):
        _, arrays, meta = load_fixture("simclr_nt_xent")
        self.assertEqual(meta["repo"], "Spijkervet/SimCLR")
        for temperature in (0.5, 0.1):
            loss = NTXent(temperature=temperature)(arrays["z_i"], arrays["z_j"])
            expected = arrays[f"loss_{temperature}"]
            assert_matches(loss, expected, ATOL, f"loss at {temperature}")
        # The check can fail: views swapped within the batch.
        loss = NTXent(temperature=0.5)(arrays["z_i"], arrays["z_j"][::-1])
        with pytest.raises(AssertionError, match="exceeds"):
            assert_matches(loss, arrays["loss_0.5"], ATOL, "swapped")
