"""SampleCNN presets: named sizes as plain dicts of `SampleCNNBackbone`
arguments.

`sample_cnn_clmr` is CLMR's encoder (Spijkervet & Burgoyne, 2021, Sec.
3.2, after Lee et al.'s SampleCNN, 2017): 59,049 samples (3^10, 2.7 s at
22.05 kHz); a strided stem Conv1D(128, 3, stride 3) + BN + ReLU; nine
blocks Conv1D(k3, same) + BN + ReLU + MaxPool(3) with 128, 128, 256, 256,
256, 256, 256, 256, 512 filters; a last Conv1D(512, k3) + BN + ReLU on the
single remaining frame, giving 512-d. 2,374,400 parameters, of which
2,368,512 trainable (REFERENCE.md Section 4: about 2.4 M).

`sample_cnn_multiformat` is the audio encoder of the multi-format paper
(papers/multiformat-contrastive.txt, Sec. 3.1: "9 1d convolution blocks,
a 1d batchnorm ... and a 1d max pooling layer ... 512-dimensional"): we
read it as CLMR's network with one more BatchNorm on the 512-d output
(added by the authors against overfitting on GTZAN) and global max
pooling, on the paper's 5-second clips at 22.05 kHz (110,250 samples:
still one frame after the nine pools). 2,376,448 parameters.

`sample_cnn_clmr_demo` and `sample_cnn_multiformat_demo` are the CPU
demos of `recipes/clmr.py` and `recipes/multiformat.py`: the same depth
and input at an eighth of the width (`CPU_DEMO_WIDTH_DIVISOR`, at least 4
filters, `cpu_demo_overrides`), 64-d, so that CLMR pre-trains and embeds
the 600 x 30 s tune corpus twice within minutes on two CPU cores.

`sample_cnn_test_tiny` is for tests: 243 samples (3^5), four blocks.
"""

from keras_music.models.preset_widths import narrowed_widths

CPU_DEMO_WIDTH_DIVISOR = 8

backbone_presets = {
    "sample_cnn_clmr": {
        "input_length": 59049,
        "stem_filters": 128,
        "stem_stride": 3,
        "block_filters": (128, 128, 256, 256, 256, 256, 256, 256, 512),
        "kernel_size": 3,
        "pool_size": 3,
        "output_filters": 512,
        "output_batch_norm": False,
        "pooling": "max",
    },
    "sample_cnn_multiformat": {
        "input_length": 110250,
        "stem_filters": 128,
        "stem_stride": 3,
        "block_filters": (128, 128, 256, 256, 256, 256, 256, 256, 512),
        "kernel_size": 3,
        "pool_size": 3,
        "output_filters": 512,
        "output_batch_norm": True,
        "pooling": "max",
    },
    "sample_cnn_clmr_demo": {
        "input_length": 59049,
        "stem_filters": 16,
        "stem_stride": 3,
        "block_filters": (16, 16, 32, 32, 32, 32, 32, 32, 64),
        "kernel_size": 3,
        "pool_size": 3,
        "output_filters": 64,
        "output_batch_norm": False,
        "pooling": "max",
    },
    "sample_cnn_multiformat_demo": {
        "input_length": 110250,
        "stem_filters": 16,
        "stem_stride": 3,
        "block_filters": (16, 16, 32, 32, 32, 32, 32, 32, 64),
        "kernel_size": 3,
        "pool_size": 3,
        "output_filters": 64,
        "output_batch_norm": True,
        "pooling": "max",
    },
    "sample_cnn_test_tiny": {
        "input_length": 243,
        "stem_filters": 8,
        "stem_stride": 3,
        "block_filters": (8, 8, 16, 16),
        "kernel_size": 3,
        "pool_size": 3,
        "output_filters": 16,
        "output_batch_norm": False,
        "pooling": "max",
    },
}


def cpu_demo_overrides(name, divisor=CPU_DEMO_WIDTH_DIVISOR):
    """The widths of preset `name` divided by `divisor` (at least 4
    filters), as `from_preset` overrides: its CPU demo size."""
    return narrowed_widths(
        backbone_presets,
        name,
        divisor,
        widths=("stem_filters", "output_filters"),
        width_tuples=("block_filters",),
    )
