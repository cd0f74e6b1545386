"""Checks of `benchmarks/qrnn.py` with a tiny setting (not its timings)."""

import numpy as np
import tensorflow as tf

from benchmarks.qrnn import main
from benchmarks.qrnn import scan_fo_pooling
from keras_music.layers.qrnn import fo_pooling
from tests.test_case import TestCase


class QRNNBenchmarkTest(TestCase):
    def test_scan_matches_numpy_loop(self):
        rng = np.random.default_rng(0)
        f = rng.uniform(0, 1, (2, 9, 3))
        z = rng.uniform(-1, 1, (2, 9, 3))
        c = np.zeros((2, 3))
        expected = []
        for t in range(9):
            c = f[:, t] * c + (1 - f[:, t]) * z[:, t]
            expected.append(c)
        f, z = tf.constant(f, "float32"), tf.constant(z, "float32")
        # float32 against a float64 loop over 9 steps, |c| <= 1.
        expected = np.stack(expected, 1)
        self.assertAllClose(scan_fo_pooling(f, z), expected, atol=1e-6)
        self.assertAllClose(fo_pooling(f, z), expected, atol=1e-6)

    def test_runs_with_a_tiny_setting(self):
        rows = main(
            [
                "--batch",
                "2",
                "--units",
                "3",
                "--frames",
                "5,17",
                "--repeats",
                "1",
            ]
        )
        self.assertEqual(
            [row[:2] for row in rows],
            [
                (5, "forward"),
                (5, "forward+backward"),
                (17, "forward"),
                (17, "forward+backward"),
            ],
        )
        self.assertTrue(all(ratio > 0 for row in rows for ratio in row[2:]))
