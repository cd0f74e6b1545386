"""`dataset_metadata` / `metrics_metadata`: a trained tagger's `metadata`,
which its `.keras` file and its exports' model cards carry."""

import numpy as np
import pytest

from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from keras_music.models.tagger_metadata import dataset_metadata
from keras_music.models.tagger_metadata import metrics_metadata

TASKS = {"tags": {"vocabulary": ["a", "b"], "multi_label": True}}


def load(item):
    return Track(item, np.zeros(400, "float32"), 8000, labels={"tags": ["a"]})


def test_dataset_sizes_come_from_the_manifests(tmp_path):
    splits = {}
    for split, count in (("train", 5), ("valid", 2), ("test", 3)):
        splits[split] = str(tmp_path / split)
        write_tfrecords(
            [f"{split}{i}" for i in range(count)],
            load,
            splits[split],
            tasks=TASKS,
            sample_rate=8000,
            progress=False,
        )
    assert dataset_metadata("toy corpus", splits) == {
        "name": "toy corpus",
        "size": "5 train / 2 valid / 3 test tracks",
    }
    # In the order given.
    reordered = {"test": splits["test"], "train": splits["train"]}
    assert dataset_metadata("toy", reordered)["size"] == (
        "3 test / 5 train tracks"
    )


def test_metrics_keep_the_scores_and_the_untrained_baseline():
    trained = {"tracks": 62, "roc_auc": 0.793, "pr_auc": 0.512}
    untrained = {"tracks": 62, "roc_auc": 0.458, "pr_auc": 0.229}
    assert metrics_metadata("instrument", trained, untrained) == {
        "task": "instrument",
        "split": "test",
        "tracks": 62,
        "roc_auc": 0.793,
        "pr_auc": 0.512,
        "untrained": {"roc_auc": 0.458, "pr_auc": 0.229},
    }
    # NumPy scalars become JSON numbers; no baseline, no entry.
    metrics = metrics_metadata(
        "genre",
        {"tracks": np.int64(4), "roc_auc": np.float32(0.5), "pr_auc": 0.25},
        split="valid",
    )
    assert metrics == {
        "task": "genre",
        "split": "valid",
        "tracks": 4,
        "roc_auc": 0.5,
        "pr_auc": 0.25,
    }
    assert type(metrics["tracks"]) is int
    assert type(metrics["roc_auc"]) is float


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="`name` must be a non-empty string"):
        dataset_metadata("", {"train": str(tmp_path)})
    with pytest.raises(ValueError, match="`splits` must map at least one"):
        dataset_metadata("toy", {})
    with pytest.raises(ValueError, match="`scores` must be a dict with tracks"):
        metrics_metadata("tags", {"roc_auc": 0.5, "pr_auc": 0.5})
    with pytest.raises(ValueError, match="`untrained` must be a dict"):
        metrics_metadata(
            "tags", {"tracks": 1, "roc_auc": 0.5, "pr_auc": 0.5}, [0.5]
        )
