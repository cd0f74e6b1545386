"""Checks of the helpers of `benchmarks/maest.py` (not of its timings)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from benchmarks.maest import MATMUL_OPS
from benchmarks.maest import essentia_patches
from benchmarks.maest import forward_step
from benchmarks.maest import graph_flops
from benchmarks.maest import maest_forward_flops
from benchmarks.maest import main
from benchmarks.maest import patchout_grid
from benchmarks.maest import track_average
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_presets import backbone_presets
from tests.test_case import TestCase

TINY = backbone_presets["maest_tiny"]
# The paper's settings on the tiny preset's 9 x 6 grid (96 mel bands,
# 66 frames): none, time stride, frequency rows, both.
PATCHOUTS = [(1, ()), (2, ()), (5, ()), (1, (0, 7, 8)), (3, (0, 1, 7, 8))]


class MAESTBenchmarkTest(TestCase):
    def test_hand_count_maest_30s(self):
        # Independent hand count (two FLOPs per multiply-add) of ViT-Base
        # on 9 x 187 patches, N = 1685 tokens, 12 blocks; exact integers.
        config = backbone_presets["maest_30s"]
        n, d, i = 1685, 768, 3072
        expected = 2 * 1683 * 256 * d + 12 * (
            2 * n * d * (3 * d + d + 2 * i) + 4 * n * n * d
        )
        total = sum(maest_forward_flops(config, 1876).values())
        self.assertEqual(total, expected)
        # The figure quoted in the benchmark's docstring.
        self.assertEqual(round(total / 1e9, 2), 391.56)

    def test_grid_matches_backbone_tokens(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        x = np.zeros((1, 96, TINY["num_frames"]), "float32")
        for stride, drop in PATCHOUTS:
            backbone.set_inference_patchout(stride, drop)
            rows, cols = patchout_grid(TINY, TINY["num_frames"], stride, drop)
            tokens = backbone(x, training=False).shape[1]
            self.assertEqual(tokens, 2 + rows * cols, (stride, drop))

    def test_forward_step_keeps_the_patchout_it_was_traced_with(self):
        # The benchmark traces every configuration on one backbone before
        # timing any: a step must not pick up later settings.
        backbone = MAESTBackbone.from_preset("maest_tiny")
        x = tf.zeros((1, 96, TINY["num_frames"]))
        backbone.set_inference_patchout(2, (0, 7, 8))
        _, step = forward_step(backbone, x, jit_compile=False)
        backbone.set_inference_patchout(1, ())
        rows, cols = patchout_grid(TINY, TINY["num_frames"], 2, (0, 7, 8))
        self.assertEqual(step().shape[1], 2 + rows * cols)

    def test_analytic_flops_match_profiler(self):
        # TensorFlow's profiler counts the traced graph's Conv2D, MatMul
        # and BatchMatMul ops from their static shapes: an independent
        # count that must agree exactly (integers, no tolerance).
        backbone = MAESTBackbone.from_preset("maest_tiny")
        spec = tf.TensorSpec((1, 96, TINY["num_frames"]), tf.float32)
        for stride, drop in PATCHOUTS:
            backbone.set_inference_patchout(stride, drop)
            concrete = tf.function(
                lambda x: backbone(x, training=False)
            ).get_concrete_function(spec)
            expected = graph_flops(concrete, MATMUL_OPS)
            analytic = maest_forward_flops(
                TINY, TINY["num_frames"], stride, drop
            )
            self.assertEqual(sum(analytic.values()), expected, (stride, drop))


@pytest.mark.parametrize("stride", [1, 3])
def test_patchout_grid_ceil(stride):
    # 187 time columns for 30 s: strides keep columns 0, k, 2k, ...
    config = backbone_presets["maest_30s"]
    rows, cols = patchout_grid(config, 1876, stride, (0, 7, 8))
    assert (rows, cols) == (6, len(range(0, 187, stride)))


def test_essentia_patches():
    # 1876 frames, 128-frame patches every 62 frames: starts 0 ... 1736,
    # 29 whole patches, clip-major; compared with NumPy slicing.
    mel = np.random.default_rng(0).normal(size=(2, 96, 1876)).astype("f4")
    patches = essentia_patches(tf.constant(mel, tf.float32)).numpy()
    assert patches.shape == (2 * 29, 96, 128)
    np.testing.assert_array_equal(patches[29 + 3], mel[1, :, 186:314])
    np.testing.assert_array_equal(patches[28], mel[0, :, 1736:1864])


def test_track_average():
    scores = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    averaged = track_average(scores, np.array([1, 1, 0]), tracks=2)
    np.testing.assert_allclose(averaged, [[5.0, 5.0], [2.0, 1.0]])


def test_quick_run_writes_the_issue_schema(tmp_path):
    # The whole benchmark on the tiny preset (about 20 s): the JSON it
    # writes has the fields and the reference rows the issue asks for.
    path = os.path.join(tmp_path, "maest_speed.json")
    main(["--quick", "--output", path])
    with open(path) as stream:
        result = json.load(stream)
    assert {"machine", "commit", "rows", "verdict"} <= set(result)
    rows = result["rows"]
    keys = {
        "model",
        "setting",
        "precision",
        "emb_per_s",
        "ratio_vs_effnet_essentia",
        "roc_auc",
    }
    assert all(keys <= set(row) for row in rows)
    # The speed preset, the tagger the quality comes from, the baseline.
    models = {row["model"] for row in rows}
    assert models == {"maest_tiny", "maest_tiny_tagger", "effnet_b0"}
    by_key = {
        (r["model"], r["setting"], r["precision"], r["runtime"], r["batch"]): r
        for r in rows
    }
    baseline = by_key[
        ("effnet_b0", "essentia_patches", "float32", "tf.function", 1)
    ]
    assert baseline["ratio_vs_effnet_essentia"] == 1.0
    reference = by_key[("maest_tiny", "none", "float32", "tf.function", 1)]
    assert reference["max_abs_diff"] == 0.0
    for row in rows:
        assert row["emb_per_s"] > 0
        if row["model"] != "effnet_b0":
            assert 0 <= row["roc_auc"] <= 1
            assert 0 <= row["max_abs_diff"] < 1
    # Every MAEST variant is measured, int8 full integer on one setting.
    precisions = {r["precision"] for r in rows}
    assert precisions >= {"float32", "bfloat16", "int8_dynamic", "int8_full"}
    assert any(r["runtime"] == "xla" for r in rows)
    # The Markdown table beside the JSON: the settings, then the baseline.
    with open(os.path.join(tmp_path, "maest_speed.md")) as stream:
        table = stream.read()
    assert table.startswith("| maest_tiny | float32 | bfloat16 |")
    assert "\n| none | " in table and "x Essentia" in table
