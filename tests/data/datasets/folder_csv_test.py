import os

import pytest

from keras_music.data.datasets.folder_csv import FolderCSV
from keras_music.data.datasets.gtzan import GTZAN
from keras_music.data.datasets.registry import DATASET_LAYOUTS
from keras_music.data.datasets.registry import get_dataset_layout
from tests.data.datasets.fixtures import SAMPLE_RATE
from tests.data.datasets.fixtures import write_clip
from tests.data.datasets.fixtures import written_tracks
from tests.test_case import TestCase


def write_csv(base, text):
    path = os.path.join(base, "labels.csv")
    with open(path, "w") as stream:
        stream.write(text)
    return path


class FolderCSVTest(TestCase):
    def test_split_column(self):
        root = self.get_temp_dir()
        write_clip(os.path.join(root, "a.wav"), 0)
        write_clip(os.path.join(root, "sub", "b.flac"), 1)
        labels = write_csv(
            root,
            "path,label,tags,split\n"
            "a.wav,rock,guitar;drums,train\n"
            "sub/b.flac,jazz,piano,valid\n"
            "gone.wav,jazz,,test\n",
        )
        layout = FolderCSV(root, labels)
        self.assertTrue(layout.has_splits)
        self.assertEqual(
            layout.tasks,
            {
                "label": {"vocabulary": ["jazz", "rock"], "multi_label": False},
                "tags": {
                    "vocabulary": ["drums", "guitar", "piano"],
                    "multi_label": True,
                },
            },
        )
        self.assertEqual(len(layout.list_items(None)), 3)
        folders = layout.write_tfrecords(
            os.path.join(root, "out"), sample_rate=SAMPLE_RATE, progress=False
        )
        _, tracks = written_tracks(folders["train"])
        self.assertEqual(
            tracks, {"a.wav": {"label": ["rock"], "tags": ["drums", "guitar"]}}
        )
        _, tracks = written_tracks(folders["valid"])
        self.assertEqual(
            tracks, {"sub/b.flac": {"label": ["jazz"], "tags": ["piano"]}}
        )
        manifest, _ = written_tracks(folders["test"])
        self.assertIn("gone.wav", manifest["skipped"][0]["item"])

    def test_malformed_rows(self):
        root = self.get_temp_dir()
        cases = {
            "line 3: expected 3 fields": "a.wav,rock,train\nb.wav,rock\n",
            "line 2: expected 3 fields": "a.wav,rock,train,extra\n",
            "line 3: split 'validation'": "a.wav,x,train\nb.wav,x,validation\n",
            "line 2: the `path` cell is empty": ",rock,train\n",
            "line 3: 'a.wav' is listed twice": "a.wav,x,train\na.wav,x,test\n",
        }
        for message, rows in cases.items():
            labels = write_csv(root, "path,label,split\n" + rows)
            with pytest.raises(ValueError, match=rf"labels.csv, {message}"):
                FolderCSV(root, labels)

    def test_errors(self):
        root = self.get_temp_dir()
        labels = write_csv(root, "file,genre\na.wav,rock\n")
        with pytest.raises(ValueError, match="`path` and `label` and/or"):
            FolderCSV(root, labels)
        with pytest.raises(ValueError, match="`labels` must be an existing"):
            FolderCSV(root, os.path.join(root, "none.csv"))
        labels = write_csv(root, "path,label\na.wav,rock\n")
        layout = FolderCSV(root, labels)
        self.assertFalse(layout.has_splits)
        with pytest.raises(ValueError, match="has no `split` column"):
            layout.list_items("train")

    def test_registry(self):
        self.assertEqual(
            sorted(DATASET_LAYOUTS),
            [
                "extended_ballroom",
                "fma_small",
                "gtzan",
                "magnatagatune",
                "mtg_jamendo",
                "openmic2018",
            ],
        )
        root = self.get_temp_dir()
        for genre in (
            "blues",
            "classical",
            "country",
            "disco",
            "hiphop",
            "jazz",
            "metal",
            "pop",
            "reggae",
            "rock",
        ):
            os.makedirs(os.path.join(root, genre))
        self.assertIsInstance(get_dataset_layout("gtzan", root), GTZAN)
        with pytest.raises(ValueError, match="`name` must be one of"):
            get_dataset_layout("gtzan2", root)
