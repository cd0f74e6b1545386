import json
import os
import shutil

import keras
import numpy as np
import pytest

from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from keras_music.training.recipe_support import configure_run
from keras_music.training.recipe_support import epoch_steps
from keras_music.training.recipe_support import keep_initial_weights
from keras_music.training.recipe_support import prepare_run_folder
from keras_music.training.recipe_support import pretrain
from keras_music.training.recipe_support import resolve_splits
from keras_music.training.recipe_support import resolve_task
from keras_music.training.recipe_support import resume_stream

TASKS = {
    "genre": {"vocabulary": ["a", "b"], "multi_label": False},
    "tags": {"vocabulary": ["x", "y"], "multi_label": True},
}


def _load(item):
    return Track(
        track_id=item,
        audio=np.zeros(800, "float32"),
        sample_rate=8000,
        labels={"genre": ["a"], "tags": ["x"]},
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for split in ("train", "valid", "test"):
        write_tfrecords(
            [f"{split}0"],
            _load,
            str(root / split),
            tasks=TASKS,
            sample_rate=8000,
            progress=False,
        )
    return str(root)


def test_resolve_splits_checks_layout_and_rate(data, tmp_path):
    splits, source = resolve_splits(data, sample_rate=8000)
    assert splits == {s: os.path.join(data, s) for s in splits}
    assert source == data
    with pytest.raises(ValueError, match="must hold 16000 Hz audio"):
        resolve_splits(data, sample_rate=16000)
    with pytest.raises(ValueError, match="valid/ and test/ TFRecord folders"):
        resolve_splits(str(tmp_path), sample_rate=8000)


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_resolve_splits_refuses_a_missing_shard_of_any_split(
    data, tmp_path, split
):
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    shard = next((copy / split).glob("*.tfrecord"))
    shard.unlink()
    # Before a step is trained: a test shard would otherwise fail only
    # after training.
    with pytest.raises(ValueError, match=rf"lists {shard}, which does not"):
        resolve_splits(str(copy), sample_rate=8000)


def test_resolve_splits_refuses_a_stale_shard(data, tmp_path):
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    shard = next((copy / "test").glob("*.tfrecord"))
    shard.write_bytes(shard.read_bytes()[:-4])
    with pytest.raises(ValueError, match=rf"{shard}"):
        resolve_splits(str(copy), sample_rate=8000)


def test_resolve_task(data):
    manifest = {"tasks": TASKS}
    assert resolve_task(manifest, data, "genre") == "genre"
    assert resolve_task(manifest, data, multi=True) == "tags"
    assert resolve_task(manifest, data, default="genre") == "genre"
    with pytest.raises(ValueError, match="`--task` must be one of"):
        resolve_task(manifest, data, "mood")
    with pytest.raises(ValueError, match="Pass `--task`"):
        resolve_task(manifest, data)


def test_keep_initial_weights_keeps_the_first(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    first = [w.copy() for w in model.get_weights()]
    path = keep_initial_weights(model, str(tmp_path))
    model.layers[0].kernel.assign(np.ones((3, 2)))
    # A resumed run calls it again: the file keeps the first weights.
    assert keep_initial_weights(model, str(tmp_path)) == path
    model.load_weights(path)
    np.testing.assert_array_equal(model.get_weights()[0], first[0])
    assert os.listdir(tmp_path) == ["initial.weights.h5"]


SETTINGS = {"seed": 0, "epochs": 4, "preset": "maest_tiny", "swa": True}


def test_a_new_run_folder_records_its_settings(tmp_path):
    output = str(tmp_path / "run")
    assert prepare_run_folder(output, SETTINGS) is False
    with open(os.path.join(output, "run.json")) as stream:
        assert json.load(stream) == {"settings": SETTINGS}
    # An empty folder (made by hand) is new too.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert prepare_run_folder(str(empty), SETTINGS) is False


def test_the_same_settings_resume_the_run(tmp_path):
    output = str(tmp_path / "run")
    prepare_run_folder(output, SETTINGS)
    open(os.path.join(output, "swa.npz"), "w").close()
    assert prepare_run_folder(output, dict(SETTINGS)) is True
    # Resuming keeps the run's files.
    assert os.path.exists(os.path.join(output, "swa.npz"))


def test_other_settings_are_refused_naming_each_flag(tmp_path):
    output = str(tmp_path / "run")
    prepare_run_folder(output, SETTINGS)
    open(os.path.join(output, "initial.weights.h5"), "w").close()
    other = dict(SETTINGS, seed=1, epochs=6)
    with pytest.raises(ValueError) as error:
        prepare_run_folder(output, other)
    message = str(error.value)
    assert output in message and "--overwrite" in message, message
    assert "--seed=0 then, 1 now" in message, message
    assert "--epochs=4 then, 6 now" in message, message
    assert "preset" not in message and "swa" not in message, message
    # A flag the run did not have is a difference too.
    with pytest.raises(ValueError, match=r"--task=None then, 'x' now"):
        prepare_run_folder(output, dict(SETTINGS, task="x"))


def test_a_run_that_wrote_nothing_else_starts_anew(tmp_path):
    # E.g. a bad flag found after the folder was prepared: the corrected
    # command is not refused.
    output = str(tmp_path / "run")
    prepare_run_folder(output, SETTINGS)
    other = dict(SETTINGS, seed=1)
    assert prepare_run_folder(output, other) is False
    with open(os.path.join(output, "run.json")) as stream:
        assert json.load(stream)["settings"]["seed"] == 1


def test_a_finished_run_is_refused(tmp_path):
    output = str(tmp_path / "run")
    prepare_run_folder(output, SETTINGS)
    open(os.path.join(output, "results.json"), "w").close()
    with pytest.raises(ValueError, match=r"finished run \(results.json"):
        prepare_run_folder(output, SETTINGS)
    # A recipe that reuses what it finished may run it again.
    assert prepare_run_folder(output, SETTINGS, finished=None) is True


def test_a_folder_of_something_else_is_refused(tmp_path):
    output = tmp_path / "run"
    output.mkdir()
    (output / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds no run.json"):
        prepare_run_folder(str(output), SETTINGS)
    assert (output / "notes.txt").exists()


def test_overwrite_starts_afresh(tmp_path):
    output = str(tmp_path / "run")
    prepare_run_folder(output, SETTINGS)
    for name in ("swa.npz", "initial.weights.h5", "results.json"):
        open(os.path.join(output, name), "w").close()
    other = dict(SETTINGS, seed=1)
    assert prepare_run_folder(output, other, overwrite=True) is False
    # Nothing of the old run is left to blend in.
    assert os.listdir(output) == ["run.json"]
    with open(os.path.join(output, "run.json")) as stream:
        assert json.load(stream)["settings"]["seed"] == 1


def test_a_worker_that_is_not_the_chief_only_checks(tmp_path):
    output = str(tmp_path / "run")
    assert prepare_run_folder(output, SETTINGS, chief=False) is False
    assert not os.path.exists(output)
    prepare_run_folder(output, SETTINGS)
    open(os.path.join(output, "swa.npz"), "w").close()
    assert prepare_run_folder(output, SETTINGS, True, chief=False) is True
    assert os.path.exists(os.path.join(output, "swa.npz"))


def test_resume_stream_skips_the_trained_batches(tmp_path):
    import tensorflow as tf

    stream = tf.data.Dataset.range(1000).batch(2)
    output = str(tmp_path / "run")
    same, skipped = resume_stream(stream, output, steps_per_epoch=5)
    assert skipped == 0 and same is stream
    os.makedirs(os.path.join(output, "backup"))
    with open(os.path.join(output, "backup", "checkpoint.json"), "w") as f:
        json.dump({"epoch": 3, "weights": "epoch-3.weights.h5"}, f)
    resumed, skipped = resume_stream(stream, output, steps_per_epoch=5)
    # Epoch 4 of an uninterrupted run starts at batch 3 * 5.
    assert skipped == 15
    assert next(iter(resumed)).numpy().tolist() == [30, 31]


@pytest.mark.parametrize("strategy", ["default", "multi_worker", "tpu"])
def test_cpu_replicas_without_mirrored_is_refused(strategy):
    # Refused before the CPU is split or a strategy is made.
    with pytest.raises(
        ValueError, match=rf"only with strategy='mirrored'.*'{strategy}'"
    ):
        configure_run(strategy, cpu_replicas=2)


def test_epoch_steps_is_one_pass_unless_given():
    assert epoch_steps(100, 32) == 3
    assert epoch_steps(10, 32) == 1  # fewer tracks than a batch
    assert epoch_steps(100, 32, steps_per_epoch=7) == 7


def test_pretrain_keeps_the_baseline_then_trains_resumably(tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    first = [w.copy() for w in model.get_weights()]
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    stream = tf.data.Dataset.from_tensors((x, x.sum(1, keepdims=True)))
    output = str(tmp_path / "run")
    done = pretrain(
        model, stream.repeat(), output, 3, 2, baseline=model, verbose=0
    )
    assert len(done.history.history["loss"]) == 3
    assert done.history.history["loss"][-1] < done.history.history["loss"][0]
    assert done.seconds > 0
    # The baseline's weights before the first step, kept for scoring.
    assert done.initial_weights == os.path.join(output, "initial.weights.h5")
    trained = model.get_weights()
    model.load_weights(done.initial_weights)
    np.testing.assert_array_equal(model.get_weights()[0], first[0])
    assert not np.array_equal(trained[0], first[0])
    # TensorBoard logs and the model of the lowest loss (the backup to
    # resume from is gone once the run has finished).
    assert {"logs", "best.keras"} <= set(os.listdir(output))
    # No baseline: no weights kept.
    again = pretrain(model, stream.repeat(), str(tmp_path / "b"), 1, 1)
    assert again.initial_weights is None
