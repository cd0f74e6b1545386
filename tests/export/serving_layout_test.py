"""TF Serving's layout written atomically: a failed, interrupted or
killed export leaves the versions already there as they were, and no
partial version folder."""

import os

import keras
import pytest
import tensorflow as tf

from keras_music.export import serving_layout
from keras_music.export.saved_model import export_embedder_saved_model
from keras_music.utils.atomic_write import temporary_path


def tiny_encoder():
    """800-sample segments at 8 kHz -> each segment's mean."""
    return keras.Sequential(
        [
            keras.Input((800,)),
            keras.layers.Reshape((800, 1)),
            keras.layers.GlobalAveragePooling1D(),
        ]
    )


def snapshot(folder):
    """Relative path -> bytes of every file under `folder`."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as stream:
                files[os.path.relpath(path, folder)] = stream.read()
    return files


@pytest.fixture
def exported(tmp_path):
    base = str(tmp_path / "encoder")
    encoder = tiny_encoder()
    first = export_embedder_saved_model(encoder, base, sample_rate=8000)
    assert first == os.path.join(base, "1")
    return base, encoder, snapshot(first)


def saving_then(monkeypatch, action):
    """Makes `tf.saved_model.save` write the whole SavedModel, then run
    `action(path)`: the export fails after its files are on disk."""
    save = tf.saved_model.save

    def failing_save(obj, path, **kwargs):
        save(obj, path, **kwargs)
        action(path)

    monkeypatch.setattr(serving_layout.tf.saved_model, "save", failing_save)


@pytest.mark.parametrize("error", [OSError, KeyboardInterrupt])
def test_a_failed_export_keeps_the_previous_version(
    exported, monkeypatch, error
):
    base, encoder, before = exported

    def fail(path):
        assert os.listdir(path), "the SavedModel was written before failing"
        raise error("disk full")

    saving_then(monkeypatch, fail)
    with pytest.raises(error, match="disk full"):
        export_embedder_saved_model(encoder, base, sample_rate=8000)
    # No version 2, no temporary folder: only the previous export, byte
    # for byte.
    assert os.listdir(base) == ["1"]
    assert snapshot(os.path.join(base, "1")) == before
    assert serving_layout.existing_versions(base) == [1]


def test_a_version_written_meanwhile_is_not_replaced(exported, monkeypatch):
    base, encoder, _ = exported
    other = os.path.join(base, "2")

    def another_process_writes_version_2(path):
        os.makedirs(other)
        with open(os.path.join(other, "saved_model.pb"), "wb") as stream:
            stream.write(b"the other process's model")

    saving_then(monkeypatch, another_process_writes_version_2)
    with pytest.raises(OSError):
        export_embedder_saved_model(encoder, base, sample_rate=8000)
    assert sorted(os.listdir(base)) == ["1", "2"]
    assert snapshot(other) == {"saved_model.pb": b"the other process's model"}


def test_what_a_killed_export_left_is_no_version_and_is_removed(exported):
    base, encoder, before = exported
    # A process (id 999999999, long gone) killed while writing version 2.
    left = temporary_path(os.path.join(base, "2"))
    left = left.replace(str(os.getpid()), "999999999")
    os.makedirs(os.path.join(left, "variables"))
    open(os.path.join(left, "saved_model.pb"), "wb").close()
    assert serving_layout.existing_versions(base) == [1]
    path = export_embedder_saved_model(encoder, base, sample_rate=8000)
    assert path == os.path.join(base, "2")
    assert sorted(os.listdir(base)) == ["1", "2"]
    assert snapshot(os.path.join(base, "1")) == before
    embed = tf.saved_model.load(path).signatures["serving_default"]
    outputs = embed(audio=tf.ones((1, 800)), lengths=tf.constant([800]))
    # The mean of 800 ones, exactly.
    assert float(outputs["embedding"][0, 0]) == 1.0
