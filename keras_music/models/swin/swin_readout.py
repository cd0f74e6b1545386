"""`swin_stage_readout`: the pooled features of a Swin stage, as a model.

The one implementation of "the features of stage `n`": the segment
encoders of `keras_music.evaluation`, `AudioEmbedder` (and through it
`export_embedder`) build on it, as MAEST's block read-outs build on
`maest_block_readout`.
"""

import keras


def swin_stage_readout(backbone, stage=None, dtype=None, name=None):
    """A functional model: the backbone's input -> stage `stage`, pooled.

    Reads the output of stage `stage` (`SwinBackbone.stage_output`: before
    its patch merging; the last stage before the final LayerNorm) and
    averages it over its frequency x time grid. For an `S3TBackbone` the
    model takes its raw audio, through its CQT and square pre-processor,
    and reads its Swin.

    Args:
        backbone: `SwinBackbone` or `S3TBackbone`.
        stage: optional int. Stage read, 1-based. Defaults to `None`: the
            backbone's own output (last stage, final LayerNorm, pooled).
        dtype: optional dtype policy of the pooling. Defaults to the
            backbone's.
        name: optional str. Model name. Defaults to
            `"<backbone>_stage_<n>"`.

    Returns:
        `keras.Model` on the backbone's input, giving `(batch, width)`,
        `width = embed_dim * 2 ** (stage - 1)`.

    Example:

    Each stage of a two-stage Swin, 16 then 32 wide:

    >>> swin = SwinBackbone.from_preset("swin_test_tiny")
    >>> [swin_stage_readout(swin, n).output_shape for n in (1, 2)]
    [(None, 16), (None, 32)]

    Reference:
        Zhao et al., "S3T", ICASSP 2022, Section 3.2 (linear evaluation of
        the pooled features).
    """
    # An `S3TBackbone` holds its Swin as `swin`, after its pre-processors.
    swin = getattr(backbone, "swin", backbone)
    if not hasattr(swin, "stage_output"):
        raise ValueError(
            "`backbone` must be a `SwinBackbone` or an `S3TBackbone`. "
            f"Received: backbone={backbone!r}"
        )
    if stage is None:
        return backbone
    if dtype is None:
        dtype = backbone.dtype_policy
    features = swin.stage_output(stage)  # checks `stage`
    pooled = keras.layers.GlobalAveragePooling2D(
        dtype=dtype, name=f"stage_{stage}_pool"
    )(features)
    name = name or f"{backbone.name}_stage_{stage}"
    if swin is backbone:
        return keras.Model(swin.input, pooled, name=name)
    readout = keras.Model(swin.input, pooled, name=f"{swin.name}_stage_{stage}")
    # The Swin's input inside the S3T graph: the square pre-processor's
    # output, on the S3T's own audio input.
    return keras.Model(
        backbone.input, readout(backbone.square.output), name=name
    )
