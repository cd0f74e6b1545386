import keras
from keras import ops

from keras_music.layers.random_augmentation import SpectrogramAugmentation
from keras_music.layers.spectrogram_ops import dim
from keras_music.layers.spectrogram_ops import interpolate_frames
from keras_music.layers.validation import check_positive


@keras.saving.register_keras_serializable(package="keras_music")
class TimeWarping(SpectrogramAugmentation):
    """SpecAugment time warping, per example, in training.

    With probability `p`, a spectrogram of `T` frames is warped along
    time: an anchor frame `c ~ U[W', T - 1 - W']` moves to `c + d`, with
    the distance `d ~ U[-W', W']` (left or right by up to `W'` frames,
    `W' = min(max_warp, (T - 1) / 2)` so that short inputs still fit). The
    first and last frames stay fixed and the two sides are stretched or
    squeezed linearly: output frame `t` reads the input at

    `t * c / (c + d)` for `t < c + d`, and
    `c + (t - c - d) * (T - 1 - c) / (T - 1 - c - d)` after,

    with linear interpolation between neighbouring frames. (SpecAugment
    warps with a thin-plate spline through the same fixed points; the
    piecewise-linear map moves the same frames by the same distances.)
    Every example draws its own anchor and distance. At inference the
    layer is the identity.

    Args:
        p: float. Probability that an example is warped. Defaults to
            `0.4`.
        max_warp: float. Largest warp distance `W` in frames. Defaults to
            `10.0`.
        seed: int or `None`. Seed of the layer's random generator.
            Defaults to `None`.
        **kwargs: Base layer keyword arguments, e.g. `name`, `dtype`.

    Example:
    >>> spec = np.random.rand(4, 84, 100).astype("float32")
    >>> TimeWarping(p=1.0, seed=0)(spec, training=True).shape
    TensorShape([4, 84, 100])

    Input shape:
        `(batch, freq, frames)` or `(batch, freq, frames, channels)`.

    Output shape:
        Same as the input.

    Reference:
        - [Zhao et al., "S3T: Self-supervised pre-training with Swin
          Transformer for music classification", ICASSP 2022, §2.3](
          https://arxiv.org/abs/2202.10139)
        - [Park et al., "SpecAugment", Interspeech 2019, §2](
          https://arxiv.org/abs/1904.08779)
    """

    def __init__(self, p=0.4, max_warp=10.0, seed=None, **kwargs):
        super().__init__(p=p, seed=seed, **kwargs)
        self.max_warp = float(check_positive("max_warp", max_warp))

    def augment(self, x):
        batch = dim(x, 0)
        last = ops.cast(dim(x, 2) - 1, "float32")
        warp = ops.minimum(self.max_warp, last / 2.0)
        anchor = keras.random.uniform(
            (batch,), minval=0.0, maxval=1.0, seed=self.seed_generator
        )
        anchor = warp + anchor * (last - 2.0 * warp)
        distance = keras.random.uniform(
            (batch,), minval=-1.0, maxval=1.0, seed=self.seed_generator
        )
        distance = distance * warp
        apply = self.fires(batch)

        target = (anchor + distance)[:, None]
        anchor = anchor[:, None]
        t = ops.arange(dim(x, 2), dtype="float32")[None, :]
        # Guard the divisions: a side of length zero is never read.
        left = t * anchor / ops.maximum(target, 1e-6)
        right = anchor + (t - target) * (last - anchor) / ops.maximum(
            last - target, 1e-6
        )
        positions = ops.where(t < target, left, right)
        # Examples left alone are passed through, not re-interpolated.
        return ops.where(
            apply[:, None, None, None], interpolate_frames(x, positions), x
        )

    def get_config(self):
        config = super().get_config()
        config.update({"max_warp": self.max_warp})
        return config
