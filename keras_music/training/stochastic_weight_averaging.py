"""`StochasticWeightAveraging`: a callback that keeps averaged weights."""

import contextlib
import os

import keras
import numpy as np

from keras_music.utils.atomic_write import atomic_path


class StochasticWeightAveraging(keras.callbacks.Callback):
    """Keeps a running average of the model's weights every few epochs.

    From `start_epoch` on (1-based: the average first includes the weights
    at the end of epoch `start_epoch`), every `every` epochs the model's
    floating-point weights are added to an equally weighted running mean.
    At the end of training the averaged weights replace the model's
    (`apply_at_end=True`), so evaluation and export use them; while
    training, `with swa.averaged_weights():` swaps them in temporarily.

    With `state_path`, the average, its count and its epoch are saved
    (atomically) after every update and restored when training starts, so
    a run resumed by `keras.callbacks.BackupAndRestore` keeps its average.
    Put the backup callback first: a run killed between the backup of an
    epoch and this callback's save of the same epoch then resumes with
    that epoch's weights, which are added to the average before training
    goes on (the average is the uninterrupted run's).

    Args:
        start_epoch: int. First epoch (1-based) whose weights are
            averaged. Defaults to 50 (MAEST).
        every: int. Averaging period in epochs. Defaults to 5 (MAEST).
        apply_at_end: bool. Load the average into the model when training
            ends. Defaults to True.
        state_path: str or None. `.npz` file holding the average between
            runs. Defaults to None.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> swa = StochasticWeightAveraging(start_epoch=1, every=1)
    >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=3,
    ...               verbose=0, callbacks=[swa])
    >>> swa.count
    3

    Reference:
        Izmailov et al., "Averaging weights leads to wider optima and
        better generalization", UAI 2018; used by MAEST (ISMIR 2023).
    """

    def __init__(
        self, start_epoch=50, every=5, apply_at_end=True, state_path=None
    ):
        super().__init__()
        if start_epoch < 1 or every < 1:
            raise ValueError(
                "`start_epoch` and `every` must be positive integers. "
                f"Received: start_epoch={start_epoch}, every={every}"
            )
        self.start_epoch = start_epoch
        self.every = every
        self.apply_at_end = apply_at_end
        self.state_path = state_path
        self.count = 0
        self._average = None

    def _float_weights(self):
        return [
            w for w in self.model.weights if "float" in str(w.dtype).lower()
        ]

    def on_train_begin(self, logs=None):
        # Epochs averaged in the saved state: 0 when there is none yet.
        self._saved_epoch = 0 if self.state_path else None
        self._caught_up = False
        if self.state_path and os.path.exists(self.state_path):
            with np.load(self.state_path) as state:
                self.count = int(state["count"])
                names = [n for n in state.files if n.startswith("w")]
                self._average = [state[f"w{i}"] for i in range(len(names))]
                # States written before the epoch was kept: not checked.
                self._saved_epoch = (
                    int(state["epoch"]) if "epoch" in state.files else None
                )
            if len(self._average) != len(self._float_weights()):
                raise ValueError(
                    f"The SWA state in {self.state_path} has "
                    f"{len(self._average)} weights but the model has "
                    f"{len(self._float_weights())}: it belongs to another "
                    "model. Delete it or pass another `state_path`."
                )

    def _averages(self, done):
        return done >= self.start_epoch and not (
            (done - self.start_epoch) % self.every
        )

    def _catch_up(self, done):
        """Before a resumed run goes on from `done` finished epochs: adds
        the weights of epoch `done` if it is an averaging epoch the run
        stopped before saving (they are the model's, from the backup)."""
        if self._caught_up or self._saved_epoch is None:
            return
        self._caught_up = True
        if not self._averages(done):
            return
        previous = max(
            (e for e in range(1, done) if self._averages(e)), default=0
        )
        # Only the update of the last finished epoch can be missing (the
        # run stopped between its backup and this save); any other state
        # is kept as it is.
        if self._saved_epoch == previous:
            self.on_epoch_end(done - 1)

    def on_epoch_begin(self, epoch, logs=None):
        self._catch_up(epoch)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if not self._averages(done):
            return
        self._saved_epoch = done
        current = [
            np.asarray(w, dtype="float64") for w in self._float_weights()
        ]
        if self._average is None or self.count == 0:
            self._average = current
        else:
            self._average = [
                a + (c - a) / (self.count + 1)
                for a, c in zip(self._average, current)
            ]
        self.count += 1
        if self.state_path:
            self._save_state()

    def _save_state(self):
        # Per process: workers of one multi-worker run write the same file.
        arrays = {f"w{i}": a for i, a in enumerate(self._average)}
        with atomic_path(self.state_path, suffix=".npz") as temporary:
            np.savez(
                temporary, count=self.count, epoch=self._saved_epoch, **arrays
            )

    def _assign(self, values):
        for weight, value in zip(self._float_weights(), values):
            weight.assign(np.asarray(value, dtype=weight.dtype))

    @property
    def average(self):
        """The averaged weights (NumPy, model order), or None."""
        return None if self._average is None else list(self._average)

    @contextlib.contextmanager
    def averaged_weights(self):
        """Temporarily loads the averaged weights into the model."""
        if self._average is None:
            raise ValueError(
                "No weights have been averaged yet: SWA starts at epoch "
                f"{self.start_epoch}."
            )
        saved = [np.asarray(w) for w in self._float_weights()]
        self._assign(self._average)
        try:
            yield self.model
        finally:
            self._assign(saved)

    def on_train_end(self, logs=None):
        # No epoch ran (the backup had them all): the last may be missing.
        self._catch_up(self.params.get("epochs", 0))
        if self.apply_at_end and self._average is not None:
            self._assign(self._average)
