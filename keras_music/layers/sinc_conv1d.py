import keras
import numpy as np
from keras import ops

from keras_music.layers import validation

PADDINGS = ("valid", "same", "reflect")


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


@keras.saving.register_keras_serializable(package="keras_music")
class SincConv1D(keras.layers.Layer):
    """Learnable band-pass filter bank on raw audio (SincNet).

    Each of the `filters` kernels is a band-pass filter built from two
    parameters only, its low cut-off and its bandwidth in Hz: the
    difference of two windowed sinc low-passes,

        h[n] = (2 f_hi sinc(2 f_hi n / sr) - 2 f_lo sinc(2 f_lo n / sr))
               * w[n] / (2 (f_hi - f_lo)),

    for `n = -(K-1)/2 … (K-1)/2`, with `f_lo = min_low_hz + |low_hz|`,
    `f_hi = clip(f_lo + min_band_hz + |band_hz|, min_low_hz, sr / 2)`, `w`
    the symmetric Hamming window of length `K` (`np.hamming(K)`, 1 at the
    centre) and `sinc(x) = sin(pi x) / (pi x)`. The kernels are symmetric
    and their centre tap is 1. Cut-offs are initialised mel-spaced: the
    `filters + 1` mel-spaced edges from 30 Hz to `sr/2 - (min_low_hz +
    min_band_hz)` give each filter's initial `low_hz` (its lower edge) and
    `band_hz` (the distance to its upper edge). It is the first layer of
    the PASE/PASE+ encoders.

    The output is a channels-last time series `(batch, frames, filters)`,
    the layout `keras.layers.Conv1D` and the rest of the encoder use.

    Args:
        filters: int. Number of band-pass filters. Defaults to 64.
        kernel_size: int. Odd kernel length in samples. Defaults to 251.
        sample_rate: int. Sample rate of the input in Hz. Defaults to
            16000.
        strides: int. Hop between output frames in samples. Defaults to 1.
        padding: str. `"valid"` (no padding), `"same"` (zeros) or
            `"reflect"` (the input mirrored at its ends, without repeating
            the edge sample): `"same"` and `"reflect"` pad
            `(kernel_size - 1) // 2` samples on each side. Defaults to
            `"reflect"`, as in PASE.
        min_low_hz: float. Smallest low cut-off. Defaults to 50.
        min_band_hz: float. Smallest bandwidth. Defaults to 50.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:

    >>> audio = np.random.uniform(-1, 1, size=(2, 16000)).astype("float32")
    >>> SincConv1D(filters=64, kernel_size=251)(audio).shape
    TensorShape([2, 16000, 64])

    Input shape:
        `(batch, samples)` or `(batch, samples, 1)` float audio.

    Output shape:
        `(batch, frames, filters)` with `frames = ceil(samples / strides)`
        for `"same"`/`"reflect"` and `(samples - kernel_size) // strides
        + 1` for `"valid"`. `"reflect"` needs `samples > (kernel_size -
        1) // 2`.

    Reference:
        - [Ravanelli and Bengio, Speaker Recognition from Raw Waveform
          with SincNet, SLT 2018](https://arxiv.org/abs/1808.00158),
          section 2; its use in PASE: [Pascual et al., Learning
          Problem-agnostic Speech Representations from Multiple
          Self-supervised Tasks, Interspeech 2019](
          https://arxiv.org/abs/1904.03416), section 2.1.
    """

    def __init__(
        self,
        filters=64,
        kernel_size=251,
        sample_rate=16000,
        strides=1,
        padding="reflect",
        min_low_hz=50.0,
        min_band_hz=50.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.check_positive_int("filters", filters)
        validation.check_positive_int("kernel_size", kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(
                "`kernel_size` must be odd (a symmetric filter with a "
                f"centre tap). Received: kernel_size={kernel_size}"
            )
        validation.check_positive("sample_rate", sample_rate)
        validation.check_positive_int("strides", strides)
        if padding not in PADDINGS:
            raise ValueError(
                f"`padding` must be one of {PADDINGS}. "
                f"Received: padding={padding!r}"
            )
        validation.check_positive("min_low_hz", min_low_hz)
        validation.check_positive("min_band_hz", min_band_hz)
        # The mel initialisation spans 30 Hz .. sr/2 - (min_low + min_band).
        if sample_rate / 2 - (min_low_hz + min_band_hz) <= 30.0:
            raise ValueError(
                "`sample_rate` / 2 must exceed `min_low_hz` + `min_band_hz` "
                f"+ 30 Hz. Received: sample_rate={sample_rate}, "
                f"min_low_hz={min_low_hz}, min_band_hz={min_band_hz}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.sample_rate = sample_rate
        self.strides = strides
        self.padding = padding
        self.min_low_hz = min_low_hz
        self.min_band_hz = min_band_hz

        half = (kernel_size - 1) // 2
        # n / sr for the left half (n = -half .. -1); the right half is its
        # mirror image and the centre tap is set apart (0 / 0 there).
        self._t_left = np.arange(-half, 0, dtype="float64") / sample_rate
        self._window_left = np.hamming(kernel_size)[:half]

    @property
    def input_dtype(self):
        # Audio stays float32 under mixed precision.
        return "float32"

    def build(self, input_shape):
        high = self.sample_rate / 2 - (self.min_low_hz + self.min_band_hz)
        edges = _mel_to_hz(
            np.linspace(_hz_to_mel(30.0), _hz_to_mel(high), self.filters + 1)
        )
        self.low_hz = self.add_weight(
            name="low_hz",
            shape=(self.filters,),
            initializer=keras.initializers.Constant(edges[:-1]),
            dtype="float32",
            # Hz in float16 would be rounded to 4 Hz near 8 kHz.
            autocast=False,
        )
        self.band_hz = self.add_weight(
            name="band_hz",
            shape=(self.filters,),
            initializer=keras.initializers.Constant(np.diff(edges)),
            dtype="float32",
            autocast=False,
        )

    def cutoffs(self):
        """The filters' `(low, high)` cut-offs in Hz, each `(filters,)`."""
        low = self.min_low_hz + ops.abs(ops.cast(self.low_hz, "float32"))
        high = ops.clip(
            low + self.min_band_hz + ops.abs(ops.cast(self.band_hz, "float32")),
            self.min_low_hz,
            self.sample_rate / 2,
        )
        return low, high

    def kernel(self):
        """The band-pass kernels as a `(kernel_size, filters)` tensor."""
        low, high = self.cutoffs()
        band = high - low
        t = ops.convert_to_tensor(self._t_left[:, None], "float32")
        window = ops.convert_to_tensor(self._window_left[:, None], "float32")
        # 2 f sinc(2 f t) = sin(2 pi f t) / (pi t), for both cut-offs.
        left = (
            (ops.sin(2 * np.pi * high * t) - ops.sin(2 * np.pi * low * t))
            / (np.pi * t)
            * window
        )
        centre = ops.expand_dims(2.0 * band, 0)
        kernel = ops.concatenate([left, centre, ops.flip(left, 0)], axis=0)
        return kernel / (2.0 * band)

    def call(self, inputs):
        validation.check_rank(inputs, (2, 3), "SincConv1D input")
        if len(inputs.shape) == 3 and inputs.shape[-1] != 1:
            raise ValueError(
                "SincConv1D input must be mono, `(batch, samples)` or "
                f"`(batch, samples, 1)`. Received: shape={tuple(inputs.shape)}"
            )
        x = ops.cast(inputs, "float32")
        if len(x.shape) == 2:
            x = ops.expand_dims(x, -1)
        half = (self.kernel_size - 1) // 2
        if self.padding != "valid":
            length = x.shape[1]
            if self.padding == "reflect" and length is not None:
                if length <= half:
                    raise ValueError(
                        "SincConv1D input must have more than "
                        f"{half} samples for reflect padding. "
                        f"Received: shape={tuple(inputs.shape)}"
                    )
            mode = "reflect" if self.padding == "reflect" else "constant"
            x = ops.pad(x, ((0, 0), (half, half), (0, 0)), mode=mode)
        kernel = ops.expand_dims(self.kernel(), 1)
        outputs = ops.conv(x, kernel, strides=self.strides, padding="valid")
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        if length is not None:
            if self.padding == "valid":
                length = (length - self.kernel_size) // self.strides + 1
            else:
                length = -(-length // self.strides)
        return (input_shape[0], length, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "sample_rate": self.sample_rate,
                "strides": self.strides,
                "padding": self.padding,
                "min_low_hz": self.min_low_hz,
                "min_band_hz": self.min_band_hz,
            }
        )
        return config
