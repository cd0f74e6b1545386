import keras

from keras_music.layers.random_augmentation import SpectrogramAugmentation
from keras_music.layers.spectrogram_ops import apply_mask
from keras_music.layers.spectrogram_ops import check_int_range
from keras_music.layers.spectrogram_ops import dim
from keras_music.layers.spectrogram_ops import random_segment_mask
from keras_music.layers.validation import check_positive_int


@keras.saving.register_keras_serializable(package="keras_music")
class FrequencyMasking(SpectrogramAugmentation):
    """Masks random bands of frequency bins, per example, in training.

    S3T's random frequency masking: with probability `p`, an example gets
    `N ~ U{num_masks_range}` bands, each of `W ~ U{mask_width_range}`
    consecutive bins starting at a uniform position where it fits, set to
    `mask_value`. Bands may overlap. The paper constrains the total
    without giving the limit; `max_total_bins` sets one (bands are kept
    in order while their summed widths stay within it, the rest are
    dropped). Every example of a batch draws its own bands, and every
    channel of an example shares them. At inference the layer is the
    identity.

    Args:
        p: float. Probability that an example is masked. Defaults to
            `0.5`.
        num_masks_range: tuple of two ints. Inclusive range of the number
            of bands. Defaults to `(1, 5)`.
        mask_width_range: tuple of two ints. Inclusive range of a band's
            width in bins (clipped to the number of bins). Defaults to
            `(5, 30)`.
        max_total_bins: int or `None`. Limit on the summed band widths.
            Defaults to `None` (no limit).
        mask_value: float. Value written into masked bins. Defaults to
            `0.0`.
        seed: int or `None`. Seed of the layer's random generator; the
            same seed gives the same masks. Defaults to `None`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:
    >>> spec = np.ones((4, 84, 100), dtype="float32")
    >>> FrequencyMasking(p=1.0, seed=0)(spec, training=True).shape
    TensorShape([4, 84, 100])

    Input shape:
        `(batch, freq, frames)` or `(batch, freq, frames, channels)`.

    Output shape:
        Same as the input.

    Reference:
        - [Zhao et al., "S3T: Self-supervised pre-training with Swin
          Transformer for music classification", ICASSP 2022, §2.3](
          https://arxiv.org/abs/2202.10139)
        - [Park et al., "SpecAugment", Interspeech 2019](
          https://arxiv.org/abs/1904.08779)
    """

    def __init__(
        self,
        p=0.5,
        num_masks_range=(1, 5),
        mask_width_range=(5, 30),
        max_total_bins=None,
        mask_value=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(p=p, seed=seed, **kwargs)
        self.num_masks_range = check_int_range(
            "num_masks_range", num_masks_range
        )
        self.mask_width_range = check_int_range(
            "mask_width_range", mask_width_range
        )
        if max_total_bins is not None:
            max_total_bins = check_positive_int(
                "max_total_bins", max_total_bins
            )
        self.max_total_bins = max_total_bins
        self.mask_value = float(mask_value)

    def augment(self, x):
        batch = dim(x, 0)
        mask = random_segment_mask(
            batch,
            dim(x, 1),
            self.num_masks_range,
            self.mask_width_range,
            self.seed_generator,
            max_total=self.max_total_bins,
        )
        mask = mask & self.fires(batch)[:, None]
        return apply_mask(x, mask, 1, self.mask_value)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_masks_range": self.num_masks_range,
                "mask_width_range": self.mask_width_range,
                "max_total_bins": self.max_total_bins,
                "mask_value": self.mask_value,
            }
        )
        return config
