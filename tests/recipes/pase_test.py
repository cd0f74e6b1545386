"""`recipes/pase.py` end to end on a tiny rendered corpus (subprocesses:
absl flags and logical CPU devices are process-wide)."""

import csv
import json
import os
import re
import sys

import keras
import numpy as np
import pytest

import keras_music  # noqa: F401  (registers the models for loading)
from keras_music.data.tfrecord_format import read_manifest
from keras_music.data.tune_corpus import build_tune_corpus
from keras_music.features.pase_targets import TARGET_DIMS
from tests.recipes.recipe_runner import ROOT
from tests.recipes.recipe_runner import flag_errors
from tests.recipes.recipe_runner import kill_after_first_backup
from tests.recipes.recipe_runner import run_recipe

RECIPE = os.path.join(ROOT, "recipes", "pase.py")
# 24 clips of 2 s: every split holds a few tracks of every `style`
# (always labelled, unlike `dance`), and their targets take seconds.
CLIPS, SECONDS = 24, 2


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("corpus"))
    # The recipe renders the same corpus from its flags; building it here
    # once lets every run below reuse the cache.
    splits = build_tune_corpus(
        num_clips=CLIPS, clip_seconds=SECONDS, cache_dir=cache, progress=False
    )
    return cache, splits


def _command(corpus, output, *extra):
    cache, _ = corpus
    return [
        sys.executable,
        RECIPE,
        # PASE (no QRNN) compiles in a fraction of PASE+'s time.
        "--encoder=pase",
        "--preset=pase_tiny",
        "--task=style",
        f"--corpus_clips={CLIPS}",
        f"--corpus_seconds={SECONDS}",
        f"--cache_dir={cache}",
        f"--output={output}",
        "--batch_size=4",
        "--steps_per_epoch=2",
        "--trials=1",
        "--probe_epochs=2",
        "--finetune_epochs=1",
        "--verbose=2",
        *extra,
    ]


def _history(path):
    with open(path) as stream:
        return list(csv.DictReader(stream))


def test_reweighted_pretraining_and_three_scenarios(corpus, tmp_path):
    output = str(tmp_path / "run")
    proc = run_recipe(
        _command(
            corpus,
            output,
            "--weighting=reweighted",
            "--epochs=2",
            "--reweight_epochs=2",
            "--workers=W,L,M,T",
        )
    )
    assert "(1 replicas)" in proc.stdout
    with open(os.path.join(output, "results.json")) as stream:
        results = json.load(stream)
    workers = ["waveform", "lps", "mfcc", "tempogram"]

    # Phase one's weights are 1 / the mean validation loss per worker over
    # its 2 epochs, recomputed here from its own CSV log (float32 losses
    # printed in full: rtol 1e-6).
    rows = _history(os.path.join(output, "equal", "history.csv"))
    assert len(rows) == 2
    with open(os.path.join(output, "loss_weights.json")) as stream:
        weights = json.load(stream)
    assert sorted(weights) == sorted(workers)
    for name in workers:
        mean = np.mean([float(r[f"val_{name}_loss"]) for r in rows])
        np.testing.assert_allclose(weights[name], 1.0 / mean, rtol=1e-6)
        np.testing.assert_allclose(
            results["loss_scales"]["equal"][name], mean, rtol=1e-6
        )
    # The fresh run trains with them: its logged total is their weighted
    # sum of its worker losses (the per-epoch means of a linear function;
    # float32 accumulation: rtol 1e-5).
    rows = _history(os.path.join(output, "pretrain", "history.csv"))
    for row in rows:
        weighted = sum(
            weights[n] * float(row[f"val_{n}_loss"]) for n in workers
        )
        np.testing.assert_allclose(float(row["val_loss"]), weighted, rtol=1e-5)
    assert results["loss_weights"] == weights

    # Every scenario scored, with the random-init and phase-one probes.
    scores = results["scores"]
    for name in (
        "frozen",
        "frozen_random_init",
        "frozen_equal",
        "finetune",
        "supervised",
    ):
        assert len(scores[name]["f1"]["trials"]) == 1
        assert 0.0 <= scores[name]["f1"]["mean"] <= 1.0
    assert results["metric"] == "f1" and results["test_tracks"] > 0
    assert f"test ({results['test_tracks']} tracks, style)" in proc.stdout
    assert "macro F1" in proc.stdout

    # The targets were written once, beside the corpus, with the training
    # statistics in the valid copy too.
    _, splits = corpus
    copy = os.path.dirname(splits["train"]) + "_pase_targets"
    train, valid = (
        read_manifest(os.path.join(copy, s)) for s in ("train", "valid")
    )
    assert train["targets"]["dims"] == TARGET_DIMS
    assert valid["targets"]["statistics"] == train["targets"]["statistics"]
    assert (
        train["num_examples"] == read_manifest(splits["train"])["num_examples"]
    )

    # The saved encoder maps audio to 10 ms frames of its embedding.
    encoder = keras.saving.load_model(os.path.join(output, "encoder.keras"))
    frames = encoder(np.zeros((2, 3200), "float32"))
    assert tuple(frames.shape) == (2, 20, 16)
    assert os.listdir(os.path.join(output, "pretrain", "logs"))


def test_resumes_after_interruption(corpus, tmp_path):
    output = str(tmp_path / "run")
    backup = os.path.join(output, "pretrain", "backup")
    # Also runs the speed flags (bfloat16 on this CPU, XLA).
    command = _command(
        corpus,
        output,
        "--epochs=4",
        "--scenarios=frozen",
        "--mixed_precision",
        "--jit_compile",
    )
    # Kill the first run once the backup of a finished epoch exists.
    kill_after_first_backup(command, backup, timeout=300)
    assert not os.path.exists(os.path.join(output, "results.json"))
    proc = run_recipe(command)
    log = proc.stdout + proc.stderr
    assert "Epoch 1/4" not in log, log[-3000:]
    assert "Epoch 4/4" in log
    assert "Precision mixed_bfloat16, XLA on" in proc.stdout
    # One row per epoch, although the killed run logged some of them.
    rows = _history(os.path.join(output, "pretrain", "history.csv"))
    epochs = sorted({int(r["epoch"]) for r in rows})
    assert epochs == [0, 1, 2, 3]
    with open(os.path.join(output, "results.json")) as stream:
        assert "frozen" in json.load(stream)["scores"]


def test_bad_flags_are_named(corpus, tmp_path):
    _, splits = corpus
    data = os.path.dirname(splits["train"])
    flag_errors(
        "pase",
        [
            # Folders written without `--features pase`: the error names
            # the folder, the missing targets and the fix.
            (
                [f"--data={data}", "--task=style", f"--output={tmp_path}"],
                "(?s)--data.*"
                + re.escape(os.path.join(data, "train"))
                + ".*--features pase",
            ),
            (
                _command(corpus, tmp_path / "b", "--preset=pase_tiny2")[2:],
                "(?s)`--preset` must be one of.*pase_tiny2",
            ),
            (
                _command(corpus, tmp_path / "c", "--scenarios=frozen,x")[2:],
                "`--scenarios` must be",
            ),
        ],
    )
