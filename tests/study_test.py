"""Checks of `benchmarks/study.py`: its statistics, its tasks, its table,
and (under `--run_large`) its `--quick` mode end to end."""

import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.study import CSV_COLUMNS
from benchmarks.study import TASKS
from benchmarks.study import accuracy
from benchmarks.study import bootstrap_ci
from benchmarks.study import claims
from benchmarks.study import compare
from benchmarks.study import embedding_statistics
from benchmarks.study import fusion_claim
from benchmarks.study import fusion_predictions
from benchmarks.study import key_class
from benchmarks.study import loss_scale_rows
from benchmarks.study import maest_claims
from benchmarks.study import metre_class
from benchmarks.study import note_rate
from benchmarks.study import random_projection
from benchmarks.study import read_csv
from benchmarks.study import report_sections
from benchmarks.study import tag_rows
from benchmarks.study import tercile_labels
from benchmarks.study import throughput_row
from benchmarks.study import tune_groups
from benchmarks.study import write_csv
from tests.test_case import TestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _row(task, init, mean, low, high, metric="accuracy", method="clmr"):
    return {
        "method": method,
        "task": task,
        "init": init,
        "metric": metric,
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "n_test_tracks": 100,
        "seeds": 1,
    }


class BootstrapTest(TestCase):
    def test_interval_covers_the_binomial_spread(self):
        # 400 independent clips, half right: the 95% interval of the
        # accuracy is about 0.5 +- 1.96 * sqrt(0.25 / 400) = +- 0.049;
        # the bootstrap's percentiles match it to within 0.015 (the
        # Monte-Carlo error of 2,000 resamples and the discreteness).
        labels = np.zeros(400, "int32")
        predicted = np.tile([0, 1], 200)
        mean, low, high = bootstrap_ci(
            accuracy, labels, [predicted], np.arange(400), num_samples=2000
        )
        self.assertAlmostEqual(mean, 0.5)
        self.assertAlmostEqual(low, 0.5 - 0.049, delta=0.015)
        self.assertAlmostEqual(high, 0.5 + 0.049, delta=0.015)

    def test_clips_of_a_tune_are_drawn_together(self):
        # Each tune's 4 clips are all right or all wrong: 100 tunes, not
        # 400 independent clips, so the interval is twice as wide.
        labels = np.zeros(400, "int32")
        predicted = np.repeat(np.tile([0, 1], 50), 4)
        groups = np.repeat(np.arange(100), 4)
        _, low, high = bootstrap_ci(
            accuracy, labels, [predicted], groups, num_samples=2000
        )
        _, low_iid, high_iid = bootstrap_ci(
            accuracy, labels, [predicted], np.arange(400), num_samples=2000
        )
        self.assertGreater(high - low, 1.7 * (high_iid - low_iid))

    def test_seeds_widen_the_interval(self):
        # Two seeds, one always right and one always wrong: the mean is
        # 0.5 and the interval spans the seeds' spread.
        labels = np.zeros(200, "int32")
        mean, low, high = bootstrap_ci(
            accuracy,
            labels,
            [np.zeros(200), np.ones(200)],
            np.arange(200),
            num_samples=500,
        )
        self.assertAlmostEqual(mean, 0.5)
        self.assertEqual((low, high), (0.0, 1.0))

    def test_perfect_predictions_have_no_spread(self):
        labels = np.arange(50) % 3
        self.assertEqual(
            bootstrap_ci(accuracy, labels, [labels], np.arange(50)),
            (1.0, 1.0, 1.0),
        )

    def test_mismatched_predictions_are_refused(self):
        with pytest.raises(ValueError, match="shaped like"):
            bootstrap_ci(accuracy, np.zeros(5), [np.zeros(4)], np.arange(5))


class TasksTest(TestCase):
    def test_metre_classes(self):
        for field, expected in (
            ("2/4", "duple"),
            ("4/4", "duple"),
            ("C", "duple"),
            ("C|", "duple"),
            ("3/4", "triple"),
            ("3/2", "triple"),
            ("6/8", "compound"),
            ("9/8", "compound"),
            ("12/8", "compound"),
            ("5/4", None),
            ("none", None),
            ("", None),
        ):
            self.assertEqual(metre_class(field), expected, field)

    def test_key_of_signature_and_transposition(self):
        # Two sharps: D major; up 3 semitones: F; one flat down 5: C.
        self.assertEqual(key_class(2, 0), "D")
        self.assertEqual(key_class(2, 3), "F")
        self.assertEqual(key_class(-1, -5), "C")
        self.assertEqual(key_class(0, 0), "C")

    def test_note_rate_follows_the_corpus_tempo(self):
        # Reels at 7.5 running notes a second (tune_corpus), 10% faster.
        self.assertAlmostEqual(note_rate("reel", 1.1), 8.25)
        self.assertLess(note_rate("bach", 1.15), note_rate("jig", 0.85))

    def test_terciles(self):
        np.testing.assert_array_equal(
            tercile_labels([1.0, 2.0, 2.5, 3.0, 9.0], [2.0, 3.0]),
            [0, 1, 1, 2, 2],
        )


class TableTest(TestCase):
    def test_csv_round_trip_with_exact_columns(self):
        path = os.path.join(self.get_temp_dir(), "study.csv")
        rows = [_row("dance", "pretrained", 0.61, 0.57, 0.65)]
        write_csv(path, rows)
        with open(path) as stream:
            self.assertEqual(stream.readline().strip(), ",".join(CSV_COLUMNS))
        self.assertEqual(read_csv(path), rows)

    def test_csv_with_other_columns_is_refused(self):
        path = os.path.join(self.get_temp_dir(), "bad.csv")
        with open(path, "w") as stream:
            stream.write("method,task,mean\nclmr,dance,0.5\n")
        with pytest.raises(ValueError, match="columns"):
            read_csv(path)

    def test_claims_need_non_overlapping_intervals(self):
        rows = [
            _row("dance", "pretrained", 0.60, 0.55, 0.65),
            _row("dance", "random", 0.40, 0.35, 0.45),
            _row("dance", "crop_only", 0.58, 0.52, 0.63),
            _row("metre", "pretrained", 0.50, 0.45, 0.55),
            _row("metre", "random", 0.48, 0.43, 0.53),
        ]
        self.assertEqual(compare(rows[0], rows[1]), ">")
        self.assertEqual(compare(rows[1], rows[0]), "<")
        self.assertEqual(compare(rows[0], rows[2]), "~")
        lines = claims(rows, "clmr")
        self.assertIn("**seen** (better on ['dance']", lines[0])
        self.assertIn("crop only: **not seen**", lines[1])
        # Random init significantly better somewhere: not seen.
        rows.append(_row("key", "pretrained", 0.10, 0.08, 0.12))
        rows.append(_row("key", "random", 0.30, 0.25, 0.35))
        self.assertIn("**not seen**", claims(rows, "clmr")[0])

    def test_s3t_claims_compare_each_pre_processor_with_its_random_init(self):
        rows = [
            _row("key", "pretrained", 0.60, 0.55, 0.65, method="s3t"),
            _row("key", "random", 0.40, 0.35, 0.45, method="s3t"),
            _row("key", "freq_tiling", 0.50, 0.46, 0.54, method="s3t"),
            _row("key", "freq_tiling_random", 0.47, 0.42, 0.52, method="s3t"),
        ]
        lines = claims(rows, "s3t")
        self.assertIn("Time Folding", lines[0])
        self.assertIn("**seen** (better on ['key']", lines[0])
        self.assertIn("Frequency Tiling", lines[1])
        self.assertIn("**not seen** (better on no task", lines[1])
        self.assertIn("Time Folding > Frequency Tiling", lines[2])
        self.assertIn("better on ['key']", lines[2])
        # No crop_only rows: that claim was not run.
        self.assertIn("crops-only pre-training", lines[3])
        self.assertIn("not run", lines[3])
        self.assertIn("label fractions", lines[4])

    def test_crop_only_claims_compare_with_random_init(self):
        rows = [
            _row("style", "random", 0.40, 0.35, 0.45, method="s3t"),
            _row("style", "crop_only", 0.55, 0.50, 0.60, method="s3t"),
            _row("key", "random", 0.40, 0.35, 0.45, method="s3t"),
            _row("key", "crop_only", 0.30, 0.25, 0.34, method="s3t"),
        ]
        line = claims(rows, "s3t")[3]
        self.assertIn(
            "**not seen** (better on ['style']; worse on ['key']", line
        )
        clmr = [
            _row("style", "random", 0.40, 0.35, 0.45),
            _row("style", "crop_only", 0.55, 0.50, 0.60),
        ]
        self.assertIn("**seen** (better on ['style']", claims(clmr, "clmr")[2])

    def test_multiformat_claims_per_format_and_fused(self):
        m = "multiformat"
        rows = [
            _row("key", "waveform", 0.60, 0.55, 0.65, method=m),
            _row("key", "waveform_random", 0.40, 0.35, 0.45, method=m),
            _row("key", "spectrogram", 0.50, 0.45, 0.55, method=m),
            _row("key", "spectrogram_random", 0.48, 0.43, 0.53, method=m),
            _row("key", "concat", 0.70, 0.66, 0.74, method=m),
            _row("key", "concat_random", 0.50, 0.45, 0.55, method=m),
        ]
        lines = claims(rows, m)
        self.assertIn("waveform > random init", lines[0])
        self.assertIn("**seen** (better on ['key']", lines[0])
        self.assertIn("spectrogram", lines[1])
        self.assertIn("**not seen** (better on no task", lines[1])
        self.assertIn("**seen** (better on ['key']", lines[2])
        # No weighted rows: not run.
        self.assertIn("weighted", lines[3])
        self.assertIn("not run", lines[3])
        self.assertIn("concat > each single format", lines[4])
        self.assertIn("**seen** (above both on ['key']", lines[4])
        self.assertIn("key: concat 0.700 [0.660, 0.740]", lines[4])
        self.assertIn("pre-trained waveform", lines[5])

    def test_concat_must_beat_both_formats(self):
        m = "multiformat"
        rows = [
            _row("key", "waveform", 0.60, 0.55, 0.65, method=m),
            _row("key", "spectrogram", 0.50, 0.45, 0.55, method=m),
            # Above the spectrogram only: not above both.
            _row("key", "concat", 0.64, 0.60, 0.68, method=m),
        ]
        self.assertIn("**not seen** (above both on no task", fusion_claim(rows))
        rows += [
            _row("dance", "waveform", 0.60, 0.55, 0.65, method=m),
            _row("dance", "spectrogram", 0.50, 0.45, 0.55, method=m),
            _row("dance", "concat", 0.80, 0.75, 0.85, method=m),
            # Below the waveform on metre: not seen though dance is above.
            _row("metre", "waveform", 0.80, 0.75, 0.85, method=m),
            _row("metre", "spectrogram", 0.50, 0.45, 0.55, method=m),
            _row("metre", "concat", 0.60, 0.55, 0.65, method=m),
        ]
        line = fusion_claim(rows)
        self.assertIn("**not seen** (above both on ['dance']", line)
        self.assertIn("below one on ['metre']", line)
        self.assertIn("not run", fusion_claim([]))


class FusionTest(TestCase):
    def test_weight_follows_the_probe_that_is_right_on_valid(self):
        # Valid: the first probe is always right (0.867 on the right
        # class), the second always wrong and surer (0.95 on the next
        # class). The fused right class wins for w > 0.536: of the
        # weights right on every valid clip the one nearest the even mix
        # is 0.6, and the test predictions are the argmax of
        # 0.6 p_1 + 0.4 p_2.
        rng = np.random.default_rng(0)
        valid_y = rng.integers(3, size=50)
        right = np.eye(3)[valid_y] * 0.8 + 0.2 / 3
        wrong = np.eye(3)[(valid_y + 1) % 3] * 0.925 + 0.075 / 3
        test_a = rng.dirichlet(np.ones(3), size=40)
        test_b = rng.dirichlet(np.ones(3), size=40)
        predicted, w = fusion_predictions(
            (right, wrong), valid_y, (test_a, test_b)
        )
        self.assertAlmostEqual(w, 0.6)
        np.testing.assert_array_equal(
            predicted, (0.6 * test_a + 0.4 * test_b).argmax(1)
        )
        # The other way round: w = 0.4.
        predicted, w = fusion_predictions(
            (wrong, right), valid_y, (test_a, test_b)
        )
        self.assertAlmostEqual(w, 0.4)
        np.testing.assert_array_equal(
            predicted, (0.4 * test_a + 0.6 * test_b).argmax(1)
        )

    def test_equal_probes_mix_evenly(self):
        # Both probes equally good on valid: every w ties, 0.5 is kept,
        # and the test predictions are the argmax of the mean.
        valid_y = np.array([0, 1, 2, 0])
        p = np.eye(3)[valid_y] * 0.5 + 0.5 / 3
        test_a = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
        test_b = np.array([[0.0, 0.8, 0.2], [0.3, 0.3, 0.4]])
        predicted, w = fusion_predictions((p, p), valid_y, (test_a, test_b))
        self.assertEqual(w, 0.5)
        np.testing.assert_array_equal(
            predicted, ((test_a + test_b) / 2).argmax(1)
        )


class EmbeddingStatisticsTest(TestCase):
    def test_pase_loss_scales_and_their_claim(self):
        # Two seeds. Equal weights: the waveform worker's loss is 20x
        # (seed 0) and 25x (seed 1) below the tempogram's; re-weighted:
        # within 2x in both seeds.
        scales = {
            "equal": {
                0: {"waveform": 0.05, "lps": 1.0, "tempogram": 1.0},
                1: {"waveform": 0.04, "lps": 0.8, "tempogram": 1.0},
            },
            "reweighted": {
                0: {"waveform": 0.6, "lps": 1.0, "tempogram": 1.2},
                1: {"waveform": 0.9, "lps": 1.1, "tempogram": 1.0},
            },
        }
        weights = {0: {"waveform": 20.0, "lps": 1.0, "tempogram": 1.0}}
        weights[1] = {"waveform": 25.0, "lps": 1.25, "tempogram": 1.0}
        rows = loss_scale_rows(scales, weights)
        ratio = [
            r
            for r in rows
            if r["metric"] == "max_over_min" and r["init"] == "pretrained"
        ][0]
        # Mean of 20 and 25, the interval the range over the seeds.
        self.assertEqual(
            (ratio["mean"], ratio["ci_low"], ratio["ci_high"]),
            (22.5, 20.0, 25.0),
        )
        waveform = [
            r
            for r in rows
            if (r["task"], r["init"], r["metric"])
            == ("loss_weight", "reweighted", "waveform")
        ][0]
        self.assertEqual((waveform["mean"], waveform["seeds"]), (22.5, 2))
        line = [x for x in claims(rows, "pase_plus") if "magnitude" in x][0]
        self.assertIn("**seen**", line)
        self.assertIn("equal weights 22.500 [20.000, 25.000]", line)
        # 1.2 / 0.6 = 2 and 1.1 / 0.9 = 1.222: mean 1.611.
        self.assertIn("re-weighted 1.611 [1.222, 2.000]", line)
        # One seed re-weighted 12x apart: not seen.
        scales["reweighted"][1]["waveform"] = 0.1
        rows = loss_scale_rows(scales, weights)
        line = [x for x in claims(rows, "pase_plus") if "magnitude" in x][0]
        self.assertIn("**not seen**", line)

    def test_pase_claims_compare_both_weightings_with_random_init(self):
        m = "pase_plus"
        rows = [
            _row("key", "pretrained", 0.60, 0.55, 0.65, method=m),
            _row("key", "reweighted", 0.50, 0.46, 0.54, method=m),
            _row("key", "random", 0.40, 0.35, 0.45, method=m),
        ]
        lines = claims(rows, m)
        self.assertIn("all workers equal > random init", lines[0])
        self.assertIn("**seen** (better on ['key']", lines[0])
        self.assertIn("re-weighted > random init", lines[1])
        self.assertIn("**seen** (better on ['key']", lines[1])
        self.assertIn("re-weighted > all workers equal", lines[2])
        self.assertIn(
            "**not seen** (better on no task; worse on ['key']", lines[2]
        )
        self.assertIn("one order of magnitude", lines[3])
        self.assertIn("not run", lines[3])

    def test_effective_rank_counts_equal_directions(self):
        # 3 orthogonal directions of equal variance in 8 dimensions, 5 of
        # them constant: the singular-value shares are 1/3 each, so the
        # entropy is log 3 and the effective rank exactly 3.
        rng = np.random.default_rng(0)
        basis = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        signs = np.array(
            [[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)]
        )
        features = np.concatenate(
            [signs @ basis.T, np.full((8, 5), 2.0)], axis=1
        )
        stats = embedding_statistics(features)
        self.assertEqual(stats["dim"], 8.0)
        self.assertAlmostEqual(stats["effective_rank"], 3.0, places=6)
        self.assertEqual(stats["dead_dims"], 5.0)

    def test_one_dominant_direction_has_rank_near_one(self):
        rng = np.random.default_rng(0)
        features = rng.normal(size=(500, 16)) * np.r_[100.0, np.ones(15)]
        # Shares about 1e4 : 1 x 15: entropy about 0.016, rank about 1.02.
        rank = embedding_statistics(features)["effective_rank"]
        self.assertLess(rank, 1.05)
        self.assertGreater(rank, 1.0)

    def test_random_projection_is_one_linear_map_for_all_splits(self):
        rng = np.random.default_rng(1)
        features = {"train": rng.normal(size=(6, 4)), "test": np.eye(4)}
        projected = random_projection(features, 3, seed=2)
        self.assertEqual(projected["train"].shape, (6, 3))
        # The test rows are the identity: they read out the matrix, which
        # maps the train rows too.
        np.testing.assert_allclose(
            projected["train"], features["train"] @ projected["test"]
        )


class ReportTest(TestCase):
    def test_sections_of_an_earlier_report_keep_their_run_lines(self):
        # A report with one header for one run: its run lines go into the
        # method's section, which is kept whole.
        path = os.path.join(self.get_temp_dir(), "STUDY.md")
        with open(path, "w") as stream:
            stream.write(
                "# Study\n\nCommand: `python benchmarks/study.py`  \n"
                "Commit: abc  \nMachine: m  \nMode: full.\n\n"
                "## Evaluation corpus and tasks\n\ncorpus\n\n"
                "## clmr\n\n![clmr](clmr.png)\n\nTime: 1 s.\n\n"
                "## The encoders\n\nload it\n"
            )
        header, sections = report_sections(path)
        self.assertEqual(len(header), 4)
        self.assertEqual(list(sections), ["clmr"])
        clmr = sections["clmr"]
        self.assertEqual(clmr[:3], ["## clmr", "", "![clmr](clmr.png)"])
        self.assertEqual(clmr[4:8], header)
        self.assertEqual(clmr[-1], "Time: 1 s.")
        self.assertNotIn("load it", clmr)

    def test_no_earlier_report(self):
        path = os.path.join(self.get_temp_dir(), "missing.md")
        self.assertEqual(report_sections(path), ([], {}))


class MAESTRowsTest(TestCase):
    def test_throughput_is_the_batch_over_the_median_call(self):
        row = throughput_row("maest", "supervised", [0.5] * 10, batch=32)
        self.assertEqual(
            (row["mean"], row["ci_low"], row["ci_high"]), (64, 64, 64)
        )
        self.assertEqual(
            (row["task"], row["metric"]), ("throughput", "clips_per_second")
        )
        # One slow call of nine (a busy machine) moves the median, not
        # the mean: 32 / 0.25.
        row = throughput_row("maest", "x", [0.25] * 8 + [5.0], batch=32)
        self.assertEqual(row["mean"], 128.0)
        self.assertLessEqual(row["ci_low"], row["mean"])
        self.assertLessEqual(row["mean"], row["ci_high"])
        with pytest.raises(ValueError, match="`seconds` must hold"):
            throughput_row("maest", "x", [0.5], batch=32)
        with pytest.raises(ValueError, match="`seconds` must hold"):
            throughput_row("maest", "x", [0.5, 0.0], batch=32)

    def test_tag_rows_are_sklearns_macro_auc_with_a_paired_drop(self):
        from sklearn.metrics import average_precision_score
        from sklearn.metrics import roc_auc_score

        rng = np.random.default_rng(0)
        labels = rng.integers(0, 2, (120, 3))
        good = labels + rng.normal(0, 0.6, labels.shape)
        noisy = labels + rng.normal(0, 2.0, labels.shape)
        ids = np.asarray([f"t{i}" for i in range(120)])

        def outputs(scores):
            return [{"track_ids": ids, "labels": labels, "scores": scores}]

        groups = np.repeat(np.arange(40), 3)
        rows = tag_rows(
            "maest", "instrument", "supervised", outputs(good), groups, 300
        )
        by_metric = {r["metric"]: r for r in rows}
        self.assertEqual(set(by_metric), {"roc_auc", "pr_auc"})
        # The mean is the metric on all tracks: scikit-learn's, to rounding.
        self.assertAlmostEqual(
            by_metric["roc_auc"]["mean"],
            roc_auc_score(labels, good, average="macro"),
            places=4,
        )
        self.assertAlmostEqual(
            by_metric["pr_auc"]["mean"],
            average_precision_score(labels, good, average="macro"),
            places=4,
        )
        rows = tag_rows(
            "maest",
            "instrument",
            "supervised_t2",
            outputs(noisy),
            groups,
            300,
            reference=outputs(good),
        )
        drop = [r for r in rows if r["metric"] == "roc_auc_drop"][0]
        self.assertAlmostEqual(
            drop["mean"],
            roc_auc_score(labels, good) - roc_auc_score(labels, noisy),
            places=4,
        )
        # Much worse scores: the whole interval of the drop is above 0.
        self.assertGreater(drop["ci_low"], 0.0)
        # The same scores: no drop, and no spread (paired draws).
        rows = tag_rows(
            "maest",
            "instrument",
            "x",
            outputs(good),
            groups,
            100,
            reference=outputs(good),
        )
        drop = [r for r in rows if r["metric"] == "roc_auc_drop"][0]
        self.assertEqual(
            (drop["mean"], drop["ci_low"], drop["ci_high"]), (0.0, 0.0, 0.0)
        )

    def test_tune_groups_follow_the_track_order(self):
        split = {
            "track_ids": np.asarray(["a", "b", "c"]),
            "groups": np.asarray([7, 8, 9]),
        }
        np.testing.assert_array_equal(tune_groups(["c", "a"], split), [9, 7])

    def test_maest_claims(self):
        def tag(init, mean, low, high, metric="roc_auc"):
            return _row("instrument", init, mean, low, high, metric, "maest")

        def speed(init, mean, low, high):
            return _row(
                "throughput",
                init,
                mean,
                low,
                high,
                "clips_per_second",
                "maest",
            )

        rows = [
            tag("supervised", 0.80, 0.77, 0.83),
            tag("untrained", 0.50, 0.46, 0.54),
            tag("supervised", 0.40, 0.35, 0.45, "pr_auc"),
            tag("untrained", 0.20, 0.17, 0.23, "pr_auc"),
            speed("supervised", 10.0, 9.5, 10.5),
            speed("supervised_t2", 18.0, 17.0, 19.0),
            speed("supervised_t5", 40.0, 38.0, 42.0),
            speed("supervised_t10", 70.0, 66.0, 74.0),
            tag("supervised_t2", 0.01, 0.0, 0.02, "roc_auc_drop"),
            tag("supervised_t5", 0.03, 0.01, 0.05, "roc_auc_drop"),
            tag("supervised_t10", 0.08, 0.05, 0.11, "roc_auc_drop"),
            _row("key", "supervised", 0.6, 0.55, 0.65, method="maest"),
            _row("key", "untrained", 0.3, 0.25, 0.35, method="maest"),
        ]
        lines = maest_claims(rows, (2, 5, 10))
        self.assertIn("supervised > untrained", lines[0])
        self.assertIn("**seen** (supervised 0.800 [0.770, 0.830]", lines[0])
        self.assertIn("PR-AUC 0.400 [0.350, 0.450]", lines[0])
        self.assertIn("throughput increases", lines[1])
        self.assertIn("**seen**", lines[1])
        self.assertIn("T=10 0.080 [0.050, 0.110]", lines[1])
        self.assertIn("**seen** (better on ['key']", lines[2])
        self.assertIn("label fractions", lines[3])
        self.assertIn("supervised, logistic", lines[3])
        # T=5 no faster than T=2 within the intervals; untrained as good.
        rows[6] = speed("supervised_t5", 18.5, 17.5, 19.5)
        rows[1] = tag("untrained", 0.78, 0.74, 0.82)
        lines = maest_claims(rows, (2, 5, 10))
        self.assertIn("**not seen**", lines[0])
        self.assertIn("**not seen**", lines[1])
        # No patchout rows: not run.
        lines = maest_claims(rows[:4], (2, 5, 10))
        self.assertIn("not run", lines[1])


@pytest.mark.large
def test_quick_mode_writes_a_table_that_parses(tmp_path):
    results = tmp_path / "results"
    subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "benchmarks", "study.py"),
            "--quick",
            f"--output={tmp_path / 'runs'}",
            f"--results={results}",
        ],
        check=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=1800,
    )
    rows = read_csv(results / "study.csv")
    inits = {
        (r["method"], r["task"], r["init"])
        for r in rows
        if r["metric"] == "accuracy"
    }
    expected = {
        "clmr": ("pretrained", "random", "crop_only", "majority"),
        "s3t": (
            "pretrained",
            "random",
            "crop_only",
            "freq_tiling",
            "freq_tiling_random",
            "majority",
            "baseline_logmel",
        ),
        "pase_plus": ("pretrained", "reweighted", "random", "majority"),
        "maest": ("supervised", "untrained", "majority", "baseline_logmel"),
        "multiformat": (
            "waveform",
            "waveform_random",
            "spectrogram",
            "spectrogram_random",
            "concat",
            "concat_random",
            "weighted",
            "weighted_random",
            "baseline_logmel_rp",
        ),
    }
    for method, names in expected.items():
        for task in TASKS:
            for init in names:
                assert (method, task, init) in inits
        assert (results / f"{method}.png").stat().st_size > 0
    for row in rows:
        assert row["ci_low"] <= row["mean"] <= row["ci_high"], row
    report = (results / "STUDY.md").read_text()
    assert "python benchmarks/study.py --quick" in report
    for method in (
        "## s3t",
        "## clmr",
        "## pase_plus",
        "## multiformat",
        "MoCo v2 with queue",
        "concat > each single format",
    ):
        assert method in report
    # MAEST: tagging before / after training and under each inference
    # patchout, each with its throughput; the section states its claims.
    tagging = {
        (r["init"], r["metric"])
        for r in rows
        if r["method"] == "maest" and r["task"] in ("instrument", "throughput")
    }
    for init in ("untrained", "supervised"):
        assert {(init, "roc_auc"), (init, "pr_auc")} <= tagging
    for init in ("supervised_t2", "supervised_t5", "supervised_t10"):
        assert (init, "roc_auc_drop") in tagging
        assert (init, "clips_per_second") in tagging
    assert (
        "inference patchout: throughput increases with the time stride"
        in report
    )
    # PASE+'s loss scales: one per worker and weighting, the ratio too.
    scales = {
        (r["init"], r["metric"]) for r in rows if r["task"] == "loss_scale"
    }
    for init in ("pretrained", "reweighted"):
        for worker in ("waveform", "lps", "prosody", "mfcc", "chroma"):
            assert (init, worker) in scales
        assert (init, "max_over_min") in scales
    # The kept encoders load in a fresh process and embed a waveform of
    # the documented length (CLMR: 59,049 samples; S3T: 6 s at 22.05 kHz;
    # PASE+: 6 s at 16 kHz; MAEST: 5 s at 16 kHz).
    for run, samples in (
        ("clmr/all_seed0", 59049),
        ("pase_plus/equal_seed0", 96000),
        ("pase_plus/reweighted_seed0", 96000),
        ("s3t/time_folding_seed0", 132300),
        ("s3t/crop_only_seed0", 132300),
        ("s3t/frequency_tiling_seed0", 132300),
        ("maest/supervised_seed0", 80000),
        ("multiformat/waveform_seed0", 59049),
        ("multiformat/spectrogram_seed0", 59049),
    ):
        path = tmp_path / "runs" / run / "encoder.keras"
        assert os.path.isfile(path), path
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, numpy as np, keras, keras_music;"
                "m = keras.saving.load_model(sys.argv[1]);"
                "y = m(np.zeros((1, int(sys.argv[2])), 'float32'));"
                "assert y.shape[0] == 1 and len(y.shape) == 2",
                str(path),
                str(samples),
            ],
            check=True,
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"),
        )


# In a subprocess: the recipe's builders read absl flags, process-wide.
VIEWS_SCRIPT = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from benchmarks import study
study.define_flags()
study.FLAGS(["study"])
recipe = study.s3t_recipe()
config = {"clip_seconds": 6.0, "epochs": 1, "queue_size": 8}
setup = study.s3t_setup(recipe, "time_folding", config)
# A standardised CQT of a 6 s clip (84 bins, 259 frames), no cell 0.
cqt = np.random.default_rng(0).uniform(1, 2, (16, 84, 259)).astype("f4")
with study.recipe_flags(("seed", 0)):
    for name in ("crop_only_pad", "crop_only"):
        views = recipe.view_augmentation(setup, name)(cqt, training=True)
        np.save(f"{sys.argv[2]}_{name}.npy", np.stack(views))
    try:
        recipe.view_augmentation(setup, "strong")
    except ValueError as error:
        print(error)
print(setup.view_frames)
"""


def test_s3t_crop_only_views(tmp_path):
    path = tmp_path / "views"
    done = subprocess.run(
        [sys.executable, "-c", VIEWS_SCRIPT, ROOT, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=600,
    )
    lines = done.stdout.strip().split("\n")
    assert "must be 'paper', 'crop_only' or 'crop_only_pad'" in lines[-2]
    assert "Received: augmentation='strong'" in lines[-2]
    frames = int(lines[-1])
    assert frames == 336  # the 2 x 168 frames Time Folding folds
    # crop_only_pad: (2 views, 16 clips, 84 bins, 336 frames).
    views = np.load(f"{path}_crop_only_pad.npy")
    assert views.shape == (2, 16, 84, frames)
    cqt = np.random.default_rng(0).uniform(1, 2, (16, 84, 259))
    lengths = []
    for view in views.reshape(-1, 84, frames):
        clip = cqt[len(lengths) % 16]
        # The crop's frames first, then zeros (the encoder pads a whole
        # clip with zeros too): 50-90% of 259 frames, 129-234 of them.
        length = int(np.sum(np.any(view != 0, axis=0)))
        assert 129 <= length <= 234, length
        np.testing.assert_array_equal(view[:, length:], 0.0)
        # Not stretched: a window of the clip's own frames, as they were
        # (float32 of the same values: equal to 1e-6).
        start = int(np.argmin(np.abs(clip[0] - view[0, 0])))
        np.testing.assert_allclose(
            view[:, :length], clip[:, start : start + length], atol=1e-6
        )
        lengths.append(length)
    # The two views of a clip are two crops, not one.
    assert len(set(lengths)) > 4
    # crop_only: the crops stretched over all 336 frames (linear
    # interpolation of values in [1, 2]: no padding, nothing masked).
    stretched = np.load(f"{path}_crop_only.npy")
    assert stretched.shape == (2, 16, 84, frames)
    assert stretched.min() >= 1.0 - 1e-6 and stretched.max() <= 2.0 + 1e-6
    # Not the clip itself: consecutive frames of a view are interpolated
    # between neighbouring input frames, so they differ less than
    # independent frames (uniform on [1, 2]: mean |difference| 1/3).
    step = np.abs(np.diff(stretched, axis=-1)).mean()
    assert step < 0.25, step
