"""The dataset layouts by name, as `make_tfrecords.py --dataset` takes them."""

from keras_music.data.datasets.extended_ballroom import ExtendedBallroom
from keras_music.data.datasets.fma_small import FMASmall
from keras_music.data.datasets.gtzan import GTZAN
from keras_music.data.datasets.magnatagatune import MagnaTagATune
from keras_music.data.datasets.mtg_jamendo import MTGJamendo
from keras_music.data.datasets.openmic_2018 import OpenMIC2018

DATASET_LAYOUTS = {
    "gtzan": GTZAN,
    "fma_small": FMASmall,
    "magnatagatune": MagnaTagATune,
    "openmic2018": OpenMIC2018,
    "extended_ballroom": ExtendedBallroom,
    "mtg_jamendo": MTGJamendo,
}


def get_dataset_layout(name, root, **options):
    """The layout of dataset `name` read from `root`.

    Args:
        name: str. A key of `DATASET_LAYOUTS`.
        root: str. The folder the dataset was unpacked to.
        **options: further arguments of that layout's class (e.g. `repo`
            and `subset` for `"mtg_jamendo"`).

    Returns:
        A `DatasetLayout`.

    Example:

    >>> import os, tempfile
    >>> from keras_music.data.datasets.gtzan import GTZAN_GENRES
    >>> root = tempfile.mkdtemp()
    >>> for genre in GTZAN_GENRES:
    ...     os.makedirs(os.path.join(root, genre))
    >>> layout = get_dataset_layout("gtzan", root)
    >>> type(layout).__name__, len(layout.list_items("test"))
    ('GTZAN', 290)
    >>> sorted(DATASET_LAYOUTS)[:3]
    ['extended_ballroom', 'fma_small', 'gtzan']
    """
    if name not in DATASET_LAYOUTS:
        raise ValueError(
            f"`name` must be one of {sorted(DATASET_LAYOUTS)}. "
            f"Received: name={name!r}"
        )
    return DATASET_LAYOUTS[name](root, **options)
