"""Loading PASE encoder state dicts (santi-pdp/pase `WaveFe`) into
`PASEBackbone`.

The official encoder (`pase/models/frontend.py:WaveFe`, configuration
`cfg/frontend/PASE.cfg`) names its tensors `blocks.{i}.conv.*` (i from
0; block 0 is the SincConv with `low_hz_` / `band_hz_` of shape (F, 1)),
`blocks.{i}.norm.*` (BatchNorm1d), `blocks.{i}.act.weight` (PReLU),
`W.*` (the 1x1 projection) and `norm_out.*` (BatchNorm1d without affine).
Our block `n` is the official block `n - 1`. Conv1d weights
`(out, in, k)` become Keras kernels `(k, in, out)`; `num_batches_tracked`
is skipped. PASE+ as a whole (dense skips) is not covered; its QRNN
layer's weights convert with `torchqrnn_to_qrnn`.
"""

import numpy as np

from keras_music.convert.state_dict import check_fits
from keras_music.convert.state_dict import load_state_dict
from keras_music.models.pase.pase_backbone import PASEBackbone

_BATCH_NORM = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def load_pase_weights(backbone, state_dict, prefix=None):
    """Loads an official PASE encoder state dict into a `PASEBackbone`.

    Args:
        backbone: `PASEBackbone` of the checkpoint's widths.
        state_dict: dict of name → array, or a checkpoint path (read with
            `load_state_dict(path, prefix)`).
        prefix: optional str. Passed to `load_state_dict` for a path.

    Returns:
        The sorted list of checkpoint keys that were skipped.

    Raises:
        ValueError: listing every unknown key, missing key and shape
            mismatch at once; no weight is changed then.

    Example:

    >>> backbone = PASEBackbone.from_preset("pase_tiny")
    >>> load_pase_weights(backbone, {"W.bias": np.zeros(3)})
    Traceback (most recent call last):
    ...
    ValueError: The state dict does not fit this PASEBackbone; ...
    """
    if type(backbone) is not PASEBackbone:
        raise ValueError(
            "`backbone` must be a PASEBackbone (PASE+ is not supported). "
            f"Received: backbone={backbone!r}"
        )
    if isinstance(state_dict, str) or hasattr(state_dict, "__fspath__"):
        state_dict = load_state_dict(state_dict, prefix=prefix)
    source = {k: np.asarray(v) for k, v in state_dict.items()}
    skipped = sorted(k for k in source if k.endswith("num_batches_tracked"))
    for key in skipped:
        del source[key]
    targets = _targets(backbone)
    mismatched, updates = [], []
    for key, variable in targets.items():
        if key not in source:
            continue
        value = source[key]
        if value.ndim == 3:
            value = value.transpose(2, 1, 0)  # (out, in, k) → (k, in, out)
        elif key.endswith("_hz_"):
            value = value.reshape(-1)  # (F, 1) → (F,)
        elif key.endswith("act.weight"):
            value = value.reshape(variable.shape)
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(
                f"{key}: checkpoint {source[key].shape}, model "
                f"{tuple(variable.shape)}"
            )
            continue
        updates.append((variable, value))
    check_fits(
        "PASEBackbone",
        set(source) - set(targets),
        set(targets) - set(source),
        mismatched,
    )
    for variable, value in updates:
        variable.assign(value.astype(variable.dtype))
    return skipped


def _targets(backbone):
    sinc = backbone.get_layer("block_1_sinc_conv")
    targets = {
        "blocks.0.conv.low_hz_": sinc.low_hz,
        "blocks.0.conv.band_hz_": sinc.band_hz,
    }
    for n in range(1, len(backbone.conv_filters) + 2):
        prefix = f"blocks.{n - 1}"
        if n > 1:
            conv = backbone.get_layer(f"block_{n}_conv")
            targets[f"{prefix}.conv.weight"] = conv.kernel
            targets[f"{prefix}.conv.bias"] = conv.bias
        norm = backbone.get_layer(f"block_{n}_bn")
        for torch_name, keras_name in _BATCH_NORM.items():
            targets[f"{prefix}.norm.{torch_name}"] = getattr(norm, keras_name)
        targets[f"{prefix}.act.weight"] = backbone.get_layer(
            f"block_{n}_prelu"
        ).alpha
    projection = backbone.get_layer("projection")
    targets["W.weight"] = projection.kernel
    targets["W.bias"] = projection.bias
    norm = backbone.get_layer("output_norm")
    targets["norm_out.running_mean"] = norm.moving_mean
    targets["norm_out.running_var"] = norm.moving_variance
    return targets


def torchqrnn_to_qrnn(weight, bias, window_size=2):
    """A torchqrnn `QRNNLayer.linear` as our `QRNN`'s `(kernel, bias)`.

    PASE+ takes its QRNN from salesforce/pytorch-qrnn (`torchqrnn`): its
    `linear` maps `[x_t, x_{t-1}, …]` (features concatenated, current
    step first) to `[Z; F; O]`, and its recurrence is
    `c_t = f_t z_t + (1 - f_t) c_{t-1}`, where the paper (and our `QRNN`)
    writes `c_t = f_t c_{t-1} + (1 - f_t) z_t`. The two agree when the
    forget gate is complemented, `sigmoid(-a) = 1 - sigmoid(a)`: the F
    rows of the weight and bias are negated here, so converted weights
    give the official outputs.

    Args:
        weight: array `(3 * units, window_size * features)`.
        bias: array `(3 * units,)`.
        window_size: int. The layer's window. Defaults to 2.

    Returns:
        `(kernel, bias)` of shapes `(window_size, features, 3 * units)`
        and `(3 * units,)`, for `QRNN(units, window_size).set_weights`.

    Example:

    >>> kernel, bias = torchqrnn_to_qrnn(np.zeros((24, 32)), np.zeros(24))
    >>> kernel.shape
    (2, 16, 24)
    """
    weight, bias = np.asarray(weight), np.asarray(bias)
    if (
        weight.ndim != 2
        or weight.shape[0] % 3
        or weight.shape[1] % window_size
        or bias.shape != (weight.shape[0],)
    ):
        raise ValueError(
            "`weight` must be (3 * units, window_size * features) and "
            "`bias` (3 * units,). Received: "
            f"weight.shape={weight.shape}, bias.shape={bias.shape}, "
            f"window_size={window_size}"
        )
    units = weight.shape[0] // 3
    sign = np.ones(3 * units, weight.dtype)
    sign[units : 2 * units] = -1.0
    # Column block j is step t - j; our kernel's row 0 is the earliest.
    steps = np.split(weight * sign[:, None], window_size, axis=1)
    kernel = np.stack([w.T for w in reversed(steps)])
    return kernel, bias * sign
