"""PyTorch's bicubic interpolation (`F.interpolate(mode="bicubic",
align_corners=False)`) in NumPy, for resizing encodings as the official
code does when it loads a checkpoint into another grid."""

import numpy as np


def torch_bicubic_resize_axis(x, size, axis, a=-0.75):
    """Bicubic convolution along one axis, like torch's `interpolate`.

    Half-pixel centres (`align_corners=False`), the Keys kernel with
    `a = -0.75` (torch's constant) and edge samples repeated.
    """
    length = x.shape[axis]
    source = (np.arange(size) + 0.5) * (length / size) - 0.5
    base = np.floor(source).astype("int64")
    t = source - base

    def kernel(d):
        d = np.abs(d)
        near = ((a + 2) * d - (a + 3)) * d * d + 1
        far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        return np.where(d <= 1, near, np.where(d < 2, far, 0.0))

    result = 0.0
    for offset in (-1, 0, 1, 2):
        index = np.clip(base + offset, 0, length - 1)
        weight = kernel(t - offset)
        shape = [1] * x.ndim
        shape[axis] = size
        result = result + np.take(x, index, axis=axis) * weight.reshape(shape)
    return result
