import keras

from keras_music.layers.frequency_masking import FrequencyMasking
from keras_music.layers.random_multi_crop import MODES
from keras_music.layers.random_multi_crop import RandomMultiCrop
from keras_music.layers.random_shift import RandomShift
from keras_music.layers.time_masking import TimeMasking
from keras_music.layers.time_warping import TimeWarping
from keras_music.layers.validation import check_probability
from keras_music.layers.validation import check_range


@keras.saving.register_keras_serializable(package="keras_music")
class S3TAugment(keras.layers.Layer):
    """S3T's augmentation pipeline: two augmented views of each example.

    Cuts two random crops of each spectrogram (`RandomMultiCrop`, ratios
    `U[0.1, 0.9]`, brought to `output_length` frames), then passes each
    crop through time warping (p 0.4), random pitch/time shifting (p 0.4),
    frequency masking (p 0.5) and time masking (p 0.5), each drawn
    independently per example and per view. The paper does not fix the
    order of the four transforms; warping and shifting come first here so
    that the masks stay rectangular and keep their sizes. Set a
    probability to `0` to leave a transform out. The pre-processor
    (`TimeFolding` or `FrequencyTiling`) comes after this layer. At
    inference both views are the input brought to `output_length`.

    Args:
        output_length: int or `None`. Frames of each view. Defaults to
            `None` (the input length).
        crop_ratio_range: tuple of two floats. Crop length as a fraction
            of the input length. Defaults to `(0.1, 0.9)`.
        crop_mode: str. `"resize"` or `"pad"`, see `RandomMultiCrop`.
            Defaults to `"resize"`.
        time_warp_p: float. Probability of time warping. Defaults to
            `0.4`.
        shift_p: float. Probability of a pitch or time shift. Defaults to
            `0.4`.
        freq_mask_p: float. Probability of frequency masking. Defaults to
            `0.5`.
        time_mask_p: float. Probability of time masking. Defaults to
            `0.5`.
        mask_value: float. Value of masked cells and of cells shifted in.
            Defaults to `0.0`.
        seed: int or `None`. Seed of the pipeline; each transform gets
            its own generator seeded from it. Defaults to `None`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:
    >>> cqt = np.random.rand(2, 84, 50).astype("float32")
    >>> view_1, view_2 = S3TAugment(seed=0)(cqt, training=True)
    >>> view_2.shape
    TensorShape([2, 84, 50])

    Input shape:
        `(batch, freq, frames)` or `(batch, freq, frames, channels)`.

    Output shape:
        A tuple of two tensors `(batch, freq, output_length)` (channels
        kept).

    Reference:
        - [Zhao et al., "S3T: Self-supervised pre-training with Swin
          Transformer for music classification", ICASSP 2022, §2.3](
          https://arxiv.org/abs/2202.10139)
    """

    def __init__(
        self,
        output_length=None,
        crop_ratio_range=(0.1, 0.9),
        crop_mode="resize",
        time_warp_p=0.4,
        shift_p=0.4,
        freq_mask_p=0.5,
        time_mask_p=0.5,
        mask_value=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Checked here so that errors name this layer's arguments.
        check_range("crop_ratio_range", crop_ratio_range, low=0.0, high=1.0)
        if crop_mode not in MODES:
            raise ValueError(
                f"`crop_mode` must be one of {MODES}. "
                f"Received: crop_mode={crop_mode!r}"
            )
        self.time_warp_p = check_probability("time_warp_p", time_warp_p)
        self.shift_p = check_probability("shift_p", shift_p)
        self.freq_mask_p = check_probability("freq_mask_p", freq_mask_p)
        self.time_mask_p = check_probability("time_mask_p", time_mask_p)
        self.mask_value = float(mask_value)
        self.seed = seed

        # === Layers ===
        def sub_seed(offset):
            # Distinct seeds, so the transforms do not draw the same numbers.
            return None if seed is None else seed + offset

        sub_kwargs = {"dtype": self.dtype_policy}
        self.crop = RandomMultiCrop(
            num_crops=2,
            ratio_range=crop_ratio_range,
            output_length=output_length,
            mode=crop_mode,
            pad_value=mask_value,
            seed=sub_seed(0),
            **sub_kwargs,
        )
        self.time_warping = TimeWarping(
            p=self.time_warp_p, seed=sub_seed(1), **sub_kwargs
        )
        self.shift = RandomShift(
            p=self.shift_p,
            fill_value=mask_value,
            seed=sub_seed(2),
            **sub_kwargs,
        )
        self.frequency_masking = FrequencyMasking(
            p=self.freq_mask_p,
            mask_value=mask_value,
            seed=sub_seed(3),
            **sub_kwargs,
        )
        self.time_masking = TimeMasking(
            p=self.time_mask_p,
            mask_value=mask_value,
            seed=sub_seed(4),
            **sub_kwargs,
        )
        self.output_length = self.crop.output_length
        self.crop_ratio_range = self.crop.ratio_range
        self.crop_mode = self.crop.mode

    def call(self, inputs, training=None):
        views = []
        for view in self.crop(inputs, training=training):
            for transform in (
                self.time_warping,
                self.shift,
                self.frequency_masking,
                self.time_masking,
            ):
                view = transform(view, training=training)
            views.append(view)
        return tuple(views)

    def compute_output_shape(self, input_shape):
        return self.crop.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_length": self.output_length,
                "crop_ratio_range": self.crop_ratio_range,
                "crop_mode": self.crop_mode,
                "time_warp_p": self.time_warp_p,
                "shift_p": self.shift_p,
                "freq_mask_p": self.freq_mask_p,
                "time_mask_p": self.time_mask_p,
                "mask_value": self.mask_value,
                "seed": self.seed,
            }
        )
        return config
