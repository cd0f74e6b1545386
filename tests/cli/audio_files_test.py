"""Block-wise reading and segmenting equal the whole-file functions."""

import numpy as np
import pytest
import soundfile

from keras_music.cli.audio_files import read_mono
from keras_music.cli.audio_files import segment_stream
from keras_music.data.audio import load_audio
from keras_music.data.errors import AudioDecodeError
from keras_music.models.audio_preprocessor import AudioPreprocessor

SIZE = 1000


def blocks_of(audio, block):
    return (audio[i : i + block] for i in range(0, len(audio), block))


@pytest.mark.parametrize("length", [1, 999, 1000, 1001, 3000, 3007, 10_555])
@pytest.mark.parametrize("block", [7, 1000, 4096])
def test_segments_equal_the_preprocessors(length, block):
    preprocessor = AudioPreprocessor(sample_rate=1000, segment_seconds=1.0)
    audio = np.random.default_rng(length).standard_normal(length)
    audio = audio.astype("float32")
    expected = preprocessor.segments(audio)
    got = list(segment_stream(blocks_of(audio, block), SIZE, SIZE))
    # Exact: the same samples, only cut differently.
    assert len(got) == len(expected)
    for (start, segment), reference in zip(got, expected):
        np.testing.assert_array_equal(segment, reference)
        np.testing.assert_array_equal(
            audio[start : start + len(segment)], segment
        )


def test_overlapping_hop_ends_with_the_audio():
    audio = np.arange(2600, dtype="float32")
    starts = [s for s, _ in segment_stream(blocks_of(audio, 333), SIZE, 500)]
    assert starts == [0, 500, 1000, 1500, 1600]


def test_read_mono_equals_load_audio(tmp_path):
    rng = np.random.default_rng(0)
    native = str(tmp_path / "native.wav")
    soundfile.write(native, rng.uniform(-0.5, 0.5, (20_000, 2)), 16000)
    other = str(tmp_path / "other.flac")
    soundfile.write(other, rng.uniform(-0.5, 0.5, (70_001, 2)), 44100)
    whole = np.concatenate(list(read_mono(native, 16000, read_frames=999)))
    np.testing.assert_array_equal(whole, load_audio(native, 16000))
    with pytest.warns(UserWarning, match="Resampled .* 44100 Hz"):
        streamed = np.concatenate(list(read_mono(other, 16000, 4096)))
    reference = load_audio(other, 16000)
    assert streamed.shape == reference.shape
    # The library's resampler in blocks and in one call: the same filter,
    # its history carried across blocks (measured bit-identical).
    np.testing.assert_allclose(streamed, reference, atol=1e-5)


def test_truncated_and_corrupt_files_are_named(tmp_path):
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x24\x00\x00\x00WAVE" + b"\x01" * 100)
    with pytest.raises(AudioDecodeError, match="corrupt.wav.*unreadable"):
        list(read_mono(str(corrupt), 16000))
    truncated = str(tmp_path / "truncated.wav")
    soundfile.write(truncated, np.zeros(16000, "float32"), 16000)
    with open(truncated, "r+b") as stream:
        stream.truncate(44 + 2 * 8000)  # half of the promised samples
    with pytest.raises(AudioDecodeError, match="truncated.wav.*truncated"):
        list(read_mono(truncated, 16000))
    empty = str(tmp_path / "empty.wav")
    soundfile.write(empty, np.zeros((0, 1)), 16000)
    with pytest.raises(AudioDecodeError, match="empty.wav.*no samples"):
        list(read_mono(empty, 16000))
    with pytest.raises(AudioDecodeError, match="unsupported file type '.txt'"):
        list(read_mono(str(tmp_path / "notes.txt"), 16000))
