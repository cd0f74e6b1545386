import json
import os

import numpy as np
import pytest

from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.evaluation.embedding_cache import extract_embeddings
from keras_music.evaluation.embedding_cache import load_embeddings
from keras_music.evaluation.embedding_cache import track_labels
from keras_music.evaluation.segment_encoder import maest_preset_encoder


@pytest.fixture(scope="module")
def encoder():
    import keras

    keras.utils.set_random_seed(0)
    return maest_preset_encoder("maest_tiny", block=1, token="cls")


def test_round_trip_reference_and_reuse(tiny_corpus, encoder, tmp_path):
    model, seconds = encoder
    directory = tiny_corpus["valid"]
    cache = extract_embeddings(model, directory, seconds, str(tmp_path))
    assert not cache["reused"]
    ids, labels, tasks = track_labels(directory)
    np.testing.assert_array_equal(cache["track_ids"], ids)
    assert cache["embeddings"].dtype == np.float32
    assert cache["embeddings"].shape == (len(ids), 32)
    for task in tasks:
        np.testing.assert_array_equal(cache["labels"][task], labels[task])

    # Independent reference: segments cut in NumPy, in record order (one
    # shard here, so record order is index order).
    segment = int(round(seconds * 16000))
    whole = tfrecord_dataset(directory, segment_seconds=None, shuffle=False)
    for row, audio in enumerate(whole):
        audio = audio.numpy()
        starts = list(range(0, len(audio) - segment + 1, segment // 2))
        if starts[-1] != len(audio) - segment:
            starts.append(len(audio) - segment)
        batch = np.stack([audio[s : s + segment] for s in starts])
        expected = np.asarray(model(batch)).mean(0)
        # float32 encoder, batched differently: 1e-5.
        np.testing.assert_allclose(
            cache["embeddings"][row], expected, atol=1e-5, rtol=1e-5
        )

    with open(os.path.join(cache["path"], "manifest.json")) as stream:
        manifest = json.load(stream)
    assert manifest["num_tracks"] == len(ids)
    assert manifest["num_segments"] == len(ids) * 9  # 5 s, 1.04 s halves
    assert set(manifest["tasks"]) == {"dance", "instrument", "style"}
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]

    # Same key: loaded, the encoder is not run (a broken one would fail).
    again = extract_embeddings(
        lambda x, training=False: 1 / 0,
        directory,
        seconds,
        str(tmp_path),
        cache_key=os.path.basename(cache["path"]),
    )
    assert again["reused"]
    np.testing.assert_array_equal(again["embeddings"], cache["embeddings"])
    loaded = load_embeddings(cache["path"])
    np.testing.assert_array_equal(loaded["embeddings"], cache["embeddings"])


def test_errors(tiny_corpus, encoder, tmp_path):
    model, seconds = encoder
    with pytest.raises(ValueError, match="`data_dir` must be a keras_music"):
        extract_embeddings(model, str(tmp_path), seconds, str(tmp_path))
    with pytest.raises(ValueError, match="`segment_seconds` must be"):
        extract_embeddings(model, tiny_corpus["valid"], 0, str(tmp_path))
    with pytest.raises(ValueError, match="`cache_key` must be"):
        extract_embeddings(
            model, tiny_corpus["valid"], seconds, str(tmp_path), "a/b"
        )
    with pytest.raises(ValueError, match="`path` must be an embedding"):
        load_embeddings(str(tmp_path))


def test_non_finite_embeddings_are_refused(tiny_corpus, encoder, tmp_path):
    import keras

    model, seconds = encoder
    broken = keras.models.clone_model(model)
    weights = broken.get_weights()
    weights[0] = np.full_like(weights[0], np.nan)
    broken.set_weights(weights)
    with pytest.raises(ValueError, match="NaN or infinite embeddings for"):
        extract_embeddings(broken, tiny_corpus["valid"], seconds, str(tmp_path))
    # Nothing was cached.
    assert os.listdir(tmp_path) == []
