"""PASE's encoder against the official code (santi-pdp/pase `WaveFe`,
`cfg/frontend/PASE.cfg` narrowed to widths 16-64).

Tolerances 1e-4 absolute: SincConv filters (values up to 1; float32 sines
of arguments up to ~400 rad in both, measured 1.9e-5), block outputs and
the embedding (order 1 after eval-mode BatchNorm with random statistics).

One departure, documented in `pase_layers.block_padding`: the kernel-20,
stride-10 block pads (5, 5) in ours, (9, 10) in the official code (both
give 100 frames per second of audio, shifted by 4 samples). The
converter switches the backbone to the official padding, so the official
outputs need nothing else. PASE+ as a whole is in
`pase_plus_golden_test.py`.
"""

import keras
import numpy as np
import pytest

from keras_music.convert.pase import load_pase_weights
from keras_music.convert.pase import torchqrnn_to_qrnn
from keras_music.layers.qrnn import QRNN
from keras_music.models.pase.pase_backbone import PASEBackbone
from tests.golden.golden import assert_matches
from tests.golden.golden import load_fixture
from tests.test_case import TestCase

ATOL = 1e-4


def backbone_for(meta):
    fmaps = meta["constructor"]["fmaps"]
    return PASEBackbone(
        sinc_filters=fmaps[0],
        sinc_kernel_size=meta["constructor"]["kwidths"][0],
        conv_filters=tuple(fmaps[1:]),
        emb_dim=meta["constructor"]["emb_dim"],
    )


def converted(state, meta):
    backbone = backbone_for(meta)
    skipped = load_pase_weights(backbone, state)
    return backbone, skipped


class PASEGoldenTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.state, cls.arrays, cls.meta = load_fixture("pase")

    def test_sinc_filters(self):
        self.assertEqual(self.meta["repo"], "santi-pdp/pase")
        backbone, skipped = converted(self.state, self.meta)
        self.assertIn("blocks.0.norm.num_batches_tracked", skipped)
        kernel = backbone.get_layer("block_1_sinc_conv").kernel()
        expected = self.arrays["sinc_filters"].T
        assert_matches(kernel, expected, ATOL, "sinc filters")

    def test_blocks_and_embedding(self):
        backbone, _ = converted(self.state, self.meta)
        x = self.arrays["waveform"]
        names = [f"block_{n}_prelu" for n in range(3, 9)]
        outputs = keras.Model(
            backbone.input,
            [backbone.get_layer(name).output for name in names]
            + [backbone.output],
        )(x)
        for n, value in zip(range(3, 9), outputs):
            expected = self.arrays[f"block_{n}"].transpose(0, 2, 1)
            assert_matches(value, expected, ATOL, f"block {n}")
        expected = self.arrays["embedding"].transpose(0, 2, 1)
        assert_matches(outputs[-1], expected, ATOL, "embedding")

    def test_our_padding_departs(self):
        converted_backbone, _ = converted(self.state, self.meta)
        self.assertTrue(converted_backbone.official_padding)
        backbone = backbone_for(self.meta)
        backbone.set_weights(converted_backbone.get_weights())
        expected = self.arrays["embedding"].transpose(0, 2, 1)
        with pytest.raises(AssertionError, match="embedding: max abs"):
            assert_matches(
                backbone(self.arrays["waveform"]), expected, ATOL, "embedding"
            )

    def test_corrupted_tensor_fails(self):
        state = dict(self.state)
        state["blocks.0.conv.low_hz_"] = state["blocks.0.conv.low_hz_"] + 20.0
        backbone, _ = converted(state, self.meta)
        expected = self.arrays["embedding"].transpose(0, 2, 1)
        with pytest.raises(AssertionError, match="embedding: max abs"):
            assert_matches(
                backbone(self.arrays["waveform"]), expected, ATOL, "embedding"
            )

    def test_refuses_pase_plus(self):
        from keras_music.models.pase.pase_plus_backbone import PASEPlusBackbone

        with pytest.raises(ValueError, match="use `load_pase_plus_weights`"):
            load_pase_weights(
                PASEPlusBackbone.from_preset("pase_plus_tiny"), {}
            )


class QRNNGoldenTest(TestCase):
    """PASE+'s QRNN layer, salesforce/pytorch-qrnn's `QRNNLayer` on its
    CPU path. Tolerance 1e-5 on outputs in (-1, 1): a 30-step recurrence
    in float32 (ours a parallel scan, theirs a loop)."""

    def test_outputs_match_official(self):
        state, arrays, meta = load_fixture("qrnn")
        self.assertEqual(meta["repo"], "salesforce/pytorch-qrnn")
        layer = QRNN(8, window_size=2)
        layer.build((None, None, 12))
        kernel, bias = torchqrnn_to_qrnn(
            state["linear.weight"], state["linear.bias"]
        )
        layer.set_weights([kernel, bias])
        h = layer(arrays["x"])
        assert_matches(h, arrays["h"], 1e-5, "QRNN outputs")
        # Without the complemented forget gate the check fails.
        layer.set_weights(
            [
                np.stack(
                    np.split(state["linear.weight"], 2, axis=1)[::-1]
                ).transpose(0, 2, 1),
                state["linear.bias"],
            ]
        )
        with pytest.raises(AssertionError, match="QRNN outputs: max abs"):
            assert_matches(
                layer(arrays["x"]), arrays["h"], 1e-5, "QRNN outputs"
            )

    def test_bad_weight_shapes(self):
        with pytest.raises(ValueError, match="weight.shape=\\(24, 33\\)"):
            torchqrnn_to_qrnn(np.zeros((24, 33)), np.zeros(24))
