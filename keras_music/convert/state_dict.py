"""Reading reference checkpoints as plain `{name: numpy array}` dicts.

`load_state_dict` reads `.safetensors` (parsed here, no extra package),
`.npz` (NumPy, pickles refused) and PyTorch `.pt` / `.pth` / `.ckpt`
(zip archives of `torch.save`, read without importing torch by an
unpickler that accepts only tensors, storages and plain containers; see
`keras_music.convert.torch_pickle`). Lightning-style checkpoints that
nest the weights under `"state_dict"` or `"model"` are unwrapped. A
damaged file, or one with NaN or infinite weights, raises a `ValueError`
naming the file and the tensor. Model-family converters
(`keras_music.convert.maest`, Swin) take the returned dict.
"""

import json
import os
import struct

import numpy as np

from keras_music.convert.torch_pickle import read_torch_archive

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
    check_finite_tensors(path, raw)
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
        raise ValueError(
            f"Not a safetensors file: {path!r} has {len(blob)} bytes, "
            "fewer than the 8 of the header size."
        )
    (header_size,) = struct.unpack("<Q", blob[:8])
    if 8 + header_size > len(blob):
        raise ValueError(
            f"Not a safetensors file (bad header): {path!r} announces a "
            f"{header_size}-byte header but has {len(blob) - 8} bytes after "
            "the header size: truncated or another format."
        )
    try:
        header = json.loads(blob[8 : 8 + header_size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"The header of {path!r} is not UTF-8 JSON ({error}): not a "
            "safetensors file."
        ) from None
    if not isinstance(header, dict):
        raise ValueError(
            f"The header of {path!r} must be a JSON object mapping tensor "
            f"names to {{dtype, shape, data_offsets}}. Received: a "
            f"{type(header).__name__}"
        )
    buffer = memoryview(blob)[8 + header_size :]
    return {
        name: _safetensor(path, name, info, buffer)
        for name, info in header.items()
        if name != "__metadata__"
    }


def _safetensor(path, name, info, buffer):
    """One tensor of a safetensors buffer, its header entry checked."""
    where = f"Tensor {name!r} in {path!r}"
    if not isinstance(info, dict) or not {
        "dtype",
        "shape",
        "data_offsets",
    } <= set(info):
        raise ValueError(
            f"{where} must have a header entry {{dtype, shape, "
            f"data_offsets}}. Received: {info!r}"
        )
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype != "BF16" and dtype not in _SAFETENSORS_DTYPES:
        raise ValueError(
            f"{where} has dtype {dtype!r}; expected one of "
            f"{sorted(_SAFETENSORS_DTYPES) + ['BF16']}."
        )
    if not _is_int_list(shape) or min(shape, default=0) < 0:
        raise ValueError(
            f"{where} must have a shape of non-negative integers. "
            f"Received: shape={shape!r}"
        )
    itemsize = (
        2 if dtype == "BF16" else np.dtype(_SAFETENSORS_DTYPES[dtype]).itemsize
    )
    nbytes = int(np.prod(shape, dtype=np.int64)) * itemsize
    if (
        not _is_int_list(offsets)
        or len(offsets) != 2
        or not 0 <= offsets[0] <= offsets[1] <= len(buffer)
        or offsets[1] - offsets[0] != nbytes
    ):
        raise ValueError(
            f"{where} has data_offsets {offsets!r}; expected [start, end] "
            f"with end - start = {nbytes} bytes ({dtype}, shape {shape}) "
            f"within the {len(buffer)}-byte buffer: the file is truncated "
            "or damaged."
        )
    raw = buffer[offsets[0] : offsets[1]]
    if dtype == "BF16":
        # bfloat16 is the upper half of a float32.
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        array = bits.view(np.float32)
    else:
        array = np.frombuffer(
            raw, dtype=np.dtype(_SAFETENSORS_DTYPES[dtype]).newbyteorder("<")
        )
    return array.reshape(shape).astype(array.dtype.newbyteorder("="))


def _is_int_list(value):
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )


def _read_torch(path):
    obj = read_torch_archive(path)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise ValueError(
            f"{path!r} holds a {type(obj).__name__}, not a state dict."
        )
    return {k: v for k, v in obj.items() if isinstance(v, np.ndarray)}


def check_finite_tensors(path, state_dict):
    """Raises, naming the tensor and `path`, unless every float tensor of
    `state_dict` (name -> NumPy array) is finite."""
    for name, value in state_dict.items():
        if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            raise ValueError(
                f"Tensor {name!r} in {path!r} has {bad} NaN or infinite "
                "values; a checkpoint must hold finite weights."
            )


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
