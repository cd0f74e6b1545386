"""`DatasetItem`: one listed track of a dataset layout, before decoding."""

import dataclasses


@dataclasses.dataclass
class DatasetItem:
    """A track as a dataset layout lists it: where it is and its labels.

    Items are what `write_tfrecords` receives: cheap, picklable, and with a
    `repr` that depends only on their fields, so a resumed run recognises
    the shards it already wrote. `DatasetLayout.load_item` decodes one into
    a `keras_music.data.track.Track`.

    Args:
        track_id: str. Unique id within the dataset (e.g. `"blues.00000"`).
        path: str. Absolute path of the audio file.
        labels: dict mapping a task name to the list of label names that
            apply (names from the layout's vocabularies).
        metadata: dict of JSON-serialisable facts kept in the shard index
            (the path relative to the root, ids from the metadata files).

    Example:

    >>> item = DatasetItem(
    ...     "blues.00000", "/data/gtzan/genres/blues/blues.00000.wav",
    ...     {"genre": ["blues"]}, {"path": "blues/blues.00000.wav"},
    ... )
    >>> item.labels["genre"]
    ['blues']
    """

    track_id: str
    path: str
    labels: dict = dataclasses.field(default_factory=dict)
    metadata: dict = dataclasses.field(default_factory=dict)
