"""Choosing a `tf.distribute` strategy, and training under it.

Recipes expose `--strategy {default,mirrored,multi_worker,tpu}` and call
`get_strategy(flag)`; models, optimizers and variables are then created
inside `with strategy.scope():`, and the recipe trains with `fit(model,
...)`, which is `model.fit` except under `MultiWorkerMirroredStrategy`.

- `default`: TensorFlow's default strategy (one device, no replication).
- `mirrored`: `tf.distribute.MirroredStrategy` over all local GPUs (or the
  devices given), synchronous data parallelism on one machine.
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, configured
  from the `TF_CONFIG` environment variable, across machines.
- `tpu`: `tf.distribute.TPUStrategy` on the TPU the cluster resolver
  finds (a TPU VM, or the `TPU_NAME` environment variable).

Objectives with a hand-written loss in `train_step` divide it by
`num_replicas_in_sync` before taking gradients (gradients are summed
across replicas) and report the unscaled value; see `replica_scaled`.
"""

import json
import os
import warnings

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def get_strategy(name="default", devices=None):
    """Returns the `tf.distribute.Strategy` named by `name`.

    Args:
        name: str. One of `"default"`, `"mirrored"`, `"multi_worker"`,
            `"tpu"`.
        devices: optional list of device names for `"mirrored"` (e.g.
            `["/cpu:0", "/cpu:1"]`); all visible GPUs (or the CPU) when
            omitted.

    Example:

    >>> strategy = get_strategy("default")
    >>> strategy.num_replicas_in_sync
    1
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"`strategy` must be one of {', '.join(STRATEGIES)}. "
            f"Received: strategy={name!r}"
        )
    if devices is not None and name != "mirrored":
        raise ValueError(
            "`devices` can only be given with strategy='mirrored'. "
            f"Received: strategy={name!r}, devices={devices!r}"
        )
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "tpu":
        return _tpu_strategy()
    config = os.environ.get("TF_CONFIG")
    if config:
        try:
            json.loads(config)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"The TF_CONFIG environment variable is not valid JSON: "
                f"{error}. Received: TF_CONFIG={config!r}"
            ) from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def _tpu_strategy():
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    except (ValueError, RuntimeError) as error:
        raise ValueError(
            "strategy='tpu' needs a TPU: run on a TPU VM or set the "
            f"TPU_NAME environment variable ({error})"
        ) from None
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy=None):
    """Whether this process is the one that writes a run's files.

    Under `MultiWorkerMirroredStrategy` every worker runs the same
    program; the chief (the `chief` task, or worker 0 when the cluster has
    none) writes checkpoints, logs and the final model, and the other
    workers only compute. Any other strategy runs in one process, which
    is the chief.

    Args:
        strategy: a `tf.distribute.Strategy`, or `None` for the current
            one.

    Example:

    >>> is_chief(get_strategy("default"))
    True
    """
    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type = resolver.task_type
    if task_type is None or task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and resolver.task_id == 0 and not has_chief


def fit(
    model,
    x,
    epochs=1,
    steps_per_epoch=None,
    validation_data=None,
    validation_steps=None,
    callbacks=None,
    verbose="auto",
    initial_epoch=0,
    **kwargs,
):
    """`model.fit`, also under `MultiWorkerMirroredStrategy`.

    On TensorFlow 2.21 / Keras 3.15, `model.fit` fails under
    `MultiWorkerMirroredStrategy` (it cannot convert the `PerReplica`
    values it gets back), so there this runs the model's own `train_step`
    and `test_step` through `strategy.run` over
    `strategy.experimental_distribute_dataset(x)` and averages the logs
    across replicas. Callbacks get the same calls as under `fit`
    (`BackupAndRestore`-style resumption included: a callback that sets
    `model._initial_epoch` in `on_train_begin` resumes the run there).
    Under every other strategy this is `model.fit`.

    Each worker builds the same `tf.data` pipeline of global batches.
    Unless the dataset sets its own `auto_shard_policy`, it is sharded by
    batch elements (`AutoShardPolicy.DATA`): every worker runs the whole
    pipeline and keeps its share of each global batch, so the workers
    train on exactly the batches one process would (TensorFlow's `AUTO`
    fails outright when a worker has no file of its own). To have each
    worker read only its own files instead, set
    `options.experimental_distribute.auto_shard_policy = FILE` on the
    dataset (it needs at least as many files as workers), or run the
    pipeline on the tf.data service
    (`keras_music.data.data_service.through_data_service`).

    Args:
        model: a compiled `keras.Model`, built under the strategy's scope.
        x: `tf.data.Dataset` of global batches.
        epochs: int. Epochs to train. Defaults to 1.
        steps_per_epoch: int or `None`. Steps per epoch; needed when `x`
            is infinite. `None` takes the dataset's cardinality.
        validation_data: `tf.data.Dataset` or `None`. Evaluated at the end
            of each epoch; its logs get the `val_` prefix.
        validation_steps: int or `None`. Validation steps; `None` runs the
            validation data to its end.
        callbacks: list of `keras.callbacks.Callback`.
        verbose: `"auto"`, 0, 1 or 2, as for `fit`. Defaults to `"auto"`.
        initial_epoch: int. Epoch to start at. Defaults to 0.
        **kwargs: other `model.fit` arguments (single-process strategies
            only).

    Returns:
        A `keras.callbacks.History`.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> data = tf.data.Dataset.from_tensor_slices(
    ...     (np.ones((8, 3), "float32"), np.zeros((8, 1), "float32"))
    ... ).batch(4)
    >>> history = fit(model, data, epochs=2, verbose=0)
    >>> len(history.history["loss"])
    2
    """
    strategy = model.distribute_strategy
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return model.fit(
            x,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            validation_data=validation_data,
            validation_steps=validation_steps,
            callbacks=callbacks,
            verbose=verbose,
            initial_epoch=initial_epoch,
            **kwargs,
        )
    # A dataset's order is its own: `fit` ignores `shuffle` for datasets.
    kwargs.pop("shuffle", None)
    if kwargs:
        raise ValueError(
            "Under MultiWorkerMirroredStrategy, `fit` takes no other "
            f"`model.fit` arguments. Received: {sorted(kwargs)}"
        )
    if not isinstance(x, tf.data.Dataset):
        raise ValueError(
            "Under MultiWorkerMirroredStrategy, `x` must be a "
            f"`tf.data.Dataset` of global batches. Received: x={x!r}"
        )
    steps_per_epoch = steps_per_epoch or _known_size(x, "steps_per_epoch")
    if verbose == "auto":
        verbose = 1
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        # Every worker creates the optimizer's variables, in the same order.
        with strategy.scope():
            optimizer.build(model.trainable_variables)
    # Callbacks run outside the strategy's scope: saving creates
    # throwaway variables, which in scope would be collective ops that
    # only the chief (the one that saves) enters.
    return _multi_worker_fit(
        model,
        strategy,
        x,
        epochs,
        steps_per_epoch,
        validation_data,
        validation_steps,
        callbacks,
        verbose,
        initial_epoch,
    )


def _known_size(dataset, argument):
    size = int(dataset.cardinality())
    if size < 0:
        raise ValueError(
            f"`{argument}` is needed: the dataset's size is unknown or "
            f"infinite. Received: {argument}=None"
        )
    return size


def _sharded(dataset):
    """`dataset`, sharded by batch elements unless it says otherwise."""
    policy = dataset.options().experimental_distribute.auto_shard_policy
    if policy != tf.data.experimental.AutoShardPolicy.AUTO:
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def _step_function(strategy, step):
    """One distributed step: `step` on each replica, logs averaged."""

    @tf.function
    def run(iterator):
        logs = strategy.run(step, args=(next(iterator),))
        return {
            name: strategy.reduce("MEAN", value, axis=None)
            for name, value in logs.items()
        }

    return run


def _multi_worker_fit(
    model,
    strategy,
    dataset,
    epochs,
    steps_per_epoch,
    validation_data,
    validation_steps,
    callbacks,
    verbose,
    initial_epoch,
):
    if model.jit_compile is True:
        # The step's cross-worker collectives (the optimizer's, MoCo's
        # all-gather) have no XLA kernels on TF 2.21 (CollectiveGatherV2
        # on XLA_CPU_JIT), so the step runs as a plain graph.
        warnings.warn(
            "Under MultiWorkerMirroredStrategy the train step runs without "
            "XLA: XLA cannot compile its cross-worker collective ops. "
            "Received: jit_compile=True",
            stacklevel=3,
        )
    train = _step_function(strategy, model.train_step)
    test = _step_function(strategy, model.test_step)
    if not isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks = keras.callbacks.CallbackList(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            verbose=verbose,
            epochs=epochs,
            steps=steps_per_epoch,
            model=model,
        )
    iterator = iter(strategy.experimental_distribute_dataset(_sharded(dataset)))
    model.stop_training = False
    model._initial_epoch = None
    callbacks.on_train_begin()
    # A restoring callback (BackupAndRestore) says where the run resumes.
    initial_epoch = model._initial_epoch or initial_epoch
    logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callbacks.on_epoch_begin(epoch)
        for step in range(steps_per_epoch):
            callbacks.on_train_batch_begin(step)
            logs = train(iterator)
            callbacks.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        epoch_logs = {name: float(value) for name, value in logs.items()}
        if validation_data is not None:
            val_logs = _evaluate(
                model, strategy, test, validation_data, validation_steps
            )
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        callbacks.on_epoch_end(epoch, epoch_logs)
        logs = epoch_logs
        if model.stop_training:
            break
    callbacks.on_train_end(logs)
    return next(
        c for c in callbacks.callbacks if isinstance(c, keras.callbacks.History)
    )


def _evaluate(model, strategy, test, dataset, steps):
    model.reset_metrics()
    steps = steps or _known_size(dataset, "validation_steps")
    iterator = iter(strategy.experimental_distribute_dataset(_sharded(dataset)))
    logs = {}
    for _ in range(steps):
        logs = test(iterator)
    model.reset_metrics()
    return {name: float(value) for name, value in logs.items()}


def split_cpu(num_devices):
    """Splits the physical CPU into `num_devices` logical devices.

    Lets `MirroredStrategy` run several replicas on a machine without
    GPUs (tests, debugging). Must be called before TensorFlow initialises
    its devices, i.e. before the first op runs.
    """
    if num_devices < 1:
        raise ValueError(
            "`num_devices` must be a positive integer. "
            f"Received: num_devices={num_devices}"
        )
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices
    )
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def replica_scaled(loss):
    """Scales a per-replica mean loss so that summed gradients average.

    Under a strategy with N replicas, gradients are summed across
    replicas, so a loss averaged over the local batch must be divided by N
    to give the gradient of the global-batch mean. Outside a strategy, N is
    1 and the loss is returned unchanged.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / tf.cast(replicas, loss.dtype)
