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

The package's modules follow those jobs: `sources` (the music21 corpus:
catalogue, parsing, parse cache), `arrangement` (how a clip is played,
pure NumPy), `render` (one clip to audio) and `corpus` (which clips, in
which split, written as TFRecords).
"""

from keras_music.data.tune_corpus.arrangement import INSTRUMENT_PROGRAMS
from keras_music.data.tune_corpus.arrangement import RUNNING_NOTES_PER_SECOND
from keras_music.data.tune_corpus.arrangement import parse_metre
from keras_music.data.tune_corpus.corpus import SPLITS
from keras_music.data.tune_corpus.corpus import TUNE_CORPUS_TASKS
from keras_music.data.tune_corpus.corpus import build_tune_corpus
from keras_music.data.tune_corpus.corpus import tune_corpus_items
from keras_music.data.tune_corpus.render import render_tune_clip
from keras_music.data.tune_corpus.sources import DANCES
from keras_music.data.tune_corpus.sources import STYLES
from keras_music.data.tune_corpus.sources import catalog
from keras_music.data.tune_corpus.sources import parsed_tune
from keras_music.data.tune_corpus.sources import tune_corpus_cache_dir
