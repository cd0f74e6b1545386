"""Argument, array and tensor checks shared by keras_music.

Used wherever input crosses a public boundary: layer arguments, audio
given to the data pipeline, labels and scores given to the metrics.

Argument checks raise `ValueError` naming the argument and echoing the
value. Tensor checks raise `ValueError` for what is known statically (rank,
static length) and, at run time, for values (non-finite, too short): in
eager mode as a `ValueError`; inside a traced graph (tf.data, SavedModel) as
an `InvalidArgumentError` carrying the same message, because a graph cannot
raise Python exceptions.
"""

import numpy as np
import tensorflow as tf


def _check_int_at_least(name, value, low, kind):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < low
    ):
        raise ValueError(
            f"`{name}` must be a {kind} integer. Received: {name}={value!r}"
        )
    return int(value)


def check_positive_int(name, value):
    """An integer (not a bool) of 1 or more, returned as `int`."""
    return _check_int_at_least(name, value, 1, "positive")


def check_non_negative_int(name, value):
    """An integer (not a bool) of 0 or more, returned as `int`."""
    return _check_int_at_least(name, value, 0, "non-negative")


def check_positive_int_tuple(name, value):
    """A non-empty sequence of positive integers, returned as a tuple."""
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    if not items or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
        for v in items
    ):
        raise ValueError(
            f"`{name}` must be a non-empty sequence of positive integers. "
            f"Received: {name}={value!r}"
        )
    return tuple(int(v) for v in items)


def check_positive(name, value):
    if isinstance(value, bool) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise ValueError(
            f"`{name}` must be a positive number. Received: {name}={value!r}"
        )
    if not np.isfinite(value) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive number. Received: {name}={value!r}"
        )
    return value


def check_probability(name, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not 0.0 <= float(value) <= 1.0
    ):
        raise ValueError(
            f"`{name}` must be a probability in [0, 1]. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def check_range(name, value, low=-np.inf, high=np.inf):
    """A `(min, max)` pair with `low <= min <= max <= high`."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a pair (min, max). Received: {name}={value!r}"
        ) from None
    if not (low <= lo <= hi <= high):
        raise ValueError(
            f"`{name}` must satisfy {low} <= min <= max <= {high}. "
            f"Received: {name}={value!r}"
        )
    return lo, hi


def check_rank(x, ranks, name):
    """Raises if the static rank of `x` is known and not in `ranks`."""
    rank = len(x.shape) if x.shape is not None else None
    if rank is not None and rank not in ranks:
        expected = " or ".join(str(r) for r in ranks)
        raise ValueError(
            f"{name} must have rank {expected}. "
            f"Received: shape={tuple(x.shape)}"
        )


def check_audio(x, name, min_length=1, check_values=True):
    """Checks a batch of mono audio `(batch, samples)` or `(samples,)`.

    Static problems raise `ValueError` at once. Values (length below
    `min_length`, NaN or infinity) are checked at run time when
    `check_values` is set; pass `False` where the graph must stay free of
    assertion ops (TFLite export).
    """
    check_rank(x, (1, 2), name)
    length = x.shape[-1]
    if length is not None and length < min_length:
        raise ValueError(
            f"{name} must have at least {min_length} samples. "
            f"Received: shape={tuple(x.shape)}"
        )
    if not check_values:
        return x
    if tf.executing_eagerly():
        values = np.asarray(x)
        if values.shape[-1] < min_length:
            raise ValueError(
                f"{name} must have at least {min_length} samples. "
                f"Received: shape={values.shape}"
            )
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} contains NaN or infinite values.")
        return x
    checks = [
        tf.debugging.assert_greater_equal(
            tf.shape(x)[-1],
            min_length,
            message=f"{name} must have at least {min_length} samples.",
        ),
        tf.debugging.Assert(
            tf.reduce_all(tf.math.is_finite(x)),
            [f"{name} contains NaN or infinite values."],
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(x)


def check_finite_array(name, values):
    """`values` as a NumPy array of numbers, all finite."""
    values = np.asarray(values)
    if values.dtype.kind not in "biuf":
        raise ValueError(
            f"`{name}` must be an array of numbers. "
            f"Received: {name}.dtype={values.dtype}"
        )
    finite = np.isfinite(values)
    if not np.all(finite):
        raise ValueError(
            f"`{name}` must be finite: {values.size - finite.sum()} of its "
            f"{values.size} values are NaN or infinite. "
            f"Received: {name}.shape={values.shape}"
        )
    return values


def check_class_indices(name, values, num_classes=None):
    """Finite integer class indices in `[0, num_classes)`, as int64."""
    values = check_finite_array(name, values)
    fractional = values != np.round(values)
    if np.any(fractional):
        raise ValueError(
            f"`{name}` must be integer class indices (for scores or "
            f"probabilities, pass their argmax). Received: {name} with "
            f"values such as {values[fractional][:3].tolist()}"
        )
    values = values.astype(np.int64)
    high = np.inf if num_classes is None else num_classes
    outside = (values < 0) | (values >= high)
    if np.any(outside):
        expected = (
            "0 or more"
            if num_classes is None
            else (f"in [0, {num_classes - 1}]")
        )
        raise ValueError(
            f"`{name}` must be class indices {expected}. Received: {name} "
            f"with values {sorted(set(values[outside].tolist()))[:5]}"
        )
    return values


def check_binary(name, values, mask=None, hint=""):
    """A 0/1 array (where `mask` is set) as bool; NaN is refused anywhere."""
    values = check_finite_array(name, values)
    known = values if mask is None else values[mask]
    bad = (known != 0) & (known != 1)
    if np.any(bad):
        where = "" if mask is None else " where `mask` is set"
        raise ValueError(
            f"`{name}` must hold 0 or 1{where}{hint}. Received: {name} with "
            f"values such as {np.unique(known[bad])[:3].tolist()}"
        )
    return values > 0.5


def check_same_shape(names, arrays):
    """Raises unless every array has the first one's shape."""
    shapes = [np.shape(a) for a in arrays]
    if any(shape != shapes[0] for shape in shapes):
        received = ", ".join(f"{n}.shape={s}" for n, s in zip(names, shapes))
        raise ValueError(
            f"{' and '.join(f'`{n}`' for n in names)} must have the same "
            f"shape. Received: {received}"
        )


# Float audio is nominally in [-1, 1]; hot masters and decoded MP3s
# overshoot by a few dB, int16 PCM passed as float by 40 dB or more.
INT16_LIKE_PEAK = 8.0


def check_float_audio(name, audio):
    """Refuses float audio whose peak says it is int16 PCM, unscaled."""
    peak = float(np.max(np.abs(audio))) if np.size(audio) else 0.0
    if peak > INT16_LIKE_PEAK:
        raise ValueError(
            f"{name} must be float samples in [-1, 1]; it peaks at {peak:g}, "
            f"more than {INT16_LIKE_PEAK:g}: int16-range samples passed as "
            "float? Divide int16 PCM by 32768."
        )
    return audio
