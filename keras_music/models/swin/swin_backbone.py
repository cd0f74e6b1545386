import keras
import numpy as np

from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.layers.validation import check_positive_int_tuple
from keras_music.layers.validation import check_probability
from keras_music.models.backbone import Backbone
from keras_music.models.swin.swin_layers import SwinPatchEmbedding
from keras_music.models.swin.swin_layers import SwinPatchMerging
from keras_music.models.swin.swin_layers import SwinTransformerBlock
from keras_music.models.swin.swin_presets import backbone_presets


def stage_windows(grid_size, window_size):
    """The window and shift of a stage on a `(height, width)` grid.

    As in the reference, a stage whose smaller side is no larger than the
    window attends over windows of that side and does not shift (one
    window already covers the short side, so shifting adds nothing).
    """
    smaller = min(grid_size)
    if smaller <= window_size:
        return smaller, 0
    return window_size, window_size // 2


def _checked_arguments(
    input_size,
    patch_size,
    embed_dim,
    depths,
    num_heads,
    window_size,
    mlp_ratio,
    drop_path_rate,
    layer_norm_epsilon,
):
    """`SwinBackbone`'s arguments checked: `(input_size, depths,
    num_heads, widths)` as tuples, `widths` the stages' widths."""
    input_size = check_positive_int_tuple("input_size", input_size)
    if len(input_size) != 2:
        raise ValueError(
            "`input_size` must be (height, width). "
            f"Received: input_size={input_size!r}"
        )
    check_positive_int("patch_size", patch_size)
    check_positive_int("embed_dim", embed_dim)
    depths = check_positive_int_tuple("depths", depths)
    num_heads = check_positive_int_tuple("num_heads", num_heads)
    if len(num_heads) != len(depths):
        raise ValueError(
            "`num_heads` must give one value per stage of `depths`. "
            f"Received: num_heads={num_heads}, depths={depths}"
        )
    widths = [embed_dim * 2**i for i in range(len(depths))]
    for width, heads in zip(widths, num_heads):
        if width % heads:
            raise ValueError(
                "`num_heads` must divide each stage's width "
                f"{widths}. Received: num_heads={num_heads}"
            )
    check_positive_int("window_size", window_size)
    check_positive("mlp_ratio", mlp_ratio)
    check_probability("drop_path_rate", drop_path_rate)
    if drop_path_rate >= 1.0:
        raise ValueError(
            "`drop_path_rate` must be below 1. "
            f"Received: drop_path_rate={drop_path_rate!r}"
        )
    check_positive("layer_norm_epsilon", layer_norm_epsilon)
    return input_size, depths, num_heads, widths


def _stages(
    grid,
    depths,
    num_heads,
    widths,
    window_size,
    mlp_ratio,
    qkv_bias,
    drop_path_rate,
    layer_norm_epsilon,
    dtype,
):
    """The stages' layers from the patch grid `grid` on, one stage at a
    time: `(grid, blocks, merging)`, the stage's `(height, width)` grid,
    its blocks and the patch merging after it (`None` after the last)."""
    # Stochastic depth grows linearly from 0 to `drop_path_rate` over
    # all blocks of all stages, as in the reference.
    rates = np.linspace(0.0, drop_path_rate, sum(depths)).tolist()
    for i, (depth, heads) in enumerate(zip(depths, num_heads)):
        window, shift = stage_windows(grid, window_size)
        blocks = [
            SwinTransformerBlock(
                dim=widths[i],
                num_heads=heads,
                window_size=window,
                shift_size=shift if j % 2 else 0,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                drop_path_rate=rates[sum(depths[:i]) + j],
                layer_norm_epsilon=layer_norm_epsilon,
                dtype=dtype,
                name=f"stage_{i}_block_{j}",
            )
            for j in range(depth)
        ]
        merging = None
        if i < len(depths) - 1:
            merging = SwinPatchMerging(
                widths[i],
                layer_norm_epsilon,
                dtype=dtype,
                name=f"stage_{i}_merging",
            )
        yield grid, blocks, merging
        grid = tuple(-(-size // 2) for size in grid)


@keras.saving.register_keras_serializable(package="keras_music")
class SwinBackbone(Backbone):
    """Swin Transformer backbone for 1-channel spectrograms.

    A hierarchical transformer (Liu et al., 2021) as used by S3T (Zhao et
    al., 2022) on CQT spectrograms: patch embedding, then stages of
    window-attention blocks whose odd blocks use shifted windows, with a
    patch merging (2x downsampling, 2x width) between stages, a final
    LayerNorm and a global average pool. The input is frequency-first,
    `(batch, freq, frames)`, and need not be square nor a multiple of the
    window: each stage pads its grid to a multiple of its window and crops
    it back.

    The model maps a spectrogram to the pooled embedding `(batch,
    embed_dim * 2 ** (num_stages - 1))`. The output of every stage (before
    its patch merging; the last one before the final LayerNorm) is in
    `backbone.stage_outputs`, a dict `{"stage_1": ..., ...}` of symbolic
    tensors `(batch, height_i, width_i, width)` for building probes:
    `keras.Model(backbone.inputs, backbone.stage_outputs)`.

    Args:
        input_size: (int, int). Height (frequency bins) and width (frames)
            of the input. Defaults to (256, 256).
        patch_size: int. Patch height and width. Defaults to 4.
        embed_dim: int. Width of the first stage; doubles at each stage.
            Defaults to 96.
        depths: tuple of int. Blocks per stage. Defaults to (2, 2, 6, 2).
        num_heads: tuple of int. Attention heads per stage. Defaults to
            (3, 6, 12, 24).
        window_size: int. Attention window height and width. Defaults to 8.
        mlp_ratio: float. MLP hidden width over the block width. Defaults
            to 4.0.
        qkv_bias: bool. Bias in the query/key/value projections. Defaults
            to True.
        drop_path_rate: float. Stochastic depth rate of the last block;
            it grows linearly from 0 over all blocks. Defaults to 0.1.
        layer_norm_epsilon: float. LayerNorm epsilon. Defaults to 1e-5.
        dtype: string or `keras.DTypePolicy`. Defaults to None.

    Example:

    >>> backbone = SwinBackbone.from_preset("swin_test_tiny")
    >>> backbone(np.zeros((2, 32, 40), "float32")).shape
    TensorShape([2, 32])

    Input shape:
        `(batch, height, width)` or `(batch, height, width, 1)`.

    Output shape:
        `(batch, embed_dim * 2 ** (len(depths) - 1))`.

    Reference:
        Liu et al., "Swin Transformer: Hierarchical Vision Transformer
        using Shifted Windows", ICCV 2021; Zhao et al., "S3T:
        Self-Supervised Pre-training with Swin Transformer for Music
        Classification", ICASSP 2022, Section 3.2.
    """

    preset_configs = backbone_presets

    def __init__(
        self,
        input_size=(256, 256),
        patch_size=4,
        embed_dim=96,
        depths=(2, 2, 6, 2),
        num_heads=(3, 6, 12, 24),
        window_size=8,
        mlp_ratio=4.0,
        qkv_bias=True,
        drop_path_rate=0.1,
        layer_norm_epsilon=1e-5,
        dtype=None,
        **kwargs,
    ):
        input_size, depths, num_heads, widths = _checked_arguments(
            input_size,
            patch_size,
            embed_dim,
            depths,
            num_heads,
            window_size,
            mlp_ratio,
            drop_path_rate,
            layer_norm_epsilon,
        )

        # === Layers ===
        self.patch_embedding = SwinPatchEmbedding(
            embed_dim,
            patch_size,
            layer_norm_epsilon,
            dtype=dtype,
            name="patch_embedding",
        )
        patch_grid = tuple(-(-size // patch_size) for size in input_size)
        # Appended stage by stage: the weights are tracked in this order
        # (each stage's blocks, then its merging).
        self.stage_blocks, self.stage_mergings, self.stage_grids = [], [], []
        for grid, blocks, merging in _stages(
            patch_grid,
            depths,
            num_heads,
            widths,
            window_size,
            mlp_ratio,
            qkv_bias,
            drop_path_rate,
            layer_norm_epsilon,
            dtype,
        ):
            self.stage_grids.append(grid)
            self.stage_blocks.append(blocks)
            if merging is not None:
                self.stage_mergings.append(merging)
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=dtype, name="final_norm"
        )
        self.pool = keras.layers.GlobalAveragePooling2D(
            dtype=dtype, name="pool"
        )

        # === Functional model ===
        inputs = keras.Input(shape=input_size, name="spectrogram")
        x = keras.layers.Reshape(
            input_size + (1,), dtype=dtype, name="add_channel"
        )(inputs)
        x = self.patch_embedding(x)
        stage_outputs = {}
        for i, blocks in enumerate(self.stage_blocks):
            for block in blocks:
                x = block(x)
            stage_outputs[f"stage_{i + 1}"] = x
            if i < len(self.stage_mergings):
                x = self.stage_mergings[i](x)
        outputs = self.pool(self.final_norm(x))
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.input_size = input_size
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.depths = depths
        self.num_heads = num_heads
        self.window_size = window_size
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.drop_path_rate = drop_path_rate
        self.layer_norm_epsilon = layer_norm_epsilon
        self.stage_outputs = stage_outputs
        self.output_dim = widths[-1]

    def stage_output(self, n):
        """The symbolic output of stage `n` (1-based), `(batch, height_n,
        width_n, width)`: before its patch merging, and for the last stage
        before the final LayerNorm."""
        num_stages = len(self.depths)
        if (
            isinstance(n, bool)
            or not isinstance(n, int)
            or not (1 <= n <= num_stages)
        ):
            raise ValueError(
                f"`stage` must be an integer in [1, {num_stages}] (1-based "
                f"stage number). Received: stage={n!r}"
            )
        return self.stage_outputs[f"stage_{n}"]

    def get_config(self):
        return {
            **super().get_config(),
            "input_size": self.input_size,
            "patch_size": self.patch_size,
            "embed_dim": self.embed_dim,
            "depths": self.depths,
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "mlp_ratio": self.mlp_ratio,
            "qkv_bias": self.qkv_bias,
            "drop_path_rate": self.drop_path_rate,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }
