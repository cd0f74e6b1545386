import keras
import numpy as np
import pytest

from keras_music.convert.torch_targets import assign_targets
from keras_music.convert.torch_targets import batch_norm
from keras_music.convert.torch_targets import conv1d
from keras_music.convert.torch_targets import same


def _conv_and_norm():
    conv = keras.layers.Conv1D(4, 3)
    conv.build((None, 10, 2))
    norm = keras.layers.BatchNormalization()
    norm.build((None, 10, 4))
    targets = {"c.weight": conv1d(conv.kernel), "c.bias": same(conv.bias)}
    targets.update(batch_norm("c.bn", norm))
    return conv, norm, targets


def test_assigns_converted_tensors():
    conv, norm, targets = _conv_and_norm()
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(4, 2, 3)).astype("float32")  # (out, in, k)
    source = {
        "c.weight": weight,
        "c.bias": np.arange(4, dtype="float32"),
        "c.bn.weight": np.full(4, 2.0, "float32"),
        "c.bn.bias": np.full(4, 3.0, "float32"),
        "c.bn.running_mean": np.full(4, 4.0, "float32"),
        "c.bn.running_var": np.full(4, 5.0, "float32"),
    }
    assign_targets("Test", source, targets)
    # Keras kernel[j, i, o] is PyTorch weight[o, i, j]: exact copies.
    np.testing.assert_array_equal(
        np.asarray(conv.kernel), weight.transpose(2, 1, 0)
    )
    np.testing.assert_array_equal(np.asarray(conv.bias), np.arange(4))
    for name, value in [
        ("gamma", 2.0),
        ("beta", 3.0),
        ("moving_mean", 4.0),
        ("moving_variance", 5.0),
    ]:
        np.testing.assert_array_equal(np.asarray(getattr(norm, name)), value)


def test_refuses_a_state_dict_that_does_not_fit_and_changes_nothing():
    conv, _, targets = _conv_and_norm()
    before = np.asarray(conv.kernel).copy()
    source = {
        "c.weight": np.zeros((4, 2, 5), "float32"),
        "c.bias": np.ones(4, "float32"),  # fits, but is not assigned
        "extra": np.zeros(1, "float32"),
    }
    with pytest.raises(ValueError) as error:
        assign_targets("Test", source, targets)
    message = str(error.value)
    assert "does not fit this Test; nothing was loaded" in message
    assert "unknown keys: ['extra']" in message
    assert "c.bn.running_var" in message  # missing
    assert "c.weight: checkpoint (4, 2, 5), expected (4, 2, 3)" in message
    np.testing.assert_array_equal(np.asarray(conv.kernel), before)
    np.testing.assert_array_equal(np.asarray(conv.bias), np.zeros(4))
