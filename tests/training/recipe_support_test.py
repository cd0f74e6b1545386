import os

import keras
import numpy as np
import pytest

from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from keras_music.training.recipe_support import keep_initial_weights
from keras_music.training.recipe_support import resolve_splits
from keras_music.training.recipe_support import resolve_task

TASKS = {
    "genre": {"vocabulary": ["a", "b"], "multi_label": False},
    "tags": {"vocabulary": ["x", "y"], "multi_label": True},
}


def _load(item):
    return Track(
        track_id=item,
        audio=np.zeros(800, "float32"),
        sample_rate=8000,
        labels={"genre": ["a"], "tags": ["x"]},
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for split in ("train", "valid", "test"):
        write_tfrecords(
            [f"{split}0"],
            _load,
            str(root / split),
            tasks=TASKS,
            sample_rate=8000,
            progress=False,
        )
    return str(root)


def test_resolve_splits_checks_layout_and_rate(data, tmp_path):
    splits, source = resolve_splits(data, sample_rate=8000)
    assert splits == {s: os.path.join(data, s) for s in splits}
    assert source == data
    with pytest.raises(ValueError, match="must hold 16000 Hz audio"):
        resolve_splits(data, sample_rate=16000)
    with pytest.raises(ValueError, match="valid/ and test/ TFRecord folders"):
        resolve_splits(str(tmp_path), sample_rate=8000)


def test_resolve_task(data):
    manifest = {"tasks": TASKS}
    assert resolve_task(manifest, data, "genre") == "genre"
    assert resolve_task(manifest, data, multi=True) == "tags"
    assert resolve_task(manifest, data, default="genre") == "genre"
    with pytest.raises(ValueError, match="`--task` must be one of"):
        resolve_task(manifest, data, "mood")
    with pytest.raises(ValueError, match="Pass `--task`"):
        resolve_task(manifest, data)


def test_keep_initial_weights_keeps_the_first(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    first = [w.copy() for w in model.get_weights()]
    path = keep_initial_weights(model, str(tmp_path))
    model.layers[0].kernel.assign(np.ones((3, 2)))
    # A resumed run calls it again: the file keeps the first weights.
    assert keep_initial_weights(model, str(tmp_path)) == path
    model.load_weights(path)
    np.testing.assert_array_equal(model.get_weights()[0], first[0])
    assert os.listdir(tmp_path) == ["initial.weights.h5"]
