"""Checks of `benchmarks/s3t.py`: its input arithmetic, its pipeline and
its quick mode (not its timings)."""

import numpy as np

from benchmarks.s3t import augmentation_pipeline
from benchmarks.s3t import clip_samples
from benchmarks.s3t import main
from benchmarks.s3t import pipeline_rate
from keras_music.layers.cqt import CQT
from tests.test_case import TestCase


class S3TBenchmarkTest(TestCase):
    def test_paper_clip_fills_256_by_256(self):
        # 84 bins x 768 frames compressed 10x: 7680 CQT frames =
        # 1 + samples // 512, so (7680 - 1) * 512 samples (178.3 s).
        samples = clip_samples(256, 10, 3)
        self.assertEqual(samples, 7679 * 512)
        self.assertEqual(round(samples / 22050, 1), 178.3)
        cqt = CQT(time_compression=10, output_scale="db")
        self.assertEqual(cqt.compute_output_shape((1, samples)), (1, 84, 768))
        # One sample fewer loses the last compressed frame.
        self.assertEqual(
            cqt.compute_output_shape((1, samples - 1)), (1, 84, 767)
        )

    def test_pipeline_gives_two_square_views(self):
        # The CPU demo's sizes: 336 frames (compression 1 here, 7.8 s)
        # folded twice into 168 x 168.
        samples = clip_samples(168, 1, 2)
        audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, samples))
        dataset = augmentation_pipeline(
            audio.astype("float32"), 168, 1, 2, batch_size=2
        )
        view_1, view_2 = next(iter(dataset))
        self.assertEqual(tuple(view_1.shape), (2, 168, 168))
        self.assertEqual(tuple(view_2.shape), (2, 168, 168))
        # Independent crops and transforms: the views differ.
        self.assertGreater(float(np.abs(view_1 - view_2).max()), 0.1)

    def test_pipeline_rate_counts_examples_after_warm_up(self):
        # A fake clock advanced by each batch; the warm-up batch is not
        # timed: 3 batches of 4 examples in 6 s = 2 examples/s, exactly.
        now = [0.0]

        def batches():
            while True:
                now[0] += 2.0
                yield 0

        self.assertEqual(
            pipeline_rate(batches(), 4, 3, clock=lambda: now[0]), 2.0
        )

    def test_quick_mode_runs(self):
        figures = main(["--small", "--batch_size=2", "--pipeline_batches=1"])
        for name, value in figures.items():
            self.assertTrue(np.isfinite(value) and value > 0, name)
        self.assertAllClose(
            figures["ratio"],
            figures["pipeline_examples_per_second"]
            / figures["model_examples_per_second"],
        )
