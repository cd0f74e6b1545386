"""`GTZAN`: the GTZAN genre collection with the fault-filtered split."""

import os
import re

from keras_music.data.datasets.dataset_item import DatasetItem
from keras_music.data.datasets.dataset_layout import SHIPPED_SPLITS_DIR
from keras_music.data.datasets.dataset_layout import DatasetLayout
from keras_music.data.datasets.dataset_layout import check_readable
from keras_music.data.datasets.dataset_layout import check_split
from keras_music.data.datasets.dataset_layout import first_existing
from keras_music.data.datasets.dataset_layout import malformed
from keras_music.data.datasets.dataset_layout import read_lines

GTZAN_GENRES = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)
# Folders the genre folders sit in: the original tarball (`genres/`), the
# Kaggle copy (`genres_original/`), or `root` itself.
_GENRE_PARENTS = ("genres", "genres_original", "")
_LIST_NAMES = {
    "train": "train_filtered.txt",
    "valid": "valid_filtered.txt",
    "test": "test_filtered.txt",
}
_ENTRY = re.compile(r"^([a-z]+)/\1\.\d{5}\.wav$")


class GTZAN(DatasetLayout):
    """GTZAN (10 genres, 30 s excerpts) with the fault-filtered split.

    The split of Kereliuk, Sturm & Larsen (2015) leaves out the 70
    excerpts that Sturm's analysis found faulty (repeats, distortions,
    mislabels) and keeps each artist on one side: 443 / 197 / 290 of the
    1,000 excerpts. Its lists ship with keras_music
    (`splits/gtzan/*_filtered.txt`, from coreyker/dnn-mgr). One
    single-label task, `genre`, with the 10 genres. The track id is the
    file name without extension (`"blues.00000"`).

    Expected layout: `root/genres/<genre>/<genre>.000NN.wav` (or
    `genres_original/`, or the genre folders directly in `root`). If the
    original `.au` files are there instead of `.wav`, they are used.

    Args:
        root: str. The folder GTZAN was unpacked to.
        lists_dir: str or `None`. A folder with other
            `{train,valid,test}_filtered.txt` lists in the same format.
            Defaults to the shipped fault-filtered lists.

    Example:

    The genre folders with one short excerpt; the split lists are the
    shipped ones:

    >>> import soundfile, tempfile
    >>> root = tempfile.mkdtemp()
    >>> for genre in GTZAN_GENRES:
    ...     os.makedirs(os.path.join(root, "genres", genre))
    >>> path = os.path.join(root, "genres", "blues", "blues.00029.wav")
    >>> soundfile.write(path, np.zeros(2205), 22050)
    >>> layout = GTZAN(root)
    >>> [len(layout.list_items(s)) for s in ("train", "valid", "test")]
    [443, 197, 290]
    >>> item = layout.list_items("train")[0]
    >>> item.track_id, item.labels
    ('blues.00029', {'genre': ['blues']})
    >>> layout.load_item(item, sample_rate=8000).audio.shape
    (800,)

    Reference:
        Kereliuk, Sturm & Larsen, "Deep learning and music adversaries",
        IEEE Trans. Multimedia 2015; Sturm, "The GTZAN dataset: its
        contents, its faults, their effects on evaluation", 2013.
    """

    def __init__(self, root, lists_dir=None):
        super().__init__(root)
        self.lists_dir = lists_dir
        directory = (
            os.path.join(SHIPPED_SPLITS_DIR, "gtzan")
            if lists_dir is None
            else lists_dir
        )
        self.genre_dir = None
        for parent in _GENRE_PARENTS:
            candidate = os.path.join(self.root, parent)
            if all(
                os.path.isdir(os.path.join(candidate, g)) for g in GTZAN_GENRES
            ):
                self.genre_dir = candidate
                break
        if self.genre_dir is None:
            raise ValueError(
                "`root` does not hold the GTZAN genre folders: expected "
                f"{os.path.join(self.root, 'genres', 'blues')!r} and the "
                f"other genres {GTZAN_GENRES}. Received: root={self.root!r}"
            )
        self._entries = {}
        for split, name in _LIST_NAMES.items():
            path = os.path.join(directory, name)
            if not os.path.isfile(path):
                raise ValueError(
                    f"`lists_dir` has no {name}: expected {path!r}. "
                    f"Received: lists_dir={lists_dir!r}"
                )
            entries = []
            for number, line in read_lines(path):
                match = _ENTRY.match(line.strip())
                if not match or match.group(1) not in GTZAN_GENRES:
                    raise malformed(
                        path,
                        number,
                        f"expected `<genre>/<genre>.000NN.wav` with a genre "
                        f"of {GTZAN_GENRES}, got {line!r}",
                    )
                entries.append((line.strip(), match.group(1)))
            self._entries[split] = entries

    @property
    def tasks(self):
        return {
            "genre": {"vocabulary": list(GTZAN_GENRES), "multi_label": False}
        }

    def list_items(self, split):
        items = []
        for relative, genre in self._entries[check_split(split)]:
            path = os.path.join(self.genre_dir, relative)
            path = first_existing(path, os.path.splitext(path)[0] + ".au")
            items.append(
                DatasetItem(
                    track_id=os.path.splitext(os.path.basename(relative))[0],
                    path=path,
                    labels={"genre": [genre]},
                    metadata={"path": relative},
                )
            )
        check_readable([item.path for item in items], "GTZAN")
        return items
