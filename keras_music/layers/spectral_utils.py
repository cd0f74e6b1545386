"""Private helpers shared by the spectral frontends (CQT, mel, LPS).

Filter banks are built here once, in NumPy (float64), at layer
construction; the layers only turn them into constants.
"""

import numpy as np
import tensorflow as tf

# librosa.note_to_hz("C1"): MIDI note 24, A4 = 440 Hz.
C1_HZ = 440.0 * 2.0 ** ((24 - 69) / 12)


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {choices}. Received: {name}={value!r}"
        )
    return value


def num_frames(length, hop_length, frame_length, center):
    """Frames of a (centred) STFT, as librosa and tf.signal count them."""
    if length is None:
        return None
    if center:
        return 1 + length // hop_length
    return 1 + (length - frame_length) // hop_length


def audio_output_shape(input_shape, channels, frames_fn):
    """`(batch, samples)` -> `(batch, channels, frames)`; rank 1 unbatched."""
    frames = frames_fn(input_shape[-1])
    if len(input_shape) == 1:
        return (channels, frames)
    return (input_shape[0], channels, frames)


def centre_pad(x, pad, mode="constant"):
    """Pads the last axis by `pad` on both sides: zeros (librosa's
    `center=True` with `pad_mode="constant"`) or, with `mode="reflect"`,
    the mirrored signal without its edge sample (torch.stft's default)."""
    paddings = [[0, 0]] * (len(x.shape) - 1) + [[pad, pad]]
    return tf.pad(x, paddings, mode=mode.upper())


def periodic_hann(length):
    """scipy.signal.get_window("hann", length), i.e. the periodic window."""
    n = np.arange(length)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / length)


# Slaney's Auditory Toolbox mel scale: 200 / 3 Hz per mel below 1 kHz,
# log-spaced above (a factor 6.4 every 27 mels).
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel_slaney(hz):
    """Slaney's Auditory Toolbox mel scale: linear below 1 kHz, log above."""
    hz = np.asarray(hz, dtype="float64")
    return np.where(
        hz >= _MIN_LOG_HZ,
        _MIN_LOG_MEL
        + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP,
        hz / _F_SP,
    )


def mel_to_hz_slaney(mel):
    mel = np.asarray(mel, dtype="float64")
    return np.where(
        mel >= _MIN_LOG_MEL,
        _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)),
        _F_SP * mel,
    )


def slaney_mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax):
    """Triangular mel filters on the Slaney scale with Slaney ("area")
    normalisation, as `(n_fft // 2 + 1, n_mels)` float64."""
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    mel_edges = np.linspace(
        hz_to_mel_slaney(fmin), hz_to_mel_slaney(fmax), n_mels + 2
    )
    hz_edges = mel_to_hz_slaney(mel_edges)
    widths = np.diff(hz_edges)
    ramps = hz_edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    # Each triangle gets unit area in Hz, so that bands of different
    # widths carry comparable energy.
    weights *= (2.0 / (hz_edges[2:] - hz_edges[:-2]))[:, None]
    return weights.T


def halfband_lowpass(num_taps=33, beta=10.0):
    """Kaiser-windowed sinc with cut-off at half the Nyquist frequency.

    Used to decimate by 2 between CQT octaves. Every other tap is zero
    (half-band); the response is flat where the next octaves' filters
    live (below ~0.3 of the input Nyquist) and the stop band starts where
    aliases would fold back onto them. Taps sum to 1 (unit DC gain).
    """
    half = (num_taps - 1) // 2
    k = np.arange(-half, half + 1)
    taps = 0.5 * np.sinc(k / 2.0) * np.kaiser(num_taps, beta)
    return taps / np.sum(taps)


def power_spectrogram(x, window, hop_length, center, pad_mode="constant"):
    """|STFT|² of float32 audio `(..., samples)` as `(..., frames, bins)`.

    `window` is a constant of length n_fft; with `center`, the audio is
    padded by n_fft // 2 on both sides first, with zeros (librosa's
    default) or reflected (`pad_mode="reflect"`, torch's).
    """
    n_fft = int(window.shape[0])
    if center:
        x = centre_pad(x, n_fft // 2, pad_mode)
    frames = tf.signal.frame(x, n_fft, hop_length)
    spectrum = tf.signal.rfft(frames * window)
    real, imag = tf.math.real(spectrum), tf.math.imag(spectrum)
    return real * real + imag * imag


def frequency_first(x):
    """Swaps the last two axes: `(..., frames, bins)` -> `(..., bins, frames)`.

    Frequency first, like librosa and the papers' F x T.
    """
    perm = list(range(len(x.shape)))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    return tf.transpose(x, perm)
