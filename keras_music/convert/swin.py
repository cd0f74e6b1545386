"""Swin Transformer weights between `SwinBackbone` and the official layout.

The official (microsoft/Swin-Transformer) state dict names its tensors
`patch_embed.proj.weight`, `patch_embed.norm.*`,
`layers.{i}.blocks.{j}.{norm1,norm2}.*`,
`layers.{i}.blocks.{j}.attn.{qkv,proj}.*`,
`layers.{i}.blocks.{j}.attn.relative_position_bias_table`,
`layers.{i}.blocks.{j}.mlp.{fc1,fc2}.*`,
`layers.{i}.downsample.{norm,reduction}.*` and `norm.*`. Stage `i` and
block `j` are 0-based, as in our layer names `stage_{i}_block_{j}`.

Conversions: torch Linear weights `(out, in)` are transposed to Keras
kernels `(in, out)`; the patch convolution `(out, in, kh, kw)` becomes
`(kh, kw, in, out)` and RGB weights are summed to our one channel (a
grey input then gives the RGB model's response); relative position bias
tables of another window size are resized bicubically as the reference
does when fine-tuning at a new window (e.g. 7 -> 8: 13 x 13 -> 15 x 15
entries per head). Buffers (`relative_position_index`, `attn_mask`) and
the classifier (`head.*`) are skipped. Reading checkpoint files into a
dict of arrays is `keras_music.convert.state_dict`'s job.
"""

import numpy as np

from keras_music.convert.interpolate import torch_bicubic_resize_axis
from keras_music.convert.state_dict import check_fits
from keras_music.models.swin.swin_backbone import SwinBackbone

# Keys of the official layout that are not parameters of the backbone.
_SKIPPED_SUFFIXES = ("relative_position_index", "attn_mask")
_SKIPPED_PREFIXES = ("head.",)

_RENAMES = {
    "patch_embedding": "patch_embed",
    "projection": "proj",
    "kernel": "weight",
    "gamma": "weight",
    "beta": "bias",
    "fc1": "mlp.fc1",
    "fc2": "mlp.fc2",
    "final_norm": "norm",
}


def _torch_name(path):
    """`stage_1_block_0/attn/qkv/kernel` -> `layers.1.blocks.0.attn.qkv...`."""
    parts = path.split("/")
    top = parts[0]
    if top.startswith("stage_"):
        _, stage, kind, *block = top.split("_")
        if kind == "block":
            parts[0] = f"layers.{stage}.blocks.{block[0]}"
        else:
            parts[0] = f"layers.{stage}.downsample"
    return ".".join(_RENAMES.get(p, p) for p in parts)


def resize_relative_position_bias_table(table, window_size):
    """Resizes a `((2w-1)^2, heads)` table to another window size."""
    table = np.asarray(table, dtype="float64")
    old = int(round(np.sqrt(table.shape[0])))
    if old * old != table.shape[0]:
        raise ValueError(
            "`table` must have a square number of rows, (2w - 1)^2. "
            f"Received: table.shape={table.shape}"
        )
    new = 2 * window_size - 1
    if new == old:
        return table.astype("float32")
    grid = table.reshape(old, old, -1)
    grid = torch_bicubic_resize_axis(grid, new, axis=0)
    grid = torch_bicubic_resize_axis(grid, new, axis=1)
    return grid.reshape(new * new, -1).astype("float32")


def _to_keras(path, value, shape):
    """A state-dict tensor in Keras layout, or None if shapes cannot fit."""
    if path.endswith("relative_position_bias_table"):
        if value.ndim != 2 or value.shape[1] != shape[1]:
            return None
        window = (int(round(np.sqrt(shape[0]))) + 1) // 2
        return resize_relative_position_bias_table(value, window)
    if len(shape) == 4:
        if value.ndim != 4:
            return None
        kernel = value.transpose(2, 3, 1, 0)
        if kernel.shape[2] != shape[2]:
            # RGB (or any channels) summed to our single input channel.
            kernel = kernel.sum(axis=2, keepdims=True)
        return kernel
    if len(shape) == 2:
        return value.T if value.ndim == 2 else None
    return value


def load_swin_state_dict(backbone, state_dict, prefix=""):
    """Loads official-layout Swin weights into a `SwinBackbone`.

    Args:
        backbone: SwinBackbone. The model to fill, of the checkpoint's
            depths and widths (window and input size may differ).
        state_dict: dict of str to array. Tensors by official name.
        prefix: str. Only keys that start with it are read, with it
            removed (e.g. `"module.encoder_q."` in MoCo checkpoints).
            Defaults to "".

    Returns:
        The list of keys that were skipped (buffers, classifier).

    Raises:
        ValueError: listing every missing key, unexpected key and shape
            mismatch, before any weight is changed.

    Example:

    >>> backbone = SwinBackbone.from_preset("swin_test_tiny")
    >>> skipped = load_swin_state_dict(backbone, swin_state_dict(backbone))
    """
    if not isinstance(backbone, SwinBackbone):
        raise ValueError(
            "`backbone` must be a SwinBackbone. "
            f"Received: backbone={backbone!r}"
        )
    tensors, skipped = {}, []
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :]
        if name.endswith(_SKIPPED_SUFFIXES) or name.startswith(
            _SKIPPED_PREFIXES
        ):
            skipped.append(key)
            continue
        tensors[name] = np.asarray(value)

    updates, missing, mismatched = [], [], []
    for variable in backbone.weights:
        name = _torch_name(variable.path)
        if name not in tensors:
            missing.append(name)
            continue
        value = _to_keras(variable.path, tensors.pop(name), variable.shape)
        if value is None or tuple(value.shape) != tuple(variable.shape):
            mismatched.append(
                f"{name}: checkpoint {np.shape(state_dict[prefix + name])}, "
                f"model {tuple(variable.shape)}"
            )
            continue
        updates.append((variable, value))
    check_fits("SwinBackbone", sorted(tensors), missing, mismatched)
    for variable, value in updates:
        variable.assign(value.astype(variable.dtype))
    return skipped


def swin_state_dict(backbone):
    """The backbone's weights as an official-layout dict of NumPy arrays.

    The patch convolution keeps our single input channel, `(embed_dim, 1,
    patch, patch)`. `load_swin_state_dict` reads it back.

    Args:
        backbone: `SwinBackbone`.

    Returns:
        dict mapping the official Swin parameter names to NumPy arrays.

    Example:

    >>> backbone = SwinBackbone.from_preset("swin_test_tiny")
    >>> state_dict = swin_state_dict(backbone)
    >>> state_dict["patch_embed.proj.weight"].shape
    (16, 1, 4, 4)
    """
    if not isinstance(backbone, SwinBackbone):
        raise ValueError(
            "`backbone` must be a SwinBackbone. "
            f"Received: backbone={backbone!r}"
        )
    state = {}
    for variable in backbone.weights:
        value = np.array(variable)
        if value.ndim == 4:
            value = value.transpose(3, 2, 0, 1)
        elif value.ndim == 2 and not variable.path.endswith("table"):
            value = value.T
        state[_torch_name(variable.path)] = value
    return state
