"""`FMASmall`: fma_small with the official split from `tracks.csv`."""

import csv
import os

from keras_music.data.datasets.dataset_item import DatasetItem
from keras_music.data.datasets.dataset_layout import SPLITS
from keras_music.data.datasets.dataset_layout import DatasetLayout
from keras_music.data.datasets.dataset_layout import check_fields
from keras_music.data.datasets.dataset_layout import check_split
from keras_music.data.datasets.dataset_layout import malformed
from keras_music.data.datasets.dataset_layout import require_file

# The 8 top-level genres fma_small is balanced over (1,000 tracks each).
FMA_SMALL_GENRES = (
    "Electronic",
    "Experimental",
    "Folk",
    "Hip-Hop",
    "Instrumental",
    "International",
    "Pop",
    "Rock",
)
_SPLIT_NAMES = {"training": "train", "validation": "valid", "test": "test"}
_COLUMNS = {
    "subset": ("set", "subset"),
    "split": ("set", "split"),
    "genre": ("track", "genre_top"),
}


class FMASmall(DatasetLayout):
    """FMA small (8,000 30 s clips, 8 genres) with its official split.

    The split is the one in the dataset's metadata: `tracks.csv` has a
    two-row column header (`set`/`subset`, `set`/`split`,
    `track`/`genre_top`, ...) followed by a `track_id` row. The tracks of
    subset `small` are listed with their `split` (`training` ->
    `"train"`, `validation` -> `"valid"`, `test`: 6,400 / 800 / 800) and
    `genre_top` as the single-label task `genre` over the 8 genres. The
    track id is the 6-digit FMA id (`"000002"`).

    Expected layout: `root/fma_metadata/tracks.csv` and
    `root/fma_small/000/000002.mp3` (the two zips unpacked side by side).
    The few fma_small mp3s known to be truncated or unreadable are
    skipped and reported when writing.

    Args:
        root: str. The folder holding `fma_metadata/` and `fma_small/`.

    Example:

    A `tracks.csv` of three tracks, one of them not in fma_small:

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(root, "fma_metadata"))
    >>> os.makedirs(os.path.join(root, "fma_small", "000"))
    >>> rows = [
    ...     ",set,set,track", ",subset,split,genre_top", "track_id,,,",
    ...     "2,small,training,Hip-Hop", "5,small,test,Pop",
    ...     "10,medium,training,Pop",
    ... ]
    >>> with open(os.path.join(root, "fma_metadata", "tracks.csv"), "w") as f:
    ...     _ = f.write("\\n".join(rows) + "\\n")
    >>> layout = FMASmall(root)
    >>> [(i.track_id, i.labels) for i in layout.list_items("train")]
    [('000002', {'genre': ['Hip-Hop']})]
    >>> layout.list_items("test")[0].metadata
    {'path': 'fma_small/000/000005.mp3'}

    Reference:
        Defferrard et al., "FMA: A Dataset for Music Analysis", ISMIR 2017.
    """

    def __init__(self, root):
        super().__init__(root)
        self.tracks_csv = require_file(
            self.root,
            os.path.join("fma_metadata", "tracks.csv"),
            "FMA's metadata",
        )
        self.audio_dir = require_file(
            self.root, "fma_small", "the fma_small audio folder"
        )
        self._entries = _read_tracks_csv(self.tracks_csv)

    @property
    def tasks(self):
        return {
            "genre": {
                "vocabulary": list(FMA_SMALL_GENRES),
                "multi_label": False,
            }
        }

    def list_items(self, split):
        items = []
        for track_id, genre in self._entries[check_split(split)]:
            relative = os.path.join(track_id[:3], f"{track_id}.mp3")
            items.append(
                DatasetItem(
                    track_id=track_id,
                    path=os.path.join(self.audio_dir, relative),
                    labels={"genre": [genre]},
                    metadata={"path": os.path.join("fma_small", relative)},
                )
            )
        return items


def _read_tracks_csv(path):
    """`{split: [(6-digit id, genre)]}` of the fma_small tracks."""
    entries = {split: [] for split in SPLITS}
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        try:
            top, sub = next(reader), next(reader)
        except StopIteration:
            raise ValueError(
                f"{path} must start with FMA's two header rows."
            ) from None
        header = list(zip(top, sub))
        columns = {}
        for key, column in _COLUMNS.items():
            if column not in header:
                raise ValueError(
                    f"{path} has no column {column} in its two header rows; "
                    "is it FMA's tracks.csv?"
                )
            columns[key] = header.index(column)
        for row in reader:
            # The row under the header that names the index column.
            if row and row[0] == "track_id" and not any(row[1:]):
                continue
            check_fields(path, reader.line_num, row, header)
            if not row[0].isdigit():
                raise malformed(
                    path, reader.line_num, f"track_id {row[0]!r} is no number"
                )
            if row[columns["subset"]] != "small":
                continue
            split = _SPLIT_NAMES.get(row[columns["split"]])
            if split is None:
                raise malformed(
                    path,
                    reader.line_num,
                    f"split {row[columns['split']]!r} is not one of "
                    f"{sorted(_SPLIT_NAMES)}",
                )
            genre = row[columns["genre"]]
            if genre not in FMA_SMALL_GENRES:
                raise malformed(
                    path,
                    reader.line_num,
                    f"genre_top {genre!r} of an fma_small track is not one "
                    f"of {FMA_SMALL_GENRES}",
                )
            entries[split].append((f"{int(row[0]):06d}", genre))
    return entries
