"""Blocks of the MAEST patchout transformer.

`MAESTPatchEmbedding` turns a log-mel spectrogram into the token sequence
`[cls, dist, patches]` (patch projection, frequency and time positional
encodings, patchout), `MAESTAttention` and `MAESTBlock` are the pre-norm
transformer blocks, `MAESTTokenPooling` reads embeddings out of a token
sequence, and `MAESTSegmenter` / `MAESTSegmentAverage` split whole tracks
into segments and average their embeddings inside one graph.
"""

import keras
import tensorflow as tf

from keras_music.layers.validation import check_non_negative_int
from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.layers.validation import check_rank


def patch_grid_size(length, patch_size, patch_stride):
    """Patches along one axis of a convolution without padding."""
    return (length - patch_size) // patch_stride + 1


def _check_freq_drop(inference_freq_drop, num_freq_patches):
    try:
        rows = tuple(sorted({int(r) for r in inference_freq_drop}))
    except (TypeError, ValueError):
        raise ValueError(
            "`inference_freq_drop` must be a list of frequency-row indices. "
            f"Received: inference_freq_drop={inference_freq_drop!r}"
        ) from None
    if any(r < 0 or r >= num_freq_patches for r in rows) or len(rows) >= (
        num_freq_patches
    ):
        raise ValueError(
            "`inference_freq_drop` must list distinct rows in "
            f"[0, {num_freq_patches}) and keep at least one. "
            f"Received: inference_freq_drop={inference_freq_drop!r}"
        )
    return rows


@keras.saving.register_keras_serializable(package="keras_music")
class MAESTPatchEmbedding(keras.layers.Layer):
    """Spectrogram to MAEST tokens, with positional encodings and patchout.

    Cuts the log-mel spectrogram into overlapping 16×16 patches (a
    convolution with stride 10, no padding), projects each to
    `hidden_dim`, adds a learned frequency encoding per patch row and a
    learned time encoding per patch column, applies patchout, flattens the
    grid frequency-major (token index `f * T + t`) and prepends the `cls`
    and `dist` tokens, each with its own positional vector.

    Inputs shorter than the model's segment use the first `T` time
    encodings at inference and a random contiguous window of them in
    training. Inputs longer than the segment raise an error: split them
    into segments first (`MAESTEmbedder` does).

    Patchout. In training, `train_time_patchout` random time columns and
    `train_freq_patchout` random frequency rows are dropped, the same ones
    for the whole batch, after the positional encodings are added (at
    least one column and one row are kept). At inference, one of every
    `inference_time_stride` time columns is kept (columns 0, k, 2k, …) and
    the rows listed in `inference_freq_drop` are dropped. The four
    settings are plain attributes read when the layer is called (or
    traced), so they can be changed on a trained model, and an exported
    graph bakes in the values set at export time.

    Args:
        num_mel_bins: int. Mel bands of the input. Defaults to 96.
        num_frames: int. Frames of one full segment; sets the length of
            the time encoding. Defaults to 1876 (MAEST-30s).
        patch_size: int. Square patch side. Defaults to 16.
        patch_stride: int. Patch stride on both axes. Defaults to 10.
        hidden_dim: int. Token width. Defaults to 768.
        train_time_patchout: int. Time columns dropped in training.
            Defaults to 0.
        train_freq_patchout: int. Frequency rows dropped in training.
            Defaults to 0.
        inference_time_stride: int. Keep one of every this many time
            columns at inference. Defaults to 1 (keep all).
        inference_freq_drop: list of int. Frequency rows (0 = lowest)
            dropped at inference. Defaults to `()`.

    Example:
    >>> layer = MAESTPatchEmbedding(num_frames=66, hidden_dim=32)
    >>> layer(np.zeros((2, 96, 66), "float32")).shape
    TensorShape([2, 56, 32])

    Input shape:
        `(batch, num_mel_bins, frames)` or `(batch, num_mel_bins, frames,
        1)` with `patch_size <= frames` and at most as many patch columns
        as `num_frames` gives.

    Output shape:
        `(batch, 2 + F' * T', hidden_dim)`, `F'`, `T'` the patch rows and
        columns left after patchout.

    Reference:
        Koutini et al., "Efficient Training of Audio Transformers with
        Patchout", Interspeech 2022, Section 2; Alonso-Jiménez et al.,
        "Efficient Supervised Training of Audio Transformers for Music
        Representation Learning", ISMIR 2023, Sections 3.2 and 4.5.
    """

    def __init__(
        self,
        num_mel_bins=96,
        num_frames=1876,
        patch_size=16,
        patch_stride=10,
        hidden_dim=768,
        train_time_patchout=0,
        train_freq_patchout=0,
        inference_time_stride=1,
        inference_freq_drop=(),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_mel_bins = check_positive_int("num_mel_bins", num_mel_bins)
        self.num_frames = check_positive_int("num_frames", num_frames)
        self.patch_size = check_positive_int("patch_size", patch_size)
        self.patch_stride = check_positive_int("patch_stride", patch_stride)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        if num_mel_bins < patch_size:
            raise ValueError(
                "`num_mel_bins` must be at least `patch_size` "
                f"({patch_size}). Received: num_mel_bins={num_mel_bins}"
            )
        if num_frames < patch_size:
            raise ValueError(
                "`num_frames` must be at least `patch_size` "
                f"({patch_size}). Received: num_frames={num_frames}"
            )
        self.num_freq_patches = patch_grid_size(
            num_mel_bins, patch_size, patch_stride
        )
        self.num_time_patches = patch_grid_size(
            num_frames, patch_size, patch_stride
        )
        self.train_time_patchout = check_non_negative_int(
            "train_time_patchout", train_time_patchout
        )
        self.train_freq_patchout = check_non_negative_int(
            "train_freq_patchout", train_freq_patchout
        )
        for name, drop, size in (
            ("train_time_patchout", train_time_patchout, self.num_time_patches),
            ("train_freq_patchout", train_freq_patchout, self.num_freq_patches),
        ):
            if drop >= size:
                raise ValueError(
                    f"`{name}` must leave at least one of the {size} "
                    f"patches of its axis (num_mel_bins={num_mel_bins}, "
                    f"num_frames={num_frames}). Received: {name}={drop}"
                )
        self.inference_time_stride = check_positive_int(
            "inference_time_stride", inference_time_stride
        )
        self.inference_freq_drop = _check_freq_drop(
            inference_freq_drop, self.num_freq_patches
        )
        self.projection = keras.layers.Conv2D(
            hidden_dim,
            patch_size,
            strides=patch_stride,
            padding="valid",
            dtype=self.dtype_policy,
            name="projection",
        )
        self.seed_generator = keras.random.SeedGenerator(
            seed=None, name="patchout_seed"
        )

    def set_inference_patchout(self, time_stride=None, freq_drop=None):
        """Changes the inference patchout; `None` keeps a setting as is."""
        if time_stride is not None:
            self.inference_time_stride = check_positive_int(
                "inference_time_stride", time_stride
            )
        if freq_drop is not None:
            self.inference_freq_drop = _check_freq_drop(
                freq_drop, self.num_freq_patches
            )

    def build(self, input_shape):
        self.projection.build((None, self.num_mel_bins, None, 1))
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.cls_token = self.add_weight(
            shape=(self.hidden_dim,), initializer=init, name="cls_token"
        )
        self.dist_token = self.add_weight(
            shape=(self.hidden_dim,), initializer=init, name="dist_token"
        )
        self.token_position = self.add_weight(
            shape=(2, self.hidden_dim), initializer=init, name="token_position"
        )
        self.freq_position = self.add_weight(
            shape=(self.num_freq_patches, self.hidden_dim),
            initializer=init,
            name="freq_position",
        )
        self.time_position = self.add_weight(
            shape=(self.num_time_patches, self.hidden_dim),
            initializer=init,
            name="time_position",
        )

    def _check_frames(self, frames):
        """Static and run-time checks of the input length in frames."""
        too_short = (
            f"MAEST input must have at least {self.patch_size} frames "
            "(one patch)."
        )
        max_frames = (
            (self.num_time_patches - 1) * self.patch_stride
            + self.patch_size
            + self.patch_stride
            - 1
        )
        too_long = (
            f"MAEST input must have at most {max_frames} frames (the "
            f"model's segment of {self.num_frames} frames, "
            f"{self.num_time_patches} patch columns). Split longer inputs "
            "into segments, e.g. with `MAESTEmbedder`."
        )
        if isinstance(frames, int):
            if frames < self.patch_size:
                raise ValueError(f"{too_short} Received: frames={frames}")
            if frames > max_frames:
                raise ValueError(f"{too_long} Received: frames={frames}")
            return []
        return [
            tf.debugging.assert_greater_equal(
                frames, self.patch_size, message=too_short
            ),
            tf.debugging.assert_less_equal(
                frames, max_frames, message=too_long
            ),
        ]

    def call(self, inputs, training=None):
        check_rank(inputs, (3, 4), "MAEST input spectrogram")
        if len(inputs.shape) == 3:
            inputs = tf.expand_dims(inputs, -1)
        if inputs.shape[1] is not None and inputs.shape[1] != (
            self.num_mel_bins
        ):
            raise ValueError(
                f"MAEST input must have {self.num_mel_bins} mel bins on "
                f"axis 1. Received: shape={tuple(inputs.shape)}"
            )
        static_frames = inputs.shape[2]
        checks = self._check_frames(
            static_frames if static_frames is not None else tf.shape(inputs)[2]
        )
        with tf.control_dependencies(checks):
            inputs = tf.identity(inputs)

        x = self.projection(tf.cast(inputs, self.compute_dtype))
        # Static sizes where known: XLA cannot slice to a dynamic size.
        num_time = _size(x, 2)
        time_position = tf.cast(self.time_position, x.dtype)
        if training:
            # A random contiguous window of the time encoding, so that
            # every encoding is trained on when segments are shorter.
            span = self.num_time_patches - num_time + 1
            start = tf.cast(
                keras.random.uniform((), seed=self.seed_generator)
                * tf.cast(span, "float32"),
                "int32",
            )
            start = tf.minimum(start, span - 1)
        else:
            start = 0
        # A gather, not a slice: XLA cannot take the gradient of a slice
        # of dynamic size (inputs of any length have a dynamic time axis).
        time_position = tf.gather(time_position, start + tf.range(num_time))
        x = x + time_position[None, None, :, :]
        x = x + tf.cast(self.freq_position, x.dtype)[None, :, None, :]

        if training:
            x = self._random_patchout(x, axis=2, drop=self.train_time_patchout)
            x = self._random_patchout(x, axis=1, drop=self.train_freq_patchout)
        else:
            if self.inference_time_stride > 1:
                x = x[:, :, :: self.inference_time_stride]
            if self.inference_freq_drop:
                keep = [
                    r
                    for r in range(self.num_freq_patches)
                    if r not in self.inference_freq_drop
                ]
                x = tf.gather(x, keep, axis=1)

        batch = tf.shape(x)[0]
        x = tf.reshape(x, (batch, -1, self.hidden_dim))
        extra = tf.stack(
            [
                tf.convert_to_tensor(self.cls_token),
                tf.convert_to_tensor(self.dist_token),
            ]
        ) + tf.convert_to_tensor(self.token_position)
        extra = tf.cast(extra, x.dtype)[None]
        extra = tf.repeat(extra, batch, axis=0)
        return tf.concat([extra, x], axis=1)

    def _random_patchout(self, x, axis, drop):
        if drop == 0:
            return x
        size = _size(x, axis)
        keep = (
            max(size - drop, 1)
            if isinstance(size, int)
            else (tf.maximum(size - drop, 1))
        )
        scores = keras.random.uniform((size,), seed=self.seed_generator)
        # One random subset for the whole batch, kept in grid order.
        kept = tf.sort(tf.math.top_k(scores, k=keep).indices)
        return tf.gather(x, kept, axis=axis)

    def compute_output_shape(self, input_shape):
        frames = input_shape[2]
        rows = self.num_freq_patches
        if frames is None:
            return (input_shape[0], None, self.hidden_dim)
        cols = patch_grid_size(frames, self.patch_size, self.patch_stride)
        # Training patchout changes the count; the symbolic shape is the
        # inference one, which is also what the functional graph records.
        cols = -(-cols // self.inference_time_stride)
        rows -= len(self.inference_freq_drop)
        return (input_shape[0], 2 + rows * cols, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_mel_bins": self.num_mel_bins,
                "num_frames": self.num_frames,
                "patch_size": self.patch_size,
                "patch_stride": self.patch_stride,
                "hidden_dim": self.hidden_dim,
                "train_time_patchout": self.train_time_patchout,
                "train_freq_patchout": self.train_freq_patchout,
                "inference_time_stride": self.inference_time_stride,
                "inference_freq_drop": list(self.inference_freq_drop),
            }
        )
        return config


# `query_chunk_size="auto"`: chunk when the whole float32 score matrix
# would exceed this many bytes, into chunks of about this many rows
# (batch x heads x queries) and at least this many queries. Measured
# with benchmarks/attention.py on a 2-core CPU (benchmarks/README.md).
AUTO_CHUNK_ABOVE_BYTES = 64 * 2**20
AUTO_CHUNK_ROWS = 1024
AUTO_CHUNK_MIN_QUERIES = 8


def check_query_chunk_size(query_chunk_size):
    if query_chunk_size is None or query_chunk_size == "auto":
        return query_chunk_size
    if (
        isinstance(query_chunk_size, bool)
        or not isinstance(query_chunk_size, int)
        or query_chunk_size < 1
    ):
        raise ValueError(
            "`query_chunk_size` must be a positive integer, 'auto' or None. "
            f"Received: query_chunk_size={query_chunk_size!r}"
        )
    return query_chunk_size


def auto_query_chunk_size(batch, heads, tokens):
    """The chunk `query_chunk_size="auto"` takes for these static sizes:
    `None` (whole) when any is unknown or the score matrix is small."""
    if None in (batch, heads, tokens):
        return None
    if batch * heads * tokens * tokens * 4 <= AUTO_CHUNK_ABOVE_BYTES:
        return None
    return max(AUTO_CHUNK_MIN_QUERIES, AUTO_CHUNK_ROWS // (batch * heads))


def attention_product(q, k, v, query_chunk_size=None):
    """`softmax(q k^T / sqrt(d)) v` over `(batch, heads, tokens, d)`
    tensors, the softmax in float32, for `query_chunk_size` queries at a
    time if given (see `MAESTAttention`)."""
    if query_chunk_size == "auto":
        query_chunk_size = auto_query_chunk_size(*q.shape[:3])
    tokens = _size(q, 2)
    if query_chunk_size is None or (
        isinstance(tokens, int) and tokens <= query_chunk_size
    ):
        return _attend(q, k, v)
    chunks = (tokens + query_chunk_size - 1) // query_chunk_size
    padded = chunks * query_chunk_size
    shape = tf.shape(q)
    q = tf.pad(q, [[0, 0], [0, 0], [0, padded - tokens], [0, 0]])
    q = tf.reshape(
        q, (shape[0], shape[1], chunks, query_chunk_size, q.shape[-1])
    )
    # One chunk after the other (parallel_iterations=1): chunks run side
    # by side would hold as much of the score matrix as no chunking.
    out = tf.map_fn(
        lambda chunk: _attend(chunk, k, v),
        tf.transpose(q, (2, 0, 1, 3, 4)),
        parallel_iterations=1,
        fn_output_signature=v.dtype,
    )
    out = tf.reshape(
        tf.transpose(out, (1, 2, 0, 3, 4)),
        (shape[0], shape[1], padded, v.shape[-1]),
    )
    # The padded queries (zeros) attended too; their rows are dropped.
    return out[:, :, :tokens]


def _attend(q, k, v):
    # The scale on q (tokens x d), not on the tokens x tokens logits: one
    # pass less over the score matrix, and the same numbers when d is a
    # power of 4 (MAEST's 64; the scale is then a power of 2).
    q = q * tf.cast(q.shape[-1] ** -0.5, q.dtype)
    logits = tf.matmul(q, k, transpose_b=True)
    # Softmax in float32: half-precision logits overflow in exp().
    weights = tf.nn.softmax(tf.cast(logits, "float32"), axis=-1)
    return tf.matmul(tf.cast(weights, v.dtype), v)


@keras.saving.register_keras_serializable(package="keras_music")
class MAESTAttention(keras.layers.Layer):
    """Multi-head self-attention with one fused `qkv` projection.

    The `qkv` projection outputs `[q; k; v]`, each head-major (head `h`
    owns features `h * head_dim … (h + 1) * head_dim - 1`), so reference
    checkpoints map onto it by a transpose.

    Query chunking. With `query_chunk_size`, the attention product is
    computed for that many queries at a time (one chunk after the other),
    so the `tokens x tokens` score matrix is never held whole: a block of
    it small enough to stay in the CPU's cache goes through the matmul,
    softmax and second matmul before the next. The result is the same
    (each query's softmax row is computed whole either way). `"auto"`
    picks the chunk from the shapes when the layer is traced: whole when
    the batch size is not static or the float32 score matrix is at most
    64 MiB, else about 1024 rows (`batch * heads * query_chunk_size`),
    at least 8 queries, what `benchmarks/attention.py` measured fastest
    on a CPU at 1685 tokens; at 173 tokens (inference patchout T=10)
    chunking was slower. Off by default: it saves no training memory
    (the gradient keeps every chunk's weights). Like inference patchout
    it is a plain attribute read when the layer is called or traced.

    Args:
        hidden_dim: int. Token width. Defaults to 768.
        num_heads: int. Attention heads; must divide `hidden_dim`.
            Defaults to 12.
        query_chunk_size: int, `"auto"` or None. Queries per chunk of the
            attention product; `None` computes it whole. Defaults to
            `None`.

    Example:
    >>> MAESTAttention(32, 2)(np.zeros((1, 5, 32), "float32")).shape
    TensorShape([1, 5, 32])
    >>> layer = MAESTAttention(32, 2, query_chunk_size=2)
    >>> layer(np.zeros((1, 5, 32), "float32")).shape
    TensorShape([1, 5, 32])

    Input shape:
        `(batch, tokens, hidden_dim)`.

    Output shape:
        `(batch, tokens, hidden_dim)`.

    Reference:
        Vaswani et al., "Attention Is All You Need", NeurIPS 2017,
        Section 3.2.
    """

    def __init__(
        self, hidden_dim=768, num_heads=12, query_chunk_size=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        if hidden_dim % num_heads:
            raise ValueError(
                "`num_heads` must divide `hidden_dim` "
                f"({hidden_dim}). Received: num_heads={num_heads}"
            )
        self.head_dim = hidden_dim // num_heads
        self.query_chunk_size = check_query_chunk_size(query_chunk_size)
        self.qkv = keras.layers.Dense(
            3 * hidden_dim, dtype=self.dtype_policy, name="qkv"
        )
        self.proj = keras.layers.Dense(
            hidden_dim, dtype=self.dtype_policy, name="proj"
        )

    def build(self, input_shape):
        self.qkv.build((None, None, self.hidden_dim))
        self.proj.build((None, None, self.hidden_dim))

    def call(self, inputs):
        batch, tokens = tf.shape(inputs)[0], tf.shape(inputs)[1]
        qkv = self.qkv(inputs)
        qkv = tf.reshape(qkv, (batch, tokens, 3, self.num_heads, self.head_dim))
        q, k, v = tf.unstack(tf.transpose(qkv, (2, 0, 3, 1, 4)))
        out = attention_product(q, k, v, self.query_chunk_size)
        out = tf.reshape(
            tf.transpose(out, (0, 2, 1, 3)), (batch, tokens, self.hidden_dim)
        )
        return self.proj(out)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "query_chunk_size": self.query_chunk_size,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_music")
class MAESTBlock(keras.layers.Layer):
    """Pre-norm transformer block: `x + attn(ln1(x))`, `x + mlp(ln2(x))`.

    The MLP is `fc1 → GELU (exact, erf) → fc2`.

    Args:
        hidden_dim: int. Token width. Defaults to 768.
        num_heads: int. Attention heads. Defaults to 12.
        intermediate_dim: int. Hidden width of the MLP. Defaults to 3072.
        layer_norm_epsilon: float. LayerNorm epsilon. Defaults to 1e-6.
        query_chunk_size: int, `"auto"` or None. Queries per chunk of the
            attention product (see `MAESTAttention`). Defaults to `None`.

    Example:
    >>> MAESTBlock(32, 2, 64)(np.zeros((1, 5, 32), "float32")).shape
    TensorShape([1, 5, 32])

    Input shape:
        `(batch, tokens, hidden_dim)`.

    Output shape:
        `(batch, tokens, hidden_dim)`.

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021,
        Section 3.1 (Eq. 2–3).
    """

    def __init__(
        self,
        hidden_dim=768,
        num_heads=12,
        intermediate_dim=3072,
        layer_norm_epsilon=1e-6,
        query_chunk_size=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.intermediate_dim = check_positive_int(
            "intermediate_dim", intermediate_dim
        )
        self.layer_norm_epsilon = check_positive(
            "layer_norm_epsilon", layer_norm_epsilon
        )
        policy = self.dtype_policy
        self.norm1 = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="norm1"
        )
        self.attention = MAESTAttention(
            hidden_dim,
            num_heads,
            query_chunk_size=query_chunk_size,
            dtype=policy,
            name="attention",
        )
        self.norm2 = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=policy, name="norm2"
        )
        self.fc1 = keras.layers.Dense(
            intermediate_dim, dtype=policy, name="fc1"
        )
        self.fc2 = keras.layers.Dense(hidden_dim, dtype=policy, name="fc2")

    def build(self, input_shape):
        shape = (None, None, self.hidden_dim)
        self.norm1.build(shape)
        self.attention.build(shape)
        self.norm2.build(shape)
        self.fc1.build(shape)
        self.fc2.build((None, None, self.intermediate_dim))

    @property
    def query_chunk_size(self):
        return self.attention.query_chunk_size

    @query_chunk_size.setter
    def query_chunk_size(self, value):
        self.attention.query_chunk_size = check_query_chunk_size(value)

    def call(self, inputs):
        x = inputs + self.attention(self.norm1(inputs))
        h = keras.activations.gelu(self.fc1(self.norm2(x)), approximate=False)
        return x + self.fc2(h)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "query_chunk_size": self.query_chunk_size,
            }
        )
        return config


def set_query_chunk_size(model, query_chunk_size):
    """Sets `query_chunk_size` on every `MAESTBlock` of `model` (nested
    models included); functions traced after the call use it."""
    check_query_chunk_size(query_chunk_size)
    for layer in model.layers:
        if isinstance(layer, MAESTBlock):
            layer.query_chunk_size = query_chunk_size
        elif isinstance(layer, keras.Model):
            set_query_chunk_size(layer, query_chunk_size)


TOKEN_KINDS = ("cls", "dist", "avg", "stack", "cls_dist")


@keras.saving.register_keras_serializable(package="keras_music")
class MAESTTokenPooling(keras.layers.Layer):
    """Reads an embedding out of a MAEST token sequence `[cls, dist, …]`.

    `"cls"`, `"dist"`: that token; `"avg"`: the mean of the patch tokens
    (those left after patchout); `"stack"`: the three stacked as
    `(cls, dist, avg)`, the paper's best embedding; `"cls_dist"`: the mean
    of `cls` and `dist`, what the tagging head reads.

    Args:
        token: str. One of `"cls"`, `"dist"`, `"avg"`, `"stack"`,
            `"cls_dist"`. Defaults to `"stack"`.

    Example:
    >>> MAESTTokenPooling("stack")(np.zeros((2, 10, 32), "float32")).shape
    TensorShape([2, 3, 32])

    Input shape:
        `(batch, 2 + patches, hidden_dim)`.

    Output shape:
        `(batch, 3, hidden_dim)` for `"stack"`, else `(batch, hidden_dim)`.

    Reference:
        Alonso-Jiménez et al., ISMIR 2023, Sections 3.3 and 4.1.
    """

    def __init__(self, token="stack", **kwargs):
        super().__init__(**kwargs)
        if token not in TOKEN_KINDS:
            raise ValueError(
                f"`token` must be one of {TOKEN_KINDS}. Received: "
                f"token={token!r}"
            )
        self.token = token

    def call(self, inputs):
        cls, dist = inputs[:, 0], inputs[:, 1]
        if self.token == "cls":
            return cls
        if self.token == "dist":
            return dist
        if self.token == "cls_dist":
            return (cls + dist) / 2
        avg = tf.reduce_mean(inputs[:, 2:], axis=1)
        if self.token == "avg":
            return avg
        return tf.stack([cls, dist, avg], axis=1)

    def compute_output_shape(self, input_shape):
        if self.token == "stack":
            return (input_shape[0], 3, input_shape[-1])
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"token": self.token})
        return config


@keras.saving.register_keras_serializable(package="keras_music")
class MAESTSegmenter(keras.layers.Layer):
    """Splits spectrograms into overlapping segments, as one flat batch.

    Segment `i` starts at frame `i * hop_frames`; segments continue until
    the end of the track is covered, the last one aligned with the end of
    the track (so no frame is padded and none left out). A track shorter
    than one segment gives one segment of its own length. Every track in
    the batch has the same length, so every track gives the same number
    of segments `S`; segments of track `b` are rows `b * S … b * S + S - 1`.

    Args:
        segment_frames: int. Frames per segment.
        hop_frames: int. Frames between segment starts; half of
            `segment_frames` gives the paper's half overlap.

    Example:
    >>> MAESTSegmenter(10, 5)(np.zeros((2, 4, 23), "float32")).shape
    TensorShape([8, 4, 10])

    Input shape:
        `(batch, freq, frames)`.

    Output shape:
        `(batch * segments, freq, min(frames, segment_frames))`.

    Reference:
        Alonso-Jiménez et al., ISMIR 2023, Section 3.3.
    """

    def __init__(self, segment_frames, hop_frames, **kwargs):
        super().__init__(**kwargs)
        self.segment_frames = check_positive_int(
            "segment_frames", segment_frames
        )
        self.hop_frames = check_positive_int("hop_frames", hop_frames)

    def call(self, inputs):
        check_rank(inputs, (3,), "Spectrogram to segment")
        shape = tf.shape(inputs)
        frames = shape[2]
        length = tf.minimum(frames, self.segment_frames)
        last_start = frames - length
        count = 1 + (last_start + self.hop_frames - 1) // self.hop_frames
        starts = tf.minimum(tf.range(count) * self.hop_frames, last_start)
        index = starts[:, None] + tf.range(length)[None, :]
        segments = tf.gather(inputs, index, axis=2)  # (B, F, S, L)
        segments = tf.transpose(segments, (0, 2, 1, 3))
        return tf.reshape(segments, (-1, inputs.shape[1] or shape[1], length))

    def compute_output_shape(self, input_shape):
        batch, frames = input_shape[0], input_shape[2]
        if frames is None:
            return (None, input_shape[1], None)
        length = min(frames, self.segment_frames)
        count = 1 + -(-(frames - length) // self.hop_frames)
        rows = None if batch is None else batch * count
        return (rows, input_shape[1], length)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "segment_frames": self.segment_frames,
                "hop_frames": self.hop_frames,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_music")
class MAESTSegmentAverage(keras.layers.Layer):
    """Averages per-segment embeddings back to one per track.

    Called on `[segment_embeddings, tracks]`: `tracks` (the batch that
    was segmented) only gives the batch size.

    Example:
    >>> emb = np.ones((6, 3, 32), "float32")
    >>> MAESTSegmentAverage()([emb, np.zeros((2, 96, 9))]).shape
    TensorShape([2, 3, 32])

    Input shape:
        `[(batch * segments, ...), (batch, ...)]`.

    Output shape:
        `(batch, ...)`.

    Reference:
        Alonso-Jiménez et al., ISMIR 2023, Section 3.3.
    """

    def call(self, inputs):
        embeddings, tracks = inputs
        batch = tf.shape(tracks)[0]
        shape = tf.concat([[batch, -1], tf.shape(embeddings)[1:]], axis=0)
        return tf.reduce_mean(tf.reshape(embeddings, shape), axis=1)

    def compute_output_shape(self, input_shape):
        embeddings, tracks = input_shape
        return (tracks[0],) + tuple(embeddings[1:])


def _size(x, axis):
    """`x`'s size on `axis`: a Python int when static, else a tensor."""
    static = x.shape[axis]
    return static if static is not None else tf.shape(x)[axis]
