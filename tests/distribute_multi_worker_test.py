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

import h5py
import numpy as np

from tests.recipes.recipe_runner import finish_workers
from tests.recipes.recipe_runner import run_recipe
from tests.recipes.recipe_runner import start_workers

# argv: output folder, epochs, seconds of pause after each step.
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
    from keras_music.pretraining.simclr import SimCLR
    from keras_music.training.recipe_support import run_callbacks
    from keras_music.training.recipe_support import worker_done

    output, epochs, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    multi = "TF_CONFIG" in os.environ
    strategy = get_strategy("multi_worker" if multi else "default")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    views = tuple(rng.normal(size=(32, 6)).astype("float32") for _ in "ab")
    train = tf.data.Dataset.from_tensor_slices(views).batch(8).repeat()
    valid = tf.data.Dataset.from_tensor_slices(views).batch(8)
    with strategy.scope():
        encoder = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8)])
        model = SimCLR(encoder, projection_dim=4, temperature=0.5)
        model(views[0][:2])
        model.compile(optimizer=keras.optimizers.SGD(0.5))


    class Pause(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            time.sleep(pause)


    history = fit(
        model,
        train,
        epochs=epochs,
        steps_per_epoch=2,
        validation_data=valid,
        callbacks=run_callbacks(output, strategy=strategy) + [Pause()],
        verbose=0,
    )
    worker_done(model, output, strategy)
    print("RESULT" + json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "history": {k: [float(v) for v in vs]
                    for k, vs in history.history.items()},
        "iterations": int(model.optimizer.iterations.numpy()),
        "kernel": np.asarray(encoder.weights[0]).tolist(),
    }))
    """
)


def _command(output, epochs, pause=0.0):
    return [sys.executable, "-c", SCRIPT, output, str(epochs), str(pause)]


def _result(stdout):
    line = [ln for ln in stdout.splitlines() if ln.startswith("RESULT")]
    assert line, stdout[-2000:]
    return json.loads(line[-1][len("RESULT") :])


def _weights(path):
    with h5py.File(path, "r") as stream:
        arrays = []
        stream.visititems(
            lambda name, item: (
                arrays.append((name, item[()]))
                if isinstance(item, h5py.Dataset)
                else None
            )
        )
    return dict(arrays)


def _assert_workers_agree(output):
    chief, other = (
        _weights(os.path.join(output, f"worker-{i}", "model.weights.h5"))
        for i in range(2)
    )
    assert chief.keys() == other.keys()
    # Every variable (weights, optimizer state) is bit-identical: both
    # workers apply the same all-reduced gradients.
    for name in chief:
        np.testing.assert_array_equal(chief[name], other[name], err_msg=name)


def test_two_workers_match_one_process(tmp_path):
    single = _result(run_recipe(_command(str(tmp_path / "single"), 3)).stdout)
    output = str(tmp_path / "multi")
    outputs = finish_workers(start_workers(_command(output, 3)), timeout=300)
    results = [_result(stdout) for stdout, _ in outputs]
    assert single["replicas"] == 1
    assert [r["replicas"] for r in results] == [2, 2]
    assert results[0] == results[1]
    _assert_workers_agree(output)
    # Two replicas of 4 anchors, the negatives gathered across workers:
    # the losses and weights of one process on the same global batches of
    # 8, up to float32 summation order (1e-5).
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(
            results[0]["history"][key],
            single["history"][key],
            rtol=1e-5,
            err_msg=key,
        )
    np.testing.assert_allclose(
        results[0]["kernel"], single["kernel"], rtol=1e-5, atol=1e-6
    )
    assert results[0]["iterations"] == single["iterations"] == 6
    # Only the chief writes the run's files.
    assert os.path.exists(os.path.join(output, "logs"))
    assert not os.path.exists(os.path.join(output, "worker-1", "logs"))


def test_killed_worker_resumes_from_the_last_checkpoint(tmp_path):
    output = str(tmp_path / "run")
    command = _command(output, 4, pause=0.5)
    processes = start_workers(command)
    state = os.path.join(output, "backup", "checkpoint.json")
    deadline = time.time() + 240
    while time.time() < deadline and not os.path.exists(state):
        assert all(p.poll() is None for p in processes), "a worker ended"
        time.sleep(0.2)
    assert os.path.exists(state), "no checkpoint was committed"
    processes[1].send_signal(signal.SIGKILL)
    # The chief cannot go on without its peer; the cluster is restarted,
    # as a cluster manager would.
    finish_workers(processes, timeout=5, check=False)
    assert not os.path.exists(os.path.join(output, "worker-0"))
    with open(state) as stream:
        resumed_at = json.load(stream)["epoch"]
    assert 1 <= resumed_at < 4
    outputs = finish_workers(start_workers(command), timeout=300)
    results = [_result(stdout) for stdout, _ in outputs]
    # The same number of optimizer steps as an uninterrupted run, and
    # only the epochs after the checkpoint were trained again.
    for result in results:
        assert result["iterations"] == 8
        assert len(result["history"]["loss"]) == 4 - resumed_at
    _assert_workers_agree(output)
    # The backup is removed once training finishes.
    assert not os.path.exists(os.path.join(output, "backup"))


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
