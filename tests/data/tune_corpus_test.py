import glob
import json
import os
import re
from unittest import mock

import music21
import numpy as np
import pytest
import tensorflow as tf

from keras_music.data import tfrecord_format
from keras_music.data.midi_render import render_notes
from keras_music.data.tune_corpus import DANCES
from keras_music.data.tune_corpus import INSTRUMENT_PROGRAMS
from keras_music.data.tune_corpus import STYLES
from keras_music.data.tune_corpus import TUNE_CORPUS_TASKS
from keras_music.data.tune_corpus import arrangement
from keras_music.data.tune_corpus import build_tune_corpus
from keras_music.data.tune_corpus import render
from keras_music.data.tune_corpus import render_tune_clip
from keras_music.data.tune_corpus import sources
from keras_music.data.tune_corpus import tune_corpus_cache_dir
from keras_music.data.tune_corpus import tune_corpus_items
from tests.test_case import TestCase

NUM_CLIPS = 20
CLIP_SECONDS = 5.0
RATE = 16000
_MUSIC21_DIR = os.path.dirname(music21.__file__)


@pytest.fixture(scope="session")
def corpus_cache(tmp_path_factory):
    """One cache for the session: tunes are parsed once, then reused."""
    return str(tmp_path_factory.mktemp("tune_corpus"))


@pytest.fixture(scope="session")
def tiny_corpus(corpus_cache):
    return build_tune_corpus(
        num_clips=NUM_CLIPS,
        clip_seconds=CLIP_SECONDS,
        sample_rate=RATE,
        seed=0,
        cache_dir=corpus_cache,
        progress=False,
    )


def _records(directory):
    manifest = tfrecord_format.read_manifest(directory)
    files = sorted(glob.glob(os.path.join(directory, "*.tfrecord")))
    records = []
    for serialized in tf.data.TFRecordDataset(files):
        example = tfrecord_format.parse_example(serialized, manifest)
        records.append({k: v.numpy() for k, v in example.items()})
    return manifest, records


def _index_entries(directory):
    entries = []
    for path in sorted(glob.glob(os.path.join(directory, "*.index.json"))):
        with open(path) as f:
            entries += json.load(f)["tracks"]
    return entries


def _rhythm_field(metadata):
    """The raw `R:` field of a tune, read independently of the library."""
    source = metadata["source"]
    if not source.endswith(".abc"):
        return ""
    index = int(metadata["tune_id"].rpartition("#")[2])
    with open(
        os.path.join(_MUSIC21_DIR, source.split("/", 1)[1]), encoding="latin-1"
    ) as f:
        text = f.read()
    tunes = re.split(r"(?m)^X:", text)[1:]
    match = re.search(r"(?m)^R:(.*)$", tunes[index])
    return match.group(1).strip().lower() if match else ""


@pytest.mark.usefixtures("tiny_corpus")
class TuneCorpusTest(TestCase):
    @pytest.fixture(autouse=True)
    def _fixtures(self, tiny_corpus, corpus_cache):
        self.splits = tiny_corpus
        self.cache = corpus_cache

    def test_manifests_share_the_vocabularies(self):
        total = 0
        for split in ("train", "valid", "test"):
            manifest = tfrecord_format.read_manifest(self.splits[split])
            self.assertEqual(manifest["tasks"], TUNE_CORPUS_TASKS)
            self.assertEqual(manifest["sample_rate"], RATE)
            self.assertEqual(manifest["skipped"], [])
            self.assertGreater(manifest["num_examples"], 0)
            total += manifest["num_examples"]
        self.assertEqual(total, NUM_CLIPS)
        self.assertGreaterEqual(
            len(TUNE_CORPUS_TASKS["instrument"]["vocabulary"]), 10
        )
        self.assertEqual(
            TUNE_CORPUS_TASKS["dance"]["vocabulary"],
            ["reel", "jig", "hornpipe", "strathspey", "slip jig"],
        )

    def test_no_tune_in_two_splits(self):
        tunes = {}
        for split, directory in self.splits.items():
            tunes[split] = {
                e["metadata"]["tune_id"] for e in _index_entries(directory)
            }
        self.assertFalse(tunes["train"] & tunes["valid"])
        self.assertFalse(tunes["train"] & tunes["test"])
        self.assertFalse(tunes["valid"] & tunes["test"])
        # Also for a corpus where tunes repeat (Monteverdi has 49 madrigals
        # for 600 clips), without rendering.
        items = tune_corpus_items(num_clips=6000, seed=3)
        ids = {
            split: [i["tune"]["tune_id"] for i in v]
            for split, v in items.items()
        }
        self.assertLess(
            len(set(sum(ids.values(), []))), len(sum(ids.values(), []))
        )
        for a in ids:
            for b in ids:
                if a != b:
                    self.assertFalse(set(ids[a]) & set(ids[b]))

    def test_audio_is_real_music(self):
        for directory in self.splits.values():
            _, records = _records(directory)
            for record in records:
                audio = record["data"]
                self.assertEqual(audio.shape, (int(CLIP_SECONDS * RATE),))
                self.assertTrue(np.all(np.isfinite(audio)))
                # int16 storage of a 0.8 peak: at most 0.8 + 1/32768.
                self.assertLessEqual(np.max(np.abs(audio)), 0.8 + 1e-4)
                rms = np.sqrt(np.mean(audio**2))
                self.assertGreater(rms, 0.01)
                # Music from real instruments: most energy between the
                # lowest bass note and the upper harmonics (50 Hz - 5 kHz),
                # and a tonal spectrum, far from white noise (spectral
                # flatness, geometric over arithmetic mean of the power
                # spectrum: 1 for white noise, ~0 for a sum of tones).
                power = np.abs(np.fft.rfft(audio)) ** 2
                freqs = np.fft.rfftfreq(len(audio), 1.0 / RATE)
                band = (freqs >= 50) & (freqs <= 5000)
                self.assertGreater(power[band].sum() / power.sum(), 0.9)
                flatness = np.exp(np.mean(np.log(power + 1e-12))) / np.mean(
                    power
                )
                self.assertLess(flatness, 0.05)
                # Notes come and go: the level of 50 ms frames varies.
                frames = audio[: len(audio) // 800 * 800].reshape(-1, 800)
                level = np.sqrt(np.mean(frames**2, axis=1))
                self.assertGreater(level.std() / level.mean(), 0.05)

    def test_labels_follow_the_vocabularies_and_sources(self):
        dance_seen = False
        for directory in self.splits.values():
            manifest, records = _records(directory)
            entries = {e["track_id"]: e for e in _index_entries(directory)}
            for record in records:
                entry = entries[record["track_id"].decode()]
                labels = {
                    task: record[tfrecord_format.label_key(task)].tolist()
                    for task in TUNE_CORPUS_TASKS
                }
                self.assertGreaterEqual(len(labels["instrument"]), 1)
                self.assertEqual(len(labels["style"]), 1)
                for task, indices in labels.items():
                    size = len(TUNE_CORPUS_TASKS[task]["vocabulary"])
                    self.assertTrue(all(0 <= i < size for i in indices))
                style = STYLES[labels["style"][0]]
                folder = entry["metadata"]["source"].split("/")[2]
                rhythm = _rhythm_field(entry["metadata"])
                if labels["dance"]:
                    dance_seen = True
                    dance = DANCES[labels["dance"][0]]
                    self.assertIn(style, ("ryans_mammoth", "oneills_1850"))
                    # The label is the source's R: field (spelling aside).
                    self.assertEqual(
                        rhythm.replace("double ", "").replace(" ", ""),
                        dance.replace(" ", ""),
                    )
                else:
                    self.assertNotIn(
                        rhythm.replace("double ", "").replace(" ", ""),
                        [d.replace(" ", "") for d in DANCES],
                    )
                self.assertIn(
                    folder,
                    {
                        "ryans_mammoth": "ryansMammoth",
                        "oneills_1850": "oneills1850",
                        "essen_folksong": "essenFolksong",
                        "bach": "bach",
                        "palestrina": "palestrina",
                        "monteverdi": "monteverdi",
                    }[style],
                )
        self.assertTrue(dance_seen)

    def test_stored_audio_is_the_seeded_render(self):
        items = tune_corpus_items(num_clips=NUM_CLIPS, seed=0)
        _, records = _records(self.splits["test"])
        for item, record in zip(items["test"], records, strict=True):
            self.assertEqual(record["track_id"].decode(), item["clip_id"])
            track = render_tune_clip(
                item, RATE, CLIP_SECONDS, cache_dir=self.cache
            )
            expected = tfrecord_format.audio_to_int16(track.audio)
            self.assertEqual(
                (record["data"] * 32768).astype(np.int16).tobytes(),
                expected.tobytes(),
            )

    def test_same_seed_same_bytes_other_seed_other_audio(self):
        # The tunes of the session's corpus, already parsed: only the
        # rendering is timed here.
        items = tune_corpus_items(num_clips=NUM_CLIPS, seed=0)["train"][:3]

        def render(items):
            return b"".join(
                render_tune_clip(
                    i, RATE, 2.0, cache_dir=self.cache
                ).audio.tobytes()
                for i in items
            )

        self.assertEqual(
            tune_corpus_items(num_clips=NUM_CLIPS, seed=0)["train"][:3], items
        )
        self.assertEqual(render(items), render(items))
        # Another corpus seed draws other tunes, and for the same tune
        # another tempo, key, arrangement and excerpt.
        other = tune_corpus_items(num_clips=NUM_CLIPS, seed=1)
        self.assertNotEqual(
            [i["tune"] for i in other["train"]],
            [i["tune"] for i in tune_corpus_items(NUM_CLIPS)["train"]],
        )
        reseeded = [{**i, "seed": [1, *i["seed"][1:]]} for i in items]
        self.assertNotEqual(render(items), render(reseeded))

    def test_tempo_transposition_and_excerpt_are_random(self):
        items = tune_corpus_items(num_clips=NUM_CLIPS, seed=0)["train"][:8]
        tracks = [
            render_tune_clip(i, RATE, 1.0, cache_dir=self.cache) for i in items
        ]
        factors = [t.metadata["tempo_factor"] for t in tracks]
        transposes = [t.metadata["transpose"] for t in tracks]
        self.assertTrue(all(0.85 <= f <= 1.15 for f in factors))
        self.assertTrue(all(-3 <= t <= 3 for t in transposes))
        self.assertGreater(len(set(factors)), 1)
        self.assertGreater(len(set(transposes)), 1)
        self.assertGreater(
            len({t.metadata["start_seconds"] for t in tracks}), 1
        )

    def test_other_rate_renders_directly(self):
        item = tune_corpus_items(num_clips=NUM_CLIPS, seed=0)["valid"][0]
        track = render_tune_clip(item, 22050, 1.5, cache_dir=self.cache)
        self.assertEqual(track.sample_rate, 22050)
        self.assertEqual(track.audio.shape, (int(1.5 * 22050),))
        self.assertEqual(track.audio.dtype, np.float32)

    def test_dance_labels_come_from_the_rhythm_field(self):
        item = {
            "clip_id": "acacia",
            "style": "ryans_mammoth",
            "soundfont": "timgm6mb",
            "seed": [0, 1],
        }
        # `R:reel` in the source; a clog (`R:clog`) has no dance label.
        catalog = {t["path"]: t for t in sources.catalog("ryans_mammoth")}
        acacia = catalog["ryansMammoth/AcaciaReel.abc"]
        self.assertEqual(acacia["dance"], "reel")
        self.assertNotIn("dance", catalog["ryansMammoth/BlueStockingClog.abc"])
        track = render_tune_clip(
            {**item, "tune": acacia}, RATE, 1.0, cache_dir=self.cache
        )
        self.assertEqual(track.labels["dance"], ["reel"])
        self.assertEqual(track.labels["style"], ["ryans_mammoth"])

    def test_shared_reader_yields_labelled_clips(self):
        from keras_music.data.tfrecord_dataset import tfrecord_dataset

        styles = tfrecord_dataset(
            self.splits["train"],
            segment_seconds=2.0,
            task="style",
            mode="center",
            batch_size=4,
            shuffle=False,
        )
        audio, style = next(iter(styles))
        self.assertEqual(tuple(audio.shape), (4, int(2.0 * RATE)))
        self.assertTrue(np.all((style.numpy() >= 0) & (style < len(STYLES))))
        instruments = tfrecord_dataset(
            self.splits["train"],
            segment_seconds=2.0,
            task="instrument",
            mode="center",
            batch_size=4,
            shuffle=False,
        )
        _, multi_hot = next(iter(instruments))
        size = len(TUNE_CORPUS_TASKS["instrument"]["vocabulary"])
        self.assertEqual(tuple(multi_hot.shape), (4, size))
        self.assertTrue(np.all(multi_hot.numpy().sum(axis=1) >= 1))

    def test_reuses_a_finished_build(self):
        shards = glob.glob(os.path.join(self.splits["train"], "*.tfrecord"))
        before = {p: os.path.getmtime(p) for p in shards}
        again = build_tune_corpus(
            num_clips=NUM_CLIPS,
            clip_seconds=CLIP_SECONDS,
            sample_rate=RATE,
            seed=0,
            cache_dir=self.cache,
            progress=False,
        )
        self.assertEqual(again, self.splits)
        self.assertEqual(before, {p: os.path.getmtime(p) for p in before})
        with open(
            os.path.join(os.path.dirname(self.splits["train"]), "corpus.json")
        ) as f:
            info = json.load(f)
        self.assertEqual(sum(info["clips_per_split"].values()), NUM_CLIPS)


class TuneCorpusArgumentsTest(TestCase):
    def test_every_instrument_sounds_over_the_used_range(self):
        # Soundfonts can lack samples for some keys (TimGM6mb's whistle is
        # silent above G5): each instrument plays C2..B6, one note per
        # 0.1 s, and every note must be heard.
        rate = 8000
        keys = np.arange(36, 96)
        notes = [
            [0.1 * i, 0.1 * i + 0.08, k, 100, 0] for i, k in enumerate(keys)
        ]
        for name, program in INSTRUMENT_PROGRAMS.items():
            audio = render_notes(
                notes, [program], sample_rate=rate, duration=0.1 * len(keys)
            )
            # The middle of each note, past the previous note's release.
            windows = audio.reshape(len(keys), -1)[:, 320:640]
            quiet = keys[np.max(np.abs(windows), axis=1) < 1e-3]
            self.assertEqual(quiet.tolist(), [], msg=name)

    def test_cache_dir_from_argument_and_environment(self):
        self.assertEqual(
            tune_corpus_cache_dir("/tmp/somewhere"), "/tmp/somewhere"
        )
        old = os.environ.get("KERAS_MUSIC_CACHE")
        os.environ["KERAS_MUSIC_CACHE"] = "/tmp/km_cache_env"
        try:
            self.assertEqual(
                tune_corpus_cache_dir(), "/tmp/km_cache_env/tune_corpus"
            )
        finally:
            if old is None:
                del os.environ["KERAS_MUSIC_CACHE"]
            else:
                os.environ["KERAS_MUSIC_CACHE"] = old

    def test_invalid_items_arguments(self):
        cases = [
            (dict(num_clips=0), "num_clips"),
            (dict(seed=-1), "seed"),
            (dict(seed=1.5), "seed"),
            (dict(split_fractions=(0.5, 0.5)), "split_fractions"),
            (dict(split_fractions=(0.9, 0.2, 0.1)), "split_fractions"),
            (dict(soundfonts=["nope"]), "soundfonts"),
        ]
        for kwargs, message in cases:
            with pytest.raises(ValueError, match=message):
                tune_corpus_items(**kwargs)

    def test_invalid_render_arguments(self):
        item = tune_corpus_items(num_clips=1)["train"][0]
        cases = [
            (dict(sample_rate=0), "sample_rate"),
            (dict(clip_seconds=0.0), "clip_seconds"),
            (dict(tempo_jitter=1.0), "tempo_jitter"),
            (dict(tempo_jitter=-0.1), "tempo_jitter"),
            (dict(max_transpose=13), "max_transpose"),
            (dict(max_transpose=1.5), "max_transpose"),
        ]
        for kwargs, message in cases:
            with pytest.raises(ValueError, match=message):
                render_tune_clip(item, **kwargs)

    def test_invalid_build_arguments(self):
        cases = [
            (dict(num_clips=-5), "num_clips"),
            (dict(clip_seconds=-1.0), "clip_seconds"),
            (dict(sample_rate=0), "sample_rate"),
            (dict(num_workers=0), "num_workers"),
            (dict(soundfonts=[]), "soundfonts"),
            # Three clips fill the train split only: refused before any
            # clip is rendered, naming the empty splits.
            (dict(num_clips=3), r"\['valid', 'test'\] without a clip"),
        ]
        for kwargs, message in cases:
            with pytest.raises(ValueError, match=message):
                build_tune_corpus(cache_dir="/tmp/unused", **kwargs)
        assert not os.path.exists("/tmp/unused")


def _tune(path):
    """A tune of Ryan's Mammoth Collection from the library's catalog."""
    for tune in sources.catalog("ryans_mammoth"):
        if tune["path"] == f"ryansMammoth/{path}":
            return tune
    raise KeyError(path)


class DancePerformanceTest(TestCase):
    """How dance tunes are played, checked on note events, not audio."""

    @pytest.fixture(autouse=True)
    def _fixtures(self, corpus_cache):
        self.cache = corpus_cache

    def test_metre_field(self):
        self.assertEqual(arrangement.parse_metre("6/8"), (6, 8))
        self.assertEqual(arrangement.parse_metre(" 9/8 "), (9, 8))
        self.assertEqual(arrangement.parse_metre("C"), (4, 4))
        self.assertEqual(arrangement.parse_metre("C|"), (2, 2))
        for text in ("none", "FREI4/4", "", "0/4"):
            self.assertIsNone(arrangement.parse_metre(text), msg=text)

    def test_running_note_counts_dotted_pairs_as_two_notes(self):
        def bars(lengths, repeats=8):
            offsets = np.cumsum([0.0] + lengths * repeats)[:-1]
            return [[[t, d, 60] for t, d in zip(offsets, lengths * repeats)]]

        # Written values, quarter lengths: even eighths; dotted pairs
        # (hornpipe, strathspey); Scotch snaps; even sixteenths (a reel in
        # 2/4); jig rhythm (quarter + eighth, with eighths running).
        self.assertEqual(arrangement._running_note(bars([0.5])), 0.5)
        self.assertEqual(arrangement._running_note(bars([0.75, 0.25])), 0.5)
        self.assertEqual(arrangement._running_note(bars([0.25, 0.75])), 0.5)
        self.assertEqual(arrangement._running_note(bars([0.25])), 0.25)
        self.assertEqual(
            arrangement._running_note(bars([1.0, 0.5, 0.5, 0.5, 0.5])), 0.5
        )

    def test_dance_tempo_matches_performance_practice(self):
        # Bars a minute at the nominal tempo (tempo factor removed), read
        # from the rendering's metadata, against the published figures:
        # reels and jigs ~58 (RSCDS; Hardie, "The Caledonian Companion":
        # reels 108-120 minims a minute), dotted hornpipes 69-76 minims
        # (34.5-38 bars), strathspeys 126-138 crotchets (31.5-34.5 bars),
        # slip jigs ~120 dotted crotchets (40 bars). The bar length is the
        # tune's own metre; the tunes are notated in 2/4, C, C| and 6/8,
        # and dotted strathspeys were played at half speed before.
        cases = [
            ("AllTheWayToGalwayReel.abc", 4.0, (54, 60)),
            ("AbithaMugginsFavoriteReel.abc", 2.0, (54, 60)),
            ("BanishMisfortune.abc", 3.0, (54, 62)),
            ("AcrobatsHornpipe.abc", 4.0, (34, 39)),
            ("AlbemarleHornpipe.abc", 2.0, (34, 39)),
            ("AWillieWeHaveMissdYouStrathspey.abc", 4.0, (31, 35)),
            ("AndrewCareysSlipjig.abc", 4.5, (37, 42)),
        ]
        for path, bar, (low, high) in cases:
            item = {
                "clip_id": "tempo",
                "style": "ryans_mammoth",
                "tune": _tune(path),
                "soundfont": "timgm6mb",
                "seed": [0, 1],
            }
            track = render_tune_clip(item, 8000, 0.5, cache_dir=self.cache)
            quarters = (
                track.metadata["tempo_quarters_per_minute"]
                / track.metadata["tempo_factor"]
            )
            self.assertGreaterEqual(quarters / bar, low, msg=path)
            self.assertLessEqual(quarters / bar, high, msg=path)

    def _accompaniment_of(self, path):
        tune = _tune(path)
        parsed = sources.parsed_tune(tune, self.cache)
        running = arrangement._running_note(parsed["parts"])
        bass, chords = arrangement._accompaniment(
            parsed["parts"][0],
            parsed["measures"],
            16.0,
            parsed["sharps"],
            metre=arrangement.parse_metre(tune["metre"]),
            running=running,
        )
        return parsed["measures"], np.asarray(bass), np.asarray(chords)

    def test_vamp_puts_bass_on_beats_and_chords_between(self):
        # Expected onsets within a full bar (quarter lengths), from the
        # metre alone: jigs bass on eighths 1 and 4, chords on 3 and 6;
        # slip jigs three such beats; reels and strathspeys in 4/4 bass on
        # quarters 1 and 3, chords on 2 and 4; a reel in 2/4 sixteenths the
        # same pattern at the running-note scale (eighths).
        cases = [
            ("BanishMisfortune.abc", 3.0, [0.0, 1.5], [1.0, 2.5]),
            ("AndrewCareysSlipjig.abc", 4.5, [0, 1.5, 3], [1, 2.5, 4]),
            ("AllTheWayToGalwayReel.abc", 4.0, [0, 2], [1, 3]),
            ("AbithaMugginsFavoriteReel.abc", 2.0, [0, 1], [0.5, 1.5]),
            ("AWillieWeHaveMissdYouStrathspey.abc", 4.0, [0, 2], [1, 3]),
        ]
        for path, bar, bass_beats, chord_beats in cases:
            measures, bass, chords = self._accompaniment_of(path)
            full = [
                (a, b)
                for a, b in zip(measures[:-1], measures[1:], strict=True)
                if np.isclose(b - a, bar) and b <= 16.0
            ]
            self.assertGreaterEqual(len(full), 2, msg=path)
            for start, stop in full:
                inside = (bass[:, 0] >= start) & (bass[:, 0] < stop)
                self.assertAllClose(
                    bass[inside, 0] - start, np.array(bass_beats, float)
                )
                inside = (chords[:, 0] >= start) & (chords[:, 0] < stop)
                # Three notes (a triad) per chord onset.
                onsets = np.unique(chords[inside, 0])
                self.assertEqual(inside.sum(), 3 * len(onsets), msg=path)
                self.assertAllClose(
                    onsets - start, np.array(chord_beats, float)
                )
            # Chords are short ("boom-chuck"): half of the gap to the next
            # bass note at most.
            gaps = [
                np.min(bass[bass[:, 0] > t, 0]) - t
                for t in chords[:, 0]
                if np.any(bass[:, 0] > t)
            ]
            self.assertTrue(
                np.all(chords[: len(gaps), 1] <= np.asarray(gaps) / 2 + 1e-9)
            )

    def test_vamp_upbeat_and_unknown_metre(self):
        # An upbeat bar of one eighth in 6/8 plays the end of the pattern
        # (the chord on the sixth eighth); an unknown metre holds the
        # bar's chord for the whole bar.
        melody = [[0.0, 0.5, 62], [0.5, 1.5, 67], [2.0, 1.5, 71]]
        melody += [[3.5, 3.0, 67]]
        bass, chords = arrangement._accompaniment(
            melody, [0.0, 0.5, 3.5], 6.5, 1, metre=(6, 8), running=0.5
        )
        self.assertAllClose([b[0] for b in bass], [0.5, 2.0, 3.5, 5.0])
        self.assertAllClose(
            sorted({c[0] for c in chords}), [0.0, 1.5, 3.0, 4.5, 6.0]
        )
        # G major (one sharp) over G-B-D: the tonic triad, bass on G2.
        self.assertEqual({b[2] % 12 for b in bass}, {7})
        self.assertEqual({c[2] % 12 for c in chords}, {7, 11, 2})
        bass, chords = arrangement._accompaniment(
            melody, [0.0, 0.5, 3.5], 6.5, 1, metre=None, running=0.5
        )
        self.assertAllClose(
            [b[:2] for b in bass], [[0, 0.5], [0.5, 3], [3.5, 3]]
        )

    def test_swing_moves_the_off_beat_and_keeps_the_beats(self):
        times = np.arange(0.0, 2.01, 0.25)
        swung = arrangement._swing(times, 0.25, 2.0)
        # Triplet swing: the second note of each pair of sixteenths
        # starts 2/3 into the pair (0.5 quarter long) instead of 1/2.
        expected = np.array([0, 1 / 3, 0.5, 5 / 6, 1, 4 / 3, 1.5, 11 / 6, 2])
        self.assertAllClose(swung, expected, atol=1e-12)
        # Dotted rhythm (3:1) from the same warp.
        self.assertAllClose(
            arrangement._swing(np.array([0.25]), 0.25, 3.0), np.array([0.375])
        )

    def _notes_of(self, path, seconds=6.0):
        item = {
            "clip_id": "notes",
            "style": "ryans_mammoth",
            "tune": _tune(path),
            "soundfont": "timgm6mb",
            "seed": [0, 7],
        }
        with mock.patch.object(
            render, "render_notes", wraps=render_notes
        ) as spy:
            track = render_tune_clip(item, 8000, seconds, cache_dir=self.cache)
        notes, programs = spy.call_args.args
        notes = np.asarray(notes)
        by_program = {
            p: notes[notes[:, 4] == c] for c, p in enumerate(programs)
        }
        names = {v: k for k, v in INSTRUMENT_PROGRAMS.items()}
        parts = {names[p]: n for p, n in by_program.items()}
        quarters = track.metadata["tempo_quarters_per_minute"] / 60
        return track, parts, quarters

    def test_rendered_dance_has_a_rhythm_section_on_the_beats(self):
        # A jig: in the notes given to the synthesiser, a bass note every
        # dotted quarter and a chord one quarter after each bass note, at
        # the clip's tempo, whatever the excerpt.
        track, parts, quarters = self._notes_of("BanishMisfortune.abc")
        chord_names = {"piano", "nylon guitar"}
        bass_names = {"acoustic bass", "cello", "bassoon"}
        self.assertEqual(len(chord_names & set(parts)), 1)
        self.assertEqual(len(bass_names & set(parts)), 1)
        self.assertEqual(len(track.labels["instrument"]), 3)
        bass = parts[(bass_names & set(parts)).pop()][:, 0] * quarters
        chords = np.unique(parts[(chord_names & set(parts)).pop()][:, 0])
        chords = chords * quarters
        bass = bass[bass > 0]  # a note cut by the excerpt start is at 0
        steps = np.diff(bass)
        self.assertGreater(len(steps), 4)
        # The metadata's tempo is rounded to 0.001 quarter a minute: a
        # relative error of 1e-5 at most.
        self.assertAllClose(steps, np.full_like(steps, 1.5), rtol=1e-4)
        for onset in chords[chords > bass[0]]:
            before = bass[bass < onset + 1e-9].max()
            self.assertAllClose(onset - before, 1.0, rtol=1e-4)

    def test_rendered_hornpipe_is_swung(self):
        # Written in even sixteenths (2/4): rendered with the second of
        # each pair 2/3 of the way into the pair, so melody onsets fall on
        # the pair's start or 2/3 through it, never halfway.
        track, parts, quarters = self._notes_of("AlbemarleHornpipe.abc")
        melody = {"violin", "flute", "banjo", "accordion"} & set(parts)
        self.assertEqual(len(melody), 1)
        onsets = (
            parts[melody.pop()][:, 0] + track.metadata["start_seconds"]
        ) * quarters
        phase = np.mod(onsets / 0.5, 1.0)
        # 0.01 of a pair: the metadata's tempo and start are rounded (a
        # relative 1e-5 of ~100 quarters); a straight off-beat is 0.17 off.
        on_beat = np.minimum(phase, 1 - phase) < 0.01
        swung = np.abs(phase - 2 / 3) < 0.01
        self.assertTrue(np.all(on_beat | swung))
        self.assertGreater(swung.sum(), 5)


@pytest.mark.large
def test_default_corpus_builds(tmp_path):
    splits = build_tune_corpus(cache_dir=str(tmp_path), num_workers=2)
    counts = [
        tfrecord_format.read_manifest(d)["num_examples"]
        for d in splits.values()
    ]
    assert sum(counts) == 600
