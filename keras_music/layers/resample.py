"""Band-limited resampling between rational rates, in TensorFlow core ops.

The one resampler of the library: `resample` for a whole signal (inside a
SavedModel graph, the input rate may be a tensor read from a WAV header),
`ResampleStream` for a long file read in blocks (the command line). Both
run the same code on the same filter, so a file resampled whole and in
blocks gives the same samples (to float32 rounding of the matrix products:
measured bit-identical on white noise; tested to 1e-6).

The filter is a windowed sinc evaluated at the exact fractional positions
of the output samples (a polyphase filter bank for the ratio
`up / down = target_rate / rate` in lowest terms):

- cut-off (-6 dB) at `ROLLOFF = 0.95` of the lower of the two Nyquist
  frequencies;
- `ZERO_CROSSINGS = 56` zero crossings of that sinc on each side, i.e.
  112 / 0.95 = 118 samples of the lower rate in all (325 input samples
  from 44.1 to 16 kHz, 118 from 16 to 44.1 kHz);
- a Kaiser window, `BETA = 9.0`.

Measured on sine sweeps (see `tests/layers/resample_test.py`): passband
within 2.3e-5 of the exact sine (-0.0002 dB) up to 0.90 of the lower
Nyquist frequency; stopband attenuation at least 90.8 dB from 1.0 of it
to the input's Nyquist frequency (aliases of 44.1 kHz content above 8 kHz
in a 16 kHz output are >= 90.8 dB down; the worst is just above 1.0,
most of the band is below -97 dB); the transition between 0.90 and 1.0.
It equals `scipy.signal.resample_poly` with this filter to 1.3e-6
(float32), and agrees with soxr's very-high-quality resampler to 1.4e-4
on a chirp of amplitude 0.5 to 0.8 of the Nyquist frequency.

The computation per block of output samples is a gather of overlapping
input frames and one batched matrix product with the filter bank (no
`py_function`, no FFT), so it also converts to TFLite builtins. Five
minutes of 44.1 kHz audio take about 0.4 s to resample to 16 kHz on two
CPU cores (soxr's streaming resampler: 0.05 s): a small part of tagging
them.
"""

import functools
import math

import numpy as np
import tensorflow as tf

ZERO_CROSSINGS = 56
ROLLOFF = 0.95
BETA = 9.0
# Terms of the power series of I0 (the Kaiser window): the last term is
# below 1e-20 of the sum for beta <= 12.
_I0_TERMS = 32


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def _bessel_i0(x):
    """I0 by its power series: elementwise core ops only (TFLite has no
    Bessel function)."""
    quarter = tf.square(x) / 4.0
    term = tf.ones_like(x)
    total = tf.ones_like(x)
    for k in range(1, _I0_TERMS):
        term = term * quarter / float(k * k)
        total = total + term
    return total


class _Plan:
    """The filter bank for one ratio, and the sizes that go with it.

    Output samples come in super-periods of `U = c * up` samples, which
    take `D = c * down` input samples: every super-period uses the same
    filter bank. A super-period's outputs are split into `G` groups of
    `n` consecutive outputs; group `g` reads the `L` input samples from
    `a[g]` on (counted from `K` samples before the super-period), so
    that one group is one `(L,) x (L, n)` product.
    """

    def __init__(self, rate, target_rate):
        target_rate = int(target_rate)
        rate = tf.cast(rate, tf.int32)
        positive = tf.debugging.assert_positive(
            rate, message="the sample rate must be positive"
        )
        with tf.control_dependencies([positive]):
            rate = tf.identity(rate)
        divisors = tf.constant(_divisors(target_rate), tf.int32)
        # gcd(rate, target_rate): the largest divisor of the target that
        # divides the rate (no loop in the graph).
        common = tf.reduce_max(
            tf.where(tf.math.floormod(rate, divisors) == 0, divisors, 1)
        )
        up = target_rate // common
        down = rate // common
        upf, downf = tf.cast(up, tf.float32), tf.cast(down, tf.float32)
        # The integer products below stay under up * max(up, down).
        fine = tf.debugging.assert_less(
            upf * tf.maximum(upf, downf),
            2.0**31,
            message=f"the ratio of the sample rate to {target_rate} Hz is "
            "too fine to resample (its terms, in lowest terms, multiply "
            "past 2**31)",
        )
        with tf.control_dependencies([fine]):
            up, down = tf.identity(up), tf.identity(down)
        fc = ROLLOFF * tf.minimum(1.0, upf / downf)
        half_width = ZERO_CROSSINGS / fc  # in input samples
        K = tf.cast(tf.math.ceil(half_width), tf.int32)
        # Super-periods long enough that a group's frames barely overlap.
        c = tf.maximum(1, (2 * K + down - 1) // down)
        U, D = c * up, c * down
        G = tf.clip_by_value(
            tf.cast(
                tf.round(
                    tf.cast(D, tf.float32) / (2.0 * tf.cast(K, tf.float32))
                ),
                tf.int32,
            ),
            1,
            U,
        )
        n = (U + G - 1) // G
        G = (U + n - 1) // n
        L = (
            tf.cast(
                tf.math.ceil(tf.cast(n, tf.float32) * downf / upf), tf.int32
            )
            + 2 * K
            + 3
        )
        # Output P of a super-period lies at input time P * down / up
        # = floor_p + r / up, in exact integer arithmetic.
        P = tf.range(G * n)
        b = P % up
        r = (b * (down % up)) % up
        floor_p = (P // up) * down + b * (down // up) + (b * (down % up)) // up
        floor_p = tf.reshape(floor_p, [G, n])
        r = tf.reshape(r, [G, n])
        # Group starts, from K samples before the super-period. (Reshapes,
        # not `[:, None]`: TFLite has no int32 strided slice with new axes.)
        a = tf.reshape(tf.gather(floor_p, [0], axis=1), [G])
        offset = (
            tf.reshape(a, [G, 1, 1]) - K + tf.reshape(tf.range(L), [1, L, 1])
        ) - tf.reshape(floor_p, [G, 1, n])
        t = (
            tf.cast(offset, tf.float32)
            - tf.cast(tf.reshape(r, [G, 1, n]), tf.float32) / upf
        )
        x = fc * t
        sinc = tf.where(
            tf.equal(x, 0.0),
            tf.ones_like(x),
            tf.sin(math.pi * x)
            / (math.pi * tf.where(tf.equal(x, 0.0), 1.0, x)),
        )
        u = tf.minimum(tf.abs(t) / half_width, 1.0)
        window = _bessel_i0(BETA * tf.sqrt(1.0 - u * u)) / _bessel_i0(
            tf.constant(BETA)
        )
        inside = (tf.abs(t) < half_width) & (tf.reshape(P, [G, 1, n]) < U)
        self.bank = tf.where(inside, fc * sinc * window, 0.0)  # (G, L, n)
        self.up, self.down, self.K = up, down, K
        self.U, self.D, self.G, self.n, self.L = U, D, G, n, L
        self.a = a

    def reach(self):
        """Input samples, from K before a super-period, that it reads."""
        return tf.reduce_max(self.a) + self.L

    def output_length(self, samples):
        """round(samples * up / down), at least 1, without overflow."""
        samples = tf.cast(samples, tf.int32)
        up, down = self.up, self.down
        whole = (samples // down) * up
        return tf.maximum(
            whole + ((samples % down) * up + down // 2) // down, 1
        )

    def periods(self, buffer, count):
        """The outputs of `count` super-periods; `buffer[0]` is the input
        sample `K` before the first one and holds at least
        `(count - 1) * D + reach()` samples."""
        starts = tf.range(count) * self.D
        index = (
            tf.reshape(starts, [-1, 1, 1])
            + tf.reshape(self.a, [1, -1, 1])
            + tf.reshape(tf.range(self.L), [1, 1, -1])
        )
        frames = tf.gather(buffer, index)  # (count, G, L)
        out = tf.matmul(tf.transpose(frames, [1, 0, 2]), self.bank)
        out = tf.reshape(tf.transpose(out, [1, 0, 2]), [count, self.G * self.n])
        return tf.reshape(out[:, : self.U], [-1])


@functools.lru_cache(maxsize=16)
def _eager_plan(rate, target_rate):
    return _Plan(rate, target_rate)


def _plan(rate, target_rate):
    """The plan for a ratio; built once per pair of Python int rates when
    running eagerly (data preparation resamples many files at one rate),
    in the graph otherwise."""
    if tf.executing_eagerly() and isinstance(rate, (int, np.integer)):
        return _eager_plan(int(rate), int(target_rate))
    return _Plan(rate, target_rate)


def resample(x, rate, target_rate):
    """Resamples a whole mono signal from `rate` to `target_rate` Hz.

    Band-limited polyphase windowed-sinc resampling (the filter is in
    the module docstring). The signal is taken as zero before its start
    and after its end, as a streaming resampler does; `ResampleStream`
    gives the same samples block by block.

    Args:
        x: float32 tensor `(samples,)`, at least one sample.
        rate: int or int32 scalar tensor. The rate of `x`, in Hz (a tensor
            inside a graph, e.g. read from a WAV header).
        target_rate: int. The rate wanted, in Hz.

    Returns:
        float32 tensor `(round(samples * target_rate / rate),)` (at least
        one sample); `x` itself when the rates are equal Python ints.

    Example:

    >>> t = np.arange(44100) / 44100
    >>> x = np.sin(2 * np.pi * 440 * t).astype("float32")
    >>> y = resample(x, 44100, 16000)
    >>> y.shape
    TensorShape([16000])
    >>> float(tf.reduce_max(tf.abs(y[100:-100] - np.sin(
    ...     2 * np.pi * 440 * np.arange(16000)[100:-100] / 16000)))) < 1e-4
    True
    """
    if isinstance(rate, int) and int(rate) == int(target_rate):
        return tf.convert_to_tensor(x, tf.float32)
    x = tf.convert_to_tensor(x, tf.float32)
    plan = _plan(rate, target_rate)
    total = plan.output_length(tf.size(x))
    count = (total + plan.U - 1) // plan.U
    right = (count - 1) * plan.D + plan.reach() - plan.K - tf.size(x)
    buffer = tf.pad(x, [[plan.K, tf.maximum(right, 0)]])
    return plan.periods(buffer, count)[:total]


class ResampleStream:
    """Resamples a long mono signal block by block, as `resample` does.

    The filter's history (the last input samples of the blocks so far) is
    carried from one block to the next, so the samples of all blocks put
    together are those of `resample` on the whole signal (to float32
    rounding of the products: atol 1e-6), with memory bounded by one
    block. The API follows `soxr.ResampleStream`.

    Args:
        rate: int. The rate of the input, in Hz.
        target_rate: int. The rate wanted, in Hz.

    Example:

    >>> x = np.random.default_rng(0).normal(size=10000).astype("float32")
    >>> stream = ResampleStream(44100, 16000)
    >>> blocks = [stream.resample_chunk(x[:3000]),
    ...           stream.resample_chunk(x[3000:], last=True)]
    >>> y = np.concatenate(blocks)
    >>> y.shape
    (3628,)
    >>> bool(np.allclose(y, resample(x, 44100, 16000), atol=1e-6))
    True
    """

    def __init__(self, rate, target_rate):
        for name, value in (("rate", rate), ("target_rate", target_rate)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or value <= 0
            ):
                raise ValueError(
                    f"`{name}` must be a positive integer. Received: "
                    f"{name}={value!r}"
                )
        self.rate, self.target_rate = int(rate), int(target_rate)
        self._plan = _plan(self.rate, self.target_rate)
        plan = self._plan
        self._K, self._D, self._U = int(plan.K), int(plan.D), int(plan.U)
        self._reach = int(plan.reach())
        # The input from K samples before the next super-period on.
        self._buffer = np.zeros(self._K, "float32")
        self._received = 0
        self._emitted = 0
        self._done = False

    def resample_chunk(self, x, last=False):
        """Takes the next block `(samples,)` and returns the output
        samples it completes (all that are left when `last`)."""
        if self._done:
            raise ValueError(
                "This ResampleStream has been given its last block; make a "
                "new one for another signal."
            )
        x = np.asarray(x, dtype="float32").reshape(-1)
        self._buffer = np.concatenate([self._buffer, x])
        self._received += len(x)
        if last:
            self._done = True
            total = int(self._plan.output_length(max(self._received, 1)))
            left = total - self._emitted
            count = -(-left // self._U)
            need = (count - 1) * self._D + self._reach
            if count <= 0:
                return np.zeros(0, "float32")
            buffer = np.pad(self._buffer, (0, max(need - len(self._buffer), 0)))
            out = self._plan.periods(tf.constant(buffer), count)
            return out.numpy()[:left]
        count = (len(self._buffer) - self._reach) // self._D + 1
        if count <= 0:
            return np.zeros(0, "float32")
        out = self._plan.periods(tf.constant(self._buffer), count).numpy()
        self._buffer = self._buffer[count * self._D :]
        self._emitted += len(out)
        return out
