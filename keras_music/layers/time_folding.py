import keras
from keras import ops

from keras_music.layers.spectrogram_ops import dim
from keras_music.layers.spectrogram_ops import from_4d
from keras_music.layers.spectrogram_ops import to_4d
from keras_music.layers.validation import check_positive_int

REMAINDER_MODES = ("crop", "pad")


def _fit_axis(x, axis, size, pad_value):
    """Crops or pads (at the end) axis `axis` of `x` to `size`."""
    length = dim(x, axis)
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(0, size)
    x = x[tuple(index)]
    paddings = [[0, 0] for _ in x.shape]
    if isinstance(length, int):
        paddings[axis] = [0, max(size - length, 0)]
    else:
        paddings[axis] = [0, ops.maximum(size - length, 0)]
    return ops.pad(x, paddings, constant_values=pad_value)


@keras.saving.register_keras_serializable(package="keras_music")
class TimeFolding(keras.layers.Layer):
    """Folds the time axis of a spectrogram into the frequency axis.

    S3T's "Time Folding" pre-processor turns a long, flat `F x T`
    spectrogram into a near-square `(F * n) x (T / n)` image for a Swin
    Transformer, keeping every frame (unlike Frequency Tiling, which
    repeats the spectrogram). The frames are cut into `n` consecutive
    chunks of `T' = T / n` frames and the chunks are stacked along
    frequency, the first chunk at the lowest bins:

    `output[b, k * F + f, t] = input[b, f, k * T' + t]`

    for `k < n`, `f < F`, `t < T'`. Reshaping the output to
    `(n, F, T')` and concatenating the chunks along time gives the
    (cropped or padded) input back.

    When `T` is not a multiple of `n`, `remainder="crop"` drops the last
    `T mod n` frames (`T' = floor(T / n)`) and `remainder="pad"` appends
    `pad_value` frames (`T' = ceil(T / n)`).

    `target_size=(height, width)` then crops or pads (with `pad_value`, at
    the high-frequency end and at the end in time) to a fixed size. S3T's
    Swin-T input: a CQT of 84 bins and 780 frames, `n=3` gives
    `(84 * 3) x (780 / 3) = 252 x 260`; `target_size=(256, 256)` pads 4
    bins of `pad_value` on top and drops the last 4 folded frames, i.e.
    frames 256-259 of each chunk (input frames 256-259, 516-519 and
    776-779), giving `256 x 256`.

    Args:
        n: int. Number of chunks the time axis is folded into. Defaults
            to 3.
        remainder: str. `"crop"` or `"pad"`: what to do with the frames
            left over when the length is not a multiple of `n`. Defaults
            to `"crop"`.
        target_size: tuple of two ints or `None`. `(height, width)` to
            crop or pad the folded spectrogram to. Defaults to `None`
            (no change).
        pad_value: float. Value of padded bins and frames, e.g. the
            spectrogram's floor for log scales. Defaults to `0.0`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:
    >>> cqt = np.zeros((2, 84, 780), dtype="float32")
    >>> TimeFolding(n=3, target_size=(256, 256))(cqt).shape
    TensorShape([2, 256, 256])

    Input shape:
        `(batch, freq, frames)` or `(batch, freq, frames, channels)`.

    Output shape:
        `(batch, freq * n, frames')` (channels kept), or `target_size`.

    Reference:
        - [Zhao et al., "S3T: Self-supervised pre-training with Swin
          Transformer for music classification", ICASSP 2022, §2.4](
          https://arxiv.org/abs/2202.10139)
    """

    def __init__(
        self,
        n=3,
        remainder="crop",
        target_size=None,
        pad_value=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.n = check_positive_int("n", n)
        if remainder not in REMAINDER_MODES:
            raise ValueError(
                f"`remainder` must be one of {REMAINDER_MODES}. "
                f"Received: remainder={remainder!r}"
            )
        self.remainder = remainder
        if target_size is not None:
            try:
                height, width = target_size
            except (TypeError, ValueError):
                raise ValueError(
                    "`target_size` must be a pair (height, width) or None. "
                    f"Received: target_size={target_size!r}"
                ) from None
            target_size = (
                check_positive_int("target_size", height),
                check_positive_int("target_size", width),
            )
        self.target_size = target_size
        self.pad_value = float(pad_value)

    def _folded_frames(self, frames):
        if self.remainder == "crop":
            return frames // self.n
        return (frames + self.n - 1) // self.n

    def call(self, inputs):
        x, squeeze = to_4d(inputs, "TimeFolding input")
        if x.shape[2] is not None and x.shape[2] < self.n:
            raise ValueError(
                f"TimeFolding input needs at least n={self.n} frames. "
                f"Received: shape={tuple(inputs.shape)}"
            )
        batch, freq, frames, channels = (dim(x, i) for i in range(4))
        folded = self._folded_frames(frames)
        x = _fit_axis(x, 2, folded * self.n, self.pad_value)
        x = ops.reshape(x, (batch, freq, self.n, folded, channels))
        x = ops.transpose(x, (0, 2, 1, 3, 4))
        x = ops.reshape(x, (batch, self.n * freq, folded, channels))
        if self.target_size is not None:
            height, width = self.target_size
            x = _fit_axis(x, 1, height, self.pad_value)
            x = _fit_axis(x, 2, width, self.pad_value)
        return from_4d(x, squeeze, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if self.target_size is not None:
            shape[1], shape[2] = self.target_size
            return tuple(shape)
        if shape[1] is not None:
            shape[1] = shape[1] * self.n
        if shape[2] is not None:
            shape[2] = self._folded_frames(shape[2])
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "n": self.n,
                "remainder": self.remainder,
                "target_size": self.target_size,
                "pad_value": self.pad_value,
            }
        )
        return config
