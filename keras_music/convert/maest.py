"""Loading MAEST, PaSST and DeiT-distilled state dicts into keras_music.

The three share one layout (timm's distilled ViT, as PaSST extended it):

| reference key                          | keras_music weight            |
|----------------------------------------|-------------------------------|
| `patch_embed.proj.weight` (D,C,16,16)  | projection kernel (16,16,1,D) |
| `cls_token`, `dist_token` (1,1,D)      | `cls_token`, `dist_token` (D) |
| `new_pos_embed` (1,2,D)                | `token_position` (2,D)        |
| `freq_new_pos_embed` (1,D,F,1)         | `freq_position` (F,D)         |
| `time_new_pos_embed` (1,D,1,T)         | `time_position` (T,D)         |
| `blocks.i.*` (i from 0)                | `block_{i+1}` (1-based)       |
| `blocks.i.attn.qkv/proj`, `mlp.fc1/fc2`| Dense kernels, transposed     |
| `norm.*`                               | `final_norm`                  |
| `head.0.*` (LayerNorm), `head.1.*`     | tagger `head_norm`, `head`    |

`head_dist.*` (the unused second head) is always skipped. A state dict
saved from a model built by the official `get_maest(...)` also holds the
buffers of its built-in mel frontend, `melspectrogram.mel_scale.fb`
(257, 96) and `melspectrogram.spec.window` (512,): they are checked
against `LogMelSpectrogram`'s filters and Hann window and then dropped
(listed in `"skipped"`); use `maest_frontend(preset)` for the frontend
that reproduces the official one exactly.

DeiT checkpoints carry one 2-D `pos_embed` (1, 2 + G·G, D) instead: its
first two rows become `token_position`, and its G×G patch grid is
resized to the model's (F, T) grid and split as the official PaSST/MAEST
code does (`adapt_image_pos_embed_to_passt`): the frequency encoding is
the mean over time of the resized grid, the time encoding its mean over
frequency. (Their sum counts the grid's mean twice; the official code
does so, and converted checkpoints follow it.) RGB patch kernels (C = 3)
are summed to one channel. Positional encodings of another grid size are
resized like the official `F.interpolate(mode="bicubic",
align_corners=False)` (Keys cubic, a = -0.75, half-pixel centres).
"""

import numpy as np

from keras_music.convert.interpolate import torch_bicubic_resize_axis
from keras_music.convert.state_dict import check_fits
from keras_music.convert.state_dict import load_state_dict
from keras_music.layers import spectral_utils
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.maest.maest_presets import frontend_presets
from keras_music.models.maest.maest_tagger import MAESTTagger

_TOKEN_KEYS = ("cls_token", "dist_token", "new_pos_embed")
_POSITION_KEYS = ("freq_new_pos_embed", "time_new_pos_embed")
_FRONTEND_PREFIX = "melspectrogram."
# The official frontend's buffers are float32 torchaudio computations of
# the same filters; they agree with ours to float32 rounding.
_FRONTEND_ATOL = 1e-6


def maest_frontend(preset, **kwargs):
    """The `LogMelSpectrogram` of the official MAEST code for a preset.

    Reflection-padded centred STFT and segments of the official length
    (`keras_music.models.maest.maest_presets.frontend_presets`); the
    default for checkpoints converted from palonso/MAEST, with which raw
    audio gives the official logits (to float32 rounding).

    Args:
        preset: str. A released MAEST size: `"maest_5s"`, `"maest_10s"`,
            `"maest_20s"` or `"maest_30s"`.
        **kwargs: `LogMelSpectrogram` arguments overriding the preset's
            (e.g. `check_values=False` for TFLite).

    Returns:
        A `LogMelSpectrogram` named `log_mel_spectrogram`.

    Example:

    >>> maest_frontend("maest_30s").max_frames
    1875
    """
    if preset not in frontend_presets:
        raise ValueError(
            f"`preset` must be one of {sorted(frontend_presets)}. "
            f"Received: preset={preset!r}"
        )
    config = {**frontend_presets[preset], **kwargs}
    return LogMelSpectrogram(**{"name": "log_mel_spectrogram", **config})


def load_maest_weights(model, state_dict, load_head=True, prefix=None):
    """Loads a reference state dict into a MAEST model, in place.

    Args:
        model: `MAESTBackbone`, `MAESTTagger` or a model with a
            `backbone` attribute holding a `MAESTBackbone` (the embedder).
        state_dict: dict of name → array, or a checkpoint path (read with
            `keras_music.convert.state_dict.load_state_dict(path, prefix)`).
        load_head: bool. For a `MAESTTagger`, also load `head.0` /
            `head.1` (their shapes must match `num_tags`). `False` keeps
            the tagger's fresh head, as when starting from PaSST or DeiT
            weights; their `head.*` keys are then skipped. Backbones always
            skip `head.*`. Defaults to `True`.
        prefix: optional str. Passed to `load_state_dict` when
            `state_dict` is a path.

    Returns:
        dict with `"skipped"` (checkpoint keys deliberately not loaded)
        and `"resized"` (encodings resized to the model's grid).

    Raises:
        ValueError: listing every unknown key, missing key and shape
            mismatch at once; no weight is changed then.

    Example:

    With a released checkpoint, `load_maest_weights(tagger,
    "discogs-maest-30s-pw-129e.ckpt", prefix="net.")` fills a
    `MAESTTagger(MAESTBackbone.from_preset("maest_30s"))`. A state dict
    that does not fit changes nothing and lists every problem:

    >>> tagger = MAESTTagger(MAESTBackbone.from_preset("maest_tiny"))
    >>> load_maest_weights(tagger, {"blocks.0.unknown": np.zeros(3)})
    Traceback (most recent call last):
    ...
    ValueError: The state dict does not fit this MAESTTagger; nothing was
    loaded. unknown keys: ['blocks.0.unknown']; missing keys: [...]...
    """
    if isinstance(state_dict, (str, bytes)) or hasattr(
        state_dict, "__fspath__"
    ):
        state_dict = load_state_dict(state_dict, prefix=prefix)
    if not isinstance(state_dict, dict):
        raise ValueError(
            "`state_dict` must be a dict of arrays or a checkpoint path. "
            f"Received: state_dict={type(state_dict).__name__}"
        )
    head = isinstance(model, MAESTTagger) and load_head
    backbone = getattr(model, "backbone", model)
    if not hasattr(backbone, "patch_embedding"):
        raise ValueError(
            "`model` must be a MAESTBackbone, a MAESTTagger or hold a "
            f"MAESTBackbone as `backbone`. Received: model={model!r}"
        )

    source = {k: np.asarray(v) for k, v in state_dict.items()}
    skipped = sorted(
        k
        for k in source
        if k.startswith("head_dist.") or (not head and k.startswith("head."))
    )
    for key in skipped:
        del source[key]
    frontend = sorted(k for k in source if k.startswith(_FRONTEND_PREFIX))
    _check_frontend_buffers({k: source.pop(k) for k in frontend})
    skipped = sorted(skipped + frontend)

    resized = []
    if "pos_embed" in source:
        source.update(_split_deit_position(source.pop("pos_embed"), backbone))
        resized.append("pos_embed")

    targets = _targets(model, backbone, head)
    unknown = sorted(set(source) - set(targets))
    missing = sorted(set(targets) - set(source))
    mismatched, values = [], {}
    for key, (variable, transform) in targets.items():
        if key not in source:
            continue
        value, was_resized = transform(source[key], tuple(variable.shape))
        if was_resized:
            resized.append(key)
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(
                f"{key}: checkpoint {tuple(source[key].shape)} → "
                f"{tuple(value.shape)}, model {tuple(variable.shape)} "
                f"({variable.path})"
            )
            continue
        values[key] = value
    check_fits(type(model).__name__, unknown, missing, mismatched)
    for key, value in values.items():
        variable = targets[key][0]
        variable.assign(value.astype(variable.dtype))
    return {"skipped": skipped, "resized": sorted(set(resized))}


def _check_frontend_buffers(buffers):
    """Checks the official mel frontend's buffers against ours."""
    if not buffers:
        return
    expected = {
        "melspectrogram.mel_scale.fb": spectral_utils.slaney_mel_filterbank(
            16000, 512, 96, 0.0, 8000.0
        ),
        "melspectrogram.spec.window": spectral_utils.periodic_hann(512),
    }
    for key, value in buffers.items():
        if key not in expected:
            raise ValueError(
                f"Unknown frontend buffer {key!r} in the state dict; "
                f"expected only {sorted(expected)}."
            )
        want = expected[key]
        if value.shape != want.shape or not np.allclose(
            value, want, rtol=0, atol=_FRONTEND_ATOL
        ):
            error = (
                np.max(np.abs(value - want))
                if value.shape == want.shape
                else "shape"
            )
            raise ValueError(
                f"The state dict's frontend buffer {key!r} {value.shape} "
                f"is not MAEST's (16 kHz, n_fft 512, 96 Slaney mel bands "
                f"0-8000 Hz, periodic Hann) {want.shape}: max difference "
                f"{error}. keras_music's LogMelSpectrogram cannot "
                "reproduce that frontend."
            )


def _targets(model, backbone, head):
    """Maps every expected checkpoint key to (variable, transform)."""
    embedding = backbone.patch_embedding
    targets = {
        "patch_embed.proj.weight": (embedding.projection.kernel, _conv),
        "patch_embed.proj.bias": (embedding.projection.bias, _same),
        "cls_token": (embedding.cls_token, _flat),
        "dist_token": (embedding.dist_token, _flat),
        "new_pos_embed": (embedding.token_position, _flat),
        "freq_new_pos_embed": (embedding.freq_position, _freq_position),
        "time_new_pos_embed": (embedding.time_position, _time_position),
        "norm.weight": (backbone.get_layer("final_norm").gamma, _same),
        "norm.bias": (backbone.get_layer("final_norm").beta, _same),
    }
    for i in range(backbone.num_layers):
        block = backbone.get_layer(f"block_{i + 1}")
        layers = {
            "norm1": block.norm1,
            "norm2": block.norm2,
        }
        for name, layer in layers.items():
            targets[f"blocks.{i}.{name}.weight"] = (layer.gamma, _same)
            targets[f"blocks.{i}.{name}.bias"] = (layer.beta, _same)
        dense = {
            "attn.qkv": block.attention.qkv,
            "attn.proj": block.attention.proj,
            "mlp.fc1": block.fc1,
            "mlp.fc2": block.fc2,
        }
        for name, layer in dense.items():
            targets[f"blocks.{i}.{name}.weight"] = (layer.kernel, _linear)
            targets[f"blocks.{i}.{name}.bias"] = (layer.bias, _same)
    if head:
        norm, dense = model.get_layer("head_norm"), model.get_layer("head")
        targets["head.0.weight"] = (norm.gamma, _same)
        targets["head.0.bias"] = (norm.beta, _same)
        targets["head.1.weight"] = (dense.kernel, _linear)
        targets["head.1.bias"] = (dense.bias, _same)
    return targets


def _same(value, shape):
    return value, False


def _flat(value, shape):
    # (1, 1, D) / (1, 2, D) → (D,) / (2, D)
    if value.size == int(np.prod(shape)):
        value = value.reshape(shape)
    return value, False


def _linear(value, shape):
    # torch Linear stores (out, in); a Keras Dense kernel is (in, out).
    return value.T if value.ndim == 2 else value, False


def _conv(value, shape):
    if value.ndim != 4:
        return value, False
    if value.shape[1] == 3 and shape[2] == 1:
        # An RGB (image) patch kernel on a one-channel spectrogram.
        value = value.sum(axis=1, keepdims=True)
    # torch (out, in, kh, kw) → Keras (kh, kw, in, out); kh is frequency.
    return value.transpose(2, 3, 1, 0), False


def _freq_position(value, shape):
    if value.ndim != 4 or value.shape[3] != 1:
        return value, False
    grid = value[0, :, :, 0].T  # (F, D)
    if grid.shape[0] == shape[0]:
        return grid, False
    return _resize_axis(grid, shape[0], axis=0), True


def _time_position(value, shape):
    if value.ndim != 4 or value.shape[2] != 1:
        return value, False
    grid = value[0, :, 0, :].T  # (T, D)
    if grid.shape[0] == shape[0]:
        return grid, False
    return _resize_axis(grid, shape[0], axis=0), True


def _resize_axis(grid, size, axis):
    """Torch-style bicubic resize of encodings along one axis (float64)."""
    grid = np.asarray(grid, "float64")
    if grid.shape[axis] == size:
        return grid.astype("float32")
    return torch_bicubic_resize_axis(grid, size, axis).astype("float32")


def _split_deit_position(pos_embed, backbone):
    """DeiT's 2-D `pos_embed` → token, frequency and time encodings."""
    pos_embed = np.asarray(pos_embed)
    hidden = pos_embed.shape[-1]
    patches = pos_embed.shape[1] - 2
    side = int(round(patches**0.5))
    if pos_embed.ndim != 3 or side * side != patches:
        raise ValueError(
            "`pos_embed` must be (1, 2 + G*G, D) for a square G×G grid. "
            f"Received: shape={pos_embed.shape}"
        )
    grid = pos_embed[0, 2:].reshape(side, side, hidden)
    grid = _resize_axis(grid, backbone.num_freq_patches, axis=0)
    grid = _resize_axis(grid, backbone.num_time_patches, axis=1)
    freq = grid.mean(axis=1)  # (F, D)
    time = grid.mean(axis=0)  # (T, D)
    return {
        "new_pos_embed": pos_embed[:, :2],
        "freq_new_pos_embed": freq.T[None, :, :, None],
        "time_new_pos_embed": time.T[None, :, None, :],
    }
