"""`ExtendedBallroom`: the 9 largest Extended Ballroom dance classes."""

import csv
import os

from keras_music.data.datasets.dataset_item import DatasetItem
from keras_music.data.datasets.dataset_layout import SHIPPED_SPLITS_DIR
from keras_music.data.datasets.dataset_layout import SPLITS
from keras_music.data.datasets.dataset_layout import DatasetLayout
from keras_music.data.datasets.dataset_layout import check_split
from keras_music.data.datasets.dataset_layout import hash_fraction
from keras_music.data.datasets.dataset_layout import malformed
from keras_music.data.datasets.dataset_layout import read_lines
from keras_music.utils.validation import check_probability

_LISTS_DIR = os.path.join(SHIPPED_SPLITS_DIR, "extended_ballroom")
_TRACKS_CSV = os.path.join(_LISTS_DIR, "extendedballroom_v1.1_tracks.csv")
_LINK_COLUMNS = (
    "exact_duplicate_of",
    "version_of",
    "time_duplicate_of",
    "karaoke_duplicate_of",
)
EXTENDED_BALLROOM_CLASSES = tuple(
    line for _, line in read_lines(os.path.join(_LISTS_DIR, "classes_9.txt"))
)


class ExtendedBallroom(DatasetLayout):
    """Extended Ballroom's 9 dance classes (3,992 clips), split by hash.

    The 4 smallest of the 13 classes (Pasodoble, Salsa, Slowwaltz,
    Wcswing, 23-65 clips each) are left out, as in Jeong et al. (2017),
    leaving Chacha, Foxtrot, Jive, Quickstep, Rumba, Samba, Tango,
    Viennesewaltz and Waltz as the single-label task `dance`. The track
    list ships with keras_music (`splits/extended_ballroom/`, derived from
    the dataset's `extendedballroom_v1.1.xml`).

    No fixed split is published, so this one is made reproducible without a
    seed: the tracks linked by the XML's duplicate links (exact copies,
    versions, time or karaoke duplicates) form groups, and a group goes to
    `"valid"` if the hash of its smallest id falls below
    `split_fractions[1]`, to `"test"` below `split_fractions[1] +
    split_fractions[2]`, else to `"train"`. Duplicates therefore never
    straddle two splits. The track id is the dataset's id (`"100601"`).

    Expected layout: one folder per class, `root/Chacha/100701.mp3` (the
    archive `extendedballroom_v1.1` unpacked).

    Args:
        root: str. The folder holding the class folders.
        split_fractions: (train, valid, test) shares summing to 1.
            Defaults to (0.8, 0.1, 0.1).

    Example:

    The class folders (empty here: the track list is the shipped one,
    and audio is only read when writing):

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> for dance in EXTENDED_BALLROOM_CLASSES:
    ...     os.makedirs(os.path.join(root, dance))
    >>> layout = ExtendedBallroom(root)
    >>> [len(layout.list_items(s)) for s in ("train", "valid", "test")]
    [3229, 378, 385]
    >>> item = layout.list_items("train")[0]
    >>> item.track_id, item.labels, item.metadata
    ('100601', {'dance': ['Waltz']}, {'path': 'Waltz/100601.mp3'})

    Reference:
        Marchand & Peeters, "The Extended Ballroom Dataset", ISMIR 2016
        late-breaking session; Jeong, Choi & Jeong, "Deep learning
        representation of rhythm" (arXiv 1712.05119), 2017.
    """

    def __init__(self, root, split_fractions=(0.8, 0.1, 0.1)):
        super().__init__(root)
        fractions = tuple(split_fractions)
        if (
            len(fractions) != 3
            or abs(sum(fractions) - 1.0) > 1e-6
            or not all(
                check_probability("split_fractions", f) == f for f in fractions
            )
        ):
            raise ValueError(
                "`split_fractions` must be three shares (train, valid, test) "
                f"summing to 1. Received: split_fractions={split_fractions!r}"
            )
        self.split_fractions = split_fractions
        missing = [
            c
            for c in EXTENDED_BALLROOM_CLASSES
            if not os.path.isdir(os.path.join(self.root, c))
        ]
        if missing:
            raise ValueError(
                "`root` does not hold the Extended Ballroom class folders "
                f"{missing}: expected e.g. "
                f"{os.path.join(self.root, missing[0])!r}. "
                f"Received: root={self.root!r}"
            )
        self._splits = _split_tracks(_TRACKS_CSV, fractions)

    @property
    def tasks(self):
        return {
            "dance": {
                "vocabulary": list(EXTENDED_BALLROOM_CLASSES),
                "multi_label": False,
            }
        }

    def list_items(self, split):
        items = []
        for track_id, dance in self._splits[check_split(split)]:
            relative = os.path.join(dance, f"{track_id}.mp3")
            items.append(
                DatasetItem(
                    track_id=track_id,
                    path=os.path.join(self.root, relative),
                    labels={"dance": [dance]},
                    metadata={"path": relative},
                )
            )
        return items


def _split_tracks(path, fractions):
    """`{split: [(track id, class)]}` of the 9-class tracks, in CSV order."""
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        rows = []
        for row in reader:
            if None in row or not row["track_id"].isdigit():
                raise malformed(path, reader.line_num, "bad track row")
            rows.append(row)
    parent = {row["track_id"]: row["track_id"] for row in rows}

    def find(track_id):
        while parent[track_id] != track_id:
            parent[track_id] = parent[parent[track_id]]
            track_id = parent[track_id]
        return track_id

    for row in rows:
        for column in _LINK_COLUMNS:
            for other in row[column].split():
                if other in parent:
                    a, b = find(row["track_id"]), find(other)
                    parent[max(a, b)] = min(a, b)
    bounds = (fractions[1], fractions[1] + fractions[2])
    splits = {split: [] for split in SPLITS}
    for row in rows:
        if row["class"] not in EXTENDED_BALLROOM_CLASSES:
            continue
        # Ids are all six digits: the smallest string is the smallest id.
        share = hash_fraction(find(row["track_id"]))
        split = (
            "valid"
            if share < bounds[0]
            else "test"
            if share < bounds[1]
            else "train"
        )
        splits[split].append((row["track_id"], row["class"]))
    return splits
