import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.pretraining.multi_task_pretrainer import MultiTaskPretrainer
from tests.pretraining.pase_workers_test import numpy_workers
from tests.pretraining.pase_workers_test import randomize_prelu
from tests.test_case import TestCase
from tests.test_case import run_replica_script

HOP = 20  # a tiny stand-in for the PASE encoder's 160
DIMS = {"lps": 6, "prosody": 4, "mfcc": 5, "chroma": 12, "tempogram": 3}
TINY = {
    "hidden_dim": 8,
    "decoder_filters": [4, 3],
    "decoder_strides": [4, 5],
}


def _encoder(emb_dim=8, hop=HOP):
    """Stand-in encoder: one strided conv, `samples // hop` frames."""
    return keras.Sequential(
        [
            keras.Input((None,)),
            keras.layers.Reshape((-1, 1)),
            keras.layers.Conv1D(emb_dim, hop, strides=hop, name="frames"),
        ],
        name="encoder",
    )


def _numpy_encoder(encoder, audio, hop=HOP):
    conv = encoder.get_layer("frames")
    kernel = keras.ops.convert_to_numpy(conv.kernel).astype("float64")
    bias = keras.ops.convert_to_numpy(conv.bias).astype("float64")
    frames = audio.shape[1] // hop
    chunks = audio[:, : frames * hop].reshape(len(audio), frames, hop)
    return chunks @ kernel[:, 0, :] + bias


def _data(batch=4, frames=10, samples=None, dims=DIMS, seed=0):
    rng = np.random.default_rng(seed)
    samples = samples or frames * HOP
    audio = rng.normal(size=(batch, samples)).astype("float32")
    targets = {
        name: rng.normal(size=(batch, frames, dim)).astype("float32")
        for name, dim in dims.items()
    }
    return audio, targets


def _model(workers="W,L,P,M,C,T", **kwargs):
    kwargs = {**TINY, "target_dims": DIMS, **kwargs}
    return MultiTaskPretrainer(_encoder(), workers=workers, **kwargs)


def _numpy_losses(model, audio, targets):
    """Per-worker MSE / MAE from a NumPy forward pass of the weights."""
    frames = _numpy_encoder(model.encoder, audio.astype("float64"))
    predictions = numpy_workers(model.worker_heads, frames)
    losses = {}
    for name, prediction in predictions.items():
        if name == "waveform":
            target = audio[:, : prediction.shape[1]]
            losses[name] = np.mean(np.abs(prediction - target))
        else:
            losses[name] = np.mean((prediction - targets[name]) ** 2)
    return losses


class MultiTaskPretrainerTest(TestCase):
    def test_config_round_trip(self):
        kwargs = {
            "workers": ["waveform", "mfcc"],
            "target_dims": {"mfcc": 5},
            "loss_weights": {"waveform": 2.0, "mfcc": 0.5},
            "hidden_dim": 8,
            "decoder_filters": [4, 3],
            "decoder_strides": [4, 5],
        }
        model = MultiTaskPretrainer(_encoder(), **kwargs)
        revived = self.run_serialization_test(model, kwargs)
        self.assertEqual(revived.workers, ["waveform", "mfcc"])
        self.assertEqual(revived.loss_weights, {"waveform": 2.0, "mfcc": 0.5})
        self.assertEqual(revived.worker_heads.hop_length, 20)

    def test_codes_are_stored_as_names(self):
        model = _model("W, m", loss_weights={"W": 1, "mfcc": 3})
        self.assertEqual(model.workers, ["waveform", "mfcc"])
        self.assertEqual(model.loss_weights, {"waveform": 1.0, "mfcc": 3.0})
        self.assertEqual(model.get_config()["workers"], ["waveform", "mfcc"])
        # Only the selected workers' heads are built.
        self.assertEqual(sorted(model.worker_heads.heads), ["mfcc", "waveform"])

    def test_worker_losses_match_numpy(self):
        model = _model()
        randomize_prelu(model.worker_heads)
        model.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
        audio, targets = _data()
        expected = _numpy_losses(model, audio, targets)
        logs = model.evaluate(
            audio, targets, batch_size=4, verbose=0, return_dict=True
        )
        self.assertEqual(
            sorted(logs),
            sorted(["loss"] + [f"{name}_loss" for name in expected]),
        )
        for name, value in expected.items():
            # float32 forward pass against float64 NumPy: ~1e-7 relative.
            self.assertAllClose(logs[f"{name}_loss"], value, rtol=1e-5)
        # Equal weighting: the plain sum (float32 sum of six terms).
        self.assertAllClose(logs["loss"], sum(expected.values()), rtol=1e-5)

    def test_weighted_sum_and_train_step_logs(self):
        weights = {
            "waveform": 3.0,
            "lps": 0.5,
            "prosody": 2.0,
            "mfcc": 0.25,
            "chroma": 1.5,
            "tempogram": 10.0,
        }
        model = _model(loss_weights=weights)
        model.compile(optimizer=keras.optimizers.SGD(0.01))
        audio, targets = _data(seed=1)
        expected = _numpy_losses(model, audio, targets)
        # `train_on_batch` reports the losses of the forward pass, i.e.
        # before the update.
        logs = model.train_on_batch(audio, targets, return_dict=True)
        for name, value in expected.items():
            # float32 forward pass against float64 NumPy.
            self.assertAllClose(logs[f"{name}_loss"], value, rtol=1e-5)
        weighted = sum(weights[name] * expected[name] for name in weights)
        self.assertAllClose(logs["loss"], weighted, rtol=1e-5)

    def test_zero_weight_gives_no_gradient(self):
        model = _model("L,M", loss_weights={"lps": 0.0, "mfcc": 1.0})
        model.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
        lps = [np.array(w) for w in model.worker_heads.heads["lps"].weights]
        mfcc = [np.array(w) for w in model.worker_heads.heads["mfcc"].weights]
        model.train_on_batch(*_data(seed=2))
        # A worker with weight 0 does not train; the others do.
        self.assertAllEqual(model.worker_heads.heads["lps"].weights, lps)
        moved = [
            not np.array_equal(np.array(w), b)
            for w, b in zip(model.worker_heads.heads["mfcc"].weights, mfcc)
        ]
        self.assertTrue(any(moved))

    def test_fit_reduces_loss(self):
        # A learnable problem: every target is a fixed random linear map of
        # the audio's frames (and the waveform is the audio itself).
        rng = np.random.default_rng(3)
        audio = rng.normal(size=(16, 10 * HOP)).astype("float32")
        chunks = audio.reshape(16, 10, HOP)
        targets = {
            name: chunks @ rng.normal(size=(HOP, dim)).astype("float32") / 5
            for name, dim in DIMS.items()
        }
        dataset = (
            tf.data.Dataset.from_tensor_slices((audio, targets))
            .batch(16)
            .repeat()
        )
        model = _model()
        model.compile(optimizer=keras.optimizers.Adam(3e-2))
        # 4 "epochs" of 5 full-batch steps: few epochs keep fit's per-epoch
        # overhead small.
        history = model.fit(
            dataset, steps_per_epoch=5, epochs=4, verbose=0, shuffle=False
        )
        losses = history.history["loss"]
        self.assertTrue(np.all(np.isfinite(losses)))
        # Adam at 3e-2: steps 16-20 average about half of steps 1-5.
        self.assertLess(losses[-1], 0.66 * losses[0])
        for name in DIMS:
            per_worker = history.history[f"{name}_loss"]
            self.assertLess(per_worker[-1], per_worker[0], name)

    def test_subset_of_workers_ignores_other_targets(self):
        model = _model("L,T", target_dims={"lps": 6, "tempogram": 3})
        model.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
        audio, targets = _data()  # holds all five frame-level targets
        logs = model.evaluate(
            audio, targets, batch_size=4, verbose=0, return_dict=True
        )
        self.assertEqual(sorted(logs), ["loss", "lps_loss", "tempogram_loss"])
        outputs = model(audio)
        self.assertEqual(sorted(outputs), ["lps", "tempogram"])

    def test_waveform_only_needs_no_targets(self):
        model = _model("W")
        model.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
        audio, _ = _data()
        expected = _numpy_losses(model, audio, {})
        logs = model.train_on_batch(audio, {}, return_dict=True)
        # float32 forward pass against float64 NumPy.
        self.assertAllClose(logs["waveform_loss"], expected["waveform"], 1e-5)

    def test_waveform_target_is_cropped_to_the_frames(self):
        # 10 frames of 20 samples cover the first 200 of 213 samples.
        model = _model("W")
        model.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
        audio, _ = _data(samples=213)
        expected = _numpy_losses(model, audio, {})
        logs = model.evaluate(audio, {}, verbose=0, return_dict=True)
        # float32 forward pass against float64 NumPy.
        self.assertAllClose(logs["waveform_loss"], expected["waveform"], 1e-5)

    def test_explicit_waveform_target(self):
        # A "waveform" entry (e.g. clean audio) replaces the input audio.
        model = _model("W")
        model.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
        audio, _ = _data()
        clean = np.zeros_like(audio)
        prediction = keras.ops.convert_to_numpy(model(audio)["waveform"])
        logs = model.evaluate(
            audio, {"waveform": clean}, verbose=0, return_dict=True
        )
        # float32 mean of 800 values.
        self.assertAllClose(
            logs["waveform_loss"], np.mean(np.abs(prediction)), 1e-5
        )

    def test_mixed_precision_step(self):
        keras.config.set_dtype_policy("mixed_float16")
        model = _model()
        model.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
        outputs = model(_data()[0])
        self.assertEqual(outputs["lps"].dtype, "float16")
        logs = model.train_on_batch(*_data(), return_dict=True)
        self.assertTrue(np.isfinite(logs["loss"]))
        for weight in model.weights:
            self.assertEqual(weight.dtype, "float32")

    def test_saving(self):
        model = _model(
            loss_weights={"W": 1, "L": 2, "P": 3, "M": 4, "C": 5, "T": 6}
        )
        model.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
        audio, targets = _data()
        model.train_on_batch(audio, targets)
        revived = self.run_model_saving_test(model, audio, atol=1e-6)
        self.assertEqual(revived.loss_weights, model.loss_weights)
        self.assertAllEqual(revived.encoder.weights, model.encoder.weights)
        # The revived model trains on the same data.
        revived.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
        logs = revived.evaluate(audio, targets, verbose=0, return_dict=True)
        expected = model.evaluate(audio, targets, verbose=0, return_dict=True)
        # Same weights, same float32 computation.
        self.assertAllClose(logs, expected, atol=1e-6)

    def test_target_dims_from_element_spec(self):
        audio, targets = _data()
        targets["waveform"] = audio
        targets["beats"] = targets["chroma"]  # not a worker: left out
        dataset = tf.data.Dataset.from_tensor_slices((audio, targets)).batch(2)
        self.assertEqual(
            MultiTaskPretrainer.target_dims_from(dataset.element_spec), DIMS
        )
        with pytest.raises(ValueError, match="element_spec"):
            MultiTaskPretrainer.target_dims_from(dataset.element_spec[0])

    def test_reweighted_loss_weights(self):
        model = _model("W,M", target_dims={"mfcc": 5})
        model.compile(optimizer=keras.optimizers.SGD(0.01))
        audio, targets = _data()
        history = model.fit(
            audio,
            targets,
            validation_data=(audio, targets),
            batch_size=4,
            epochs=3,
            verbose=0,
        )
        weights = MultiTaskPretrainer.reweighted_loss_weights(history, 2)
        for name in ("waveform", "mfcc"):
            values = history.history[f"val_{name}_loss"][:2]
            # Same float64 arithmetic on the same values.
            self.assertAllClose(weights[name], 1.0 / np.mean(values), 1e-12)
        # The weights feed straight into a fresh re-weighted run.
        fresh = _model("W,M", target_dims={"mfcc": 5}, loss_weights=weights)
        self.assertEqual(fresh.loss_weights, weights)

    def test_reweighting_inputs(self):
        logs = [
            {"val_lps_loss": 4.0, "val_tempogram_loss": 0.01, "loss": 9.0},
            {"val_lps_loss": 2.0, "val_tempogram_loss": 0.03, "loss": 7.0},
            {"val_lps_loss": 100.0, "val_tempogram_loss": 100.0, "loss": 1.0},
        ]
        weights = MultiTaskPretrainer.reweighted_loss_weights(logs, epochs=2)
        # 1 / mean of the first two epochs, float64.
        self.assertAllClose(weights, {"lps": 1 / 3.0, "tempogram": 1 / 0.02})
        self.assertEqual(sorted(weights), ["lps", "tempogram"])
        train = MultiTaskPretrainer.reweighted_loss_weights(
            {"lps_loss": [0.5]}, epochs=1, prefix=""
        )
        self.assertEqual(train, {"lps": 2.0})

    def test_reweighting_errors(self):
        with pytest.raises(ValueError, match="Worker 'lps' has 2 epochs"):
            MultiTaskPretrainer.reweighted_loss_weights(
                {"val_lps_loss": [1.0, 2.0]}, epochs=10
            )
        with pytest.raises(ValueError, match="no `val_<worker>_loss`"):
            MultiTaskPretrainer.reweighted_loss_weights({"lps_loss": [1.0]})
        with pytest.raises(ValueError, match="epochs=0"):
            MultiTaskPretrainer.reweighted_loss_weights(
                {"val_lps_loss": [1.0]}, epochs=0
            )
        with pytest.raises(ValueError, match="Worker 'mfcc' has a mean"):
            MultiTaskPretrainer.reweighted_loss_weights(
                {"val_mfcc_loss": [0.0]}, epochs=1
            )
        with pytest.raises(ValueError, match="history=3"):
            MultiTaskPretrainer.reweighted_loss_weights(3)

    def test_loss_scales_before_and_after_reweighting(self):
        logs = [
            {"val_lps_loss": 4.0, "val_tempogram_loss": 0.01},
            {"val_lps_loss": 2.0, "val_tempogram_loss": 0.03},
            {"val_lps_loss": 100.0, "val_tempogram_loss": 100.0},
        ]
        # Equal weights: the mean of the first two epochs (float64).
        before = MultiTaskPretrainer.loss_scales(logs, epochs=2)
        self.assertAllClose(before, {"lps": 3.0, "tempogram": 0.02})
        # Re-weighted by its own weights, every worker contributes 1.
        weights = MultiTaskPretrainer.reweighted_loss_weights(logs, epochs=2)
        after = MultiTaskPretrainer.loss_scales(logs, 2, weights)
        self.assertAllClose(after, {"lps": 1.0, "tempogram": 1.0}, 1e-12)
        with pytest.raises(ValueError, match=r"no weight for the workers \['t"):
            MultiTaskPretrainer.loss_scales(logs, 2, {"lps": 1.0})
        with pytest.raises(ValueError, match="Worker 'lps' has 3 epochs"):
            MultiTaskPretrainer.loss_scales(logs, epochs=4)

    def test_data_errors(self):
        model = _model("W,L,M", target_dims={"lps": 6, "mfcc": 5})
        model.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
        audio, targets = _data()
        missing = {"lps": targets["lps"]}
        with pytest.raises(ValueError, match="no target for worker 'mfcc'"):
            model.train_on_batch(audio, missing)
        wrong_dim = {**targets, "mfcc": targets["chroma"]}
        with pytest.raises(ValueError, match=r"worker 'mfcc'.*\(batch, fr"):
            model.train_on_batch(audio, wrong_dim)
        wrong_frames = {**targets, "lps": targets["lps"][:, :7]}
        with pytest.raises(ValueError, match="worker 'lps' has 7 frames"):
            model.train_on_batch(audio, wrong_frames)
        with pytest.raises(ValueError, match="expects batches"):
            model.train_on_batch(audio, targets["lps"])
        with pytest.raises(ValueError, match="sample weights"):
            model.train_on_batch(audio, targets, sample_weight=np.ones(4))

    def test_frame_mismatch_in_graph(self):
        # With unknown frame counts the check runs inside the graph.
        model = _model("L", target_dims={"lps": 6})
        model.compile(optimizer=keras.optimizers.SGD(0.01))
        audio, targets = _data()
        spec = (
            tf.TensorSpec((None, None), tf.float32),
            {"lps": tf.TensorSpec((None, None, 6), tf.float32)},
        )
        step = tf.function(model.test_step, input_signature=[spec])
        with pytest.raises(
            tf.errors.InvalidArgumentError, match="as many frames as the enc"
        ):
            step((audio, {"lps": targets["lps"][:, :7]}))

    def test_waveform_target_rank(self):
        model = _model("W")
        model.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
        audio, _ = _data()
        with pytest.raises(ValueError, match="worker 'waveform' must be audio"):
            model.evaluate(audio, {"waveform": audio[..., None]}, verbose=0)

    def test_decoder_hop_must_match_encoder(self):
        # Decoder upsamples x40 but the encoder's hop is 20.
        model = _model("W", decoder_strides=[4, 10])
        model.compile(optimizer=keras.optimizers.SGD(0.01), run_eagerly=True)
        with pytest.raises(ValueError, match="Worker 'waveform' decodes"):
            model.train_on_batch(_data()[0], {})

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="`encoder` must be a keras.Mod"):
            MultiTaskPretrainer(keras.layers.Dense(4), target_dims=DIMS)
        pooled = keras.Sequential([keras.Input((200,)), keras.layers.Dense(8)])
        with pytest.raises(ValueError, match=r"\(batch, frames, emb_dim\)"):
            MultiTaskPretrainer(pooled, target_dims=DIMS)
        with pytest.raises(ValueError, match="Unknown worker 'Z'"):
            _model("W,Z")
        with pytest.raises(ValueError, match="Worker 'chroma' needs"):
            _model("W,C", target_dims={"lps": 6})
        with pytest.raises(ValueError, match="no weight for worker"):
            _model("W,L", loss_weights={"lps": 1.0})
        with pytest.raises(ValueError, match="weight for 'mfcc'"):
            _model("W", loss_weights={"waveform": 1.0, "mfcc": 1.0})
        with pytest.raises(ValueError, match="worker 'waveform' must be a"):
            _model("W", loss_weights={"waveform": -1.0})
        with pytest.raises(ValueError, match="loss_weights='reweighted'"):
            _model("W", loss_weights="reweighted")

    @pytest.mark.large
    def test_pase_plus_encoder(self):
        from keras_music.models.pase.pase_plus_backbone import PASEPlusBackbone

        # The real contract: 16 kHz audio, 160-sample hop, default decoder.
        encoder = PASEPlusBackbone.from_preset("pase_plus_tiny")
        rng = np.random.default_rng(0)
        audio = rng.normal(scale=0.1, size=(2, 16000)).astype("float32")
        dims = {"lps": 1025, "prosody": 4, "mfcc": 20, "chroma": 12}
        targets = {
            name: rng.normal(size=(2, 100, dim)).astype("float32")
            for name, dim in dims.items()
        }
        model = MultiTaskPretrainer(encoder, "W,L,P,M,C", target_dims=dims)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        outputs = model(audio)
        self.assertEqual(tuple(outputs["waveform"].shape), (2, 16000))
        self.assertEqual(tuple(outputs["lps"].shape), (2, 100, 1025))
        history = model.fit(audio, targets, batch_size=2, epochs=3, verbose=0)
        self.assertTrue(np.all(np.isfinite(history.history["loss"])))
        self.assertLess(history.history["loss"][-1], history.history["loss"][0])


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

    from keras_music.pretraining.multi_task_pretrainer import (
        MultiTaskPretrainer,
    )

    def encoder():
        return keras.Sequential(
            [
                keras.Input((200,)),
                keras.layers.Reshape((200, 1)),
                keras.layers.Conv1D(8, 20, strides=20),
            ]
        )

    rng = np.random.default_rng(0)
    audio = rng.normal(size=(24, 200)).astype("float32")
    targets = {
        "lps": rng.normal(size=(24, 10, 6)).astype("float32"),
        "mfcc": rng.normal(size=(24, 10, 5)).astype("float32"),
    }
    kwargs = dict(
        workers="W,L,M",
        target_dims={"lps": 6, "mfcc": 5},
        loss_weights={"waveform": 2.0, "lps": 0.5, "mfcc": 1.0},
        hidden_dim=8,
        decoder_filters=[4, 3],
        decoder_strides=[4, 5],
    )

    def dataset():
        return tf.data.Dataset.from_tensor_slices((audio, targets)).batch(
            8, drop_remainder=True
        )

    class StepLogs(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.values = []

        def on_train_batch_end(self, batch, logs=None):
            self.values.append({k: float(v) for k, v in logs.items()})

    keras.utils.set_random_seed(0)
    weights = MultiTaskPretrainer(encoder(), **kwargs).get_weights()
    mirrored = tf.distribute.MirroredStrategy(devices)
    single = tf.distribute.get_strategy()
    result = {"replicas": mirrored.num_replicas_in_sync}
    for name, strategy in (("single", single), ("mirrored", mirrored)):
        with strategy.scope():
            model = MultiTaskPretrainer(encoder(), **kwargs)
            model.set_weights(weights)
            model.compile(optimizer=keras.optimizers.SGD(0.1))
        steps = StepLogs()
        history = model.fit(dataset(), epochs=2, verbose=0, callbacks=[steps])
        result[name] = {
            "steps": steps.values,
            "history": history.history,
            "weights": [np.array(w).tolist() for w in model.get_weights()],
        }
    json.dump(result, sys.stdout)
    """
)


class MultiTaskPretrainerDistributedTest(TestCase):
    def test_two_replicas_match_one(self):
        result = run_replica_script(_DISTRIBUTED_SCRIPT)
        self.assertEqual(result["replicas"], 2)
        single, mirrored = result["single"], result["mirrored"]
        self.assertEqual(len(single["steps"]), 6)  # 3 batches x 2 epochs
        self.assertEqual(
            sorted(single["steps"][0]),
            ["loss", "lps_loss", "mfcc_loss", "waveform_loss"],
        )
        # Same data, same start: each replica's loss / 2 gives the gradient
        # of the global-batch mean; only float32 summation order differs
        # (~1e-7 relative after 6 SGD steps).
        for one, two in zip(single["steps"], mirrored["steps"]):
            self.assertAllClose(two, one, atol=1e-5, rtol=1e-5)
        self.assertAllClose(
            mirrored["weights"], single["weights"], atol=1e-5, rtol=1e-5
        )
        # And the weights moved: a wrong scaling would not go unnoticed.
        self.assertLess(
            single["history"]["loss"][1], single["history"]["loss"][0]
        )
