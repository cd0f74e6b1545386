"""Blocks of the PASE and PASE+ encoders.

The convolutional stack shared by `PASEBackbone` and `PASEPlusBackbone`:
a `SincConv1D` block and seven `Conv1D` blocks, each followed by
BatchNorm (eps 1e-5) and a per-channel PReLU initialised at 0 (REFERENCE
§3; Pascual et al., 2019, Section 2.1).
"""

import keras
from keras import ops

from keras_music.layers.sinc_conv1d import SincConv1D
from keras_music.layers.validation import check_positive_int

# Kernel sizes and strides of the seven Conv1D blocks after the SincConv
# block (kernel 251, stride 1): total stride 10 * 2 * 2 * 2 * 2 = 160.
CONV_KERNEL_SIZES = (20, 11, 11, 11, 11, 11, 11)
CONV_STRIDES = (10, 2, 1, 2, 1, 2, 2)
TOTAL_STRIDE = 160


def block_padding(kernel_size, strides, official=False):
    """Reflect padding `(left, right)` of a block.

    A stride-1 block pads `(k - 1) / 2` on both sides (same length). A
    strided block pads `k - s` in all, `(k - s) // 2` on the left, so that
    it gives `floor(length / s)` frames; chained, the stack gives exactly
    `samples // 160`. For the kernel-11 stride-2 blocks this is the
    reference's `(4, 5)`; for the kernel-20 stride-10 block it is `(5, 5)`
    where the reference pads `(9, 10)` (`ceil(length / 10)` frames, which
    breaks the 10 ms frame count for lengths that are not multiples of
    160).

    With `official=True`, the padding of santi-pdp/pase's `FeBlock`:
    `(k // 2 - 1, k // 2)` for a strided or even kernel, `(k - 1) / 2`
    on both sides otherwise (the same as ours but for the kernel-20
    block's `(9, 10)`).
    """
    if official and (strides > 1 or kernel_size % 2 == 0):
        return (kernel_size // 2 - 1, kernel_size // 2)
    if strides == 1:
        return ((kernel_size - 1) // 2, kernel_size // 2)
    total = kernel_size - strides
    return (total // 2, total - total // 2)


def min_samples(sinc_kernel_size, official_padding=False):
    """Shortest input the stack accepts: every reflect padding must be
    shorter than the sequence it pads (480 samples, 3 frames, with the
    paper's kernels; 471 with the official padding)."""
    samples = 1
    while True:
        length = samples
        ok = length > (sinc_kernel_size - 1) // 2
        for kernel_size, strides in zip(CONV_KERNEL_SIZES, CONV_STRIDES):
            padding = block_padding(kernel_size, strides, official_padding)
            ok = ok and length > max(padding)
            length = (length + sum(padding) - kernel_size) // strides + 1
        if ok and length >= 1:
            return samples
        samples += 1


def use_official_padding(backbone):
    """Switches a built PASE or PASE+ backbone to the official padding
    (`block_padding(..., official=True)`), as if it had been built with
    `official_padding=True`; its config says so from then on, so a saved
    and reloaded copy pads the same way. The converters call it, before
    the model is compiled or traced (a traced function keeps the padding
    it was traced with)."""
    specs = zip(CONV_KERNEL_SIZES, CONV_STRIDES)
    for n, (kernel_size, strides) in enumerate(specs, start=2):
        layer = backbone.get_layer(f"block_{n}_pad")
        layer.padding = block_padding(kernel_size, strides, official=True)
    backbone.official_padding = True
    backbone.min_samples = min_samples(backbone.sinc_kernel_size, True)


def check_conv_filters(conv_filters):
    if not isinstance(conv_filters, (list, tuple)) or len(conv_filters) != 7:
        raise ValueError(
            "`conv_filters` must be a list of 7 positive integers (the "
            f"widths of blocks 2-8). Received: conv_filters={conv_filters!r}"
        )
    for value in conv_filters:
        check_positive_int("conv_filters", value)
    return [int(v) for v in conv_filters]


@keras.saving.register_keras_serializable(package="keras_music")
class ReflectPadding1D(keras.layers.Layer):
    """Pads a `(batch, time, channels)` sequence by reflection in time.

    The edge frame is not repeated (`[a b c]` padded by 2 on the left is
    `[c b a b c]`), as in PyTorch's `F.pad(..., mode="reflect")`.

    Args:
        padding: tuple of 2 ints. Frames added `(before, after)`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:

    >>> ReflectPadding1D((5, 5))(np.zeros((2, 100, 8), "float32")).shape
    TensorShape([2, 110, 8])

    Input shape:
        `(batch, time, channels)` with `time > max(padding)`.

    Output shape:
        `(batch, time + sum(padding), channels)`.

    Reference:
        - [Pascual et al., Learning Problem-agnostic Speech
          Representations from Multiple Self-supervised Tasks,
          Interspeech 2019](https://arxiv.org/abs/1904.03416), section 2.1.
    """

    def __init__(self, padding, **kwargs):
        super().__init__(**kwargs)
        if (
            not isinstance(padding, (list, tuple))
            or len(padding) != 2
            or any(
                isinstance(p, bool) or not isinstance(p, int) or p < 0
                for p in padding
            )
        ):
            raise ValueError(
                "`padding` must be a pair of non-negative integers. "
                f"Received: padding={padding!r}"
            )
        self.padding = tuple(padding)

    def call(self, inputs):
        length = inputs.shape[1]
        if length is not None and length <= max(self.padding):
            raise ValueError(
                f"{self.name} input must have more than {max(self.padding)} "
                f"frames to reflect. Received: shape={tuple(inputs.shape)}"
            )
        return ops.pad(inputs, ((0, 0), self.padding, (0, 0)), mode="reflect")

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        if length is not None:
            length += sum(self.padding)
        return (input_shape[0], length, input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update({"padding": list(self.padding)})
        return config


def conv_stack_layers(
    sinc_filters,
    sinc_kernel_size,
    conv_filters,
    sample_rate,
    dtype,
    official_padding=False,
):
    """The layers of the 8 blocks, as a list of lists (one per block)."""

    def norm_and_activation(n):
        return [
            # PyTorch's BatchNorm1d: eps 1e-5, momentum 0.1 (Keras 0.9).
            keras.layers.BatchNormalization(
                epsilon=1e-5, momentum=0.9, dtype=dtype, name=f"block_{n}_bn"
            ),
            keras.layers.PReLU(
                alpha_initializer="zeros",
                shared_axes=[1],
                dtype=dtype,
                name=f"block_{n}_prelu",
            ),
        ]

    blocks = [
        [
            SincConv1D(
                filters=sinc_filters,
                kernel_size=sinc_kernel_size,
                sample_rate=sample_rate,
                padding="reflect",
                dtype=dtype,
                name="block_1_sinc_conv",
            ),
            *norm_and_activation(1),
        ]
    ]
    specs = zip(conv_filters, CONV_KERNEL_SIZES, CONV_STRIDES)
    for n, (filters, kernel_size, strides) in enumerate(specs, start=2):
        blocks.append(
            [
                ReflectPadding1D(
                    block_padding(kernel_size, strides, official_padding),
                    dtype=dtype,
                    name=f"block_{n}_pad",
                ),
                keras.layers.Conv1D(
                    filters,
                    kernel_size,
                    strides=strides,
                    dtype=dtype,
                    name=f"block_{n}_conv",
                ),
                *norm_and_activation(n),
            ]
        )
    return blocks


def apply_block(layers, x):
    for layer in layers:
        x = layer(x)
    return x
