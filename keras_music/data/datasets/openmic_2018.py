"""`OpenMIC2018`: 20 instruments with partial labels (masks)."""

import json
import os
import re

import numpy as np

from keras_music.data.datasets.dataset_item import DatasetItem
from keras_music.data.datasets.dataset_layout import SHIPPED_SPLITS_DIR
from keras_music.data.datasets.dataset_layout import DatasetLayout
from keras_music.data.datasets.dataset_layout import check_split
from keras_music.data.datasets.dataset_layout import hash_fraction
from keras_music.data.datasets.dataset_layout import malformed
from keras_music.data.datasets.dataset_layout import read_lines
from keras_music.data.datasets.dataset_layout import require_file
from keras_music.utils.validation import check_probability

_KEY = re.compile(r"^\d{6}_\d+$")
# Y_true is the annotators' confidence that the instrument is present.
POSITIVE_THRESHOLD = 0.5


class OpenMIC2018(DatasetLayout):
    """OpenMIC-2018: 20,000 10 s clips, 20 instruments, partial labels.

    Each clip is annotated for only some instruments. `openmic-2018.npz`
    holds `Y_true` (confidence that the instrument is present) and
    `Y_mask` (whether it was annotated) per clip and instrument. An
    instrument is *positive* for a clip if masked in with
    `Y_true >= 0.5`, *negative* if masked in with `Y_true < 0.5`, and
    *unknown* otherwise. Two multi-label tasks over the 20 instruments (in
    `class-map.json` index order) carry this:

    - `instrument`: the positive instruments;
    - `instrument_negative`: the confirmed negative instruments.

    The label mask of a clip is their union; targets are 1 for
    `instrument`, 0 elsewhere. Each item's metadata also keeps the
    annotated `Y_true` values (`"y_true": {instrument: value}`).

    The official split `split01` (artist-disjoint) has train (14,915) and
    test (5,085) only. `"valid"` is carved out of train: the clips whose
    FMA track (the part of the sample key before `_`) hashes below
    `valid_fraction`, so all clips of a track stay on one side. The track
    id is the sample key (`"000046_3840"`).

    Expected layout: the tarball unpacked in `root`:
    `openmic-2018.npz`, `class-map.json`,
    `partitions/split01_{train,test}.csv` (one sample key per line; the
    copies shipped with keras_music are used when `partitions/` is
    absent) and `audio/000/000046_3840.ogg`.

    Args:
        root: str. The folder holding `openmic-2018.npz`.
        valid_fraction: float in [0, 1]. Share of train's FMA tracks
            held out as `"valid"`. Defaults to 0.1.

    Example:

    Three clips annotated for two instruments, with a train/test
    partition and one clip's audio:

    >>> import json, soundfile, tempfile
    >>> root = tempfile.mkdtemp()
    >>> keys = ["000046_3840", "000135_483840", "000139_119040"]
    >>> np.savez(
    ...     os.path.join(root, "openmic-2018.npz"),
    ...     sample_key=np.array(keys),
    ...     Y_true=np.array([[0.9, 0.1], [0.2, 0.5], [0.5, 0.7]]),
    ...     Y_mask=np.array([[1, 1], [0, 1], [1, 0]], bool),
    ... )
    >>> with open(os.path.join(root, "class-map.json"), "w") as f:
    ...     json.dump({"piano": 0, "voice": 1}, f)
    >>> os.makedirs(os.path.join(root, "partitions"))
    >>> for part, part_keys in [("train", keys[:2]), ("test", keys[2:])]:
    ...     path = os.path.join(root, "partitions", f"split01_{part}.csv")
    ...     with open(path, "w") as f:
    ...         _ = f.write("\\n".join(part_keys))
    >>> layout = OpenMIC2018(root, valid_fraction=0.0)
    >>> item = layout.list_items("train")[0]
    >>> item.track_id, item.labels
    ('000046_3840',
     {'instrument': ['piano'], 'instrument_negative': ['voice']})
    >>> item.metadata
    {'path': 'audio/000/000046_3840.ogg',
     'y_true': {'piano': 0.9, 'voice': 0.1}}
    >>> os.makedirs(os.path.join(root, "audio", "000"))
    >>> soundfile.write(item.path, np.zeros(800), 8000)
    >>> layout.load_item(item, sample_rate=8000).audio.shape
    (800,)

    Reference:
        Humphrey, Durand & McFee, "OpenMIC-2018: an open dataset for
        multiple instrument recognition", ISMIR 2018.
    """

    def __init__(self, root, valid_fraction=0.1):
        super().__init__(root)
        self.valid_fraction = check_probability(
            "valid_fraction", valid_fraction
        )
        npz_path = require_file(
            self.root, "openmic-2018.npz", "OpenMIC's label arrays"
        )
        class_map_path = require_file(
            self.root, "class-map.json", "OpenMIC's class map"
        )
        with open(class_map_path) as stream:
            class_map = json.load(stream)
        if sorted(class_map.values()) != list(range(len(class_map))):
            raise ValueError(
                f"{class_map_path} must map names to 0..{len(class_map) - 1}."
            )
        self.instruments = sorted(class_map, key=class_map.get)
        with np.load(npz_path, allow_pickle=False) as arrays:
            missing = {"Y_true", "Y_mask", "sample_key"} - set(arrays.files)
            if missing:
                raise ValueError(f"{npz_path} lacks arrays {sorted(missing)}.")
            y_true = np.asarray(arrays["Y_true"], dtype=np.float64)
            y_mask = np.asarray(arrays["Y_mask"]).astype(bool)
            keys = [str(key) for key in arrays["sample_key"]]
        expected = (len(keys), len(self.instruments))
        if y_true.shape != expected or y_mask.shape != expected:
            raise ValueError(
                f"{npz_path}: Y_true and Y_mask must have shape {expected} "
                "(sample keys x instruments). Received: "
                f"{y_true.shape} and {y_mask.shape}"
            )
        self._rows = {key: i for i, key in enumerate(keys)}
        self._y_true, self._y_mask = y_true, y_mask
        partitions = os.path.join(self.root, "partitions")
        if not os.path.isdir(partitions):
            partitions = os.path.join(SHIPPED_SPLITS_DIR, "openmic-2018")
        self._partitions = {}
        for part in ("train", "test"):
            path = os.path.join(partitions, f"split01_{part}.csv")
            if not os.path.isfile(path):
                raise ValueError(
                    f"`root` has a partitions folder without {path!r}. "
                    f"Received: root={self.root!r}"
                )
            self._partitions[part] = [
                self._check_key(path, number, line.strip())
                for number, line in read_lines(path)
            ]

    def _check_key(self, path, number, key):
        if not _KEY.match(key):
            raise malformed(
                path,
                number,
                f"expected a sample key like 000046_3840, got {key!r}",
            )
        if key not in self._rows:
            raise malformed(
                path, number, f"sample key {key!r} is not in openmic-2018.npz"
            )
        return key

    @property
    def tasks(self):
        return {
            "instrument": {
                "vocabulary": list(self.instruments),
                "multi_label": True,
            },
            "instrument_negative": {
                "vocabulary": list(self.instruments),
                "multi_label": True,
            },
        }

    def list_items(self, split):
        check_split(split)
        if split == "test":
            keys = self._partitions["test"]
        else:
            in_valid = [
                hash_fraction(key.split("_")[0]) < self.valid_fraction
                for key in self._partitions["train"]
            ]
            keys = [
                key
                for key, held_out in zip(self._partitions["train"], in_valid)
                if held_out == (split == "valid")
            ]
        return [self._item(key) for key in keys]

    def _item(self, key):
        row = self._rows[key]
        positive, negative, y_true = [], [], {}
        for i, name in enumerate(self.instruments):
            if not self._y_mask[row, i]:
                continue
            value = float(self._y_true[row, i])
            # float32 in the file: 6 decimals keep its precision in JSON.
            y_true[name] = round(value, 6)
            if value >= POSITIVE_THRESHOLD:
                positive.append(name)
            else:
                negative.append(name)
        relative = os.path.join("audio", key[:3], f"{key}.ogg")
        return DatasetItem(
            track_id=key,
            path=os.path.join(self.root, relative),
            labels={"instrument": positive, "instrument_negative": negative},
            metadata={"path": relative, "y_true": y_true},
        )
