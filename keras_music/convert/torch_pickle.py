"""Reading PyTorch `.pt` / `.ckpt` state dicts without importing torch.

`torch.save` writes a zip archive: `<root>/data.pkl`, a pickle of the
saved object in which every tensor is a call to
`torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`
and every storage a persistent id `("storage", torch.FloatStorage, key,
location, numel)` whose bytes are the archive member `<root>/data/<key>`
(little-endian). The unpickler here resolves only those names, plain
containers (`collections.OrderedDict`) and nothing else: any other
global (a class, `os.system`, `builtins.exec`…) is refused before it is
called, so a malicious checkpoint cannot run code.
"""

import collections
import pickle
import zipfile

import numpy as np

# Storage classes of a state dict and the NumPy dtype of their bytes.
_STORAGES = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",  # upper halves of float32, widened below
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class _StorageType:
    def __init__(self, name):
        self.name = name


class _Storage:
    def __init__(self, name, values):
        self.name = name
        self.values = values


def _rebuild_tensor(path, storage, offset, size, stride, *unused):
    values = storage.values
    size, stride = tuple(size), tuple(stride)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride) if n)
    if offset < 0 or (all(size) and last >= len(values)):
        raise ValueError(
            f"A tensor of {path!r} reads past its storage (offset {offset}, "
            f"size {size}, stride {stride}, storage of {len(values)}): the "
            "checkpoint is damaged."
        )
    itemsize = values.dtype.itemsize
    array = np.lib.stride_tricks.as_strided(
        values[offset:] if len(values) else values,
        shape=size,
        strides=tuple(s * itemsize for s in stride),
    ).copy()
    if storage.name == "BFloat16Storage":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
    return data


class _StateDictUnpickler(pickle.Unpickler):
    def __init__(self, file, archive, root, path):
        super().__init__(file)
        self.archive, self.root, self.path = archive, root, path

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return lambda *args: _rebuild_tensor(self.path, *args)
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(
            f"{self.path!r} refers to {module}.{name}, which is not part of "
            "a state dict (only tensors, storages and plain containers are "
            "unpickled)"
        )

    def persistent_load(self, pid):
        if (
            not isinstance(pid, tuple)
            or len(pid) < 3
            or pid[0] != "storage"
            or not isinstance(pid[1], _StorageType)
        ):
            raise pickle.UnpicklingError(
                f"{self.path!r} holds a persistent id {pid!r} that is not a "
                "tensor storage"
            )
        member = f"{self.root}/data/{pid[2]}"
        try:
            raw = self.archive.read(member)
        except KeyError:
            raise ValueError(
                f"{self.path!r} lacks the storage {member!r} that a tensor "
                "uses: the archive is damaged or truncated."
            ) from None
        dtype = np.dtype(_STORAGES[pid[1].name])
        if len(raw) % dtype.itemsize:
            raise ValueError(
                f"Storage {member!r} of {self.path!r} has {len(raw)} bytes, "
                f"not a multiple of {dtype.itemsize} ({pid[1].name})."
            )
        values = np.frombuffer(raw, dtype=dtype)
        return _Storage(pid[1].name, values)


def read_torch_archive(path):
    """The object saved by `torch.save` at `path`, tensors as arrays.

    Raises:
        ValueError: the file is not a zip-format torch checkpoint, is
            damaged, or its pickle refers to anything but tensors and
            plain containers (nothing of it runs then).
    """
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path!r} is not a zip-format PyTorch checkpoint (torch.save "
            "since PyTorch 1.6); re-save it with a recent torch, or as "
            ".safetensors or .npz."
        )
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(
                f"{path!r} must hold one `<root>/data.pkl`, as torch.save "
                f"writes. Found: {pickles}"
            )
        root = pickles[0][: -len("/data.pkl")]
        with archive.open(pickles[0]) as file:
            unpickler = _StateDictUnpickler(file, archive, root, path)
            try:
                return unpickler.load()
            except ValueError as error:
                if path in str(error):
                    raise
                _refuse(path, error)
            except (pickle.UnpicklingError, EOFError, TypeError) as error:
                if path in str(error):
                    raise ValueError(str(error)) from None
                _refuse(path, error)


def _refuse(path, error):
    raise ValueError(
        f"{path!r} does not unpickle as a state dict: {error}"
    ) from None
