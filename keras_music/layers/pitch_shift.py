import math

import keras
import tensorflow as tf

from keras_music.layers.validation import check_positive_int
from keras_music.layers.validation import check_range
from keras_music.layers.waveform_ops import WaveformAugmentation
from keras_music.layers.waveform_ops import random_uniform


def _wrap(phase):
    """Wraps phases to [-pi, pi)."""
    return phase - 2.0 * math.pi * tf.floor((phase + math.pi) / (2 * math.pi))


def _running_sum(x, block=64):
    """`tf.cumsum(x, axis=-1)` of a rank-3 `x`, two to three times faster
    on a CPU: sums within blocks of `block` are a product with a
    triangular matrix of ones, and the blocks' totals are added after."""
    batch, rows, length = tf.unstack(tf.shape(x))
    blocks = -(-length // block)
    x = tf.pad(x, [[0, 0], [0, 0], [0, blocks * block - length]])
    x = tf.reshape(x, [batch, rows, blocks, block])
    within = tf.matmul(x, tf.linalg.band_part(tf.ones((block, block)), 0, -1))
    before = tf.cumsum(within[..., -1], axis=-1, exclusive=True)
    sums = tf.reshape(within + before[..., tf.newaxis], [batch, rows, -1])
    return sums[..., :length]


@keras.saving.register_keras_serializable(package="keras_music")
class PitchShift(WaveformAugmentation):
    """Shifts the pitch of waveforms by a random number of semitones.

    Each augmented example gets its own shift, drawn uniformly (not
    rounded) from `semitone_range`, i.e. a frequency ratio
    `alpha = 2 ** (semitones / 12)`. The shift keeps the length and the
    tempo: it is a phase vocoder that moves energy along the frequency
    axis of the short-time Fourier transform. For every frame, output
    bin `k` takes the magnitude of input position `k / alpha` (linearly
    interpolated between bins) and the instantaneous frequency of the
    nearest input bin multiplied by `alpha`; output phases are the
    running sum of those frequencies times the hop, so partials stay
    coherent from frame to frame; the inverse STFT with a dual window
    gives the waveform back, scaled to the input's RMS level. With a shift
    of 0 the layer reconstructs its input. Everything is batched
    TensorFlow ops (STFT, gathers, a cumulative sum), so the shift runs in
    `tf.data` and on accelerators. Identity at inference.

    This differs from librosa's `pitch_shift` (time-stretch then
    resample), which needs a different output length per example before
    resampling and so does not vectorise over a batch with per-example
    shifts; the frequency ratio of every partial is the same.

    Args:
        semitone_range: pair of floats. `(min, max)` shift in semitones.
            Defaults to `(-7.0, 7.0)` (CLMR); the multi-format paper uses
            `(-5.0, 5.0)`.
        n_fft: int. STFT frame length. Defaults to 2048 (93 ms at
            22.05 kHz).
        hop_length: int. STFT hop, at most `n_fft // 2` (the Hann window
            needs that overlap to be inverted). Defaults to 512.
        p: float. Probability that an example is shifted. Defaults to 0.6
            (CLMR).
        seed: int or None. Seed of the layer's random generator. Defaults
            to None.
        **kwargs: Base layer arguments (`name`, `dtype`).

    Example:

    >>> layer = PitchShift(semitone_range=(12.0, 12.0), n_fft=256,
    ...                    hop_length=64, p=1.0)
    >>> audio = keras.random.normal((2, 1000), seed=1)
    >>> layer(audio, training=True).shape
    TensorShape([2, 1000])

    Input shape:
        `(batch, samples)` or `(samples,)` float waveforms.

    Output shape:
        Same as the input.

    Reference:
        CLMR (Spijkervet & Burgoyne, ISMIR 2021), Sec. 3.1; multi-format
        contrastive learning (papers/multiformat-contrastive.txt), Sec. 3;
        Laroche & Dolson, "New phase-vocoder techniques for pitch-shifting,
        harmonizing and other exotic effects", WASPAA 1999.
    """

    def __init__(
        self,
        semitone_range=(-7.0, 7.0),
        n_fft=2048,
        hop_length=512,
        p=0.6,
        seed=None,
        **kwargs,
    ):
        super().__init__(p=p, seed=seed, **kwargs)
        self.semitone_range = check_range("semitone_range", semitone_range)
        self.n_fft = check_positive_int("n_fft", n_fft)
        self.hop_length = check_positive_int("hop_length", hop_length)
        if self.hop_length > self.n_fft // 2:
            raise ValueError(
                "`hop_length` must be at most n_fft // 2 = "
                f"{self.n_fft // 2}. Received: hop_length={hop_length}"
            )

    def augment(self, audio):
        batch_size = tf.shape(audio)[0]
        samples = tf.shape(audio)[-1]
        semitones = random_uniform(
            batch_size, self.semitone_range, self.seed_generator
        )
        alpha = tf.pow(2.0, semitones / 12.0)[:, tf.newaxis]

        # Padding by n_fft on both sides puts every input sample where the
        # overlapping windows sum to a constant, so inversion is exact.
        padded = tf.pad(audio, [[0, 0], [self.n_fft, self.n_fft]])
        window = tf.signal.hann_window
        # (batch, frames, bins).
        stft = tf.signal.stft(
            padded,
            self.n_fft,
            self.hop_length,
            fft_length=self.n_fft,
            window_fn=window,
            pad_end=True,
        )
        bins = self.n_fft // 2 + 1
        real = tf.math.real(stft)
        imag = tf.math.imag(stft)
        magnitude = tf.sqrt(tf.square(real) + tf.square(imag))
        # The phase change of every bin from one frame to the next is the
        # angle of S_t * conj(S_{t-1}): one atan2 per bin and frame, and
        # already wrapped. (`tf.math.angle` is several times slower than
        # `tf.math.atan2` on a CPU.) A silent bin (the padding is silent)
        # has phase 0, so the step out of it is the phase of S_t: its
        # conjugate is replaced by 1.
        previous_real = tf.where(magnitude[:, :-1] > 0.0, real[:, :-1], 1.0)
        previous_imag = imag[:, :-1]
        step = tf.math.atan2(
            imag[:, 1:] * previous_real - real[:, 1:] * previous_imag,
            real[:, 1:] * previous_real + imag[:, 1:] * previous_imag,
        )
        # The gathers below run along the bin axis, which is fastest when
        # bins are rows: (batch, bins, frames).
        magnitude = tf.transpose(magnitude, [0, 2, 1])
        step = tf.transpose(step, [0, 2, 1])

        position = tf.range(bins, dtype="float32")[tf.newaxis, :] / alpha
        lower = tf.minimum(tf.cast(tf.floor(position), "int32"), bins - 1)
        upper = tf.minimum(lower + 1, bins - 1)
        frac = (position - tf.cast(lower, "float32"))[:, :, tf.newaxis]
        inside = (position <= bins - 1)[:, :, tf.newaxis]
        lower_magnitude = tf.gather(magnitude, lower, batch_dims=1)
        new_magnitude = lower_magnitude + frac * (
            tf.gather(magnitude, upper, batch_dims=1) - lower_magnitude
        )
        new_magnitude = tf.where(inside, new_magnitude, 0.0)

        # Phase advance per hop of each bin: its centre frequency's share
        # plus the deviation from it, i.e. the instantaneous frequency.
        nearest = tf.minimum(tf.cast(tf.round(position), "int32"), bins - 1)
        centre = (
            2.0
            * math.pi
            * self.hop_length
            / self.n_fft
            * tf.cast(nearest, "float32")[:, :, tf.newaxis]
        )
        advance = centre + _wrap(
            tf.gather(step, nearest, batch_dims=1) - centre
        )
        new_advance = _wrap(alpha[:, :, tf.newaxis] * advance)

        # Multiplying bin k by (-1) ** k moves the time origin of every
        # frame to the window centre. Then the bins of one partial share a
        # phase, and moving them together to other bins keeps them in
        # phase (otherwise neighbours cancel and the level drops). The
        # factor cancels in the phase steps, so it only enters the first
        # frame's phases and, as pi * (k % 2), the output's.
        odd = math.pi * tf.cast(tf.range(bins) % 2, "float32")
        first = tf.math.atan2(imag[:, 0], real[:, 0]) + odd
        start = tf.gather(first, nearest, batch_dims=1) + odd
        new_phase = tf.concat(
            [
                start[:, :, tf.newaxis],
                start[:, :, tf.newaxis] + _running_sum(new_advance),
            ],
            axis=-1,
        )
        new_magnitude = tf.transpose(new_magnitude, [0, 2, 1])
        new_phase = tf.transpose(new_phase, [0, 2, 1])
        new_stft = tf.complex(
            new_magnitude * tf.cos(new_phase), new_magnitude * tf.sin(new_phase)
        )
        shifted = tf.signal.inverse_stft(
            new_stft,
            self.n_fft,
            self.hop_length,
            fft_length=self.n_fft,
            window_fn=tf.signal.inverse_stft_window_fn(
                self.hop_length, forward_window_fn=window
            ),
        )
        shifted = shifted[:, self.n_fft : self.n_fft + samples]
        # Moving a partial between bins changes the level it is rebuilt at
        # (by up to about 4 dB, depending on where it lands among the
        # bins), so the shifted signal gets the input's RMS back.
        gain = tf.math.divide_no_nan(
            tf.norm(audio, axis=-1, keepdims=True),
            tf.norm(shifted, axis=-1, keepdims=True),
        )
        return shifted * gain

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "semitone_range": self.semitone_range,
                "n_fft": self.n_fft,
                "hop_length": self.hop_length,
            }
        )
        return config
