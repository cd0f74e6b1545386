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

import collections
import csv
import json
import os
import shutil
import time

import keras
import tensorflow as tf

from keras_music.data.tfrecord_format import read_manifest
from keras_music.data.tfrecord_format import verify_shards
from keras_music.data.tune_corpus import build_tune_corpus
from keras_music.distribute import fit
from keras_music.distribute import get_strategy
from keras_music.distribute import is_chief
from keras_music.distribute import split_cpu
from keras_music.training.atomic_backup_and_restore import (
    AtomicBackupAndRestore,
)
from keras_music.training.atomic_backup_and_restore import completed_epochs
from keras_music.utils.atomic_write import atomic_path
from keras_music.utils.atomic_write import write_json_atomic

SPLITS = ("train", "valid", "test")


def configure_run(
    strategy="default",
    cpu_replicas=None,
    mixed_precision=False,
    seed=0,
    deterministic=False,
):
    """Sets up a training process: devices, seeds, precision, strategy.

    Call it first in a recipe, before any TensorFlow op runs.

    Args:
        strategy: str. A strategy name of `keras_music.distribute`
            (`"default"`, `"mirrored"`, `"multi_worker"`, `"tpu"`).
        cpu_replicas: int or `None`. Split the CPU into this many logical
            devices (to try `"mirrored"` without GPUs); only with
            `"mirrored"`.
        mixed_precision: bool. Compute in `mixed_float16` on GPU and in
            `mixed_bfloat16` on CPU and TPU (variables stay float32).
        seed: int. Seeds Python, NumPy, TensorFlow and Keras.
        deterministic: bool. Also make TensorFlow's ops deterministic
            (`tf.config.experimental.enable_op_determinism`), so two runs
            with the same `seed` give identical losses; slower on GPU.

    Returns:
        The `tf.distribute.Strategy` to build the model under.
    """
    if cpu_replicas is not None and strategy != "mirrored":
        # The other strategies take the devices they find: it would be
        # ignored.
        raise ValueError(
            "`cpu_replicas` takes effect only with strategy='mirrored'. "
            f"Received: strategy={strategy!r}, cpu_replicas={cpu_replicas!r}"
        )
    if cpu_replicas:
        split_cpu(cpu_replicas)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if mixed_precision:
        # float16 needs loss scaling but runs fast on GPUs; CPUs and TPUs
        # compute in bfloat16.
        on_gpu = bool(tf.config.list_physical_devices("GPU"))
        float16 = on_gpu and strategy != "tpu"
        keras.mixed_precision.set_global_policy(
            "mixed_float16" if float16 else "mixed_bfloat16"
        )
    return get_strategy(strategy)


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

    Raises:
        ValueError: naming the folder or shard file, when a split lacks
            its manifest, holds audio at another rate, or a shard the
            manifest lists is missing or not as written.
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
        _verify_splits(splits)
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
    _verify_splits(splits)
    return splits, data


def _verify_splits(splits):
    """Every shard of every split, checked before a step is trained: a
    test shard deleted (or stale) would otherwise fail only after
    training, and a training shard deleted once the pipeline is built
    would stall it."""
    for path in splits.values():
        verify_shards(path, read_manifest(path)["shards"])


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


RUN_FILE = "run.json"


def prepare_run_folder(
    output, settings, overwrite=False, finished="results.json", chief=True
):
    """Makes `output` the folder of this run, and only of this run.

    A run writes its settings to `output/run.json` when it starts. Run
    again into the same folder, it resumes (from its backup, with its
    SWA state and initial weights) only when the settings are the same
    (or when nothing but `run.json` was written: the run stopped early);
    a folder of a run with other settings, of a finished run or of
    something else is refused, so that no file of another run (a weight
    average, the untrained baseline) blends into this one.

    Args:
        output: str. The run folder (created).
        settings: dict. What defines the run, e.g. the recipe's flags by
            name; JSON-serialisable.
        overwrite: bool. Clear `output` first and start afresh.
        finished: str or `None`. The file a finished run leaves in
            `output`, refused; `None` when a finished run may run again
            (it reuses what it finished). Defaults to `"results.json"`.
        chief: bool. Whether this process writes the run's files; the
            other workers of a multi-worker run only check.

    Returns:
        bool, whether the run resumes an earlier start.
    """
    settings = json.loads(json.dumps(settings))  # as run.json holds them
    path = os.path.join(output, RUN_FILE)
    if overwrite and chief and os.path.isdir(output):
        shutil.rmtree(output)
    # A folder holding only run.json is a run that stopped before writing
    # anything (a bad flag found late): it starts anew.
    if not os.path.isdir(output) or set(os.listdir(output)) <= {RUN_FILE}:
        if chief:
            os.makedirs(output, exist_ok=True)
            write_json_atomic(path, {"settings": settings})
        return False
    if not os.path.exists(path):
        raise ValueError(
            f"`--output` {output} is not empty and holds no {RUN_FILE}: "
            f"not a run folder of this recipe. Choose an empty or new "
            f"`--output`, or pass `--overwrite` to clear it."
        )
    with open(path) as stream:
        earlier = json.load(stream)["settings"]
    if earlier != settings:
        names = sorted(set(earlier) | set(settings))
        changed = [
            f"--{name}={earlier.get(name)!r} then, {settings.get(name)!r} now"
            for name in names
            if earlier.get(name) != settings.get(name)
        ]
        raise ValueError(
            f"`--output` {output} holds a run with other flags "
            f"({'; '.join(changed)}): resuming it would mix two runs. "
            f"Run again with the same flags to resume it, choose another "
            f"`--output`, or pass `--overwrite` to start afresh."
        )
    if finished and os.path.exists(os.path.join(output, finished)):
        raise ValueError(
            f"`--output` {output} holds a finished run ({finished} "
            f"exists). Choose another `--output`, or pass `--overwrite` to "
            f"train it again."
        )
    return True


def run_callbacks(output, monitor=None, mode="min", strategy=None):
    """Resumable checkpoints, TensorBoard and the best model of a run.

    - `AtomicBackupAndRestore` under `output/backup`: running the same
      command again after an interruption (even SIGKILL) resumes at the
      last finished epoch (model, optimizer and step counter).
    - `TensorBoard` logs under `output/logs`.
    - With `monitor`: `output/best.keras`, the model of the best epoch by
      that metric.

    Under `MultiWorkerMirroredStrategy` only the chief writes; the other
    workers get a read-only backup callback that restores from the
    chief's `output/backup` (so `output` must be on a shared filesystem).

    Args:
        output: str. The run folder.
        monitor: str or `None`. A logged metric, e.g. `"val_loss"`.
        mode: `"min"` or `"max"`: whether lower or higher `monitor` is
            better. Defaults to `"min"`.
        strategy: the `tf.distribute.Strategy` of the run, or `None` for
            the current one.

    Returns:
        list of `keras.callbacks.Callback`.
    """
    backup = os.path.join(output, "backup")
    if not is_chief(strategy):
        return [AtomicBackupAndRestore(backup, read_only=True)]
    callbacks = [
        AtomicBackupAndRestore(backup),
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


def resume_stream(dataset, output, steps_per_epoch):
    """The endless training stream of a run, from where a resumed run
    picks it up.

    `fit` with `steps_per_epoch` draws one stream across all epochs, so
    epoch `e` starts at batch `e * steps_per_epoch`. A run resumed from
    `output/backup` after `e` epochs skips those batches (they are
    produced and dropped, so the random layers of the pipeline advance as
    they did) and trains on the same batches as an uninterrupted run.
    Producing them costs a fraction of training them: the input pipeline
    only, no model step.

    Returns:
        `(dataset, skipped)`: the stream, and how many batches it skips.
    """
    skipped = completed_epochs(os.path.join(output, "backup"))
    skipped *= steps_per_epoch
    return (dataset.skip(skipped) if skipped else dataset), skipped


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
        save_weights_atomic(model, path)
    return path


def epoch_steps(num_examples, batch_size, steps_per_epoch=None):
    """Batches per epoch: `steps_per_epoch` when given, else one pass over
    `num_examples` tracks in batches of `batch_size` (at least one)."""
    return steps_per_epoch or max(1, num_examples // batch_size)


Pretraining = collections.namedtuple(
    "Pretraining", ["history", "seconds", "initial_weights"]
)
Pretraining.__doc__ = """What `pretrain` did.

Args:
    history: `keras.callbacks.History`. The `fit` history.
    seconds: float. How long the `fit` took.
    initial_weights: str or `None`. The path of the untrained weights of
        `pretrain`'s `baseline` (`None` without one).

Example:

>>> done = Pretraining(keras.callbacks.History(), 12.5, None)
>>> round(done.seconds)
12
"""


def pretrain(
    model,
    train,
    output,
    epochs,
    steps_per_epoch,
    strategy=None,
    baseline=None,
    monitor="loss",
    callbacks=(),
    verbose="auto",
    **kwargs,
):
    """Trains `model` on a stream as the pre-training recipes do.

    The run is resumable: `train`, an endless stream of batches, goes on
    where an interrupted run's stopped (`resume_stream`), and `fit`
    (`keras_music.distribute.fit`) runs with `run_callbacks(output,
    monitor, "min", strategy)`: checkpoints to resume from, TensorBoard
    logs and `output/best.keras`, the model of the lowest `monitor`. With
    `baseline` (the encoder inside `model`), its untrained weights are
    kept first (`keep_initial_weights`), to score it before training too.

    Args:
        model: compiled `keras.Model` (`SimCLR`, `MoCo`, ...).
        train: `tf.data.Dataset`. The endless training stream.
        output: str. The run folder.
        epochs: int. Epochs to train.
        steps_per_epoch: int. Batches per epoch.
        strategy: the run's `tf.distribute.Strategy`, or `None` for the
            current one.
        baseline: `keras.Model` or `None`. The model whose initial
            weights to keep.
        monitor: str. The logged loss that picks `best.keras`. Defaults
            to `"loss"` (`"val_loss"` with `validation_data`).
        callbacks: more callbacks, called before the run's. Defaults to
            none.
        verbose: Keras `fit` verbosity. Defaults to `"auto"`.
        **kwargs: more `fit` arguments.

    Returns:
        A `Pretraining`.
    """
    os.makedirs(output, exist_ok=True)
    train, _ = resume_stream(train, output, steps_per_epoch)
    initial = None
    if baseline is not None:
        initial = keep_initial_weights(baseline, output)
    kwargs.setdefault("shuffle", False)  # the input pipeline shuffles
    started = time.time()
    history = fit(
        model,
        train,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[
            *callbacks,
            *run_callbacks(output, monitor, "min", strategy),
        ],
        verbose=verbose,
        **kwargs,
    )
    return Pretraining(history, time.time() - started, initial)


def read_history(path):
    """The per-epoch logs of a `keras.callbacks.CSVLogger` file, one dict
    per epoch in epoch order: the last row of each epoch (a resumed run
    may have logged an epoch twice), `epoch` left out.

    The list is what `MultiTaskPretrainer.reweighted_loss_weights` and
    `loss_scales` read.
    """
    rows = {}
    with open(path) as stream:
        for row in csv.DictReader(stream):
            rows[int(row["epoch"])] = {
                k: float(v) for k, v in row.items() if k != "epoch"
            }
    return [rows[epoch] for epoch in sorted(rows)]


def save_weights_atomic(model, path):
    """`model.save_weights(path)` through a temporary file renamed into
    place, so that `path` is never half written. The temporary file is
    per process: workers of one multi-worker run may write the same path.
    """
    with atomic_path(path, suffix=".weights.h5") as temporary:
        model.save_weights(temporary)


def worker_done(model, output, strategy, name="model"):
    """Ends a non-chief worker's part of a multi-worker run.

    Under `MultiWorkerMirroredStrategy` every worker saves its final
    weights to `output/worker-<index>/<name>.weights.h5` (they are equal:
    comparing them checks that the replicas agree); the chief then
    evaluates, exports and writes the run's files while the other workers
    are done. Under any other strategy this does nothing.

    Returns:
        bool, whether this process's work is done (a non-chief worker).
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    folder = worker_folder(output, strategy)
    path = os.path.join(folder, f"{name}.weights.h5")
    save_weights_atomic(model, path)
    if is_chief(strategy):
        return False
    print(f"Worker done ({path}); the chief writes the run's files.")
    return True


def worker_folder(output, strategy):
    """`output/worker-<index>`: files of one worker of a multi-worker run
    (created)."""
    folder = os.path.join(output, f"worker-{strategy.cluster_resolver.task_id}")
    os.makedirs(folder, exist_ok=True)
    return folder
