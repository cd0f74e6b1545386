"""Choosing a `tf.distribute` strategy from a recipe flag.

Recipes expose `--strategy {default,mirrored,multi_worker}` and call
`get_strategy(flag)`; models, optimizers and variables are then created
inside `with strategy.scope():`.

- `default`: TensorFlow's default strategy (one device, no replication).
- `mirrored`: `tf.distribute.MirroredStrategy` over all local GPUs (or the
  devices given), synchronous data parallelism on one machine.
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, configured
  from the `TF_CONFIG` environment variable, across machines.

Objectives with a hand-written loss in `train_step` divide it by
`num_replicas_in_sync` before taking gradients (gradients are summed
across replicas) and report the unscaled value; see `replica_scaled`.
"""

import json
import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker")


def get_strategy(name="default", devices=None):
    """Returns the `tf.distribute.Strategy` named by `name`.

    Args:
        name: str. One of `"default"`, `"mirrored"`, `"multi_worker"`.
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
