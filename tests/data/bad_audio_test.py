"""Audio in: files and arrays that `load_audio`, the writer and the MIDI
renderer refuse, or accept with a warning, by name.

Each case asserts the exception (or warning) type and that the message
names the file, track or argument and what was expected.
"""

import json
import os
import warnings

import numpy as np
import pytest
import soundfile

from keras_music.data.audio import load_audio
from keras_music.data.errors import AudioDecodeError
from keras_music.data.midi_render import render_notes
from keras_music.data.tfrecord_format import encode_example
from keras_music.data.track import Track
from keras_music.features.pase_targets import pase_targets
from tests.data.tfrecord_writer_test import SAMPLE_RATE
from tests.data.tfrecord_writer_test import read_examples
from tests.data.tfrecord_writer_test import synthetic_track
from tests.data.tfrecord_writer_test import write
from tests.test_case import TestCase


def noise(samples, peak=0.5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-peak, peak, samples).astype("float32")


def truncate(path, keep_fraction):
    with open(path, "rb") as stream:
        content = stream.read()
    with open(path, "wb") as stream:
        stream.write(content[: int(len(content) * keep_fraction)])


class BadAudioFileTest(TestCase):
    def wav(self, name, audio, subtype="PCM_16", rate=8000):
        path = os.path.join(self.get_temp_dir(), name)
        soundfile.write(path, audio, rate, subtype=subtype)
        return path

    def test_truncated_pcm_wav(self):
        path = self.wav("cut.wav", noise(8000))
        truncate(path, 0.5)
        # 44 header bytes + 8000 frames of 2 bytes, cut to 8022 bytes.
        with pytest.raises(
            AudioDecodeError,
            match=r"cut\.wav': truncated: the header promises 8000 frames, "
            r"the file holds 3989 \(49\.9%\)",
        ):
            load_audio(path, 8000)

    def test_truncated_float_stereo_wav(self):
        path = self.wav("cut2.wav", np.stack([noise(4000)] * 2, 1), "FLOAT")
        truncate(path, 0.9)
        with pytest.raises(
            AudioDecodeError, match=r"cut2\.wav.*promises 4000 frames"
        ):
            load_audio(path, 8000, mono=False)

    def test_complete_wav_with_trailing_chunk_is_not_truncated(self):
        # The check reads the data chunk's size, not the file's.
        pcm = (noise(1000) * 32768).astype("int16")
        path = self.wav("tail.wav", pcm)
        with open(path, "ab") as stream:
            stream.write(b"LIST\x04\x00\x00\x00INFO")
        # int16 / 32768 is exact in float32: every frame, unchanged.
        self.assertAllEqual(load_audio(path, 8000), pcm / np.float32(32768))

    def test_directory(self):
        path = os.path.join(self.get_temp_dir(), "album")
        os.makedirs(path)
        with pytest.raises(
            AudioDecodeError, match=r"'.*album': is a directory, not an audio"
        ):
            load_audio(path, 8000)

    def test_directory_with_an_audio_extension(self):
        path = os.path.join(self.get_temp_dir(), "take.wav")
        os.makedirs(path)
        with pytest.raises(AudioDecodeError, match=r"take\.wav': is a dir"):
            load_audio(path, 8000)

    def test_infinite_samples(self):
        audio = noise(800)
        audio[5] = np.inf
        path = self.wav("inf.wav", audio, "FLOAT")
        with pytest.raises(AudioDecodeError, match=r"inf\.wav.*infinite"):
            load_audio(path, 8000)

    def test_path_that_is_not_a_path(self):
        with pytest.raises(ValueError, match=r"`path` must be a str or path"):
            load_audio(None, 8000)
        with pytest.raises(ValueError, match=r"Received: path=3"):
            load_audio(3, 8000)

    def test_float_sample_rate(self):
        with pytest.raises(ValueError, match=r"sample_rate=16000\.0"):
            load_audio("a.wav", 16000.0)


def constant_load(audio, track_id="t0"):
    def load_fn(item):
        return Track(track_id, audio, SAMPLE_RATE, {"genre": ["jazz"]})

    return load_fn


class BadAudioArrayTest(TestCase):
    def test_int16_range_samples_passed_as_float(self):
        pcm = (noise(800) * 30000).round()
        with pytest.raises(
            ValueError,
            match=r"Track 't0': `audio` must be float samples in \[-1, 1\]; "
            r"it peaks at 1\d{4}.*int16-range samples passed as float\? "
            "Divide int16 PCM by 32768",
        ):
            write(self.get_temp_dir(), count=1, load_fn=constant_load(pcm))

    def test_int16_range_samples_in_a_worker(self):
        # The same check where targets are computed (in the load process).
        pcm = (noise(1600) * 20000).round()
        with pytest.raises(ValueError, match=r"Track 't0': `audio` must be"):
            write(
                self.get_temp_dir(),
                count=1,
                load_fn=constant_load(pcm),
                targets=lambda a: {"x": np.zeros((len(a) // 80, 1))},
            )

    def test_int16_range_samples_given_to_the_pase_targets(self):
        pcm = (noise(1600) * 30000).round()
        with pytest.raises(
            ValueError, match=r"`audio` must be float samples in \[-1, 1\]"
        ):
            pase_targets(pcm)

    def test_clipping_to_int16_is_warned_with_the_fraction(self):
        audio = noise(1000, peak=2.0, seed=3)
        clipped = np.mean(np.abs(audio) > 1.0)  # about half
        output_dir = self.get_temp_dir()
        with pytest.warns(UserWarning) as caught:
            write(
                output_dir,
                count=1,
                num_shards=1,
                load_fn=constant_load(audio, "hot"),
            )
        (warning,) = [w for w in caught if "clipped" in str(w.message)]
        self.assertIn("1 of 1 tracks written to", str(warning.message))
        self.assertIn("shard-00000-of-00001.tfrecord", str(warning.message))
        self.assertIn(f"'hot' ({clipped:.1%} of samples)", str(warning.message))
        self.assertIn("audio_format='float16'", str(warning.message))

    def test_float16_storage_does_not_clip_nor_warn(self):
        audio = noise(1000, peak=2.0, seed=3)
        output_dir = self.get_temp_dir()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            manifest = write(
                output_dir,
                count=1,
                num_shards=1,
                load_fn=constant_load(audio),
                audio_format="float16",
            )
        path = os.path.join(output_dir, manifest["shards"][0]["file"])
        (feature,) = read_examples(path)
        data = np.frombuffer(feature["data"].bytes_list.value[0], "<f2")
        self.assertAllEqual(data, audio.astype("float16"))

    def test_infinite_and_empty_audio_are_skipped_with_the_reason(self):
        def load_fn(item):
            track = synthetic_track(item)
            if item == "t0":
                track.audio[1] = -np.inf
            if item == "t1":
                track.audio = np.zeros(0, "float32")
            return track

        manifest = write(self.get_temp_dir(), count=3, load_fn=load_fn)
        reasons = {s["item"]: s["reason"] for s in manifest["skipped"]}
        self.assertIn("'t0'", reasons["'t0'"])
        self.assertIn("NaN or infinite", reasons["'t0'"])
        self.assertIn("the audio is empty", reasons["'t1'"])
        self.assertEqual(manifest["num_examples"], 1)

    def test_int_track_id(self):
        with pytest.raises(
            ValueError,
            match=r"`track_id` is a non-empty str\. Received: track_id=5 "
            r"\(int\)",
        ):
            write(
                self.get_temp_dir(), count=1, load_fn=constant_load(noise(9), 5)
            )

    def test_empty_track_id(self):
        with pytest.raises(ValueError, match=r"track_id='' \(str\)"):
            write(
                self.get_temp_dir(),
                count=1,
                load_fn=constant_load(noise(9), ""),
            )

    def test_encode_example_with_an_int_track_id(self):
        with pytest.raises(
            ValueError, match=r"`track_id` must be a str\. Received: track_id=7"
        ):
            encode_example(7, np.zeros(4, "int16"), 8000, 0.1, {})

    def test_two_dimensional_audio(self):
        with pytest.raises(
            ValueError, match=r"Track 't0': audio must be mono.*\(1, 800\)"
        ):
            write(
                self.get_temp_dir(),
                count=1,
                load_fn=constant_load(noise(800)[None]),
            )

    def test_skipped_reasons_are_in_the_manifest_file(self):
        def load_fn(item):
            raise AudioDecodeError(f"{item}.wav", "is a directory")

        output_dir = self.get_temp_dir()
        write(output_dir, count=2, load_fn=load_fn)
        with open(os.path.join(output_dir, "manifest.json")) as stream:
            skipped = json.load(stream)["skipped"]
        self.assertEqual(
            [s["reason"] for s in skipped],
            [
                f"Cannot decode audio file 't{i}.wav': is a directory"
                for i in (0, 1)
            ],
        )


class BadNotesTest(TestCase):
    def render(self, notes):
        return render_notes(notes, [0], sample_rate=8000, duration=0.5)

    def test_rows_of_four(self):
        with pytest.raises(
            ValueError,
            match=r"`notes` must be an array \(notes, 5\).*"
            r"notes\.shape=\(1, 4\)",
        ):
            self.render([[0.0, 0.5, 60, 100]])

    def test_flat_buffer(self):
        # A flat buffer of 7 numbers was a NumPy reshape error.
        with pytest.raises(ValueError, match=r"notes\.shape=\(7,\)"):
            self.render([0.0, 0.5, 60, 100, 0, 0.1, 0.2])
