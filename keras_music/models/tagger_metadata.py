"""What a trained tagger was trained and scored on, as its `metadata`.

A `Tagger` carries a `metadata` dict (`dataset`, `metrics`) in its
config, which its exports' model cards state (`export_tagger`). These
helpers write that dict the same way for every training recipe.
"""

from keras_music.data.tfrecord_format import read_manifest

METRIC_KEYS = ("roc_auc", "pr_auc")


def dataset_metadata(name, splits):
    """The `dataset` entry of a tagger's metadata: a name and the size of
    each split, read from the split folders' manifests.

    Args:
        name: str. The data's name (e.g. `"MTG-Jamendo"`).
        splits: dict, split name -> TFRecord folder, in the order stated.

    Returns:
        dict: `name` and `size`, e.g. `"26 train / 3 valid / 3 test
        tracks"`.

    Example:

    >>> import tempfile
    >>> from keras_music.data.track import Track
    >>> from keras_music.data.tfrecord_writer import write_tfrecords
    >>> tasks = {"tags": {"vocabulary": ["a"], "multi_label": True}}
    >>> def load(item):
    ...     return Track(item, np.zeros(800, "float32"), 8000,
    ...                  labels={"tags": ["a"]})
    >>> splits = {}
    >>> for split, items in (("train", ["t1", "t2"]), ("test", ["t3"])):
    ...     splits[split] = tempfile.mkdtemp()
    ...     _ = write_tfrecords(items, load, splits[split], tasks=tasks,
    ...                         sample_rate=8000, progress=False)
    >>> dataset_metadata("toy", splits)
    {'name': 'toy', 'size': '2 train / 1 test tracks'}
    """
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"`name` must be a non-empty string. Received: name={name!r}"
        )
    if not splits:
        raise ValueError(
            "`splits` must map at least one split name to its folder. "
            f"Received: splits={splits!r}"
        )
    size = " / ".join(
        f"{read_manifest(folder)['num_examples']} {split}"
        for split, folder in splits.items()
    )
    return {"name": name, "size": f"{size} tracks"}


def metrics_metadata(task, scores, untrained=None, split="test"):
    """The `metrics` entry of a tagger's metadata: the scores of the
    trained model, and those of the same model untrained beside them.

    Args:
        task: str. The label task scored.
        scores: dict with `tracks`, `roc_auc` and `pr_auc`, as
            `track_tag_scores` returns them.
        untrained: optional dict of the same scores for the model before
            training (its `roc_auc` and `pr_auc` are kept). Defaults to
            `None`.
        split: str. The split scored. Defaults to `"test"`.

    Returns:
        dict: `task`, `split`, `tracks`, `roc_auc`, `pr_auc` and, with
        `untrained`, `untrained` (`roc_auc`, `pr_auc`).

    Example:

    >>> metrics_metadata(
    ...     "instrument",
    ...     {"tracks": 4, "roc_auc": 0.8, "pr_auc": 0.5},
    ...     untrained={"tracks": 4, "roc_auc": 0.5, "pr_auc": 0.25},
    ... )
    {'task': 'instrument', 'split': 'test', 'tracks': 4, 'roc_auc': 0.8, \
'pr_auc': 0.5, 'untrained': {'roc_auc': 0.5, 'pr_auc': 0.25}}
    """
    _check_scores("scores", scores, ("tracks", *METRIC_KEYS))
    if untrained is not None:
        _check_scores("untrained", untrained, METRIC_KEYS)
    metrics = {
        "task": task,
        "split": split,
        "tracks": int(scores["tracks"]),
        **{key: float(scores[key]) for key in METRIC_KEYS},
    }
    if untrained is not None:
        metrics["untrained"] = {
            key: float(untrained[key]) for key in METRIC_KEYS
        }
    return metrics


def _check_scores(name, value, keys):
    if not isinstance(value, dict) or any(key not in value for key in keys):
        raise ValueError(
            f"`{name}` must be a dict with {', '.join(keys)} (as "
            f"`track_tag_scores` gives). Received: {name}={value!r}"
        )
