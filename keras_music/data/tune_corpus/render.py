"""Rendering one clip of the corpus to audio."""

import numpy as np

from keras_music.data.errors import AudioDecodeError
from keras_music.data.midi_render import available_soundfonts
from keras_music.data.midi_render import render_notes
from keras_music.data.track import Track
from keras_music.data.tune_corpus.arrangement import arrange_clip
from keras_music.data.tune_corpus.sources import parsed_tune
from keras_music.data.tune_corpus.sources import tune_corpus_cache_dir
from keras_music.utils.validation import check_positive
from keras_music.utils.validation import check_positive_int
from keras_music.utils.validation import check_probability


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

    >>> from keras_music.data.tune_corpus import tune_corpus_items
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
    parsed = parsed_tune(tune, cache_dir)
    if not parsed["parts"]:
        # The writer skips such an item and lists it in the manifest.
        raise AudioDecodeError(
            item["clip_id"], f"{tune['tune_id']} has no notes to render"
        )
    played = arrange_clip(
        item, parsed, clip_seconds, tempo_jitter, max_transpose
    )
    audio = render_notes(
        played.notes,
        played.programs,
        sample_rate=sample_rate,
        duration=clip_seconds,
        soundfont=available_soundfonts()[item["soundfont"]],
    )
    labels = {"instrument": played.instruments, "style": [item["style"]]}
    if tune.get("dance"):
        labels["dance"] = [tune["dance"]]
    metadata = {
        "tune_id": tune["tune_id"],
        "source": f"music21/corpus/{tune['path']}",
        "title": tune.get("title", ""),
        "soundfont": item["soundfont"],
        "tempo_quarters_per_minute": round(60 * played.quarters_per_second, 3),
        "tempo_factor": round(played.tempo_factor, 6),
        "transpose": played.transpose,
        "start_seconds": round(played.start_seconds, 4),
    }
    return Track(
        track_id=item["clip_id"],
        audio=audio,
        sample_rate=sample_rate,
        labels=labels,
        metadata=metadata,
    )
