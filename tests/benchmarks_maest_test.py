"""Checks of the helpers of `benchmarks/maest.py` (not of its timings)."""

import numpy as np
import pytest
import tensorflow as tf

from benchmarks.maest import MATMUL_OPS
from benchmarks.maest import forward_step
from benchmarks.maest import graph_flops
from benchmarks.maest import maest_forward_flops
from benchmarks.maest import patchout_grid
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
