import keras
from keras import ops

from keras_music.layers.spectrogram_ops import dim
from keras_music.layers.spectrogram_ops import from_4d
from keras_music.layers.spectrogram_ops import to_4d
from keras_music.layers.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_music")
class FrequencyTiling(keras.layers.Layer):
    """Tiles a spectrogram along frequency into a square `size x size`.

    S3T's "Frequency Tiling" pre-processor: a spectrogram with few bins
    and many frames is repeated `n = ceil(size / F)` times along frequency
    (copy `k` occupies bins `k * F ... k * F + F - 1`) and the high
    frequency end is cut so that `size` bins remain:

    `output[b, f, t] = input[b, f mod F, t]` for `f, t < size`.

    The time axis is cut to its first `size` frames; a shorter input is
    padded at the end with `pad_value` frames. With `size=None` the
    output is `T x T` for an input of `T` frames, as in the paper. For
    example an 84-bin CQT of 256 frames with `size=256` is tiled
    `ceil(256 / 84) = 4` times (336 bins) and cut to `256 x 256`.

    Args:
        size: int or `None`. Side of the square output. Defaults to `256`
            (the Swin-T input of S3T); `None` uses the number of frames.
        pad_value: float. Value of padded frames. Defaults to `0.0`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:
    >>> cqt = np.zeros((2, 84, 300), dtype="float32")
    >>> FrequencyTiling(size=256)(cqt).shape
    TensorShape([2, 256, 256])

    Input shape:
        `(batch, freq, frames)` or `(batch, freq, frames, channels)`.

    Output shape:
        `(batch, size, size)` (channels kept).

    Reference:
        - [Zhao et al., "S3T: Self-supervised pre-training with Swin
          Transformer for music classification", ICASSP 2022, §2.4](
          https://arxiv.org/abs/2202.10139)
    """

    def __init__(self, size=256, pad_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if size is not None:
            size = check_positive_int("size", size)
        self.size = size
        self.pad_value = float(pad_value)

    def call(self, inputs):
        x, squeeze = to_4d(inputs, "FrequencyTiling input")
        freq, frames = dim(x, 1), dim(x, 2)
        size = frames if self.size is None else self.size
        if self.size is not None:
            x = x[:, :, :size]
            if isinstance(frames, int):
                missing = max(size - frames, 0)
            else:
                missing = ops.maximum(size - frames, 0)
            x = ops.pad(
                x,
                [[0, 0], [0, 0], [0, missing], [0, 0]],
                constant_values=self.pad_value,
            )
        bins = ops.arange(size, dtype="int32") % ops.cast(freq, "int32")
        x = ops.take(x, bins, axis=1)
        return from_4d(x, squeeze, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        size = shape[2] if self.size is None else self.size
        shape[1], shape[2] = size, size
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "pad_value": self.pad_value})
        return config
