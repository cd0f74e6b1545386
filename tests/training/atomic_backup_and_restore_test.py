import json
import os

import h5py
import keras
import numpy as np
import pytest

from keras_music.training.atomic_backup_and_restore import (
    AtomicBackupAndRestore,
)
from keras_music.training.atomic_backup_and_restore import completed_epochs


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def _fit(model, callback, epochs):
    x, y = _data()
    return model.fit(
        x, y, batch_size=4, epochs=epochs, callbacks=[callback], verbose=0
    )


class Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_resumed_run_takes_the_same_steps(tmp_path):
    backup = str(tmp_path / "backup")
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        x, y = _data()
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=4,
            callbacks=[AtomicBackupAndRestore(backup), Interrupt(1)],
            verbose=0,
        )
    # The interrupt came after epoch 2's backup was committed.
    with open(os.path.join(backup, "checkpoint.json")) as stream:
        assert json.load(stream) == {
            "epoch": 2,
            "weights": "epoch-2.weights.h5",
        }
    resumed = _model()
    history = _fit(resumed, AtomicBackupAndRestore(backup), epochs=4)
    assert len(history.history["loss"]) == 2
    # 4 epochs of 4 steps, as an uninterrupted run; model and optimizer
    # state continue where they were (the same weights as 4 epochs in
    # one go, up to float32 rounding).
    assert int(resumed.optimizer.iterations) == 16
    straight = _model()
    _fit(straight, keras.callbacks.Callback(), epochs=4)
    for a, b in zip(resumed.weights, straight.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5)
    # Finished: the backup is gone.
    assert not os.path.exists(backup)


def test_a_save_killed_midway_keeps_the_last_good_checkpoint(tmp_path):
    backup = str(tmp_path / "backup")
    callback = AtomicBackupAndRestore(backup, delete_checkpoint=False)
    model = _model()
    _fit(model, callback, epochs=1)
    good = np.asarray(model.weights[0]).copy()

    def killed(filepath, overwrite=True):
        with open(filepath, "wb") as stream:
            stream.write(b"\x89HDF truncated")
        raise KeyboardInterrupt

    model.save_weights = killed
    with pytest.raises(KeyboardInterrupt):
        _fit(model, callback, epochs=3)
    # The half-written file never replaced epoch 1's.
    with open(os.path.join(backup, "checkpoint.json")) as stream:
        assert json.load(stream)["epoch"] == 1
    restored = _model()
    history = _fit(
        restored, AtomicBackupAndRestore(backup, delete_checkpoint=False), 3
    )
    assert len(history.history["loss"]) == 2
    # The next commit removes the leftover of the killed save.
    assert sorted(os.listdir(backup)) == [
        "checkpoint.json",
        "epoch-3.weights.h5",
    ]
    assert not np.allclose(np.asarray(restored.weights[0]), good)


def test_read_only_restores_but_never_writes(tmp_path):
    backup = str(tmp_path / "backup")
    _fit(_model(), AtomicBackupAndRestore(backup, delete_checkpoint=False), 2)
    before = sorted(os.listdir(backup))
    model = _model()
    history = _fit(model, AtomicBackupAndRestore(backup, read_only=True), 3)
    assert len(history.history["loss"]) == 1
    assert int(model.optimizer.iterations) == 12
    assert sorted(os.listdir(backup)) == before


def test_config_round_trip(tmp_path):
    callback = AtomicBackupAndRestore(str(tmp_path), read_only=True)
    config = callback.get_config()
    assert config == {
        "backup_dir": str(tmp_path),
        "read_only": True,
        "delete_checkpoint": True,
    }
    assert AtomicBackupAndRestore(**config).get_config() == config


def test_unbuilt_model_is_named(tmp_path):
    backup = str(tmp_path / "backup")
    _fit(_model(), AtomicBackupAndRestore(backup, delete_checkpoint=False), 1)
    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    callback = AtomicBackupAndRestore(backup)
    callback.set_model(model)
    with pytest.raises(ValueError, match="restores into a built model"):
        callback.on_train_begin()


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_checkpoint_with_non_finite_weights_is_refused(tmp_path, bad):
    backup = str(tmp_path / "backup")
    model = _model()
    _fit(model, AtomicBackupAndRestore(backup, delete_checkpoint=False), 1)
    path = os.path.join(backup, "epoch-1.weights.h5")
    # A run that diverged: one kernel entry non-finite in the checkpoint.
    with h5py.File(path, "r+") as stream:
        names = []
        stream.visititems(
            lambda name, item: (
                names.append(name)
                if isinstance(item, h5py.Dataset) and item.ndim == 2
                else None
            )
        )
        kernel = stream[names[0]]
        values = kernel[()]
        values[0, 0] = bad
        kernel[...] = values
    resumed = _model()
    with pytest.raises(
        ValueError, match=rf"Tensor '{names[0]}' in '{path}' has 1 NaN or"
    ):
        _fit(resumed, AtomicBackupAndRestore(backup), epochs=2)
    # Nothing was loaded: the model keeps its own finite weights.
    assert all(np.all(np.isfinite(np.asarray(w))) for w in resumed.weights)


def _dropout_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(8),
            keras.layers.Dropout(0.5, seed=1),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def _seed_state(model):
    (state,) = [
        np.asarray(v)
        for v in model.variables
        if v.path.endswith("seed_generator_state")
    ]
    return state


def test_resume_restores_the_random_generator_states(tmp_path):
    backup = str(tmp_path / "backup")
    model = _dropout_model()
    with pytest.raises(KeyboardInterrupt):
        x, y = _data()
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=4,
            callbacks=[AtomicBackupAndRestore(backup), Interrupt(1)],
            verbose=0,
        )
    with open(os.path.join(backup, "checkpoint.json")) as stream:
        saved = json.load(stream)["seed_states"]
    # save_weights leaves SeedGenerator states out; the checkpoint has
    # the dropout's, as it was after epoch 2.
    assert [path for path, _ in saved] == [
        v.path for v in model.variables if "seed_generator" in v.path
    ]
    assert saved[0][1] == _seed_state(model).tolist()
    resumed = _dropout_model()
    _fit(resumed, AtomicBackupAndRestore(backup), epochs=4)
    straight = _dropout_model()
    _fit(straight, keras.callbacks.Callback(), epochs=4)
    # The resumed dropout masks continue the uninterrupted run's: the
    # same generator state at the end (without the restore it would be
    # 2 epochs of draws behind).
    np.testing.assert_array_equal(_seed_state(resumed), _seed_state(straight))
    for a, b in zip(resumed.weights, straight.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5)


def test_seed_states_of_another_model_are_refused(tmp_path):
    backup = str(tmp_path / "backup")
    model = _dropout_model()
    _fit(model, AtomicBackupAndRestore(backup, delete_checkpoint=False), 1)
    path = os.path.join(backup, "checkpoint.json")
    with open(path) as stream:
        state = json.load(stream)
    state["seed_states"].append(state["seed_states"][0])
    with open(path, "w") as stream:
        json.dump(state, stream)
    with pytest.raises(ValueError, match=r"belong to another model"):
        _fit(_dropout_model(), AtomicBackupAndRestore(backup), epochs=2)


def test_completed_epochs(tmp_path):
    backup = str(tmp_path / "backup")
    assert completed_epochs(backup) == 0
    _fit(_model(), AtomicBackupAndRestore(backup, delete_checkpoint=False), 3)
    assert completed_epochs(backup) == 3
