import keras

from keras_music.layers.validation import check_positive_int
from keras_music.layers.validation import check_positive_int_tuple
from keras_music.models.backbone import Backbone
from keras_music.models.resnet.resnet_presets import backbone_presets


def _check_input_size(input_size):
    try:
        height, width = input_size
        check_positive_int("input_size", height)
        if width is not None:
            check_positive_int("input_size", width)
    except (TypeError, ValueError):
        raise ValueError(
            "`input_size` must be (height, width) with positive integers; "
            "width may be None for inputs of any number of frames. "
            f"Received: input_size={input_size!r}"
        ) from None
    return int(height), None if width is None else int(width)


@keras.saving.register_keras_serializable(package="keras_music")
class ResNetBackbone(Backbone):
    """ResNet with basic blocks (ResNet-18/34) on 1-channel spectrograms.

    He et al.'s residual network as in torchvision, for one-channel
    inputs such as mel spectrograms `(batch, mels, frames)`: a 7x7
    stride-2 convolution + BatchNorm + ReLU and a 3x3 stride-2 max pool,
    then stages of basic blocks (two 3x3 convolutions with BatchNorm, an
    identity shortcut, or a 1x1 strided convolution + BatchNorm where the
    shape changes; every stage after the first halves the resolution in
    its first block), then global average pooling. Padding is explicit and
    symmetric, as in torchvision, so PyTorch weights would map one to
    one. Convolutions have no bias and use He (fan-out) initialisation.

    `ResNetBackbone.from_preset("resnet18")` is ResNet-18 (2-2-2-2 blocks,
    64-512 filters, 512-d output, 11,170,240 trainable parameters), the
    spectrogram encoder of the multi-format paper. Deeper bottleneck
    networks are `ResNet50Backbone`; both take the same inputs.

    Args:
        input_size: (int, int or None). Height (frequency bins) and width
            (frames) of the input; a width of None accepts any number of
            frames. Defaults to (128, None).
        stem_filters: int. Filters of the stem convolution. Defaults to 64.
        stage_filters: tuple of ints. Filters of each stage. Defaults to
            (64, 128, 256, 512).
        stage_blocks: tuple of ints. Basic blocks per stage, one entry per
            stage. Defaults to (2, 2, 2, 2).
        synchronized_batch_norm: bool. Whether BatchNormalization uses
            global-batch statistics under a distribution strategy (for
            contrastive pre-training, where per-replica statistics leak
            information between a batch's views). On one device it is
            ordinary BatchNorm. Defaults to True, as `ResNet50Backbone`.
        dtype: string or `keras.DTypePolicy`. Defaults to None.

    Example:

    >>> backbone = ResNetBackbone.from_preset(
    ...     "resnet_test_tiny", input_size=(32, None)
    ... )
    >>> backbone(np.zeros((2, 32, 40), "float32")).shape
    TensorShape([2, 16])

    The multi-format paper's encoder on 128-band mel spectrograms:
    `ResNetBackbone.from_preset("resnet18", input_size=(128, None))`,
    `(batch, 128, frames) -> (batch, 512)`.

    Input shape:
        `(batch, height, width)` or `(batch, height, width, 1)`.

    Output shape:
        `(batch, stage_filters[-1])`; also the attribute `output_dim`.

    Reference:
        He et al., "Deep Residual Learning for Image Recognition", CVPR
        2016, Table 1; multi-format contrastive learning
        (papers/multiformat-contrastive.txt), Sec. 3.2.
    """

    preset_configs = backbone_presets

    def __init__(
        self,
        input_size=(128, None),
        stem_filters=64,
        stage_filters=(64, 128, 256, 512),
        stage_blocks=(2, 2, 2, 2),
        synchronized_batch_norm=True,
        dtype=None,
        **kwargs,
    ):
        input_size, stage_filters, stage_blocks = _check_arguments(
            input_size, stem_filters, stage_filters, stage_blocks
        )
        make = _LayerMaker(synchronized_batch_norm, dtype)

        # === Layers ===
        stem = make.stem(stem_filters)
        blocks = make.blocks(stem_filters, stage_filters, stage_blocks)
        self.pool = keras.layers.GlobalAveragePooling2D(
            dtype=dtype, name="pool"
        )

        # === Functional model ===
        inputs = keras.Input(shape=input_size, name="spectrogram")
        x = keras.layers.Reshape(
            (input_size[0], -1, 1), dtype=dtype, name="add_channel"
        )(inputs)
        for layer in stem:
            x = layer(x)
        for block in blocks:
            x = _basic_block(block, x)
        outputs = self.pool(x)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.input_size = input_size
        self.stem_filters = stem_filters
        self.stage_filters = stage_filters
        self.stage_blocks = stage_blocks
        self.synchronized_batch_norm = bool(synchronized_batch_norm)
        self.output_dim = stage_filters[-1]

    def get_config(self):
        return {
            **super().get_config(),
            "input_size": self.input_size,
            "stem_filters": self.stem_filters,
            "stage_filters": self.stage_filters,
            "stage_blocks": self.stage_blocks,
            "synchronized_batch_norm": self.synchronized_batch_norm,
        }


def _check_arguments(input_size, stem_filters, stage_filters, stage_blocks):
    """Checks `ResNetBackbone`'s arguments; returns `input_size`,
    `stage_filters` and `stage_blocks` as tuples."""
    input_size = _check_input_size(input_size)
    check_positive_int("stem_filters", stem_filters)
    stage_filters = check_positive_int_tuple("stage_filters", stage_filters)
    stage_blocks = check_positive_int_tuple("stage_blocks", stage_blocks)
    if len(stage_blocks) != len(stage_filters):
        raise ValueError(
            "`stage_blocks` must give one value per stage of "
            f"`stage_filters`. Received: stage_blocks={stage_blocks}, "
            f"stage_filters={stage_filters}"
        )
    return input_size, stage_filters, stage_blocks


def _basic_block(block, x):
    """One basic block of `_LayerMaker.blocks` on `x`: the residual
    branch plus the (projected) shortcut, then ReLU."""
    shortcut = x
    for layer in block["shortcut"]:
        shortcut = layer(shortcut)
    for layer in block["residual"]:
        x = layer(x)
    return block["relu"](block["add"]([x, shortcut]))


class _LayerMaker:
    """The layers of `ResNetBackbone`, part by part, in the order the
    network uses them."""

    def __init__(self, synchronized_batch_norm, dtype):
        self.synchronized = synchronized_batch_norm
        self.dtype = dtype
        # torchvision's He (fan-out) normal initialisation of convolutions.
        self.initializer = keras.initializers.VarianceScaling(
            scale=2.0, mode="fan_out", distribution="untruncated_normal"
        )

    def conv(self, filters, kernel, stride, name):
        return keras.layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            use_bias=False,
            kernel_initializer=self.initializer,
            dtype=self.dtype,
            name=name,
        )

    def batch_norm(self, name):
        # PyTorch's BatchNorm2d defaults (momentum 0.1, eps 1e-5).
        return keras.layers.BatchNormalization(
            momentum=0.9,
            epsilon=1e-5,
            synchronized=self.synchronized,
            dtype=self.dtype,
            name=name,
        )

    def pad(self, size, name):
        return keras.layers.ZeroPadding2D(size, dtype=self.dtype, name=name)

    def relu(self, name):
        return keras.layers.ReLU(dtype=self.dtype, name=name)

    def stem(self, filters):
        """7x7/2 convolution + BatchNorm + ReLU, then 3x3/2 max pooling."""
        return [
            self.pad(3, "stem_pad"),
            self.conv(filters, 7, 2, "stem_conv"),
            self.batch_norm("stem_bn"),
            self.relu("stem_relu"),
            # Zero padding equals PyTorch's -inf padding after a ReLU.
            self.pad(1, "stem_pool_pad"),
            keras.layers.MaxPooling2D(3, 2, dtype=self.dtype, name="stem_pool"),
        ]

    def blocks(self, channels, stage_filters, stage_blocks):
        """The basic blocks of every stage; the first of each stage after
        the first halves the resolution."""
        blocks = []
        for i, (filters, depth) in enumerate(zip(stage_filters, stage_blocks)):
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(
                    self.block(
                        f"stage_{i}_block_{j}", filters, stride, channels
                    )
                )
                channels = filters
        return blocks

    def block(self, name, filters, stride, channels):
        """Two 3x3 convolutions with BatchNorm; a 1x1 projection of the
        shortcut where the stride or the width changes."""
        block = {
            "residual": [
                self.pad(1, f"{name}_pad_1"),
                self.conv(filters, 3, stride, f"{name}_conv_1"),
                self.batch_norm(f"{name}_bn_1"),
                self.relu(f"{name}_relu_1"),
                self.pad(1, f"{name}_pad_2"),
                self.conv(filters, 3, 1, f"{name}_conv_2"),
                self.batch_norm(f"{name}_bn_2"),
            ],
            "shortcut": [],
            "add": keras.layers.Add(dtype=self.dtype, name=f"{name}_add"),
            "relu": self.relu(f"{name}_relu"),
        }
        if stride != 1 or channels != filters:
            block["shortcut"] = [
                self.conv(filters, 1, stride, f"{name}_shortcut_conv"),
                self.batch_norm(f"{name}_shortcut_bn"),
            ]
        return block
