import collections
import os

import numpy as np
import pytest
import soundfile

from keras_music.data.datasets.gtzan import GTZAN
from keras_music.data.datasets.gtzan import GTZAN_GENRES
from keras_music.data.tfrecord_dataset import tfrecord_dataset
from tests.data.datasets.fixtures import SAMPLE_RATE
from tests.data.datasets.fixtures import write_clip
from tests.data.datasets.fixtures import written_tracks
from tests.test_case import TestCase


def make_root(base, parent="genres"):
    for genre in GTZAN_GENRES:
        os.makedirs(os.path.join(base, parent, genre), exist_ok=True)
    return base


def write_lists(directory, lists):
    os.makedirs(directory, exist_ok=True)
    for split, lines in lists.items():
        with open(os.path.join(directory, f"{split}_filtered.txt"), "w") as f:
            f.write("".join(f"{line}\n" for line in lines))
    return directory


class GTZANTest(TestCase):
    def test_shipped_fault_filtered_split(self):
        layout = GTZAN(make_root(self.get_temp_dir()))
        items = {s: layout.list_items(s) for s in ("train", "valid", "test")}
        # The counts the split's README and jukemir give.
        self.assertEqual(
            {s: len(v) for s, v in items.items()},
            {"train": 443, "valid": 197, "test": 290},
        )
        per_genre = {
            s: collections.Counter(i.labels["genre"][0] for i in v)
            for s, v in items.items()
        }
        self.assertEqual(
            [per_genre[s]["blues"] for s in ("train", "valid", "test")],
            [46, 23, 31],
        )
        self.assertEqual(
            [per_genre[s]["pop"] for s in ("train", "valid", "test")],
            [41, 13, 30],
        )
        ids = [i.track_id for v in items.values() for i in v]
        self.assertEqual(len(set(ids)), 930)
        first = items["valid"][0]
        self.assertEqual(first.track_id, "blues.00000")
        self.assertEqual(
            first.path,
            os.path.join(layout.root, "genres", "blues", "blues.00000.wav"),
        )
        self.assertEqual(
            layout.tasks,
            {"genre": {"vocabulary": list(GTZAN_GENRES), "multi_label": False}},
        )

    def test_write_with_a_missing_file(self):
        root = make_root(self.get_temp_dir(), parent="genres_original")
        lists = write_lists(
            os.path.join(self.get_temp_dir(), "lists"),
            {
                "train": ["jazz/jazz.00001.wav", "rock/rock.00002.wav"],
                "valid": ["pop/pop.00003.wav"],
                "test": ["metal/metal.00004.wav"],
            },
        )
        clips = {}
        for i, name in enumerate(
            ["jazz/jazz.00001.wav", "rock/rock.00002.wav", "pop/pop.00003.wav"]
        ):
            path = os.path.join(root, "genres_original", name)
            clips[os.path.basename(name)[:-4]] = write_clip(path, i)
        output = os.path.join(self.get_temp_dir(), "out")
        folders = GTZAN(root, lists_dir=lists).write_tfrecords(
            output, sample_rate=SAMPLE_RATE, progress=False
        )
        self.assertEqual(
            folders,
            {s: os.path.join(output, s) for s in ("train", "valid", "test")},
        )
        manifest, tracks = written_tracks(folders["train"])
        self.assertEqual(
            tracks,
            {
                "jazz.00001": {"genre": ["jazz"]},
                "rock.00002": {"genre": ["rock"]},
            },
        )
        # The listed but absent file is a counted skip, named with reason.
        manifest, tracks = written_tracks(folders["test"])
        self.assertEqual(manifest["num_examples"], 0)
        (skipped,) = manifest["skipped"]
        self.assertIn("metal.00004.wav", skipped["item"])
        self.assertIn("no such file", skipped["reason"])
        # 16-bit files at the stored rate come back bit for bit.
        ((x, y),) = tfrecord_dataset(folders["valid"], task="genre")
        self.assertAllEqual(x, clips["pop.00003"] / np.float32(32768))
        self.assertEqual(int(y), GTZAN_GENRES.index("pop"))

    def test_original_au_files_are_used(self):
        root = make_root(self.get_temp_dir())
        lists = write_lists(
            os.path.join(self.get_temp_dir(), "lists"),
            {"train": ["jazz/jazz.00001.wav"], "valid": [], "test": []},
        )
        path = os.path.join(root, "genres", "jazz", "jazz.00001.au")
        clip = np.zeros(2205, "float32")
        soundfile.write(path, clip, 22050, subtype="PCM_16")
        (item,) = GTZAN(root, lists_dir=lists).list_items("train")
        self.assertEqual(item.path, path)
        self.assertEqual(item.track_id, "jazz.00001")

    def test_missing_root_and_genre_folders(self):
        with pytest.raises(ValueError, match="`root` must be an existing"):
            GTZAN(os.path.join(self.get_temp_dir(), "nowhere"))
        with pytest.raises(ValueError, match=r"genre folders.*genres/blues"):
            GTZAN(self.get_temp_dir())

    def test_malformed_list_line(self):
        lists = write_lists(
            os.path.join(self.get_temp_dir(), "lists"),
            {
                "train": ["jazz/jazz.00001.wav", "polka/polka.00001.wav"],
                "valid": [],
                "test": [],
            },
        )
        with pytest.raises(ValueError, match=r"train_filtered.txt, line 2"):
            GTZAN(make_root(self.get_temp_dir()), lists_dir=lists)
        with pytest.raises(ValueError, match="`lists_dir` has no"):
            GTZAN(make_root(self.get_temp_dir()), lists_dir=self.get_temp_dir())

    def test_bad_split(self):
        layout = GTZAN(make_root(self.get_temp_dir()))
        with pytest.raises(ValueError, match="`split` must be one of"):
            layout.list_items("validation")
        with pytest.raises(ValueError, match="`sample_rate` must be"):
            layout.write_tfrecords(self.get_temp_dir(), sample_rate=0)
