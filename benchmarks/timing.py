"""Timing helpers shared by the benchmarks: interleaved rounds, and a
training step timed without `fit`'s per-call overhead."""

import statistics
import time


def round_robin(cases, repeats, clock=time.perf_counter):
    """Median wall time of each case, measured in interleaved rounds.

    `cases` maps a name to a callable that runs one measured step and
    returns once its results are on the host. Each case is called once
    first (warm-up: tracing, compilation, memory pools); then every round
    calls every case once, in order. Returns `{name: median seconds}`.
    """
    for step in cases.values():
        step()
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, step in cases.items():
            start = clock()
            step()
            times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def train_steps(model, batches, steps):
    """A callable that runs `steps` training steps of the compiled `model`
    on the dataset `batches` and returns once the last one is done.

    One `fit` step first builds the optimizer and traces the step; the
    callable then calls the traced step directly (as `fit` does per
    batch, without its callbacks, progress and epoch set-up), so that a
    few steps time the step itself.
    """
    import numpy as np

    model.fit(batches, steps_per_epoch=1, epochs=1, verbose=0)
    iterator = iter(batches)

    def run():
        for _ in range(steps):
            logs = model.train_function(iterator)
        np.asarray(logs["loss"])  # waits for the last step

    return run
