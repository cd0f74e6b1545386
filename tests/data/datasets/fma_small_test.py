import os

import pytest

from keras_music.data.datasets.fma_small import FMA_SMALL_GENRES
from keras_music.data.datasets.fma_small import FMASmall
from tests.data.datasets.fixtures import SAMPLE_RATE
from tests.data.datasets.fixtures import write_clip
from tests.data.datasets.fixtures import written_tracks
from tests.test_case import TestCase

# tracks.csv's layout: two header rows (top-level and sub-level column
# names), a `track_id` row, then one row per track. Real files have ~50
# columns; these are some of them, in FMA's order, with a quoted
# multi-line field as the real `track/information` fields have.
HEADER = (
    ",album,set,set,track,track\n"
    ",title,split,subset,genre_top,information\n"
    "track_id,,,,,\n"
)
ROWS = [
    '2,AWOL,training,small,Hip-Hop,"two\nlines"\n',
    "5,AWOL,training,small,Hip-Hop,\n",
    "10,Constant,validation,small,Pop,\n",
    "20,Other,training,medium,Rock,\n",
    "140,Ex,test,small,Folk,\n",
]


def make_fma(base, rows=ROWS, audio=("000002", "000010", "000140")):
    os.makedirs(os.path.join(base, "fma_metadata"))
    with open(os.path.join(base, "fma_metadata", "tracks.csv"), "w") as f:
        f.write(HEADER + "".join(rows))
    os.makedirs(os.path.join(base, "fma_small"))
    for i, track_id in enumerate(audio):
        write_clip(
            os.path.join(base, "fma_small", track_id[:3], f"{track_id}.mp3"),
            i,
        )
    return base


class FMASmallTest(TestCase):
    def test_split_from_tracks_csv(self):
        root = make_fma(self.get_temp_dir())
        layout = FMASmall(root)
        self.assertEqual(
            [(i.track_id, i.labels) for i in layout.list_items("train")],
            [
                ("000002", {"genre": ["Hip-Hop"]}),
                ("000005", {"genre": ["Hip-Hop"]}),
            ],
        )
        (valid,) = layout.list_items("valid")
        self.assertEqual(
            valid.path, os.path.join(root, "fma_small", "000", "000010.mp3")
        )
        self.assertEqual(
            layout.tasks["genre"]["vocabulary"], list(FMA_SMALL_GENRES)
        )
        folders = layout.write_tfrecords(
            os.path.join(root, "out"), sample_rate=SAMPLE_RATE, progress=False
        )
        manifest, tracks = written_tracks(folders["train"])
        # 000005's mp3 is absent: skipped, counted and named.
        self.assertEqual(tracks, {"000002": {"genre": ["Hip-Hop"]}})
        self.assertEqual(len(manifest["skipped"]), 1)
        self.assertIn("000005.mp3", manifest["skipped"][0]["item"])
        _, tracks = written_tracks(folders["test"])
        self.assertEqual(tracks, {"000140": {"genre": ["Folk"]}})

    def test_malformed_rows(self):
        bad_rows = {
            "3 fields, the header has 6": "7,x,training\n",
            "track_id 'x7' is no number": "x7,a,training,small,Rock,\n",
            "split 'train' is not one of": "7,a,train,small,Rock,\n",
            "genre_top 'Jazz'": "7,a,test,small,Jazz,\n",
        }
        for message, row in bad_rows.items():
            root = make_fma(self.get_temp_dir(), rows=ROWS[:2] + [row])
            # Line 7: three header lines, a two-line row, a one-line row.
            with pytest.raises(
                ValueError, match=rf"tracks.csv, line 7: {message}"
            ):
                FMASmall(root)

    def test_missing_files(self):
        with pytest.raises(ValueError, match=r"FMA's metadata.*tracks.csv"):
            FMASmall(self.get_temp_dir())
        root = make_fma(self.get_temp_dir())
        os.rename(
            os.path.join(root, "fma_small"), os.path.join(root, "fma_large")
        )
        with pytest.raises(ValueError, match="fma_small audio folder"):
            FMASmall(root)
        root = self.get_temp_dir()
        os.makedirs(os.path.join(root, "fma_metadata"))
        with open(os.path.join(root, "fma_metadata", "tracks.csv"), "w") as f:
            f.write(",album,set\n,title,split\n")
        os.makedirs(os.path.join(root, "fma_small"))
        with pytest.raises(ValueError, match=r"no column \('set', 'subset'\)"):
            FMASmall(root)
