import keras
from keras import ops

from keras_music.layers.spectrogram_ops import dim
from keras_music.layers.spectrogram_ops import from_4d
from keras_music.layers.spectrogram_ops import gather_frames
from keras_music.layers.spectrogram_ops import interpolate_frames
from keras_music.layers.spectrogram_ops import to_4d
from keras_music.layers.spectrogram_ops import uniform_int
from keras_music.layers.validation import check_positive_int
from keras_music.layers.validation import check_range

MODES = ("resize", "pad")


@keras.saving.register_keras_serializable(package="keras_music")
class RandomMultiCrop(keras.layers.Layer):
    """Cuts several random-length crops in time from each spectrogram.

    S3T's random multi-crop, the first step of its augmentation pipeline:
    from a spectrogram of `T` frames, crop `k` of `num_crops` has
    `L_k = max(1, round(T * r_k))` frames, `r_k ~ U[ratio_range]`, and
    starts at `s_k ~ U{0, ..., T - L_k}`. Every example and every crop
    draws its own ratio and start. Crops are brought to a common length
    `output_length` so that they batch:

    - `mode="resize"`: linear interpolation along time; output frame `j`
      reads the crop at `s_k + (j + 0.5) * L_k / output_length - 0.5`
      (frame centres aligned, clamped inside the crop);
    - `mode="pad"`: the crop's frames first, then `pad_value`; a crop
      longer than `output_length` keeps its first `output_length` frames.

    At inference every "crop" is the whole input, resized or padded the
    same way, so the output structure does not change.

    Args:
        num_crops: int. Number of crops (views). Defaults to `2`.
        ratio_range: tuple of two floats. Range of the crop length as a
            fraction of the input length, within `(0, 1]`. Defaults to
            `(0.1, 0.9)`.
        output_length: int or `None`. Frames of every output crop.
            Defaults to `None` (the input length).
        mode: str. `"resize"` or `"pad"`. Defaults to `"resize"`.
        pad_value: float. Value of padded frames. Defaults to `0.0`.
        seed: int or `None`. Seed of the layer's random generator.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:
    >>> spec = np.random.rand(4, 84, 100).astype("float32")
    >>> view_1, view_2 = RandomMultiCrop(seed=0)(spec, training=True)
    >>> view_1.shape
    TensorShape([4, 84, 100])

    Input shape:
        `(batch, freq, frames)` or `(batch, freq, frames, channels)`.

    Output shape:
        A tuple of `num_crops` tensors `(batch, freq, output_length)`
        (channels kept).

    Reference:
        - [Zhao et al., "S3T: Self-supervised pre-training with Swin
          Transformer for music classification", ICASSP 2022, §2.3](
          https://arxiv.org/abs/2202.10139)
    """

    def __init__(
        self,
        num_crops=2,
        ratio_range=(0.1, 0.9),
        output_length=None,
        mode="resize",
        pad_value=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_crops = check_positive_int("num_crops", num_crops)
        self.ratio_range = check_range(
            "ratio_range", ratio_range, low=0.0, high=1.0
        )
        if self.ratio_range[0] == 0.0:
            raise ValueError(
                "`ratio_range` must be within (0, 1]. "
                f"Received: ratio_range={ratio_range!r}"
            )
        if output_length is not None:
            output_length = check_positive_int("output_length", output_length)
        self.output_length = output_length
        if mode not in MODES:
            raise ValueError(
                f"`mode` must be one of {MODES}. Received: mode={mode!r}"
            )
        self.mode = mode
        self.pad_value = float(pad_value)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _crop(self, x, start, length, out_length):
        """Crops `[start, start + length)` per example to `out_length`."""
        j = ops.arange(out_length, dtype="float32")[None, :]
        out_length = ops.cast(out_length, "float32")
        start = ops.cast(start, "float32")[:, None]
        length = ops.cast(length, "float32")[:, None]
        if self.mode == "resize":
            positions = start + (j + 0.5) * length / out_length - 0.5
            positions = ops.clip(positions, start, start + length - 1.0)
            return interpolate_frames(x, positions)
        index = ops.cast(ops.minimum(start + j, start + length - 1.0), "int32")
        cropped = gather_frames(x, index)
        inside = (j < length)[:, None, :, None]
        return ops.where(inside, cropped, self.pad_value)

    def call(self, inputs, training=None):
        x, squeeze = to_4d(inputs, "RandomMultiCrop input")
        batch, frames = dim(x, 0), dim(x, 2)
        out_length = self.output_length or frames
        frames_f = ops.cast(frames, "float32")
        crops = []
        for _ in range(self.num_crops):
            if training:
                ratio = keras.random.uniform(
                    (batch,),
                    minval=self.ratio_range[0],
                    maxval=self.ratio_range[1],
                    seed=self.seed_generator,
                )
                length = ops.cast(ops.round(ratio * frames_f), "int32")
                length = ops.clip(length, 1, frames)
                start = uniform_int(
                    (batch,), 0, frames - length, self.seed_generator
                )
            else:
                length = ops.full((batch,), frames, dtype="int32")
                start = ops.zeros((batch,), dtype="int32")
            crop = self._crop(x, start, length, out_length)
            crops.append(from_4d(crop, squeeze, self.compute_dtype))
        return tuple(crops)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if self.output_length is not None:
            shape[2] = self.output_length
        return tuple(tuple(shape) for _ in range(self.num_crops))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_crops": self.num_crops,
                "ratio_range": self.ratio_range,
                "output_length": self.output_length,
                "mode": self.mode,
                "pad_value": self.pad_value,
                "seed": self.seed,
            }
        )
        return config
