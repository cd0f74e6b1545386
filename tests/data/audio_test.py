import os

import numpy as np
import pytest
import soundfile

from keras_music.data.audio import load_audio
from keras_music.data.errors import AudioDecodeError
from tests.test_case import TestCase


def _sine(sample_rate, seconds=0.5, frequency=440.0):
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype("float32")


class LoadAudioTest(TestCase):
    def test_pcm16_wav_is_exact(self):
        path = os.path.join(self.get_temp_dir(), "a.wav")
        pcm = np.random.default_rng(0).integers(-32768, 32767, 4000, "int16")
        soundfile.write(path, pcm, 8000, subtype="PCM_16")
        audio = load_audio(path, 8000)
        self.assertEqual(audio.dtype, np.float32)
        # 16-bit PCM decodes as pcm / 32768: exact in float32.
        self.assertAllEqual(audio, pcm.astype("float32") / 32768.0)

    def test_stereo_is_averaged(self):
        path = os.path.join(self.get_temp_dir(), "stereo.wav")
        left, right = _sine(8000), _sine(8000, frequency=300.0)
        soundfile.write(path, np.stack([left, right], 1), 8000, "FLOAT")
        self.assertAllClose(load_audio(path, 8000), (left + right) / 2)
        both = load_audio(path, 8000, mono=False)
        # Channels first, as librosa; float WAV stores them exactly.
        self.assertAllEqual(both, np.stack([left, right]))

    def test_resampling_matches_the_sine(self):
        path = os.path.join(self.get_temp_dir(), "a.flac")
        soundfile.write(path, _sine(22050), 22050, subtype="PCM_24")
        audio = load_audio(path, 16000)
        expected = _sine(16000)
        self.assertEqual(audio.shape, expected.shape)
        # Band-limited resampling of a 440 Hz tone: away from the edges
        # (filter transients) it is the same tone up to the 24-bit
        # quantisation and soxr's HQ passband ripple (< 1e-3 of 0.5).
        self.assertAllClose(audio[500:-500], expected[500:-500], atol=1e-3)

    def test_au_as_in_gtzan(self):
        # GTZAN ships 16-bit big-endian .au files at 22050 Hz.
        path = os.path.join(self.get_temp_dir(), "blues.00000.au")
        soundfile.write(path, _sine(22050, 1.0), 22050, subtype="PCM_16")
        audio = load_audio(path, 22050)
        # 16-bit quantisation of a 0.5-amplitude tone: within 2**-15.
        self.assertAllClose(audio, _sine(22050, 1.0), atol=2**-15)

    def test_compressed_formats(self):
        for extension, subtype in (
            ("ogg", "VORBIS"),
            ("mp3", "MPEG_LAYER_III"),
        ):
            path = os.path.join(self.get_temp_dir(), f"a.{extension}")
            soundfile.write(path, _sine(16000, 1.0), 16000, subtype=subtype)
            audio = load_audio(path, 16000)
            expected = _sine(16000, 1.0)
            # Lossy codecs (and MP3's encoder delay) change samples; the
            # energy of a 0.5-amplitude tone (0.125) survives within 20%.
            self.assertGreater(len(audio), 0.9 * len(expected), extension)
            self.assertAllClose(np.mean(audio**2), 0.125, rtol=0.2)


class LoadAudioErrorsTest(TestCase):
    def _write_bytes(self, name, content):
        path = os.path.join(self.get_temp_dir(), name)
        with open(path, "wb") as stream:
            stream.write(content)
        return path

    def test_missing_file(self):
        path = os.path.join(self.get_temp_dir(), "missing.wav")
        with pytest.raises(AudioDecodeError, match="missing.wav.*no such"):
            load_audio(path, 16000)

    def test_unknown_extension(self):
        path = self._write_bytes("notes.txt", b"hello")
        with pytest.raises(AudioDecodeError, match="notes.txt.*'.txt'"):
            load_audio(path, 16000)

    def test_garbage_bytes(self):
        path = self._write_bytes("garbage.wav", os.urandom(1000))
        with pytest.raises(AudioDecodeError, match="garbage.wav.*unreadable"):
            load_audio(path, 16000)

    def test_truncated_header(self):
        path = os.path.join(self.get_temp_dir(), "full.wav")
        soundfile.write(path, _sine(8000), 8000)
        with open(path, "rb") as stream:
            head = stream.read(20)
        path = self._write_bytes("truncated.flac", head)
        with pytest.raises(AudioDecodeError, match="truncated.flac"):
            load_audio(path, 8000)

    def test_zero_frames(self):
        path = os.path.join(self.get_temp_dir(), "empty.wav")
        soundfile.write(path, np.zeros(0, "float32"), 8000)
        with pytest.raises(AudioDecodeError, match="empty.wav.*no samples"):
            load_audio(path, 8000)

    def test_nan_samples(self):
        path = os.path.join(self.get_temp_dir(), "nan.wav")
        audio = _sine(8000)
        audio[100] = np.nan
        soundfile.write(path, audio, 8000, subtype="FLOAT")
        with pytest.raises(AudioDecodeError, match="nan.wav.*NaN"):
            load_audio(path, 8000)

    def test_bad_sample_rate(self):
        with pytest.raises(ValueError, match="sample_rate=0"):
            load_audio("a.wav", 0)

    def test_error_pickles(self):
        import pickle

        error = pickle.loads(pickle.dumps(AudioDecodeError("a.wav", "bad")))
        self.assertEqual((error.path, error.reason), ("a.wav", "bad"))
        self.assertIsInstance(error, ValueError)


def test_check_audio_extension_names_the_file():
    from keras_music.data.audio import check_audio_extension

    assert check_audio_extension("a/Song.FLAC") == ".flac"
    with pytest.raises(AudioDecodeError, match=r"notes\.txt.*'\.txt'"):
        check_audio_extension("notes.txt")
    with pytest.raises(AudioDecodeError, match=r"\(no extension\)"):
        check_audio_extension("README")
