"""`keras_music.distribute.fit` with two worker processes on 127.0.0.1.

`model.fit` fails under `MultiWorkerMirroredStrategy` on TensorFlow 2.21 /
Keras 3.15; `fit` runs the model's own `train_step` through
`strategy.run`. These tests train SimCLR (whose NT-Xent loss gathers the
negatives of every replica) in two worker processes and check what a user
relies on: the same weights on both workers, the same losses as one
process on the same global batches, and a run that resumes after a worker
is killed.
"""

import json
import os
import signal
import sys
import textwrap
import time

import numpy as np
import pytest

from tests.recipes.recipe_runner import finish_workers
from tests.recipes.recipe_runner import h5_arrays
from tests.recipes.recipe_runner import run_recipe
from tests.recipes.recipe_runner import run_workers
from tests.recipes.recipe_runner import start_workers

# argv: output folder, epochs, seconds of pause after each step, and the
# objectives to train one after the other (simclr, moco).
SCRIPT = textwrap.dedent(
    """
    import json
    import os
    import sys
    import time

    import keras
    import numpy as np
    import tensorflow as tf

    from keras_music.distribute import fit
    from keras_music.distribute import get_strategy
    from keras_music.pretraining.moco import MoCo
    from keras_music.pretraining.simclr import SimCLR
    from keras_music.training.recipe_support import run_callbacks
    from keras_music.training.recipe_support import worker_done

    output, epochs, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    multi = "TF_CONFIG" in os.environ
    strategy = get_strategy("multi_worker" if multi else "default")
    rng = np.random.default_rng(0)
    views = tuple(rng.normal(size=(32, 6)).astype("float32") for _ in "ab")
    train = tf.data.Dataset.from_tensor_slices(views).batch(8).repeat()
    valid = tf.data.Dataset.from_tensor_slices(views).batch(8)


    class Pause(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(pause)


    results = {}
    for kind in sys.argv[4].split(","):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            encoder = keras.Sequential(
                [keras.Input((6,)), keras.layers.Dense(8)]
            )
            if kind == "moco":
                model = MoCo(encoder, projection_dim=4, queue_size=16)
            else:
                model = SimCLR(encoder, projection_dim=4, temperature=0.5)
            model(views[0][:2])
            model.compile(optimizer=keras.optimizers.SGD(0.5))
        folder = os.path.join(output, kind)
        history = fit(
            model,
            train,
            epochs=epochs,
            steps_per_epoch=2,
            validation_data=valid,
            callbacks=run_callbacks(folder, strategy=strategy) + [Pause()],
            verbose=0,
        )
        worker_done(model, folder, strategy)
        results[kind] = {
            "replicas": strategy.num_replicas_in_sync,
            "history": {k: [float(v) for v in vs]
                        for k, vs in history.history.items()},
            "iterations": int(model.optimizer.iterations.numpy()),
            "weights": [np.asarray(w).tolist() for w in model.weights],
        }
    print("RESULT" + json.dumps(results))
    """
)


def _command(output, epochs, pause=0.0, kinds="simclr,moco"):
    return [
        sys.executable,
        "-c",
        SCRIPT,
        output,
        str(epochs),
        str(pause),
        kinds,
    ]


def _result(stdout):
    line = [ln for ln in stdout.splitlines() if ln.startswith("RESULT")]
    assert line, stdout[-2000:]
    return json.loads(line[-1][len("RESULT") :])


def _assert_workers_agree(folder):
    chief, other = (
        h5_arrays(os.path.join(folder, f"worker-{i}", "model.weights.h5"))
        for i in range(2)
    )
    assert chief.keys() == other.keys()
    # Every variable (weights, optimizer state, MoCo's queue and pointer)
    # is bit-identical: both workers apply the same all-reduced gradients
    # and enqueue the same gathered keys.
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)


@pytest.mark.parametrize("kind", ["simclr", "moco"])
def test_two_workers_match_one_process(kind, two_worker_runs):
    single, results, output = two_worker_runs
    single, results = single[kind], [r[kind] for r in results]
    assert single["replicas"] == 1
    assert [r["replicas"] for r in results] == [2, 2]
    assert results[0] == results[1]
    _assert_workers_agree(os.path.join(output, kind))
    # Two replicas of 4 examples: SimCLR's negatives and MoCo's enqueued
    # keys are gathered across workers, so losses, weights and queue are
    # those of one process on the same global batches of 8, up to float32
    # summation order (1e-5).
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(
            results[0]["history"][key],
            single["history"][key],
            rtol=1e-5,
            err_msg=key,
        )
    for a, b in zip(results[0]["weights"], single["weights"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert results[0]["iterations"] == single["iterations"] == 6
    # Only the chief writes the run's files.
    assert os.path.exists(os.path.join(output, kind, "logs"))
    assert not os.path.exists(os.path.join(output, kind, "worker-1", "logs"))


@pytest.fixture(scope="module")
def two_worker_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    single = _result(run_recipe(_command(str(folder / "single"), 3)).stdout)
    output = str(folder / "multi")
    outputs = run_workers(_command(output, 3), timeout=300)
    return single, [_result(stdout) for stdout, _ in outputs], output


def test_killed_worker_resumes_from_the_last_checkpoint(tmp_path):
    output = str(tmp_path / "run")
    command = _command(output, 4, pause=0.5, kinds="simclr")
    processes = start_workers(command)
    state = os.path.join(output, "simclr", "backup", "checkpoint.json")
    deadline = time.time() + 240
    while time.time() < deadline and not os.path.exists(state):
        assert all(p.poll() is None for p in processes), "a worker ended"
        time.sleep(0.2)
    assert os.path.exists(state), "no checkpoint was committed"
    processes[1].send_signal(signal.SIGKILL)
    # The chief cannot go on without its peer; the cluster is restarted,
    # as a cluster manager would.
    finish_workers(processes, timeout=5, check=False)
    assert not os.path.exists(os.path.join(output, "simclr", "worker-0"))
    with open(state) as stream:
        resumed_at = json.load(stream)["epoch"]
    assert 1 <= resumed_at < 4
    outputs = finish_workers(start_workers(command), timeout=300)
    results = [_result(stdout)["simclr"] for stdout, _ in outputs]
    # The same number of optimizer steps as an uninterrupted run, and
    # only the epochs after the checkpoint were trained again.
    for result in results:
        assert result["iterations"] == 8
        assert len(result["history"]["loss"]) == 4 - resumed_at
    _assert_workers_agree(os.path.join(output, "simclr"))
    # The backup is removed once training finishes.
    assert not os.path.exists(os.path.join(output, "simclr", "backup"))


def test_bad_arguments_are_named():
    script = textwrap.dedent(
        """
        import keras, numpy as np, tensorflow as tf
        from keras_music.distribute import fit, get_strategy
        strategy = get_strategy("multi_worker")
        with strategy.scope():
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
            model.compile(optimizer="sgd", loss="mse")
        x = np.ones((4, 3), "float32")
        data = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(2)
        for arguments in [(x,), (data.repeat(),)]:
            try:
                fit(model, *arguments)
            except ValueError as error:
                print("ERROR", error)
        try:
            fit(model, data, class_weight={0: 1.0})
        except ValueError as error:
            print("ERROR", error)
        """
    )
    proc = run_recipe([sys.executable, "-c", script])
    errors = [ln for ln in proc.stdout.splitlines() if ln.startswith("ERROR")]
    assert len(errors) == 3, proc.stdout
    assert "`x` must be a `tf.data.Dataset`" in errors[0]
    assert "`steps_per_epoch` is needed" in errors[1]
    assert "class_weight" in errors[2]
