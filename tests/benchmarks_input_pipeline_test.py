"""Checks of `benchmarks/input_pipeline.py`: its quick mode measures a
recipe locally and through the data service and prints the table (not
its timings)."""

import contextlib
import io
import os

import numpy as np
import pytest

from benchmarks.input_pipeline import RECIPES
from benchmarks.input_pipeline import main
from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from tests.data.tfrecord_writer_test import TASKS
from tests.test_case import TestCase

RATE = 22050  # clmr's


def noise_track(item):
    """2.5 s of noise, labelled like tests/data's synthetic tracks."""
    index = int(item[1:])
    rng = np.random.default_rng(index)
    return Track(
        track_id=item,
        audio=rng.uniform(-0.5, 0.5, 5 * RATE // 2).astype("float32"),
        sample_rate=RATE,
        labels={"genre": [TASKS["genre"]["vocabulary"][index % 3]]},
    )


def splits(directory):
    """train/valid/test folders of 6 noise tracks each, for `--data`."""
    root = os.path.join(directory, "data")
    for name in ("train", "valid", "test"):
        write_tfrecords(
            [f"t{i}" for i in range(6)],
            noise_track,
            os.path.join(root, name),
            tasks={"genre": TASKS["genre"]},
            sample_rate=RATE,
            num_shards=2,
            progress=False,
        )
    return root


class InputPipelineBenchmarkTest(TestCase):
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
        self.assertIn("local/step", lines[1])
        self.assertIn("service/step", lines[1])
        for row, line in zip(rows, lines[3:]):
            for key in ("local", "service", "step"):
                self.assertTrue(np.isfinite(row[key]) and row[key] > 0, key)
            # The printed ratios are the measured ones, two decimals.
            cells = line.split()
            self.assertEqual(
                cells[-2:],
                [
                    f"{row['local'] / row['step']:.2f}",
                    f"{row['service'] / row['step']:.2f}",
                ],
            )

    def test_quick_mode_runs(self):
        rows, printed = self.run_quick("clmr")
        self.assertEqual(len(rows), 1)
        self.assertTrue(rows[0]["recipe"].startswith("clmr"))
        self.assertEqual(rows[0]["batch_size"], 4)
        self.check(rows, printed)

    @pytest.mark.large
    def test_quick_mode_runs_every_recipe(self):
        rows, printed = self.run_quick(",".join(RECIPES), data=False)
        # multiformat measures its two encoders.
        self.assertEqual(len(rows), len(RECIPES) + 1)
        self.check(rows, printed)

    def test_unknown_recipe_is_refused(self):
        with pytest.raises(SystemExit):
            with contextlib.redirect_stderr(io.StringIO()):
                main(["--quick", "--recipes=maest,nope"])
