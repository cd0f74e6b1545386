import numpy as np
import pytest

from keras_music.evaluation.embedding_fusion import FUSION_WEIGHTS
from keras_music.evaluation.embedding_fusion import concatenated
from keras_music.evaluation.embedding_fusion import describe
from keras_music.evaluation.embedding_fusion import fuse
from keras_music.evaluation.embedding_fusion import linear_protocol
from keras_music.evaluation.embedding_fusion import probabilities
from keras_music.evaluation.embedding_fusion import weighted_fusion_scores
from keras_music.evaluation.probe_protocol import get_probe_protocol


def _caches(embeddings, labels, ids):
    tasks = {"genre": {"multi_label": False, "vocabulary": ["a", "b"]}}
    return [
        {
            "embeddings": x.astype("float32"),
            "labels": {"genre": y},
            "track_ids": ids,
            "tasks": tasks,
            "path": f"split{i}",
        }
        for i, (x, y) in enumerate(zip(embeddings, labels))
    ]


def test_concatenated_checks_track_order():
    rng = np.random.default_rng(0)
    ids = np.array(["t0", "t1", "t2"])
    labels = [np.array([0, 1, 0], "int32")] * 3
    a = _caches([rng.normal(size=(3, 2))] * 3, labels, ids)
    b = _caches([rng.normal(size=(3, 5))] * 3, labels, ids)
    joined = concatenated(a, b)
    np.testing.assert_array_equal(
        joined[0]["embeddings"],
        np.concatenate([a[0]["embeddings"], b[0]["embeddings"]], axis=1),
    )
    shuffled = _caches([rng.normal(size=(3, 5))] * 3, labels, ids[::-1])
    with pytest.raises(ValueError, match="list different tracks"):
        concatenated(a, shuffled)


def test_weighted_fusion_trusts_the_informative_probe():
    # Encoder a separates the two classes, encoder b is noise: the weight
    # chosen on validation must lean on a, and the fused test accuracy
    # must be a's (near 1), far above b's chance level.
    rng = np.random.default_rng(0)
    ids = np.array([f"t{i}" for i in range(60)])
    labels = [rng.integers(0, 2, 60).astype("int32") for _ in range(3)]
    informative = [
        np.stack([2.0 * y - 1.0, np.zeros(60)], axis=1)
        + 0.1 * rng.normal(size=(60, 2))
        for y in labels
    ]
    noise = [rng.normal(size=(60, 2)) for _ in range(3)]
    # A large step: the heads must fit within a few epochs.
    protocol = get_probe_protocol(
        "pase",
        learning_rate=0.05,
        epochs=20,
        patience=None,
        trials=1,
        batch_size=16,
    )
    scores = weighted_fusion_scores(
        _caches(informative, labels, ids),
        _caches(noise, labels, ids),
        "genre",
        protocol,
        seed=0,
    )
    assert scores["waveform_weights"][0] >= 0.5
    assert scores["top1"] >= 0.95
    assert scores["tracks"] == 60
    assert scores["waveform_weights"][0] in FUSION_WEIGHTS


def test_probabilities_are_softmax_or_sigmoid_of_the_logits():
    logits = np.array([[2.0, -1.0, 0.5], [-3.0, 0.0, 3.0]], "float32")

    def model(x, training):
        return x

    # Against the formulas, written out: float32 logits, 1e-6.
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        probabilities(model, logits, False), softmax, rtol=1e-6
    )
    np.testing.assert_allclose(
        probabilities(model, logits, True),
        1 / (1 + np.exp(-logits)),
        rtol=1e-6,
    )


def test_fuse_mixes_probabilities():
    p_a = np.array([[0.9, 0.1], [0.2, 0.8]])
    p_b = np.array([[0.5, 0.5], [0.6, 0.4]])
    np.testing.assert_allclose(
        fuse(p_a, p_b, 0.3, True), [[0.62, 0.38], [0.48, 0.52]]
    )
    # Single-label metrics take logits: the log of the mix, same ranking.
    single = fuse(p_a, p_b, 0.3, False)
    np.testing.assert_allclose(np.exp(single), [[0.62, 0.38], [0.48, 0.52]])
    np.testing.assert_array_equal(np.argmax(single, axis=1), [0, 1])
    # w = 1 is encoder a alone, w = 0 encoder b alone.
    np.testing.assert_allclose(fuse(p_a, p_b, 1.0, True), p_a)
    np.testing.assert_allclose(fuse(p_a, p_b, 0.0, True), p_b)


def test_linear_protocol_is_the_papers():
    protocol = linear_protocol()
    assert protocol.name == "multiformat_linear"
    assert protocol.head == "linear"
    assert protocol.optimizer == "adamw"
    assert protocol.weight_decay == 1e-6
    assert protocol.learning_rate == 1e-3
    assert protocol.batch_size == 64
    assert protocol.patience == 10
    assert protocol.epochs == 200
    assert protocol.trials == 3
    capped = linear_protocol(probe_epochs=5, trials=1)
    assert (capped.epochs, capped.trials) == (5, 1)


def test_fusion_weights_are_tenths():
    np.testing.assert_allclose(FUSION_WEIGHTS, np.arange(11) / 10)


def test_describe_names_the_metrics_present():
    text = describe({"tracks": 24, "top1": 0.5, "f1": 0.41})
    assert text == "accuracy 0.500 macro F1 0.410"
    assert describe({"roc_auc": 0.8125, "pr_auc": 0.5}) == (
        "ROC-AUC 0.812 PR-AUC 0.500"
    )
