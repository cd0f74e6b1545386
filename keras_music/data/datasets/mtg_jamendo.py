"""`MTGJamendo`: MTG-Jamendo auto-tagging subsets with an official split."""

import os
import re

from keras_music.data.datasets.dataset_item import DatasetItem
from keras_music.data.datasets.dataset_layout import DatasetLayout
from keras_music.data.datasets.dataset_layout import check_split
from keras_music.data.datasets.dataset_layout import first_existing
from keras_music.data.datasets.dataset_layout import malformed
from keras_music.data.datasets.dataset_layout import read_lines

MTG_JAMENDO_SUBSETS = ("genre", "instrument", "moodtheme", "top50tags")
_SPLIT_FILES = {"train": "train", "valid": "validation", "test": "test"}
_HEADER = ["TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS"]
_TRACK_ID = re.compile(r"^track_\d+$")


class MTGJamendo(DatasetLayout):
    """MTG-Jamendo auto-tagging (genre, instrument, mood/theme, top-50).

    The split files are the dataset's own, read from the user's checkout
    of the `MTG/mtg-jamendo-dataset` repository (`repo`), where they are
    published under CC BY-NC-SA 4.0 and so are not shipped here:
    `repo/data/splits/split-<split_index>/autotagging_<subset>-
    {train,validation,test}.tsv`. Their rows are tab-separated
    `TRACK_ID, ARTIST_ID, ALBUM_ID, PATH, DURATION` followed by one field
    per tag (`genre---rock`, `mood/theme---happy`). The subset's tags form
    the multi-label task `tags`; its vocabulary is the sorted set of tags
    over the three files (the repository keeps the same tags in every
    split), named as in the files. Split 0 has 87 genre, 40 instrument,
    56 mood/theme and 50 top-50 tags. The track id is `TRACK_ID`.

    Expected audio layout: `root/NN/ID.mp3` (the `PATH` column), or the
    low-quality download `root/NN/ID.low.mp3`, used where the full-quality
    file is absent.

    Args:
        root: str. The folder the audio archives were unpacked to.
        repo: str. The mtg-jamendo-dataset repository checkout.
        subset: str. One of `"genre"`, `"instrument"`, `"moodtheme"`,
            `"top50tags"`. Defaults to `"top50tags"`.
        split_index: int. The split, 0 to 4. Defaults to 0, the one the
            papers report.

    Example:

    A checkout of the repository with one track in each split file
    (train, validation, test):

    >>> import tempfile
    >>> root, repo = tempfile.mkdtemp(), tempfile.mkdtemp()
    >>> splits = os.path.join(repo, "data", "splits", "split-0")
    >>> os.makedirs(splits)
    >>> header = ["TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION",
    ...           "TAGS"]
    >>> for name, track, tags in [
    ...     ("train", "214", "mood/theme---happy\\tmood/theme---fun"),
    ...     ("validation", "1184", "mood/theme---sad"),
    ...     ("test", "2130", "mood/theme---happy"),
    ... ]:
    ...     row = [f"track_{track:0>7}", "artist_1", "album_1",
    ...            f"{track[-2:]}/{track}.mp3", "124.6", tags]
    ...     path = os.path.join(splits, f"autotagging_moodtheme-{name}.tsv")
    ...     with open(path, "w") as f:
    ...         _ = f.write("\\t".join(header) + "\\n" + "\\t".join(row))
    >>> layout = MTGJamendo(root, repo=repo, subset="moodtheme")
    >>> layout.tasks["tags"]["vocabulary"]
    ['mood/theme---fun', 'mood/theme---happy', 'mood/theme---sad']
    >>> item = layout.list_items("train")[0]
    >>> item.track_id, item.labels["tags"], item.metadata["path"]
    ('track_0000214', ['mood/theme---fun', 'mood/theme---happy'],
     '14/214.mp3')

    Reference:
        Bogdanov et al., "The MTG-Jamendo Dataset for Automatic Music
        Tagging", ICML 2019 Workshop on Machine Learning for Music
        Discovery.
    """

    def __init__(self, root, repo, subset="top50tags", split_index=0):
        super().__init__(root)
        if subset not in MTG_JAMENDO_SUBSETS:
            raise ValueError(
                f"`subset` must be one of {MTG_JAMENDO_SUBSETS}. "
                f"Received: subset={subset!r}"
            )
        if (
            isinstance(split_index, bool)
            or not isinstance(split_index, int)
            or not 0 <= split_index <= 4
        ):
            raise ValueError(
                "`split_index` must be an integer from 0 to 4. "
                f"Received: split_index={split_index!r}"
            )
        self.repo = os.path.expanduser(os.fspath(repo))
        self.subset = subset
        self.split_index = split_index
        split_dir = os.path.join(
            self.repo, "data", "splits", f"split-{split_index}"
        )
        self._rows = {}
        for split, name in _SPLIT_FILES.items():
            path = os.path.join(split_dir, f"autotagging_{subset}-{name}.tsv")
            if not os.path.isfile(path):
                raise ValueError(
                    "`repo` must be a checkout of MTG/mtg-jamendo-dataset: "
                    f"expected {path!r}. Received: repo={self.repo!r}"
                )
            self._rows[split] = _read_split_file(path)
        self.vocabulary = sorted(
            {
                tag
                for rows in self._rows.values()
                for row in rows
                for tag in row[4]
            }
        )

    @property
    def tasks(self):
        return {"tags": {"vocabulary": self.vocabulary, "multi_label": True}}

    def list_items(self, split):
        items = []
        for track_id, artist_id, album_id, relative, tags in self._rows[
            check_split(split)
        ]:
            path = os.path.join(self.root, relative)
            low_quality = os.path.splitext(path)[0] + ".low.mp3"
            path = first_existing(path, low_quality)
            items.append(
                DatasetItem(
                    track_id=track_id,
                    path=path,
                    labels={"tags": tags},
                    metadata={
                        "path": os.path.relpath(path, self.root),
                        "artist_id": artist_id,
                        "album_id": album_id,
                    },
                )
            )
        return items


def _read_split_file(path):
    """`[(track, artist, album, path, [tags])]` of an autotagging TSV."""
    lines = read_lines(path)
    if not lines or lines[0][1].split("\t") != _HEADER:
        raise ValueError(
            f"{path} must start with the header {chr(9).join(_HEADER)!r}."
        )
    rows = []
    for number, line in lines[1:]:
        fields = line.split("\t")
        if len(fields) < 6:
            raise malformed(
                path,
                number,
                f"{len(fields)} fields; expected TRACK_ID, ARTIST_ID, "
                "ALBUM_ID, PATH, DURATION and at least one tag",
            )
        track_id, artist_id, album_id, relative = fields[:4]
        tags = fields[5:]
        if not _TRACK_ID.match(track_id):
            raise malformed(path, number, f"bad TRACK_ID {track_id!r}")
        if not all("---" in tag for tag in tags):
            raise malformed(
                path, number, f"tags must look like `genre---rock`: {tags}"
            )
        rows.append((track_id, artist_id, album_id, relative, sorted(tags)))
    return rows
