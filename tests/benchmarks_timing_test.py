"""Checks of `benchmarks/timing.py`."""

import keras
import numpy as np
import tensorflow as tf

from benchmarks.timing import round_robin
from benchmarks.timing import train_steps


def test_round_robin_interleaves_and_takes_median():
    # A fake clock that each step advances by its next duration; the
    # first duration is the warm-up call's, which must not count.
    now = [0.0]
    calls = []
    durations = {"a": [100.0, 5.0, 1.0, 3.0], "b": [100.0, 2.0, 9.0, 4.0]}

    def step(name):
        def run():
            calls.append(name)
            now[0] += durations[name].pop(0)

        return run

    medians = round_robin(
        {"a": step("a"), "b": step("b")},
        repeats=3,
        clock=lambda: now[0],
    )
    assert calls == ["a", "b"] * 4
    assert medians == {"a": 3.0, "b": 4.0}


def test_train_steps_runs_that_many_optimizer_steps():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.ones((4, 3), "float32")
    batches = tf.data.Dataset.from_tensors((x, x[:, :1])).repeat()
    run = train_steps(model, batches, steps=5)
    # The warm-up `fit` step.
    assert int(model.optimizer.iterations) == 1
    before = model.get_weights()[0].copy()
    run()
    assert int(model.optimizer.iterations) == 6
    assert not np.allclose(model.get_weights()[0], before)
