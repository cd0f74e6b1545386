"""Tensor code shared by the spectrogram augmentation layers (private).

Every function works on a whole batch at once: random draws have a leading
batch axis, so each example gets its own mask, crop or warp without a
Python loop or `tf.map_fn` over examples. Spectrograms are handled as
`(batch, freq, frames, channels)`; `to_4d` / `from_4d` add and remove the
channel axis for rank-3 inputs.
"""

import keras
import tensorflow as tf
from keras import ops

from keras_music.layers.validation import check_range
from keras_music.layers.validation import check_rank


def to_4d(inputs, name):
    """`inputs` as float32 `(batch, freq, frames, channels)` and a flag."""
    check_rank(inputs, (3, 4), name)
    x = ops.cast(inputs, "float32")
    squeeze = len(inputs.shape) == 3
    if squeeze:
        x = ops.expand_dims(x, -1)
    return x, squeeze


def from_4d(x, squeeze, dtype):
    if squeeze:
        x = ops.squeeze(x, -1)
    return ops.cast(x, dtype)


def dim(x, axis):
    """The static size of `axis` when known, else the dynamic one."""
    size = x.shape[axis]
    return size if size is not None else ops.shape(x)[axis]


def spectrogram_output_shape(input_shape, freq=None, frames=None):
    """`input_shape` with the frequency and/or frame axis replaced."""
    shape = list(input_shape)
    if freq is not None:
        shape[1] = freq
    if frames is not None:
        shape[2] = frames
    return tuple(shape)


def uniform_int(shape, low, high, seed):
    """Integers drawn uniformly from `[low, high]`, both ends included.

    `low` and `high` may be tensors broadcastable to `shape`.
    """
    u = keras.random.uniform(shape, seed=seed)
    low = ops.cast(low, "float32")
    high = ops.cast(high, "float32")
    value = ops.floor(low + u * (high - low + 1.0))
    # `u` < 1, but float rounding could still land on `high + 1`.
    return ops.cast(ops.minimum(value, high), "int32")


def bernoulli(batch_size, p, seed):
    """`(batch,)` booleans, each True with probability `p`."""
    return keras.random.uniform((batch_size,), seed=seed) < p


def random_segment_mask(
    batch_size,
    length,
    num_range,
    width_range,
    seed,
    width_as_ratio=False,
    max_total=None,
):
    """Boolean `(batch, length)` masks made of random segments.

    Each example draws its own number of segments `N ~ U{num_range}`, and
    for each segment a width (integers `U{width_range}`, or
    `round(length * r)` with `r ~ U[width_range]` when `width_as_ratio`)
    and a start uniform over the positions where the segment fits.
    Segments may overlap. With `max_total`, segments are kept in order
    while their summed widths stay within `max_total` and the rest are
    dropped, so the masked total never exceeds `max_total`.
    """
    max_num = int(num_range[1])
    length_f = ops.cast(length, "float32")
    num = uniform_int((batch_size,), num_range[0], num_range[1], seed)
    if width_as_ratio:
        ratio = keras.random.uniform(
            (batch_size, max_num),
            minval=width_range[0],
            maxval=width_range[1],
            seed=seed,
        )
        widths = ops.cast(ops.round(ratio * length_f), "int32")
    else:
        widths = uniform_int(
            (batch_size, max_num), width_range[0], width_range[1], seed
        )
    widths = ops.minimum(widths, ops.cast(length, "int32"))
    active = ops.arange(max_num, dtype="int32")[None, :] < num[:, None]
    widths = ops.where(active, widths, 0)
    if max_total is not None:
        # The running total only grows, so this keeps a prefix of segments.
        within = ops.cumsum(widths, axis=1) <= max_total
        widths = ops.where(within, widths, 0)
    room = ops.cast(ops.cast(length, "int32") - widths + 1, "float32")
    u = keras.random.uniform((batch_size, max_num), seed=seed)
    starts = ops.cast(ops.floor(u * room), "int32")
    starts = ops.minimum(starts, ops.cast(length, "int32") - widths)
    positions = ops.arange(length, dtype="int32")[None, None, :]
    inside = (positions >= starts[:, :, None]) & (
        positions < (starts + widths)[:, :, None]
    )
    return ops.any(inside, axis=1)


def apply_mask(x, mask, axis, value):
    """Sets `x` to `value` where `mask` is True along `axis` (1 or 2)."""
    if axis == 1:
        mask = mask[:, :, None, None]
    else:
        mask = mask[:, None, :, None]
    return ops.where(mask, ops.cast(value, x.dtype), x)


def gather_frames(x, indices):
    """`x[b, :, indices[b, j], :]` as `(batch, freq, len(j), channels)`."""
    frames_first = ops.transpose(x, (0, 2, 1, 3))
    gathered = tf.gather(frames_first, indices, axis=1, batch_dims=1)
    return ops.transpose(gathered, (0, 2, 1, 3))


def gather_bins(x, indices):
    """`x[b, indices[b, i], :, :]` as `(batch, len(i), frames, channels)`."""
    return tf.gather(x, indices, axis=1, batch_dims=1)


def interpolate_frames(x, positions):
    """Linear interpolation of `x` at fractional frame `positions`.

    `positions` is `(batch, out_frames)` in frame units; values outside
    `[0, frames - 1]` are clamped to the edge frames.
    """
    last = ops.cast(ops.shape(x)[2] - 1, "float32")
    positions = ops.clip(positions, 0.0, last)
    left = ops.floor(positions)
    weight = (positions - left)[:, None, :, None]
    left = ops.cast(left, "int32")
    right = ops.minimum(left + 1, ops.cast(last, "int32"))
    return (1.0 - weight) * gather_frames(x, left) + weight * gather_frames(
        x, right
    )


def check_int_range(name, value, low=0):
    """`check_range` for a pair of integers `low <= min <= max`."""
    lo, hi = check_range(name, value, low=low)
    if not (lo.is_integer() and hi.is_integer()):
        raise ValueError(
            f"`{name}` must be a pair of integers (min, max). "
            f"Received: {name}={value!r}"
        )
    return int(lo), int(hi)
