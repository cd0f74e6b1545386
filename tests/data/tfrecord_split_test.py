import os

import numpy as np
import pytest

from keras_music.data.tfrecord_format import read_manifest
from keras_music.data.tfrecord_split import TFRecordSplit
from tests.data import tfrecord_writer_test as writer_test


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("split"))
    manifest = writer_test.write(directory, targets=writer_test.ramp_targets)
    return directory, manifest


def test_accessors_name_the_manifest_entries(written):
    directory, manifest = written
    split = TFRecordSplit.read(directory)
    assert split.directory == directory
    assert split.sample_rate == writer_test.SAMPLE_RATE
    assert split.num_examples == 7
    assert split.data_kind == "audio" and not split.is_features
    assert split.audio_format == "int16"
    assert split.segment_rate == writer_test.SAMPLE_RATE
    assert split.time_axis == 0
    assert split.frame_rate is None
    assert split.task_names == ["genre", "tags"]
    assert split.vocabulary("genre") == ["jazz", "rock", "pop"]
    assert not split.multi_label("genre") and split.multi_label("tags")
    assert split.label_counts == manifest["label_counts"]
    assert split.skipped == []
    assert [s["file"] for s in split.shards] == [
        s["file"] for s in manifest["shards"]
    ]
    assert split.target_names == ["energy", "ramp"]
    assert split.target_hop == writer_test.TARGET_HOP
    mean, scale = split.target_normalization("energy")
    assert mean.shape == scale.shape == (2,)
    assert split.shard_path(split.shards[0]) == os.path.join(
        directory, manifest["shards"][0]["file"]
    )
    with pytest.raises(TypeError):
        split.tasks["other"] = {}


def test_dict_style_access_reads_the_manifest(written):
    directory, manifest = written
    split = TFRecordSplit.read(directory)
    assert split == read_manifest(directory)
    assert split["tasks"] == manifest["tasks"]
    assert split.get("frame_rate") is None
    assert "targets" in split and "frontend" not in split
    assert dict(split) == manifest
    assert "num_examples=7" in repr(split)


def test_split_is_frozen(written):
    split = TFRecordSplit.read(written[0])
    with pytest.raises(AttributeError):
        split.directory = "elsewhere"


def test_select_and_verify(written, tmp_path):
    directory, manifest = written
    split = TFRecordSplit.read(directory)
    first = manifest["shards"][0]["file"]
    assert split.select(os.path.join(directory, first)) == [
        manifest["shards"][0]
    ]
    assert len(split.select(os.path.join(directory, "*.tfrecord"))) == 3
    split.verify()
    stray = os.path.join(directory, "stray.tfrecord")
    open(stray, "w").close()
    try:
        with pytest.raises(ValueError, match="not shards listed"):
            split.select(os.path.join(directory, "*.tfrecord"))
    finally:
        os.remove(stray)


def test_a_folder_without_manifest_is_refused(tmp_path):
    with pytest.raises(ValueError, match="No manifest.json"):
        TFRecordSplit.read(str(tmp_path))


def test_features_split_cuts_frames():
    manifest = {
        "data_kind": "features",
        "frame_rate": 31.25,
        "sample_rate": 16000,
        "tasks": {},
    }
    split = TFRecordSplit("features", manifest)
    assert split.is_features and split.time_axis == 1
    assert split.segment_rate == 31.25
    assert split.target_names == [] and split.target_hop is None
    assert np.isclose(split.frame_rate, 31.25)
