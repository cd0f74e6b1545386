"""Swin presets: named sizes as plain dicts of `SwinBackbone` arguments.

`swin_tiny` is S3T's feature extractor (Zhao et al., 2022, Section 3.2,
"Feature Extractor"): Swin-T of Liu et al. (2021, Table 1: embed 96,
depths 2-2-6-2, heads 3-6-12-24) with the input changed to 256x256 and
the window to 8, drop path 0.1. With one input channel the backbone has
27,524,010 parameters; with the reference's three input channels and a
1000-class head it is the paper's 28.3 M (28,296,082): three channels
add 2 x 96 x 4 x 4 = 3,072 patch-embedding weights and the head adds
768 x 1000 + 1000 = 769,000.

`swin_mini` is the small model of the recipe's CPU demo
(`recipes/s3t.py` without a GPU): embed 32, two stages of two blocks,
heads 2-4, window 7, on a 168x168 input (an 84-bin CQT folded twice):
patch 4 gives a 42x42 grid of 6x6 windows, then 21x21 of 3x3 windows,
with no padding.

The `swin_test_*` presets are for tests: embed 16, two stages, window 4,
on small non-square spectrograms (frequency x frames).
"""

backbone_presets = {
    "swin_tiny": {
        "input_size": (256, 256),
        "patch_size": 4,
        "embed_dim": 96,
        "depths": (2, 2, 6, 2),
        "num_heads": (3, 6, 12, 24),
        "window_size": 8,
        "mlp_ratio": 4.0,
        "qkv_bias": True,
        "drop_path_rate": 0.1,
        "layer_norm_epsilon": 1e-5,
    },
    "swin_mini": {
        "input_size": (168, 168),
        "patch_size": 4,
        "embed_dim": 32,
        "depths": (2, 2),
        "num_heads": (2, 4),
        "window_size": 7,
        "mlp_ratio": 4.0,
        "qkv_bias": True,
        "drop_path_rate": 0.1,
        "layer_norm_epsilon": 1e-5,
    },
    # 32 x 40 input -> grids 8 x 10 and 4 x 5: stage 1 pads 8 x 10 to
    # 8 x 12 (windows of 4) and shifts by 2; stage 2 (min side 4, no
    # larger than the window) keeps window 4, pads 4 x 5 to 4 x 8 and does
    # not shift.
    "swin_test_tiny": {
        "input_size": (32, 40),
        "patch_size": 4,
        "embed_dim": 16,
        "depths": (2, 2),
        "num_heads": (1, 2),
        "window_size": 4,
        "mlp_ratio": 4.0,
        "qkv_bias": True,
        "drop_path_rate": 0.1,
        "layer_norm_epsilon": 1e-5,
    },
}
