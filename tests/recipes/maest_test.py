"""`recipes/maest.py` end to end on a tiny rendered corpus (subprocesses:
absl flags and logical CPU devices are process-wide)."""

import json
import os
import re
import shutil
import sys

import keras
import numpy as np
import pytest

import keras_music  # noqa: F401  (registers the models for loading)
from keras_music.data.tune_corpus import build_tune_corpus
from tests.recipes.recipe_runner import ROOT
from tests.recipes.recipe_runner import flag_errors
from tests.recipes.recipe_runner import free_ports
from tests.recipes.recipe_runner import kill_after_first_backup
from tests.recipes.recipe_runner import run_recipe

RECIPE = os.path.join(ROOT, "recipes", "maest.py")


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("corpus"))
    # The recipe renders the same corpus from its flags; building it here
    # once lets every run below reuse the cache.
    build_tune_corpus(
        num_clips=32, clip_seconds=5.0, cache_dir=cache, progress=False
    )
    return cache


def _command(cache, output, *extra):
    return [
        sys.executable,
        RECIPE,
        "--segment=5",
        "--preset=maest_tiny",
        "--patchout_time=10",
        "--corpus_clips=32",
        "--corpus_seconds=5",
        f"--cache_dir={cache}",
        f"--output={output}",
        "--batch_size=4",
        "--steps_per_epoch=2",
        "--verbose=2",
        "--export=",
        *extra,
    ]


def test_trains_evaluates_and_saves(corpus_cache, tmp_path):
    output = str(tmp_path / "run")
    exports = str(tmp_path / "saved_models")
    proc = run_recipe(
        _command(
            corpus_cache,
            output,
            "--epochs=2",
            "--export=saved_model",
            f"--export_dir={exports}",
        )
    )
    with open(os.path.join(output, "results.json")) as stream:
        results = json.load(stream)
    assert results["task"] == "instrument"
    for key in ("test", "test_untrained"):
        assert results[key]["tracks"] > 0
        assert 0.0 <= results[key]["roc_auc"] <= 1.0
        assert 0.0 <= results[key]["pr_auc"] <= 1.0
    assert "test (" in proc.stdout and "ROC-AUC" in proc.stdout
    # The saved model is the trained tagger, log-mel in, 16 tags out.
    model = keras.saving.load_model(os.path.join(output, "model.keras"))
    x = np.random.rand(2, 96, 313).astype("float32")
    assert tuple(model(x).shape) == (2, 16)
    assert os.path.exists(os.path.join(output, "best.keras"))
    assert os.listdir(os.path.join(output, "logs"))
    # The trained tagger was exported for TF Serving: version 1, with the
    # vocabulary as an asset, and its signature tags raw audio like the
    # saved Keras model does on the same clip's log-mel.
    # Named after what it holds: maest_tiny on 5 s segments.
    served = os.path.join(exports, "maest_tiny_5s_tagger", "1")
    assert f"Exported saved_model: {served}" in proc.stdout
    with open(os.path.join(served, "assets", "labels.txt")) as stream:
        assert len(stream.read().splitlines()) == 16
    import tensorflow as tf

    from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram

    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 80000))
    audio = audio.astype("float32")
    signature = tf.saved_model.load(served).signatures["serving_default"]
    outputs = signature(audio=audio, lengths=np.asarray([80000], "int32"))
    frontend = LogMelSpectrogram(
        sample_rate=16000, hop_length=256, normalize=True
    )
    # One 5 s segment exactly: the served probabilities are the model's
    # on that segment (float32, same ops; 1e-5).
    np.testing.assert_allclose(
        outputs["probabilities"].numpy(),
        np.asarray(model(frontend(audio))),
        atol=1e-5,
    )
    # The .keras file carries what tagging audio needs (rate, segment,
    # frontend, tag names) and what the run measured; the export's model
    # card states the same scores and data.
    assert model.vocabulary == results["vocabulary"]
    assert model.preprocessor.sample_rate == 16000
    assert model.preprocessor.segment_samples == 5 * 16000
    frontend_config = model.preprocessor.frontend.get_config()
    expected_config = keras.saving.deserialize_keras_object(
        results["frontend"]
    ).get_config()
    for config in (frontend_config, expected_config):
        config.pop("name")  # a layer name, unique per process
    assert frontend_config == expected_config
    metrics = model.metadata["metrics"]
    assert metrics["roc_auc"] == results["test"]["roc_auc"]
    assert metrics["pr_auc"] == results["test"]["pr_auc"]
    assert (
        metrics["untrained"]["roc_auc"]
        == (results["test_untrained"]["roc_auc"])
    )
    assert (metrics["task"], metrics["tracks"]) == (
        "instrument",
        results["test"]["tracks"],
    )
    with open(os.path.join(served, "model_card.json")) as stream:
        card = json.load(stream)
    assert card["dataset"]["name"] == "keras_music built-in tune corpus"
    # 32 clips split by tune, every clip in one split.
    sizes = re.fullmatch(
        r"(\d+) train / (\d+) valid / (\d+) test tracks",
        card["dataset"]["size"],
    )
    assert sizes and sum(map(int, sizes.groups())) == 32, card["dataset"]
    assert int(sizes.group(3)) == results["test"]["tracks"]
    assert card["dataset"]["metrics"] == metrics
    assert card["classes"] == results["vocabulary"]
    # So `keras-music tag` reads the .keras file as it is: on one 5 s
    # segment, the model's probabilities (float32 WAV, same ops; 1e-5).
    import soundfile

    from keras_music.cli.main import main

    clip = str(tmp_path / "clip.wav")
    soundfile.write(clip, audio[0], 16000, subtype="FLOAT")
    tags = str(tmp_path / "tags.json")
    model_path = os.path.join(output, "model.keras")
    arguments = ["tag", model_path, clip, "--top_k", "16", "--format", "json"]
    assert main([*arguments, "--output", tags]) == 0
    with open(tags) as stream:
        (row,) = json.load(stream)
    scores = {tag["tag"]: tag["score"] for tag in row["tags"]}
    expected = np.asarray(model(frontend(audio)))[0]
    np.testing.assert_allclose(
        [scores[tag] for tag in results["vocabulary"]], expected, atol=1e-5
    )
    # The averaged weights were kept and applied (from epoch 1 of 2).
    with np.load(os.path.join(output, "swa.npz")) as state:
        assert int(state["count"]) == 2

    # The finished run is not run again into the same folder, nor is
    # another run blended into it (its swa.npz, its initial weights);
    # --overwrite clears it first (here the new run then stops at a bad
    # --patchout_time, after the clearing).
    again = _command(corpus_cache, output, "--epochs=2")[2:]
    flag_errors(
        "maest",
        [
            (again, rf"`--output` {output} holds a finished run"),
            (again[:-1] + ["--epochs=3"], r"--epochs=2 then, 3 now"),
            (again + ["--overwrite", "--patchout_time=40"], "--patchout_time"),
        ],
    )
    assert os.listdir(output) == ["run.json"]


def test_mirrored_strategy_on_two_cpu_devices(corpus_cache, tmp_path):
    proc = run_recipe(
        _command(
            corpus_cache,
            str(tmp_path / "run"),
            "--epochs=1",
            "--strategy=mirrored",
            "--cpu_replicas=2",
            "--noswa",
        )
    )
    assert "(2 replicas)" in proc.stdout


def test_resumes_after_interruption(corpus_cache, tmp_path):
    output = str(tmp_path / "run")
    backup = os.path.join(output, "backup")
    command = _command(corpus_cache, output, "--epochs=4")
    # Kill the first run once the backup of a finished epoch exists.
    kill_after_first_backup(command, backup, timeout=240)
    assert not os.path.exists(os.path.join(output, "results.json"))
    proc = run_recipe(command)
    # The second run starts after the epoch the first one finished.
    log = proc.stdout + proc.stderr
    assert "Epoch 1/4" not in log, log[-3000:]
    assert "Epoch 4/4" in log
    assert os.path.exists(os.path.join(output, "results.json"))
    # As many optimizer steps as an uninterrupted run: 4 epochs of 2.
    model = keras.saving.load_model(os.path.join(output, "model.keras"))
    assert int(model.optimizer.iterations) == 8


def test_seeded_deterministic_runs_repeat_with_speed_flags(
    corpus_cache, tmp_path
):
    flags = ("--epochs=1", "--seed=3", "--deterministic", "--noswa")
    speed = ("--mixed_precision", "--jit_compile")
    runs = []
    for name in ("a", "b"):
        output = str(tmp_path / name)
        proc = run_recipe(_command(corpus_cache, output, *flags, *speed))
        losses = re.findall(r" loss: ([\d.]+)", proc.stdout + proc.stderr)
        model = keras.saving.load_model(os.path.join(output, "model.keras"))
        runs.append((losses, model, proc.stdout))
    # The same seed with op determinism: identical logged losses and
    # bit-identical trained weights.
    assert runs[0][0] and runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1].weights, runs[1][1].weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The speed flags took effect: bfloat16 compute on this CPU, and the
    # train step compiled with XLA.
    assert (
        "Precision mixed_bfloat16, XLA on, seed 3 with deterministic ops"
        in runs[0][2]
    )
    assert runs[0][1].get_compile_config()["jit_compile"] is True


def test_bad_flags_are_named(corpus_cache, tmp_path):
    flag_errors(
        "maest",
        [
            (
                _command(corpus_cache, tmp_path / "a", "--patchout_time=40")[
                    2:
                ],
                "--patchout_time",
            ),
            (
                [f"--data={tmp_path}", f"--output={tmp_path / 'b'}"],
                "(?s)--data.*manifest.json",
            ),
        ],
    )


def test_a_missing_shard_fails_within_seconds_naming_it(corpus_cache, tmp_path):
    splits = build_tune_corpus(
        num_clips=32, clip_seconds=5.0, cache_dir=corpus_cache, progress=False
    )
    data = tmp_path / "data"
    shutil.copytree(os.path.dirname(splits["train"]), data)
    shard = next((data / "train").glob("*.tfrecord"))
    shard.unlink()
    command = _command(corpus_cache, tmp_path / "run", f"--data={data}")
    # It used to hang after the model summary; the 30 s limit fails the
    # test if it stalls again.
    flag_errors(
        "maest",
        [(command[2:], rf"lists {shard}, which does not exist")],
        timeout=30,
    )


def test_a_dead_data_service_fails_within_seconds_naming_it(
    corpus_cache, tmp_path
):
    (port,) = free_ports(1)  # nothing listens there
    address = f"grpc://127.0.0.1:{port}"
    command = _command(
        corpus_cache, tmp_path / "run", f"--data_service_address={address}"
    )
    flag_errors(
        "maest",
        [(command[2:], rf"No tf.data service dispatcher answers at {address}")],
        timeout=30,
    )


@pytest.mark.large
def test_a_killed_and_resumed_run_equals_an_uninterrupted_one(
    corpus_cache, tmp_path
):
    flags = ("--epochs=4", "--seed=3", "--deterministic")
    straight = str(tmp_path / "straight")
    run_recipe(_command(corpus_cache, straight, *flags))
    resumed = str(tmp_path / "resumed")
    command = _command(corpus_cache, resumed, *flags)
    # Killed in epoch 2, after epoch 1's backup was committed.
    kill_after_first_backup(command, os.path.join(resumed, "backup"))
    proc = run_recipe(command)
    assert "Resuming: skipping the 2 batches already trained" in proc.stdout
    # The resumed run trains on the batches, crops, mixup and SpecAugment
    # draws and patchout the uninterrupted run had from epoch 2 on: the
    # same weights to the bit (with SWA), and the same test scores.
    models = [
        keras.saving.load_model(os.path.join(folder, "model.keras"))
        for folder in (straight, resumed)
    ]
    for a, b in zip(models[0].weights, models[1].weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), a.path)
    scores = []
    for folder in (straight, resumed):
        with open(os.path.join(folder, "results.json")) as stream:
            scores.append(json.load(stream)["test"])
    assert scores[0] == scores[1]
