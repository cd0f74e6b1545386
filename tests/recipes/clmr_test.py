"""`recipes/clmr.py` end to end on a tiny rendered corpus (subprocesses:
absl flags and logical CPU devices are process-wide)."""

import json
import os
import shutil
import sys

import keras
import numpy as np
import pytest

import keras_music  # noqa: F401  (registers the models for loading)
from keras_music.data.tune_corpus import build_tune_corpus
from tests.recipes.recipe_runner import ROOT
from tests.recipes.recipe_runner import flag_errors
from tests.recipes.recipe_runner import kill_after_first_backup
from tests.recipes.recipe_runner import run_recipe

RECIPE = os.path.join(ROOT, "recipes", "clmr.py")
# 0.4 s views (any length >= 243 suits the tiny SampleCNN) of 4 s clips:
# about 20 half-overlapped segments per track to embed.
CROP_SAMPLES = 8748


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("corpus"))
    # The recipe renders the same corpus from its flags; building it here
    # once lets every run below reuse the cache.
    return cache, build_tune_corpus(
        num_clips=16,
        clip_seconds=4.0,
        sample_rate=22050,
        cache_dir=cache,
        progress=False,
    )


def _command(corpus_cache, output, *extra):
    cache, _ = corpus_cache
    return [
        sys.executable,
        RECIPE,
        "--preset=sample_cnn_test_tiny",
        f"--crop_samples={CROP_SAMPLES}",
        "--span_seconds=2",
        "--corpus_clips=16",
        "--corpus_seconds=4",
        f"--cache_dir={cache}",
        f"--output={output}",
        "--batch_size=4",
        "--steps_per_epoch=2",
        "--probe_epochs=2",
        "--probe_trials=1",
        "--verbose=2",
        *extra,
    ]


# Generous: a run takes under a minute of CPU, but several times that of
# wall time on a busy two-core machine.


def test_pretrains_probes_and_saves(corpus_cache, tmp_path):
    output = str(tmp_path / "run")
    proc = run_recipe(_command(corpus_cache, output, "--epochs=1"))
    with open(os.path.join(output, "results.json")) as stream:
        results = json.load(stream)
    # The corpus default task, single-label: accuracy and macro F1.
    assert results["task"] == "dance"
    assert results["augment"] == "all"
    assert results["segment_seconds"] == CROP_SAMPLES / 22050
    assert np.isfinite(results["final_loss"])
    for key in ("test", "test_random_init"):
        assert results[key]["tracks"] > 0
        assert 0.0 <= results[key]["top1"] <= 1.0
        assert 0.0 <= results[key]["f1"] <= 1.0
    # Pre-trained and random-init encoders were embedded separately (the
    # cache keys hash the weights): 2 x 3 splits.
    caches = os.listdir(os.path.join(output, "embeddings"))
    assert len(caches) == 6, caches
    assert "test (" in proc.stdout and "(random init: accuracy" in proc.stdout
    # The encoder maps raw audio crops to the narrowed tiny SampleCNN's
    # embedding (CPU demo: 16 output filters / 8 -> 4).
    encoder = keras.saving.load_model(os.path.join(output, "encoder.keras"))
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, CROP_SAMPLES))
    embeddings = encoder(audio.astype("float32"))
    assert tuple(embeddings.shape) == (2, 4)
    assert np.all(np.isfinite(embeddings))
    assert os.path.exists(os.path.join(output, "best.keras"))
    assert os.listdir(os.path.join(output, "logs"))


@pytest.mark.large
def test_crop_only_on_two_cpu_replicas(corpus_cache, tmp_path):
    output = str(tmp_path / "run")
    proc = run_recipe(
        _command(
            corpus_cache,
            output,
            "--epochs=1",
            "--augment=crop_only",
            "--strategy=mirrored",
            "--cpu_replicas=2",
        )
    )
    assert "(2 replicas)" in proc.stdout
    with open(os.path.join(output, "results.json")) as stream:
        assert json.load(stream)["augment"] == "crop_only"


def test_resumes_after_interruption(corpus_cache, tmp_path):
    output = str(tmp_path / "run")
    backup = os.path.join(output, "backup")
    # Also runs the speed flags (bfloat16 on this CPU, XLA).
    command = _command(
        corpus_cache,
        output,
        "--epochs=3",
        "--mixed_precision",
        "--jit_compile",
    )
    # Kill the first run once the backup of a finished epoch exists.
    kill_after_first_backup(command, backup, timeout=900)
    assert not os.path.exists(os.path.join(output, "results.json"))
    initial = os.path.join(output, "initial.weights.h5")
    stamp = os.path.getmtime(initial)
    proc = run_recipe(command)
    # The second run starts after the epoch the first one finished and
    # probes the initial weights of the first start.
    log = proc.stdout + proc.stderr
    assert "Epoch 1/3" not in log, log[-3000:]
    assert "Epoch 3/3" in log
    assert "Precision mixed_bfloat16, XLA on" in proc.stdout
    assert os.path.getmtime(initial) == stamp
    assert os.path.exists(os.path.join(output, "results.json"))


def test_bad_flags_are_named(corpus_cache, tmp_path):
    _, splits = corpus_cache
    corpus = os.path.dirname(splits["train"])
    # A copy of the corpus whose manifests say 16 kHz.
    wrong_rate = tmp_path / "wrong_rate"
    for split in ("train", "valid", "test"):
        shutil.copytree(os.path.join(corpus, split), wrong_rate / split)
        path = wrong_rate / split / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["sample_rate"] = 16000
        path.write_text(json.dumps(manifest))
    output = f"--output={tmp_path / 'out'}"
    cases = [
        (["--preset=sample_cnn_huge", output], r"`--preset` must be one of"),
        (
            ["--span_seconds=1", output],
            r"`--span_seconds` must hold a crop of 59049 samples",
        ),
        ([f"--data={tmp_path}", output], "manifest.json does not exist"),
        ([f"--data={wrong_rate}", output], "must hold 22050 Hz audio"),
        (
            [f"--data={corpus}", "--task=genre", output],
            r"`--task` must be one of",
        ),
    ]
    flag_errors("clmr", cases)
