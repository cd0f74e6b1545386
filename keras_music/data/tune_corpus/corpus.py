"""The corpus: which clips, in which split, rendered into TFRecords."""

import functools
import hashlib
import json
import os
import time

import numpy as np

from keras_music.data.midi_render import available_soundfonts
from keras_music.data.tune_corpus.arrangement import INSTRUMENT_PROGRAMS
from keras_music.data.tune_corpus.arrangement import _choose
from keras_music.data.tune_corpus.render import render_tune_clip
from keras_music.data.tune_corpus.sources import DANCES
from keras_music.data.tune_corpus.sources import STYLES
from keras_music.data.tune_corpus.sources import catalog
from keras_music.data.tune_corpus.sources import tune_corpus_cache_dir
from keras_music.utils.atomic_write import write_json_atomic
from keras_music.utils.validation import check_non_negative_int
from keras_music.utils.validation import check_positive
from keras_music.utils.validation import check_positive_int

# Bump when the rendering, the choice of clips or the item format changes,
# so that corpora built by an older version are not reused; the parsed
# tunes have their own (`sources._PARSE_VERSION`).
_CORPUS_VERSION = 5

SPLITS = ("train", "valid", "test")

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


TUNE_CORPUS_TASKS = {
    "instrument": {
        "vocabulary": list(INSTRUMENT_PROGRAMS),
        "multi_label": True,
    },
    "dance": {"vocabulary": list(DANCES), "multi_label": False},
    "style": {"vocabulary": list(STYLES), "multi_label": False},
}


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
    seed = check_non_negative_int("seed", seed)
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
        tunes = _pick_tunes(catalog(style), counts[style], rng)
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
