import keras
from keras import ops

from keras_music.layers.random_augmentation import SpectrogramAugmentation
from keras_music.layers.spectrogram_ops import bernoulli
from keras_music.layers.spectrogram_ops import check_int_range
from keras_music.layers.spectrogram_ops import dim
from keras_music.layers.spectrogram_ops import gather_bins
from keras_music.layers.spectrogram_ops import gather_frames
from keras_music.layers.spectrogram_ops import uniform_int

AXES = ("both", "frequency", "time")


def _shifted_indices(length, shift):
    """Source indices `i - shift[b]` and whether they fall inside."""
    source = ops.arange(length, dtype="int32")[None, :] - shift[:, None]
    valid = (source >= 0) & (source < length)
    return ops.clip(source, 0, length - 1), valid


@keras.saving.register_keras_serializable(package="keras_music")
class RandomShift(SpectrogramAugmentation):
    """Shifts spectrograms in pitch or time, per example, in training.

    S3T's random shifting: with probability `p`, an example is shifted
    either along frequency (a pitch shift, in bins: one semitone per bin
    for a 12-bins-per-octave CQT) or along time (in frames), up or down by
    `s ~ U{shift_range}` steps:

    `output[b, f, t] = input[b, f - s_f, t - s_t]`,

    where exactly one of `s_f`, `s_t` is non-zero. Bins or frames shifted
    in from outside are set to `fill_value` (rolling would wrap the
    highest bins onto the lowest ones). With `axis="both"` the axis is
    drawn per example with equal odds. At inference the layer is the
    identity.

    Args:
        p: float. Probability that an example is shifted. Defaults to
            `0.4`.
        shift_range: tuple of two ints. Inclusive range of the shift size
            in steps. Defaults to `(1, 10)`.
        axis: str. `"both"`, `"frequency"` or `"time"`. Defaults to
            `"both"`.
        fill_value: float. Value of the bins or frames shifted in.
            Defaults to `0.0`.
        seed: int or `None`. Seed of the layer's random generator.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:
    >>> spec = np.random.rand(4, 84, 100).astype("float32")
    >>> RandomShift(p=1.0, seed=0)(spec, training=True).shape
    TensorShape([4, 84, 100])

    Input shape:
        `(batch, freq, frames)` or `(batch, freq, frames, channels)`.

    Output shape:
        Same as the input.

    Reference:
        - [Zhao et al., "S3T: Self-supervised pre-training with Swin
          Transformer for music classification", ICASSP 2022, §2.3](
          https://arxiv.org/abs/2202.10139)
    """

    def __init__(
        self,
        p=0.4,
        shift_range=(1, 10),
        axis="both",
        fill_value=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(p=p, seed=seed, **kwargs)
        self.shift_range = check_int_range("shift_range", shift_range)
        if axis not in AXES:
            raise ValueError(
                f"`axis` must be one of {AXES}. Received: axis={axis!r}"
            )
        self.axis = axis
        self.fill_value = float(fill_value)

    def augment(self, x):
        batch, bins, frames = dim(x, 0), dim(x, 1), dim(x, 2)
        seed = self.seed_generator
        size = uniform_int((batch,), *self.shift_range, seed)
        sign = ops.where(bernoulli(batch, 0.5, seed), 1, -1)
        apply = self.fires(batch)
        shift = ops.where(apply, sign * size, 0)
        if self.axis == "both":
            on_frequency = bernoulli(batch, 0.5, seed)
        else:
            on_frequency = ops.full((batch,), self.axis == "frequency")
        freq_shift = ops.where(on_frequency, shift, 0)
        time_shift = ops.where(on_frequency, 0, shift)

        bin_index, bin_valid = _shifted_indices(bins, freq_shift)
        frame_index, frame_valid = _shifted_indices(frames, time_shift)
        x = gather_frames(gather_bins(x, bin_index), frame_index)
        valid = bin_valid[:, :, None, None] & frame_valid[:, None, :, None]
        return ops.where(valid, x, self.fill_value)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "shift_range": self.shift_range,
                "axis": self.axis,
                "fill_value": self.fill_value,
            }
        )
        return config
