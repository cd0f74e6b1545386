import keras
import tensorflow as tf

from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.layers.validation import check_range
from keras_music.layers.waveform_ops import WaveformAugmentation
from keras_music.layers.waveform_ops import fast_fft_length
from keras_music.layers.waveform_ops import random_uniform
from keras_music.layers.waveform_ops import static_length


def _check_cutoffs(name, value, sample_rate):
    low, high = check_range(name, value, low=0.0, high=sample_rate / 2)
    if low <= 0.0:
        raise ValueError(
            f"`{name}` must hold positive cut-off frequencies. "
            f"Received: {name}={value!r}"
        )
    return low, high


@keras.saving.register_keras_serializable(package="keras_music")
class RandomFilter(WaveformAugmentation):
    """Applies a random high-pass or low-pass filter.

    Removes part of the spectrum so that an encoder cannot rely on one
    band alone. Each augmented example is high-passed or low-passed (one
    or the other with equal chance) with its own cut-off frequency, drawn
    uniformly from `high_pass_range` or `low_pass_range` (Hz, at
    `sample_rate`).

    The filter is applied in the FFT domain, vectorised over the batch: the
    spectrum of the zero-padded signal (padded to at least twice its
    length, so the filter's impulse response does not wrap around) is
    multiplied by the magnitude response of a Butterworth filter of the
    given `order`, `1 / sqrt(1 + (f / fc) ** (2 * order))` for low-pass and
    `1 / sqrt(1 + (fc / f) ** (2 * order))` for high-pass. The filter is
    zero-phase (no delay): the response falls by `6 * order` dB per octave
    in the stop band and is -3 dB at the cut-off. The default order 2
    has the slope of the biquad filters CLMR uses. Identity at inference.

    Args:
        sample_rate: int. Sample rate of the audio in Hz. Defaults to
            22050.
        high_pass_range: pair of floats. `(min, max)` high-pass cut-off in
            Hz, within `(0, sample_rate / 2]`. Defaults to
            `(200.0, 1200.0)` (CLMR).
        low_pass_range: pair of floats. `(min, max)` low-pass cut-off in
            Hz, within `(0, sample_rate / 2]`. Defaults to
            `(2200.0, 4000.0)` (CLMR).
        order: int. Butterworth order of the magnitude response. Defaults
            to 2.
        p: float. Probability that an example is filtered. Defaults to 0.8
            (CLMR).
        seed: int or None. Seed of the layer's random generator. Defaults
            to None.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Example:

    >>> layer = RandomFilter(sample_rate=16000, p=1.0, seed=0)
    >>> audio = keras.random.normal((2, 1600), seed=1)
    >>> layer(audio, training=True).shape
    TensorShape([2, 1600])

    Input shape:
        `(batch, samples)` or `(samples,)` float waveforms.

    Output shape:
        Same as the input.

    Reference:
        CLMR (Spijkervet & Burgoyne, ISMIR 2021), Sec. 3.1; multi-format
        contrastive learning (papers/multiformat-contrastive.txt), Sec. 3.
    """

    def __init__(
        self,
        sample_rate=22050,
        high_pass_range=(200.0, 1200.0),
        low_pass_range=(2200.0, 4000.0),
        order=2,
        p=0.8,
        seed=None,
        **kwargs,
    ):
        super().__init__(p=p, seed=seed, **kwargs)
        self.sample_rate = check_positive("sample_rate", sample_rate)
        self.high_pass_range = _check_cutoffs(
            "high_pass_range", high_pass_range, sample_rate
        )
        self.low_pass_range = _check_cutoffs(
            "low_pass_range", low_pass_range, sample_rate
        )
        self.order = check_positive_int("order", order)

    def augment(self, audio):
        batch_size = tf.shape(audio)[0]
        high_cutoff = random_uniform(
            batch_size, self.high_pass_range, self.seed_generator
        )
        low_cutoff = random_uniform(
            batch_size, self.low_pass_range, self.seed_generator
        )
        is_high_pass = (
            keras.random.uniform((batch_size,), seed=self.seed_generator) < 0.5
        )
        samples = static_length(audio)
        # At least twice the length, at a smooth FFT size (2 * 3 ** 10
        # points for CLMR's 59049 samples cost 1.5 times 15 * 2 ** 13).
        fft_length = fast_fft_length(2 * samples)
        spectrum = tf.signal.rfft(audio, [fft_length])
        freqs = (
            tf.cast(tf.range(fft_length // 2 + 1), "float32")
            * float(self.sample_rate)
            / tf.cast(fft_length, "float32")
        )
        # Both responses are 1 / sqrt(1 + exp(2 n s (ln f - ln fc))), with
        # s = 1 for low-pass and -1 for high-pass: one exp per bin
        # instead of two powers. f is floored at a tiny value, so that DC
        # gets gain 0 (the exp overflows to inf) through a high-pass
        # without a NaN.
        log_freqs = tf.math.log(tf.maximum(freqs, 1e-6))[tf.newaxis, :]
        cutoff = tf.where(is_high_pass, high_cutoff, low_cutoff)
        slope = tf.where(is_high_pass, -2.0, 2.0) * self.order
        gain = tf.math.rsqrt(
            1.0
            + tf.exp(
                slope[:, tf.newaxis]
                * (log_freqs - tf.math.log(cutoff)[:, tf.newaxis])
            )
        )
        filtered = tf.signal.irfft(
            tf.complex(
                tf.math.real(spectrum) * gain, tf.math.imag(spectrum) * gain
            ),
            [fft_length],
        )
        return filtered[:, :samples]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "high_pass_range": self.high_pass_range,
                "low_pass_range": self.low_pass_range,
                "order": self.order,
            }
        )
        return config
