"""Resumable training checkpoints that an interruption cannot corrupt."""

import json
import os
import re

import h5py
import keras
import numpy as np

from keras_music.convert.state_dict import check_finite_tensors
from keras_music.utils.atomic_write import atomic_path
from keras_music.utils.atomic_write import write_json_atomic

_STATE_NAME = "checkpoint.json"
_WEIGHTS_PATTERN = re.compile(r"^epoch-(\d+)\.weights\.h5$")


@keras.saving.register_keras_serializable(package="keras_music")
class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose checkpoints are written atomically.

    Keras' `BackupAndRestore` overwrites one weights file in place and
    then the epoch it belongs to, so a run killed while saving (SIGKILL, a
    preempted machine) can leave a truncated file, or the weights of one
    epoch next to the epoch number of the one before. Here each epoch's
    model and optimizer state is written to a new file under a temporary
    name and renamed, then `checkpoint.json`, which names the file and
    its epoch, is replaced atomically: that rename is the commit. A
    half-written checkpoint never replaces a good one; older epochs'
    files are removed only after the commit.

    Running the same command again restores the last committed epoch
    (model, optimizer, step counter and the states of the model's
    `SeedGenerator`s, which `save_weights` leaves out; a checkpoint
    holding NaN or infinite values is refused, naming the tensor and the
    file) and training goes on from there,
    so the interrupted run ends with the same number of optimizer steps
    as an uninterrupted one. Under `MultiWorkerMirroredStrategy` only the
    chief writes (pass `read_only=True` on the other workers); every
    worker restores from `backup_dir`, which must therefore be on a
    filesystem they share.

    Args:
        backup_dir: str. Folder of the checkpoints.
        read_only: bool. Restore, but never write (non-chief workers).
            Defaults to `False`.
        delete_checkpoint: bool. Remove `backup_dir` when training
            finishes. Defaults to `True`.

    Example:

    >>> import tempfile
    >>> import numpy as np
    >>> backup = tempfile.mkdtemp()
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((8, 3)), np.zeros((8, 1))
    >>> callback = AtomicBackupAndRestore(backup, delete_checkpoint=False)
    >>> _ = model.fit(x, y, epochs=2, callbacks=[callback], verbose=0)
    >>> sorted(os.listdir(backup))
    ['checkpoint.json', 'epoch-2.weights.h5']
    >>> history = model.fit(x, y, epochs=3, callbacks=[callback], verbose=0)
    >>> len(history.history["loss"])  # resumed after epoch 2
    1
    """

    def __init__(self, backup_dir, read_only=False, delete_checkpoint=True):
        super().__init__(
            backup_dir,
            save_freq="epoch",
            delete_checkpoint=delete_checkpoint,
        )
        self.read_only = read_only

    def get_config(self):
        return {
            "backup_dir": self.backup_dir,
            "read_only": self.read_only,
            "delete_checkpoint": self.delete_checkpoint,
        }

    def on_train_begin(self, logs=None):
        state_path = os.path.join(self.backup_dir, _STATE_NAME)
        if not os.path.exists(state_path):
            return
        with open(state_path) as stream:
            state = json.load(stream)
        if not self.model.built:
            raise ValueError(
                "AtomicBackupAndRestore restores into a built model: call "
                "the model on a batch before `fit`. Received: an unbuilt "
                f"model {self.model.name!r}"
            )
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            with self.model.distribute_strategy.scope():
                optimizer.build(self.model.trainable_variables)
        path = os.path.join(self.backup_dir, state["weights"])
        # A run that diverged saved NaN weights: resuming would go on from
        # them without a word.
        check_finite_tensors(path, weights_file_tensors(path))
        self.model.load_weights(path)
        self._restore_seed_states(state.get("seed_states", []))
        self._current_epoch = state["epoch"]
        self.model._initial_epoch = state["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        if not self.read_only:
            self._save_model()

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{self._current_epoch}.weights.h5"
        path = os.path.join(self.backup_dir, name)
        with atomic_path(path, suffix=".weights.h5") as temporary:
            self.model.save_weights(temporary, overwrite=True)
        state = {"epoch": self._current_epoch, "weights": name}
        seeds = seed_states(self.model)
        if seeds:
            state["seed_states"] = seeds
        write_json_atomic(os.path.join(self.backup_dir, _STATE_NAME), state)
        # Older epochs, and what a save killed before its rename left.
        for other in os.listdir(self.backup_dir):
            match = _WEIGHTS_PATTERN.match(other)
            stale = match and int(match.group(1)) != self._current_epoch
            # `incomplete-<pid>-` is the temporary name of older versions.
            leftover = ".incomplete-" in other or other.startswith(
                "incomplete-"
            )
            if stale or leftover:
                os.remove(os.path.join(self.backup_dir, other))

    def _restore_seed_states(self, saved):
        # In model order: the paths carry names Keras numbers per process.
        variables = _seed_variables(self.model)
        shapes = [list(v.shape) for v in variables]
        if saved and [list(np.shape(value)) for _, value in saved] != shapes:
            raise ValueError(
                f"The random generator states in {self.backup_dir}/"
                f"{_STATE_NAME} belong to another model: "
                f"{[path for path, _ in saved]}, where this model has "
                f"{[v.path for v in variables]}. Resume with the model of "
                "the interrupted run."
            )
        for variable, (_, value) in zip(variables, saved):
            variable.assign(np.asarray(value, variable.dtype))

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and not self.read_only:
            super().on_train_end(logs)


def weights_file_tensors(path):
    """Every array of a Keras `.weights.h5` file, by its path in the file."""
    tensors = {}

    def collect(name, item):
        if isinstance(item, h5py.Dataset):
            tensors[name] = np.asarray(item[()])

    with h5py.File(path, "r") as stream:
        stream.visititems(collect)
    return tensors


def completed_epochs(backup_dir):
    """Epochs the last committed checkpoint under `backup_dir` finished
    (0 when there is none): where a resumed run starts."""
    state_path = os.path.join(backup_dir, _STATE_NAME)
    if not os.path.exists(state_path):
        return 0
    with open(state_path) as stream:
        return int(json.load(stream)["epoch"])


def seed_states(model):
    """`[path, state]` of each `SeedGenerator` of `model` (its dropout,
    patchout and augmentation draws), as JSON-ready lists."""
    return [[v.path, np.asarray(v).tolist()] for v in _seed_variables(model)]


def _seed_variables(model):
    return [
        v for v in model.variables if v.path.endswith("seed_generator_state")
    ]
