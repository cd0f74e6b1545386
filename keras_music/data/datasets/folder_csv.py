"""`FolderCSV`: any folder of audio files described by a labels CSV."""

import csv
import os

from keras_music.data.datasets.dataset_item import DatasetItem
from keras_music.data.datasets.dataset_layout import SPLITS
from keras_music.data.datasets.dataset_layout import DatasetLayout
from keras_music.data.datasets.dataset_layout import check_split
from keras_music.data.datasets.dataset_layout import malformed


class FolderCSV(DatasetLayout):
    """The generic layout: a folder of audio files and a labels CSV.

    The CSV has a header row and the columns (any order, others ignored):

    - `path` (required): the audio file, relative to `root`; it is also
      the track id;
    - `label`: one class name per file, the single-label task `label`;
    - `tags`: names separated by `;`, the multi-label task `tags`;
    - `split` (optional): `train`, `valid` or `test`.

    At least one of `label` and `tags` is required. An empty cell means
    "no label for this task". Vocabularies are the sorted distinct names
    over all rows, so every split shares them. Without a `split` column,
    `list_items(None)` lists every row (the whole dataset goes to one
    TFRecord folder).

    Args:
        root: str. The folder the CSV paths are relative to.
        labels: str. The CSV file.

    Example:

    >>> import soundfile, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for name in ("a.wav", "b.wav"):
    ...     soundfile.write(os.path.join(root, name), np.zeros(800), 8000)
    >>> csv = "path,label,split\\na.wav,rock,train\\nb.wav,jazz,test\\n"
    >>> with open(os.path.join(root, "labels.csv"), "w") as f:
    ...     _ = f.write(csv)
    >>> layout = FolderCSV(root, os.path.join(root, "labels.csv"))
    >>> layout.has_splits
    True
    >>> [item.track_id for item in layout.list_items("train")]
    ['a.wav']
    >>> folders = layout.write_tfrecords(
    ...     tempfile.mkdtemp(), sample_rate=8000, splits=("train", "test"),
    ...     progress=False,
    ... )
    >>> sorted(folders)
    ['test', 'train']
    """

    def __init__(self, root, labels):
        super().__init__(root)
        self.labels = os.path.expanduser(os.fspath(labels))
        if not os.path.isfile(self.labels):
            raise ValueError(
                "`labels` must be an existing CSV file. "
                f"Received: labels={labels!r}"
            )
        self._rows, self._tasks, self.has_splits = _read_labels_csv(self.labels)

    @property
    def tasks(self):
        return self._tasks

    def list_items(self, split=None):
        if split is not None:
            check_split(split)
            if not self.has_splits:
                raise ValueError(
                    f"{self.labels} has no `split` column; list every row "
                    f"with split=None. Received: split={split!r}"
                )
        return [
            DatasetItem(
                track_id=relative,
                path=os.path.join(self.root, relative),
                labels=labels,
                metadata={"path": relative},
            )
            for relative, labels, row_split in self._rows
            if split is None or row_split == split
        ]


def _read_labels_csv(path):
    """`(rows, tasks, has_splits)`; rows are `(path, labels, split)`."""
    # utf-8-sig: Excel starts its CSV files with a byte order mark.
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        columns = set(reader.fieldnames or ())
        if "path" not in columns or not columns & {"label", "tags"}:
            raise ValueError(
                f"{path} must have a header with `path` and `label` and/or "
                f"`tags` columns. Received columns: {sorted(columns)}"
            )
        has_splits = "split" in columns
        rows, seen = [], set()
        names = {"label": set(), "tags": set()}
        for row in reader:
            line = reader.line_num
            if None in row or None in row.values():
                raise malformed(
                    path, line, f"expected {len(reader.fieldnames)} fields"
                )
            relative = row["path"].strip()
            if not relative:
                raise malformed(path, line, "the `path` cell is empty")
            if relative in seen:
                raise malformed(path, line, f"{relative!r} is listed twice")
            seen.add(relative)
            split = row["split"].strip() if has_splits else None
            if has_splits and split not in SPLITS:
                raise malformed(
                    path, line, f"split {split!r} is not one of {SPLITS}"
                )
            labels = {}
            if "label" in columns:
                label = row["label"].strip()
                labels["label"] = [label] if label else []
            if "tags" in columns:
                tags = (t.strip() for t in row["tags"].split(";"))
                labels["tags"] = sorted({t for t in tags if t})
            for task, values in labels.items():
                names[task].update(values)
            rows.append((relative, labels, split))
    tasks = {
        task: {"vocabulary": sorted(names[task]), "multi_label": task == "tags"}
        for task in ("label", "tags")
        if task in columns
    }
    return rows, tasks, has_splits
