import json
import os
import shutil

import numpy as np
import pytest

from keras_music.data.datasets.dataset_layout import SHIPPED_SPLITS_DIR
from keras_music.data.datasets.dataset_layout import read_lines
from keras_music.data.datasets.openmic_2018 import OpenMIC2018
from tests.data.datasets.fixtures import SAMPLE_RATE
from tests.data.datasets.fixtures import write_clip
from tests.data.datasets.fixtures import written_tracks
from tests.test_case import TestCase

SHIPPED = os.path.join(SHIPPED_SPLITS_DIR, "openmic-2018")
with open(os.path.join(SHIPPED, "class-map.json")) as _stream:
    CLASS_MAP = json.load(_stream)
INSTRUMENTS = sorted(CLASS_MAP, key=CLASS_MAP.get)


def make_openmic(base, keys, y_true, y_mask, partitions=None):
    np.savez(
        os.path.join(base, "openmic-2018.npz"),
        X=np.zeros((len(keys), 10, 128), "uint8"),
        Y_true=np.asarray(y_true, "float32"),
        Y_mask=np.asarray(y_mask, bool),
        sample_key=np.asarray(keys),
    )
    shutil.copy(os.path.join(SHIPPED, "class-map.json"), base)
    if partitions is not None:
        os.makedirs(os.path.join(base, "partitions"))
        for part, lines in partitions.items():
            path = os.path.join(base, "partitions", f"split01_{part}.csv")
            with open(path, "w") as stream:
                stream.write("".join(f"{line}\n" for line in lines))
    return base


class OpenMIC2018Test(TestCase):
    def test_labels_masks_and_split(self):
        keys = ["000046_3840", "000135_483840", "000178_3840", "000308_61440"]
        y_true = np.full((4, 20), 0.5, "float32")
        y_mask = np.zeros((4, 20), bool)
        # Clip 0: piano positive (0.9), violin negative (0.1), voice at
        # exactly the threshold is positive; the rest unknown.
        piano, violin, voice = (
            CLASS_MAP[n] for n in ("piano", "violin", "voice")
        )
        y_true[0, [piano, violin, voice]] = [0.9, 0.1, 0.5]
        y_mask[0, [piano, violin, voice]] = True
        # Clip 1: only a masked-out high value: no positive, no negative.
        y_true[1, piano] = 1.0
        y_mask[2, violin] = True
        y_true[2, violin] = 0.2
        root = make_openmic(
            self.get_temp_dir(),
            keys,
            y_true,
            y_mask,
            partitions={"train": keys[:3], "test": keys[3:]},
        )
        write_clip(os.path.join(root, "audio", "000", "000046_3840.ogg"), 0)
        write_clip(os.path.join(root, "audio", "000", "000308_61440.ogg"), 1)
        layout = OpenMIC2018(root, valid_fraction=0.0)
        self.assertEqual(layout.tasks["instrument"]["vocabulary"], INSTRUMENTS)
        self.assertEqual(
            layout.tasks["instrument_negative"]["vocabulary"], INSTRUMENTS
        )
        train = {i.track_id: i for i in layout.list_items("train")}
        self.assertEqual(list(train), keys[:3])
        self.assertEqual(layout.list_items("valid"), [])
        first = train["000046_3840"]
        self.assertEqual(
            first.labels,
            {
                "instrument": ["piano", "voice"],
                "instrument_negative": ["violin"],
            },
        )
        self.assertEqual(
            first.metadata["y_true"],
            {"piano": 0.9, "violin": 0.1, "voice": 0.5},
        )
        self.assertEqual(
            train["000135_483840"].labels,
            {"instrument": [], "instrument_negative": []},
        )
        self.assertEqual(
            first.path, os.path.join(root, "audio", "000", "000046_3840.ogg")
        )
        # valid_fraction=0 leaves valid empty: writing it (all splits, the
        # default) is refused by name instead of making an empty folder.
        with pytest.raises(ValueError, match="no tracks for split 'valid'"):
            layout.write_tfrecords(
                os.path.join(root, "out"), sample_rate=SAMPLE_RATE
            )
        with pytest.warns(UserWarning, match="2 of 3 tracks listed for split"):
            folders = layout.write_tfrecords(
                os.path.join(root, "out"),
                sample_rate=SAMPLE_RATE,
                splits=("train", "test"),
                progress=False,
            )
        manifest, tracks = written_tracks(folders["train"])
        self.assertEqual(tracks, {"000046_3840": first.labels})
        # Two of three train clips have no audio: counted skips.
        self.assertEqual(len(manifest["skipped"]), 2)
        _, tracks = written_tracks(folders["test"])
        self.assertEqual(list(tracks), ["000308_61440"])
        # Everything in valid with valid_fraction=1.
        layout = OpenMIC2018(root, valid_fraction=1.0)
        self.assertEqual(len(layout.list_items("valid")), 3)
        self.assertEqual(layout.list_items("train"), [])

    def test_shipped_partitions(self):
        train = [
            line
            for _, line in read_lines(
                os.path.join(SHIPPED, "split01_train.csv")
            )
        ]
        test = [
            line
            for _, line in read_lines(os.path.join(SHIPPED, "split01_test.csv"))
        ]
        self.assertEqual((len(train), len(test)), (14915, 5085))
        keys = train + test
        self.assertEqual(len(set(keys)), 20000)
        root = make_openmic(
            self.get_temp_dir(),
            keys,
            np.zeros((20000, 20)),
            np.zeros((20000, 20)),
        )
        # No partitions/ folder: the shipped copies are used.
        layout = OpenMIC2018(root)
        counts = {
            s: len(layout.list_items(s)) for s in ("train", "valid", "test")
        }
        self.assertEqual(counts["test"], 5085)
        self.assertEqual(counts["train"] + counts["valid"], 14915)
        # About 10% of train, grouped by FMA track.
        self.assertAllClose(counts["valid"] / 14915, 0.1, atol=0.02)
        valid_tracks = {
            i.track_id.split("_")[0] for i in layout.list_items("valid")
        }
        train_tracks = {
            i.track_id.split("_")[0] for i in layout.list_items("train")
        }
        self.assertEqual(valid_tracks & train_tracks, set())

    def test_errors(self):
        keys = ["000046_3840"]
        root = make_openmic(
            self.get_temp_dir(),
            keys,
            np.zeros((1, 20)),
            np.zeros((1, 20)),
            partitions={"train": ["000046_3840", "46-3840"], "test": []},
        )
        with pytest.raises(ValueError, match=r"split01_train.csv, line 2"):
            OpenMIC2018(root)
        root = make_openmic(
            self.get_temp_dir(),
            keys,
            np.zeros((1, 20)),
            np.zeros((1, 20)),
            partitions={"train": ["000046_3840", "000047_0"], "test": []},
        )
        with pytest.raises(ValueError, match="'000047_0' is not in"):
            OpenMIC2018(root)
        root = make_openmic(
            self.get_temp_dir(),
            keys,
            np.zeros((1, 19)),
            np.zeros((1, 19)),
        )
        with pytest.raises(ValueError, match=r"must have shape \(1, 20\)"):
            OpenMIC2018(root)
        root = self.get_temp_dir()
        np.savez(os.path.join(root, "openmic-2018.npz"), X=np.zeros(1))
        shutil.copy(os.path.join(SHIPPED, "class-map.json"), root)
        with pytest.raises(ValueError, match="lacks arrays"):
            OpenMIC2018(root)
        with open(os.path.join(root, "class-map.json"), "w") as stream:
            json.dump({"piano": 1}, stream)
        with pytest.raises(ValueError, match="must map names to 0..0"):
            OpenMIC2018(root)
        with pytest.raises(ValueError, match="OpenMIC's label arrays"):
            OpenMIC2018(self.get_temp_dir())
        with pytest.raises(ValueError, match="`valid_fraction` must be"):
            OpenMIC2018(root, valid_fraction=1.5)
        root = make_openmic(
            self.get_temp_dir(),
            keys,
            np.zeros((1, 20)),
            np.zeros((1, 20)),
            partitions={"train": keys},
        )
        with pytest.raises(ValueError, match="partitions folder without"):
            OpenMIC2018(root)
