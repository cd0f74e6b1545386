"""Batches of two augmented views of each clip, the input of `SimCLR`."""

import tensorflow as tf

from keras_music.data.data_service import through_data_service
from keras_music.data.tfrecord_dataset import tfrecord_dataset


def view_pairs(
    directory,
    span_seconds,
    batch_size,
    make_views,
    seed,
    data_service_address=None,
):
    """Batches `(view_1, view_2)` for `SimCLR.fit`, repeated forever.

    Each track of `directory` gives a random window of `span_seconds`;
    `make_views` maps a batch of those windows to the two views (for
    CLMR, two random crops through its augmentation chain,
    `lambda audio: CLMRAugment(...)(audio, training=True)`). The
    augmentation runs in the `tf.data` pipeline, so the model only sees
    finished views.

    Args:
        directory: str. A TFRecord folder (`tfrecord_dataset`).
        span_seconds: float. Seconds of each track the views come from.
        batch_size: int. The global batch; the last partial batch is
            dropped so that replicas split every batch evenly.
        make_views: callable. `(batch, samples)` audio -> a pair of views.
        seed: int. Seed of the window positions and the shuffle.
        data_service_address: str or None. A tf.data service dispatcher
            (`"grpc://HOST:PORT"`) to run the pipeline on; None runs it
            here. Defaults to None.

    Returns:
        A prefetched `tf.data.Dataset` of `(view_1, view_2)` batches.

    Example:

    >>> augment = CLMRAugment(sample_rate=22050, crop_length=59049)
    >>> pairs = view_pairs(
    ...     "data/train", 30.0, 48, lambda a: augment(a, training=True), 0
    ... )
    """
    if not callable(make_views):
        raise ValueError(
            "`make_views` must be a callable mapping audio to two views. "
            f"Received: make_views={make_views!r}"
        )
    dataset = tfrecord_dataset(
        directory,
        segment_seconds=span_seconds,
        mode="random",
        batch_size=batch_size,
        seed=seed,
        drop_remainder=True,
        repeat=True,
    )
    dataset = dataset.map(make_views, num_parallel_calls=tf.data.AUTOTUNE)
    if data_service_address is not None:
        dataset = through_data_service(dataset, data_service_address)
    return dataset.prefetch(tf.data.AUTOTUNE)
