"""The built-in corpus: tunes and scores from music21, rendered locally.

The `music21` package ships a corpus of scores: Ryan's Mammoth Collection
(1883) and O'Neill's Music of Ireland (1850), fiddle tunes whose ABC `R:`
field names the dance; Essen folk songs; Bach chorales, Palestrina masses
and Monteverdi madrigals. `build_tune_corpus` turns them into labelled
audio with a General-MIDI soundfont (`keras_music.data.midi_render`), so
that every recipe has data on a fresh machine with nothing to download.

Three tasks, with labels that come from the sources, not from guesses:

- `instrument` (multi-label): the General-MIDI programs that play in the
  clip. A tune's melody gets one instrument (a dance-band instrument for
  the fiddle collections) and may get a bass line and a chordal
  accompaniment on others (always, for the fiddle collections: a dance
  band's rhythm section); each part of a score gets one, or a keyboard
  plays them all.
- `dance` (single-label): reel, jig, hornpipe, strathspey or slip jig, read
  from the tune's `R:` field. Tunes with another rhythm (air, clog, fling,
  waltz) or none carry no `dance` label: their records list no label for
  the task, and single-label training filters them out.
- `style` (single-label): the collection or composer.

Tunes are played as they are played for dancing: at the tempo of their
dance (or collection), hornpipes swung, with a bass and chords vamping
on the beats of the tune's metre. Clips are excerpts of a tune played
with random tempo (+-15%), transposition, arrangement and excerpt
position, all drawn from the seed and the clip's index, so a corpus is
reproducible bit for bit. Splits are by tune: all clips of a tune are in
one split.
"""

import functools
import hashlib
import json
import os
import re
import time

import numpy as np

from keras_music.data.errors import AudioDecodeError
from keras_music.data.midi_render import available_soundfonts
from keras_music.data.midi_render import render_notes
from keras_music.data.track import Track
from keras_music.utils.atomic_write import write_json_atomic
from keras_music.utils.validation import check_positive
from keras_music.utils.validation import check_positive_int
from keras_music.utils.validation import check_probability

# Bump when the rendering, the choice of clips or the item format changes,
# so that corpora built by an older version are not reused; the parsed
# tunes have their own version.
_CORPUS_VERSION = 5
_PARSE_VERSION = 1

SPLITS = ("train", "valid", "test")

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
_DANCE_COLLECTIONS = ("ryans_mammoth", "oneills_1850")
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

DANCES = ("reel", "jig", "hornpipe", "strathspey", "slip jig")
# Spellings met in the `R:` fields of the two collections. A double jig is
# the ordinary 6/8 jig; other rhythms (clog, highland fling, air, waltz)
# are not mapped to a dance of the vocabulary.
_DANCE_SPELLINGS = {
    "reel": "reel",
    "jig": "jig",
    "double jig": "jig",
    "hornpipe": "hornpipe",
    "strathspey": "strathspey",
    "slip jig": "slip jig",
    "slipjig": "slip jig",
}

# style -> (music21 corpus folder, file pattern)
_SOURCES = {
    "ryans_mammoth": ("ryansMammoth", r".*\.abc$"),
    "oneills_1850": ("oneills1850", r".*\.abc$"),
    "essen_folksong": ("essenFolksong", r"^(?!test).*\.abc$"),
    "bach": ("bach", r"^bwv.*\.mxl$"),
    "palestrina": ("palestrina", r".*\.krn$"),
    "monteverdi": ("monteverdi", r"^madrigal\..*\.mxl$"),
}
STYLES = tuple(_SOURCES)
# Share of the clips per style: the fiddle collections carry the dance
# labels, so they get half of the corpus.
_STYLE_SHARES = {
    "ryans_mammoth": 0.25,
    "oneills_1850": 0.25,
    "essen_folksong": 0.15,
    "bach": 0.15,
    "palestrina": 0.1,
    "monteverdi": 0.1,
}

# Notes per second of the most frequent note value (the running notes),
# from common session and performance practice. Setting the tempo from the
# running note makes it independent of how the tune is notated (a reel in
# 2/4 with sixteenths or in 4/4 with eighths). With eight running notes to
# a reel, hornpipe or strathspey bar, six to a jig bar and nine to a slip
# jig bar, these are 56 bars a minute for reels and 60 for jigs (the RSCDS
# asks 58 for both), 37.5 for hornpipes (Hardie's "Caledonian Companion":
# 69-76 minims a minute for dotted hornpipes), 34 for strathspeys (Hardie:
# 126-138 crotchets, about 32 bars) and 40 for slip jigs (120 dotted
# crotchets).
_RUNNING_NOTES_PER_SECOND = {
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

TUNE_CORPUS_TASKS = {
    "instrument": {
        "vocabulary": list(INSTRUMENT_PROGRAMS),
        "multi_label": True,
    },
    "dance": {"vocabulary": list(DANCES), "multi_label": False},
    "style": {"vocabulary": list(STYLES), "multi_label": False},
}


def tune_corpus_cache_dir(cache_dir=None):
    """The root of the corpus cache: `cache_dir`, `$KERAS_MUSIC_CACHE` or
    `~/.cache/keras_music`, followed by `tune_corpus`."""
    if cache_dir is None:
        root = os.environ.get("KERAS_MUSIC_CACHE") or os.path.join(
            os.path.expanduser("~"), ".cache", "keras_music"
        )
        cache_dir = os.path.join(root, "tune_corpus")
    return os.path.abspath(os.path.expanduser(cache_dir))


def _corpus_root():
    import music21

    return os.path.join(os.path.dirname(music21.__file__), "corpus")


def _split_abc(text):
    """An ABC book as its tunes, each starting at its `X:` line."""
    return [t for t in re.split(r"(?m)^(?=X:)", text) if t.startswith("X:")]


def _abc_field(tune_text, field):
    match = re.search(rf"(?m)^{field}:[ \t]*(.*?)[ \t]*$", tune_text)
    return match.group(1) if match else ""


def _dance_of(rhythm):
    return _DANCE_SPELLINGS.get(" ".join(rhythm.lower().split()))


@functools.cache
def _catalog(style):
    """Every tune of a style, from the file names and ABC headers only."""
    folder, pattern = _SOURCES[style]
    directory = os.path.join(_corpus_root(), folder)
    tunes = []
    for name in sorted(os.listdir(directory)):
        if not re.match(pattern, name):
            continue
        path = f"{folder}/{name}"
        if not name.endswith(".abc"):
            tunes.append({"tune_id": f"{style}/{name}", "path": path})
            continue
        with open(os.path.join(directory, name), encoding="latin-1") as f:
            abc_tunes = _split_abc(f.read())
        for index, text in enumerate(abc_tunes):
            tune = {
                "tune_id": f"{style}/{name}#{index}",
                "path": path,
                "index": index,
                "title": _abc_field(text, "T"),
                # The header's time signature (`M:`) sets the pattern of
                # the accompaniment; read here, so that parsed tunes
                # cached by an older version stay valid.
                "metre": _abc_field(text, "M"),
            }
            dance = _dance_of(_abc_field(text, "R"))
            if dance and style in _DANCE_COLLECTIONS:
                tune["dance"] = dance
            tunes.append(tune)
    return tuple(tunes)


def _parse(tune):
    """Notes of a tune as quarter-length events, from music21."""
    import music21

    path = os.path.join(_corpus_root(), tune["path"])
    if "index" in tune:
        with open(path, encoding="latin-1") as f:
            text = _split_abc(f.read())[tune["index"]]
        score = music21.converter.parse(text, format="abc")
    else:
        score = music21.converter.parse(path)
    try:
        score = score.expandRepeats()
    except Exception:
        # Some sources have repeat marks music21 cannot expand; playing the
        # notated sequence once is then the honest fallback.
        pass
    parts = list(score.parts) or [score]
    events = []
    for part in parts:
        notes = []
        for element in part.flatten().notes:
            if isinstance(element, music21.harmony.Harmony):
                continue
            length = float(element.quarterLength)
            if length <= 0:
                # Grace notes: ornaments without metric duration.
                continue
            offset = float(element.offset)
            pitches = getattr(element, "pitches", ())
            for pitch in pitches:
                notes.append([offset, length, int(pitch.midi)])
        if notes:
            events.append(notes)
    measures = [float(m.offset) for m in parts[0].getElementsByClass("Measure")]
    signatures = score.flatten().getElementsByClass("KeySignature")
    sharps = int(signatures[0].sharps) if len(signatures) else 0
    return {"parts": events, "measures": measures, "sharps": sharps}


def _parsed(tune, cache_dir):
    """`_parse` with an on-disk cache shared by all builds."""
    import music21

    digest = hashlib.sha1(tune["tune_id"].encode()).hexdigest()[:16]
    path = os.path.join(
        cache_dir,
        "parsed",
        f"music21-{music21.__version__}-v{_PARSE_VERSION}",
        f"{digest}.json",
    )
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    parsed = _parse(tune)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_json_atomic(path, parsed, indent=None, sort_keys=False)
    return parsed


def _choose(rng, options):
    return options[int(rng.integers(len(options)))]


def _diatonic_triads(sharps):
    """Pitch classes of the six diatonic triads of a key signature."""
    tonic = (7 * sharps) % 12
    scale = [(tonic + step) % 12 for step in (0, 2, 4, 5, 7, 9, 11)]
    return [
        (scale[d], scale[(d + 2) % 7], scale[(d + 4) % 7]) for d in range(6)
    ]


def _metre(text):
    """`(numerator, denominator)` of an ABC `M:` field, or `None`.

    Common time `C` is 4/4 and cut time `C|` is 2/2; a free or missing
    metre (`none`, `FREI4/4`, no field) gives `None`.
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


def tune_corpus_items(
    num_clips=600,
    seed=0,
    split_fractions=(0.8, 0.1, 0.1),
    soundfonts=None,
):
    """Chooses the clips of a corpus and their splits, without rendering.

    Args:
        num_clips: int. Number of clips over all splits. Defaults to 600.
        seed: int. Seed of every random choice. Defaults to 0.
        split_fractions: (train, valid, test) fractions of the tunes,
            summing to 1. Defaults to (0.8, 0.1, 0.1).
        soundfonts: list of soundfont names from `available_soundfonts()`
            to draw timbres from. Defaults to all available.

    Returns:
        dict split -> list of item dicts (cheap and picklable), the input
        of `render_tune_clip`.

    Example:

    >>> items = tune_corpus_items(num_clips=10)
    >>> sum(len(v) for v in items.values())
    10
    """
    num_clips = check_positive_int("num_clips", num_clips)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(
            f"`seed` must be a non-negative integer. Received: seed={seed!r}"
        )
    if seed < 0:
        raise ValueError(
            f"`seed` must be a non-negative integer. Received: seed={seed!r}"
        )
    fractions = _check_split_fractions(split_fractions)
    fonts = _check_soundfonts(soundfonts)

    rng = np.random.default_rng([int(seed), 0])
    # Largest-remainder shares: exactly `num_clips` clips.
    quotas = {s: num_clips * _STYLE_SHARES[s] for s in STYLES}
    counts = {s: int(np.floor(q)) for s, q in quotas.items()}
    by_remainder = sorted(STYLES, key=lambda s: counts[s] - quotas[s])
    for style in by_remainder[: num_clips - sum(counts.values())]:
        counts[style] += 1

    items = {split: [] for split in SPLITS}
    assigned = np.zeros(len(SPLITS))
    clip_index = 0
    for style in STYLES:
        tunes = _pick_tunes(_catalog(style), counts[style], rng)
        # Splits by tune, stratified by style and dance: tunes in a seeded
        # order grouped by dance, each new tune going to the split furthest
        # below its share of the tunes seen so far. (Without the shuffle,
        # the dance cycle of `_pick_tunes` and the split cycle alias, and
        # some dances never reach the test split.)
        tunes = [tunes[i] for i in rng.permutation(len(tunes))]
        tunes.sort(key=lambda tune: tune.get("dance", ""))
        split_of = {}
        for tune in tunes:
            if tune["tune_id"] in split_of:
                continue
            deficit = fractions * (assigned.sum() + 1) - assigned
            split = int(np.argmax(deficit))
            assigned[split] += 1
            split_of[tune["tune_id"]] = SPLITS[split]
        for tune in tunes:
            split = split_of[tune["tune_id"]]
            items[split].append(
                {
                    "clip_id": f"clip{clip_index:06d}",
                    "style": style,
                    "tune": tune,
                    "soundfont": _choose(rng, fonts),
                    "seed": [int(seed), 1 + clip_index],
                }
            )
            clip_index += 1
    return items


def _pick_tunes(catalog, count, rng):
    """`count` tunes; cycles through the dances so that they are balanced.

    Tunes are grouped by dance (no dance is a group too) and taken in turn
    from each group, in a seeded order. When a collection has fewer tunes
    than clips, tunes repeat (with a new excerpt and arrangement).
    """
    groups = {}
    for tune in catalog:
        groups.setdefault(tune.get("dance", ""), []).append(tune)
    queues = []
    for name in sorted(groups):
        order = rng.permutation(len(groups[name]))
        queues.append([groups[name][i] for i in order])
    picked = []
    while len(picked) < count:
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop())
        if not any(queues):
            picked += _pick_tunes(catalog, count - len(picked), rng)
    return picked


def _check_split_fractions(split_fractions):
    try:
        fractions = np.asarray(split_fractions, dtype=np.float64)
    except (TypeError, ValueError):
        fractions = np.zeros(0)
    if (
        fractions.shape != (3,)
        or not np.all(fractions >= 0)
        or not np.isclose(fractions.sum(), 1.0)
        or fractions[0] <= 0
    ):
        raise ValueError(
            "`split_fractions` must be three non-negative fractions "
            "(train, valid, test) summing to 1, with train > 0. "
            f"Received: split_fractions={split_fractions!r}"
        )
    return fractions


def _check_soundfonts(soundfonts):
    fonts = available_soundfonts()
    if soundfonts is None:
        return list(fonts)
    names = list(soundfonts)
    if not names or any(name not in fonts for name in names):
        raise ValueError(
            f"`soundfonts` must name available soundfonts {list(fonts)}. "
            f"Received: soundfonts={soundfonts!r}"
        )
    return names


def render_tune_clip(
    item,
    sample_rate=16000,
    clip_seconds=30.0,
    cache_dir=None,
    tempo_jitter=0.15,
    max_transpose=3,
):
    """Renders one clip of `tune_corpus_items` as a labelled `Track`.

    The arrangement, tempo, transposition and excerpt position are drawn
    from the item's seed, so the same item always gives the same samples.

    Args:
        item: dict from `tune_corpus_items`.
        sample_rate: int. Rate to render at, in Hz. Defaults to 16000.
        clip_seconds: float. Clip length in seconds. Defaults to 30.0.
        cache_dir: str. Corpus cache root (parsed tunes are cached under
            it). Defaults to `tune_corpus_cache_dir()`.
        tempo_jitter: float in [0, 1). Relative tempo change drawn
            uniformly in `[-tempo_jitter, tempo_jitter]`. Defaults to 0.15.
        max_transpose: int. Transposition drawn uniformly in
            `[-max_transpose, max_transpose]` semitones. Defaults to 3.

    Returns:
        `Track` with float32 mono audio of `clip_seconds * sample_rate`
        samples and labels for `instrument`, `style` and, for tunes with a
        known dance, `dance`.

    Example:

    >>> item = tune_corpus_items(num_clips=1)["train"][0]
    >>> track = render_tune_clip(item, clip_seconds=2.0)
    >>> track.audio.shape
    (32000,)
    """
    sample_rate = check_positive_int("sample_rate", sample_rate)
    clip_seconds = float(check_positive("clip_seconds", clip_seconds))
    tempo_jitter = check_probability("tempo_jitter", tempo_jitter)
    if tempo_jitter >= 1:
        raise ValueError(
            "`tempo_jitter` must be in [0, 1). "
            f"Received: tempo_jitter={tempo_jitter!r}"
        )
    if (
        isinstance(max_transpose, bool)
        or not isinstance(max_transpose, (int, np.integer))
        or not 0 <= max_transpose <= 12
    ):
        raise ValueError(
            "`max_transpose` must be an integer in [0, 12]. "
            f"Received: max_transpose={max_transpose!r}"
        )
    cache_dir = tune_corpus_cache_dir(cache_dir)
    tune = item["tune"]
    parsed = _parsed(tune, cache_dir)
    rng = np.random.default_rng(item["seed"])
    style = item["style"]
    dance = tune.get("dance")

    parts = parsed["parts"]
    if not parts:
        # The writer skips such an item and lists it in the manifest.
        raise AudioDecodeError(
            item["clip_id"], f"{tune['tune_id']} has no notes to render"
        )
    end = max(n[0] + n[1] for part in parts for n in part)
    running = _running_note(parts)
    band = style in _DANCE_COLLECTIONS
    if len(parts) == 1:
        melody = _choose(rng, _DANCE_BAND_MELODY if band else _MELODY)
        voices = [(melody, parts[0])]
        bass, chords = _accompaniment(
            parts[0],
            parsed["measures"],
            end,
            parsed["sharps"],
            metre=_metre(tune.get("metre", "")),
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
    elif rng.random() < 0.3:
        # A keyboard plays all the voices, as in a reduction.
        keyboard = _choose(rng, _KEYBOARDS)
        voices = [(keyboard, [n for part in parts for n in part])]
    else:
        voices = []
        for number, part in enumerate(parts):
            pool = _UPPER_VOICE if number < len(parts) / 2 else _LOWER_VOICE
            voices.append((_choose(rng, pool), part))

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

    base = _RUNNING_NOTES_PER_SECOND[dance or style]
    quarters_per_second = base * running
    tempo_factor = 1 + rng.uniform(-tempo_jitter, tempo_jitter)
    quarters_per_second *= tempo_factor
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
    programs = [INSTRUMENT_PROGRAMS[name] for name in instruments]
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
    audio = render_notes(
        notes,
        programs,
        sample_rate=sample_rate,
        duration=clip_seconds,
        soundfont=available_soundfonts()[item["soundfont"]],
    )
    labels = {"instrument": instruments, "style": [style]}
    if dance:
        labels["dance"] = [dance]
    metadata = {
        "tune_id": tune["tune_id"],
        "source": f"music21/corpus/{tune['path']}",
        "title": tune.get("title", ""),
        "soundfont": item["soundfont"],
        "tempo_quarters_per_minute": round(60 * quarters_per_second, 3),
        "tempo_factor": round(float(tempo_factor), 6),
        "transpose": transpose,
        "start_seconds": round(float(start), 4),
    }
    return Track(
        track_id=item["clip_id"],
        audio=audio,
        sample_rate=sample_rate,
        labels=labels,
        metadata=metadata,
    )


def build_tune_corpus(
    num_clips=600,
    clip_seconds=30.0,
    sample_rate=16000,
    seed=0,
    cache_dir=None,
    split_fractions=(0.8, 0.1, 0.1),
    soundfonts=None,
    tempo_jitter=0.15,
    max_transpose=3,
    num_workers=1,
    progress=True,
):
    """Renders the built-in corpus once and returns its TFRecord folders.

    The corpus is built under
    `<cache_dir>/<rate>hz_<clips>x<seconds>s_seed<seed>_<hash>/` with one
    TFRecord dataset (shards + `manifest.json`, written by
    `keras_music.data.tfrecord_writer.write_tfrecords`) per split, all with
    the vocabularies of `TUNE_CORPUS_TASKS`. A finished build is reused; an
    interrupted one resumes. Parsed tunes are cached under
    `<cache_dir>/parsed/` and shared by builds at every rate and size.

    The default (600 clips of 30 s at 16 kHz) takes a few minutes on two
    cores and about 0.6 GB of disk (int16 audio).

    Args:
        num_clips: int. Clips over all splits. Defaults to 600.
        clip_seconds: float. Length of a clip in seconds. Defaults to 30.0
            (MAEST's longest input).
        sample_rate: int. Rate the synthesiser renders at, in Hz (16000 or
            22050 for the recipes). Defaults to 16000.
        seed: int. Seed of every random choice. Defaults to 0.
        cache_dir: str. Cache root. Defaults to `$KERAS_MUSIC_CACHE/
            tune_corpus` or `~/.cache/keras_music/tune_corpus`.
        split_fractions: (train, valid, test) shares of the tunes.
            Defaults to (0.8, 0.1, 0.1).
        soundfonts: list of names from
            `keras_music.data.midi_render.available_soundfonts()`; each clip
            uses one, drawn at random. Defaults to all available.
        tempo_jitter: float. Relative tempo change range. Defaults to 0.15.
        max_transpose: int. Transposition range in semitones. Defaults
            to 3.
        num_workers: int. Processes rendering clips. Defaults to 1.
        progress: bool. Shows progress bars. Defaults to `True`.

    Returns:
        dict mapping `"train"`, `"valid"` and `"test"` to the folder of
        that split's TFRecord dataset.

    Example:

    >>> import tempfile
    >>> from keras_music.data import read_manifest
    >>> splits = build_tune_corpus(
    ...     num_clips=10, clip_seconds=0.5, sample_rate=4000,
    ...     cache_dir=tempfile.mkdtemp(), progress=False,
    ... )
    >>> sorted(splits)
    ['test', 'train', 'valid']
    >>> sorted(read_manifest(splits["train"])["tasks"])
    ['dance', 'instrument', 'style']
    """
    num_clips = check_positive_int("num_clips", num_clips)
    clip_seconds = float(check_positive("clip_seconds", clip_seconds))
    sample_rate = check_positive_int("sample_rate", sample_rate)
    num_workers = check_positive_int("num_workers", num_workers)
    fonts = _check_soundfonts(soundfonts)
    settings = {
        "version": _CORPUS_VERSION,
        "num_clips": num_clips,
        "clip_seconds": clip_seconds,
        "sample_rate": sample_rate,
        "seed": seed,
        "split_fractions": [float(f) for f in split_fractions],
        "soundfonts": fonts,
        "tempo_jitter": tempo_jitter,
        "max_transpose": max_transpose,
    }
    items = tune_corpus_items(
        num_clips=num_clips,
        seed=seed,
        split_fractions=split_fractions,
        soundfonts=fonts,
    )
    load_fn = functools.partial(
        render_tune_clip,
        sample_rate=sample_rate,
        clip_seconds=clip_seconds,
        cache_dir=tune_corpus_cache_dir(cache_dir),
        tempo_jitter=tempo_jitter,
        max_transpose=max_transpose,
    )
    empty = [split for split in SPLITS if not items[split]]
    if empty:
        sizes = {split: len(items[split]) for split in SPLITS}
        raise ValueError(
            f"`num_clips`={num_clips} with `split_fractions`="
            f"{tuple(split_fractions)} leaves the split(s) {empty} without "
            f"a clip (clips per split: {sizes}). Use more clips or larger "
            "fractions for those splits."
        )
    # Checks the rendering arguments before any worker process starts.
    load_fn(next(item for split in SPLITS for item in items[split]))
    digest = hashlib.sha1(
        json.dumps(settings, sort_keys=True).encode()
    ).hexdigest()[:8]
    root = os.path.join(
        tune_corpus_cache_dir(cache_dir),
        f"{sample_rate}hz_{num_clips}x{clip_seconds:g}s_seed{seed}_{digest}",
    )

    from keras_music.data.tfrecord_writer import write_tfrecords

    started = time.time()
    for split in SPLITS:
        write_tfrecords(
            items[split],
            load_fn,
            os.path.join(root, split),
            tasks=TUNE_CORPUS_TASKS,
            sample_rate=sample_rate,
            progress=progress,
            num_workers=num_workers,
        )
    info_path = os.path.join(root, "corpus.json")
    if not os.path.isfile(info_path):
        # Written once, by the build that rendered the clips, so that the
        # recorded time is the rendering time.
        info = {
            **settings,
            "clips_per_split": {s: len(items[s]) for s in SPLITS},
            "build_seconds": round(time.time() - started, 1),
        }
        write_json_atomic(info_path, info, indent=2, sort_keys=False)
    return {split: os.path.join(root, split) for split in SPLITS}
