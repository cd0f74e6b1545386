import json
import os
import pickle
import struct
import sys
import zipfile

import numpy as np
import pytest
from safetensors.numpy import save_file

from keras_music.convert.state_dict import load_state_dict
from keras_music.convert.state_dict import strip_prefixes
from tests.test_case import TestCase

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "golden", "data")


class _MakesDirectory:
    """Unpickling it would create a directory: a stand-in for code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.makedirs, (self.path,))


class _WritesFile:
    """Unpickling it would write a file: a stand-in for code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (exec, (f"open({self.path!r}, 'w').write('ran')",))


def _torch_zip(folder, name, data_pkl, members=()):
    """A file laid out as torch.save writes it, around `data_pkl`."""
    path = os.path.join(folder, name)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        for member, payload in members:
            archive.writestr(f"archive/{member}", payload)
    return path


def _safetensors_bytes(header, buffer=b""):
    text = json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(text)) + text + buffer


class LoadStateDictTest(TestCase):
    def test_safetensors(self):
        # Written with the official `safetensors` package; read by ours.
        arrays = {
            "net.blocks.0.attn.qkv.weight": np.random.rand(6, 2).astype(
                "float32"
            ),
            "net.cls_token": np.random.rand(1, 1, 2).astype("float16"),
            "net.count": np.arange(3, dtype="int64"),
        }
        path = os.path.join(self.get_temp_dir(), "w.safetensors")
        save_file(arrays, path)
        out = load_state_dict(path)
        self.assertEqual(
            sorted(out), ["blocks.0.attn.qkv.weight", "cls_token", "count"]
        )
        for key, value in arrays.items():
            got = out[key[len("net.") :]]
            self.assertEqual(got.dtype, value.dtype)
            self.assertAllEqual(got, value)

    def test_safetensors_bfloat16(self):
        # bfloat16 bits are the top half of float32 bits.
        values = np.array([1.0, -2.5, 3.140625], "float32")
        raw = (values.view(np.uint32) >> 16).astype("<u2").tobytes()
        header = b'{"x":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}'
        path = os.path.join(self.get_temp_dir(), "b.safetensors")
        with open(path, "wb") as f:
            f.write(len(header).to_bytes(8, "little") + header + raw)
        self.assertAllEqual(load_state_dict(path)["x"], values)

    def test_npz_and_prefix_choice(self):
        path = os.path.join(self.get_temp_dir(), "w.npz")
        np.savez(
            path,
            **{
                "net.norm.weight": np.ones(2),
                "net_swa.norm.weight": np.zeros(2),
                "module.extra": np.ones(1),
            },
        )
        with pytest.raises(ValueError, match="Choose one with `prefix`"):
            load_state_dict(path)
        swa = load_state_dict(path, prefix="net_swa.")
        self.assertEqual(list(swa), ["norm.weight"])
        self.assertAllEqual(swa["norm.weight"], np.zeros(2))
        with pytest.raises(ValueError, match="prefix='head.'"):
            load_state_dict(path, prefix="head.")

    def test_npz_refuses_pickles(self):
        path = os.path.join(self.get_temp_dir(), "p.npz")
        np.savez(path, obj=np.array([{"a": 1}], dtype=object))
        with pytest.raises(ValueError, match="allow_pickle"):
            load_state_dict(path)

    def test_torch_save_archives_read_without_torch(self):
        # Written by torch.save (tests/golden/make_fixtures.py); read here
        # without torch: every dtype, views, slices, a Parameter.
        folder = os.path.join(GOLDEN, "torch_save")
        out = load_state_dict(os.path.join(folder, "tensors.pt"))
        self.assertNotIn("torch", sys.modules)
        with np.load(os.path.join(folder, "expected.npz")) as expected:
            self.assertEqual(sorted(out), sorted(expected.files))
            for key in expected.files:
                self.assertEqual(out[key].dtype, expected[key].dtype, key)
                self.assertAllEqual(out[key], expected[key])
            lightning = load_state_dict(os.path.join(folder, "lightning.ckpt"))
            self.assertEqual(list(lightning), ["w"])
            self.assertAllEqual(lightning["w"], expected["f32"])

    def test_malicious_pickle_does_not_run(self):
        marker = os.path.join(self.get_temp_dir(), "unpickled")
        path = _torch_zip(
            self.get_temp_dir(),
            "evil.pt",
            pickle.dumps({"w": _WritesFile(marker)}),
        )
        with pytest.raises(ValueError, match="evil.pt.*builtins.exec"):
            load_state_dict(path)
        # Nothing of the pickled object ran.
        self.assertFalse(os.path.exists(marker))
        path = _torch_zip(
            self.get_temp_dir(),
            "dir.ckpt",
            pickle.dumps({"x": _MakesDirectory(marker)}),
        )
        with pytest.raises(ValueError, match="dir.ckpt.*os.makedirs"):
            load_state_dict(path)
        self.assertFalse(os.path.exists(marker))

    def test_errors(self):
        with pytest.raises(ValueError, match="path=3"):
            load_state_dict(3)
        with pytest.raises(ValueError, match="No checkpoint file"):
            load_state_dict("/nonexistent/w.npz")
        path = os.path.join(self.get_temp_dir(), "w.h5")
        open(path, "wb").close()
        with pytest.raises(ValueError, match="must end in"):
            load_state_dict(path)
        bad = os.path.join(self.get_temp_dir(), "bad.safetensors")
        with open(bad, "wb") as f:
            f.write(b"abc")
        with pytest.raises(ValueError, match="bad.safetensors.*fewer than"):
            load_state_dict(bad)
        with pytest.raises(ValueError, match="prefix=''"):
            strip_prefixes({}, prefix="")


_F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
_BAD_SAFETENSORS = [
    # (header, buffer, what the message must say)
    ([1, 2], b"", "must be a JSON object.*Received: a list"),
    ({"w": [0, 8]}, b"\0" * 8, "'w'.*header entry"),
    ({"w": {**_F32, "dtype": "F8"}}, b"\0" * 8, "'w'.*dtype 'F8'"),
    ({"w": {**_F32, "shape": [-2]}}, b"\0" * 8, "'w'.*shape=\\[-2\\]"),
    ({"w": {**_F32, "data_offsets": [0, 800]}}, b"\0" * 8, "'w'.*truncated"),
    ({"w": {**_F32, "data_offsets": [4, 8]}}, b"\0" * 8, "'w'.*8 bytes"),
    ({"w": _F32}, b"\0" * 4, "'w'.*within the 4-byte buffer"),
    ({"w": _F32}, np.array([1, np.nan], "<f4").tobytes(), "'w'.*NaN"),
]


@pytest.mark.parametrize("header, buffer, message", _BAD_SAFETENSORS)
def test_bad_safetensors(tmp_path, header, buffer, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(_safetensors_bytes(header, buffer))
    with pytest.raises(ValueError, match=message) as info:
        load_state_dict(path)
    assert str(path) in str(info.value)


def test_safetensors_header_longer_than_file(tmp_path):
    path = tmp_path / "short.safetensors"
    path.write_bytes(struct.pack("<Q", 1000) + b"{}")
    with pytest.raises(ValueError, match="short.safetensors.*1000-byte"):
        load_state_dict(path)


def test_safetensors_header_not_json(tmp_path):
    path = tmp_path / "text.safetensors"
    path.write_bytes(struct.pack("<Q", 3) + b"{{{")
    with pytest.raises(ValueError, match="text.safetensors.*not UTF-8 JSON"):
        load_state_dict(path)


def test_npz_with_infinite_weights(tmp_path):
    path = tmp_path / "inf.npz"
    np.savez(path, **{"blocks.0.norm1.weight": np.array([1.0, np.inf])})
    with pytest.raises(ValueError, match="'blocks.0.norm1.weight'.*inf.npz"):
        load_state_dict(path)


def _text(value):
    data = value.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def _ints(values):
    return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"


def _storage_pickle(key, size, stride=(1,), offset=0, storage="FloatStorage"):
    """The pickle torch.save writes for `{"w": tensor}`, opcode by opcode
    (protocol 2), so that no torch is needed to make it."""
    persistent = (
        b"("
        + _text("storage")
        + f"ctorch\n{storage}\n".encode()
        + _text(key)
        + _text("cpu")
        + b"J"
        + struct.pack("<i", 2)
        + b"tQ"
    )
    arguments = (
        b"("
        + persistent
        + b"J"
        + struct.pack("<i", offset)
        + _ints(size)
        + _ints(stride)
        + b"\x89}t"
    )
    tensor = b"ctorch._utils\n_rebuild_tensor_v2\n" + arguments + b"R"
    return b"\x80\x02}" + _text("w") + tensor + b"s."


_BAD_TORCH = [
    # (data.pkl, members, what the message must say)
    (b"not a pickle", (), "does not unpickle"),
    (pickle.dumps([1, 2]), (), "holds a list, not a state dict"),
    (_storage_pickle("0", (2,)), (), "lacks the storage 'archive/data/0'"),
    (
        _storage_pickle("0", (2,), storage="ComplexFloatStorage"),
        (("data/0", b"\0" * 16),),
        "torch.ComplexFloatStorage",
    ),
    (_storage_pickle("0", (5,)), (("data/0", b"\0" * 8),), "reads past"),
    (
        _storage_pickle("0", (2,)),
        (("data/0", np.array([np.inf, 1], "<f4").tobytes()),),
        "'w'.*NaN or infinite",
    ),
    (_storage_pickle("0", (2,)), (("data/0", b"\0" * 7),), "7 bytes"),
]


@pytest.mark.parametrize("data_pkl, members, message", _BAD_TORCH)
def test_bad_torch_checkpoint(tmp_path, data_pkl, members, message):
    path = _torch_zip(str(tmp_path), "bad.pt", data_pkl, members)
    with pytest.raises(ValueError, match=message) as info:
        load_state_dict(path)
    assert path in str(info.value)


def test_torch_checkpoint_not_a_zip(tmp_path):
    path = tmp_path / "legacy.pt"
    path.write_bytes(b"\x80\x02legacy torch format")
    with pytest.raises(ValueError, match="legacy.pt.*not a zip-format"):
        load_state_dict(path)
