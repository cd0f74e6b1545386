"""Checks of `benchmarks/speed_flags.py`: its quick mode times a recipe's
step in float32, mixed precision and XLA and prints the ratios (not its
timings)."""

import contextlib
import io

import numpy as np
import pytest

from benchmarks.input_pipeline import RECIPES
from benchmarks.speed_flags import main
from tests.benchmarks_input_pipeline_test import splits
from tests.test_case import TestCase


class SpeedFlagsBenchmarkTest(TestCase):
    def run_quick(self, recipes, data=True):
        flags = ["--quick", f"--recipes={recipes}"]
        flags.append(f"--cache_dir={self.get_temp_dir()}")
        if data:
            # Noise TFRecords at the recipe's rate: no corpus to render.
            flags += ["--", f"--data={splits(self.get_temp_dir())}"]
            flags.append("--task=genre")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            rows = main(flags)
        return rows, printed.getvalue()

    def check(self, rows, printed):
        lines = printed.splitlines()
        self.assertIn("mixed/f32", lines[1])
        for row, line in zip(rows, lines[3:]):
            # No GPU in CI: the CPU's mixed policy.
            self.assertIn(row["policy"], ("mixed_bfloat16", "mixed_float16"))
            for key in ("float32", "mixed", "xla"):
                self.assertTrue(np.isfinite(row[key]) and row[key] > 0, key)
            cells = line.split()
            self.assertEqual(
                cells[-2:],
                [
                    f"{row['mixed'] / row['float32']:.2f}",
                    f"{row['xla'] / row['float32']:.2f}",
                ],
            )
        self.assertIn(f"mixed: {rows[0]['policy']}", printed)

    # A subprocess that builds, compiles and times three models (about a
    # minute of CPU): large, to keep the default suite within CI's budget.
    @pytest.mark.large
    def test_quick_mode_runs(self):
        rows, printed = self.run_quick("clmr")
        self.assertEqual(len(rows), 1)
        self.check(rows, printed)

    @pytest.mark.large
    def test_quick_mode_runs_every_recipe(self):
        rows, printed = self.run_quick(",".join(RECIPES), data=False)
        self.assertEqual(len(rows), len(RECIPES) + 1)
        self.check(rows, printed)
