import keras
import numpy as np
import pytest

from keras_music.evaluation.embedding_cache import extract_embeddings
from keras_music.evaluation.embedding_cache import labelled_tracks
from keras_music.evaluation.probe import evaluate_frozen
from keras_music.evaluation.probe_encoder import ProbeResult
from keras_music.evaluation.probe_encoder import probe_encoder
from keras_music.evaluation.probe_encoder import summarize_trials
from keras_music.evaluation.probe_protocol import get_probe_protocol


def _encoder():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((16000,)),
            keras.layers.Reshape((16000, 1)),
            keras.layers.Conv1D(8, 400, strides=400),
            keras.layers.GlobalAveragePooling1D(),
        ]
    )


def test_probe_encoder_equals_evaluate_frozen_on_the_same_caches(
    tiny_corpus, tmp_path
):
    encoder = _encoder()
    protocol = get_probe_protocol("pase", epochs=3, trials=2)
    cache_dir = str(tmp_path / "embeddings")
    result = probe_encoder(
        encoder, tiny_corpus, "style", protocol, 1.0, cache_dir, seed=3
    )
    # The same embeddings (reused from the cache) and the same seeds give
    # the same trials, independently computed.
    caches = [
        extract_embeddings(encoder, tiny_corpus[s], 1.0, cache_dir)
        for s in ("train", "valid", "test")
    ]
    assert all(cache["reused"] for cache in caches)
    expected = evaluate_frozen(*caches, "style", protocol, seed=3)[1.0]
    assert sorted(result.trials) == sorted(expected)
    for name, values in expected.items():
        np.testing.assert_array_equal(result.trials[name], values)
    labelled = labelled_tracks(caches[2]["labels"]["style"])
    assert result.test_tracks == int(labelled.sum()) > 0
    assert result.task == "style"
    summary = result.summary()
    assert summary["f1"]["trials"] == list(expected["f1"])
    assert summary["f1"]["mean"] == pytest.approx(np.mean(expected["f1"]))
    assert "macro F1" in result.describe() and "top-5" not in result.describe()


def test_probe_encoder_needs_three_splits(tiny_corpus, tmp_path):
    protocol = get_probe_protocol("pase", epochs=1, trials=1)
    splits = {"train": tiny_corpus["train"], "test": tiny_corpus["test"]}
    with pytest.raises(ValueError, match=r"lacks \['valid'\]"):
        probe_encoder(_encoder(), splits, "style", protocol, 1.0, str(tmp_path))


def test_result_summary_and_description():
    result = ProbeResult("dance", 4, {"top1": (0.25, 0.75), "f1": (0.5, 0.5)})
    assert result.mean == {"top1": 0.5, "f1": 0.5}
    assert result.describe(["top1"]) == "accuracy 0.500 ± 0.250"
    assert summarize_trials({"f1": [1, 0]}) == {
        "f1": {"mean": 0.5, "std": 0.5, "trials": [1.0, 0.0]}
    }
