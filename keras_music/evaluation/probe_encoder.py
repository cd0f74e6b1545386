"""Probing a frozen encoder: embed the splits, train the protocol's probe,
report one summary."""

import dataclasses

import numpy as np

from keras_music.evaluation.embedding_cache import extract_embeddings
from keras_music.evaluation.probe import evaluate_frozen
from keras_music.evaluation.probe import task_split

SPLITS = ("train", "valid", "test")
METRIC_NAMES = {
    "top1": "accuracy",
    "top5": "top-5 accuracy",
    "f1": "macro F1",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
}


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """The test scores of a probe on frozen embeddings, per trial.

    Args:
        task: str. The task probed.
        test_tracks: int. Test tracks labelled for the task.
        trials: dict metric name -> tuple of per-trial test scores.

    Example:

    >>> result = ProbeResult("genre", 10, {"top1": (0.5, 0.7)})
    >>> result.mean
    {'top1': 0.6}
    >>> result.describe()
    'accuracy 0.600 ± 0.100'
    """

    task: str
    test_tracks: int
    trials: dict

    @property
    def mean(self):
        """dict metric -> mean over the trials."""
        return {name: float(np.mean(v)) for name, v in self.trials.items()}

    def summary(self):
        """dict metric -> `{"mean", "std", "trials"}` (JSON-ready)."""
        return summarize_trials(self.trials)

    def describe(self, metrics=None):
        """`"accuracy 0.600 ± 0.100, macro F1 ..."` for `metrics` (default:
        all but top-5 accuracy), mean ± std over the trials."""
        if metrics is None:
            metrics = [name for name in self.trials if name != "top5"]
        return ", ".join(
            f"{METRIC_NAMES.get(name, name)} {np.mean(self.trials[name]):.3f}"
            f" ± {np.std(self.trials[name]):.3f}"
            for name in metrics
        )


def summarize_trials(trials):
    """dict metric -> `{"mean", "std", "trials"}` of per-trial scores
    (`{metric: [values]}`, as `evaluate_frozen` and `evaluate_finetune`
    give them), JSON-ready: the one summary every recipe reports.

    Args:
        trials: dict metric name -> sequence of per-trial scores.

    Example:

    >>> summarize_trials({"f1": [0.25, 0.75]})
    {'f1': {'mean': 0.5, 'std': 0.25, 'trials': [0.25, 0.75]}}
    """
    return {
        name: {
            "mean": float(np.mean(values)),
            "std": float(np.std(values)),
            "trials": [float(v) for v in values],
        }
        for name, values in trials.items()
    }


def embed_splits(encoder, splits, segment_seconds, cache_dir):
    """The cached track embeddings (`extract_embeddings`) of the train,
    valid and test folders of `splits`."""
    missing = [name for name in SPLITS if name not in splits]
    if missing:
        raise ValueError(
            f"`splits` must have the folders of {list(SPLITS)}; it lacks "
            f"{missing}. Received: splits={splits!r}"
        )
    return [
        extract_embeddings(encoder, splits[name], segment_seconds, cache_dir)
        for name in SPLITS
    ]


def probe_caches(caches, task, protocol, seed=0):
    """`evaluate_frozen` on the embeddings of train, valid and test (label
    fraction 1), as a `ProbeResult`."""
    scores = evaluate_frozen(*caches, task, protocol, seed=seed)[1.0]
    return ProbeResult(
        task=task,
        test_tracks=len(task_split(caches[2], task)[1]),
        trials={name: tuple(map(float, v)) for name, v in scores.items()},
    )


def probe_encoder(
    encoder, splits, task, protocol, segment_seconds, cache_dir, seed=0
):
    """Probes a frozen encoder on one task with one protocol.

    Embeds every track of the train, valid and test folders (segments of
    `segment_seconds` overlapping by half, averaged per track, cached
    under `cache_dir`), picks the protocol's grid point on valid and runs
    its trials (seeds `seed`, `seed + 1`, ...) on test.

    Args:
        encoder: keras.Model. Segments as the dataset yields them ->
            `(batch, dim)` embeddings.
        splits: dict with the `"train"`, `"valid"` and `"test"` TFRecord
            folders.
        task: str. A task of the dataset.
        protocol: `ProbeProtocol`.
        segment_seconds: float. Segment length.
        cache_dir: str. Root of the embedding caches.
        seed: int. Seeds the trials. Defaults to 0.

    Returns:
        `ProbeResult`.

    Example:

    >>> import tempfile
    >>> from keras_music.data import build_tune_corpus
    >>> root = tempfile.mkdtemp()
    >>> splits = build_tune_corpus(
    ...     num_clips=12, clip_seconds=1.0, sample_rate=4000,
    ...     cache_dir=root, progress=False,
    ... )
    >>> encoder = keras.Sequential([
    ...     keras.Input((4000,)), keras.layers.Reshape((4000, 1)),
    ...     keras.layers.Conv1D(4, 400, strides=400),
    ...     keras.layers.GlobalAveragePooling1D(),
    ... ])
    >>> protocol = get_probe_protocol("pase", epochs=2, trials=2)
    >>> result = probe_encoder(
    ...     encoder, splits, "style", protocol, 1.0, root + "/embeddings"
    ... )
    >>> len(result.trials["f1"])
    2
    """
    caches = embed_splits(encoder, splits, segment_seconds, cache_dir)
    return probe_caches(caches, task, protocol, seed=seed)
