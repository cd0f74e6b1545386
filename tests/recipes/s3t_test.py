"""`recipes/s3t.py` end to end on a tiny rendered corpus (subprocesses:
absl flags and logical CPU devices are process-wide)."""

import json
import os
import shutil
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_music  # noqa: F401  (registers the models for loading)
from keras_music.data.tune_corpus import build_tune_corpus
from tests.recipes.recipe_runner import ROOT
from tests.recipes.recipe_runner import flag_errors
from tests.recipes.recipe_runner import h5_arrays
from tests.recipes.recipe_runner import kill_after_first_backup
from tests.recipes.recipe_runner import run_recipe
from tests.recipes.recipe_runner import run_workers

RECIPE = os.path.join(ROOT, "recipes", "s3t.py")
# 4 s clips: 1 + 88200 // 512 = 173 CQT frames (compression 1); each
# view is resized to the 336 frames that fold twice into 168 x 168.
CLIP_SECONDS = 4.0


@pytest.fixture(scope="module")
def corpus_cache(tmp_path_factory):
    cache = str(tmp_path_factory.mktemp("corpus"))
    # The recipe renders the same corpus from its flags; building it here
    # once lets every run below reuse the cache.
    return cache, build_tune_corpus(
        num_clips=32,
        clip_seconds=5.0,
        sample_rate=22050,
        cache_dir=cache,
        progress=False,
    )


def _command(corpus_cache, output, *extra):
    cache, _ = corpus_cache
    return [
        sys.executable,
        RECIPE,
        "--preset=swin_mini",
        "--task=instrument",  # 32 clips label too few dances
        "--corpus_clips=32",
        "--corpus_seconds=5",
        f"--clip_seconds={CLIP_SECONDS}",
        "--time_compression=1",
        f"--cache_dir={cache}",
        f"--output={output}",
        "--batch_size=4",
        "--queue_size=16",
        "--steps_per_epoch=2",
        "--probe_epochs=2",
        "--verbose=2",
        "--export=",
        *extra,
    ]


@pytest.fixture(scope="module")
def one_epoch_run(corpus_cache, tmp_path_factory):
    """One epoch in one process, exported: `(output, exports, proc)`."""
    folder = tmp_path_factory.mktemp("one_epoch")
    output, exports = str(folder / "run"), str(folder / "saved_models")
    proc = run_recipe(
        _command(
            corpus_cache,
            output,
            "--epochs=1",
            "--export=saved_model",
            f"--export_dir={exports}",
        )
    )
    return output, exports, proc


def _results(output):
    with open(os.path.join(output, "results.json")) as stream:
        return json.load(stream)


def test_pretrains_probes_and_saves(one_epoch_run):
    output, exports, proc = one_epoch_run
    results = _results(output)
    assert results["task"] == "instrument"
    assert results["preprocessor"] == "time_folding"
    assert results["input"]["view_frames"] == 336
    assert np.isfinite(results["final_loss"])
    for key in ("test", "test_random_init"):
        assert results[key]["tracks"] > 0
        scores = (results[key]["roc_auc"], results[key]["pr_auc"])
        assert all(0.0 <= s <= 1.0 for s in scores), (
            results,
            proc.stdout[-4000:],
            proc.stderr[-4000:],
        )
    # The probe saw different embeddings: the pre-trained encoder's cache
    # and the random one's are distinct folders (keys hash the weights).
    caches = os.listdir(os.path.join(output, "embeddings"))
    assert len(caches) == 6, caches
    assert "test (" in proc.stdout and "random init: ROC-AUC" in proc.stdout
    # The encoder maps raw audio clips to Swin embeddings (swin_mini: 64).
    encoder = keras.saving.load_model(os.path.join(output, "encoder.keras"))
    samples = round(CLIP_SECONDS * 22050)
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, samples))
    embeddings = encoder(audio.astype("float32"))
    assert tuple(embeddings.shape) == (2, 64)
    assert np.all(np.isfinite(embeddings))
    # The export serves whole tracks: a 7 s track is 3 half-overlapped
    # 4 s clips (at 0 s, 2 s and the last ending with the track),
    # averaged.
    path = os.path.join(exports, "s3t_time_folding_encoder", "1")
    assert f"Exported saved_model: {path}" in proc.stdout
    serve = tf.saved_model.load(path).signatures["serving_default"]
    track = np.random.default_rng(1).uniform(-0.5, 0.5, 7 * 22050)
    track = track.astype("float32")
    served = serve(audio=track[None], lengths=tf.constant([len(track)]))
    clips = np.stack(
        [track[:samples], track[samples // 2 :][:samples], track[-samples:]]
    )
    expected = np.asarray(encoder(clips)).mean(axis=0)
    # The same float32 model, batched differently: 1e-5 of embeddings of
    # unit scale (the Swin's final layer norm).
    np.testing.assert_allclose(
        served["embedding"].numpy()[0], expected, atol=1e-5, rtol=0
    )
    assert os.path.exists(os.path.join(output, "best.keras"))
    assert os.listdir(os.path.join(output, "logs"))


def test_two_workers_agree(corpus_cache, tmp_path):
    output = str(tmp_path / "run")
    # With the speed flags too (bfloat16 on this CPU, XLA).
    command = _command(
        corpus_cache,
        output,
        "--epochs=1",
        "--strategy=multi_worker",
        "--mixed_precision",
        "--jit_compile",
    )
    outputs = run_workers(command, timeout=900)
    assert "(2 replicas)" in outputs[0][0]
    assert "Precision mixed_bfloat16, XLA on" in outputs[0][0]
    # XLA has no kernels for the cross-worker collectives: said, not hidden.
    assert "runs without XLA" in outputs[0][1]
    assert "Worker done" in outputs[1][0]
    # Both workers end with the same model, optimizer state and MoCo
    # queue (keys gathered from both, enqueued in the same order).
    chief, other = (
        h5_arrays(os.path.join(output, f"worker-{i}", "model.weights.h5"))
        for i in range(2)
    )
    assert chief.keys() == other.keys()
    # The queue (--queue_size=16 keys) is among the compared variables.
    assert any(a.ndim == 2 and a.shape[0] == 16 for a in chief.values())
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)
    # The loss is not compared with one process's: the Swin's stochastic
    # depth draws its masks per replica (tests/distribute_multi_worker_test
    # compares MoCo with one process on a model without randomness).
    assert np.isfinite(_results(output)["final_loss"])
    # Only the chief evaluated and wrote the run's files.
    assert not os.path.exists(os.path.join(output, "worker-1", "logs"))
    assert "test (" in outputs[0][0] and "test (" not in outputs[1][0]


@pytest.mark.large
def test_frequency_tiling_on_two_cpu_replicas(corpus_cache, tmp_path):
    proc = run_recipe(
        _command(
            corpus_cache,
            str(tmp_path / "run"),
            "--epochs=1",
            "--preprocessor=frequency_tiling",
            "--strategy=mirrored",
            "--cpu_replicas=2",
        )
    )
    assert "(2 replicas)" in proc.stdout
    assert "frequency_tiling" in proc.stdout


@pytest.mark.large
def test_resumes_after_interruption(corpus_cache, tmp_path):
    output = str(tmp_path / "run")
    backup = os.path.join(output, "backup")
    command = _command(corpus_cache, output, "--epochs=3")
    # Kill the first run once the backup of a finished epoch exists.
    kill_after_first_backup(command, backup, timeout=400)
    assert not os.path.exists(os.path.join(output, "results.json"))
    initial = os.path.join(output, "initial.weights.h5")
    assert os.path.exists(initial)
    stamp = os.path.getmtime(initial)
    proc = run_recipe(command)
    # The second run starts after the epoch the first one finished and
    # probes the initial weights of the first start.
    log = proc.stdout + proc.stderr
    assert "Epoch 1/3" not in log, log[-3000:]
    assert "Epoch 3/3" in log
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
        (["--preset=swin_huge", output], r"`--preset` must be one of"),
        (["--preset=swin_test_tiny", output], "square input"),
        (
            ["--clip_seconds=0.01", "--time_compression=10", output],
            r"`--clip_seconds` must hold at least one",
        ),
        ([f"--data={tmp_path}", output], "manifest.json does not exist"),
        ([f"--data={wrong_rate}", output], "must hold 22050 Hz audio"),
        (
            [f"--data={corpus}", "--task=genre", output],
            r"`--task` must be one of",
        ),
    ]
    flag_errors("s3t", cases)
