import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.models.resnet.resnet_backbone import ResNetBackbone
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from keras_music.pretraining.simclr import SimCLR
from tests.losses.ntxent_test import numpy_nt_xent
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


def _numpy_projection(simclr, x):
    """Dense encoder -> Dense, ReLU -> Dense, from the formula."""
    w, b = (np.array(v, "float64") for v in simclr.encoder.weights)
    w1, b1, w2, b2 = (np.array(v, "float64") for v in simclr.projector.weights)
    return np.maximum((x @ w + b) @ w1 + b1, 0.0) @ w2 + b2


def _numpy_accuracy(z_1, z_2):
    z = np.concatenate([z_1, z_2])
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    sims = z @ z.T
    np.fill_diagonal(sims, -np.inf)
    n = len(z_1)
    positives = np.concatenate([np.arange(n) + n, np.arange(n)])
    return np.mean(np.argmax(sims, axis=1) == positives)


class SimCLRTest(TestCase):
    def test_config_round_trip(self):
        kwargs = {"projection_dim": 4, "hidden_dim": 12, "temperature": 0.1}
        revived = self.run_serialization_test(SimCLR(_encoder(), **kwargs))
        self.assertEqual(revived.projector.layers[0].units, 12)
        self.assertEqual(revived.projector.layers[1].units, 4)
        self.assertEqual(revived.nt_xent.temperature, 0.1)
        config = SimCLR(_encoder(), **kwargs).get_config()
        for name, value in kwargs.items():
            self.assertEqual(config[name], value)

    def test_structure_and_call(self):
        simclr = SimCLR(_encoder(width=8), projection_dim=4)
        # hidden_dim=None: the hidden layer is as wide as the encoder.
        self.assertEqual(simclr.projector.layers[0].units, 8)
        self.assertEqual(
            len(simclr.trainable_weights),
            len(simclr.encoder.weights) + len(simclr.projector.weights),
        )
        x = _views(5)[0]
        z = np.array(simclr(x))
        self.assertEqual(z.shape, (5, 4))
        expected = _numpy_projection(simclr, x)
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        # float32 forward pass vs float64 NumPy.
        self.assertAllClose(z, expected, atol=1e-6)

    def test_loss_and_accuracy_match_numpy(self):
        simclr = SimCLR(_encoder(), projection_dim=4, temperature=0.5)
        # Learning rate 0 freezes the encoder: the reported loss is the
        # formula on the initial weights.
        simclr.compile(optimizer=keras.optimizers.SGD(0.0))
        view_1, view_2 = _views(8)
        # Correlated views so that the accuracy is neither 0 nor 1.
        view_2 = view_1 + 0.8 * view_2
        logs = simclr.train_on_batch((view_1, view_2), return_dict=True)
        z_1 = _numpy_projection(simclr, view_1)
        z_2 = _numpy_projection(simclr, view_2)
        expected_loss = numpy_nt_xent(z_1, z_2, 0.5).mean()
        expected_accuracy = _numpy_accuracy(z_1, z_2)
        self.assertGreater(expected_accuracy, 0.0)
        self.assertLess(expected_accuracy, 1.0)
        # float32 forward pass vs float64 NumPy: ~1e-6 relative.
        self.assertAllClose(logs["loss"], expected_loss, atol=1e-5)
        self.assertAllClose(logs["accuracy"], expected_accuracy)
        logs = simclr.evaluate(
            (view_1, view_2), batch_size=8, verbose=0, return_dict=True
        )
        self.assertAllClose(logs["loss"], expected_loss, atol=1e-5)
        self.assertAllClose(logs["accuracy"], expected_accuracy)

    def test_fit_learns_separable_views(self):
        # 16 clips, each a point in 6-d; its two views are the point plus
        # noise. The encoder must learn to keep views of a clip together.
        rng = np.random.default_rng(0)
        clips = rng.normal(size=(16, 6))
        view_1 = (clips + 0.3 * rng.normal(size=clips.shape)).astype("float32")
        view_2 = (clips + 0.3 * rng.normal(size=clips.shape)).astype("float32")
        simclr = SimCLR(_encoder(width=16), projection_dim=8)
        simclr.compile(optimizer=keras.optimizers.Adam(1e-2))
        views = (view_1, view_2)
        before = simclr.evaluate(views, batch_size=16, verbose=0)
        # One epoch of 60 steps: per-epoch overhead would dominate.
        dataset = tf.data.Dataset.from_tensors(views).repeat()
        simclr.fit(
            dataset, steps_per_epoch=60, epochs=1, shuffle=False, verbose=0
        )
        after = simclr.evaluate(views, batch_size=16, verbose=0)
        self.assertLess(after[0], 0.7 * before[0])
        self.assertGreater(after[1], 0.9)
        self.assertGreater(after[1], before[1])
        # No loss can beat log(1 + 30 exp(2 (-1/15) - 2)) = 1.516 here:
        # positives at cosine 1 and, by Jensen, negatives whose cosines
        # average at least -1/15 (16 unit vectors; tau = 0.5, 2N = 32).
        self.assertGreater(after[0], np.log1p(30 * np.exp(-2 / 15 - 2)))

    def test_saving(self):
        simclr = SimCLR(_encoder(), projection_dim=4)
        simclr.compile(optimizer="adam", run_eagerly=True)
        simclr.fit(_views(8), batch_size=4, verbose=0)
        revived = self.run_model_saving_test(simclr, _views(3)[0])
        self.assertAllEqual(revived.encoder.weights, simclr.encoder.weights)
        self.assertEqual(revived.projection_dim, 4)

    def test_waveform_and_spectrogram_encoders(self):
        rng = np.random.default_rng(0)
        for encoder, shape in (
            (SampleCNNBackbone.from_preset("sample_cnn_test_tiny"), (4, 243)),
            (
                ResNetBackbone.from_preset(
                    "resnet_test_tiny", input_size=(16, None)
                ),
                (4, 16, 16),
            ),
        ):
            simclr = SimCLR(encoder, projection_dim=4, hidden_dim=8)
            # Eager: one step of a tiny model, not worth a graph trace.
            simclr.compile(
                optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True
            )
            before = [np.array(w) for w in encoder.trainable_weights]
            views = rng.normal(size=(2,) + shape).astype("float32")
            logs = simclr.train_on_batch((views[0], views[1]), return_dict=True)
            self.assertTrue(np.isfinite(logs["loss"]))
            moved = [
                not np.array_equal(b, np.array(a))
                for b, a in zip(before, encoder.trainable_weights)
            ]
            self.assertTrue(all(moved))
            self.assertEqual(tuple(simclr(views[0]).shape), (4, 4))

    def test_mixed_precision(self):
        keras.config.set_dtype_policy("mixed_float16")
        simclr = SimCLR(_encoder(), projection_dim=4)
        simclr.compile(optimizer="adam", run_eagerly=True)
        logs = simclr.train_on_batch(_views(4), return_dict=True)
        self.assertTrue(np.isfinite(logs["loss"]))
        self.assertEqual(simclr(_views(4)[0]).dtype, tf.float32)

    def test_data_must_be_a_pair(self):
        simclr = SimCLR(_encoder(), projection_dim=4)
        simclr.compile(optimizer="sgd")
        with pytest.raises(ValueError, match=r"\(view_1, view_2\)"):
            simclr.train_step(_views(4)[0])
        with pytest.raises(ValueError, match=r"\(view_1, view_2\)"):
            simclr.test_step(_views(4)[0])

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="encoder` must be a keras.Model"):
            SimCLR(keras.layers.Dense(4))
        rank_3 = keras.Sequential([keras.Input((3, 6)), keras.layers.Dense(4)])
        with pytest.raises(ValueError, match=r"\(batch, d\)"):
            SimCLR(rank_3)
        for name, value in (
            ("projection_dim", 0),
            ("hidden_dim", 2.5),
            ("temperature", 0.0),
        ):
            with pytest.raises(ValueError, match=f"{name}={value}"):
                SimCLR(_encoder(), **{name: value})


# Runs in a fresh interpreter: logical devices must be configured before
# TensorFlow initialises them, which the other tests have already done.
_DISTRIBUTED_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    from keras_music.distribute import split_cpu

    devices = split_cpu(2)

    import keras
    import numpy as np
    import tensorflow as tf

    from keras_music.pretraining.simclr import SimCLR

    rng = np.random.default_rng(0)
    view_1 = rng.normal(size=(16, 6)).astype("float32")
    view_2 = (view_1 + rng.normal(size=(16, 6))).astype("float32")

    class StepLosses(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.values = []

        def on_train_batch_end(self, batch, logs=None):
            self.values.append([float(logs["loss"]), float(logs["accuracy"])])

    def encoder():
        return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8)])

    keras.utils.set_random_seed(0)
    weights = SimCLR(encoder(), projection_dim=4).get_weights()
    result = {}
    for name, strategy in (
        ("single", tf.distribute.get_strategy()),
        ("mirrored", tf.distribute.MirroredStrategy(devices)),
    ):
        with strategy.scope():
            simclr = SimCLR(encoder(), projection_dim=4)
            simclr.set_weights(weights)
            simclr.compile(optimizer=keras.optimizers.SGD(0.5))
        steps = StepLosses()
        dataset = tf.data.Dataset.from_tensor_slices((view_1, view_2))
        simclr.fit(dataset.batch(8), epochs=2, verbose=0, callbacks=[steps])
        result[name] = {
            "steps": steps.values,
            "weights": [np.array(w).tolist() for w in simclr.weights],
        }
    json.dump(result, sys.stdout)
    """
)


class SimCLRDistributedTest(TestCase):
    @pytest.mark.large
    def test_two_replicas_match_one(self):
        result = run_replica_script(_DISTRIBUTED_SCRIPT)
        single, mirrored = result["single"], result["mirrored"]
        self.assertEqual(len(single["steps"]), 4)
        # Same global batches and start: global negatives and loss / 2 on
        # each replica give the single-device losses, accuracies and
        # weights after 4 SGD steps, up to float32 summation order.
        self.assertAllClose(
            np.array(mirrored["steps"]),
            np.array(single["steps"]),
            atol=1e-5,
            rtol=1e-5,
        )
        for m, s in zip(mirrored["weights"], single["weights"]):
            self.assertAllClose(np.array(m), np.array(s), atol=1e-5, rtol=1e-5)
        # And training moved the weights.
        self.assertNotEqual(single["steps"][0][0], single["steps"][-1][0])
