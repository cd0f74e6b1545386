"""S3T presets: named sizes as plain dicts of `S3TBackbone` arguments.

`s3t_swin_tiny` is the paper's encoder (Zhao et al., 2022, Sections 2.4,
3.2 and 4.1): an 84-bin CQT (22.05 kHz, 12 bins per octave, hop 512) in
dB, compressed 10x in time, standardised per clip, folded in 3 chunks to
252 x 256 and padded to Swin-T's 256 x 256.

The paper's numbers do not fit together literally: hop 512 at 22.05 kHz
is 43.07 frames/s, so "compressed 100x" leaves 0.43 frames/s and a 3-5
minute track 78-130 frames, not the 768 that Time Folding needs for a
256 x 256 image. The preset compresses 10x instead, and its clip is the
one that fills the input exactly:

    84 bins x 768 frames   <- 768 x 10 = 7680 CQT frames, i.e.
                              (7680 - 1) x 512 samples = 178.3 s (3 min)
    fold 3  -> 252 x 256   (three chunks of 256 frames stacked)
    pad 4 bins -> 256 x 256 (Swin-T's input, no resizing)

Frequency Tiling takes 256 frames (59.4 s) and repeats the 84 bins 4
times, cut to 256 x 256.

`s3t_swin_mini` is the recipe's CPU demo (`recipes/s3t.py` without a
GPU): the `swin_mini` Swin on 168 x 168, an 84 x 336 CQT compressed 2x
(15.6 s) folded twice.

`s3t_test_tiny` is for tests: a 16-bin CQT of 64 frames (1.46 s) folded
twice to 32 x 32, the `swin_test_tiny` Swin made square.
"""

from keras_music.models.swin.swin_presets import backbone_presets as swin

backbone_presets = {
    "s3t_swin_tiny": {
        "swin": "swin_tiny",
        "transform": "time_folding",
        "fold": 3,
        "time_compression": 10,
        "n_bins": 84,
    },
    "s3t_swin_mini": {
        "swin": "swin_mini",
        "transform": "time_folding",
        "fold": 2,
        "time_compression": 2,
        "n_bins": 84,
    },
    "s3t_test_tiny": {
        "swin": {**swin["swin_test_tiny"], "input_size": (32, 32)},
        "transform": "time_folding",
        "fold": 2,
        "time_compression": 1,
        "n_bins": 16,
    },
}
