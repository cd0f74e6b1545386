"""Checks of `benchmarks/export.py`: its quick mode runs every export and
gives consistent figures (not its timings)."""

import os

import numpy as np

from benchmarks.export import EXPORTS
from benchmarks.export import main
from tests.test_case import TestCase


class ExportBenchmarkTest(TestCase):
    def test_quick_mode_runs(self):
        output = self.get_temp_dir()
        figures = main(["--quick", "--num_tags=4", f"--output_dir={output}"])
        labels = [label for label, _ in EXPORTS]
        self.assertEqual(sorted(figures["latency"]), sorted(["Keras", *labels]))
        for label in labels:
            self.assertGreater(figures["export_seconds"][label], 0)
            self.assertGreater(figures["sizes"][label], 0)
        # Every latency measured, finite and positive.
        for label, seconds in figures["latency"].items():
            self.assertTrue(np.isfinite(seconds) and seconds > 0, label)
        # The exports written where asked: a SavedModel version folder
        # and the two TFLite files, each with its model card.
        self.assertEqual(
            sorted(os.listdir(output)),
            [
                "maest_tiny_tagger",
                "maest_tiny_tagger.float16.json",
                "maest_tiny_tagger.float16.tflite",
                "maest_tiny_tagger.json",
                "maest_tiny_tagger.tflite",
            ],
        )
        # float16 weights: about half the float32 file.
        ratio = (
            figures["sizes"]["TFLite float16"]
            / figures["sizes"]["TFLite float32"]
        )
        self.assertLess(ratio, 0.8)
        # The differences are against the Keras model: float32 exports
        # within the 1e-5 (SavedModel) and 1e-4 (TFLite); float16
        # weights move the probabilities by about 1e-4 (measured 1.8e-4
        # with 50 tags), far less than 1e-2.
        self.assertLess(figures["probability_diff"]["SavedModel"], 1e-5)
        self.assertLess(figures["probability_diff"]["TFLite float32"], 1e-4)
        self.assertLess(figures["probability_diff"]["TFLite float16"], 1e-2)
        self.assertLess(figures["embedding_diff"]["SavedModel"], 1e-4)
        self.assertGreater(figures["probability_diff"]["TFLite float16"], 0)
