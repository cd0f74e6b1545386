"""Writes the golden fixtures of `tests/golden/data/` with the official code.

Each family's reference model is built with its own classes from a local
checkout of its official repository, at a reduced size (fewer blocks and
a narrower width, the same code paths), seeded, and run on fixed inputs.
Per fixture the script writes, under `tests/golden/data/<fixture>/`:

- `weights.safetensors`: the official `state_dict()` (buffers included);
- `arrays.npz`: inputs, outputs and intermediate outputs;
- `meta.json`: the repository, its commit, the constructor arguments and
  what each array is.

It needs PyTorch (and, for MAEST, torchaudio) and must not import
TensorFlow: the two crash side by side on some machines. The real-music
input is rendered from the built-in corpus in a separate process running
keras_music (`--keras_python`).

Usage (each checkout is `git archive` of the commit given after it):

    python tests/golden/make_fixtures.py \
        --maest REFS/MAEST --maest_commit SHA \
        --passt REFS/PaSST --passt_commit SHA \
        --swin REFS/Swin-Transformer --swin_commit SHA \
        --pase REFS/pase --pase_commit SHA \
        --qrnn REFS/pytorch-qrnn --qrnn_commit SHA \
        --keras_python python

Families whose checkout is not given are left as they are; the PASE+
fixture needs both `--pase` and `--qrnn` (its QRNN is torchqrnn's).
"""

import argparse
import collections
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import subprocess
import sys
import types

import numpy as np
import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SEED = 0
REPOS = {
    "maest": "palonso/MAEST",
    "passt": "kkoutini/PaSST",
    "swin": "microsoft/Swin-Transformer",
    "clmr": "Spijkervet/CLMR",
    "simclr": "Spijkervet/SimCLR",
    "moco": "facebookresearch/moco",
    "pase": "santi-pdp/pase",
    "qrnn": "salesforce/pytorch-qrnn",
}


class _AnyMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _AnyMeta(name, (), {"__init__": lambda self, *a, **k: None})


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _AnyMeta(name, (), {"__init__": lambda self, *a, **k: None})


class _TorchvisionStub(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """timm imports torchvision for image data pipelines that the models
    here never use; a placeholder stands in when no matching torchvision
    wheel exists for the installed torch."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


def _prepare_imports():
    try:
        import torchvision  # noqa: F401
    except Exception:
        sys.modules.pop("torchvision", None)
        sys.meta_path.insert(0, _TorchvisionStub())
    # torchaudio's compiled extension (I/O, alignment) is not needed by
    # Spectrogram / MelScale, which are plain torch; skip loading it.
    extension = types.ModuleType("torchaudio._extension")
    extension._IS_TORCHAUDIO_EXT_AVAILABLE = False
    extension._IS_ALIGN_AVAILABLE = False
    extension.fail_if_no_align = lambda function: function
    sys.modules.setdefault("torchaudio._extension", extension)


def _import_from(alias, directory, module, root=None):
    """Imports `directory/module.py` as `alias.module` (relative imports
    inside `directory` work; nothing of the checkout is installed)."""
    if root is not None and root not in sys.path:
        sys.path.insert(0, root)
    if alias not in sys.modules:
        package = types.ModuleType(alias)
        package.__path__ = [directory]
        sys.modules[alias] = package
    return importlib.import_module(f"{alias}.{module}")


def _write(name, state_dict, arrays, meta):
    folder = os.path.join(DATA, name)
    os.makedirs(folder, exist_ok=True)
    tensors = {
        k: v.detach().contiguous().clone() for k, v in state_dict.items()
    }
    save_file(tensors, os.path.join(folder, "weights.safetensors"))
    arrays = {k: np.asarray(v, dtype="float32") for k, v in arrays.items()}
    np.savez_compressed(os.path.join(folder, "arrays.npz"), **arrays)
    meta = {**meta, "torch": torch.__version__, "seed": SEED}
    meta["arrays"] = {
        k: {"shape": list(v.shape), **({"about": meta["about"][k]})}
        for k, v in arrays.items()
    }
    del meta["about"]
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    size = sum(
        os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)
    )
    print(f"{name}: {size / 1e6:.2f} MB, arrays {sorted(arrays)}")


def _render_corpus_clip(python, seconds, sample_rate=16000):
    """A clip of the built-in corpus (rendered by keras_music)."""
    code = (
        "import sys, numpy as np\n"
        "from keras_music.data.tune_corpus import render_tune_clip\n"
        "from keras_music.data.tune_corpus import tune_corpus_items\n"
        "item = tune_corpus_items(num_clips=4, seed=0)['train'][0]\n"
        f"track = render_tune_clip(item, sample_rate={sample_rate}, "
        f"clip_seconds={seconds})\n"
        "np.save(sys.argv[1], track.audio)\n"
    )
    os.makedirs(DATA, exist_ok=True)
    path = os.path.join(DATA, "_corpus_clip.npy")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([python, "-c", code, path], check=True, env=env)
    audio = np.load(path)
    os.remove(path)
    return audio


def _block_tokens(model, blocks):
    """Hooks that record (cls, dist, mean of patches) after each block."""
    tokens = []

    def hook(module, inputs, output):
        tokens.append(
            torch.stack(
                [output[:, 0], output[:, 1], output[:, 2:].mean(dim=1)], 1
            )
        )

    handles = [block.register_forward_hook(hook) for block in blocks]
    return tokens, handles


def maest_fixture(directory, commit, keras_python):
    _prepare_imports()
    maest = _import_from(
        "maest_ref", os.path.join(directory, "models"), "maest"
    )
    torch.manual_seed(SEED)
    # Reduced MAEST: the official class and its built-in mel frontend;
    # width 64, 2 blocks, 4 heads, 96 mel bands and stride 10 as in the
    # released models, and a 205-frame segment (3.28 s at 16 kHz): like
    # MAEST-30s's 1875 frames, one frame short of adding a patch column
    # (the centred STFT gives 206), so the framing matters as it does there.
    config = dict(
        img_size=[96, 205],
        patch_size=16,
        stride=10,
        in_chans=1,
        num_classes=7,
        embed_dim=64,
        depth=2,
        num_heads=4,
        distilled=True,
        distilled_type="mean",
    )
    model = maest.MAEST(**config).eval()
    # Spread the head and the zero-initialised biases so that the
    # comparison sees every weight.
    with torch.no_grad():
        for name, value in model.named_parameters():
            if name.endswith("bias") or name.startswith("head"):
                value.normal_(0.0, 0.2)
    rng = np.random.default_rng(SEED)
    spectrogram = rng.normal(size=(2, 96, 205)).astype("float32")
    music = _render_corpus_clip(keras_python, 3.28)
    noise = rng.uniform(-0.5, 0.5, size=52480).astype("float32")
    arrays = {"spectrogram": spectrogram, "audio": music, "noise": noise}
    with torch.no_grad():
        x = torch.from_numpy(spectrogram)
        logits, features = model(x.clone())
        arrays.update(logits=logits, sigmoid=torch.sigmoid(logits))
        for i in range(config["depth"]):
            _, tokens = model(x.clone(), transformer_block=i)
            arrays[f"block_{i + 1}_tokens"] = tokens.reshape(2, 3, -1)
        for name, audio in (("audio", music), ("noise", noise)):
            wave = torch.from_numpy(audio)
            arrays[f"{name}_log_mel"] = model.melspectrogram(wave)
            logits, _ = model(wave.clone())
            arrays[f"{name}_logits"] = logits
        # Inference patchout: one time column in 3, frequency rows 0, 8.
        model.s_patchout_t_interleaved = 3
        model.s_patchout_f_indices = [0, 8]
        logits, _ = model(x.clone())
        arrays["patchout_logits"] = logits
        _, tokens = model(x.clone(), transformer_block=1)
        arrays["patchout_block_2_tokens"] = tokens.reshape(2, 3, -1)
        model.s_patchout_t_interleaved = 0
        model.s_patchout_f_indices = []
        # The official resizing of the encodings to another grid
        # (a 31-column time grid, as when loading into a 5 s model).
        freq, time = maest.adapt_passt_timefreq_embed(
            model.freq_new_pos_embed, model.time_new_pos_embed, [9, 1], [1, 31]
        )
        arrays.update(resized_freq_pos_embed=freq, resized_time_pos_embed=time)
    about = {
        "spectrogram": "input (batch, 96 mel, 205 frames), N(0, 1)",
        "audio": "built-in corpus clip, 16 kHz, 3.28 s",
        "noise": "uniform noise, 16 kHz, 3.28 s",
        "logits": "model(spectrogram) logits",
        "sigmoid": "sigmoid of logits",
        "block_1_tokens": "forward(transformer_block=0): cls, dist, avg",
        "block_2_tokens": "forward(transformer_block=1): cls, dist, avg",
        "audio_log_mel": "model.melspectrogram(audio), normalised",
        "noise_log_mel": "model.melspectrogram(noise), normalised",
        "audio_logits": "model(audio) from raw audio (1-D path)",
        "noise_logits": "model(noise) from raw audio (1-D path)",
        "patchout_logits": "s_patchout_t_interleaved=3, f_indices [0, 8]",
        "patchout_block_2_tokens": "same patchout, transformer_block=1",
        "resized_freq_pos_embed": "adapt_passt_timefreq_embed to F=9",
        "resized_time_pos_embed": "adapt_passt_timefreq_embed to T=31",
    }
    meta = {
        "repo": REPOS["maest"],
        "commit": commit,
        "class": "models/maest.py:MAEST",
        "constructor": config,
        "eval": True,
        "about": about,
    }
    _write("maest", model.state_dict(), _numpy(arrays), meta)


class _Ingredient:
    """Stands in for ba3l's experiment `Ingredient`: PaSST's module
    registers its factory functions on one; the model classes do not use
    it, and ba3l needs an old fork of sacred."""

    def __init__(self, *args, **kwargs):
        pass

    def add_config(self, *args, **kwargs):
        pass

    def command(self, function=None, **kwargs):
        return function if function is not None else (lambda f: f)


def passt_fixture(directory, commit):
    _prepare_imports()
    for name in ("ba3l", "ba3l.ingredients", "ba3l.ingredients.ingredient"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["ba3l.ingredients.ingredient"].Ingredient = _Ingredient
    passt = _import_from(
        "passt_ref", os.path.join(directory, "models"), "passt", directory
    )
    torch.manual_seed(SEED)
    # Reduced PaSST: 128 mel bands (AudioSet), 100 frames, width 48.
    config = dict(
        img_size=[128, 100],
        patch_size=16,
        stride=10,
        in_chans=1,
        num_classes=5,
        embed_dim=48,
        depth=2,
        num_heads=3,
        distilled=True,
    )
    model = passt.PaSST(**config).eval()
    with torch.no_grad():
        for name, value in model.named_parameters():
            if name.endswith("bias") or name.startswith("head"):
                value.normal_(0.0, 0.2)
    rng = np.random.default_rng(SEED + 1)
    spectrogram = rng.normal(size=(2, 128, 100)).astype("float32")
    tokens, handles = _block_tokens(model, model.blocks)
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(spectrogram)[:, None])
    for handle in handles:
        handle.remove()
    arrays = {"spectrogram": spectrogram, "logits": logits}
    arrays["sigmoid"] = torch.sigmoid(logits)
    for i, value in enumerate(tokens):
        arrays[f"block_{i + 1}_tokens"] = value
    # DeiT (ImageNet) position encodings onto the PaSST grid, as the
    # official code does when it starts from DeiT weights.
    pos_embed = torch.from_numpy(
        rng.normal(0, 0.02, size=(1, 2 + 6 * 6, 48)).astype("float32")
    )
    token, freq, time = passt.adapt_image_pos_embed_to_passt(
        pos_embed, 2, model.patch_embed.grid_size
    )
    arrays.update(
        deit_pos_embed=pos_embed,
        deit_new_pos_embed=token,
        deit_freq_new_pos_embed=freq,
        deit_time_new_pos_embed=time,
    )
    about = {
        "spectrogram": "input (batch, 128 mel, 100 frames), N(0, 1)",
        "logits": "model(spectrogram[:, None])[0]",
        "sigmoid": "sigmoid of logits",
        "block_1_tokens": "output of blocks[0]: cls, dist, mean of patches",
        "block_2_tokens": "output of blocks[1]: cls, dist, mean of patches",
        "deit_pos_embed": "a DeiT pos_embed (1, 2 + 6 x 6, 48)",
        "deit_new_pos_embed": "adapt_image_pos_embed_to_passt: tokens",
        "deit_freq_new_pos_embed": "adapt_image_pos_embed_to_passt: freq",
        "deit_time_new_pos_embed": "adapt_image_pos_embed_to_passt: time",
    }
    meta = {
        "repo": REPOS["passt"],
        "commit": commit,
        "class": "models/passt.py:PaSST",
        "constructor": config,
        "eval": True,
        "about": about,
    }
    _write("passt", model.state_dict(), _numpy(arrays), meta)


def swin_fixture(directory, commit):
    _prepare_imports()
    swin = _import_from(
        "swin_ref", os.path.join(directory, "models"), "swin_transformer"
    )
    for name, size in (("swin_square", [32, 32]), ("swin_wide", [32, 64])):
        torch.manual_seed(SEED)
        config = dict(
            img_size=size,
            patch_size=4,
            in_chans=1,
            num_classes=0,
            embed_dim=16,
            depths=[2, 2],
            num_heads=[1, 2],
            window_size=4,
            mlp_ratio=4.0,
            qkv_bias=True,
            drop_path_rate=0.0,
        )
        model = swin.SwinTransformer(**config).eval()
        with torch.no_grad():
            for key, value in model.named_parameters():
                if key.endswith("bias") or "norm" in key or "table" in key:
                    value.normal_(0.0, 0.2)
        rng = np.random.default_rng(SEED)
        image = rng.normal(size=(2, *size)).astype("float32")
        stages = []
        handles = [
            layer.blocks[-1].register_forward_hook(
                lambda m, i, o, out=stages: out.append(o)
            )
            for layer in model.layers
        ]
        with torch.no_grad():
            pooled = model(torch.from_numpy(image)[:, None])
        for handle in handles:
            handle.remove()
        arrays = {"input": image, "pooled": pooled}
        about = {"input": f"(batch, {size[0]}, {size[1]}), N(0, 1)"}
        about["pooled"] = "model(input[:, None]): final norm + average pool"
        grid = [size[0] // 4, size[1] // 4]
        for i, value in enumerate(stages):
            arrays[f"stage_{i + 1}"] = value.reshape(2, *grid, -1)
            about[f"stage_{i + 1}"] = f"layers[{i}].blocks[-1] output, B H W C"
            grid = [g // 2 for g in grid]
        meta = {
            "repo": REPOS["swin"],
            "commit": commit,
            "class": "models/swin_transformer.py:SwinTransformer",
            "constructor": config,
            "eval": True,
            "about": about,
        }
        _write(name, model.state_dict(), _numpy(arrays), meta)


def _randomize_batch_norms(model):
    """Running statistics and affine weights away from 0 / 1, so that
    eval-mode BatchNorm is checked (fresh ones are the identity)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.normal_(0.0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                if module.affine:
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.normal_(0.0, 0.2)


def clmr_fixture(directory, commit, keras_python):
    _prepare_imports()
    sample_cnn = _import_from(
        "clmr_ref", os.path.join(directory, "clmr", "models"), "sample_cnn"
    )
    torch.manual_seed(SEED)
    # CLMR's SampleCNN at full size: its block widths are fixed in the
    # class (2.4 M parameters, 9.5 MB), so no reduced configuration exists.
    config = dict(strides=[3] * 9, supervised=False, out_dim=10)
    model = sample_cnn.SampleCNN(**config).eval()
    _randomize_batch_norms(model)
    music = _render_corpus_clip(keras_python, 59049 / 22050, 22050)[:59049]
    noise = np.random.default_rng(SEED).uniform(-0.5, 0.5, 59049)
    waveform = np.stack([music, noise]).astype("float32")
    outputs = []
    handles = [
        block.register_forward_hook(lambda m, i, o, out=outputs: out.append(o))
        for block in model.sequential
    ]
    with torch.no_grad():
        logits = model(torch.from_numpy(waveform)[:, None])
    for handle in handles:
        handle.remove()
    arrays = {"waveform": waveform, "logits": logits}
    about = {
        "waveform": "corpus clip and uniform noise, 22.05 kHz, 59049",
        "logits": "model(waveform[:, None]): fc of the 512 features",
        "features": "model.sequential output, (batch, 512)",
    }
    arrays["features"] = outputs[-1][:, :, 0]
    # The last blocks' outputs (the early ones are megabytes each).
    for index in range(6, 10):
        arrays[f"block_{index - 1}"] = outputs[index]
        about[f"block_{index - 1}"] = f"sequential[{index}] output, B C T"
    meta = {
        "repo": REPOS["clmr"],
        "commit": commit,
        "class": "clmr/models/sample_cnn.py:SampleCNN",
        "constructor": config,
        "eval": True,
        "about": about,
    }
    _write("clmr_sample_cnn", model.state_dict(), _numpy(arrays), meta)


def simclr_fixture(directory, commit):
    nt_xent = _import_from(
        "simclr_ref", os.path.join(directory, "simclr", "modules"), "nt_xent"
    )
    rng = np.random.default_rng(SEED)
    z_i, z_j = rng.normal(size=(2, 6, 16)).astype("float32")
    arrays = {"z_i": z_i, "z_j": z_j}
    about = {"z_i": "projections of view 1", "z_j": "of view 2"}
    for temperature in (0.5, 0.1):
        loss = nt_xent.NT_Xent(6, temperature, 1)(
            torch.from_numpy(z_i), torch.from_numpy(z_j)
        )
        arrays[f"loss_{temperature}"] = loss.detach().numpy()
        about[f"loss_{temperature}"] = f"NT_Xent(6, {temperature}, 1)"
    meta = {
        "repo": REPOS["simclr"],
        "commit": commit,
        "class": "simclr/modules/nt_xent.py:NT_Xent (used by CLMR)",
        "constructor": {"batch_size": 6, "world_size": 1},
        "about": about,
    }
    _write("simclr_nt_xent", {}, arrays, meta)


class _TinyEncoder(torch.nn.Module):
    """A base encoder with the `fc` MoCo's builder expects (as torchvision
    ResNets have): Linear(16, 8), then `fc` to `num_classes`."""

    def __init__(self, num_classes):
        super().__init__()
        self.body = torch.nn.Linear(16, 8)
        self.fc = torch.nn.Linear(8, num_classes)

    def forward(self, x):
        return self.fc(self.body(x))


def moco_fixture(directory, commit):
    import tempfile

    import torch.distributed as dist

    builder = _import_from(
        "moco_ref", os.path.join(directory, "moco"), "builder"
    )
    # The builder gathers keys across processes and moves labels and the
    # shuffle permutation to CUDA: one gloo process, `.cuda()` a no-op.
    if not dist.is_initialized():
        store = os.path.join(tempfile.mkdtemp(), "store")
        dist.init_process_group(
            "gloo", init_method=f"file://{store}", rank=0, world_size=1
        )
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.manual_seed(SEED)
    config = dict(dim=4, K=12, m=0.9, T=0.2, mlp=True)
    model = builder.MoCo(_TinyEncoder, **config)
    with torch.no_grad():
        # A key branch apart from the query one, so the momentum update
        # shows; the pointer two batches in, so the enqueue wraps round.
        for param in model.encoder_k.parameters():
            param.add_(torch.randn_like(param))
        model.queue_ptr[0] = 8
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = np.random.default_rng(SEED)
    im_q, im_k = rng.normal(size=(2, 4, 16)).astype("float32")
    logits, labels = model(torch.from_numpy(im_q), torch.from_numpy(im_k))
    after = model.state_dict()
    arrays = {
        "im_q": im_q,
        "im_k": im_k,
        "logits": logits,
        "labels": labels,
        "queue_after": after["queue"],
        "queue_ptr_after": after["queue_ptr"],
    }
    about = {
        "im_q": "query views (4, 16)",
        "im_k": "key views (4, 16)",
        "logits": "forward(im_q, im_k) logits [l_pos, l_neg] / T",
        "labels": "forward's labels (zeros)",
        "queue_after": "queue buffer after forward (dim, K)",
        "queue_ptr_after": "queue_ptr after forward",
    }
    for key, value in after.items():
        if key.startswith("encoder_k."):
            arrays[f"after.{key}"] = value
            about[f"after.{key}"] = "key encoder after the momentum update"
    meta = {
        "repo": REPOS["moco"],
        "commit": commit,
        "class": "moco/builder.py:MoCo with a Linear(16, 8) base encoder",
        "constructor": config,
        "about": about,
    }
    _write("moco", before, _numpy(arrays), meta)


def pase_fixture(directory, commit, keras_python):
    _prepare_imports()
    if directory not in sys.path:
        sys.path.insert(0, directory)
    frontend = importlib.import_module("pase.models.frontend")
    torch.manual_seed(SEED)
    # PASE (cfg/frontend/PASE.cfg) narrowed: the same 8 blocks, kernels
    # and strides, widths 16-64 and a 32-d embedding.
    config = dict(
        kwidths=[251, 20, 11, 11, 11, 11, 11, 11],
        strides=[1, 10, 2, 1, 2, 1, 2, 2],
        fmaps=[16, 16, 32, 32, 32, 32, 64, 64],
        emb_dim=32,
        norm_out=True,
    )
    model = frontend.WaveFe(**config).eval()
    _randomize_batch_norms(model)
    with torch.no_grad():
        for block in model.blocks:
            block.act.weight.uniform_(0.0, 0.5)
    music = _render_corpus_clip(keras_python, 1.0)
    noise = np.random.default_rng(SEED).uniform(-0.5, 0.5, 16000)
    waveform = np.stack([music, noise]).astype("float32")
    outputs = []
    handles = [
        block.register_forward_hook(lambda m, i, o, out=outputs: out.append(o))
        for block in model.blocks
    ]
    with torch.no_grad():
        embedding = model(torch.from_numpy(waveform)[:, None])
    for handle in handles:
        handle.remove()
    arrays = {
        "waveform": waveform,
        "embedding": embedding,
        "sinc_filters": model.blocks[0].conv.filters[:, 0],
    }
    about = {
        "waveform": "corpus clip and uniform noise, 16 kHz, 1 s",
        "embedding": "model(waveform[:, None]): (batch, emb, frames)",
        "sinc_filters": "blocks[0].conv.filters after forward (F, K)",
    }
    for n, value in enumerate(outputs, 1):
        if n > 2:  # blocks 1-2 run at the sample rate: megabytes
            arrays[f"block_{n}"] = value
            about[f"block_{n}"] = f"blocks[{n - 1}] output, B C T"
    meta = {
        "repo": REPOS["pase"],
        "commit": commit,
        "class": "pase/models/frontend.py:WaveFe",
        "constructor": config,
        "eval": True,
        "about": about,
    }
    _write("pase", model.state_dict(), _numpy(arrays), meta)


def _stub_cupy():
    # torchqrnn's CUDA kernel needs cupy and pynvrtc at import; its CPU
    # path (`use_cuda=False`, what PASE+ runs on a CPU) needs neither.
    for name in ("cupy", "cupy.cuda", "pynvrtc", "pynvrtc.compiler"):
        module = _StubModule(name)
        module.__path__ = []
        sys.modules.setdefault(name, module)


def _torchqrnn_importable(directory):
    """Makes `import torchqrnn` (what `pase.models.modules` tries) find
    the checkout; before PASE's modules are first imported."""
    _stub_cupy()
    if directory not in sys.path:
        sys.path.insert(0, directory)


def qrnn_fixture(directory, commit):
    _stub_cupy()
    qrnn = _import_from(
        "torchqrnn_ref", os.path.join(directory, "torchqrnn"), "qrnn"
    )
    torch.manual_seed(SEED)
    # PASE+'s layer (pase/models/modules.py:build_rnn_block): window 2,
    # fo-pooling, one layer; here 12 inputs and 8 units.
    config = dict(
        input_size=12, hidden_size=8, window=2, output_gate=True, use_cuda=False
    )
    layer = qrnn.QRNNLayer(**config).eval()
    with torch.no_grad():
        layer.linear.bias.normal_(0.0, 0.5)
    x = np.random.default_rng(SEED).normal(size=(2, 30, 12)).astype("float32")
    with torch.no_grad():
        h, c = layer(torch.from_numpy(x).transpose(0, 1))
    arrays = {"x": x, "h": h.transpose(0, 1), "c_last": c[0]}
    about = {
        "x": "input (batch, time, 12), N(0, 1)",
        "h": "QRNNLayer(x.transpose(0, 1))[0], batch-major",
        "c_last": "its last cell state (batch, 8)",
    }
    meta = {
        "repo": REPOS["qrnn"],
        "commit": commit,
        "class": "torchqrnn/qrnn.py:QRNNLayer (CPU ForgetMult)",
        "constructor": config,
        "about": about,
    }
    _write("qrnn", layer.state_dict(), _numpy(arrays), meta)


def pase_plus_fixture(directory, commit, qrnn_directory, qrnn_commit, python):
    """PASE+ (`cfg/frontend/PASE+.cfg`: dense skips, a QRNN, `norm_out`)
    narrowed, with the QRNN of the torchqrnn checkout on its CPU path."""
    _prepare_imports()
    _torchqrnn_importable(qrnn_directory)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    torchqrnn = importlib.import_module("torchqrnn")
    modules = importlib.import_module("pase.models.modules")
    # `build_rnn_block` quietly builds an LSTM when torchqrnn fails to
    # import; this fixture is only meaningful with the official QRNN.
    if modules.QRNN is not torchqrnn.QRNN:
        raise RuntimeError(
            "pase.models.modules did not import torchqrnn's QRNN from "
            f"{qrnn_directory}; import it before PASE's modules."
        )
    frontend = importlib.import_module("pase.models.frontend")
    with open(os.path.join(directory, "cfg", "frontend", "PASE+.cfg")) as f:
        cfg = json.load(f)
    torch.manual_seed(SEED)
    # The PASE+ configuration with its kernels and strides, widths 16-64,
    # a 48-unit QRNN (`rnn_dim`) and a 32-d embedding.
    config = {
        **cfg,
        "fmaps": [16, 16, 32, 32, 32, 32, 64, 64],
        "rnn_dim": 48,
        "emb_dim": 32,
    }
    model = frontend.wf_builder(config).eval()
    rnn = model.rnn
    if type(rnn) is not torchqrnn.QRNN or len(rnn.layers) != 1:
        raise RuntimeError(f"Expected one torchqrnn QRNN layer, got {rnn!r}")
    layer = rnn.layers[0]
    if not isinstance(layer, torchqrnn.QRNNLayer) or layer.window != 2:
        raise RuntimeError(f"Expected a window-2 QRNNLayer, got {layer!r}")
    layer.use_cuda = False  # its CPU ForgetMult loop
    _randomize_batch_norms(model)
    with torch.no_grad():
        for block in model.blocks:
            block.act.weight.uniform_(0.0, 0.5)
        layer.linear.bias.normal_(0.0, 0.5)
    music = _render_corpus_clip(python, 1.0)
    noise = np.random.default_rng(SEED).uniform(-0.5, 0.5, 16000)
    waveform = np.stack([music, noise]).astype("float32")
    recorded = {}

    def record(name):
        def hook(module, inputs, output):
            recorded[name] = output[0] if name == "qrnn" else output

        return hook

    modules_to_record = {
        "sinc_conv": model.blocks[0].conv,
        "qrnn": rnn,
        "projection": model.W,
        **{f"block_{n}": block for n, block in enumerate(model.blocks, 1)},
    }
    handles = [
        module.register_forward_hook(record(name))
        for name, module in modules_to_record.items()
    ]
    norm_inputs = []
    handles.append(
        model.norm_out.register_forward_pre_hook(
            lambda m, i: norm_inputs.append(i[0])
        )
    )
    with torch.no_grad():
        embedding = model(torch.from_numpy(waveform)[:, None])
    for handle in handles:
        handle.remove()
    arrays = {
        "waveform": waveform,
        "embedding": embedding,
        "sinc_filters": model.blocks[0].conv.filters[:, 0],
        "sinc_conv": recorded["sinc_conv"],
        "qrnn": recorded["qrnn"].transpose(0, 1),
        "projection": recorded["projection"],
        "skip_sum": norm_inputs[0],
    }
    about = {
        "waveform": "corpus clip and uniform noise, 16 kHz, 1 s",
        "embedding": "model(waveform[:, None]): (batch, emb, frames)",
        "sinc_filters": "blocks[0].conv.filters after forward (F, K)",
        "sinc_conv": "blocks[0].conv output (SincConv_fast), B C T",
        "qrnn": "rnn(...) output, batch-major: B T C",
        "projection": "W output (before the skips are added), B C T",
        "skip_sum": "W output plus the pooled dense skips (norm_out's "
        "input), B C T",
    }
    for n in range(2, 9):  # block 1 is the sinc rate: megabytes
        arrays[f"block_{n}"] = recorded[f"block_{n}"]
        about[f"block_{n}"] = f"blocks[{n - 1}] output, B C T"
    meta = {
        "repo": REPOS["pase"],
        "commit": commit,
        "qrnn_repo": REPOS["qrnn"],
        "qrnn_commit": qrnn_commit,
        "class": "pase/models/frontend.py:WaveFe via wf_builder(PASE+.cfg), "
        "rnn torchqrnn.QRNN (use_cuda=False)",
        "constructor": config,
        "eval": True,
        "about": about,
    }
    _write("pase_plus", model.state_dict(), _numpy(arrays), meta)


def torch_save_fixture():
    """Checkpoints written by `torch.save` itself, for the torch-free
    reader: every storage dtype of a state dict, a non-contiguous view, a
    slice of a shared storage, a Parameter, and a Lightning-style nest."""
    torch.manual_seed(SEED)
    base = torch.randn(4, 6)
    tensors = collections.OrderedDict(
        f32=torch.randn(3, 4),
        f64=torch.randn(5, dtype=torch.float64),
        f16=torch.randn(2, 3).half(),
        bf16=torch.randn(2, 3).bfloat16(),
        i64=torch.arange(7),
        i32=torch.arange(4, dtype=torch.int32),
        i8=torch.tensor([-3, 4], dtype=torch.int8),
        u8=torch.tensor([1, 250], dtype=torch.uint8),
        flag=torch.tensor([True, False]),
        scalar=torch.tensor(2.5),
        transposed=base.t(),
        sliced=base[1:3, 2:5],
        parameter=torch.nn.Parameter(torch.randn(3)),
    )
    folder = os.path.join(DATA, "torch_save")
    os.makedirs(folder, exist_ok=True)
    torch.save(tensors, os.path.join(folder, "tensors.pt"))
    torch.save(
        {"state_dict": {"net.w": tensors["f32"]}, "epoch": 3, "lr": 1e-4},
        os.path.join(folder, "lightning.ckpt"),
    )
    expected = {
        k: (v.float() if v.dtype == torch.bfloat16 else v).detach().numpy()
        for k, v in tensors.items()
    }
    np.savez(os.path.join(folder, "expected.npz"), **expected)
    meta = {
        "repo": "pytorch/pytorch",
        "torch": torch.__version__,
        "written_by": "torch.save (tensors.pt: an OrderedDict of tensors; "
        "lightning.ckpt: {'state_dict': {'net.w': f32}, 'epoch', 'lr'})",
    }
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    print("torch_save: written")


def _numpy(arrays):
    return {
        k: v.detach().numpy() if isinstance(v, torch.Tensor) else v
        for k, v in arrays.items()
    }


FIXTURES = {
    "maest": maest_fixture,
    "passt": passt_fixture,
    "swin": swin_fixture,
    "clmr": clmr_fixture,
    "simclr": simclr_fixture,
    "moco": moco_fixture,
    "pase": pase_fixture,
    "qrnn": qrnn_fixture,
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for family in REPOS:
        parser.add_argument(f"--{family}", help=f"checkout of {REPOS[family]}")
        parser.add_argument(f"--{family}_commit", help="its commit")
    parser.add_argument(
        "--keras_python",
        default="python",
        help="a Python with keras_music installed (renders the corpus clip)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    torch_save_fixture()
    if args.qrnn:
        _torchqrnn_importable(args.qrnn)
    for family in REPOS:
        directory = getattr(args, family)
        if directory is None:
            continue
        commit = getattr(args, f"{family}_commit")
        if not commit:
            parser.error(f"--{family}_commit is required with --{family}")
        if family in ("maest", "clmr", "pase"):
            FIXTURES[family](directory, commit, args.keras_python)
        else:
            FIXTURES[family](directory, commit)
    if args.pase and args.qrnn:
        pase_plus_fixture(
            args.pase,
            args.pase_commit,
            args.qrnn,
            args.qrnn_commit,
            args.keras_python,
        )


if __name__ == "__main__":
    main()
