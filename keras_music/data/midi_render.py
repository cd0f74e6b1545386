"""Renders note events to audio with a General-MIDI soundfont, in process.

The synthesiser is `tinysoundfont` (a pip wheel of TinySoundFont). It is
installed with `--no-deps` because its optional `pyaudio` dependency does
not build; only `tinysoundfont.Synth` is used here, which needs no audio
device. The default soundfont is TimGM6mb, shipped inside the
`pretty_midi` wheel, so rendering works on a fresh machine with pip only.
Debian's larger General-MIDI soundfonts are used as extra timbre domains
when they happen to be installed.
"""

import os

import numpy as np

from keras_music.utils.validation import check_positive
from keras_music.utils.validation import check_positive_int

# Where Debian's `fluid-soundfont-gm` and `musescore-general-soundfont-small`
# put their files; absent on most machines, which is normal.
_SYSTEM_SOUNDFONTS = {
    "fluidr3_gm": (
        "/usr/share/sounds/sf2/FluidR3_GM.sf2",
        "/usr/share/sounds/sf3/FluidR3_GM.sf3",
    ),
    "musescore_general": (
        "/usr/share/sounds/sf2/MuseScore_General.sf2",
        "/usr/share/sounds/sf3/MuseScore_General.sf3",
        "/usr/share/sounds/sf2/MuseScore_General.sf3",
    ),
}

# A synthesiser keeps state between renders (the first render after
# loading differs from later ones even after `sounds_off`), so every render
# gets a fresh one; the soundfont bytes are read once per process, and
# loading them from memory costs ~8 ms (TimGM6mb).
_SOUNDFONT_BYTES = {}

# Channel 9 is the General-MIDI drum channel; melodic parts avoid it.
_DRUM_CHANNEL = 9
_MAX_CHANNELS = 15
_MIDI_CHANNELS = [c if c < _DRUM_CHANNEL else c + 1 for c in range(15)]


def available_soundfonts():
    """General-MIDI soundfonts usable on this machine, by name.

    `"timgm6mb"` (from the `pretty_midi` wheel) is always present; Debian's
    FluidR3 GM (`"fluidr3_gm"`) and MuseScore General
    (`"musescore_general"`) are added when installed.

    Returns:
        dict mapping a soundfont name to its file path, in a fixed order
        (the default first), so that seeded choices are reproducible on
        machines with the same soundfonts.

    Example:

    >>> "timgm6mb" in available_soundfonts()
    True
    """
    import pretty_midi

    fonts = {
        "timgm6mb": os.path.join(
            os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2"
        )
    }
    if not os.path.isfile(fonts["timgm6mb"]):
        raise ValueError(
            "The TimGM6mb soundfont is missing from the pretty_midi "
            f"package. Expected a file at {fonts['timgm6mb']}; reinstall "
            "pretty_midi."
        )
    for name, candidates in _SYSTEM_SOUNDFONTS.items():
        for path in candidates:
            if os.path.isfile(path):
                fonts[name] = path
                break
    return fonts


def _synth(soundfont, sample_rate):
    import tinysoundfont

    if soundfont not in _SOUNDFONT_BYTES:
        with open(soundfont, "rb") as f:
            _SOUNDFONT_BYTES[soundfont] = f.read()
    synth = tinysoundfont.Synth(samplerate=sample_rate)
    sfid = synth.sfload(_SOUNDFONT_BYTES[soundfont])
    return synth, sfid


def render_notes(
    notes,
    programs,
    *,
    sample_rate,
    duration,
    soundfont=None,
    peak=0.8,
):
    """Renders note events with a General-MIDI soundfont to mono audio.

    Each part plays on its own MIDI channel with the General-MIDI program
    given in `programs`. The output is exactly `duration` seconds long
    (notes that sound past the end are cut, as in an excerpt of a
    recording), mixed to mono, and scaled so that its peak is `peak`: the
    level of a clip then carries no information about its source.
    Rendering is deterministic: the same events give the same samples,
    whatever was rendered before in the process (each call uses a fresh
    synthesiser).

    Args:
        notes: array-like `(num_notes, 5)`: start time (s), end time (s),
            MIDI pitch, velocity (1-127) and channel (index into
            `programs`).
        programs: list of General-MIDI program numbers (0-127), one per
            channel. At most 15 channels (the drum channel is skipped).
        sample_rate: int. Output rate in Hz; the synthesiser renders at
            this rate directly, with no resampling.
        duration: float. Length of the output in seconds.
        soundfont: str. Path to an `.sf2`/`.sf3` file. Defaults to
            TimGM6mb from `available_soundfonts()`.
        peak: float. Peak absolute value of the output, in (0, 1].
            Defaults to 0.8, leaving headroom for augmentation.

    Returns:
        float32 array `(round(duration * sample_rate),)`.

    Example:

    >>> audio = render_notes(
    ...     [[0.0, 0.5, 69, 100, 0]], [40], sample_rate=16000, duration=1.0
    ... )
    >>> audio.shape
    (16000,)

    Reference:
        TinySoundFont (github.com/schellingb/TinySoundFont); General MIDI
        Level 1 program list.
    """
    sample_rate = check_positive_int("sample_rate", sample_rate)
    duration = check_positive("duration", duration)
    peak = check_positive("peak", peak)
    if peak > 1:
        raise ValueError(f"`peak` must be in (0, 1]. Received: peak={peak!r}")
    programs = _checked_programs(programs)
    notes = _checked_notes(notes, programs)
    if soundfont is None:
        soundfont = available_soundfonts()["timgm6mb"]
    if not os.path.isfile(soundfont):
        raise ValueError(
            f"`soundfont` must be a soundfont file. Received: "
            f"soundfont={soundfont!r}"
        )

    synth, sfid = _synth(soundfont, sample_rate)
    for channel, program in enumerate(programs):
        synth.program_select(_MIDI_CHANNELS[channel], sfid, 0, program)
    num_samples = int(round(duration * sample_rate))
    events = _schedule(notes, sample_rate, num_samples)
    audio = _play(synth, events, num_samples).mean(axis=1)
    level = float(np.max(np.abs(audio)))
    if not np.isfinite(level) or level == 0.0:
        raise ValueError(
            "The rendered audio is silent or not finite: no note sounded "
            f"within the first {duration} s (programs={programs}, "
            f"soundfont={soundfont!r})."
        )
    return (audio * (peak / level)).astype(np.float32)


def _checked_programs(programs):
    programs = [int(p) for p in programs]
    if not 1 <= len(programs) <= _MAX_CHANNELS:
        raise ValueError(
            f"`programs` must list 1 to {_MAX_CHANNELS} General-MIDI "
            f"programs. Received: programs={programs!r}"
        )
    if any(not 0 <= p <= 127 for p in programs):
        raise ValueError(
            "`programs` must be General-MIDI program numbers in [0, 127]. "
            f"Received: programs={programs!r}"
        )
    return programs


def _checked_notes(notes, programs):
    notes = np.asarray(notes, dtype=np.float64)
    if notes.size == 0:
        notes = notes.reshape(0, 5)
    if notes.ndim != 2 or notes.shape[1] != 5:
        raise ValueError(
            "`notes` must be an array (notes, 5) of rows (start, end, pitch, "
            f"velocity, channel). Received: notes.shape={notes.shape}"
        )
    if len(notes) == 0:
        raise ValueError(
            "`notes` is empty: there is nothing to render. "
            f"Received: notes.shape={notes.shape}"
        )
    if not np.all(np.isfinite(notes)) or np.any(notes[:, 1] < notes[:, 0]):
        raise ValueError(
            "`notes` must hold finite times with end >= start for every note."
        )
    channel_ids = notes[:, 4].astype(int)
    if np.any(channel_ids < 0) or np.any(channel_ids >= len(programs)):
        raise ValueError(
            "`notes` refers to a channel without a program: channels must "
            f"be in [0, {len(programs) - 1}]. Received channels: "
            f"{sorted(set(channel_ids.tolist()))}"
        )
    return notes


def _schedule(notes, sample_rate, num_samples):
    """Sorted `(sample, is_on, channel, key, velocity)` MIDI events."""
    events = []
    for start, end, pitch, velocity, channel in notes:
        key = int(np.clip(round(pitch), 0, 127))
        vel = int(np.clip(round(velocity), 1, 127))
        chan = _MIDI_CHANNELS[int(channel)]
        # Sample positions, not seconds, so the schedule is exact.
        on = int(round(start * sample_rate))
        off = max(int(round(end * sample_rate)), on + 1)
        if on >= num_samples:
            continue
        # Note-offs sort before note-ons at the same sample so that a
        # repeated pitch is re-struck rather than cut.
        events.append((off, 0, chan, key, 0))
        events.append((on, 1, chan, key, vel))
    events.sort()
    return events


def _play(synth, events, num_samples):
    """`synth`'s stereo output `(num_samples, 2)` playing `events`."""
    stereo = np.zeros((num_samples, 2), dtype=np.float32)
    position = 0
    for time, is_on, chan, key, vel in events:
        time = min(time, num_samples)
        if time > position:
            block = synth.generate(time - position)
            stereo[position:time] = np.frombuffer(
                block, dtype=np.float32
            ).reshape(-1, 2)
            position = time
        if is_on:
            synth.noteon(chan, key, vel)
        else:
            synth.noteoff(chan, key)
    if position < num_samples:
        block = synth.generate(num_samples - position)
        stereo[position:] = np.frombuffer(block, dtype=np.float32).reshape(
            -1, 2
        )
    return stereo
