import keras
import numpy as np
import pytest

from keras_music.evaluation.epoch_selector import EpochSelector
from keras_music.evaluation.probe import evaluate_frozen
from keras_music.evaluation.probe import train_probe
from keras_music.evaluation.probe_heads import probe_head
from keras_music.evaluation.probe_protocol import get_probe_protocol

# Fewer epochs than the paper's 50, so a larger learning rate.
FAST = get_probe_protocol(
    "s3t", epochs=15, warmup_epochs=2, batch_size=32, learning_rate=1e-2
)


def _clusters(n, num_classes=3, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(0, 3, (num_classes, dim))
    labels = rng.integers(0, num_classes, n)
    return (centres[labels] + rng.normal(size=(n, dim))).astype(
        "float32"
    ), labels


def test_linear_probe_learns_a_separable_task():
    x, y = _clusters(300)
    vx, vy = _clusters(90, seed=1)
    tx, ty = _clusters(300, seed=2)
    model, _ = train_probe(x, y, vx, vy, 3, False, FAST, seed=0)
    accuracy = np.mean(np.argmax(model(tx), 1) == ty)
    # Clusters 3 sigma apart: a linear probe separates them (chance 1/3).
    assert accuracy > 0.9, accuracy


def test_probe_stays_at_chance_on_random_labels():
    rng = np.random.default_rng(5)
    x, vx, tx = (
        rng.normal(size=(n, 16)).astype("float32") for n in (300, 90, 600)
    )
    y, vy, ty = (rng.integers(0, 3, n) for n in (300, 90, 600))
    model, _ = train_probe(x, y, vx, vy, 3, False, FAST, seed=0)
    accuracy = np.mean(np.argmax(model(tx), 1) == ty)
    # Chance is 1/3; the binomial std over 600 examples is 0.019, so
    # [0.25, 0.42] is more than 4 std either side.
    assert 0.25 < accuracy < 0.42, accuracy


def test_mlp_probe_learns_multi_label_tags():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(16, 4))

    def data(n):
        x = rng.normal(size=(n, 16)).astype("float32")
        return x, (x @ w > 0.5).astype("float32")

    (x, y), (vx, vy), (tx, ty) = data(400), data(100), data(300)
    protocol = get_probe_protocol(
        "maest", epochs=12, warmup_epochs=2, batch_size=64
    )
    model, _ = train_probe(x, y, vx, vy, 4, True, protocol, seed=0)
    from sklearn.metrics import roc_auc_score

    auc = roc_auc_score(ty, np.asarray(model(tx)), average="macro")
    assert auc > 0.9, auc


def test_epoch_selector_keeps_best_epoch_and_stops():
    model = probe_head("linear", 2, 2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    labels = np.array([0, 1])
    epochs = []
    good = np.array([[5.0, -5.0], [-5.0, 5.0]])

    def scripted(m):
        epoch = len(epochs)
        epochs.append([w.numpy() for w in m.weights])
        return good if epoch == 2 else -good

    selector = EpochSelector(scripted, labels, False, "best_metric", patience=3)
    x = np.random.default_rng(0).normal(size=(8, 2)).astype("float32")
    model.fit(x, np.arange(8) % 2, epochs=20, verbose=0, callbacks=[selector])
    # Epoch 2 is best; three worse epochs (3, 4, 5) stop training.
    assert selector.best_epoch == 2
    assert len(epochs) == 6
    for weight, kept in zip(model.weights, epochs[2]):
        np.testing.assert_array_equal(weight.numpy(), kept)


def _cache(x, labels, tasks):
    return {"embeddings": x, "labels": labels, "tasks": tasks}


def test_evaluate_frozen_leaves_out_unlabelled_tracks_and_runs_trials():
    tasks = {"genre": {"multi_label": False, "vocabulary": ["a", "b", "c"]}}
    caches = []
    for seed, n in ((0, 200), (1, 60), (2, 60)):
        x, y = _clusters(n, seed=seed)
        y = y.astype("int32")
        y[:10] = -1  # unlabelled tracks: left out, not class -1
        caches.append(_cache(x, {"genre": y}, tasks))
    protocol = get_probe_protocol(
        "pase", epochs=10, trials=2, learning_rate=1e-2
    )
    results = evaluate_frozen(*caches, "genre", protocol, [1.0])
    assert set(results) == {1.0}
    for values in results.values():
        assert set(values) == {"top1", "top5", "f1"}
        assert len(values["top1"]) == 2
    assert np.mean(results[1.0]["top1"]) > 0.9


def test_evaluate_frozen_grid_search_and_errors():
    tasks = {"tags": {"multi_label": True, "vocabulary": ["a", "b"]}}
    rng = np.random.default_rng(0)
    caches = []
    for n in (80, 30, 30):
        x = rng.normal(size=(n, 4)).astype("float32")
        y = np.stack([x[:, 0] > 0, x[:, 1] > 0], 1).astype("int8")
        y[(y.sum(1) == 0)] = [1, 1]
        caches.append(_cache(x, {"tags": y}, tasks))
    protocol = get_probe_protocol(
        "maest",
        epochs=2,
        warmup_epochs=1,
        batch_size=32,
        hidden_dim=8,
        grid={"learning_rate": [1e-3, 1e-2]},
    )
    results = evaluate_frozen(*caches, "tags", protocol)
    assert set(results[1.0]) == {"roc_auc", "pr_auc"}
    with pytest.raises(ValueError, match="`task` must be one of"):
        evaluate_frozen(*caches, "genre", protocol)
    empty = dict(caches[0], labels={"tags": np.zeros((80, 2), "int8")})
    with pytest.raises(ValueError, match="No training track has a label"):
        evaluate_frozen(empty, caches[1], caches[2], "tags", protocol)
    keras.backend.clear_session()
