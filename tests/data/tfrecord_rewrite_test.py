import numpy as np
import pytest
import tensorflow as tf

from keras_music.data import tfrecord_format as fmt
from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.data.tfrecord_format import target_key
from keras_music.data.tfrecord_rewrite import rewrite_with_targets
from keras_music.data.tune_corpus import build_tune_corpus
from keras_music.features.pase_targets import frame_targets
from keras_music.features.pase_targets import pase_targets


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_tune_corpus(
        num_clips=8,
        clip_seconds=1.0,
        cache_dir=str(tmp_path_factory.mktemp("corpus")),
        progress=False,
    )


def _tracks(directory, targets=()):
    manifest = fmt.read_manifest(directory)
    tracks = []
    for shard in manifest["shards"]:
        path = f"{directory}/{shard['file']}"
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            tracks.append(fmt.parse_example(record, manifest, targets))
    return manifest, tracks


def test_copy_keeps_tracks_and_adds_normalised_targets(corpus, tmp_path):
    train = rewrite_with_targets(
        corpus["train"], str(tmp_path / "train"), frame_targets(["mfcc", "lps"])
    )
    valid = rewrite_with_targets(
        corpus["valid"],
        str(tmp_path / "valid"),
        frame_targets(["mfcc", "lps"]),
        train,
    )
    source, originals = _tracks(corpus["train"])
    copy, copies = _tracks(train, ("mfcc", "lps"))
    assert copy["num_examples"] == source["num_examples"] == len(copies)
    assert copy["tasks"] == source["tasks"]
    assert copy["sample_rate"] == source["sample_rate"]
    assert len(copy["shards"]) == len(source["shards"])
    for original, rewritten in zip(originals, copies, strict=True):
        # The int16 audio is decoded and encoded again: the same samples.
        np.testing.assert_array_equal(rewritten["data"], original["data"])
        for task in source["tasks"]:
            key = fmt.label_key(task)
            np.testing.assert_array_equal(rewritten[key], original[key])
    # The targets are the library's, of the stored audio, kept as float16
    # (normalised when read, with the copy's statistics): 2^-11 relative.
    raw = pase_targets(np.asarray(copies[0]["data"]), names=["mfcc"])["mfcc"]
    np.testing.assert_allclose(
        np.asarray(copies[0][target_key("mfcc")], np.float32),
        raw,
        rtol=1e-3,
        atol=1e-3 * np.abs(raw).max(),
    )
    assert copy["targets"]["statistics"]["mfcc"]["count"] > 0
    # The valid copy is normalised with the train copy's statistics.
    assert (
        fmt.read_manifest(valid)["targets"]["statistics"]
        == (copy["targets"]["statistics"])
    )
    # Written again, the finished copy is reused as it is.
    before = open(f"{train}/manifest.json").read()
    # A list of names (deprecated) is the same targets: the copy is reused.
    with pytest.warns(DeprecationWarning, match="frame_targets"):
        rewrite_with_targets(corpus["train"], train, ["mfcc", "lps"])
    assert open(f"{train}/manifest.json").read() == before
    batch = next(
        iter(
            tfrecord_dataset(
                train, segment_seconds=0.5, batch_size=2, targets=["mfcc"]
            )
        )
    )
    assert batch[1]["mfcc"].shape[0] == 2


def test_source_must_be_a_tfrecord_folder(tmp_path):
    with pytest.raises(ValueError, match="manifest"):
        rewrite_with_targets(str(tmp_path), str(tmp_path / "out"), ["mfcc"])
