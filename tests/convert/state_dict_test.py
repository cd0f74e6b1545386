import os

import numpy as np
import pytest
from safetensors.numpy import save_file

from keras_music.convert.state_dict import load_state_dict
from keras_music.convert.state_dict import strip_prefixes
from tests.test_case import TestCase


class _MakesDirectory:
    """Unpickling it would create a directory: a stand-in for code."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.makedirs, (self.path,))


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

    def test_torch_checkpoint(self):
        torch = pytest.importorskip("torch")
        path = os.path.join(self.get_temp_dir(), "w.ckpt")
        torch.save(
            {"state_dict": {"module.norm.bias": torch.ones(3)}, "epoch": 3},
            path,
        )
        out = load_state_dict(path)
        self.assertAllEqual(out["norm.bias"], np.ones(3, "float32"))

    def test_torch_checkpoint_with_objects_is_refused(self):
        torch = pytest.importorskip("torch")
        marker = os.path.join(self.get_temp_dir(), "unpickled")
        path = os.path.join(self.get_temp_dir(), "evil.pt")
        torch.save({"w": torch.ones(2), "x": _MakesDirectory(marker)}, path)
        with pytest.raises(ValueError, match="evil.pt.*other than tensors"):
            load_state_dict(path)
        # Nothing of the pickled object ran.
        self.assertFalse(os.path.exists(marker))

    def test_torch_missing_is_a_clear_error(self):
        path = os.path.join(self.get_temp_dir(), "w.pt")
        with open(path, "wb") as f:
            f.write(b"not read")
        import builtins

        real_import = builtins.__import__

        def no_torch(name, *args, **kwargs):
            if name == "torch":
                raise ImportError("no torch")
            return real_import(name, *args, **kwargs)

        builtins.__import__ = no_torch
        try:
            with pytest.raises(ValueError, match="needs PyTorch"):
                load_state_dict(path)
        finally:
            builtins.__import__ = real_import

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
        with pytest.raises(ValueError, match="too short"):
            load_state_dict(bad)
        with pytest.raises(ValueError, match="prefix=''"):
            strip_prefixes({}, prefix="")
