import keras
from keras import ops

from keras_music.layers.random_augmentation import SpectrogramAugmentation
from keras_music.layers.spectrogram_ops import apply_mask
from keras_music.layers.spectrogram_ops import check_int_range
from keras_music.layers.spectrogram_ops import dim
from keras_music.layers.spectrogram_ops import random_segment_mask
from keras_music.layers.validation import check_probability
from keras_music.layers.validation import check_range


@keras.saving.register_keras_serializable(package="keras_music")
class TimeMasking(SpectrogramAugmentation):
    """Masks random runs of frames, per example, in training.

    S3T's random time masking: with probability `p`, an example of `T`
    frames gets `N ~ U{num_masks_range}` segments, each of
    `round(T * r)` frames with `r ~ U[mask_ratio_range]`, starting at a
    uniform position where it fits, set to `mask_value`. Segments may
    overlap. The total is limited to `floor(max_total_ratio * T)` frames:
    segments are kept in order while their summed lengths stay within the
    limit and the rest are dropped, so at most 40% of the frames are
    masked with the defaults. Every example of a batch draws its own
    segments, and every channel of an example shares them. At inference
    the layer is the identity.

    Args:
        p: float. Probability that an example is masked. Defaults to
            `0.5`.
        num_masks_range: tuple of two ints. Inclusive range of the number
            of segments. Defaults to `(1, 10)`.
        mask_ratio_range: tuple of two floats. Range of a segment's length
            as a fraction of the number of frames. Defaults to
            `(0.01, 0.2)`.
        max_total_ratio: float or `None`. Limit on the summed segment
            lengths as a fraction of the number of frames. Defaults to
            `0.4`; `None` means no limit.
        mask_value: float. Value written into masked frames. Defaults to
            `0.0`.
        seed: int or `None`. Seed of the layer's random generator; the
            same seed gives the same masks. Defaults to `None`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:
    >>> spec = np.ones((4, 84, 100), dtype="float32")
    >>> TimeMasking(p=1.0, seed=0)(spec, training=True).shape
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
        num_masks_range=(1, 10),
        mask_ratio_range=(0.01, 0.2),
        max_total_ratio=0.4,
        mask_value=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(p=p, seed=seed, **kwargs)
        self.num_masks_range = check_int_range(
            "num_masks_range", num_masks_range
        )
        self.mask_ratio_range = check_range(
            "mask_ratio_range", mask_ratio_range, low=0.0, high=1.0
        )
        if max_total_ratio is not None:
            max_total_ratio = check_probability(
                "max_total_ratio", max_total_ratio
            )
        self.max_total_ratio = max_total_ratio
        self.mask_value = float(mask_value)

    def augment(self, x):
        batch, frames = dim(x, 0), dim(x, 2)
        max_total = None
        if self.max_total_ratio is not None:
            max_total = ops.cast(
                ops.floor(self.max_total_ratio * ops.cast(frames, "float32")),
                "int32",
            )
        mask = random_segment_mask(
            batch,
            frames,
            self.num_masks_range,
            self.mask_ratio_range,
            self.seed_generator,
            width_as_ratio=True,
            max_total=max_total,
        )
        mask = mask & self.fires(batch)[:, None]
        return apply_mask(x, mask, 2, self.mask_value)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_masks_range": self.num_masks_range,
                "mask_ratio_range": self.mask_ratio_range,
                "max_total_ratio": self.max_total_ratio,
                "mask_value": self.mask_value,
            }
        )
        return config
