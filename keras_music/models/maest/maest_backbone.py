"""The MAEST patchout transformer backbone."""

import keras

from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.models.backbone import Backbone
from keras_music.models.maest.maest_layers import MAESTBlock
from keras_music.models.maest.maest_layers import MAESTPatchEmbedding
from keras_music.models.maest.maest_layers import set_query_chunk_size
from keras_music.models.maest.maest_presets import backbone_presets


@keras.saving.register_keras_serializable(package="keras_music")
class MAESTBackbone(Backbone):
    """MAEST: a ViT with patchout on log-mel spectrograms.

    A spectrogram `(batch, 96, frames)` (our `LogMelSpectrogram`, MAEST
    settings) is cut into 16×16 patches with stride 10, projected to
    tokens, given learned frequency and time positional encodings, thinned
    by patchout, prefixed with `cls` and `dist` tokens and run through
    pre-norm transformer blocks and a final LayerNorm. The output is the
    normalised token sequence `[cls, dist, patches]`.

    Block numbering, used everywhere in keras_music's MAEST code: block
    `n` is the `n`-th transformer block counted from 1, as in the paper
    (`k^n`, the tokens after `n` blocks; the paper's best embeddings come
    from "block 7", the output of the 7th of 12 blocks). Block 0 is the
    token sequence entering the first block. The layers are named
    `block_1 … block_{num_layers}` accordingly, and `block_output(n)` gives
    `k^n` (raw, without the final LayerNorm).

    Sizes: `MAESTBackbone.from_preset(name)` with a name of `presets`
    (`maest_5s` … `maest_30s`, `maest_small`, `maest_tiny`), randomly
    initialised; load released weights with `keras_music.convert.maest`.

    Inference patchout is set with `set_inference_patchout()` (or the
    constructor), also on a trained model; see `MAESTPatchEmbedding`.
    Query-chunked attention (the same outputs, faster on a CPU at large
    batch x token counts) with `set_query_chunk_size()` or the
    constructor; see `MAESTAttention`.

    Args:
        num_mel_bins: int. Mel bands of the input. Defaults to 96.
        num_frames: int. Frames of one segment; sets the time grid
            `(num_frames - patch_size) // patch_stride + 1`. Shorter inputs
            are accepted, longer ones raise. Defaults to 1876 (30 s).
        patch_size: int. Patch side. Defaults to 16.
        patch_stride: int. Patch stride. Defaults to 10.
        hidden_dim: int. Token width. Defaults to 768.
        num_layers: int. Transformer blocks. Defaults to 12.
        num_heads: int. Attention heads. Defaults to 12.
        intermediate_dim: int. MLP width. Defaults to 3072.
        layer_norm_epsilon: float. Epsilon of every LayerNorm. Defaults to
            1e-6.
        train_time_patchout: int. Time columns dropped in training.
            Defaults to 0.
        train_freq_patchout: int. Frequency rows dropped in training.
            Defaults to 0.
        inference_time_stride: int. Keep 1 of every k time columns at
            inference. Defaults to 1.
        inference_freq_drop: list of int. Frequency rows dropped at
            inference. Defaults to `()`.
        query_chunk_size: int, `"auto"` or None. Queries per chunk of
            every block's attention product; `None` computes it whole.
            Defaults to `None`.
        dtype: str or `keras.DTypePolicy`. Dtype policy of the layers.
            Defaults to `None` (the global policy).

    Example:
    >>> backbone = MAESTBackbone.from_preset("maest_tiny")
    >>> backbone(np.zeros((2, 96, 66), "float32")).shape
    TensorShape([2, 56, 32])

    Input shape:
        `(batch, num_mel_bins, frames)`, `patch_size <= frames`, at most
        one segment.

    Output shape:
        `(batch, 2 + patches, hidden_dim)`.

    Reference:
        Alonso-Jiménez et al., "Efficient Supervised Training of Audio
        Transformers for Music Representation Learning", ISMIR 2023,
        Section 3.2; Koutini et al., "Efficient Training of Audio
        Transformers with Patchout", Interspeech 2022.
    """

    preset_configs = backbone_presets

    def __init__(
        self,
        num_mel_bins=96,
        num_frames=1876,
        patch_size=16,
        patch_stride=10,
        hidden_dim=768,
        num_layers=12,
        num_heads=12,
        intermediate_dim=3072,
        layer_norm_epsilon=1e-6,
        train_time_patchout=0,
        train_freq_patchout=0,
        inference_time_stride=1,
        inference_freq_drop=(),
        query_chunk_size=None,
        dtype=None,
        **kwargs,
    ):
        num_layers = check_positive_int("num_layers", num_layers)
        check_positive_int("intermediate_dim", intermediate_dim)
        check_positive("layer_norm_epsilon", layer_norm_epsilon)

        # === Layers ===
        patch_embedding = MAESTPatchEmbedding(
            num_mel_bins=num_mel_bins,
            num_frames=num_frames,
            patch_size=patch_size,
            patch_stride=patch_stride,
            hidden_dim=hidden_dim,
            train_time_patchout=train_time_patchout,
            train_freq_patchout=train_freq_patchout,
            inference_time_stride=inference_time_stride,
            inference_freq_drop=inference_freq_drop,
            dtype=dtype,
            name="patch_embedding",
        )
        blocks = [
            MAESTBlock(
                hidden_dim=hidden_dim,
                num_heads=num_heads,
                intermediate_dim=intermediate_dim,
                layer_norm_epsilon=layer_norm_epsilon,
                query_chunk_size=query_chunk_size,
                dtype=dtype,
                name=f"block_{n}",
            )
            for n in range(1, num_layers + 1)
        ]
        final_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="final_norm"
        )

        # === Functional model ===
        inputs = keras.Input(
            shape=(num_mel_bins, None), name="log_mel_spectrogram"
        )
        x = patch_embedding(inputs)
        for block in blocks:
            x = block(x)
        outputs = final_norm(x)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.num_mel_bins = num_mel_bins
        self.num_frames = num_frames
        self.patch_size = patch_size
        self.patch_stride = patch_stride
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.layer_norm_epsilon = layer_norm_epsilon
        self.train_time_patchout = train_time_patchout
        self.train_freq_patchout = train_freq_patchout
        self.patch_embedding = patch_embedding
        self.num_freq_patches = patch_embedding.num_freq_patches
        self.num_time_patches = patch_embedding.num_time_patches

    @property
    def inference_time_stride(self):
        return self.patch_embedding.inference_time_stride

    @property
    def inference_freq_drop(self):
        return self.patch_embedding.inference_freq_drop

    def set_inference_patchout(self, time_stride=None, freq_drop=None):
        """Sets the inference patchout of this model (and models using it).

        Keeps one of every `time_stride` time columns and drops the
        frequency rows in `freq_drop` (0 = lowest band); `None` leaves a
        setting unchanged, `time_stride=1, freq_drop=()` switches it off.
        Compiled `predict`/`evaluate` functions of models that use this
        backbone must be retraced: call `reset_compiled_functions()` on
        them (this backbone's own are reset here). An export traced after
        this call bakes the new settings in.

        Example: `backbone.set_inference_patchout(3, (0, 7, 8))`, the
        paper's "T=3, F=3" setting (first row and the last two).
        """
        self.patch_embedding.set_inference_patchout(time_stride, freq_drop)
        reset_compiled_functions(self)

    @property
    def query_chunk_size(self):
        return self.get_layer("block_1").query_chunk_size

    def set_query_chunk_size(self, query_chunk_size):
        """Sets the queries per chunk of every block's attention product
        (`None`: whole); the outputs stay the same (see `MAESTAttention`).
        Like `set_inference_patchout()`, it holds for functions traced
        after the call (this backbone's own are reset here)."""
        set_query_chunk_size(self, query_chunk_size)
        reset_compiled_functions(self)

    def block_output(self, n):
        """The symbolic tokens `k^n` after `n` blocks (1-based, 0 = input)."""
        if (
            isinstance(n, bool)
            or not isinstance(n, int)
            or not 0 <= n <= self.num_layers
        ):
            raise ValueError(
                f"`block` must be an integer in [0, {self.num_layers}] "
                f"(1-based block number, 0 = before the first block). "
                f"Received: block={n!r}"
            )
        if n == 0:
            return self.patch_embedding.output
        return self.get_layer(f"block_{n}").output

    def get_config(self):
        return {
            **super().get_config(),
            "num_mel_bins": self.num_mel_bins,
            "num_frames": self.num_frames,
            "patch_size": self.patch_size,
            "patch_stride": self.patch_stride,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "train_time_patchout": self.train_time_patchout,
            "train_freq_patchout": self.train_freq_patchout,
            "inference_time_stride": self.inference_time_stride,
            "inference_freq_drop": list(self.inference_freq_drop),
            "query_chunk_size": self.query_chunk_size,
        }


def reset_compiled_functions(model):
    """Drops a model's traced train/test/predict functions so that the
    next call retraces them (after changing patchout settings)."""
    for attr in ("train_function", "test_function", "predict_function"):
        if hasattr(model, attr):
            setattr(model, attr, None)
