"""Labels in: label CSVs, dataset adapters and Track labels that are
refused by name, or accepted with what a user relies on.

Each case asserts the exception (or warning) type and that the message
names the file, split, track or argument and what was expected.
"""

import os

import pytest

from keras_music.data.datasets.folder_csv import FolderCSV
from tests.data.datasets.fixtures import write_clip
from tests.data.datasets.fixtures import written_tracks
from tests.data.make_tfrecords_test import make_tfrecords
from tests.data.tfrecord_writer_test import SAMPLE_RATE
from tests.data.tfrecord_writer_test import synthetic_track
from tests.data.tfrecord_writer_test import write
from tests.test_case import TestCase

BOM = "\ufeff"


def write_csv(root, text, encoding="utf-8"):
    path = os.path.join(root, "labels.csv")
    with open(path, "w", encoding=encoding, newline="") as stream:
        stream.write(text)
    return path


def relabelled(labels):
    def load_fn(item):
        track = synthetic_track(item)
        track.labels = labels
        return track

    return load_fn


class LabelsCSVTest(TestCase):
    def setUp(self):
        super().setUp()
        self.root = self.get_temp_dir()
        for i, name in enumerate(("a.wav", "b.wav", "c.wav")):
            write_clip(os.path.join(self.root, name), i)

    def test_bom_header_is_accepted(self):
        # Excel's "CSV UTF-8" starts the file with a byte order mark.
        labels = write_csv(
            self.root, BOM + "path,label\na.wav,rock\nb.wav,jazz\n"
        )
        layout = FolderCSV(self.root, labels)
        self.assertEqual(
            [(i.track_id, i.labels) for i in layout.list_items(None)],
            [("a.wav", {"label": ["rock"]}), ("b.wav", {"label": ["jazz"]})],
        )

    def test_bom_header_written_by_python(self):
        # utf-8-sig is Python's name for Excel's encoding.
        labels = write_csv(
            self.root,
            "path,tags,split\na.wav,x;y,train\nb.wav,y,test\n",
            encoding="utf-8-sig",
        )
        layout = FolderCSV(self.root, labels)
        self.assertTrue(layout.has_splits)
        self.assertEqual(layout.tasks["tags"]["vocabulary"], ["x", "y"])

    def test_bom_does_not_hide_a_missing_path_column(self):
        labels = write_csv(self.root, BOM + "file,label\na.wav,rock\n")
        with pytest.raises(
            ValueError,
            match=r"labels\.csv must have a header with `path` and `label`"
            r".*Received columns: \['file', 'label'\]",
        ):
            FolderCSV(self.root, labels)

    def test_empty_split_is_refused_by_name(self):
        labels = write_csv(
            self.root, "path,label,split\na.wav,rock,train\nb.wav,jazz,test\n"
        )
        layout = FolderCSV(self.root, labels)
        with pytest.raises(
            ValueError,
            match=r"FolderCSV at .* lists no tracks for split 'valid'; "
            "expected at least one",
        ):
            layout.write_tfrecords(
                os.path.join(self.root, "out"), sample_rate=SAMPLE_RATE
            )
        # Refused before anything was written.
        self.assertFalse(os.path.exists(os.path.join(self.root, "out")))

    def test_empty_split_through_make_tfrecords(self):
        labels = write_csv(
            self.root, "path,label,split\na.wav,rock,valid\nb.wav,jazz,test\n"
        )
        with pytest.raises(ValueError, match=r"no tracks for split 'train'"):
            make_tfrecords.write(
                FolderCSV(self.root, labels),
                os.path.join(self.root, "out"),
                SAMPLE_RATE,
                progress=False,
            )

    def test_listed_files_without_audio_are_warned_and_counted(self):
        labels = write_csv(
            self.root,
            "path,label,split\na.wav,rock,train\ngone1.wav,jazz,train\n"
            "gone2.wav,jazz,train\nb.wav,jazz,valid\nc.wav,rock,test\n",
        )
        layout = FolderCSV(self.root, labels)
        with pytest.warns(
            UserWarning,
            match=r"2 of 3 tracks listed for split 'train' by FolderCSV have "
            r"no audio file \(e\.g\. '.*gone1\.wav', '.*gone2\.wav'\); they "
            "are skipped",
        ):
            folders = layout.write_tfrecords(
                os.path.join(self.root, "out"),
                sample_rate=SAMPLE_RATE,
                progress=False,
            )
        manifest, tracks = written_tracks(folders["train"])
        self.assertEqual(list(tracks), ["a.wav"])
        self.assertEqual(
            sorted(s["item"].split("'")[1] for s in manifest["skipped"]),
            ["gone1.wav", "gone2.wav"],
        )

    def test_missing_audio_without_splits_through_make_tfrecords(self):
        labels = write_csv(self.root, "path,label\na.wav,rock\ngone.wav,x\n")
        with pytest.warns(UserWarning, match=r"1 of 2 tracks .*gone\.wav"):
            make_tfrecords.write(
                FolderCSV(self.root, labels),
                os.path.join(self.root, "out"),
                SAMPLE_RATE,
                progress=False,
            )


class TrackLabelsTest(TestCase):
    def test_label_string_instead_of_a_list(self):
        with pytest.raises(
            ValueError,
            match=r"Track 't0': the labels of task 'genre' must be a list of "
            r"names\. Received: 'rock'",
        ):
            write(self.get_temp_dir(), load_fn=relabelled({"genre": "rock"}))

    def test_labels_of_an_unknown_task(self):
        with pytest.raises(
            ValueError,
            match=r"Track 't0': `labels` must be a dict from tasks among "
            r"\['genre', 'tags'\].*'genres'",
        ):
            write(
                self.get_temp_dir(),
                load_fn=relabelled({"genres": ["rock"]}),
            )

    def test_labels_that_are_not_a_dict(self):
        with pytest.raises(
            ValueError, match=r"Track 't0': `labels` must be a dict.*\['rock'\]"
        ):
            write(self.get_temp_dir(), load_fn=relabelled(["rock"]))

    def test_label_outside_the_vocabulary(self):
        with pytest.raises(
            ValueError,
            match=r"Track 't0': labels \['metal'\] are not in the vocabulary "
            r"of task 'genre': \['jazz', 'rock', 'pop'\]",
        ):
            write(self.get_temp_dir(), load_fn=relabelled({"genre": ["metal"]}))

    def test_integer_label_instead_of_a_name(self):
        with pytest.raises(ValueError, match=r"Track 't0': labels \[1\] are"):
            write(self.get_temp_dir(), load_fn=relabelled({"genre": [1]}))
