import os
import tempfile
from unittest import mock

import numpy as np
import pytest

from keras_music.data import midi_render
from keras_music.data.midi_render import available_soundfonts
from keras_music.data.midi_render import render_notes
from tests.test_case import TestCase

FLUTE = 73
VIOLIN = 40


def _dominant_frequency(audio, sample_rate):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.fft.rfftfreq(len(audio), 1.0 / sample_rate)[np.argmax(spectrum)]


class MidiRenderTest(TestCase):
    def test_default_soundfont_is_shipped_with_pretty_midi(self):
        fonts = available_soundfonts()
        self.assertEqual(list(fonts)[0], "timgm6mb")
        self.assertTrue(os.path.isfile(fonts["timgm6mb"]))
        self.assertTrue(fonts["timgm6mb"].endswith("TimGM6mb.sf2"))

    def test_installed_system_soundfonts_are_detected(self):
        # Stands in for Debian's FluidR3 GM: a link to TimGM6mb at a
        # temporary path patched into the list of known locations.
        default = available_soundfonts()["timgm6mb"]
        with tempfile.TemporaryDirectory() as directory:
            link = os.path.join(directory, "FluidR3_GM.sf2")
            os.symlink(default, link)
            known = {"fluidr3_gm": ("/nonexistent.sf2", link)}
            with mock.patch.object(midi_render, "_SYSTEM_SOUNDFONTS", known):
                fonts = available_soundfonts()
            audio = render_notes(
                [[0.0, 0.5, 60, 100, 0]],
                [0],
                sample_rate=16000,
                duration=0.5,
                soundfont=fonts["fluidr3_gm"],
            )
        self.assertEqual(list(fonts), ["timgm6mb", "fluidr3_gm"])
        self.assertEqual(audio.shape, (8000,))

    def test_shape_dtype_peak_and_rates(self):
        for rate in (16000, 22050):
            audio = render_notes(
                [[0.0, 0.4, 69, 100, 0], [0.4, 0.9, 72, 90, 1]],
                [VIOLIN, 0],
                sample_rate=rate,
                duration=1.0,
            )
            self.assertEqual(audio.shape, (rate,))
            self.assertEqual(audio.dtype, np.float32)
            self.assertTrue(np.all(np.isfinite(audio)))
            # Peak normalisation is a scale by a float: exact to float32
            # rounding.
            self.assertAllClose(np.max(np.abs(audio)), 0.8, atol=1e-6)

    def test_pitch_matches_midi_formula(self):
        # A sustained flute note, whose spectrum is dominated by its
        # fundamental; reference: f = 440 * 2 ** ((p - 69) / 12).
        rate = 16000
        for pitch in (69, 76):
            audio = render_notes(
                [[0.0, 1.0, pitch, 100, 0]],
                [FLUTE],
                sample_rate=rate,
                duration=1.0,
            )
            expected = 440.0 * 2 ** ((pitch - 69) / 12)
            measured = _dominant_frequency(audio[2000:14000], rate)
            # 3% is half a semitone: allows the 1.3 Hz FFT bin and the
            # soundfont's sample tuning, but not a wrong note.
            self.assertAllClose(measured, expected, rtol=0.03)

    def test_notes_start_on_time(self):
        rate = 16000
        audio = render_notes(
            [[0.5, 0.9, 69, 100, 0]], [VIOLIN], sample_rate=rate, duration=1.0
        )
        # Nothing sounds before the onset; the note is loud after it.
        self.assertEqual(np.max(np.abs(audio[: int(0.5 * rate)])), 0.0)
        self.assertGreater(
            np.sqrt(np.mean(audio[int(0.55 * rate) : int(0.85 * rate)] ** 2)),
            0.05,
        )

    def test_deterministic_whatever_was_rendered_before(self):
        notes = [[0.0, 0.3, 60, 100, 0], [0.2, 0.8, 64, 80, 1]]
        first = render_notes(notes, [0, 42], sample_rate=16000, duration=1.0)
        render_notes(
            [[0.0, 1.0, 50, 127, 0]], [109], sample_rate=16000, duration=1.0
        )
        again = render_notes(notes, [0, 42], sample_rate=16000, duration=1.0)
        self.assertEqual(first.tobytes(), again.tobytes())
        other = render_notes(notes, [0, 40], sample_rate=16000, duration=1.0)
        self.assertNotEqual(first.tobytes(), other.tobytes())

    def test_notes_past_the_end_are_cut(self):
        audio = render_notes(
            [[0.0, 5.0, 60, 100, 0], [3.0, 4.0, 62, 100, 0]],
            [0],
            sample_rate=8000,
            duration=0.5,
        )
        self.assertEqual(audio.shape, (4000,))

    def test_invalid_arguments(self):
        note = [[0.0, 0.5, 60, 100, 0]]
        cases = [
            (dict(sample_rate=0), "sample_rate"),
            (dict(duration=-1.0), "duration"),
            (dict(peak=1.5), "peak"),
            (dict(peak=0.0), "peak"),
            (dict(programs=[]), "programs"),
            (dict(programs=[128]), "programs"),
            (dict(programs=list(range(16))), "programs"),
            (dict(notes=[]), "notes"),
            (dict(notes=[[0.5, 0.1, 60, 100, 0]]), "notes"),
            (dict(notes=[[0.0, np.nan, 60, 100, 0]]), "notes"),
            (dict(notes=[[0.0, 0.5, 60, 100, 2]]), "channel"),
            (dict(soundfont="/nonexistent/font.sf2"), "soundfont"),
        ]
        for override, message in cases:
            kwargs = dict(
                notes=note, programs=[0], sample_rate=16000, duration=1.0
            )
            kwargs.update(override)
            with pytest.raises(ValueError, match=message):
                render_notes(**kwargs)

    def test_silent_render_is_an_error(self):
        # The only note starts after the end: nothing sounds.
        with pytest.raises(ValueError, match="silent"):
            render_notes(
                [[2.0, 3.0, 60, 100, 0]], [0], sample_rate=16000, duration=1.0
            )
