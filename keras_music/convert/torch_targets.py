"""Where each tensor of a PyTorch state dict goes in a Keras model.

A converter maps every checkpoint key to a target `(variable, checkpoint
shape, convert)`: the Keras variable, the shape the tensor has in the
checkpoint, and the function from the checkpoint's array to the
variable's value. `assign_targets` checks a whole state dict against the
targets and assigns it only if every key and shape fits, so that a
checkpoint that does not fit leaves the model untouched.
"""

import numpy as np

from keras_music.convert.state_dict import check_fits

# torch.nn.BatchNorm1d's names -> keras.layers.BatchNormalization's.
TORCH_BATCH_NORM = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def same(variable):
    """A target whose checkpoint tensor has the variable's shape."""
    return (variable, tuple(variable.shape), lambda value: value)


def conv1d(kernel):
    """A Keras `Conv1D` kernel `(k, in, out)` from a PyTorch `Conv1d`
    weight `(out, in, k)`."""
    return (kernel, tuple(kernel.shape)[::-1], lambda w: w.transpose(2, 1, 0))


def batch_norm(prefix, norm):
    """The targets of a `BatchNorm1d` saved under `prefix` (`"x.bn"` for
    `x.bn.weight`, ...) in the Keras `BatchNormalization` `norm`."""
    return {
        f"{prefix}.{torch_name}": same(getattr(norm, keras_name))
        for torch_name, keras_name in TORCH_BATCH_NORM.items()
    }


def assign_targets(what, source, targets):
    """Assigns the arrays of `source` to `targets`, or nothing.

    Args:
        what: str. The model's name in the error message.
        source: dict of key -> NumPy array (skipped keys removed).
        targets: dict of key -> `(variable, checkpoint shape, convert)`.

    Raises:
        ValueError: listing every unknown key, missing key and shape
            mismatch at once (`check_fits`); no weight is changed then.
    """
    mismatched, updates = [], []
    for key, (variable, shape, convert) in targets.items():
        if key not in source:
            continue
        if tuple(source[key].shape) != tuple(shape):
            mismatched.append(
                f"{key}: checkpoint {source[key].shape}, expected "
                f"{tuple(shape)}"
            )
            continue
        updates.append((variable, convert(source[key])))
    check_fits(
        what,
        set(source) - set(targets),
        set(targets) - set(source),
        mismatched,
    )
    for variable, value in updates:
        variable.assign(np.asarray(value).astype(variable.dtype))
