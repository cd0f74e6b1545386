"""The shared harness must catch each kind of broken layer."""

import keras
import numpy as np
import pytest
from keras import ops

from tests.test_case import TestCase


@keras.saving.register_keras_serializable(package="harness_test")
class Scale(keras.layers.Layer):
    """A correct layer: y = x * w + b with one weight and one counter."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="glorot_uniform"
        )
        self.seen = self.add_weight(
            shape=(), initializer="zeros", trainable=False
        )

    def call(self, x):
        return ops.matmul(ops.cast(x, self.compute_dtype), self.w)

    def compute_output_shape(self, input_shape):
        return input_shape[:-1] + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="harness_test")
class ForgetsConfig(Scale):
    def get_config(self):
        config = super().get_config()
        del config["units"]
        return config


@keras.saving.register_keras_serializable(package="harness_test")
class WrongSymbolicShape(Scale):
    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape[:-1] + (self.units + 1,), self.dtype)


@keras.saving.register_keras_serializable(package="harness_test")
class NoGradient(Scale):
    def call(self, x):
        y = super().call(x)
        return ops.stop_gradient(y) + 0.0 * y


@keras.saving.register_keras_serializable(package="harness_test")
class IgnoresPolicy(Scale):
    def call(self, x):
        return ops.matmul(ops.cast(x, "float32"), ops.cast(self.w, "float32"))


@keras.saving.register_keras_serializable(package="harness_test")
class RandomAfterLoad(Scale):
    """Keeps its kernel outside the tracked weights: lost by `.keras`."""

    def build(self, input_shape):
        self.seen = self.add_weight(shape=(), trainable=False)
        rng = np.random.default_rng(None)
        self.kernel = rng.normal(size=(input_shape[-1], self.units))

    def call(self, x):
        return ops.matmul(x, ops.convert_to_tensor(self.kernel, x.dtype))


@keras.saving.register_keras_serializable(package="harness_test")
class StaleExport(Scale):
    """Its output depends on Python state that a traced graph freezes."""

    calls = 0

    def call(self, x):
        StaleExport.calls += 1
        return super().call(x) + float(StaleExport.calls)


class HarnessTest(TestCase):
    x = np.random.default_rng(0).normal(size=(2, 3)).astype("float32")

    def check(self, cls, **kwargs):
        defaults = dict(
            cls=cls,
            init_kwargs={"units": 4},
            input_data=self.x,
            expected_output_shape=(2, 4),
            expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=1,
        )
        return self.run_layer_test(**{**defaults, **kwargs})

    def test_correct_layer_passes_every_check(self):
        self.check(Scale, run_export_check=True)

    def test_missing_config_entry_fails(self):
        with pytest.raises(AssertionError, match="lacks the constructor"):
            self.check(ForgetsConfig)

    def test_wrong_symbolic_shape_fails(self):
        with pytest.raises(AssertionError, match="Symbolic output shape"):
            self.check(WrongSymbolicShape)

    def test_wrong_eager_shape_fails(self):
        with pytest.raises(AssertionError, match="Eager output shape"):
            self.check(Scale, expected_output_shape=(2, 5))

    def test_wrong_dtype_fails(self):
        with pytest.raises(AssertionError, match="Eager output dtype"):
            self.check(Scale, expected_output_dtype="float16")

    def test_wrong_weight_counts_fail(self):
        with pytest.raises(AssertionError, match="trainable weights"):
            self.check(Scale, expected_num_trainable_weights=2)
        with pytest.raises(AssertionError, match="non-trainable weights"):
            self.check(Scale, expected_num_non_trainable_weights=0)

    def test_no_gradient_fails_training_check(self):
        with pytest.raises(AssertionError, match="No trainable weight"):
            self.check(NoGradient)

    def test_ignoring_mixed_precision_fails(self):
        with pytest.raises(AssertionError, match="Under mixed_float16"):
            self.check(IgnoresPolicy)

    def test_weights_lost_on_save_fail(self):
        with pytest.raises(AssertionError, match="Not equal to tolerance"):
            self.check(
                RandomAfterLoad,
                expected_num_trainable_weights=0,
                run_training_check=False,
                run_precision_checks=False,
            )

    def test_export_mismatch_fails(self):
        with pytest.raises(AssertionError, match="Not equal to tolerance"):
            self.run_export_test(StaleExport(units=4), self.x)
