import os

import pytest

from keras_music.data.datasets.dataset_layout import SHIPPED_SPLITS_DIR
from keras_music.data.datasets.magnatagatune import MTAT_TOP50_TAGS
from keras_music.data.datasets.magnatagatune import MagnaTagATune
from keras_music.data.datasets.magnatagatune import read_split_list
from tests.data.datasets.fixtures import SAMPLE_RATE
from tests.data.datasets.fixtures import write_clip
from tests.data.datasets.fixtures import written_tracks
from tests.test_case import TestCase

LISTS = os.path.join(SHIPPED_SPLITS_DIR, "magnatagatune")
CLIPS = {
    # mp3_path: (clip_id, split, tags)
    "0/a-b-01-x-0-29.mp3": ("2", "train", ["guitar", "rock"]),
    "b/c-d-02-y-30-59.mp3": ("6", "train", ["piano"]),
    "c/e-f-03-z-0-29.mp3": ("10", "valid", ["choral", "classical"]),
    "f/g-h-04-w-0-29.mp3": ("12", "test", []),
}
# Columns besides the top 50 that annotations_final.csv also has.
OTHER_TAGS = ["no singer", "hard rock"]


def write_annotations(path, clips=CLIPS, extra_row=None):
    columns = ["clip_id", *OTHER_TAGS, *reversed(MTAT_TOP50_TAGS), "mp3_path"]
    lines = ["\t".join(f'"{c}"' for c in columns)]
    for mp3_path, (clip_id, _, tags) in clips.items():
        values = [clip_id, "1", "0"]
        values += ["1" if t in tags else "0" for t in reversed(MTAT_TOP50_TAGS)]
        lines.append("\t".join(f'"{v}"' for v in [*values, mp3_path]))
    if extra_row is not None:
        lines.append(extra_row)
    # The distributed file ends its lines with CR LF.
    with open(path, "w", newline="") as stream:
        stream.write("".join(f"{line}\r\n" for line in lines))


def make_mtat(base, missing=("b/c-d-02-y-30-59.mp3",)):
    write_annotations(os.path.join(base, "annotations_final.csv"))
    names = {
        "train": "won2020_train_reconstructed.tsv",
        "valid": "won2020_valid.tsv",
        "test": "won2020_test.tsv",
    }
    lists = os.path.join(base, "lists")
    os.makedirs(lists)
    for split, name in names.items():
        with open(os.path.join(lists, name), "w") as stream:
            for row, (mp3_path, (_, s, _)) in enumerate(CLIPS.items()):
                if s == split:
                    stream.write(f"{row}\t{mp3_path}\n")
    for i, mp3_path in enumerate(CLIPS):
        if mp3_path not in missing:
            write_clip(os.path.join(base, "mp3", mp3_path), i)
        os.makedirs(os.path.join(base, "mp3", mp3_path[0]), exist_ok=True)
    return base, lists


class MagnaTagATuneTest(TestCase):
    def test_shipped_split(self):
        counts = {
            name: len(read_split_list(os.path.join(LISTS, name)))
            for name in (
                "won2020_train_reconstructed.tsv",
                "won2020_valid.tsv",
                "won2020_test.tsv",
            )
        }
        # Won et al.'s counts (and the 12-1-3 folder rule for train).
        self.assertEqual(list(counts.values()), [15250, 1529, 4332])
        self.assertEqual(len(MTAT_TOP50_TAGS), 50)
        self.assertEqual(MTAT_TOP50_TAGS[:3], ("guitar", "classical", "slow"))
        folders = {
            name: {
                path[0]
                for _, path in read_split_list(os.path.join(LISTS, name))
            }
            for name in counts
        }
        self.assertEqual(
            folders["won2020_train_reconstructed.tsv"], set("0123456789ab")
        )
        self.assertEqual(folders["won2020_valid.tsv"], {"c"})
        self.assertEqual(folders["won2020_test.tsv"], set("def"))

    def test_write_fixture(self):
        root, lists = make_mtat(self.get_temp_dir())
        layout = MagnaTagATune(root, lists_dir=lists)
        self.assertEqual(
            layout.tasks["tags"]["vocabulary"], list(MTAT_TOP50_TAGS)
        )
        folders = layout.write_tfrecords(
            os.path.join(root, "out"), sample_rate=SAMPLE_RATE, progress=False
        )
        manifest, tracks = written_tracks(folders["train"])
        # Labels in vocabulary order, whatever the CSV's column order.
        self.assertEqual(tracks, {"2": {"tags": ["guitar", "rock"]}})
        self.assertIn("c-d-02-y-30-59.mp3", manifest["skipped"][0]["item"])
        _, tracks = written_tracks(folders["valid"])
        self.assertEqual(tracks, {"10": {"tags": ["classical", "choral"]}})
        _, tracks = written_tracks(folders["test"])
        self.assertEqual(tracks, {"12": {"tags": []}})

    def test_errors(self):
        root, lists = make_mtat(self.get_temp_dir())
        path = os.path.join(root, "annotations_final.csv")
        write_annotations(path, extra_row='"99"\t"1"')
        with pytest.raises(
            ValueError, match=r"annotations_final.csv, line 6: 2 fields"
        ):
            MagnaTagATune(root, lists_dir=lists)
        write_annotations(path, clips={})
        with pytest.raises(ValueError, match="no clip with mp3_path"):
            MagnaTagATune(root, lists_dir=lists).list_items("test")
        with open(path, "w") as stream:
            stream.write('"clip_id"\t"guitar"\t"mp3_path"\n')
        with pytest.raises(ValueError, match="lacks the columns"):
            MagnaTagATune(root)
        with open(os.path.join(lists, "won2020_valid.tsv"), "a") as stream:
            stream.write("c/only-a-path.mp3\n")
        with pytest.raises(ValueError, match=r"won2020_valid.tsv, line 2"):
            read_split_list(os.path.join(lists, "won2020_valid.tsv"))
        with pytest.raises(ValueError, match="MTAT's annotations"):
            MagnaTagATune(self.get_temp_dir())
        os.remove(os.path.join(root, "annotations_final.csv"))
        empty = self.get_temp_dir()
        open(os.path.join(empty, "annotations_final.csv"), "w").close()
        with pytest.raises(ValueError, match="MTAT's mp3 folders"):
            MagnaTagATune(empty)
