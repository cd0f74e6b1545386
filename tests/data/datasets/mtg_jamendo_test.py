import gzip
import os
import shutil

import pytest

from keras_music.data.datasets.mtg_jamendo import MTGJamendo
from tests.data.datasets.fixtures import SAMPLE_RATE
from tests.data.datasets.fixtures import write_clip
from tests.data.datasets.fixtures import written_tracks
from tests.test_case import TestCase

HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"
ROWS = {
    "train": [
        "track_0000214\tartist_000014\talbum_000031\t14/214.mp3\t124.6\t"
        "genre---punkrock\tgenre---rock\n",
        "track_0000215\tartist_000014\talbum_000031\t15/215.mp3\t151.4\t"
        "genre---metal\n",
    ],
    "validation": [
        "track_0000773\tartist_000104\talbum_000126\t73/773.mp3\t275.3\t"
        "genre---electronic\n",
    ],
    "test": [
        "track_0001000\tartist_000200\talbum_000300\t00/1000.mp3\t90.0\t"
        "genre---rock\n",
    ],
}
# The real split-0 files of the mtg-jamendo-dataset repository (CC
# BY-NC-SA, so not shipped): set this variable to their folder, e.g.
# `.../mtg-jamendo-dataset/data/splits/split-0`, to check them.
SHARED = os.environ.get("KERAS_MUSIC_JAMENDO_SPLIT_0", "")


def make_repo(base, rows=ROWS, subset="genre"):
    directory = os.path.join(base, "data", "splits", "split-0")
    os.makedirs(directory)
    for name, lines in rows.items():
        path = os.path.join(directory, f"autotagging_{subset}-{name}.tsv")
        with open(path, "w") as stream:
            stream.write(HEADER + "".join(lines))
    return base


class MTGJamendoTest(TestCase):
    def test_write_fixture(self):
        repo = make_repo(self.get_temp_dir())
        root = self.get_temp_dir()
        write_clip(os.path.join(root, "14", "214.mp3"), 0)
        # Only the low-quality download of 773: used instead.
        write_clip(os.path.join(root, "73", "773.low.mp3"), 1)
        write_clip(os.path.join(root, "00", "1000.mp3"), 2)
        layout = MTGJamendo(root, repo=repo, subset="genre")
        self.assertEqual(
            layout.tasks,
            {
                "tags": {
                    "vocabulary": [
                        "genre---electronic",
                        "genre---metal",
                        "genre---punkrock",
                        "genre---rock",
                    ],
                    "multi_label": True,
                }
            },
        )
        (valid,) = layout.list_items("valid")
        self.assertEqual(valid.path, os.path.join(root, "73", "773.low.mp3"))
        self.assertEqual(
            valid.metadata,
            {
                "path": os.path.join("73", "773.low.mp3"),
                "artist_id": "artist_000104",
                "album_id": "album_000126",
            },
        )
        folders = layout.write_tfrecords(
            os.path.join(root, "out"), sample_rate=SAMPLE_RATE, progress=False
        )
        manifest, tracks = written_tracks(folders["train"])
        self.assertEqual(
            tracks,
            {"track_0000214": {"tags": ["genre---punkrock", "genre---rock"]}},
        )
        (skipped,) = manifest["skipped"]
        self.assertIn("215.mp3", skipped["item"])
        _, tracks = written_tracks(folders["valid"])
        self.assertEqual(
            tracks, {"track_0000773": {"tags": ["genre---electronic"]}}
        )

    def test_errors(self):
        root = self.get_temp_dir()
        rows = dict(
            ROWS,
            test=[
                "track_0001000\tartist_000200\talbum_000300\t00/1000.mp3\t90.0\n"
            ],
        )
        with pytest.raises(
            ValueError, match=r"genre-test.tsv, line 2: 5 fields"
        ):
            MTGJamendo(
                root, repo=make_repo(self.get_temp_dir(), rows), subset="genre"
            )
        rows = dict(ROWS, test=["t1\ta\tb\t00/1.mp3\t9.0\tgenre---rock\n"])
        with pytest.raises(ValueError, match="bad TRACK_ID 't1'"):
            MTGJamendo(
                root, repo=make_repo(self.get_temp_dir(), rows), subset="genre"
            )
        rows = dict(ROWS, test=["track_0000001\ta\tb\t01/1.mp3\t9.0\trock\n"])
        with pytest.raises(ValueError, match="tags must look like"):
            MTGJamendo(
                root, repo=make_repo(self.get_temp_dir(), rows), subset="genre"
            )
        repo = make_repo(self.get_temp_dir())
        path = os.path.join(
            repo, "data", "splits", "split-0", "autotagging_genre-test.tsv"
        )
        with open(path, "w") as stream:
            stream.write("TRACK_ID,PATH\n")
        with pytest.raises(ValueError, match="must start with the header"):
            MTGJamendo(root, repo=repo, subset="genre")
        with pytest.raises(ValueError, match=r"checkout of MTG.*instrument"):
            MTGJamendo(root, repo=repo, subset="instrument")
        with pytest.raises(ValueError, match="`subset` must be one of"):
            MTGJamendo(root, repo=repo, subset="mood")
        with pytest.raises(ValueError, match="`split_index` must be"):
            MTGJamendo(root, repo=repo, subset="genre", split_index=5)
        with pytest.raises(ValueError, match="`root` must be an existing"):
            MTGJamendo(os.path.join(root, "nowhere"), repo=repo, subset="genre")

    @pytest.mark.skipif(
        not os.path.isdir(SHARED),
        reason="set KERAS_MUSIC_JAMENDO_SPLIT_0 to the real split-0 files",
    )
    def test_real_split_0_files(self):
        # The repository's own files (CC BY-NC-SA, not shipped), in a
        # checkout layout: every subset parses, with the README's counts.
        repo = self.get_temp_dir()
        directory = os.path.join(repo, "data", "splits", "split-0")
        os.makedirs(directory)
        for name in os.listdir(SHARED):
            source = os.path.join(SHARED, name)
            if name.endswith(".gz"):
                with (
                    gzip.open(source) as f,
                    open(os.path.join(directory, name[:-3]), "wb") as g,
                ):
                    shutil.copyfileobj(f, g)
            else:
                shutil.copy(source, directory)
        expected = {
            "genre": (55094, 87),
            "instrument": (24976, 40),
            "moodtheme": (17982, 56),
            "top50tags": (54380, 50),
        }
        for subset, (tracks, tags) in expected.items():
            layout = MTGJamendo(self.get_temp_dir(), repo=repo, subset=subset)
            total = sum(
                len(layout.list_items(s)) for s in ("train", "valid", "test")
            )
            self.assertEqual((total, len(layout.vocabulary)), (tracks, tags))
