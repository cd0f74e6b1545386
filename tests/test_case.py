"""Shared checks for every keras_music layer, backbone and task.

`TestCase.run_layer_test` runs, in order, the checks that every layer must
pass (modelled on keras-hub's `run_layer_test`):

1. config round trip: every constructor argument is in `get_config()`, and
   `from_config(get_config())` gives the same config (compared as JSON);
2. symbolic call on a `KerasTensor` gives the eager output's shape/dtype;
3. eager call with the exact expected output shape and dtype;
4. trainable / non-trainable weight counts;
5. one `fit` step (trainable weights, if any, move);
6. mixed precision (`mixed_float16`, `mixed_bfloat16`): outputs in the
   compute dtype, variables in float32;
7. `.keras` save/load of a model around the layer gives equal outputs.

`run_export_test` exports a model to a SavedModel, reloads it with
`tf.saved_model.load` and compares the outputs.

`run_backbone_test` gives every `Backbone` the same checks: config round
trip (constructor arguments and dtype policy), exact output shape, the
preset table, `.keras` round trip with equal outputs, and a build and call
under a mixed dtype policy whose config round trip keeps the policy.
`run_task_test` does the same for a task model (tagger) and also trains
it one step with its `compile()` defaults; a task with a `preprocessor`
or a `vocabulary` must reload with them.
"""

import json
import os
import tempfile
import unittest

import keras
import numpy as np
import tensorflow as tf
from keras import tree

MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


def _flat_numpy(x):
    """Leaves as NumPy arrays, in order; tuples and lists compare equal
    (a reloaded model returns a list where the original returned a tuple).
    """
    return [keras.ops.convert_to_numpy(t) for t in tree.flatten(x)]


def _symbolic(x):
    return tree.map_structure(
        lambda a: keras.KerasTensor(tuple(a.shape), dtype=_dtype_name(a)), x
    )


def _inputs_like(x):
    return tree.map_structure(
        lambda a: keras.Input(
            shape=tuple(a.shape[1:]),
            batch_size=a.shape[0],
            dtype=_dtype_name(a),
        ),
        x,
    )


def _dtype_name(x):
    return keras.backend.standardize_dtype(x.dtype)


def _flatten_shapes(shape):
    """A shape, or a list/tuple/dict of shapes, as a flat list of tuples."""
    if isinstance(shape, dict):
        return [t for k in sorted(shape) for t in _flatten_shapes(shape[k])]
    if all(isinstance(d, (int, type(None))) for d in shape):
        return [tuple(shape)]
    return [t for s in shape for t in _flatten_shapes(s)]


def _is_float(x):
    return "float" in _dtype_name(x)


class TestCase(unittest.TestCase):
    """`unittest.TestCase` with keras_music's shared checks."""

    def setUp(self):
        super().setUp()
        keras.config.set_dtype_policy("float32")
        keras.utils.set_random_seed(1337)

    def tearDown(self):
        keras.config.set_dtype_policy("float32")
        keras.backend.clear_session()
        super().tearDown()

    def get_temp_dir(self):
        path = tempfile.mkdtemp(prefix="keras_music_test_")
        self.addCleanup(lambda: tf.io.gfile.rmtree(path))
        return path

    # === Assertions ===

    def assertAllClose(self, actual, desired, atol=1e-6, rtol=1e-6, msg=""):
        actual, desired = _flat_numpy(actual), _flat_numpy(desired)
        self.assertEqual(len(actual), len(desired), "Different structures.")
        for a, d in zip(actual, desired):
            np.testing.assert_allclose(
                np.asarray(a, dtype="float64"),
                np.asarray(d, dtype="float64"),
                atol=atol,
                rtol=rtol,
                err_msg=msg,
            )

    def assertAllEqual(self, actual, desired, msg=""):
        actual, desired = _flat_numpy(actual), _flat_numpy(desired)
        self.assertEqual(len(actual), len(desired), "Different structures.")
        for a, d in zip(actual, desired):
            np.testing.assert_array_equal(a, d, err_msg=msg)

    # === Individual checks ===

    def run_serialization_test(self, instance, init_kwargs=None):
        """Config round trip: same config as JSON, args stored by name."""
        config = instance.get_config()
        for name, value in (init_kwargs or {}).items():
            self.assertIn(
                name,
                config,
                f"`get_config()` of {type(instance).__name__} lacks the "
                f"constructor argument `{name}`.",
            )
            self.assertEqual(
                json.dumps(keras.saving.serialize_keras_object(value)),
                json.dumps(keras.saving.serialize_keras_object(config[name])),
                f"`{name}` is stored as {config[name]!r}, passed {value!r}.",
            )
        revived = type(instance).from_config(config)
        expected = json.dumps(config, sort_keys=True, default=str)
        actual = json.dumps(revived.get_config(), sort_keys=True, default=str)
        self.assertEqual(actual, expected, "Config round trip changed it.")
        # And through Keras' own (de)serialisation, as `.keras` files do.
        serialized = keras.saving.serialize_keras_object(instance)
        json.dumps(serialized)  # must be JSON-serialisable
        revived = keras.saving.deserialize_keras_object(serialized)
        self.assertIsInstance(revived, type(instance))
        return revived

    def run_symbolic_test(self, layer, input_data, call_kwargs, eager_output):
        """The symbolic call must agree with the eager call."""
        spec = layer(_symbolic(input_data), **call_kwargs)
        tree.assert_same_structure(spec, _symbolic(eager_output))
        for s, e in zip(tree.flatten(spec), tree.flatten(eager_output)):
            self.assertEqual(
                tuple(s.shape),
                tuple(e.shape),
                "Symbolic output shape differs from the eager one.",
            )
            self.assertEqual(
                keras.backend.standardize_dtype(s.dtype),
                _dtype_name(e),
                "Symbolic output dtype differs from the eager one.",
            )

    def run_training_test(self, layer, input_data, call_kwargs):
        """One `fit` step on a model around the layer; weights must move."""
        inputs = _inputs_like(input_data)
        outputs = layer(inputs, **call_kwargs)
        model = keras.Model(inputs, outputs)
        targets = tree.map_structure(
            lambda o: np.zeros(tuple(o.shape), dtype="float32"), outputs
        )
        losses = tree.map_structure(lambda _: "mse", outputs)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss=losses)
        before = [np.array(w) for w in layer.trainable_weights]
        model.fit(input_data, targets, batch_size=None, epochs=1, verbose=0)
        after = [np.array(w) for w in layer.trainable_weights]
        if before:
            moved = any(not np.array_equal(b, a) for b, a in zip(before, after))
            self.assertTrue(moved, "No trainable weight changed in `fit`.")

    def run_precision_test(self, cls, init_kwargs, input_data, call_kwargs):
        """Under mixed precision, outputs are in the compute dtype."""
        for policy in MIXED_POLICIES:
            layer = cls(**{**init_kwargs, "dtype": policy})
            output = layer(input_data, **call_kwargs)
            self.assertMixedPrecision(policy, layer, output)

    def assertMixedPrecision(self, policy, layer, output):
        """Float outputs in the policy's compute dtype, variables float32."""
        compute = keras.DTypePolicy(policy).compute_dtype
        for tensor in tree.flatten(output):
            if _is_float(tensor):
                self.assertEqual(
                    _dtype_name(tensor),
                    compute,
                    f"Under {policy} the output should be {compute}.",
                )
        for weight in layer.weights:
            if "float" in keras.backend.standardize_dtype(weight.dtype):
                self.assertEqual(
                    keras.backend.standardize_dtype(weight.dtype),
                    "float32",
                    f"Under {policy} variables stay float32.",
                )

    def run_model_saving_test(self, model, input_data, atol=1e-6, rtol=1e-6):
        """`.keras` save/load gives a model with equal (inference) outputs."""
        path = os.path.join(self.get_temp_dir(), "model.keras")
        expected = model(input_data, training=False)
        model.save(path)
        revived = keras.saving.load_model(path)
        actual = revived(input_data, training=False)
        self.assertAllClose(actual, expected, atol=atol, rtol=rtol)
        return revived

    def run_export_test(self, model, input_data, atol=1e-5, rtol=1e-5):
        """SavedModel export + `tf.saved_model.load` gives equal outputs."""
        if not isinstance(model, keras.Model):
            inputs = _inputs_like(input_data)
            model = keras.Model(inputs, model(inputs))
        path = os.path.join(self.get_temp_dir(), "saved_model")
        expected = model(input_data, training=False)
        model.export(path, format="tf_saved_model", verbose=False)
        restored = tf.saved_model.load(path)
        actual = restored.serve(input_data)
        self.assertAllClose(actual, expected, atol=atol, rtol=rtol)
        return restored

    # === All of them ===

    def run_layer_test(
        self,
        cls,
        init_kwargs,
        input_data,
        expected_output_shape,
        expected_output_dtype=None,
        expected_num_trainable_weights=None,
        expected_num_non_trainable_weights=None,
        call_kwargs=None,
        run_training_check=True,
        run_precision_checks=True,
        run_saving_check=True,
        run_export_check=False,
    ):
        """Runs the shared checks on `cls(**init_kwargs)`.

        `expected_output_shape` (and `expected_output_dtype`, default the
        layer's compute dtype) may be nested like the layer's output.
        """
        call_kwargs = call_kwargs or {}
        layer = cls(**init_kwargs)
        self.run_serialization_test(layer, init_kwargs)

        output = layer(input_data, **call_kwargs)
        self.run_symbolic_test(
            cls(**init_kwargs), input_data, call_kwargs, output
        )

        self.assertEqual(
            [tuple(o.shape) for o in tree.flatten(output)],
            _flatten_shapes(expected_output_shape),
            "Eager output shape is not the expected one.",
        )
        dtype = expected_output_dtype or layer.compute_dtype
        expected_dtypes = tree.flatten(dtype) if tree.is_nested(dtype) else None
        for i, tensor in enumerate(tree.flatten(output)):
            want = expected_dtypes[i] if expected_dtypes else dtype
            self.assertEqual(
                _dtype_name(tensor), want, "Eager output dtype is wrong."
            )

        if expected_num_trainable_weights is not None:
            self.assertEqual(
                len(layer.trainable_weights),
                expected_num_trainable_weights,
                "Unexpected number of trainable weights.",
            )
        if expected_num_non_trainable_weights is not None:
            self.assertEqual(
                len(layer.non_trainable_weights),
                expected_num_non_trainable_weights,
                "Unexpected number of non-trainable weights.",
            )

        if run_training_check:
            self.run_training_test(cls(**init_kwargs), input_data, call_kwargs)
        if run_precision_checks:
            self.run_precision_test(cls, init_kwargs, input_data, call_kwargs)
        if run_saving_check or run_export_check:
            inputs = _inputs_like(input_data)
            model = keras.Model(inputs, cls(**init_kwargs)(inputs))
            if run_saving_check:
                self.run_model_saving_test(model, input_data)
            if run_export_check:
                self.run_export_test(model, input_data)
        return layer

    def run_backbone_test(
        self,
        cls,
        init_kwargs,
        input_data,
        expected_output_shape,
        policy="mixed_bfloat16",
        run_saving_check=True,
        run_export_check=False,
        atol=1e-6,
        rtol=1e-6,
    ):
        """The shared checks of a `Backbone` subclass; returns it built.

        `policy` is the dtype policy to build under (`None` skips it);
        float outputs must then be in its compute dtype.
        """
        backbone = cls(**init_kwargs)
        self.run_serialization_test(backbone, init_kwargs)
        output = backbone(input_data)
        self.assertEqual(
            [tuple(o.shape) for o in tree.flatten(output)],
            _flatten_shapes(expected_output_shape),
            "Backbone output shape is not the expected one.",
        )
        self.assertEqual(cls.presets, sorted(cls.preset_configs))
        for name in cls.presets:
            unknown = set(cls.preset_configs[name]) - cls.config_arguments()
            self.assertFalse(
                unknown, f"Preset {name!r} sets unknown arguments {unknown}."
            )
        if run_saving_check:
            self.run_model_saving_test(backbone, input_data, atol, rtol)
        if run_export_check:
            self.run_export_test(backbone, input_data, atol, rtol)
        if policy is not None:
            mixed = cls(**{**init_kwargs, "dtype": policy})
            revived = cls.from_config(mixed.get_config())
            self.assertEqual(revived.get_config()["dtype"], policy)
            self.assertMixedPrecision(policy, revived, revived(input_data))
        return backbone

    def run_task_test(
        self,
        task,
        input_data,
        expected_output_shape,
        target_data=None,
        run_training_check=True,
        atol=1e-6,
        rtol=1e-6,
    ):
        """The shared checks of a task model (a tagger); returns the
        reloaded one. `target_data` defaults to zeros like the output."""
        self.run_serialization_test(task)
        output = task(input_data)
        self.assertEqual(
            tuple(output.shape),
            tuple(expected_output_shape),
            "Task output shape is not the expected one.",
        )
        if run_training_check:
            if target_data is None:
                target_data = np.zeros(tuple(output.shape), "float32")
            # No XLA: compiling it costs more than the one step it runs.
            task.compile(jit_compile=False)
            history = task.fit(input_data, target_data, epochs=1, verbose=0)
            self.assertTrue(np.isfinite(history.history["loss"][0]))
        revived = self.run_model_saving_test(task, input_data, atol, rtol)
        for attr in ("vocabulary", "preprocessor"):
            original = getattr(task, attr, None)
            if original is None:
                continue
            reloaded = getattr(revived, attr, None)
            self.assertIsNotNone(reloaded, f"`{attr}` lost in `.keras`.")
            if attr == "vocabulary":
                self.assertEqual(list(reloaded), list(original))
            else:
                # As JSON: a built layer's shapes reload as lists.
                self.assertEqual(
                    json.dumps(reloaded.get_config(), sort_keys=True),
                    json.dumps(original.get_config(), sort_keys=True),
                )
        return revived


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_replica_script(script, timeout=300):
    """Runs `script` (Python source that configures its logical devices,
    e.g. `keras_music.distribute.split_cpu(2)`, before TensorFlow starts)
    in a fresh interpreter from the repository root, asserts that it
    succeeded, and returns the JSON its last line of stdout prints.

    The two-replica tests compare a `MirroredStrategy` over two logical
    CPUs with one device; logical devices can only be configured before
    TensorFlow initialises them, which this test process has done.
    """
    import subprocess
    import sys

    process = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"),
        cwd=ROOT,
        timeout=timeout,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout.strip().splitlines()[-1])
