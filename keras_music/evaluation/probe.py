"""Training and scoring probes on cached embeddings (the `frozen` scenario).

`train_probe` fits one head under a `ProbeProtocol` and keeps the weights
of the epoch the protocol selects on the validation split;
`evaluate_frozen` runs a whole task: drops the tracks without a label,
draws the label fractions, tries the protocol's grid points, repeats the
trials and scores the test split with `keras_music.evaluation.metrics`.
"""

import math

import keras
import numpy as np

from keras_music.evaluation.embedding_cache import labelled_tracks
from keras_music.evaluation.epoch_selector import EpochSelector
from keras_music.evaluation.label_fractions import label_fraction_indices
from keras_music.evaluation.probe_heads import probe_head
from keras_music.evaluation.probe_heads import probe_loss
from keras_music.evaluation.task_metrics import selection_score
from keras_music.evaluation.task_metrics import task_metrics


def train_probe(
    train_x,
    train_y,
    valid_x,
    valid_y,
    num_outputs,
    multi_label,
    protocol,
    seed=0,
):
    """Fits one probe head under `protocol` and returns it.

    Args:
        train_x, valid_x: float arrays `(examples, dim)`.
        train_y, valid_y: class indices `(examples,)` or multi-hot
            `(examples, tags)`.
        num_outputs: int. Classes or tags.
        multi_label: bool. Sigmoid + BCE if set, else softmax + CE.
        protocol: `ProbeProtocol` (without a grid: see `grid_points`).
        seed: int. Seeds the initialisation, dropout and shuffling.

    Returns:
        `(model, selected_epoch)`: the head (logits) with the selected
        epoch's weights, and that epoch (0-based; `None` for the last).

    Example:

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(20, 8)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("int32")
    >>> protocol = get_probe_protocol("s3t", epochs=2, warmup_epochs=0)
    >>> model, epoch = train_probe(
    ...     x[:16], y[:16], x[16:], y[16:], num_outputs=2,
    ...     multi_label=False, protocol=protocol,
    ... )
    >>> model(x).shape, epoch in (0, 1)
    (TensorShape([20, 2]), True)
    """
    keras.utils.set_random_seed(seed)
    train_x = np.asarray(train_x, "float32")
    valid_x = np.asarray(valid_x, "float32")
    model = probe_head(
        protocol.head,
        train_x.shape[1],
        num_outputs,
        hidden_dim=protocol.hidden_dim,
        dropout=protocol.dropout,
        standardize_with=train_x,
    )
    steps = max(1, math.ceil(len(train_x) / protocol.batch_size))
    model.compile(
        optimizer=protocol.make_optimizer(steps), loss=probe_loss(multi_label)
    )
    selector = EpochSelector(
        lambda m: m(valid_x, training=False),
        np.asarray(valid_y),
        multi_label,
        protocol.selection,
        protocol.patience,
    )
    model.fit(
        train_x,
        np.asarray(train_y, "float32" if multi_label else "int32"),
        batch_size=protocol.batch_size,
        epochs=protocol.epochs,
        shuffle=True,
        verbose=0,
        callbacks=[selector],
    )
    return model, selector.best_epoch


def task_split(cache, task):
    """Embeddings and labels of the tracks labelled for `task`."""
    labels = cache["labels"][task]
    keep = labelled_tracks(labels)
    return cache["embeddings"][keep], labels[keep]


def evaluate_frozen(
    train,
    valid,
    test,
    task,
    protocol,
    fractions=(1.0,),
    seed=0,
    max_grid_points=None,
):
    """Frozen-encoder evaluation of one task on cached embeddings.

    For each label fraction: draw the nested per-class subset of the
    labelled training tracks (`label_fraction_indices`), pick the best of
    the protocol's grid points on validation (one trial each, by the
    selection score), then run `protocol.trials` trials of it (seeds
    `seed`, `seed + 1`, ...) and score the test tracks.

    Args:
        train, valid, test: dicts from `extract_embeddings`.
        task: str. A task of the dataset.
        protocol: `ProbeProtocol`.
        fractions: list of float. Label fractions. Defaults to `(1.0,)`.
        seed: int. Seeds the subsets and the trials. Defaults to 0.
        max_grid_points: int or `None`. Grid points tried (a seeded
            subset); `None` tries all.

    Returns:
        dict fraction -> dict metric name -> list of per-trial values.

    Example:

    Caches as `extract_embeddings` returns them, here made up:

    >>> def cache(n, seed):
    ...     x = np.random.default_rng(seed).normal(size=(n, 8))
    ...     return {
    ...         "embeddings": x.astype("float32"),
    ...         "labels": {"genre": (x[:, 0] > 0).astype("int32")},
    ...         "tasks": {"genre": {"vocabulary": ["a", "b"],
    ...                             "multi_label": False}},
    ...     }
    >>> protocol = get_probe_protocol(
    ...     "s3t", epochs=2, warmup_epochs=0, trials=1
    ... )
    >>> scores = evaluate_frozen(
    ...     cache(16, 0), cache(8, 1), cache(8, 2), "genre", protocol,
    ...     max_grid_points=1,
    ... )
    >>> sorted(scores[1.0])
    ['f1', 'top1', 'top5']
    """
    if task not in train["tasks"]:
        raise ValueError(
            f"`task` must be one of the dataset's tasks "
            f"{sorted(train['tasks'])}. Received: task={task!r}"
        )
    spec = train["tasks"][task]
    multi_label = spec["multi_label"]
    num_outputs = len(spec["vocabulary"])
    train_x, train_y = task_split(train, task)
    valid_x, valid_y = task_split(valid, task)
    test_x, test_y = task_split(test, task)
    if len(train_x) == 0:
        raise ValueError(
            f"No training track has a label for task {task!r}: nothing "
            "to train a probe on."
        )
    subsets = label_fraction_indices(train_y, fractions, seed=seed)
    results = {}
    for fraction in fractions:
        subset = subsets[float(fraction)]
        x, y = train_x[subset], train_y[subset]
        candidates = protocol.grid_points(max_grid_points, seed=seed)
        chosen = candidates[0]
        if len(candidates) > 1 and len(valid_x):
            best = -math.inf
            for candidate in candidates:
                model, _ = train_probe(
                    x,
                    y,
                    valid_x,
                    valid_y,
                    num_outputs,
                    multi_label,
                    candidate,
                    seed,
                )
                logits = np.asarray(model(valid_x, training=False))
                score = selection_score(valid_y, logits, multi_label)
                if np.isfinite(score) and score > best:
                    best, chosen = score, candidate
        trials = {}
        for trial in range(chosen.trials):
            model, _ = train_probe(
                x,
                y,
                valid_x,
                valid_y,
                num_outputs,
                multi_label,
                chosen,
                seed + trial,
            )
            logits = np.asarray(model(test_x, training=False))
            for name, value in task_metrics(
                test_y, logits, multi_label
            ).items():
                trials.setdefault(name, []).append(value)
        results[float(fraction)] = trials
    return results
