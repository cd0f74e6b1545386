import keras
import librosa
import numpy as np
import tensorflow as tf

from keras_music.layers import spectral_utils
from keras_music.layers import validation


def _octave_kernels(sample_rate, hop_length, fmin, n_bins, bins_per_octave):
    """librosa's per-octave CQT filters as real matmul kernels.

    Returns the number of early decimations and, per octave from the top
    one down, a `(n_fft, 2 * bins)` float32 kernel whose columns give the
    real and imaginary parts of the response of one frame.
    """
    freqs = librosa.cqt_frequencies(
        n_bins, fmin=fmin, bins_per_octave=bins_per_octave
    )
    # Relative bandwidth of equally spaced geometric bins (librosa's
    # `alpha`): neighbouring filters overlap at their half-power points.
    ratio = 2.0 ** (2.0 / bins_per_octave)
    alpha = np.full(n_bins, (ratio - 1.0) / (ratio + 1.0))
    lengths, cutoff = librosa.filters.wavelet_lengths(
        freqs=freqs, sr=sample_rate, window="hann", alpha=alpha
    )
    n_octaves = int(np.ceil(n_bins / bins_per_octave))
    # librosa first decimates as far as the top filter and the hop allow.
    early = max(0, int(np.ceil(np.log2(sample_rate / 2.0 / cutoff)) - 2))
    twos = (hop_length & -hop_length).bit_length() - 1
    early = min(early, max(0, twos - n_octaves + 1))
    base_sr = sample_rate / 2**early
    lengths, _ = librosa.filters.wavelet_lengths(
        freqs=freqs, sr=base_sr, window="hann", alpha=alpha
    )
    kernels = []
    for octave in range(n_octaves):
        rate = base_sr / 2**octave
        top = n_bins - bins_per_octave * octave
        bins = slice(max(0, top - bins_per_octave), top)
        basis, basis_lengths = librosa.filters.wavelet(
            freqs=freqs[bins],
            sr=rate,
            norm=1,
            pad_fft=True,
            window="hann",
            alpha=alpha[bins],
        )
        # librosa's `cqt` does not widen the FFT to the hop: frames may
        # skip samples in the top octaves.
        n_fft = basis.shape[1]
        basis = basis * (basis_lengths[:, None] / float(n_fft))
        fft_basis = np.fft.fft(basis, n=n_fft, axis=1)[:, : n_fft // 2 + 1]
        fft_basis = librosa.util.sparsify_rows(
            fft_basis, quantile=0.01, dtype=basis.dtype
        ).toarray()
        # The decimators keep the signal's energy (x sqrt(2) each), the
        # filters compensate, and librosa's `scale=True` divides by the
        # square root of the filter length.
        fft_basis = fft_basis.astype("complex128") * np.sqrt(base_sr / rate)
        fft_basis /= np.sqrt(lengths[bins])[:, None]
        # A one-sided DFT of a rectangular frame followed by the basis is
        # one linear map of the frame: fold both into a single kernel.
        j = np.arange(n_fft // 2 + 1)[:, None]
        n = np.arange(n_fft)[None, :]
        dft = np.exp(-2j * np.pi * j * n / n_fft)
        kernel = (fft_basis @ dft).T
        kernels.append(
            np.concatenate([kernel.real, kernel.imag], axis=1).astype("float32")
        )
    return early, kernels


# Input samples per row of the block decimator (half as many outputs).
_DECIMATION_BLOCK = 64


def _block_decimation_matrix(taps, block):
    """`(block, block)` matrix: a row of `block` samples of the padded
    signal -> its share of this row's `block // 2` decimated samples
    (first half of the columns) and of the previous row's (second half)."""
    half = block // 2
    full = np.zeros((2 * block, half))
    for j in range(half):
        full[2 * j : 2 * j + len(taps), j] = taps
    return np.concatenate([full[:block], full[block:]], axis=1)


@keras.saving.register_keras_serializable(package="keras_music")
class CQT(keras.layers.Layer):
    """Constant-Q transform magnitude of raw audio, as librosa computes it.

    The S3T frontend: a constant-Q spectrogram (log-spaced bins, a fixed
    number per octave) from mono audio, matching `np.abs(librosa.cqt(y))`
    with librosa's default centring (zero padding). As in librosa, each
    octave is computed at its own sample rate: the top octave at the input
    rate, then the signal is low-pass filtered and decimated by 2 (hop
    halved) for the next octave down, with librosa's filters (Hann
    wavelets, L1 norm, 1% sparsity, `scale=True`) built once as constants.
    The half-band decimator differs from librosa's soxr resampler, which
    is where the small differences in the lower octaves come from.

    Optionally the magnitude is averaged over groups of
    `time_compression` frames (S3T compresses 100x in time) and converted
    to decibels, `20 * log10(max(|C|, 1e-5))` (librosa's
    `amplitude_to_db(ref=1.0, amin=1e-5, top_db=None)`; no `top_db`,
    because that clipping would depend on the loudest clip of a batch).

    Args:
        sample_rate: int. Sample rate of the input audio in Hz. Defaults
            to 22050.
        hop_length: int. Hop between frames in samples; a multiple of
            `2 ** (octaves - 1)` so that every octave has a whole hop.
            Defaults to 512.
        fmin: float. Centre frequency of the lowest bin in Hz. Defaults
            to C1 (`librosa.note_to_hz("C1")`, about 32.70 Hz).
        n_bins: int. Number of frequency bins. Defaults to 84 (7
            octaves).
        bins_per_octave: int. Bins per octave. Defaults to 12.
        output_scale: str. `"magnitude"` or `"db"`. Defaults to
            `"magnitude"`.
        time_compression: int. Average pooling factor along time (frames
            that do not fill a whole group are dropped). S3T uses 100.
            Defaults to 1 (off).
        check_values: bool. Whether to check at run time that the audio
            is finite and long enough. Set it to `False` for TFLite,
            whose builtin ops have no assertions. Defaults to `True`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:

    >>> audio = np.random.uniform(-1, 1, size=(2, 22050)).astype("float32")
    >>> CQT()(audio).shape
    TensorShape([2, 84, 44])

    Input shape:
        `(batch, samples)` float audio, or `(samples,)` for one clip
        (e.g. in `tf.data` before batching).

    Output shape:
        `(batch, n_bins, frames)` (or `(n_bins, frames)` for a single
        clip), lowest frequency first, with
        `frames = (1 + samples // hop_length) // time_compression`.

    Reference:
        - [Zhao et al., S3T: Self-Supervised Pre-training with Swin
          Transformer for Music Classification, ICASSP 2022](
          https://arxiv.org/abs/2202.10139), section 3 ("Model Input").
        - [Schoerkhuber & Klapuri, Constant-Q transform toolbox for music
          processing, SMC 2010](
          https://www.researchgate.net/publication/228523955), for the
          recursive per-octave computation.
    """

    def __init__(
        self,
        sample_rate=22050,
        hop_length=512,
        fmin=spectral_utils.C1_HZ,
        n_bins=84,
        bins_per_octave=12,
        output_scale="magnitude",
        time_compression=1,
        check_values=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.check_positive_int("sample_rate", sample_rate)
        validation.check_positive_int("hop_length", hop_length)
        validation.check_positive("fmin", fmin)
        validation.check_positive_int("n_bins", n_bins)
        validation.check_positive_int("bins_per_octave", bins_per_octave)
        spectral_utils.check_choice(
            "output_scale", output_scale, ("magnitude", "db")
        )
        validation.check_positive_int("time_compression", time_compression)
        n_octaves = int(np.ceil(n_bins / bins_per_octave))
        if hop_length % 2 ** (n_octaves - 1):
            raise ValueError(
                "`hop_length` must be a multiple of 2 ** (octaves - 1) = "
                f"{2 ** (n_octaves - 1)} for {n_octaves} octaves. "
                f"Received: hop_length={hop_length}"
            )
        freqs = librosa.cqt_frequencies(
            n_bins, fmin=fmin, bins_per_octave=bins_per_octave
        )
        ratio = 2.0 ** (2.0 / bins_per_octave)
        # The top filter's main lobe must stay below Nyquist (librosa's
        # own check).
        _, cutoff = librosa.filters.wavelet_lengths(
            freqs=freqs,
            sr=sample_rate,
            window="hann",
            alpha=np.full(n_bins, (ratio - 1.0) / (ratio + 1.0)),
        )
        if cutoff > sample_rate / 2.0:
            raise ValueError(
                f"`n_bins` reaches {cutoff:.1f} Hz, beyond the Nyquist "
                f"frequency {sample_rate / 2.0} Hz of sample_rate="
                f"{sample_rate}; use fewer bins or a lower fmin. "
                f"Received: n_bins={n_bins}, fmin={fmin}"
            )
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.fmin = fmin
        self.n_bins = n_bins
        self.bins_per_octave = bins_per_octave
        self.output_scale = output_scale
        self.time_compression = time_compression
        self.check_values = check_values
        # librosa needs at least two samples in the last octave and we
        # want at least one output frame.
        self._min_length = max(
            2 ** (n_octaves - 1), (time_compression - 1) * hop_length
        )
        self._early, kernels = _octave_kernels(
            sample_rate, hop_length, fmin, n_bins, bins_per_octave
        )
        self._kernels = [tf.constant(k) for k in kernels]
        # Taps carry the sqrt(2) gain of librosa's energy-preserving
        # resampling (`scale=True`).
        taps = spectral_utils.halfband_lowpass() * np.sqrt(2.0)
        self._taps_half = (len(taps) - 1) // 2
        self._decimator = tf.constant(
            _block_decimation_matrix(taps, _DECIMATION_BLOCK), dtype="float32"
        )

    @property
    def input_dtype(self):
        # Audio stays float32 under mixed precision: float16 samples would
        # lose the quiet parts of the signal.
        return "float32"

    def _decimate(self, x):
        # Low-pass and keep every other sample, as one matrix product per
        # block of input samples: a 1-channel strided convolution is
        # several times slower on CPU.
        block = _DECIMATION_BLOCK
        length = x.shape[-1]
        if length is None:
            length = tf.shape(x)[-1]
        rows = (length + self._taps_half) // block + 2
        x = tf.pad(
            x,
            [
                [0, 0],
                [self._taps_half, rows * block - self._taps_half - length],
            ],
        )
        # Each row gives the first part of its outputs' sums and the last
        # part of the previous row's: one product, then a shifted add.
        x = tf.matmul(tf.reshape(x, (-1, block)), self._decimator)
        x = tf.reshape(x, (-1, rows, block))
        half = block // 2
        x = x[:, :-1, :half] + x[:, 1:, half:]
        x = tf.reshape(x, (-1, (rows - 1) * half))
        return x[:, : (length + 1) // 2]

    def call(self, inputs):
        x = tf.cast(inputs, "float32")
        x = validation.check_audio(
            x, "CQT input", self._min_length, self.check_values
        )
        unbatched = len(x.shape) == 1
        if unbatched:
            x = x[None, :]
        length = x.shape[-1]
        if length is None:
            length = tf.shape(x)[-1]
        frames = 1 + length // self.hop_length
        for _ in range(self._early):
            x = self._decimate(x)
        hop = self.hop_length // 2**self._early
        octaves = []
        for octave, kernel in enumerate(self._kernels):
            if octave > 0:
                x = self._decimate(x)
                hop //= 2
            n_fft = int(kernel.shape[0])
            framed = spectral_utils.centre_pad(x, n_fft // 2)[:, :, None]
            # A strided convolution frames and filters in one op.
            response = tf.nn.conv1d(
                framed, kernel[:, None, :], stride=hop, padding="VALID"
            )[:, :frames]
            real, imag = tf.split(response, 2, axis=-1)
            octaves.append(tf.sqrt(real * real + imag * imag))
        # Octaves were computed top first; bins go lowest first.
        x = tf.concat(octaves[::-1], axis=-1)
        if self.time_compression > 1:
            x = tf.nn.avg_pool1d(
                x, self.time_compression, self.time_compression, "VALID"
            )
        if self.output_scale == "db":
            x = 20.0 * tf.math.log(tf.maximum(x, 1e-5)) / np.log(10.0)
        x = spectral_utils.frequency_first(x)
        if unbatched:
            x = x[0]
        return tf.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        def frames(length):
            if length is None:
                return None
            return (1 + length // self.hop_length) // self.time_compression

        return spectral_utils.audio_output_shape(
            input_shape, self.n_bins, frames
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "hop_length": self.hop_length,
                "fmin": self.fmin,
                "n_bins": self.n_bins,
                "bins_per_octave": self.bins_per_octave,
                "output_scale": self.output_scale,
                "time_compression": self.time_compression,
                "check_values": self.check_values,
            }
        )
        return config
