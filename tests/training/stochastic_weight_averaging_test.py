import os
import shutil

import keras
import numpy as np
import pytest

from keras_music.training.atomic_backup_and_restore import (
    AtomicBackupAndRestore,
)
from keras_music.training.stochastic_weight_averaging import (
    StochasticWeightAveraging,
)
from tests.test_case import TestCase


class Snapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.kernels = []

    def on_epoch_end(self, epoch, logs=None):
        self.kernels.append(np.array(self.model.layers[0].kernel))


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.05), "mse")
    return model


class StochasticWeightAveragingTest(TestCase):
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")

    def test_average_is_the_mean_of_the_chosen_epochs(self):
        model = _model()
        snaps = Snapshots()
        swa = StochasticWeightAveraging(start_epoch=3, every=2)
        model.fit(self.x, self.y, epochs=8, verbose=0, callbacks=[snaps, swa])
        # Epochs 3, 5, 7 (1-based) are averaged.
        expected = np.mean([snaps.kernels[i] for i in (2, 4, 6)], axis=0)
        self.assertEqual(swa.count, 3)
        # Running mean in float64, assigned as float32: 1e-6.
        self.assertAllClose(model.layers[0].kernel, expected, atol=1e-6)

    def test_averaged_weights_context_restores(self):
        model = _model()
        swa = StochasticWeightAveraging(start_epoch=1, every=1)
        swa.apply_at_end = False
        model.fit(self.x, self.y, epochs=3, verbose=0, callbacks=[swa])
        final = np.array(model.layers[0].kernel)
        with swa.averaged_weights():
            self.assertAllClose(model.layers[0].kernel, swa.average[0])
        self.assertAllClose(model.layers[0].kernel, final)

    def test_state_survives_a_restart(self):
        path = os.path.join(self.get_temp_dir(), "swa.npz")
        snaps = Snapshots()
        model = _model()
        first = StochasticWeightAveraging(1, 1, False, state_path=path)
        model.fit(self.x, self.y, epochs=2, verbose=0, callbacks=[snaps, first])
        second = StochasticWeightAveraging(1, 1, True, state_path=path)
        model.fit(
            self.x, self.y, epochs=2, verbose=0, callbacks=[snaps, second]
        )
        self.assertEqual(second.count, 4)
        self.assertAllClose(
            model.layers[0].kernel, np.mean(snaps.kernels, axis=0), atol=1e-6
        )

    def test_no_average_yet_is_an_error(self):
        model = _model()
        swa = StochasticWeightAveraging(start_epoch=10)
        model.fit(self.x, self.y, epochs=1, verbose=0, callbacks=[swa])
        with pytest.raises(ValueError, match="starts at epoch 10"):
            with swa.averaged_weights():
                pass

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="start_epoch=0"):
            StochasticWeightAveraging(start_epoch=0)


class _KeepState(keras.callbacks.Callback):
    """Copies the SWA state file as it is after epoch 1."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0 and os.path.exists(self.path):
            shutil.copy(self.path, self.path + ".epoch1")


def _run(folder, epochs, start_epoch, extra=(), keep_backup=False):
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
    keras.utils.set_random_seed(0)
    model = _model()
    swa = StochasticWeightAveraging(
        start_epoch, 1, state_path=os.path.join(folder, "swa.npz")
    )
    backup = AtomicBackupAndRestore(
        os.path.join(folder, "backup"), delete_checkpoint=not keep_backup
    )
    model.fit(x, y, epochs=epochs, verbose=0, callbacks=[backup, swa, *extra])
    return model, swa


@pytest.mark.parametrize("start_epoch", [1, 2])
def test_a_kill_between_backup_and_save_loses_no_update(tmp_path, start_epoch):
    straight, straight_swa = _run(str(tmp_path / "straight"), 3, start_epoch)
    folder = str(tmp_path / "killed")
    state = os.path.join(folder, "swa.npz")
    _run(folder, 2, start_epoch, [_KeepState(state)], keep_backup=True)
    # Killed after epoch 2's backup was committed, before its SWA save:
    # the state is epoch 1's (or, SWA starting at 2, there is none).
    os.remove(state)
    if os.path.exists(state + ".epoch1"):
        os.replace(state + ".epoch1", state)
    resumed, resumed_swa = _run(folder, 3, start_epoch)
    # Epoch 2's weights (restored from the backup) were averaged in.
    assert resumed_swa.count == straight_swa.count == 4 - start_epoch
    for a, b in zip(resumed.weights, straight.weights, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
