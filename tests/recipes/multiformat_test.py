"""`recipes/multiformat.py` end to end on a tiny rendered corpus
(subprocesses: absl flags and logical CPU devices are process-wide). The
fusion itself is tested in tests/evaluation/embedding_fusion_test.py."""

import json
import os
import sys

import keras
import numpy as np
import pytest

import keras_music  # noqa: F401  (registers the models for loading)
from keras_music.data.tune_corpus import build_tune_corpus
from keras_music.evaluation.embedding_fusion import FUSION_WEIGHTS
from tests.recipes.recipe_runner import ROOT
from tests.recipes.recipe_runner import flag_errors
from tests.recipes.recipe_runner import run_recipe

RECIPES = os.path.join(ROOT, "recipes")
RECIPE = os.path.join(RECIPES, "multiformat.py")
CLIP_SAMPLES = 8748


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("corpus"))
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
        "--waveform_preset=sample_cnn_test_tiny",
        "--spectrogram_preset=resnet_test_tiny",
        f"--clip_samples={CLIP_SAMPLES}",
        "--n_mels=32",
        "--span_seconds=2",
        "--task=style",  # 16 clips label too few dances
        "--corpus_clips=16",
        "--corpus_seconds=4",
        f"--cache_dir={cache}",
        f"--output={output}",
        "--batch_size=4",
        "--steps_per_epoch=2",
        "--epochs=1",
        "--probe_epochs=2",
        "--probe_trials=1",
        "--verbose=2",
        *extra,
    ]


# Generous: a run takes under a minute of CPU, but several times that of
# wall time on a busy two-core machine.


def _results(output):
    with open(os.path.join(output, "results.json")) as stream:
        return json.load(stream)


def test_trains_both_encoders_then_fuses(corpus_cache, tmp_path):
    output = str(tmp_path / "run")
    # With the speed flags: bfloat16 on this CPU, and XLA.
    proc = run_recipe(
        _command(corpus_cache, output, "--mixed_precision", "--jit_compile")
    )
    results = _results(output)
    assert results["fusion"] == "concat"
    for key in ("test", "test_random_init"):
        assert sorted(results[key]) == ["concat", "spectrogram", "waveform"]
        for scores in results[key].values():
            assert scores["tracks"] > 0
            assert 0.0 <= scores["top1"] <= 1.0
    for branch in ("waveform", "spectrogram"):
        assert np.isfinite(results["training"][branch]["final_loss"])
        assert os.listdir(os.path.join(output, branch, "logs"))
    assert "concat accuracy" in proc.stdout
    assert "Precision mixed_bfloat16, XLA on" in proc.stdout
    # Both encoders take raw audio clips: SampleCNN (narrowed tiny: 4-d)
    # and log-mel + ResNet (narrowed tiny: 16 / 4 -> 4-d).
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, CLIP_SAMPLES))
    for branch in ("waveform", "spectrogram"):
        encoder = keras.saving.load_model(
            os.path.join(output, branch, "encoder.keras")
        )
        embeddings = encoder(audio.astype("float32"))
        assert tuple(embeddings.shape) == (2, 4), branch
        assert np.all(np.isfinite(embeddings))

    # Another fusion on the same run (its other flags the same): the
    # finished encoders are loaded, not trained again, and their cached
    # embeddings reused.
    proc = run_recipe(
        _command(
            corpus_cache,
            output,
            "--mixed_precision",
            "--jit_compile",
            "--fusion=weighted",
        )
    )
    assert "Epoch 1/1" not in proc.stdout + proc.stderr
    results = _results(output)
    weighted = results["test"]["weighted"]
    assert 0.0 <= weighted["top1"] <= 1.0
    assert all(w in FUSION_WEIGHTS for w in weighted["waveform_weights"])
    assert results["training"]["waveform"] == {
        "loaded": os.path.join(output, "waveform", "final.weights.h5")
    }


@pytest.mark.large
def test_crop_only_on_two_cpu_replicas(corpus_cache, tmp_path):
    proc = run_recipe(
        _command(
            corpus_cache,
            str(tmp_path / "run"),
            "--augment=crop_only",
            "--strategy=mirrored",
            "--cpu_replicas=2",
        )
    )
    assert "(2 replicas)" in proc.stdout


def test_bad_flags_are_named(tmp_path):
    output = f"--output={tmp_path / 'out'}"
    cases = [
        (["--waveform_preset=x", output], r"`--waveform_preset` must be"),
        (["--spectrogram_preset=x", output], r"`--spectrogram_preset` must"),
        (
            ["--span_seconds=1", output],
            r"`--span_seconds` must hold a crop of 59049 samples",
        ),
        ([f"--data={tmp_path}", output], "manifest.json does not exist"),
    ]
    flag_errors("multiformat", cases)
