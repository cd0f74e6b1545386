import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.pretraining.moco import MoCo
from tests.test_case import TestCase
from tests.test_case import run_replica_script


def _encoder(features=6, width=8):
    return keras.Sequential(
        [keras.Input((features,)), keras.layers.Dense(width, name="dense")],
        name="encoder",
    )


def _views(n, features=6, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n, features)).astype("float32"),
        rng.normal(size=(n, features)).astype("float32"),
    )


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _numpy_branch(encoder, projector, x):
    """The branch from the formula: Dense -> Dense, ReLU -> Dense -> L2."""
    w, b = (np.array(v) for v in encoder.weights)
    w1, b1, w2, b2 = (np.array(v) for v in projector.weights)
    hidden = np.maximum((x @ w + b) @ w1 + b1, 0.0)
    return _unit(hidden @ w2 + b2)


class MoCoTest(TestCase):
    def test_config_round_trip(self):
        kwargs = {
            "projection_dim": 4,
            "queue_size": 16,
            "momentum": 0.9,
            "temperature": 0.5,
            "hidden_dim": 12,
        }
        moco = MoCo(_encoder(), **kwargs)
        revived = self.run_serialization_test(moco, kwargs)
        self.assertEqual(revived.queue.shape, (16, 4))
        self.assertEqual(revived.projector.layers[0].units, 12)

    def test_structure(self):
        moco = MoCo(_encoder(), projection_dim=4, queue_size=16)
        # Only the query branch is trained; the key branch is a copy.
        self.assertEqual(
            len(moco.trainable_weights),
            len(moco.encoder.weights) + len(moco.projector.weights),
        )
        self.assertEqual(moco.key_encoder.trainable_weights, [])
        for q, k in zip(moco.encoder.weights, moco.key_encoder.weights):
            self.assertIsNot(q, k)
            self.assertAllEqual(k, q)
        # The queue starts as unit rows; exact up to float32 rounding.
        norms = np.linalg.norm(np.array(moco.queue), axis=-1)
        self.assertAllClose(norms, np.ones(16), atol=1e-6)
        self.assertEqual(int(moco.queue_pointer.numpy()), 0)
        self.assertEqual(moco(_views(3)[0]).shape, (3, 4))

    def test_loss_and_accuracy_match_numpy(self):
        moco = MoCo(_encoder(), projection_dim=4, queue_size=8, temperature=0.2)
        # Learning rate 0 and momentum 1 freeze both branches, so the
        # reported loss is the formula on the initial weights.
        moco.compile(optimizer=keras.optimizers.SGD(0.0))
        moco.momentum = 1.0
        view_1, view_2 = _views(8)
        queue = np.array(moco.queue)
        logs = moco.train_on_batch((view_1, view_2), return_dict=True)

        q = _numpy_branch(moco.encoder, moco.projector, view_1)
        k = _numpy_branch(moco.key_encoder, moco.key_projector, view_2)
        logits = (
            np.concatenate(
                [np.sum(q * k, axis=1, keepdims=True), q @ queue.T], axis=1
            )
            / 0.2
        )
        log_softmax = logits - np.log(np.sum(np.exp(logits), axis=1))[:, None]
        rank = np.sum(logits[:, 1:] >= logits[:, :1], axis=1)
        # float32 forward pass vs float64 NumPy: ~1e-6 relative.
        self.assertAllClose(logs["loss"], -np.mean(log_softmax[:, 0]), 1e-5)
        self.assertAllClose(logs["top1_accuracy"], np.mean(rank < 1))
        self.assertAllClose(logs["top5_accuracy"], np.mean(rank < 5))
        # The keys were enqueued at the pointer (float32 rounding).
        self.assertAllClose(moco.queue, k, atol=1e-6)
        self.assertEqual(int(moco.queue_pointer.numpy()), 0)

    def test_a_collapsed_encoder_scores_chance_not_full_accuracy(self):
        # A constant encoder: every query, key and queued key is the same
        # unit vector, so all 1 + 8 logits tie. The loss is log 9 and a
        # tie is a miss: top-1 and top-5 accuracy 0 (the positive is not
        # ranked above any negative), not 1.
        encoder = _encoder()
        kernel, bias = encoder.get_layer("dense").get_weights()
        encoder.get_layer("dense").set_weights(
            [np.zeros_like(kernel), np.ones_like(bias)]
        )
        moco = MoCo(encoder, projection_dim=4, queue_size=8)
        moco.compile(optimizer=keras.optimizers.SGD(0.0))
        moco.momentum = 1.0
        views = _views(8)
        moco.train_on_batch(views)  # fills the queue with the same key
        moco.reset_metrics()
        logs = moco.train_on_batch(views, return_dict=True)
        self.assertAllClose(logs["loss"], np.log(9.0), 1e-5)
        self.assertEqual(float(logs["top1_accuracy"]), 0.0)
        self.assertEqual(float(logs["top5_accuracy"]), 0.0)

    def test_momentum_update_precedes_key_pass(self):
        moco = MoCo(_encoder(), projection_dim=4, queue_size=16, momentum=0.75)
        moco.compile(optimizer=keras.optimizers.SGD(0.5))
        rng = np.random.default_rng(3)
        for k in moco.key_encoder.weights + moco.key_projector.weights:
            k.assign(rng.normal(size=k.shape).astype("float32"))
        query = [np.array(v) for v in moco.trainable_weights]
        key = [
            np.array(v)
            for v in moco.key_encoder.weights + moco.key_projector.weights
        ]
        view_1, view_2 = _views(4)
        moco.train_on_batch((view_1, view_2))

        expected = [0.75 * k + 0.25 * q for k, q in zip(key, query)]
        actual = moco.key_encoder.weights + moco.key_projector.weights
        # float32 arithmetic on O(1) values.
        self.assertAllClose(actual, expected, atol=1e-6)
        # The query branch got a gradient step, the key branch none.
        moved = [
            not np.allclose(np.array(v), q)
            for v, q in zip(moco.trainable_weights, query)
        ]
        self.assertTrue(any(moved))
        # The enqueued keys come from the *updated* key branch.
        keys = _numpy_branch(moco.key_encoder, moco.key_projector, view_2)
        self.assertAllClose(moco.queue[:4], keys, atol=1e-6)

    def test_batch_norm_statistics_follow_the_query(self):
        # A CNN-style encoder: the key branch runs BatchNormalization in
        # inference mode on moving statistics that follow the query's.
        encoder = keras.Sequential(
            [
                keras.Input((6,)),
                keras.layers.Dense(8),
                keras.layers.BatchNormalization(epsilon=1e-3),
            ]
        )
        moco = MoCo(encoder, projection_dim=4, queue_size=8, momentum=0.75)
        moco.compile(optimizer=keras.optimizers.SGD(0.1))
        rng = np.random.default_rng(5)
        query_bn = moco.encoder.layers[-1]
        key_bn = moco.key_encoder.layers[-1]
        for bn in (query_bn, key_bn):
            bn.moving_mean.assign(rng.normal(size=8).astype("float32"))
            bn.moving_variance.assign(
                rng.uniform(0.5, 2.0, size=8).astype("float32")
            )
        q_stats = [np.array(query_bn.moving_mean), query_bn.moving_variance]
        q_stats[1] = np.array(q_stats[1])
        k_stats = [np.array(key_bn.moving_mean), key_bn.moving_variance]
        k_stats[1] = np.array(k_stats[1])
        view_1, view_2 = _views(8)
        moco.train_on_batch((view_1, view_2))

        expected = [0.75 * k + 0.25 * q for k, q in zip(k_stats, q_stats)]
        # float32 arithmetic on O(1) values.
        self.assertAllClose(key_bn.moving_mean, expected[0], atol=1e-6)
        self.assertAllClose(key_bn.moving_variance, expected[1], atol=1e-6)
        # The keys used those statistics (inference-mode BatchNorm, the
        # formula in NumPy).
        w, b, gamma, beta, mean, variance = (
            np.array(v) for v in moco.key_encoder.weights
        )
        h = view_2 @ w + b
        h = (h - mean) / np.sqrt(variance + 1e-3) * gamma + beta
        w1, b1, w2, b2 = (np.array(v) for v in moco.key_projector.weights)
        keys = _unit(np.maximum(h @ w1 + b1, 0.0) @ w2 + b2)
        # float32 forward pass vs float64 NumPy.
        self.assertAllClose(moco.queue, keys, atol=1e-5)

    def test_queue_is_fifo_and_pointer_wraps(self):
        moco = MoCo(_encoder(), projection_dim=4, queue_size=8, momentum=1.0)
        moco.compile(optimizer=keras.optimizers.SGD(0.1))
        view_1, view_2 = _views(12)
        keys = _numpy_branch(moco.key_encoder, moco.key_projector, view_2)
        moco.fit((view_1, view_2), batch_size=4, shuffle=False, verbose=0)
        # Batches 0, 1, 2 land in rows 0-3, 4-7, then 0-3 again.
        expected = np.concatenate([keys[8:12], keys[4:8]])
        self.assertAllClose(moco.queue, expected, atol=1e-6)
        self.assertEqual(int(moco.queue_pointer.numpy()), 4)

    def test_evaluate_leaves_queue_alone(self):
        moco = MoCo(_encoder(), projection_dim=4, queue_size=8)
        moco.compile(optimizer="sgd")
        queue = np.array(moco.queue)
        logs = moco.evaluate(_views(8), batch_size=4, verbose=0)
        self.assertEqual(len(logs), 3)
        self.assertAllEqual(moco.queue, queue)

    def test_saving_keeps_queue_and_pointer(self):
        moco = MoCo(_encoder(), projection_dim=4, queue_size=8)
        moco.compile(optimizer="sgd")
        moco.fit(_views(4), batch_size=4, verbose=0)
        revived = self.run_model_saving_test(moco, _views(3)[0])
        self.assertAllEqual(revived.queue, moco.queue)
        self.assertEqual(int(revived.queue_pointer.numpy()), 4)
        self.assertAllEqual(
            revived.key_encoder.weights, moco.key_encoder.weights
        )

    @pytest.mark.large
    def test_swin_encoder(self):
        from keras_music.models.swin.swin_backbone import SwinBackbone

        backbone = SwinBackbone.from_preset(
            "swin_test_tiny", input_size=(16, 24), depths=(1, 1)
        )
        moco = MoCo(backbone, projection_dim=8, queue_size=4)
        moco.compile(optimizer=keras.optimizers.AdamW(1e-3))
        rng = np.random.default_rng(0)
        views = rng.normal(size=(2, 4, 16, 24)).astype("float32")
        history = moco.fit(
            (views[0], views[1]), batch_size=2, epochs=1, verbose=0
        )
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        self.assertEqual(int(moco.queue_pointer.numpy()), 0)

    def test_queue_not_multiple_of_batch(self):
        moco = MoCo(_encoder(), projection_dim=4, queue_size=10)
        moco.compile(optimizer="sgd")
        with pytest.raises(ValueError, match="multiple of the global batch"):
            moco.train_on_batch(_views(4))

    def test_data_must_be_a_pair(self):
        moco = MoCo(_encoder(), projection_dim=4, queue_size=8)
        moco.compile(optimizer="sgd")
        with pytest.raises(ValueError, match=r"\(view_1, view_2\)"):
            moco.train_step(_views(4)[0])

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="encoder` must be a keras.Model"):
            MoCo(keras.layers.Dense(4))
        rank_3 = keras.Sequential([keras.Input((3, 6)), keras.layers.Dense(4)])
        with pytest.raises(ValueError, match=r"\(batch, d\)"):
            MoCo(rank_3)
        for name, value in (
            ("projection_dim", 0),
            ("queue_size", -8),
            ("momentum", 1.5),
            ("temperature", 0.0),
            ("hidden_dim", 2.5),
        ):
            with pytest.raises(ValueError, match=f"{name}={value}"):
                MoCo(_encoder(), **{name: value})


# Runs in a fresh interpreter: logical devices must be configured before
# TensorFlow initialises them, which the other tests have already done.
_DISTRIBUTED_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )

    import keras
    import numpy as np

    from keras_music.pretraining.moco import MoCo

    def encoder():
        return keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(8, name="dense")]
        )

    rng = np.random.default_rng(0)
    view_1 = rng.normal(size=(24, 6)).astype("float32")
    view_2 = rng.normal(size=(24, 6)).astype("float32")

    def dataset():
        return tf.data.Dataset.from_tensor_slices((view_1, view_2)).batch(
            4, drop_remainder=True
        )

    class StepLosses(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.values = []

        def on_train_batch_end(self, batch, logs=None):
            self.values.append(float(logs["loss"]))

    def train(strategy, weights, momentum):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            moco = MoCo(
                encoder(), projection_dim=4, queue_size=16, momentum=momentum
            )
            moco.set_weights(weights)
            moco.compile(optimizer=keras.optimizers.SGD(0.5))
        losses = StepLosses()
        moco.fit(dataset(), epochs=1, verbose=0, callbacks=[losses])
        return moco, losses.values

    keras.utils.set_random_seed(0)
    initial = MoCo(encoder(), projection_dim=4, queue_size=16, momentum=0.9)
    weights = initial.get_weights()
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = tf.distribute.get_strategy()

    # Momentum 1 freezes the key branch (its update is tested on one
    # replica), so the queue must hold its keys of the last 16 examples:
    # steps 4, 5 in rows 0-7, steps 2, 3 in rows 8-15.
    result = {"replicas": mirrored.num_replicas_in_sync}
    for name, strategy in (("single", single), ("mirrored", mirrored)):
        moco, losses = train(strategy, weights, momentum=1.0)
        result[name] = {
            "losses": losses,
            "queue": np.array(moco.queue).tolist(),
            "pointer": int(np.array(moco.queue_pointer)),
            "weights": [np.array(w).tolist() for w in moco.weights],
        }
    w, b = (np.array(v) for v in moco.key_encoder.weights)
    w1, b1, w2, b2 = (np.array(v) for v in moco.key_projector.weights)
    keys = np.maximum((view_2 @ w + b) @ w1 + b1, 0.0) @ w2 + b2
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    result["expected_queue"] = np.concatenate(
        [keys[16:24], keys[8:16]]
    ).tolist()

    # A global batch of 4 does not divide a queue of 10.
    with mirrored.scope():
        bad = MoCo(encoder(), projection_dim=4, queue_size=10)
        bad.compile(optimizer="sgd")
    try:
        bad.fit(dataset(), epochs=1, verbose=0)
        result["error"] = None
    except (ValueError, tf.errors.InvalidArgumentError) as error:
        # Raised at run time inside the graph when the batch is not static.
        result["error"] = str(error)
    json.dump(result, sys.stdout)
    """
)


class MoCoDistributedTest(TestCase):
    def test_two_replicas_match_one(self):
        result = run_replica_script(_DISTRIBUTED_SCRIPT)
        self.assertEqual(result["replicas"], 2)
        single, mirrored = result["single"], result["mirrored"]
        self.assertEqual(len(single["losses"]), 6)
        # Same data, same start: the per-replica loss / 2 gives the same
        # gradient as the global loss; only summation order differs
        # (float32, ~1e-7 relative after 6 SGD steps).
        self.assertAllClose(
            mirrored["losses"], single["losses"], atol=1e-5, rtol=1e-5
        )
        self.assertAllClose(mirrored["queue"], single["queue"], atol=1e-5)
        self.assertAllClose(
            mirrored["weights"], single["weights"], atol=1e-5, rtol=1e-5
        )
        # 6 steps x 4 keys in a queue of 16: the pointer wrapped to 8.
        self.assertEqual(mirrored["pointer"], 8)
        self.assertEqual(single["pointer"], 8)
        # Keys gathered in global batch order (float32 rounding).
        self.assertAllClose(
            mirrored["queue"], result["expected_queue"], atol=1e-6
        )
        self.assertIsNotNone(result["error"])
        self.assertIn("multiple of the global batch", result["error"])
        # The main process still sees its single CPU device.
        self.assertEqual(len(tf.config.list_logical_devices("CPU")), 1)
