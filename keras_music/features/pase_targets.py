"""The hand-crafted targets of the PASE workers, computed with librosa.

The multi-task pre-training of Wu et al. (2021) trains one worker per
target to predict, frame by frame, a hand-crafted feature of the encoder's
input chunk. The encoder runs at 16 kHz with a total stride of 160 samples
(10 ms), so a chunk of `samples` gives `samples // 160` frames, frame `t`
covering the samples `[160 t, 160 t + 160)`. Every target here has exactly
those frames: target frame `t` is computed on an analysis window centred
on `160 t + 80`, the centre of encoder frame `t` (the audio is zero-padded
on both sides so that the first and last windows exist). librosa's own
`center=True` frames are centred on `160 t` instead, half an encoder frame
earlier; `pase_targets(y)[t]` equals librosa's frame `t` of `y[80:]` once
the window lies inside the signal.

Targets, with librosa at sr 16000, n_fft 2048, hop 160 and its defaults
otherwise, as the paper states (Section 2.2):

- `lps` (1025): log power spectrum, `power_to_db(|STFT|**2)` of a Hann
  window of 2048 samples, in dB with an absolute floor of -100 dB
  (`amin=1e-10`, no `top_db`), so that silence has one value everywhere.
- `mfcc` (20): `librosa.feature.mfcc` with its default 20 coefficients
  from a 128-band mel spectrogram in dB (`top_db=80`, librosa's default).
- `chroma` (12): `librosa.feature.chroma_stft` of the power spectrum,
  tuning estimated per track, each frame scaled to a maximum of 1.
- `tempogram` (384): `librosa.feature.tempogram`, autocorrelation of the
  onset strength envelope over librosa's default window of 384 frames
  (3.84 s at 10 ms); one dimension per lag of 0 to 383 frames.
- `prosody` (4): log F0 (natural log of Hz), voicing probability, energy
  (frame RMS in dB, floor -100 dB) and zero-crossing rate, each on windows
  of 2048 samples. F0 and voicing come from pYIN (`librosa.pyin`,
  65.4-2093 Hz, C2-C7) with pitch bins of one semitone. pYIN rather than
  YIN because YIN gives no voicing at all, and the paper's prosody target
  has a voiced/unvoiced probability; pYIN's per-frame voiced probability
  is exactly that. One-semitone bins rather than librosa's default 0.1
  semitone because the targets are computed for every track: per 30 s of
  audio on one CPU core, the default's Viterbi decoding over 1202 states
  takes about 15 s, with one semitone (122 states) 0.7 s, the cost of
  plain YIN (0.66 s), which would give no voicing. F0 is then on the
  semitone grid, which for music is the scale the notes are on. Unvoiced
  frames take the log F0 interpolated linearly between the voiced frames
  around them (held constant before the first and after the last); a
  track with no voiced frame gets `log(65.4)`, the bottom of the range.

The worker codes of the paper are `W, L, P, M, C, T` for waveform, lps,
prosody, mfcc, chroma and tempogram
(`keras_music.pretraining.pase_workers.WORKER_CODES`); the waveform worker
reconstructs the input chunk itself, which is not a stored target.

Reference:
    Wu et al., "Multi-task self-supervised pre-training for music
    classification", ICASSP 2021, Section 2.2.
"""

import functools
import warnings

import numpy as np

from keras_music.data.frame_targets import FrameTargets
from keras_music.data.frame_targets import describe
from keras_music.layers import validation

# Bump when what `pase_targets` computes changes: it is part of the
# writer's shard fingerprint, so finished shards are then rewritten.
TARGETS_VERSION = 1
SAMPLE_RATE = 16000
HOP_LENGTH = 160
N_FFT = 2048
FRAME_RATE = SAMPLE_RATE / HOP_LENGTH
TARGET_NAMES = ("lps", "mfcc", "chroma", "tempogram", "prosody")
TARGET_DIMS = {
    "lps": N_FFT // 2 + 1,
    "mfcc": 20,
    "chroma": 12,
    "tempogram": 384,
    "prosody": 4,
}
PROSODY_FEATURES = ("log_f0", "voicing", "energy", "zero_crossing_rate")
F0_RANGE = (65.40639132514966, 2093.004522404789)  # C2, C7 in Hz.
F0_RESOLUTION = 1.0  # Semitones per pitch bin of pYIN.
# Absolute floors of the dB targets: -100 dB for power and RMS alike.
POWER_FLOOR = 1e-10
AMPLITUDE_FLOOR = 1e-5


def pase_targets(audio, names=TARGET_NAMES):
    """The PASE worker targets of a mono 16 kHz track, frame-aligned.

    Args:
        audio: float array `(samples,)`, mono audio at 16 kHz, at least 160
            samples (one encoder frame).
        names: sequence of target names from `TARGET_NAMES`. Defaults to
            all of them.

    Returns:
        dict mapping each name to a float32 array `(samples // 160,
        TARGET_DIMS[name])`, frame-first like the encoder's output.

    Example:

    ```python
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, 16000)
    targets = pase_targets(audio, names=("lps", "prosody"))
    targets["lps"].shape  # (100, 1025)
    ```

    Reference:
        Wu et al., "Multi-task self-supervised pre-training for music
        classification", ICASSP 2021, Section 2.2.
    """
    names = check_target_names(names)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(
            "`audio` must be mono `(samples,)`. "
            f"Received: audio.shape={audio.shape}"
        )
    if audio.shape[0] < HOP_LENGTH:
        raise ValueError(
            f"`audio` must have at least {HOP_LENGTH} samples (one 10 ms "
            f"frame at 16 kHz). Received: audio.shape={audio.shape}"
        )
    if not np.all(np.isfinite(audio)):
        raise ValueError("`audio` contains NaN or infinite samples.")
    validation.check_float_audio("`audio`", audio)
    # librosa is slow to import: only the writers of targets pay for it.
    import librosa

    frames = audio.shape[0] // HOP_LENGTH
    spectral = {"lps", "mfcc", "chroma", "tempogram"}
    targets = {}
    if spectral.intersection(names):
        power = _aligned_power_spectrum(audio, frames, librosa)
        if "lps" in names:
            targets["lps"] = librosa.power_to_db(
                power, ref=1.0, amin=POWER_FLOOR, top_db=None
            )
        if "chroma" in names:
            with warnings.catch_warnings():
                # Silence has no pitch to tune to: librosa warns, then
                # uses a tuning of 0, which is what silence should get.
                warnings.filterwarnings(
                    "ignore", "Trying to estimate tuning", UserWarning
                )
                targets["chroma"] = librosa.feature.chroma_stft(
                    S=power,
                    sr=SAMPLE_RATE,
                    n_fft=N_FFT,
                    hop_length=HOP_LENGTH,
                )
        if "mfcc" in names or "tempogram" in names:
            # librosa's mfcc and onset_strength both start from the dB mel
            # spectrogram with its default 128 bands and top_db=80.
            mel_db = librosa.power_to_db(
                librosa.feature.melspectrogram(S=power, sr=SAMPLE_RATE)
            )
            if "mfcc" in names:
                targets["mfcc"] = librosa.feature.mfcc(
                    S=mel_db, sr=SAMPLE_RATE, n_mfcc=TARGET_DIMS["mfcc"]
                )
            if "tempogram" in names:
                # `center=True` keeps librosa's default shift of the onset
                # envelope by n_fft / (2 hop) frames: a dB rise shows as
                # soon as an onset enters the window, half a window early.
                onsets = librosa.onset.onset_strength(
                    S=mel_db,
                    sr=SAMPLE_RATE,
                    n_fft=N_FFT,
                    hop_length=HOP_LENGTH,
                )
                targets["tempogram"] = librosa.feature.tempogram(
                    onset_envelope=onsets,
                    sr=SAMPLE_RATE,
                    hop_length=HOP_LENGTH,
                    win_length=TARGET_DIMS["tempogram"],
                )
    if "prosody" in names:
        targets["prosody"] = _prosody(audio, frames, librosa)
    return {
        name: np.ascontiguousarray(targets[name][..., :frames].T, np.float32)
        for name in names
    }


def frame_targets(names=TARGET_NAMES):
    """The targets `names` for `write_tfrecords(..., targets=...)`.

    Args:
        names: list or tuple of str, from `TARGET_NAMES`. Defaults to all.

    Returns:
        A `keras_music.data.frame_targets.FrameTargets` at 16 kHz, hop 160.
    """
    names = check_target_names(names)
    function = functools.partial(pase_targets, names=names)
    return FrameTargets(
        function,
        {name: TARGET_DIMS[name] for name in names},
        HOP_LENGTH,
        SAMPLE_RATE,
        f"{describe(pase_targets)} version {TARGETS_VERSION}",
    )


def check_target_names(names):
    """`names` as a tuple of known, distinct target names."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise ValueError(
            "`names` must be a list or tuple of target names from "
            f"{TARGET_NAMES}. Received: names={names!r}"
        )
    names = tuple(names)
    unknown = [n for n in names if n not in TARGET_NAMES]
    if not names or unknown or len(set(names)) != len(names):
        hint = ""
        if "waveform" in unknown:
            hint = " (`waveform` is the input audio itself, not a target)"
        raise ValueError(
            "`names` must be distinct target names from "
            f"{TARGET_NAMES}{hint}. Received: names={names!r}"
        )
    return names


def target_frames(num_samples):
    """Frames of the targets (and of the encoder) for `num_samples`."""
    return num_samples // HOP_LENGTH


def _aligned_padding(audio, frame_length):
    """Zero-pads `audio` so that frame `t` (no centring) is centred on
    `160 t + 80` and at least `len(audio) // 160` frames exist."""
    left = frame_length // 2 - HOP_LENGTH // 2
    right = frame_length // 2 + HOP_LENGTH
    return np.pad(audio, (left, right))


def _aligned_power_spectrum(audio, frames, librosa):
    padded = _aligned_padding(audio, N_FFT)
    spectrum = librosa.stft(
        padded, n_fft=N_FFT, hop_length=HOP_LENGTH, center=False
    )
    return np.abs(spectrum[:, :frames]) ** 2


def _prosody(audio, frames, librosa):
    padded = _aligned_padding(audio, N_FFT)
    options = dict(frame_length=N_FFT, hop_length=HOP_LENGTH, center=False)
    f0, voiced, voiced_probability = librosa.pyin(
        padded,
        fmin=F0_RANGE[0],
        fmax=F0_RANGE[1],
        sr=SAMPLE_RATE,
        resolution=F0_RESOLUTION,
        **options,
    )
    f0, voiced = f0[:frames], voiced[:frames]
    # Digital silence makes YIN's normalised difference 0 / 0.
    voicing = np.nan_to_num(voiced_probability[:frames], nan=0.0)
    log_f0 = _interpolate_unvoiced(np.log(np.where(voiced, f0, 1.0)), voiced)
    rms = librosa.feature.rms(y=padded, **options)[0, :frames]
    energy = librosa.amplitude_to_db(
        rms, ref=1.0, amin=AMPLITUDE_FLOOR, top_db=None
    )
    crossings = librosa.feature.zero_crossing_rate(padded, **options)
    return np.stack([log_f0, voicing, energy, crossings[0, :frames]])


def _interpolate_unvoiced(log_f0, voiced):
    if not np.any(voiced):
        return np.full(log_f0.shape, np.log(F0_RANGE[0]))
    positions = np.arange(log_f0.shape[0])
    # np.interp holds the end values beyond the first and last voiced frame.
    return np.interp(positions, positions[voiced], log_f0[voiced])
