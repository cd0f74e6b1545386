"""`maest_block_readout`: the embedding of a MAEST block, as a Keras model.

The one implementation of "the `token` read-out of block `n`": the
segment encoders of `keras_music.evaluation`, `MAESTEmbedder`,
`MAESTTagger.embedding_model`, `AudioEmbedder` and the SavedModel
signatures of `keras_music.export` all build on it.
"""

import keras

from keras_music.models.maest.maest_layers import MAESTTokenPooling


def maest_block_readout(
    backbone, block=None, token="stack", flatten=True, dtype=None, name=None
):
    """A functional model: spectrogram -> the `token` embedding of `block`.

    Reads the tokens `k^n` after block `n` (1-based as in the paper, 0 =
    the input of the first block; no final LayerNorm, as for every block
    but the backbone's output) and pools them with `MAESTTokenPooling`.

    Args:
        backbone: `MAESTBackbone`.
        block: int, or a list of int. Block(s) read. Defaults to `None`:
            the last block. A list gives a dict output `block_<n>`.
        token: str. `"stack"` (cls, dist, avg), `"cls"`, `"dist"`,
            `"avg"` or `"cls_dist"`. Defaults to `"stack"`.
        flatten: bool. Whether `"stack"` is flattened to
            `(batch, 3 * hidden_dim)` (else `(batch, 3, hidden_dim)`).
            Defaults to `True`.
        dtype: optional dtype policy of the pooling. Defaults to the
            backbone's.
        name: optional str. Model name. Defaults to
            `"<backbone>_block_<n>_<token>"`.

    Returns:
        `keras.Model` on the backbone's input `(batch, num_mel_bins,
        frames)`, giving `(batch, dim)` (a dict of them for a list).

    Example:

    >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=2)
    >>> readout = maest_block_readout(backbone, block=1, token="stack")
    >>> readout(np.zeros((2, 96, 66), "float32")).shape
    TensorShape([2, 96])
    >>> sorted(maest_block_readout(backbone, [1, 2], "cls").output)
    ['block_1', 'block_2']

    Reference:
        Alonso-Jiménez et al., ISMIR 2023, Sections 3.3 and 4.1.
    """
    if not hasattr(backbone, "block_output"):
        raise ValueError(
            "`backbone` must be a `MAESTBackbone`. "
            f"Received: backbone={backbone!r}"
        )
    if block is None:
        block = backbone.num_layers
    blocks = list(block) if isinstance(block, (list, tuple)) else [block]
    if not blocks:
        raise ValueError(
            f"`block` must name at least one block. Received: block={block!r}"
        )
    if dtype is None:
        dtype = backbone.dtype_policy
    # `block_output` checks each number; the pooling checks `token`.
    pooling = MAESTTokenPooling(token, dtype=dtype, name="token_pooling")
    outputs = {}
    for n in blocks:
        x = pooling(backbone.block_output(n))
        if token == "stack" and flatten:
            x = keras.layers.Flatten(dtype=dtype, name=f"flatten_{n}")(x)
        outputs[f"block_{n}"] = x
    if not isinstance(block, (list, tuple)):
        outputs = outputs[f"block_{block}"]
        name = name or f"{backbone.name}_block_{block}_{token}"
    return keras.Model(
        backbone.input, outputs, name=name or f"{backbone.name}_{token}"
    )
