"""What the contrastive objectives (MoCo, SimCLR) share: the encoder's
embedding width, the projection head and the two-view batches."""

import keras


def encoder_output_width(encoder):
    """The embedding width `d` of an encoder mapping inputs to `(batch, d)`."""
    try:
        spec = encoder.compute_output_spec(*encoder.inputs)
        shape = tuple(spec.shape)
    except (AttributeError, TypeError, ValueError):
        shape = None
    if shape is None or len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            "`encoder` must be a built model with inputs that outputs "
            "`(batch, d)` embeddings with a known d. "
            f"Received: encoder={encoder.name!r} with output shape {shape}"
        )
    return int(shape[-1])


def projection_head(hidden_dim, projection_dim, input_dim, name):
    """MoCo v2 / SimCLR projector: Dense -> ReLU -> Dense, built."""
    head = keras.Sequential(
        [
            keras.layers.Dense(hidden_dim, activation="relu"),
            keras.layers.Dense(projection_dim),
        ],
        name=name,
    )
    head.build((None, input_dim))
    return head


def unpack_views(data, objective):
    """The `(view_1, view_2)` pair of a batch, however Keras hands it over.

    `fit((v1, v2))` passes `(v1, v2)` as `(x, y)`; `train_on_batch((v1,
    v2))` passes `((v1, v2), None, None)`.
    """
    if isinstance(data, (tuple, list)) and len(data) in (1, 3):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(tuple(data))
        data = x if y is None else (x, y)
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(
            f"{objective} expects batches `(view_1, view_2)`. "
            f"Received: data={data!r}"
        )
    return data
