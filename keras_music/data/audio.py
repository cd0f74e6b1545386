"""`load_audio`: decode an audio file to float32 mono at a given rate."""

import os

import numpy as np
import soundfile

from keras_music.data.errors import AudioDecodeError
from keras_music.layers.resample import resample
from keras_music.utils.validation import check_positive_int

# What libsndfile decodes for us; anything else is refused by name before
# libsndfile guesses (it would read some raw formats as noise).
# `.au` (Sun/NeXT) is the format of the original GTZAN archive.
SUPPORTED_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".au")


def load_audio(path, sample_rate, mono=True):
    """Decodes an audio file and resamples it to `sample_rate`.

    Decoding uses soundfile (libsndfile: WAV, FLAC, Ogg Vorbis/Opus, MP3),
    resampling the library's one resampler (`keras_music.layers.resample`,
    also that of the command line and of the exports' WAV signatures).
    Every way a file can be unusable raises `AudioDecodeError` naming the
    file and the reason, so that dataset writers can skip and report it.

    Args:
        path: str or path-like. The audio file.
        sample_rate: int. The rate, in Hz, of the returned samples.
        mono: bool. Whether to average the channels into one. Defaults to
            `True`.

    Returns:
        float32 array, `(samples,)` when `mono`, else `(channels, samples)`
        (librosa's order), nominally in [-1, 1].

    Raises:
        AudioDecodeError: the file is missing or a directory, has an
            unsupported extension, cannot be decoded, has no samples, is a
            WAV file with fewer frames than its header promises
            (truncated), or contains NaN or infinite samples.
        ValueError: `sample_rate` is not a positive integer, or `path` is
            not a str or path-like.

    Example:

    >>> import soundfile, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "clip.wav")
    >>> soundfile.write(path, np.zeros((8000, 2), "float32"), 8000)
    >>> load_audio(path, sample_rate=16000).shape
    (16000,)
    >>> load_audio(path, sample_rate=16000, mono=False).shape
    (2, 16000)
    """
    sample_rate = check_positive_int("sample_rate", sample_rate)
    try:
        path = os.fspath(path)
    except TypeError:
        raise ValueError(
            f"`path` must be a str or path-like. Received: path={path!r}"
        ) from None
    if os.path.isdir(path):
        raise AudioDecodeError(path, "is a directory, not an audio file")
    extension = check_audio_extension(path)
    if not os.path.isfile(path):
        raise AudioDecodeError(path, "no such file")
    try:
        audio, source_rate = soundfile.read(
            path, dtype="float32", always_2d=True
        )
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioDecodeError(path, f"unreadable ({error})") from error
    if audio.shape[0] == 0:
        raise AudioDecodeError(path, "the file contains no samples")
    promised = _wav_promised_frames(path) if extension == ".wav" else None
    if promised is not None and audio.shape[0] < promised:
        # libsndfile returns what is there without a word.
        raise AudioDecodeError(
            path,
            f"truncated: the header promises {promised} frames, the file "
            f"holds {audio.shape[0]} ({audio.shape[0] / promised:.1%})",
        )
    if not np.all(np.isfinite(audio)):
        raise AudioDecodeError(
            path, "the file contains NaN or infinite samples"
        )
    if mono:
        audio = audio.mean(axis=1, keepdims=True)
    if source_rate != sample_rate:
        audio = np.stack(
            [resample(c, source_rate, sample_rate) for c in audio.T], axis=1
        )
    audio = np.ascontiguousarray(audio.T, dtype=np.float32)
    return audio[0] if mono else audio


def check_audio_extension(path):
    """The extension of `path`, lower case; `AudioDecodeError` naming
    `path` unless it is one of `SUPPORTED_EXTENSIONS`."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in SUPPORTED_EXTENSIONS:
        raise AudioDecodeError(
            path,
            f"unsupported file type {extension or '(no extension)'!r}; "
            f"expected one of {', '.join(SUPPORTED_EXTENSIONS)}",
        )
    return extension


def _wav_promised_frames(path):
    """Frames the `data` chunk of a RIFF/WAVE header declares, or None."""
    with open(path, "rb") as stream:
        head = stream.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return None  # RF64, RIFX: not checked
        block_align = None
        while True:
            chunk = stream.read(8)
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if name == b"fmt ":
                block_align = int.from_bytes(stream.read(size)[12:14], "little")
                stream.seek(size % 2, os.SEEK_CUR)
            elif name == b"data":
                # 0 and 0xFFFFFFFF: written by streaming tools, size unknown.
                if not block_align or size in (0, 0xFFFFFFFF):
                    return None
                return size // block_align
            else:
                stream.seek(size + size % 2, os.SEEK_CUR)
