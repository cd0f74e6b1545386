"""Running a training input pipeline on tf.data service workers.

Decoding, cropping and augmenting audio is CPU work that can outgrow the
machine that trains. The tf.data service moves it to other machines: a
dispatcher hands the pipeline's graph to any number of workers, the
workers run it and stream finished batches to the trainer.
`through_data_service(dataset, "grpc://host:port")` sends a pipeline
built as usual (`tfrecord_dataset(..., repeat=True)`, then `dataset.map`
with the frontend and augmentation layers) through a running service;
`start_dispatcher` and `start_worker` start the servers in this process
(`recipes/data_service.py` runs them from the command line).

The processing mode is `"distributed_epoch"` (`ShardingPolicy.DYNAMIC`),
chosen by experiment on TensorFlow 2.21 with two workers:

- `"parallel_epochs"` (`ShardingPolicy.OFF`) runs the whole pipeline on
  every worker. The seeds are constants in the serialised graph, so two
  workers produce the same stream and the trainer sees every batch twice.
- `"distributed_epoch"` lets the dispatcher hand out the elements of the
  pipeline's source one at a time: the epoch numbers of
  `tfrecord_dataset(..., repeat=True)`, or the TFRecord shard files of a
  one-epoch `tfrecord_dataset`. Each epoch, or each record of the one
  epoch, is read by one worker.

What stays per worker: every worker runs its own copy of the graph from
the same seeds. `tfrecord_dataset` makes every random choice a stateless
function of the seed, the epoch and the record (shard order, balanced
draw, crop offset), so the worker that reads an epoch does not change
it. A source that cannot be split is run in full by every worker: a
balanced one-epoch `tfrecord_dataset` (its epoch is one draw of
`tf.data.Dataset.random`; use `repeat=True`), or `.repeat()` applied on
top of one (every worker then sends the same epochs). The Keras random
layers' `SeedGenerator` variables serialise with the graph, and each
worker advances its own copy from the same state: two workers apply the
same sequence of augmentation parameters, to different records.
"""

import re
import socket

import tensorflow as tf

PROCESSING_MODE = "distributed_epoch"
_ADDRESS = re.compile(r"^grpc://([^\s:/]+):(\d+)$")
# How long to wait for the dispatcher to accept a TCP connection. gRPC
# itself retries an unreachable dispatcher forever.
CONNECT_TIMEOUT_SECONDS = 5.0


def through_data_service(dataset, address, job_name=None):
    """Runs `dataset` on the tf.data service at `address`.

    The dataset's graph goes to the dispatcher, which splits its source
    elements dynamically among the workers (`"distributed_epoch"`: each
    TFRecord shard is read by one worker per epoch; see the module
    docstring for why and for what stays per worker). Use it on the
    training pipeline after augmentation and batching, so the workers do
    that work and send whole batches.

    Args:
        dataset: `tf.data.Dataset`. The input pipeline, finite or
            repeated.
        address: str. The dispatcher, `"grpc://HOST:PORT"`.
        job_name: str or `None`. Consumers passing the same name share
            one job (they split its elements); `None` gives this
            consumer a job of its own.

    Returns:
        A `tf.data.Dataset` with the elements of `dataset`, produced by
        the service's workers.

    Example:

    >>> dispatcher = start_dispatcher(port=0)
    >>> worker = start_worker(dispatcher.target, port=0)
    >>> remote = through_data_service(
    ...     tf.data.Dataset.range(6).batch(2), dispatcher.target
    ... )
    >>> sorted(int(x) for batch in remote for x in batch)
    [0, 1, 2, 3, 4, 5]
    """
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise ValueError(
            "`address` must be the dispatcher as 'grpc://HOST:PORT'. "
            f"Received: address={address!r}"
        )
    if job_name is not None and (not isinstance(job_name, str) or not job_name):
        raise ValueError(
            "`job_name` must be a non-empty string or None. "
            f"Received: job_name={job_name!r}"
        )
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(
            "`dataset` must be a tf.data.Dataset. "
            f"Received: dataset={type(dataset).__name__}"
        )
    _check_reachable(address, "address")
    return dataset.apply(
        tf.data.experimental.service.distribute(
            processing_mode=PROCESSING_MODE,
            service=address,
            job_name=job_name,
        )
    )


def start_dispatcher(port=0):
    """Starts a tf.data service dispatcher in this process.

    Args:
        port: int. Port to listen on; 0 picks a free one. Defaults to 0.

    Returns:
        The `tf.data.experimental.service.DispatchServer`, started; its
        `target` is the address for `through_data_service`
        (`"grpc://localhost:PORT"`) and `join()` serves until the process
        is killed.

    Example:

    >>> dispatcher = start_dispatcher(port=0)
    >>> dispatcher.target.startswith("grpc://localhost:")
    True
    """
    _check_port(port)
    return tf.data.experimental.service.DispatchServer(
        tf.data.experimental.service.DispatcherConfig(port=port)
    )


def start_worker(dispatcher_address, port=0):
    """Starts a tf.data service worker in this process.

    Args:
        dispatcher_address: str. The dispatcher, `"HOST:PORT"` or
            `"grpc://HOST:PORT"`.
        port: int. Port to listen on; 0 picks a free one. Defaults to 0.

    Returns:
        The `tf.data.experimental.service.WorkerServer`, started and
        registered with the dispatcher; `join()` serves until the process
        is killed.

    Example:

    >>> dispatcher = start_dispatcher(port=0)
    >>> worker = start_worker(dispatcher.target, port=0)
    >>> isinstance(worker, tf.data.experimental.service.WorkerServer)
    True
    """
    address = dispatcher_address
    if isinstance(address, str) and not address.startswith("grpc://"):
        address = f"grpc://{address}"
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise ValueError(
            "`dispatcher_address` must be 'HOST:PORT' or "
            "'grpc://HOST:PORT'. Received: "
            f"dispatcher_address={dispatcher_address!r}"
        )
    _check_port(port)
    _check_reachable(address, "dispatcher_address")
    return tf.data.experimental.service.WorkerServer(
        tf.data.experimental.service.WorkerConfig(
            dispatcher_address=address[len("grpc://") :], port=port
        )
    )


def _check_port(port):
    if isinstance(port, bool) or not isinstance(port, int):
        raise ValueError(f"`port` must be an int. Received: port={port!r}")
    if not 0 <= port <= 65535:
        raise ValueError(
            f"`port` must be in [0, 65535] (0: any free port). "
            f"Received: port={port}"
        )


def _check_reachable(address, name):
    """Fails within seconds, naming `address`, when nothing listens there
    (training, or a worker's registration, would wait forever)."""
    host, port = _ADDRESS.match(address).groups()
    try:
        with socket.create_connection(
            (host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS
        ):
            pass
    except OSError as error:
        raise ValueError(
            f"No tf.data service dispatcher answers at {address} "
            f"({error.strerror or error}; waited at most "
            f"{CONNECT_TIMEOUT_SECONDS:g} s): start one "
            f"(`recipes/data_service.py --role dispatcher`) or correct "
            f"`{name}`. Received: {name}={address!r}"
        ) from None
