"""PASE+'s whole encoder against the official code (santi-pdp/pase
`WaveFe` built by `wf_builder` from `cfg/frontend/PASE+.cfg`, narrowed to
widths 16-64, a 48-unit QRNN and a 32-d embedding; its QRNN is
salesforce/pytorch-qrnn's on the CPU path), loaded through
`load_pase_plus_weights` with no other change.

Tolerances, absolute:
- 5e-4 on the SincConv output (values up to 12: the float32 filters
  agree to 2e-5, from sines of arguments up to ~400 rad in both, summed
  over 251 taps of audio; measured 2.2e-4, 2e-5 of the scale);
- 1e-4 on the blocks, the QRNN, the projection `W`, the sum with the
  dense skips and the embedding (order 1; measured at most 6.9e-5 on
  block 2, 3e-5 on the skip sum and the embedding, 1.5e-7 on the QRNN).
"""

import os

import keras
import numpy as np
import pytest

from keras_music.convert.pase import load_pase_plus_weights
from keras_music.models.pase.pase_plus_backbone import PASEPlusBackbone
from tests.golden.golden import assert_matches
from tests.golden.golden import load_fixture
from tests.test_case import TestCase

ATOL = 1e-4
SINC_ATOL = 5e-4
# Official tensor (fixture array) → our layer whose output it is.
LAYERS = {
    "sinc_conv": "block_1_sinc_conv",
    **{f"block_{n}": f"block_{n}_prelu" for n in range(2, 9)},
    "qrnn": "qrnn",
    "projection": "projection",
    "skip_sum": "skip_sum",
}


def backbone_for(meta, **kwargs):
    config = meta["constructor"]
    return PASEPlusBackbone(
        sinc_filters=config["fmaps"][0],
        sinc_kernel_size=config["kwidths"][0],
        conv_filters=config["fmaps"][1:],
        emb_dim=config["emb_dim"],
        qrnn_units=config["rnn_dim"],
        **kwargs,
    )


def official(arrays, name):
    """A fixture array in our `(batch, frames, channels)` layout."""
    value = arrays[name]
    return value if name == "qrnn" else value.transpose(0, 2, 1)


class PASEPlusGoldenTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.state, cls.arrays, cls.meta = load_fixture("pase_plus")

    def converted(self, state=None):
        backbone = backbone_for(self.meta)
        skipped = load_pase_plus_weights(backbone, state or self.state)
        return backbone, skipped

    def test_every_intermediate_and_the_embedding(self):
        self.assertEqual(self.meta["repo"], "santi-pdp/pase")
        self.assertEqual(self.meta["qrnn_repo"], "salesforce/pytorch-qrnn")
        self.assertTrue(self.meta["constructor"]["denseskips"])
        backbone, skipped = self.converted()
        self.assertEqual(
            skipped,
            sorted(
                [f"blocks.{i}.norm.num_batches_tracked" for i in range(8)]
                + ["norm_out.num_batches_tracked"]
            ),
        )
        kernel = backbone.get_layer("block_1_sinc_conv").kernel()
        assert_matches(
            kernel, self.arrays["sinc_filters"].T, ATOL, "sinc filters"
        )
        probe = keras.Model(
            backbone.input,
            [backbone.get_layer(name).output for name in LAYERS.values()]
            + [backbone.output],
        )
        outputs = probe(self.arrays["waveform"])
        for name, value in zip(LAYERS, outputs):
            atol = SINC_ATOL if name == "sinc_conv" else ATOL
            assert_matches(value, official(self.arrays, name), atol, name)
        assert_matches(
            outputs[-1], official(self.arrays, "embedding"), ATOL, "embedding"
        )

    def test_saved_copy_keeps_the_official_padding(self):
        backbone, _ = self.converted()
        self.assertTrue(backbone.get_config()["official_padding"])
        path = os.path.join(self.get_temp_dir(), "pase_plus.keras")
        backbone.save(path)
        revived = keras.saving.load_model(path)
        self.assertEqual(revived.get_layer("block_2_pad").padding, (9, 10))
        assert_matches(
            revived(self.arrays["waveform"]),
            official(self.arrays, "embedding"),
            ATOL,
            "embedding",
        )

    def test_our_padding_departs(self):
        backbone, _ = self.converted()
        ours = backbone_for(self.meta)
        ours.set_weights(backbone.get_weights())
        with pytest.raises(AssertionError, match="embedding: max abs"):
            assert_matches(
                ours(self.arrays["waveform"]),
                official(self.arrays, "embedding"),
                ATOL,
                "embedding",
            )

    def test_corrupted_tensor_fails(self):
        # One skip projection, the QRNN's forget-gate bias, each alone.
        for key, index in (
            ("denseskips.0.weight", (0, 0, 0)),
            ("rnn.layers.0.linear.bias", (48,)),
        ):
            state = dict(self.state)
            state[key] = state[key].copy()
            state[key][index] += 1.0
            backbone, _ = self.converted(state)
            with pytest.raises(AssertionError, match="embedding: max abs"):
                assert_matches(
                    backbone(self.arrays["waveform"]),
                    official(self.arrays, "embedding"),
                    ATOL,
                    "embedding",
                )

    def test_lengths_off_the_frame_grid_raise(self):
        backbone, _ = self.converted()
        with pytest.raises(ValueError, match="multiple of 160 samples"):
            backbone(self.arrays["waveform"][:, :15900])

    def test_state_dict_that_does_not_fit(self):
        backbone = backbone_for(self.meta)
        before = [w.copy() for w in backbone.get_weights()]
        state = {k: v for k, v in self.state.items() if k != "W.bias"}
        state["rnn.layers.0.linear.weight"] = np.zeros((144, 64), "float32")
        state["lstm.weight_ih_l0"] = np.zeros(3, "float32")
        with pytest.raises(ValueError) as error:
            load_pase_plus_weights(backbone, state)
        message = str(error.value)
        self.assertIn("PASEPlusBackbone; nothing was loaded", message)
        self.assertIn("unknown keys: ['lstm.weight_ih_l0']", message)
        self.assertIn("missing keys: ['W.bias']", message)
        self.assertIn(
            "rnn.layers.0.linear.weight: checkpoint (144, 64), expected "
            "(144, 128)",
            message,
        )
        for old, new in zip(before, backbone.get_weights()):
            np.testing.assert_array_equal(old, new)
        self.assertFalse(backbone.official_padding)

    def test_refuses_pase(self):
        from keras_music.models.pase.pase_backbone import PASEBackbone

        with pytest.raises(ValueError, match="must be a PASEPlusBackbone"):
            load_pase_plus_weights(PASEBackbone.from_preset("pase_tiny"), {})
