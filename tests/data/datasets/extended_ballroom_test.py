import collections
import csv
import os

import pytest

from keras_music.data.datasets.extended_ballroom import _TRACKS_CSV
from keras_music.data.datasets.extended_ballroom import (
    EXTENDED_BALLROOM_CLASSES,
)
from keras_music.data.datasets.extended_ballroom import ExtendedBallroom
from keras_music.data.datasets.extended_ballroom import _split_tracks
from keras_music.data.tfrecord_writer import write_tfrecords
from tests.data.datasets.fixtures import SAMPLE_RATE
from tests.data.datasets.fixtures import write_clip
from tests.data.datasets.fixtures import written_tracks
from tests.test_case import TestCase


def make_root(base):
    for name in EXTENDED_BALLROOM_CLASSES:
        os.makedirs(os.path.join(base, name))
    return base


class ExtendedBallroomTest(TestCase):
    def test_nine_classes_and_split(self):
        layout = ExtendedBallroom(make_root(self.get_temp_dir()))
        items = {s: layout.list_items(s) for s in ("train", "valid", "test")}
        counts = collections.Counter(
            i.labels["dance"][0] for v in items.values() for i in v
        )
        # The class sizes of the 9-class subset (splits README, section 4).
        self.assertEqual(
            counts,
            {
                "Waltz": 529,
                "Foxtrot": 507,
                "Quickstep": 497,
                "Rumba": 470,
                "Samba": 468,
                "Tango": 464,
                "Chacha": 455,
                "Jive": 350,
                "Viennesewaltz": 252,
            },
        )
        # The hash split: fixed, about 80/10/10.
        self.assertEqual(
            {s: len(v) for s, v in items.items()},
            {"train": 3229, "valid": 378, "test": 385},
        )
        split_of = {i.track_id: s for s, v in items.items() for i in v}
        with open(_TRACKS_CSV, newline="") as stream:
            rows = list(csv.DictReader(stream))
        linked = 0
        for row in rows:
            for other in row["exact_duplicate_of"].split():
                if row["track_id"] in split_of and other in split_of:
                    linked += 1
                    self.assertEqual(split_of[row["track_id"]], split_of[other])
        self.assertGreater(linked, 400)
        first = items["train"][0]
        self.assertEqual(
            first.path,
            os.path.join(
                layout.root, first.labels["dance"][0], f"{first.track_id}.mp3"
            ),
        )

    def test_write_fixture(self):
        layout = ExtendedBallroom(make_root(self.get_temp_dir()))
        items = layout.list_items("valid")[:3]
        for i, item in enumerate(items[:2]):
            write_clip(item.path, i)
        output = os.path.join(self.get_temp_dir(), "valid")
        write_tfrecords(
            items,
            lambda item: layout.load_item(item, SAMPLE_RATE),
            output,
            tasks=layout.tasks,
            sample_rate=SAMPLE_RATE,
            progress=False,
        )
        manifest, tracks = written_tracks(output)
        self.assertEqual(tracks, {i.track_id: i.labels for i in items[:2]})
        (skipped,) = manifest["skipped"]
        self.assertIn(f"{items[2].track_id}.mp3", skipped["item"])

    def test_errors(self):
        with pytest.raises(ValueError, match=r"class folders \['Chacha'"):
            ExtendedBallroom(self.get_temp_dir())
        root = make_root(self.get_temp_dir())
        with pytest.raises(ValueError, match="`split_fractions` must be"):
            ExtendedBallroom(root, split_fractions=(0.8, 0.1))
        with pytest.raises(ValueError, match="`split_fractions` must be"):
            ExtendedBallroom(root, split_fractions=(0.5, 0.1, 0.1))
        path = os.path.join(self.get_temp_dir(), "tracks.csv")
        with open(path, "w") as stream:
            stream.write(
                "class,track_id,exact_duplicate_of\nWaltz,1,\nWaltz,x2,\n"
            )
        with pytest.raises(ValueError, match=r"tracks.csv, line 3"):
            _split_tracks(path, (0.8, 0.1, 0.1))
