import keras
import numpy as np
import pytest

from keras_music.evaluation.finetune import _end_to_end_model
from keras_music.evaluation.finetune import evaluate_finetune
from keras_music.evaluation.probe_protocol import get_probe_protocol
from keras_music.evaluation.segment_encoder import maest_preset_encoder

PROTOCOL = get_probe_protocol("s3t", epochs=1, warmup_epochs=0, batch_size=32)


def test_copies_and_reinitialises_the_encoder():
    keras.utils.set_random_seed(0)
    encoder, _ = maest_preset_encoder("maest_tiny", block=1, token="cls")
    finetune = _end_to_end_model(encoder, "finetune", PROTOCOL, 5)
    supervised = _end_to_end_model(encoder, "supervised", PROTOCOL, 5)
    copy = finetune.layers[1]
    fresh = supervised.layers[1]
    for a, b in zip(encoder.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    # A fresh random init differs in the randomly initialised kernels.
    assert any(
        a.size > 1 and not np.array_equal(a, c)
        for a, c in zip(encoder.get_weights(), fresh.get_weights())
    )
    assert copy is not encoder


def test_finetune_runs_end_to_end_and_keeps_encoder(tiny_corpus):
    keras.utils.set_random_seed(0)
    encoder, seconds = maest_preset_encoder("maest_tiny", block=1, token="cls")
    before = [w.copy() for w in encoder.get_weights()]
    results = evaluate_finetune(
        encoder, tiny_corpus, "style", PROTOCOL, seconds, "finetune"
    )
    assert set(results[1.0]) == {"top1", "top5", "f1"}
    assert all(len(v) == 1 for v in results[1.0].values())
    for a, b in zip(before, encoder.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_errors(tiny_corpus):
    encoder, seconds = maest_preset_encoder("maest_tiny", block=1)
    with pytest.raises(ValueError, match="`scenario` must be"):
        evaluate_finetune(
            encoder, tiny_corpus, "style", PROTOCOL, seconds, "frozen"
        )
    with pytest.raises(ValueError, match="`task` must be one of"):
        evaluate_finetune(encoder, tiny_corpus, "genre", PROTOCOL, seconds)
