import keras

from keras_music.layers.validation import check_positive_int
from keras_music.layers.validation import check_positive_int_tuple
from keras_music.models.backbone import Backbone
from keras_music.models.sample_cnn.sample_cnn_presets import backbone_presets

POOLINGS = ("max", "avg")


@keras.saving.register_keras_serializable(package="keras_music")
class SampleCNNBackbone(Backbone):
    """SampleCNN on raw waveforms, CLMR's encoder.

    A sample-level 1-D CNN: a strided stem convolution (kernel = stride,
    no padding) + BatchNorm + ReLU, then one block per entry of
    `block_filters`, each Conv1D(kernel_size, same) + BatchNorm + ReLU +
    MaxPool(pool_size), then (with `output_filters`) a last
    Conv1D(output_filters, kernel_size, same) + BatchNorm + ReLU, an
    optional BatchNorm of the output features, and global max or average
    pooling over the frames that remain. At CLMR's 59,049 = 3^10 samples
    exactly one frame remains, so the pooling only drops the time axis;
    longer inputs are pooled over several frames.

    Presets (`SampleCNNBackbone.from_preset(name)`, see
    `sample_cnn_presets.py`): `sample_cnn_clmr` (CLMR, 2,374,400
    parameters, 512-d) and `sample_cnn_multiformat` (the multi-format
    paper's 9-block encoder with an added 1-D batch norm, on 5 s clips).

    Args:
        input_length: int or None. Samples per input; None accepts any
            length of at least `stem_stride * pool_size ** len(
            block_filters)`. Defaults to 59049.
        stem_filters: int. Filters of the stem convolution. Defaults to
            128.
        stem_stride: int. Kernel size and stride of the stem convolution.
            Defaults to 3.
        block_filters: tuple of ints. Filters of each block. Defaults to
            CLMR's `(128, 128, 256, 256, 256, 256, 256, 256, 512)`.
        kernel_size: int. Kernel size of the block and output
            convolutions. Defaults to 3.
        pool_size: int. Max-pooling size and stride of each block.
            Defaults to 3.
        output_filters: int or None. Filters of the last convolution;
            None leaves it out (the output width is then
            `block_filters[-1]`). Defaults to 512.
        output_batch_norm: bool. Whether a BatchNormalization follows the
            last convolution (the multi-format paper's addition). Defaults
            to False.
        pooling: string. `"max"` or `"avg"` pooling over the remaining
            frames. Defaults to `"max"`.
        synchronized_batch_norm: bool. Whether BatchNormalization uses
            global-batch statistics under a distribution strategy (as in
            `ResNet50Backbone`; on one device it is ordinary BatchNorm).
            Defaults to True.
        dtype: string or `keras.DTypePolicy`. Defaults to None.

    Example:

    >>> backbone = SampleCNNBackbone.from_preset("sample_cnn_test_tiny")
    >>> backbone(np.zeros((2, 243), "float32")).shape
    TensorShape([2, 16])

    CLMR's encoder: `SampleCNNBackbone.from_preset("sample_cnn_clmr")`
    maps `(batch, 59049)` waveforms at 22.05 kHz to `(batch, 512)`.

    Input shape:
        `(batch, samples)` or `(batch, samples, 1)` waveforms.

    Output shape:
        `(batch, output_dim)`: `output_filters`, or `block_filters[-1]`
        without the last convolution; also the attribute `output_dim`.

    Reference:
        Lee et al., "Sample-level Deep Convolutional Neural Networks for
        Music Auto-tagging Using Raw Waveforms", SMC 2017; Spijkervet &
        Burgoyne, "Contrastive Learning of Musical Representations",
        ISMIR 2021, Sec. 3.2; multi-format contrastive learning
        (papers/multiformat-contrastive.txt), Sec. 3.1.
    """

    preset_configs = backbone_presets

    def __init__(
        self,
        input_length=59049,
        stem_filters=128,
        stem_stride=3,
        block_filters=(128, 128, 256, 256, 256, 256, 256, 256, 512),
        kernel_size=3,
        pool_size=3,
        output_filters=512,
        output_batch_norm=False,
        pooling="max",
        synchronized_batch_norm=True,
        dtype=None,
        **kwargs,
    ):
        block_filters, min_length = _check_arguments(
            input_length,
            stem_filters,
            stem_stride,
            block_filters,
            kernel_size,
            pool_size,
            output_filters,
            pooling,
        )
        self.min_length = min_length
        make = _LayerMaker(synchronized_batch_norm, dtype)

        # === Layers ===
        stem = make.stem(stem_filters, stem_stride)
        blocks = make.blocks(block_filters, kernel_size, pool_size)
        head = make.head(
            output_filters, kernel_size, output_batch_norm, pooling
        )

        # === Functional model ===
        inputs = keras.Input(shape=(input_length,), name="waveform")
        x = keras.layers.Reshape((-1, 1), dtype=dtype, name="add_channel")(
            inputs
        )
        for layer in stem + [layer for block in blocks for layer in block]:
            x = layer(x)
        for layer in head:
            x = layer(x)
        super().__init__(inputs=inputs, outputs=x, dtype=dtype, **kwargs)

        # === Config ===
        self.input_length = input_length
        self.stem_filters = stem_filters
        self.stem_stride = stem_stride
        self.block_filters = block_filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.output_filters = output_filters
        self.output_batch_norm = bool(output_batch_norm)
        self.pooling = pooling
        self.synchronized_batch_norm = bool(synchronized_batch_norm)
        self.output_dim = output_filters or block_filters[-1]

    def get_config(self):
        return {
            **super().get_config(),
            "input_length": self.input_length,
            "stem_filters": self.stem_filters,
            "stem_stride": self.stem_stride,
            "block_filters": self.block_filters,
            "kernel_size": self.kernel_size,
            "pool_size": self.pool_size,
            "output_filters": self.output_filters,
            "output_batch_norm": self.output_batch_norm,
            "pooling": self.pooling,
            "synchronized_batch_norm": self.synchronized_batch_norm,
        }


def _check_arguments(
    input_length,
    stem_filters,
    stem_stride,
    block_filters,
    kernel_size,
    pool_size,
    output_filters,
    pooling,
):
    """Checks `SampleCNNBackbone`'s arguments; returns `block_filters` as
    a tuple and the shortest input that keeps one frame."""
    check_positive_int("stem_filters", stem_filters)
    check_positive_int("stem_stride", stem_stride)
    block_filters = check_positive_int_tuple("block_filters", block_filters)
    check_positive_int("kernel_size", kernel_size)
    check_positive_int("pool_size", pool_size)
    if output_filters is not None:
        check_positive_int("output_filters", output_filters)
    if pooling not in POOLINGS:
        raise ValueError(
            f"`pooling` must be one of {POOLINGS}. "
            f"Received: pooling={pooling!r}"
        )
    # One frame must survive the stem and every pooling.
    min_length = stem_stride * pool_size ** len(block_filters)
    if input_length is not None:
        check_positive_int("input_length", input_length)
        if input_length < min_length:
            raise ValueError(
                f"`input_length` must be at least {min_length} "
                f"(stem_stride * pool_size ** {len(block_filters)} "
                f"blocks). Received: input_length={input_length}"
            )
    return block_filters, min_length


class _LayerMaker:
    """The layers of `SampleCNNBackbone`, part by part, in the order the
    network uses them."""

    def __init__(self, synchronized_batch_norm, dtype):
        self.synchronized = synchronized_batch_norm
        self.dtype = dtype

    def batch_norm(self, name):
        # PyTorch's BatchNorm1d defaults (momentum 0.1, eps 1e-5), as in
        # CLMR.
        return keras.layers.BatchNormalization(
            momentum=0.9,
            epsilon=1e-5,
            synchronized=self.synchronized,
            dtype=self.dtype,
            name=name,
        )

    def conv(self, filters, kernel, stride, padding, name):
        return keras.layers.Conv1D(
            filters,
            kernel,
            strides=stride,
            padding=padding,
            dtype=self.dtype,
            name=name,
        )

    def relu(self, name):
        return keras.layers.ReLU(dtype=self.dtype, name=name)

    def stem(self, filters, stride):
        """Conv1D(kernel = stride, valid) + BatchNorm + ReLU."""
        return [
            self.conv(filters, stride, stride, "valid", "stem_conv"),
            self.batch_norm("stem_bn"),
            self.relu("stem_relu"),
        ]

    def blocks(self, block_filters, kernel_size, pool_size):
        """Per block: Conv1D(same) + BatchNorm + ReLU + MaxPool."""
        return [
            [
                self.conv(filters, kernel_size, 1, "same", f"block_{i}_conv"),
                self.batch_norm(f"block_{i}_bn"),
                self.relu(f"block_{i}_relu"),
                keras.layers.MaxPooling1D(
                    pool_size, dtype=self.dtype, name=f"block_{i}_pool"
                ),
            ]
            for i, filters in enumerate(block_filters)
        ]

    def head(self, output_filters, kernel_size, output_batch_norm, pooling):
        """The last convolution (if any), the output BatchNorm (if any)
        and the global pooling over frames."""
        head = []
        if output_filters is not None:
            head += [
                self.conv(
                    output_filters, kernel_size, 1, "same", "output_conv"
                ),
                self.batch_norm("output_bn"),
                self.relu("output_relu"),
            ]
        if output_batch_norm:
            head.append(self.batch_norm("embedding_bn"))
        pool = {
            "max": keras.layers.GlobalMaxPooling1D,
            "avg": keras.layers.GlobalAveragePooling1D,
        }[pooling]
        head.append(pool(dtype=self.dtype, name="pool"))
        return head
