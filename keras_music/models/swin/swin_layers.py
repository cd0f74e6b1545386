"""Blocks of the Swin Transformer backbone.

The blocks keep tokens on their 2-D grid, `(batch, height, width,
channels)` with height = frequency and width = time, so that padding,
window partition, shifting and patch merging are plain reshapes of the
grid. Every block knows its grid size statically (from the input shape
at build time): the attention masks and relative position indices are
NumPy constants computed once.

Reference:
    Liu et al., "Swin Transformer: Hierarchical Vision Transformer using
    Shifted Windows", ICCV 2021, Sections 3.1-3.2.
"""

import keras
import numpy as np
from keras import ops

from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.layers.validation import check_probability

# Added to the attention logits between tokens that come from different
# regions of a shifted window; large enough that softmax gives them ~0
# weight (exp(-100) ~ 4e-44), the value the reference uses.
MASK_VALUE = -100.0


def relative_position_index(window_size):
    """Index into the `((2w-1)^2, heads)` bias table, shape `(w^2, w^2)`.

    Token `i` at `(r_i, c_i)` and token `j` at `(r_j, c_j)` of a window
    (row-major) get the entry `(r_i - r_j + w - 1) * (2w - 1) + (c_i - c_j
    + w - 1)`: one entry per relative offset, shared by all windows.
    """
    rows, cols = np.meshgrid(
        np.arange(window_size), np.arange(window_size), indexing="ij"
    )
    rows, cols = rows.reshape(-1), cols.reshape(-1)
    d_row = rows[:, None] - rows[None, :] + window_size - 1
    d_col = cols[:, None] - cols[None, :] + window_size - 1
    return (d_row * (2 * window_size - 1) + d_col).astype("int32")


def shifted_window_mask(height, width, window_size, shift_size):
    """Attention mask `(num_windows, w^2, w^2)` of a cyclically shifted grid.

    After rolling the (padded) grid by `-shift` along both axes, a window
    on the bottom or right edge holds tokens from up to four regions that
    were not neighbours in the spectrogram; pairs of tokens from different
    regions get `MASK_VALUE`, pairs from the same region 0.
    """
    regions = np.zeros((height, width), dtype="int32")
    bounds = (
        slice(0, -window_size),
        slice(-window_size, -shift_size),
        slice(-shift_size, None),
    )
    label = 0
    for rows in bounds:
        for cols in bounds:
            regions[rows, cols] = label
            label += 1
    windows = regions.reshape(
        height // window_size, window_size, width // window_size, window_size
    )
    windows = windows.transpose(0, 2, 1, 3).reshape(-1, window_size**2)
    different = windows[:, None, :] != windows[:, :, None]
    return np.where(different, MASK_VALUE, 0.0).astype("float32")


@keras.saving.register_keras_serializable(package="keras_music")
class DropPath(keras.layers.Layer):
    """Stochastic depth: drops a whole residual branch per example.

    During training each example's branch is zeroed with probability
    `rate` and the survivors are scaled by `1 / (1 - rate)`, so the
    expected output is unchanged; at inference it is the identity.

    Args:
        rate: float. Probability of dropping the branch. Defaults to 0.0.
        seed: int or None. Seed of the random draws. Defaults to None.

    Example:

    >>> layer = DropPath(rate=0.1)
    >>> layer(np.ones((2, 4, 8), "float32")).shape
    TensorShape([2, 4, 8])

    Input shape:
        Any tensor `(batch, ...)`.

    Output shape:
        Same as the input.

    Reference:
        Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_probability("rate", rate)
        if self.rate == 1.0:
            raise ValueError(
                "`rate` must be below 1 (nothing would survive). "
                f"Received: rate={rate!r}"
            )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        draws = keras.random.uniform(
            shape, dtype=inputs.dtype, seed=self.seed_generator
        )
        mask = ops.cast(draws < keep, inputs.dtype)
        return inputs * mask / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_music")
class SwinPatchEmbedding(keras.layers.Layer):
    """Cuts a 1-channel spectrogram into patches and embeds them.

    The grid is zero-padded at the bottom (high frequencies) and right
    (late frames) to a multiple of `patch_size`, then a Conv2D with
    kernel = stride = `patch_size` embeds each patch, followed by a
    LayerNorm.

    Args:
        embed_dim: int. Embedding width. Defaults to 96.
        patch_size: int. Patch height and width. Defaults to 4.
        layer_norm_epsilon: float. LayerNorm epsilon. Defaults to 1e-5.

    Example:

    >>> layer = SwinPatchEmbedding(embed_dim=16)
    >>> layer(np.zeros((2, 32, 48, 1), "float32")).shape
    TensorShape([2, 8, 12, 16])

    Input shape:
        `(batch, height, width, channels)`.

    Output shape:
        `(batch, ceil(height / patch_size), ceil(width / patch_size),
        embed_dim)`.

    Reference:
        Liu et al., ICCV 2021, Section 3.1 ("patch partition", "linear
        embedding").
    """

    def __init__(
        self, embed_dim=96, patch_size=4, layer_norm_epsilon=1e-5, **kwargs
    ):
        super().__init__(**kwargs)
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        self.patch_size = check_positive_int("patch_size", patch_size)
        self.layer_norm_epsilon = check_positive(
            "layer_norm_epsilon", layer_norm_epsilon
        )
        self.projection = keras.layers.Conv2D(
            embed_dim,
            patch_size,
            strides=patch_size,
            dtype=self.dtype_policy,
            name="projection",
        )
        self.norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="norm"
        )

    def _padding(self, input_shape):
        p = self.patch_size
        return [(-size) % p for size in input_shape[1:3]]

    def build(self, input_shape):
        pad_h, pad_w = self._padding(input_shape)
        padded = (
            input_shape[0],
            input_shape[1] + pad_h,
            input_shape[2] + pad_w,
            input_shape[3],
        )
        self.projection.build(padded)
        self.norm.build(self.projection.compute_output_shape(padded))

    def call(self, inputs):
        pad_h, pad_w = self._padding(inputs.shape)
        if pad_h or pad_w:
            inputs = ops.pad(inputs, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
        return self.norm(self.projection(inputs))

    def compute_output_shape(self, input_shape):
        p = self.patch_size
        return (
            input_shape[0],
            -(-input_shape[1] // p),
            -(-input_shape[2] // p),
            self.embed_dim,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embed_dim": self.embed_dim,
                "patch_size": self.patch_size,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_music")
class SwinWindowAttention(keras.layers.Layer):
    """Multi-head self-attention inside windows, with relative position bias.

    Attention is `softmax(q k^T / sqrt(d) + B + M) v` per window, where
    `B` comes from a learned table of `(2w - 1)^2` entries per head (one
    per relative offset inside a window) and `M` is an optional additive
    mask per window (the shifted-window mask).

    Args:
        dim: int. Token width `C`. Defaults to 96.
        num_heads: int. Attention heads; must divide `dim`. Defaults to 3.
        window_size: int. Window height and width `w`. Defaults to 8.
        qkv_bias: bool. Whether the query/key/value projection has a
            bias. Defaults to True.

    Example:

    >>> layer = SwinWindowAttention(dim=16, num_heads=2, window_size=4)
    >>> layer(np.zeros((2, 3, 16, 16), "float32")).shape
    TensorShape([2, 3, 16, 16])

    Input shape:
        `(batch, num_windows, w * w, dim)`, and optionally `attention_mask` of
        shape `(num_windows, w * w, w * w)`.

    Output shape:
        `(batch, num_windows, w * w, dim)`.

    Reference:
        Liu et al., ICCV 2021, Section 3.2 (Eq. 4, "relative position
        bias").
    """

    def __init__(
        self, dim=96, num_heads=3, window_size=8, qkv_bias=True, **kwargs
    ):
        super().__init__(**kwargs)
        self.dim = check_positive_int("dim", dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        if dim % num_heads:
            raise ValueError(
                "`dim` must be divisible by `num_heads`. "
                f"Received: dim={dim}, num_heads={num_heads}"
            )
        self.window_size = check_positive_int("window_size", window_size)
        self.qkv_bias = bool(qkv_bias)
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.bias_index = relative_position_index(window_size).reshape(-1)
        self.qkv = keras.layers.Dense(
            3 * dim, use_bias=qkv_bias, dtype=self.dtype_policy, name="qkv"
        )
        self.proj = keras.layers.Dense(
            dim, dtype=self.dtype_policy, name="proj"
        )

    def build(self, input_shape):
        # The reference initialises the table with a truncated normal of
        # standard deviation 0.02, like its other weights.
        self.relative_position_bias_table = self.add_weight(
            shape=((2 * self.window_size - 1) ** 2, self.num_heads),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="relative_position_bias_table",
        )
        self.qkv.build(input_shape)
        self.proj.build(input_shape)

    def relative_position_bias(self):
        n = self.window_size**2
        bias = ops.take(self.relative_position_bias_table, self.bias_index, 0)
        return ops.transpose(
            ops.reshape(bias, (n, n, self.num_heads)), (2, 0, 1)
        )

    def call(self, inputs, attention_mask=None):
        num_windows, n = inputs.shape[1], inputs.shape[2]
        qkv = ops.reshape(
            self.qkv(inputs),
            (-1, num_windows, n, 3, self.num_heads, self.head_dim),
        )
        # -> (3, batch, windows, heads, tokens, head_dim)
        qkv = ops.transpose(qkv, (3, 0, 1, 4, 2, 5))
        query, key, value = qkv[0] * self.scale, qkv[1], qkv[2]
        logits = ops.matmul(query, ops.swapaxes(key, -1, -2))
        bias = ops.cast(self.relative_position_bias(), logits.dtype)
        logits = logits + bias[None, None]
        if attention_mask is not None:
            mask = ops.cast(attention_mask, logits.dtype)
            logits = logits + mask[None, :, None]
        weights = ops.softmax(logits, axis=-1)
        outputs = ops.matmul(weights, value)
        outputs = ops.reshape(
            ops.transpose(outputs, (0, 1, 3, 2, 4)),
            (-1, num_windows, n, self.dim),
        )
        return self.proj(outputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dim": self.dim,
                "num_heads": self.num_heads,
                "window_size": self.window_size,
                "qkv_bias": self.qkv_bias,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_music")
class SwinTransformerBlock(keras.layers.Layer):
    """One (shifted) window attention block with its MLP.

    `x + DropPath(W-MSA(LN(x)))` then `x + DropPath(MLP(LN(x)))`. The
    normalised grid is zero-padded at the bottom/right to a multiple of
    the window, cyclically rolled by `-shift_size` (shifted blocks), cut
    into windows, attended (with the region mask when shifted), put back,
    rolled by `+shift_size` and cropped, as in the reference.

    Args:
        dim: int. Token width. Defaults to 96.
        num_heads: int. Attention heads. Defaults to 3.
        window_size: int. Window height and width. Defaults to 8.
        shift_size: int. Cyclic shift, 0 for a regular block, usually
            `window_size // 2` for a shifted one; `0 <= shift_size <
            window_size`. Defaults to 0.
        mlp_ratio: float. MLP hidden width over `dim`. Defaults to 4.0.
        qkv_bias: bool. Bias in the query/key/value projection. Defaults
            to True.
        drop_path_rate: float. Stochastic depth rate of both residual
            branches. Defaults to 0.0.
        layer_norm_epsilon: float. LayerNorm epsilon. Defaults to 1e-5.

    Example:

    >>> block = SwinTransformerBlock(16, 2, window_size=4, shift_size=2)
    >>> block(np.zeros((2, 8, 12, 16), "float32")).shape
    TensorShape([2, 8, 12, 16])

    Input shape:
        `(batch, height, width, dim)`, static height and width.

    Output shape:
        Same as the input.

    Reference:
        Liu et al., ICCV 2021, Section 3.2 (Eq. 3, "shifted window
        partitioning", "efficient batch computation for shifted
        configuration").
    """

    def __init__(
        self,
        dim=96,
        num_heads=3,
        window_size=8,
        shift_size=0,
        mlp_ratio=4.0,
        qkv_bias=True,
        drop_path_rate=0.0,
        layer_norm_epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dim = check_positive_int("dim", dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.window_size = check_positive_int("window_size", window_size)
        if (
            isinstance(shift_size, bool)
            or not isinstance(shift_size, (int, np.integer))
            or not 0 <= shift_size < window_size
        ):
            raise ValueError(
                "`shift_size` must be an integer in [0, window_size). "
                f"Received: shift_size={shift_size!r}, "
                f"window_size={window_size}"
            )
        self.shift_size = int(shift_size)
        self.mlp_ratio = check_positive("mlp_ratio", mlp_ratio)
        self.qkv_bias = bool(qkv_bias)
        self.drop_path_rate = check_probability(
            "drop_path_rate", drop_path_rate
        )
        self.layer_norm_epsilon = check_positive(
            "layer_norm_epsilon", layer_norm_epsilon
        )
        policy = self.dtype_policy
        self.norm1 = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="norm1"
        )
        self.attn = SwinWindowAttention(
            dim, num_heads, window_size, qkv_bias, dtype=policy, name="attn"
        )
        self.norm2 = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="norm2"
        )
        hidden = int(dim * mlp_ratio)
        # Keras' "gelu" is the exact (erf) GELU, as in the reference.
        self.fc1 = keras.layers.Dense(
            hidden,
            activation="gelu",
            dtype=policy,
            name="fc1",
        )
        self.fc2 = keras.layers.Dense(dim, dtype=policy, name="fc2")
        self.drop_path = DropPath(self.drop_path_rate, dtype=policy)

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        if height is None or width is None:
            raise ValueError(
                "SwinTransformerBlock needs a static height and width. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        w = self.window_size
        self.padded_size = (height + (-height) % w, width + (-width) % w)
        num_windows = (self.padded_size[0] // w) * (self.padded_size[1] // w)
        self.mask = None
        if self.shift_size:
            self.mask = shifted_window_mask(
                *self.padded_size, w, self.shift_size
            )
        self.norm1.build(input_shape)
        self.attn.build((None, num_windows, w * w, self.dim))
        self.norm2.build(input_shape)
        self.fc1.build(input_shape)
        self.fc2.build(tuple(input_shape[:-1]) + (self.fc1.units,))

    def _window_attention(self, x):
        height, width = x.shape[1], x.shape[2]
        hp, wp = self.padded_size
        w, s = self.window_size, self.shift_size
        if (hp, wp) != (height, width):
            x = ops.pad(x, [[0, 0], [0, hp - height], [0, wp - width], [0, 0]])
        if s:
            x = ops.roll(x, shift=(-s, -s), axis=(1, 2))
        windows = ops.reshape(x, (-1, hp // w, w, wp // w, w, self.dim))
        windows = ops.transpose(windows, (0, 1, 3, 2, 4, 5))
        windows = ops.reshape(
            windows, (-1, (hp // w) * (wp // w), w * w, self.dim)
        )
        windows = self.attn(windows, attention_mask=self.mask)
        x = ops.reshape(windows, (-1, hp // w, wp // w, w, w, self.dim))
        x = ops.reshape(
            ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, hp, wp, self.dim)
        )
        if s:
            x = ops.roll(x, shift=(s, s), axis=(1, 2))
        return x[:, :height, :width, :]

    def call(self, inputs, training=False):
        x = self._window_attention(self.norm1(inputs))
        x = inputs + self.drop_path(x, training=training)
        y = self.fc2(self.fc1(self.norm2(x)))
        return x + self.drop_path(y, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dim": self.dim,
                "num_heads": self.num_heads,
                "window_size": self.window_size,
                "shift_size": self.shift_size,
                "mlp_ratio": self.mlp_ratio,
                "qkv_bias": self.qkv_bias,
                "drop_path_rate": self.drop_path_rate,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_music")
class SwinPatchMerging(keras.layers.Layer):
    """Halves the grid and doubles the width between stages.

    Each 2x2 group of neighbours is concatenated in the reference's order
    (rows/cols (even, even), (odd, even), (even, odd), (odd, odd)) to
    `4C`, normalised by LayerNorm(4C) and projected by a bias-free
    Dense(2C). Odd heights/widths are zero-padded by one at the bottom /
    right first.

    Args:
        dim: int. Input width `C`. Defaults to 96.
        layer_norm_epsilon: float. LayerNorm epsilon. Defaults to 1e-5.

    Example:

    >>> layer = SwinPatchMerging(dim=16)
    >>> layer(np.zeros((2, 8, 5, 16), "float32")).shape
    TensorShape([2, 4, 3, 32])

    Input shape:
        `(batch, height, width, dim)`.

    Output shape:
        `(batch, ceil(height / 2), ceil(width / 2), 2 * dim)`.

    Reference:
        Liu et al., ICCV 2021, Section 3.1 ("patch merging").
    """

    def __init__(self, dim=96, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.dim = check_positive_int("dim", dim)
        self.layer_norm_epsilon = check_positive(
            "layer_norm_epsilon", layer_norm_epsilon
        )
        self.norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="norm"
        )
        self.reduction = keras.layers.Dense(
            2 * dim, use_bias=False, dtype=self.dtype_policy, name="reduction"
        )

    def build(self, input_shape):
        self.norm.build((None, None, None, 4 * self.dim))
        self.reduction.build((None, None, None, 4 * self.dim))

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        pad_h, pad_w = height % 2, width % 2
        if pad_h or pad_w:
            inputs = ops.pad(inputs, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
        x = ops.concatenate(
            [
                inputs[:, 0::2, 0::2],
                inputs[:, 1::2, 0::2],
                inputs[:, 0::2, 1::2],
                inputs[:, 1::2, 1::2],
            ],
            axis=-1,
        )
        return self.reduction(self.norm(x))

    def compute_output_shape(self, input_shape):
        return (
            input_shape[0],
            None if input_shape[1] is None else -(-input_shape[1] // 2),
            None if input_shape[2] is None else -(-input_shape[2] // 2),
            2 * self.dim,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {"dim": self.dim, "layer_norm_epsilon": self.layer_norm_epsilon}
        )
        return config
