"""`DatasetLayout`: a dataset's official on-disk layout and split."""

import abc
import functools
import hashlib
import os
import warnings

from keras_music.data.audio import SUPPORTED_EXTENSIONS
from keras_music.data.audio import load_audio
from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from keras_music.utils.validation import check_positive_int

SPLITS = ("train", "valid", "test")
# The split lists shipped with keras_music (see splits/README.md).
SHIPPED_SPLITS_DIR = os.path.join(os.path.dirname(__file__), "splits")


class DatasetLayout(abc.ABC):
    """Base class of the dataset adapters: lists items per split.

    A layout reads a dataset where its distribution unpacks it (`root`),
    with the split its authors or the literature publish, and lists each
    split's tracks as `DatasetItem`s with their labels. `write_tfrecords`
    writes every split with `keras_music.data.tfrecord_writer` to
    `output_dir/train`, `output_dir/valid` and `output_dir/test`, the
    layout of the built-in corpus, so that recipes read either one.

    Subclasses set `tasks` (task name -> `{"vocabulary": [...],
    "multi_label": bool}`, the same for every split) and implement
    `list_items(split)`. They check the root and parse the metadata files
    when constructed, and raise `ValueError` naming the file and line of a
    malformed row. A listed audio file that is missing or unreadable is
    not an error: the writer skips it, counts it in the manifest and
    prints it at the end.

    Args:
        root: str. The folder the dataset was unpacked to.

    Example:

    `FolderCSV`'s example writes a dataset with the generic layout. Every
    layout checks its root when constructed:

    >>> from keras_music.data.datasets.folder_csv import FolderCSV
    >>> FolderCSV("no/such/folder", "labels.csv")
    Traceback (most recent call last):
    ...
    ValueError: `root` must be an existing folder. Received: ...
    """

    def __init__(self, root):
        root = os.path.expanduser(os.fspath(root))
        if not os.path.isdir(root):
            raise ValueError(
                f"`root` must be an existing folder. Received: root={root!r}"
            )
        self.root = root

    @property
    @abc.abstractmethod
    def tasks(self):
        """Task name -> `{"vocabulary": [names], "multi_label": bool}`."""

    @abc.abstractmethod
    def list_items(self, split):
        """The `DatasetItem`s of `split` (`"train"`, `"valid"`, `"test"`)."""

    @staticmethod
    def load_item(item, sample_rate):
        """Decodes a `DatasetItem` into a `Track` at `sample_rate`."""
        return Track(
            track_id=item.track_id,
            audio=load_audio(item.path, sample_rate),
            sample_rate=sample_rate,
            labels=item.labels,
            metadata=item.metadata,
        )

    def checked_items(self, split):
        """`list_items(split)`, refused if empty, with missing files told.

        A split without tracks would be written as an empty folder: it
        raises, naming the split. Listed tracks whose audio file does not
        exist are kept (the writer skips and counts them, like unreadable
        files) and announced by one warning with their count and a few
        paths, before hours of decoding.
        """
        items = self.list_items(split)
        if not items:
            raise ValueError(
                f"{type(self).__name__} at {self.root!r} lists no tracks "
                f"for split {split!r}; expected at least one. Write the "
                "other splits only (`splits=`), or fix the metadata."
            )
        missing = [item.path for item in items if not os.path.isfile(item.path)]
        if missing:
            warnings.warn(
                f"{len(missing)} of {len(items)} tracks listed for split "
                f"{split!r} by {type(self).__name__} have no audio file "
                f"(e.g. {', '.join(repr(p) for p in missing[:3])}); they "
                "are skipped and listed under `skipped` in the manifest.",
                stacklevel=2,
            )
        return items

    def write_tfrecords(
        self, output_dir, *, sample_rate, splits=SPLITS, **writer_kwargs
    ):
        """Writes each split to `output_dir/<split>` as TFRecords.

        Every split is listed (`checked_items`) before any audio is
        decoded, so a malformed metadata row or an empty split stops the
        run at once. Re-running resumes (see
        `write_tfrecords`).

        Args:
            output_dir: str. Parent folder of the split folders.
            sample_rate: int. Hz of the stored audio.
            splits: the splits to write. Defaults to all three.
            **writer_kwargs: passed to
                `keras_music.data.tfrecord_writer.write_tfrecords`
                (`num_shards`, `audio_format`, `frontend`, `progress`,
                `num_workers`).

        Returns:
            dict mapping each split to its TFRecord folder.
        """
        sample_rate = check_positive_int("sample_rate", sample_rate)
        for split in splits:
            check_split(split)
        listed = {split: self.checked_items(split) for split in splits}
        folders = {}
        for split, items in listed.items():
            folders[split] = os.path.join(output_dir, split)
            write_tfrecords(
                items,
                functools.partial(self.load_item, sample_rate=sample_rate),
                folders[split],
                tasks=self.tasks,
                sample_rate=sample_rate,
                **writer_kwargs,
            )
        return folders


def check_split(split):
    if split not in SPLITS:
        raise ValueError(
            f"`split` must be one of {SPLITS}. Received: split={split!r}"
        )
    return split


def require_file(root, relative_path, what):
    """The path of `root/relative_path`, or an error saying what is missing."""
    path = os.path.join(root, relative_path)
    if not os.path.exists(path):
        raise ValueError(
            f"`root` does not hold {what}: expected {path!r}. "
            f"Received: root={root!r}"
        )
    return path


def malformed(path, line, reason):
    return ValueError(f"Malformed row in {path}, line {line}: {reason}")


def check_fields(path, line, row, header):
    """Raises `malformed` for a CSV row without one field per column."""
    if len(row) != len(header):
        raise malformed(
            path, line, f"{len(row)} fields, the header has {len(header)}"
        )


def first_existing(path, *alternatives):
    """`path`, or the first of `alternatives` that exists when `path`
    does not (another encoding of the same track); `path` if none does,
    for the writer to report as missing."""
    if not os.path.exists(path):
        for alternative in alternatives:
            if os.path.exists(alternative):
                return alternative
    return path


def read_lines(path):
    """`(line number, text)` of the non-blank lines of a text file."""
    with open(path, newline="", encoding="utf-8-sig") as stream:
        return [
            (number, line.rstrip("\r\n"))
            for number, line in enumerate(stream, start=1)
            if line.strip()
        ]


def check_readable(paths, dataset):
    """Raises if files of a type `load_audio` refuses were found."""
    for path in paths:
        extension = os.path.splitext(path)[1].lower()
        if extension not in SUPPORTED_EXTENSIONS:
            raise ValueError(
                f"{dataset} audio {path!r} is a {extension!r} file, which "
                "keras_music.data.audio.load_audio does not read "
                f"({', '.join(SUPPORTED_EXTENSIONS)}). Convert the files to "
                "one of these types, keeping their names."
            )


def hash_fraction(key):
    """A number in [0, 1) fixed by `key`: a split that needs no seed."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64
