import textwrap

import pytest
import tensorflow as tf

from keras_music.distribute import get_strategy
from keras_music.distribute import is_chief
from tests.test_case import run_replica_script

# Runs in a fresh process: logical devices must be set before TF starts.
TWO_REPLICA_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import keras
    import tensorflow as tf
    from keras_music.distribute import get_strategy, replica_scaled, split_cpu

    devices = split_cpu(2)

    class Regressor(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(3)
            self.tracker = keras.metrics.Mean(name="loss")

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(self(x, training=True) - y))
                scaled = replica_scaled(loss)
            grads = tape.gradient(scaled, self.trainable_variables)
            self.optimizer.apply(grads, self.trainable_variables)
            self.tracker.update_state(loss)
            return {"loss": self.tracker.result()}

        @property
        def metrics(self):
            return [self.tracker]

    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = rng.normal(size=(16, 3)).astype("float32")
    kernel = rng.normal(size=(5, 3)).astype("float32")

    results = {}
    for name, strategy in [
        ("single", get_strategy("default")),
        ("mirrored", get_strategy("mirrored", devices=devices)),
    ]:
        with strategy.scope():
            model = Regressor()
            model(x[:1])
            model.dense.kernel.assign(kernel)
            model.compile(optimizer=keras.optimizers.SGD(0.1))
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False,
                            verbose=0)
        results[name] = {
            "replicas": strategy.num_replicas_in_sync,
            "loss": [float(v) for v in history.history["loss"]],
            "kernel": np.asarray(model.dense.kernel).tolist(),
        }
    print(json.dumps(results))
    """
)


def test_mirrored_custom_train_step_matches_single_device():
    results = run_replica_script(TWO_REPLICA_SCRIPT)
    assert results["single"]["replicas"] == 1
    assert results["mirrored"]["replicas"] == 2
    # Same global batches, gradients of the same global mean: equal up to
    # float32 summation order (1e-5).
    assert results["mirrored"]["loss"] == pytest.approx(
        results["single"]["loss"], rel=1e-5, abs=1e-6
    )
    for a, b in zip(
        sum(results["mirrored"]["kernel"], []),
        sum(results["single"]["kernel"], []),
    ):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    # And training did something: the loss went down.
    assert results["single"]["loss"][1] < results["single"]["loss"][0]


def test_default_strategy_has_one_replica():
    assert get_strategy("default").num_replicas_in_sync == 1


def test_unknown_strategy_is_rejected():
    with pytest.raises(ValueError, match="strategy='tpu_pod'"):
        get_strategy("tpu_pod")


def test_devices_only_with_mirrored():
    with pytest.raises(ValueError, match="`devices` can only be given"):
        get_strategy("default", devices=["/cpu:0"])


def test_bad_tf_config_is_named(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        get_strategy("multi_worker")


def test_tpu_without_a_tpu_is_named(monkeypatch):
    def no_tpu(*args, **kwargs):
        raise ValueError("Please provide a TPU Name to connect to.")

    # The resolver would otherwise ask the cloud metadata server.
    monkeypatch.setattr(
        tf.distribute.cluster_resolver, "TPUClusterResolver", no_tpu
    )
    with pytest.raises(ValueError, match="strategy='tpu' needs a TPU"):
        get_strategy("tpu")


def test_one_process_is_the_chief():
    assert is_chief(get_strategy("default"))
    assert is_chief()
