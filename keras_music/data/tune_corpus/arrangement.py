"""How a tune is played: instruments, accompaniment, tempo, swing and
excerpt, drawn from a clip's seed. Pure NumPy: notes in, notes out (the
synthesiser is `keras_music.data.midi_render`)."""

import re
from typing import NamedTuple

import numpy as np

from keras_music.data.tune_corpus.sources import _DANCE_COLLECTIONS

# General-MIDI programs (0-based) of the instruments the corpus uses.
INSTRUMENT_PROGRAMS = {
    "piano": 0,
    "harpsichord": 6,
    "church organ": 19,
    "accordion": 21,
    "harmonica": 22,
    "nylon guitar": 24,
    "acoustic bass": 32,
    "violin": 40,
    "cello": 42,
    "harp": 46,
    "trumpet": 56,
    "oboe": 68,
    "bassoon": 70,
    "clarinet": 71,
    "flute": 73,
    # Not the tin whistle (78): TimGM6mb has no sample for its keys 79-101,
    # the whistle's own range, so its notes would be silent.
    "banjo": 105,
}
_MELODY = (
    "violin",
    "flute",
    "banjo",
    "accordion",
    "harmonica",
    "clarinet",
    "oboe",
    "trumpet",
    "piano",
    "harp",
    "nylon guitar",
)
_CHORDS = ("piano", "nylon guitar", "harp", "harpsichord", "accordion")
# Fiddle tunes are played by the instruments of a dance band or session,
# backed by piano or guitar. Fewer timbres than for songs also keeps the
# dance audible through the instrument noise (benchmarks/corpus_baseline.py:
# near chance with the full melody pool).
_DANCE_BAND_MELODY = ("violin", "flute", "banjo", "accordion")
_DANCE_BAND_CHORDS = ("piano", "nylon guitar")
_BASS = ("acoustic bass", "cello", "bassoon")
_UPPER_VOICE = (
    "violin",
    "flute",
    "oboe",
    "clarinet",
    "trumpet",
    "piano",
    "harpsichord",
    "church organ",
)
_LOWER_VOICE = ("cello", "bassoon", "acoustic bass", "piano", "church organ")
_KEYBOARDS = ("piano", "harpsichord", "church organ")

# from common session and performance practice. Setting the tempo from the
# running note makes it independent of how the tune is notated (a reel in
# 2/4 with sixteenths or in 4/4 with eighths). With eight running notes to
# a reel, hornpipe or strathspey bar, six to a jig bar and nine to a slip
# jig bar, these are 56 bars a minute for reels and 60 for jigs (the RSCDS
# asks 58 for both), 37.5 for hornpipes (Hardie's "Caledonian Companion":
# 69-76 minims a minute for dotted hornpipes), 34 for strathspeys (Hardie:
# 126-138 crotchets, about 32 bars) and 40 for slip jigs (120 dotted
# crotchets).
RUNNING_NOTES_PER_SECOND = {
    "reel": 7.5,
    "jig": 6.0,
    "hornpipe": 5.0,
    "strathspey": 4.5,
    "slip jig": 6.0,
    "ryans_mammoth": 5.0,
    "oneills_1850": 4.0,
    "essen_folksong": 3.0,
    "bach": 1.5,
    "palestrina": 1.6,
    "monteverdi": 2.0,
}


def _choose(rng, options):
    return options[int(rng.integers(len(options)))]


def _diatonic_triads(sharps):
    """Pitch classes of the six diatonic triads of a key signature."""
    tonic = (7 * sharps) % 12
    scale = [(tonic + step) % 12 for step in (0, 2, 4, 5, 7, 9, 11)]
    return [
        (scale[d], scale[(d + 2) % 7], scale[(d + 4) % 7]) for d in range(6)
    ]


def parse_metre(text):
    """`(numerator, denominator)` of an ABC `M:` field, or `None`.

    Common time `C` is 4/4 and cut time `C|` is 2/2; a free or missing
    metre (`none`, `FREI4/4`, no field) gives `None`.

    Args:
        text: str. The field's value.

    Example:

    >>> parse_metre("6/8"), parse_metre("C|"), parse_metre("none")
    ((6, 8), (2, 2), None)
    """
    text = text.strip()
    if text == "C":
        return 4, 4
    if text == "C|":
        return 2, 2
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        return None
    return int(match.group(1)), int(match.group(2))


def _vamp(metre, running):
    """The accompaniment pattern of one bar, from the metre.

    A dance band's rhythm section "vamps": the bass on the strong beats,
    short chords between them (the "boom-chuck": a chord is held for half
    of its step, which is what makes the pulse audible). The pattern
    follows the beats a dancer steps on, which in Scottish country dancing
    fall on 1, 2, 3, 4 of a reel or strathspey bar and on 1, 3, 4, 6 of a
    jig bar (as Scottish country dance steps are taught):

    - compound metres (6/8, 9/8, 12/8, 6/4): a bass note on each
      dotted-quarter beat and a chord on its last third, the long-short
      lilt of jigs and slip jigs (two beats to a 6/8 bar, three to 9/8);
    - triple metres (3/4, 3/8): bass on the first beat, chords on the
      other two (the waltz or mazurka "oom-pah-pah");
    - duple and quadruple metres (2/4, C, C|): bass and chord alternating
      on a step of two running notes, so that a reel in 4/4 eighths and
      one in 2/4 sixteenths get the same "boom-chuck" at the same speed,
      as they are played. Strathspeys (4/4, running eighths) get four
      steps to the bar: bass on 1 and 3, chords on 2 and 4.

    Args:
        metre: `(numerator, denominator)` or `None`.
        running: float. Running note value in quarter lengths.

    Returns:
        `(bar_length, events)` with `events` a list of
        `(offset, length, is_bass)` in quarter lengths, or `None` when the
        metre is unknown or irregular (the accompaniment then holds each
        bar's chord).
    """
    if metre is None:
        return None
    numerator, denominator = metre
    beat = 4.0 / denominator
    bar = numerator * beat
    if numerator in (6, 9, 12):
        events = []
        for start in (3 * beat * k for k in range(numerator // 3)):
            events.append((start, 2 * beat, True))
            events.append((start + 2 * beat, beat / 2, False))
        return bar, events
    if numerator == 3:
        return bar, [
            (0.0, beat, True),
            (beat, beat / 2, False),
            (2 * beat, beat / 2, False),
        ]
    if numerator in (2, 4):
        step = min(2 * running, beat)
        count = int(round(bar / step))
        if count < 2 or not np.isclose(count * step, bar):
            return None
        return bar, [
            (k * step, step if k % 2 == 0 else step / 2, k % 2 == 0)
            for k in range(count)
        ]
    return None


def _accompaniment(melody, measures, end, sharps, metre=None, running=0.5):
    """Bass and chord notes (quarter lengths) following the melody.

    Each bar gets the diatonic triad that covers most of its melody notes
    (weighted by duration): a simple, honest harmonisation. The rhythm
    comes from the metre (see `_vamp`): bass notes on the beats and chords
    between them; a bar of unknown metre holds its chord.
    """
    bounds = sorted(set(m for m in measures if m < end)) or [0.0]
    bounds = bounds + [end]
    triads = _diatonic_triads(sharps)
    melody = np.asarray(melody, dtype=np.float64)
    pattern = _vamp(metre, running)
    bass, chords = [], []
    # Where each bar starts in the pattern: a short first bar is an
    # upbeat (the end of a bar); a short bar after a full one (the end of
    # a part before a repeat) starts the pattern, and a short bar after a
    # short one (the upbeat to the next part) goes on where it stopped.
    phase, previous = 0.0, None
    for number, (start, stop) in enumerate(
        zip(bounds[:-1], bounds[1:], strict=True)
    ):
        length = stop - start
        if pattern is not None:
            bar = pattern[0]
            if number == 0:
                phase = max(bar - length, 0.0)
            elif previous is not None and previous[1] < bar - 1e-9:
                phase = (previous[0] + previous[1]) % bar
            else:
                phase = 0.0
        previous = (phase, length)
        if length <= 0:
            continue
        inside = (melody[:, 0] >= start) & (melody[:, 0] < stop)
        if not np.any(inside):
            continue
        weights = np.zeros(12)
        for _, note_length, pitch in melody[inside]:
            weights[int(pitch) % 12] += note_length
        scores = [sum(weights[pc] for pc in triad) for triad in triads]
        root, third, fifth = triads[int(np.argmax(scores))]
        if pattern is None:
            events = [(0.0, length, True), (0.0, length, False)]
        else:
            # Bars longer than the metre's (a change of metre the header
            # does not give) repeat the pattern.
            repeats = int(np.ceil((phase + length) / bar - 1e-9)) + 1
            events = [
                (offset + r * bar, duration, is_bass)
                for r in range(repeats)
                for offset, duration, is_bass in pattern[1]
            ]
        for offset, duration, is_bass in events:
            onset = start + offset - phase
            if onset < start - 1e-9 or onset >= stop - 1e-9:
                continue
            duration = min(duration, stop - onset)
            if is_bass:
                bass.append([onset, duration, 36 + (root - 36) % 12])
            else:
                for pc in (root, third, fifth):
                    chords.append([onset, duration, 55 + (pc - 55) % 12])
    return bass, chords


def _running_note(parts):
    """The most frequent note value, a dotted pair counting as two notes.

    Tunes notated with dotted rhythms (hornpipes written as dotted eighth
    and sixteenth, strathspeys with their dotted pairs and Scotch snaps)
    have as many sixteenths as dotted eighths: counted as they are, the
    sixteenth would set the tempo and such tunes would be played at half
    speed. A pair of notes of 3u and u (either order) is an uneven
    rendering of two running notes of 2u, and is counted so.
    """
    lengths = []
    for part in parts:
        values = [round(n[1], 4) for n in sorted(part)]
        index = 0
        while index < len(values):
            pair = values[index : index + 2]
            if len(pair) == 2 and (
                np.isclose(pair[0], 3 * pair[1])
                or np.isclose(pair[1], 3 * pair[0])
            ):
                lengths += [round(2 * min(pair), 4)] * 2
                index += 2
            else:
                lengths.append(values[index])
                index += 1
    values, counts = np.unique(lengths, return_counts=True)
    return float(values[np.argmax(counts)])


def _notated_even(parts, running):
    """Whether a tune is written in even running notes (not dotted)."""
    lengths = np.round([n[1] for part in parts for n in part], 4)
    even = np.sum(np.isclose(lengths, running))
    dotted = np.sum(np.isclose(lengths, 1.5 * running))
    return bool(even > 2 * dotted)


def _swing(times, running, ratio):
    """Times (quarter lengths) with each pair of running notes swung.

    Within each span of two running notes, the first note takes the share
    `ratio / (1 + ratio)` of the span instead of a half: a piecewise-linear
    warp of time that moves the off-beat note later and leaves the beats
    in place (2 is the triplet swing, 3 a dotted rhythm).
    """
    span = 2 * running
    whole = np.floor(times / span + 1e-9)
    phase = times / span - whole
    long_share = ratio / (1 + ratio)
    warped = np.where(
        phase < 0.5,
        phase * 2 * long_share,
        long_share + (phase - 0.5) * 2 * (1 - long_share),
    )
    return (whole + warped) * span


class Arrangement(NamedTuple):
    """One clip as played (what `arrange_clip` returns): notes `[onset_s,
    offset_s, midi_pitch, velocity, channel]`, the instrument of each
    channel, and the tempo, transposition and excerpt start drawn.

    Args:
        notes: list of notes.
        instruments: list of instrument names (keys of
            `INSTRUMENT_PROGRAMS`), one per channel.
        quarters_per_second: float. The tempo played.
        tempo_factor: float. Its ratio to the style's usual tempo.
        transpose: int. Semitones.
        start_seconds: float. Where the excerpt starts in the tune.

    Example:

    >>> played = Arrangement([[0.0, 0.5, 69, 90, 0]], ["violin"], 2.0,
    ...                      1.0, 0, 0.0)
    >>> played.programs
    [40]
    """

    notes: list
    instruments: list
    quarters_per_second: float
    tempo_factor: float
    transpose: int
    start_seconds: float

    @property
    def programs(self):
        """The General-MIDI program of each channel."""
        return [INSTRUMENT_PROGRAMS[name] for name in self.instruments]


def arrange_clip(item, parsed, clip_seconds, tempo_jitter, max_transpose):
    """The notes of one clip of `item` (from `tune_corpus_items`), drawn
    from its seed: instruments and accompaniment, tempo, transposition
    and excerpt. `parsed` is the tune's notes (`sources.parsed_tune`), with at
    least one part."""
    tune, style = item["tune"], item["style"]
    dance = tune.get("dance")
    rng = np.random.default_rng(item["seed"])
    parts = parsed["parts"]
    end = max(n[0] + n[1] for part in parts for n in part)
    running = _running_note(parts)
    voices = _voices(parsed, tune, style, running, end, rng)

    # Note starts and ends in quarter lengths. Hornpipes are played with
    # swung pairs of running notes, "with a lilt", whether or not the
    # collection writes them dotted (O'Neill's often does, Ryan's seldom):
    # the even ones get a triplet swing; dotted ones are played as written.
    timings = []
    swing = dance == "hornpipe" and _notated_even(parts, running)
    for name, part in voices:
        part = np.asarray(part, dtype=np.float64)
        begins, ends = part[:, 0], part[:, 0] + part[:, 1]
        if swing:
            begins, ends = (_swing(t, running, 2.0) for t in (begins, ends))
        timings.append((name, part, begins, ends))

    base = RUNNING_NOTES_PER_SECOND[dance or style]
    tempo_factor = 1 + rng.uniform(-tempo_jitter, tempo_jitter)
    quarters_per_second = base * running * tempo_factor
    transpose = int(rng.integers(-max_transpose, max_transpose + 1))
    seconds = end / quarters_per_second
    # Excerpts start on a note onset, so that no clip opens with silence;
    # short tunes are played again and again, as dance tunes are.
    latest = seconds - clip_seconds if seconds >= clip_seconds else seconds
    onsets = sorted({float(t) for _, _, begins, _ in timings for t in begins})
    onsets = [t / quarters_per_second for t in onsets]
    onsets = [t for t in onsets if t <= latest] or [0.0]
    start = float(_choose(rng, onsets))
    repeats = max(1, int(np.ceil((start + clip_seconds) / seconds)))

    instruments = sorted({name for name, _ in voices})
    measures = np.asarray(parsed["measures"] or [0.0])
    notes = []
    for name, part, begins, ends in timings:
        channel = instruments.index(name)
        for repeat in range(repeats):
            onsets = (begins + repeat * end) / quarters_per_second - start
            offsets = onsets + 0.95 * (ends - begins) / quarters_per_second
            keep = (offsets > 0) & (onsets < clip_seconds)
            # Notes on a bar line are played a little louder.
            downbeat = np.isin(np.round(part[:, 0], 4), np.round(measures, 4))
            velocity = 78 + 12 * downbeat + rng.integers(-8, 9, len(part))
            for i in np.flatnonzero(keep):
                notes.append(
                    [
                        max(onsets[i], 0.0),
                        offsets[i],
                        part[i, 2] + transpose,
                        velocity[i],
                        channel,
                    ]
                )
    return Arrangement(
        notes=notes,
        instruments=instruments,
        quarters_per_second=quarters_per_second,
        tempo_factor=float(tempo_factor),
        transpose=transpose,
        start_seconds=start,
    )


def _voices(parsed, tune, style, running, end, rng):
    """`(instrument, notes)` of each voice: a melody with its band, a
    keyboard reduction, or one instrument per part of a score."""
    parts = parsed["parts"]
    band = style in _DANCE_COLLECTIONS
    if len(parts) == 1:
        melody = _choose(rng, _DANCE_BAND_MELODY if band else _MELODY)
        voices = [(melody, parts[0])]
        bass, chords = _accompaniment(
            parts[0],
            parsed["measures"],
            end,
            parsed["sharps"],
            metre=parse_metre(tune.get("metre", "")),
            running=running,
        )
        # Draws come first so that the random stream does not depend on
        # whether a tune has bars to harmonise.
        chord_pool = _DANCE_BAND_CHORDS if band else _CHORDS
        # Dance tunes are played by a band with a rhythm section: piano or
        # guitar vamping and a bass, as in ceili and Scottish dance bands,
        # whatever the dance. The metre then shows in the rhythm of the
        # whole band, as in a recording (benchmarks/corpus_baseline.py).
        backed = 1.0 if band else 0.5
        chord_player = (
            _choose(rng, chord_pool) if rng.random() < backed else None
        )
        bass_player = _choose(rng, _BASS) if rng.random() < backed else None
        if chord_player and chords:
            voices.append((chord_player, chords))
        if bass_player and bass:
            voices.append((bass_player, bass))
        return voices
    if rng.random() < 0.3:
        # A keyboard plays all the voices, as in a reduction.
        keyboard = _choose(rng, _KEYBOARDS)
        return [(keyboard, [n for part in parts for n in part])]
    return [
        (
            _choose(
                rng, _UPPER_VOICE if number < len(parts) / 2 else _LOWER_VOICE
            ),
            part,
        )
        for number, part in enumerate(parts)
    ]
