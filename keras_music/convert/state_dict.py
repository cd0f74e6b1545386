"""Reading reference checkpoints as plain `{name: numpy array}` dicts.

`load_state_dict` reads `.safetensors` (parsed here, no extra package),
`.npz` (NumPy, pickles refused) and PyTorch `.pt` / `.pth` / `.ckpt` (with
`torch.load(weights_only=True)`, which unpickles only tensors and plain
containers, and only when PyTorch is installed). Lightning-style
checkpoints that nest the weights under `"state_dict"` or `"model"` are
unwrapped. Model-family converters (`keras_music.convert.maest`, Swin)
take the returned dict.
"""

import json
import os
import pickle
import struct

import numpy as np

# Prefixes added by training wrappers: `net.` / `net_swa.` (MAEST's
# Lightning module and its stochastic-weight-averaged copy), `module.`
# (torch DataParallel / DistributedDataParallel).
WRAPPER_PREFIXES = ("net.", "net_swa.", "module.")

_SAFETENSORS_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def load_state_dict(path, prefix=None):
    """Reads a checkpoint into `dict[str, np.ndarray]`.

    Args:
        path: str. A `.safetensors`, `.npz`, `.pt`, `.pth` or `.ckpt` file.
        prefix: optional str. Keep only the keys that start with this
            prefix (e.g. `"net_swa."` to take the SWA weights of a MAEST
            checkpoint holding both `net.` and `net_swa.`), removing it.
            `None`: strip every wrapper prefix (`net.`, `net_swa.`,
            `module.`); a checkpoint in which two keys then collide
            raises, asking for `prefix`.

    Returns:
        dict mapping parameter names to NumPy arrays (bfloat16 tensors
        become float32).

    Example:

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.npz")
    >>> np.savez(path, **{"net.norm.weight": np.ones(4, "float32")})
    >>> load_state_dict(path)
    {'norm.weight': array([1., 1., 1., 1.], dtype=float32)}
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"`path` must be a file path. Received: path={path!r}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"No checkpoint file at `path`. Received: {path!r}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".safetensors":
        raw = _read_safetensors(path)
    elif ext == ".npz":
        with np.load(path, allow_pickle=False) as data:
            raw = {k: np.asarray(data[k]) for k in data.files}
    elif ext in (".pt", ".pth", ".ckpt", ".bin"):
        raw = _read_torch(path)
    else:
        raise ValueError(
            "`path` must end in .safetensors, .npz, .pt, .pth, .ckpt or "
            f".bin. Received: path={path!r}"
        )
    return strip_prefixes(raw, prefix=prefix)


def strip_prefixes(state_dict, prefix=None):
    """Removes wrapper prefixes from keys; see `load_state_dict`.

    Args:
        state_dict: dict mapping parameter names to arrays.
        prefix: optional str. Keep only the keys that start with it,
            removing it; `None` strips every wrapper prefix (`net.`,
            `net_swa.`, `module.`) and raises if two keys then collide.

    Returns:
        A new dict with the stripped names.

    Example:

    >>> strip_prefixes({"module.net.norm.weight": 1, "net.head.bias": 2})
    {'norm.weight': 1, 'head.bias': 2}
    >>> strip_prefixes({"net.w": 1, "net_swa.w": 2}, prefix="net_swa.")
    {'w': 2}
    """
    if prefix is not None:
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(
                "`prefix` must be a non-empty string. "
                f"Received: prefix={prefix!r}"
            )
        kept = {
            k[len(prefix) :]: v
            for k, v in state_dict.items()
            if k.startswith(prefix)
        }
        if not kept:
            found = sorted({_wrapper_of(k) for k in state_dict} - {""})
            raise ValueError(
                f"No key of the checkpoint starts with `prefix`. "
                f"Received: prefix={prefix!r}; wrapper prefixes present: "
                f"{found}"
            )
        state_dict = kept
    out, origin = {}, {}
    for key, value in state_dict.items():
        name = key
        while True:
            wrapper = _wrapper_of(name)
            if not wrapper:
                break
            name = name[len(wrapper) :]
        if name in out:
            raise ValueError(
                f"Keys {origin[name]!r} and {key!r} both become {name!r} "
                "once wrapper prefixes are removed: the checkpoint holds "
                "several copies of the model. Choose one with `prefix` "
                "(e.g. prefix='net.' or prefix='net_swa.')."
            )
        out[name] = value
        origin[name] = key
    return out


def _wrapper_of(key):
    for wrapper in WRAPPER_PREFIXES:
        if key.startswith(wrapper):
            return wrapper
    return ""


def _read_safetensors(path):
    # Format: 8-byte little-endian header size, a JSON header mapping
    # names to {dtype, shape, data_offsets}, then one flat byte buffer.
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"Not a safetensors file (too short): {path!r}")
    (header_size,) = struct.unpack("<Q", blob[:8])
    if 8 + header_size > len(blob):
        raise ValueError(f"Not a safetensors file (bad header): {path!r}")
    header = json.loads(blob[8 : 8 + header_size].decode("utf-8"))
    buffer = memoryview(blob)[8 + header_size :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = buffer[start:end]
        shape = tuple(info["shape"])
        dtype = info["dtype"]
        if dtype == "BF16":
            # bfloat16 is the upper half of a float32.
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif dtype in _SAFETENSORS_DTYPES:
            array = np.frombuffer(
                raw,
                dtype=np.dtype(_SAFETENSORS_DTYPES[dtype]).newbyteorder("<"),
            )
        else:
            raise ValueError(
                f"Tensor {name!r} in {path!r} has dtype {dtype}, which "
                "keras_music does not read."
            )
        out[name] = array.reshape(shape).astype(array.dtype.newbyteorder("="))
    return out


def _read_torch(path):
    try:
        import torch
    except ImportError:
        raise ValueError(
            f"Reading the PyTorch checkpoint {path!r} needs PyTorch, which "
            "is not installed. Install torch, or convert the file to "
            ".safetensors or .npz elsewhere."
        ) from None
    # weights_only=True: only tensors and plain containers are
    # unpickled, never arbitrary objects.
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path!r} holds Python objects other than tensors and plain "
            f"containers, which keras_music does not unpickle (torch.load "
            f"with weights_only=True refused: {str(error).splitlines()[0]})"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ValueError(
            f"{path!r} holds a {type(obj).__name__}, not a state dict."
        )
    out = {}
    for name, value in obj.items():
        if not isinstance(value, torch.Tensor):
            continue
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        out[name] = value.numpy()
    return out


def check_fits(what, unknown=(), missing=(), mismatched=()):
    """Raises one `ValueError` listing every key that does not fit `what`.

    Converters collect all problems before assigning anything, so a state
    dict that does not fit leaves the model untouched.
    """
    problems = []
    if unknown:
        problems.append(f"unknown keys: {sorted(unknown)}")
    if missing:
        problems.append(f"missing keys: {sorted(missing)}")
    if mismatched:
        problems.append(f"shape mismatches: {list(mismatched)}")
    if problems:
        raise ValueError(
            f"The state dict does not fit this {what}; nothing was loaded. "
            + "; ".join(problems)
        )
