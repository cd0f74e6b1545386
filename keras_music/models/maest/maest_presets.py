"""MAEST presets: named sizes as plain dicts of `MAESTBackbone` arguments.

The four full-size presets are the released MAEST models (Alonso-Jiménez
et al., 2023, Section 3.2 and Table 4): ViT-Base/16 with stride 10 on 96
mel bands, one per segment length. `num_frames` is the number of log-mel
frames Essentia feeds per segment (hop 256 at 16 kHz); the time grid of
the positional encoding is `(num_frames - 16) // 10 + 1`:

| preset      | frames | time grid | training time patchout |
|-------------|--------|-----------|------------------------|
| maest_5s    | 316    | 31        | 30                     |
| maest_10s   | 626    | 62        | 30                     |
| maest_20s   | 1258   | 125       | 60                     |
| maest_30s   | 1876   | 187       | 90                     |

All drop 3 frequency rows in training. The time patchout follows the
released training configurations (REFERENCE.md §1); the paper's text
(Section 4.3) gives 15 columns for MAEST-5s.

`maest_small` is the same architecture and 30 s input, narrowed to what
trains in minutes on a CPU (width 128, 4 blocks of 4 heads, MLP 512): the
built-in corpus's demonstration size. `maest_tiny` is for tests: width 32,
2 blocks, 2 heads, about 1 s of input.
"""

_VIT_BASE = {
    "num_mel_bins": 96,
    "patch_size": 16,
    "patch_stride": 10,
    "hidden_dim": 768,
    "num_layers": 12,
    "num_heads": 12,
    "intermediate_dim": 3072,
    "layer_norm_epsilon": 1e-6,
    "train_freq_patchout": 3,
}

_TINY = {
    "num_mel_bins": 96,
    "patch_size": 16,
    "patch_stride": 10,
    "hidden_dim": 32,
    "num_layers": 2,
    "num_heads": 2,
    "intermediate_dim": 64,
    "layer_norm_epsilon": 1e-6,
}

backbone_presets = {
    "maest_5s": {
        **_VIT_BASE,
        "num_frames": 316,
        "train_time_patchout": 30,
    },
    "maest_10s": {
        **_VIT_BASE,
        "num_frames": 626,
        "train_time_patchout": 30,
    },
    "maest_20s": {
        **_VIT_BASE,
        "num_frames": 1258,
        "train_time_patchout": 60,
    },
    "maest_30s": {
        **_VIT_BASE,
        "num_frames": 1876,
        "train_time_patchout": 90,
    },
    "maest_small": {
        **_VIT_BASE,
        "hidden_dim": 128,
        "num_layers": 4,
        "num_heads": 4,
        "intermediate_dim": 512,
        "num_frames": 1876,
        "train_time_patchout": 90,
    },
    # Test sizes: 96 mel bands (9 frequency patches) like the real models,
    # a short time grid of 6 (66 frames, about 1 s).
    "maest_tiny": {
        **_TINY,
        "num_frames": 66,
        "train_time_patchout": 2,
        "train_freq_patchout": 3,
    },
}

# `LogMelSpectrogram` arguments that reproduce the official MAEST code's
# frontend (palonso/MAEST, `models/helpers/melspectrogram.py` and the
# raw-audio path of `MAEST.forward`): torchaudio's centred STFT pads by
# reflection, and a segment keeps `img_size[1]` frames (the nominal
# seconds * 16000 / 256; 1875 for 30 s, one fewer than the centred STFT
# gives), so the model sees one time patch fewer than the positional grid
# holds. The default for checkpoints converted from the official code;
# see `keras_music.convert.maest.maest_frontend`.
_OFFICIAL_FRONTEND = {
    "sample_rate": 16000,
    "n_fft": 512,
    "hop_length": 256,
    "n_mels": 96,
    "pad_mode": "reflect",
    "normalize": True,
}

frontend_presets = {
    "maest_5s": {**_OFFICIAL_FRONTEND, "max_frames": 312},
    "maest_10s": {**_OFFICIAL_FRONTEND, "max_frames": 625},
    "maest_20s": {**_OFFICIAL_FRONTEND, "max_frames": 1250},
    "maest_30s": {**_OFFICIAL_FRONTEND, "max_frames": 1875},
}
