"""Loading PASE and PASE+ encoder state dicts (santi-pdp/pase `WaveFe`)
into `PASEBackbone` and `PASEPlusBackbone`.

The official encoder (`pase/models/frontend.py:WaveFe`, configurations
`cfg/frontend/PASE.cfg` and `PASE+.cfg`) names its tensors
`blocks.{i}.conv.*` (i from 0; block 0 is the SincConv with `low_hz_` /
`band_hz_` of shape (F, 1)), `blocks.{i}.norm.*` (BatchNorm1d),
`blocks.{i}.act.weight` (PReLU), `W.*` (the 1x1 projection) and
`norm_out.*` (BatchNorm1d without affine); PASE+ adds
`denseskips.{i}.weight` and its QRNN's `rnn.layers.0.linear.*`
(`load_pase_plus_weights`). Our block `n` is the official block `n - 1`.
Conv1d weights `(out, in, k)` become Keras kernels `(k, in, out)`;
`num_batches_tracked` is skipped.

Padding: the official kernel-20 stride-10 block pads `(9, 10)`, ours
`(5, 5)` (`pase_layers.block_padding`; both give 100 frames per second,
shifted by 4 samples). Both converters switch the backbone to the
official padding (`official_padding=True` in its config from then on,
so a saved copy keeps it): converted checkpoints give the official
outputs, to float32 rounding.
"""

import numpy as np

from keras_music.convert.state_dict import load_state_dict
from keras_music.convert.torch_targets import assign_targets
from keras_music.convert.torch_targets import batch_norm
from keras_music.convert.torch_targets import conv1d
from keras_music.convert.torch_targets import same
from keras_music.models.pase import pase_layers
from keras_music.models.pase.pase_backbone import PASEBackbone
from keras_music.models.pase.pase_plus_backbone import PASEPlusBackbone


def load_pase_weights(backbone, state_dict, prefix=None):
    """Loads an official PASE encoder state dict into a `PASEBackbone`.

    The backbone is switched to the official padding (see the module
    docstring), so that it gives the official outputs.

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
            "`backbone` must be a PASEBackbone (for PASE+ use "
            f"`load_pase_plus_weights`). Received: backbone={backbone!r}"
        )
    return _load(backbone, state_dict, prefix, _targets(backbone))


def load_pase_plus_weights(backbone, state_dict, prefix=None):
    """Loads an official PASE+ encoder state dict into a `PASEPlusBackbone`.

    The official PASE+ is `WaveFe` built from `cfg/frontend/PASE+.cfg`
    (`rnn_pool`, `denseskips`, `norm_out`) with its QRNN from torchqrnn.
    Besides PASE's keys (`load_pase_weights`), its state dict has
    `denseskips.{i}.weight` (the bias-free 1×1 skip convolution after
    block `i + 1`, our `skip_{i+1}_projection`) and
    `rnn.layers.0.linear.*` (our `qrnn`, converted by
    `torchqrnn_to_qrnn`); `W` (our `projection`) maps the QRNN's
    `rnn_dim` outputs to `emb_dim`. The backbone needs
    `qrnn_units=rnn_dim` and is switched to the official padding (see
    the module docstring): it then gives the official embedding for
    inputs of a multiple of 160 samples.

    Args:
        backbone: `PASEPlusBackbone` of the checkpoint's widths.
        state_dict: dict of name → array, or a checkpoint path (read with
            `load_state_dict(path, prefix)`).
        prefix: optional str. Passed to `load_state_dict` for a path.

    Returns:
        The sorted list of checkpoint keys that were skipped (the
        BatchNorms' `num_batches_tracked`).

    Raises:
        ValueError: listing every unknown key, missing key and shape
            mismatch at once; no weight is changed then.

    Example:

    >>> from keras_music.models.pase.pase_plus_backbone import (
    ...     PASEPlusBackbone,
    ... )
    >>> backbone = PASEPlusBackbone.from_preset("pase_plus_tiny")
    >>> load_pase_plus_weights(backbone, {"rnn.layers.0.linear.bias": 0})
    Traceback (most recent call last):
    ...
    ValueError: The state dict does not fit this PASEPlusBackbone; ...

    With an official checkpoint, `backbone` built to its widths:
    `load_pase_plus_weights(backbone, "pase_plus.safetensors")`, then
    `backbone(audio)` is the official `model(audio[:, None])` transposed
    to `(batch, frames, emb_dim)`.
    """
    if not isinstance(backbone, PASEPlusBackbone):
        raise ValueError(
            "`backbone` must be a PASEPlusBackbone. "
            f"Received: backbone={backbone!r}"
        )
    targets = _targets(backbone)
    for n in range(1, 8):
        kernel = backbone.get_layer(f"skip_{n}_projection").kernel
        targets[f"denseskips.{n - 1}.weight"] = conv1d(kernel)
    qrnn = backbone.get_layer("qrnn")
    window, features, gates = qrnn.kernel.shape
    targets["rnn.layers.0.linear.weight"] = (
        qrnn.kernel,
        (gates, window * features),
        lambda w: torchqrnn_to_qrnn(w, np.zeros(gates, w.dtype), window)[0],
    )
    targets["rnn.layers.0.linear.bias"] = (
        qrnn.bias,
        (gates,),
        lambda b: torchqrnn_to_qrnn(
            np.zeros((gates, window * features), b.dtype), b, window
        )[1],
    )
    return _load(backbone, state_dict, prefix, targets)


def _load(backbone, state_dict, prefix, targets):
    """Checks every key and shape of `state_dict` against `targets`
    (key → `(variable, checkpoint shape, convert)`), then assigns them
    all and sets the official padding."""
    if isinstance(state_dict, str) or hasattr(state_dict, "__fspath__"):
        state_dict = load_state_dict(state_dict, prefix=prefix)
    source = {k: np.asarray(v) for k, v in state_dict.items()}
    skipped = sorted(k for k in source if k.endswith("num_batches_tracked"))
    for key in skipped:
        del source[key]
    assign_targets(type(backbone).__name__, source, targets)
    pase_layers.use_official_padding(backbone)
    return skipped


def _targets(backbone):
    sinc = backbone.get_layer("block_1_sinc_conv")
    filters = (sinc.filters, 1)
    targets = {
        "blocks.0.conv.low_hz_": (sinc.low_hz, filters, np.ravel),
        "blocks.0.conv.band_hz_": (sinc.band_hz, filters, np.ravel),
    }
    for n in range(1, len(backbone.conv_filters) + 2):
        prefix = f"blocks.{n - 1}"
        if n > 1:
            conv = backbone.get_layer(f"block_{n}_conv")
            targets[f"{prefix}.conv.weight"] = conv1d(conv.kernel)
            targets[f"{prefix}.conv.bias"] = same(conv.bias)
        norm = backbone.get_layer(f"block_{n}_bn")
        targets.update(batch_norm(f"{prefix}.norm", norm))
        # PReLU(C) weight (C,); ours (1, C), shared over time.
        alpha = backbone.get_layer(f"block_{n}_prelu").alpha
        targets[f"{prefix}.act.weight"] = (
            alpha,
            (alpha.shape[-1],),
            lambda a, shape=tuple(alpha.shape): a.reshape(shape),
        )
    projection = backbone.get_layer("projection")
    targets["W.weight"] = conv1d(projection.kernel)
    targets["W.bias"] = same(projection.bias)
    norm = backbone.get_layer("output_norm")
    targets["norm_out.running_mean"] = same(norm.moving_mean)
    targets["norm_out.running_var"] = same(norm.moving_variance)
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
