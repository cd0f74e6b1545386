"""ResNet presets: named sizes as plain dicts of `ResNetBackbone` arguments.

`resnet18` is ResNet-18 of He et al. (2016, Table 1: a 7x7/2 stem with
64 filters and 3x3/2 max pooling, then basic blocks 2-2-2-2 with 64, 128,
256, 512 filters, global average pooling to 512-d), the spectrogram
encoder of the multi-format paper (papers/multiformat-contrastive.txt,
Sec. 3.2). On one input channel it has 11,170,240 trainable parameters,
torchvision's `resnet18` conv trunk (11,689,512 with RGB input and the
1000-class head, less 513,000 head parameters and 2 x 7 x 7 x 64 stem
weights of the two extra channels); Keras also counts BatchNorm's moving
mean and variance, 9,600 more.

`resnet18_demo` is the CPU demo of `recipes/multiformat.py`: ResNet-18
at a quarter of its width (`CPU_DEMO_WIDTH_DIVISOR`, at least 4 filters,
`cpu_demo_overrides`), 128-d.

`resnet_test_tiny` is for tests: width 8, two stages of one block.
"""

from keras_music.models.preset_widths import narrowed_widths

CPU_DEMO_WIDTH_DIVISOR = 4

backbone_presets = {
    "resnet18": {
        "stem_filters": 64,
        "stage_filters": (64, 128, 256, 512),
        "stage_blocks": (2, 2, 2, 2),
    },
    "resnet18_demo": {
        "stem_filters": 16,
        "stage_filters": (16, 32, 64, 128),
        "stage_blocks": (2, 2, 2, 2),
    },
    "resnet_test_tiny": {
        "stem_filters": 8,
        "stage_filters": (8, 16),
        "stage_blocks": (1, 1),
    },
}


def cpu_demo_overrides(name, divisor=CPU_DEMO_WIDTH_DIVISOR):
    """The widths of preset `name` divided by `divisor` (at least 4
    filters), as `from_preset` overrides: its CPU demo size."""
    return narrowed_widths(
        backbone_presets,
        name,
        divisor,
        widths=("stem_filters",),
        width_tuples=("stage_filters",),
    )
