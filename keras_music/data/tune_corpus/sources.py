"""Where the corpus's music comes from: the tunes and scores of music21's
corpus, read from their files (ABC headers for the catalogue) and parsed
into notes once, with an on-disk cache shared by all builds."""

import functools
import hashlib
import json
import os
import re

from keras_music.utils.atomic_write import write_json_atomic

_PARSE_VERSION = 1

_DANCE_COLLECTIONS = ("ryans_mammoth", "oneills_1850")

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


def tune_corpus_cache_dir(cache_dir=None):
    """The root of the corpus cache: `cache_dir`, or `tune_corpus` under
    `$KERAS_MUSIC_CACHE` or `~/.cache/keras_music`.

    Args:
        cache_dir: str or `None`. A folder to use as it is (made
            absolute). Defaults to the environment's cache.

    Example:

    >>> import os
    >>> tune_corpus_cache_dir("/tmp/corpus")
    '/tmp/corpus'
    >>> os.path.basename(tune_corpus_cache_dir())
    'tune_corpus'
    """
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
def catalog(style):
    """Every tune of a style, from the file names and ABC headers only.

    Args:
        style: str. One of `STYLES`.

    Returns:
        tuple of tune dicts: `tune_id`, `path` (in music21's corpus) and,
        for the tunes of an ABC book, `index`, `title`, `metre` (the `M:`
        field) and, in the fiddle collections, `dance`.

    Example:

    >>> tunes = catalog("ryans_mammoth")
    >>> sorted({t["dance"] for t in tunes if "dance" in t})
    ['hornpipe', 'jig', 'reel', 'slip jig', 'strathspey']
    """
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


def parsed_tune(tune, cache_dir):
    """The notes of a tune, parsed by music21 once and cached on disk
    (shared by all builds, at every rate and size).

    Args:
        tune: dict from `catalog`.
        cache_dir: str. The corpus cache root (`tune_corpus_cache_dir()`).

    Returns:
        dict with `parts` (per part, `[offset, length, midi_pitch]` notes
        in quarter lengths, repeats expanded), `measures` (bar offsets)
        and `sharps` (the key signature).

    Example:

    >>> import tempfile
    >>> tune = catalog("ryans_mammoth")[0]
    >>> parsed = parsed_tune(tune, tempfile.mkdtemp())
    >>> sorted(parsed)
    ['measures', 'parts', 'sharps']
    """
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
