"""What every training recipe shares: where the data is, which task,
which callbacks, and how a trained encoder is scored.

The recipes (`recipes/maest.py`, `recipes/s3t.py`, `recipes/pase.py`,
`recipes/clmr.py`, `recipes/multiformat.py`) read either a folder of
TFRecord splits (`--data`) or the built-in tune corpus, train under a
`tf.distribute` strategy with checkpoints that resume an interrupted run,
log to TensorBoard, and end by scoring the encoder with the evaluation
library. These functions are those shared steps, so the recipes differ
only in their model and objective.
"""

import os

import keras

from keras_music.data.tfrecord_format import read_manifest
from keras_music.data.tune_corpus import build_tune_corpus

SPLITS = ("train", "valid", "test")


def resolve_splits(
    data=None,
    sample_rate=16000,
    corpus_clips=600,
    corpus_seconds=30.0,
    seed=0,
    cache_dir=None,
):
    """The train/valid/test TFRecord folders and where they come from.

    Args:
        data: str or `None`. A folder holding `train/`, `valid/` and
            `test/` TFRecord folders (as `tfrecords/make_tfrecords.py`
            writes them). `None` renders (once, then reuses) the built-in
            tune corpus.
        sample_rate: int. Rate the recipe's model takes: the built-in
            corpus is rendered at it, and `data` must hold audio at it.
            Defaults to 16000.
        corpus_clips: int. Clips of the built-in corpus. Defaults to 600.
        corpus_seconds: float. Clip length of the built-in corpus.
        seed: int. Seed of the built-in corpus. Defaults to 0.
        cache_dir: str or `None`. Cache root of the built-in corpus.

    Returns:
        `(splits, source)`: dict split name -> folder, and a short
        description of the data for the recipe's log.
    """
    if data is None:
        splits = build_tune_corpus(
            num_clips=corpus_clips,
            clip_seconds=corpus_seconds,
            sample_rate=sample_rate,
            seed=seed,
            cache_dir=cache_dir,
            num_workers=2,
        )
        return splits, "the built-in tune corpus"
    splits = {name: os.path.join(data, name) for name in SPLITS}
    for path in splits.values():
        if not os.path.exists(os.path.join(path, "manifest.json")):
            raise ValueError(
                f"`--data` must be a folder holding train/, valid/ and test/ "
                f"TFRecord folders; {path}/manifest.json does not exist. "
                f"Received: --data={data!r}"
            )
        rate = read_manifest(path)["sample_rate"]
        if rate != sample_rate:
            raise ValueError(
                f"`--data` must hold {sample_rate} Hz audio (the rate of "
                f"this recipe's model); {path} is at {rate} Hz. Write it "
                f"again with `make_tfrecords.py --sample_rate "
                f"{sample_rate}`. Received: --data={data!r}"
            )
    return splits, data


def resolve_task(manifest, directory, task=None, default=None, multi=None):
    """The label task a recipe trains or evaluates on.

    Args:
        manifest: dict. The split's manifest (`read_manifest`).
        directory: str. The split folder, named in errors.
        task: str or `None`. The task the user asked for (`--task`).
        default: str or `None`. The task to take when `task` is `None` and
            the manifest has it (e.g. `"instrument"` or `"dance"` on the
            built-in corpus).
        multi: bool or `None`. Without `task` or `default`, take the only
            multi-label (`True`) or single-label (`False`) task; `None`
            takes the only task of either kind.

    Returns:
        str, a task of the manifest.
    """
    tasks = manifest["tasks"]
    if task is not None:
        if task not in tasks:
            raise ValueError(
                f"`--task` must be one of the tasks of {directory}: "
                f"{sorted(tasks)}. Received: --task={task!r}"
            )
        return task
    if default is not None and default in tasks:
        return default
    candidates = [
        name
        for name, spec in tasks.items()
        if multi is None or spec["multi_label"] == multi
    ]
    if len(candidates) != 1:
        kind = {True: "multi-label ", False: "single-label ", None: ""}[multi]
        raise ValueError(
            f"Pass `--task`: {directory} has the tasks {sorted(tasks)}, "
            f"and the default needs exactly one {kind}task."
        )
    return candidates[0]


def run_callbacks(output, monitor=None, mode="min"):
    """Resumable checkpoints, TensorBoard and the best model of a run.

    - `BackupAndRestore` under `output/backup`: running the same command
      again after an interruption resumes at the last finished epoch
      (model, optimizer and callback state).
    - `TensorBoard` logs under `output/logs`.
    - With `monitor`: `output/best.keras`, the model of the best epoch by
      that metric.

    Args:
        output: str. The run folder.
        monitor: str or `None`. A logged metric, e.g. `"val_loss"`.
        mode: `"min"` or `"max"`: whether lower or higher `monitor` is
            better. Defaults to `"min"`.

    Returns:
        list of `keras.callbacks.Callback`.
    """
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(output, "backup")),
        keras.callbacks.TensorBoard(os.path.join(output, "logs")),
    ]
    if monitor is not None:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                os.path.join(output, "best.keras"),
                monitor=monitor,
                mode=mode,
                save_best_only=True,
            )
        )
    return callbacks


def keep_initial_weights(model, output):
    """Saves `model`'s weights once, as the run's untrained baseline.

    Recipes score the same model before training next to after; a resumed
    run keeps the weights of its first start. Written to a temporary file
    and renamed, so an interruption never leaves a partial file.

    Returns:
        str, the path of `output/initial.weights.h5` (load it with
        `model.load_weights`).
    """
    path = os.path.join(output, "initial.weights.h5")
    if not os.path.exists(path):
        model.save_weights(f"{path}.tmp.weights.h5")
        os.replace(f"{path}.tmp.weights.h5", path)
    return path
