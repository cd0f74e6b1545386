"""Audio files for the command line: finding them, and reading them in
segments without holding a whole file in memory."""

import os
import warnings

import numpy as np
import soundfile

from keras_music.data.audio import SUPPORTED_EXTENSIONS
from keras_music.data.audio import _wav_promised_frames
from keras_music.data.audio import check_audio_extension
from keras_music.data.errors import AudioDecodeError
from keras_music.layers.resample import ResampleStream

# Frames read from the file at a time: about 4 s at 44.1 kHz.
READ_FRAMES = 1 << 17


class CommandError(ValueError):
    """A bad argument: printed as one line, and the command exits with 2.

    Args:
        message: str. What is wrong, naming the argument or file.

    Example:

    >>> try:
    ...     find_audio_files(["no_such_folder"])
    ... except CommandError as error:
    ...     print(error)
    AUDIO 'no_such_folder': no such file or directory.
    """


def find_audio_files(paths, argument="AUDIO"):
    """The audio files named by `paths` (files, or folders walked
    recursively, in sorted order).

    Returns:
        `(files, skipped)`: `files` a list of `(path, relative path)`,
        `skipped` a list of `(path, reason)` for files in the folders
        that are not audio (by extension).

    Raises:
        CommandError: a path does not exist, or nothing is audio.
    """
    files, skipped = [], []
    for path in paths:
        if os.path.isdir(path):
            found = 0
            for root, folders, names in os.walk(path):
                folders.sort()
                for name in sorted(names):
                    full = os.path.join(root, name)
                    extension = os.path.splitext(name)[1].lower()
                    if extension in SUPPORTED_EXTENSIONS:
                        files.append((full, os.path.relpath(full, path)))
                        found += 1
                    else:
                        skipped.append(
                            (
                                full,
                                f"not an audio file (extension "
                                f"{extension or '(none)'!r}; expected one "
                                f"of {', '.join(SUPPORTED_EXTENSIONS)})",
                            )
                        )
            if not found:
                raise CommandError(
                    f"{argument} {path!r}: the folder holds no audio files "
                    f"({', '.join(SUPPORTED_EXTENSIONS)})."
                )
        elif os.path.isfile(path):
            files.append((path, os.path.basename(path)))
        else:
            raise CommandError(
                f"{argument} {path!r}: no such file or directory."
            )
    return files, skipped


def audio_seconds(path):
    """Duration of an audio file from its header, or 0 if unreadable."""
    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return 0.0
    return info.frames / info.samplerate if info.samplerate else 0.0


def read_mono(path, sample_rate, read_frames=READ_FRAMES):
    """Yields the file as float32 mono blocks at `sample_rate`.

    Channels are averaged (as `keras_music.data.load_audio` does) and a
    file at another rate is resampled, with a `UserWarning`, by the
    library's resampler (`keras_music.layers.resample.ResampleStream`:
    the samples of `AudioPreprocessor.load_audio` and of the exports'
    WAV signatures). Only one block of the file is in memory at a time.

    Raises:
        AudioDecodeError: the file cannot be decoded, holds no samples,
            or holds NaN or infinite samples (naming the file).
    """
    extension = check_audio_extension(path)
    try:
        stream = soundfile.SoundFile(path)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise AudioDecodeError(path, f"unreadable ({error})") from error
    with stream:
        resampler = None
        if stream.samplerate != sample_rate:
            warnings.warn(
                f"Resampled {path} from {stream.samplerate} Hz "
                f"({stream.channels} channel(s)) to {sample_rate} Hz mono, "
                "the model's rate.",
                stacklevel=2,
            )
            resampler = ResampleStream(stream.samplerate, sample_rate)
        total = 0
        while True:
            try:
                block = stream.read(read_frames, "float32", always_2d=True)
            except (soundfile.LibsndfileError, RuntimeError) as error:
                raise AudioDecodeError(
                    path, f"unreadable after {total} frames ({error})"
                ) from error
            last = len(block) < read_frames
            if len(block) and not np.all(np.isfinite(block)):
                raise AudioDecodeError(
                    path, "the file contains NaN or infinite samples"
                )
            total += len(block)
            mono = block.mean(axis=1)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            if len(mono):
                yield np.ascontiguousarray(mono, dtype="float32")
            if last:
                break
        if total == 0:
            raise AudioDecodeError(path, "the file contains no samples")
        # libsndfile reads what is there without a word.
        promised = _wav_promised_frames(path) if extension == ".wav" else None
        if promised is not None and total < promised:
            raise AudioDecodeError(
                path,
                f"truncated: the header promises {promised} frames, the "
                f"file holds {total} ({total / promised:.1%})",
            )


def segment_stream(blocks, size, hop):
    """Cuts a stream of mono blocks into segments of `size` samples every
    `hop` samples; the last segment ends with the audio (it overlaps the
    one before), and audio shorter than `size` is one shorter segment.
    With `hop == size` these are `AudioPreprocessor.segments`.

    Yields:
        `(start_sample, segment)`; memory holds at most `size` plus one
        block of samples.
    """
    buffer = np.zeros(0, "float32")
    offset = 0  # sample index of buffer[0]
    next_start = 0
    last_end = 0
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while next_start + size <= offset + len(buffer):
            at = next_start - offset
            yield next_start, buffer[at : at + size].copy()
            last_end = next_start + size
            next_start += hop
        # Keep what a later segment, or the end-aligned last one, needs.
        keep_from = min(next_start, offset + len(buffer) - size)
        keep_from = max(keep_from, offset)
        buffer = buffer[keep_from - offset :]
        offset = keep_from
    length = offset + len(buffer)
    if length == 0:
        return
    if length <= size and last_end == 0:
        yield 0, buffer.copy()
    elif last_end < length:
        yield length - size, buffer[len(buffer) - size :].copy()
