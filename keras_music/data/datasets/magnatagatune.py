"""`MagnaTagATune`: MTAT's top-50 tags with the common 12-1-3 split."""

import csv
import os

from keras_music.data.datasets.dataset_item import DatasetItem
from keras_music.data.datasets.dataset_layout import SHIPPED_SPLITS_DIR
from keras_music.data.datasets.dataset_layout import DatasetLayout
from keras_music.data.datasets.dataset_layout import check_fields
from keras_music.data.datasets.dataset_layout import check_split
from keras_music.data.datasets.dataset_layout import malformed
from keras_music.data.datasets.dataset_layout import read_lines
from keras_music.data.datasets.dataset_layout import require_file

_LISTS_DIR = os.path.join(SHIPPED_SPLITS_DIR, "magnatagatune")
_LIST_NAMES = {
    "train": "won2020_train_reconstructed.tsv",
    "valid": "won2020_valid.tsv",
    "test": "won2020_test.tsv",
}


def _read_top50_tags():
    return [
        line
        for _, line in read_lines(os.path.join(_LISTS_DIR, "won2020_tags.txt"))
    ]


MTAT_TOP50_TAGS = tuple(_read_top50_tags())


class MagnaTagATune(DatasetLayout):
    """MagnaTagATune's 50 most frequent tags with the 12-1-3 split.

    The common split trains on the clips of the mp3 folders `0`-`b`,
    validates on `c` and tests on `d`-`f`, keeping the clips with at least
    one top-50 tag: 15,250 / 1,529 / 4,332 clips. The lists ship with
    keras_music (`splits/magnatagatune/`): valid and test are Won et al.'s
    `valid.npy`/`test.npy`, train is rebuilt from the rule above (it
    matches their count). Labels are read from the dataset's
    `annotations_final.csv`: the multi-label task `tags`, with the 50 tags
    in the column order of the papers' label matrices. The track id is
    MTAT's `clip_id`.

    Expected layout: `root/annotations_final.csv` (tab-separated, quoted,
    `clip_id`, 188 tags, `mp3_path`) and the mp3 folders as
    `root/mp3/0/...`-`root/mp3/f/...` (or `root/0/...` directly). Three
    train clips are known to be unreadable in the distributed archive;
    they are skipped and reported when writing.

    Args:
        root: str. The folder holding `annotations_final.csv`.
        lists_dir: str or `None`. A folder with other split lists in the
            same format (`won2020_{train_reconstructed,valid,test}.tsv`:
            `ROW<TAB>mp3_path` per line). Defaults to the shipped lists.

    Example:

    An `annotations_final.csv` of two clips, with split lists of one
    clip in train and one in test (`lists_dir`; the shipped lists name
    every clip of MTAT):

    >>> import tempfile
    >>> root, lists = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(root, "mp3", "0"))
    >>> def row(*fields):
    ...     return "\\t".join(fields) + "\\n"
    >>> def clip(clip_id, tags, mp3_path):
    ...     flags = ["1" if t in tags else "0" for t in MTAT_TOP50_TAGS]
    ...     return row(clip_id, *flags, mp3_path)
    >>> with open(os.path.join(root, "annotations_final.csv"), "w") as f:
    ...     _ = f.write(row("clip_id", *MTAT_TOP50_TAGS, "mp3_path"))
    ...     _ = f.write(clip("2", ["guitar", "slow"], "0/a-0-29.mp3"))
    ...     _ = f.write(clip("6", ["techno"], "d/b-0-29.mp3"))
    >>> for name, line in [
    ...     ("won2020_train_reconstructed.tsv", "0\\t0/a-0-29.mp3"),
    ...     ("won2020_valid.tsv", ""),
    ...     ("won2020_test.tsv", "0\\td/b-0-29.mp3"),
    ... ]:
    ...     with open(os.path.join(lists, name), "w") as f:
    ...         _ = f.write(line)
    >>> layout = MagnaTagATune(root, lists_dir=lists)
    >>> item = layout.list_items("train")[0]
    >>> item.track_id, item.labels
    ('2', {'tags': ['guitar', 'slow']})
    >>> [i.track_id for i in layout.list_items("test")]
    ['6']

    Reference:
        Law et al., "Evaluation of algorithms using games: the case of
        music tagging", ISMIR 2009; Won et al., "Evaluation of CNN-based
        automatic music tagging models", SMC 2020.
    """

    def __init__(self, root, lists_dir=None):
        super().__init__(root)
        self.lists_dir = lists_dir
        self.annotations = require_file(
            self.root, "annotations_final.csv", "MTAT's annotations"
        )
        mp3_dir = os.path.join(self.root, "mp3")
        self.audio_dir = mp3_dir if os.path.isdir(mp3_dir) else self.root
        if not os.path.isdir(os.path.join(self.audio_dir, "0")):
            raise ValueError(
                "`root` does not hold MTAT's mp3 folders: expected "
                f"{os.path.join(mp3_dir, '0')!r} (folders 0-f). "
                f"Received: root={self.root!r}"
            )
        self._clips = _read_annotations(self.annotations)

    @property
    def tasks(self):
        return {
            "tags": {"vocabulary": list(MTAT_TOP50_TAGS), "multi_label": True}
        }

    def list_items(self, split):
        directory = _LISTS_DIR if self.lists_dir is None else self.lists_dir
        path = os.path.join(directory, _LIST_NAMES[check_split(split)])
        items = []
        for number, mp3_path in read_split_list(path):
            if mp3_path not in self._clips:
                raise ValueError(
                    f"{self.annotations} has no clip with mp3_path "
                    f"{mp3_path!r}, listed in {path} line {number}: not the "
                    "MTAT annotations file this split was made for."
                )
            clip_id, tags = self._clips[mp3_path]
            items.append(
                DatasetItem(
                    track_id=clip_id,
                    path=os.path.join(self.audio_dir, mp3_path),
                    labels={"tags": tags},
                    metadata={"path": mp3_path},
                )
            )
        return items


def read_split_list(path):
    """`(line number, mp3_path)` of a `ROW<TAB>mp3_path` split list."""
    if not os.path.isfile(path):
        raise ValueError(f"No MTAT split list at {path!r}.")
    entries = []
    for number, line in read_lines(path):
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].isdigit() or not fields[1]:
            raise malformed(path, number, "expected `ROW<TAB>mp3_path`")
        entries.append((number, fields[1]))
    return entries


def _read_annotations(path):
    """`{mp3_path: (clip_id, [top-50 tags])}` from annotations_final.csv."""
    clips = {}
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream, delimiter="\t")
        header = next(reader, [])
        if not header or header[0] != "clip_id" or header[-1] != "mp3_path":
            raise ValueError(
                f"{path} must have a tab-separated header from `clip_id` to "
                f"`mp3_path`. Received header: {header[:3]}..."
            )
        missing = [tag for tag in MTAT_TOP50_TAGS if tag not in header]
        if missing:
            raise ValueError(
                f"{path} lacks the columns of top-50 tags {missing}."
            )
        columns = [(tag, header.index(tag)) for tag in MTAT_TOP50_TAGS]
        for row in reader:
            if not row:
                continue
            check_fields(path, reader.line_num, row, header)
            values = [row[i] for _, i in columns]
            if not row[0].isdigit() or not set(values) <= {"0", "1"}:
                raise malformed(
                    path,
                    reader.line_num,
                    "expected a numeric clip_id and tag values 0 or 1",
                )
            tags = [
                tag for (tag, _), value in zip(columns, values) if value == "1"
            ]
            clips[row[-1]] = (row[0], tags)
    return clips
