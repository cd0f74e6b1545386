import keras

from keras_music.layers.random_augmentation import SpectrogramAugmentation
from keras_music.layers.spectrogram_ops import apply_mask
from keras_music.layers.spectrogram_ops import dim
from keras_music.layers.spectrogram_ops import random_segment_mask
from keras_music.layers.validation import check_non_negative_int
from keras_music.layers.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_music")
class SpecAugment(SpectrogramAugmentation):
    """SpecAugment masking as used to train MAEST, per example.

    MAEST masks "up to 20 groups of 8 timestamps and up to 5 groups of 8
    frequency bands". Here each example draws `N_t ~ U{0, ...,
    max_time_masks}` groups of exactly `time_mask_width` consecutive
    frames and `N_f ~ U{0, ..., max_freq_masks}` groups of exactly
    `freq_mask_width` consecutive bins, each at a uniform position where
    it fits; groups may overlap, and the masked cells are set to
    `mask_value`. With probability `1 - p` an example is left alone
    (MAEST masks every example: `p=1`). Every channel of an example
    shares its masks. At inference the layer is the identity.

    Args:
        max_time_masks: int. Largest number of time groups. Defaults to
            `20`.
        time_mask_width: int. Frames per time group. Defaults to `8`.
        max_freq_masks: int. Largest number of frequency groups.
            Defaults to `5`.
        freq_mask_width: int. Bins per frequency group. Defaults to `8`.
        p: float. Probability that an example is masked. Defaults to
            `1.0`.
        mask_value: float. Value written into masked cells. Defaults to
            `0.0`.
        seed: int or `None`. Seed of the layer's random generator.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:
    >>> mel = np.random.rand(4, 96, 625).astype("float32")
    >>> SpecAugment(seed=0)(mel, training=True).shape
    TensorShape([4, 96, 625])

    Input shape:
        `(batch, freq, frames)` or `(batch, freq, frames, channels)`.

    Output shape:
        Same as the input.

    Reference:
        - [Alonso-Jiménez et al., "Efficient supervised training of audio
          transformers for music representation learning", ISMIR 2023,
          §4 (training)](https://arxiv.org/abs/2309.16418)
        - [Park et al., "SpecAugment", Interspeech 2019](
          https://arxiv.org/abs/1904.08779)
    """

    def __init__(
        self,
        max_time_masks=20,
        time_mask_width=8,
        max_freq_masks=5,
        freq_mask_width=8,
        p=1.0,
        mask_value=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(p=p, seed=seed, **kwargs)
        self.max_time_masks = check_non_negative_int(
            "max_time_masks", max_time_masks
        )
        self.time_mask_width = check_positive_int(
            "time_mask_width", time_mask_width
        )
        self.max_freq_masks = check_non_negative_int(
            "max_freq_masks", max_freq_masks
        )
        self.freq_mask_width = check_positive_int(
            "freq_mask_width", freq_mask_width
        )
        self.mask_value = float(mask_value)

    def augment(self, x):
        batch = dim(x, 0)
        apply = self.fires(batch)[:, None]
        for axis, max_masks, width in (
            (1, self.max_freq_masks, self.freq_mask_width),
            (2, self.max_time_masks, self.time_mask_width),
        ):
            if max_masks == 0:
                continue
            mask = random_segment_mask(
                batch,
                dim(x, axis),
                (0, max_masks),
                (width, width),
                self.seed_generator,
            )
            x = apply_mask(x, mask & apply, axis, self.mask_value)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_time_masks": self.max_time_masks,
                "time_mask_width": self.time_mask_width,
                "max_freq_masks": self.max_freq_masks,
                "freq_mask_width": self.freq_mask_width,
                "mask_value": self.mask_value,
            }
        )
        return config
