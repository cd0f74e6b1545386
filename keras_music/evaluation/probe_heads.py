"""Probe heads on embeddings: linear and MLP, as Keras models of logits."""

import keras
import numpy as np
from keras import ops

from keras_music.evaluation.probe_protocol import HEADS
from keras_music.layers.validation import check_positive_int
from keras_music.layers.validation import check_probability


def probe_head(
    kind,
    input_dim,
    num_outputs,
    hidden_dim=512,
    dropout=0.5,
    standardize_with=None,
    name=None,
):
    """A linear or MLP probe mapping embeddings to logits.

    `"linear"` is one `Dense(num_outputs)` (S3T's linear evaluation, PASE's
    "1 fully connected layer"); `"mlp"` is `Dense(hidden_dim, relu)` ->
    `Dropout(dropout)` -> `Dense(num_outputs)` (MAEST's probe: 512, ReLU,
    dropout 0.5). The outputs are logits: train with a loss
    `from_logits=True` (softmax cross-entropy for single-label tasks,
    sigmoid binary cross-entropy for multi-label ones).

    With `standardize_with` (the training embeddings), a `Normalization`
    layer fixed to their mean and variance comes first: it keeps the
    probe linear and makes one learning rate fit encoders whose features
    have very different scales (a randomly initialised encoder's are tiny).

    Args:
        kind: str. `"linear"` or `"mlp"`.
        input_dim: int. Embedding width.
        num_outputs: int. Classes or tags.
        hidden_dim: int. MLP hidden width. Defaults to 512.
        dropout: float. MLP dropout rate in [0, 1). Defaults to 0.5.
        standardize_with: optional array `(examples, input_dim)`.
        name: str. Model name. Defaults to `"<kind>_probe"`.

    Returns:
        A functional `keras.Model`, `(batch, input_dim)` ->
        `(batch, num_outputs)`.

    Example:

    >>> probe_head("mlp", 96, 16)(np.zeros((4, 96), "float32")).shape
    TensorShape([4, 16])

    Reference:
        Alonso-Jiménez et al., ISMIR 2023, Section 4 (MLP probe); Zhao et
        al., ICASSP 2022, Section 4.1 (linear evaluation).
    """
    if kind not in HEADS:
        raise ValueError(
            f"`kind` must be one of {HEADS}. Received: kind={kind!r}"
        )
    input_dim = check_positive_int("input_dim", input_dim)
    num_outputs = check_positive_int("num_outputs", num_outputs)
    hidden_dim = check_positive_int("hidden_dim", hidden_dim)
    dropout = check_probability("dropout", dropout)
    if dropout >= 1.0:
        raise ValueError(
            f"`dropout` must be below 1. Received: dropout={dropout}"
        )

    inputs = keras.Input(shape=(input_dim,), name="embedding")
    x = inputs
    if standardize_with is not None:
        data = np.asarray(standardize_with, dtype="float32")
        if data.ndim != 2 or data.shape[1] != input_dim:
            raise ValueError(
                "`standardize_with` must be (examples, input_dim="
                f"{input_dim}). Received: shape={data.shape}"
            )
        x = keras.layers.Normalization(
            mean=data.mean(axis=0),
            variance=np.maximum(data.var(axis=0), 1e-12),
            name="standardize",
        )(x)
    if kind == "mlp":
        x = keras.layers.Dense(hidden_dim, activation="relu", name="hidden")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_outputs, name="logits")(x)
    return keras.Model(inputs, outputs, name=name or f"{kind}_probe")


def probe_loss(multi_label):
    """The loss of a probe's logits: sigmoid binary cross-entropy for
    multi-label tasks, softmax cross-entropy on class indices otherwise.

    The multi-label loss skips targets of -1 (labels not annotated in a
    partially labelled task): per example it averages the known tags
    only, which equals Keras' `BinaryCrossentropy` when every label is
    known.
    """
    if multi_label:
        return _MaskedBinaryCrossentropy()
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


class _MaskedBinaryCrossentropy(keras.losses.Loss):
    def __init__(self, name="masked_binary_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, logits):
        return _masked_binary_crossentropy(y_true, logits)


def _masked_binary_crossentropy(y_true, logits):
    y_true = ops.cast(y_true, "float32")
    logits = ops.cast(logits, "float32")
    known = ops.cast(y_true >= 0, "float32")
    # Sigmoid cross-entropy on logits, in the numerically stable form
    # max(x, 0) - x * y + log(1 + exp(-|x|)).
    elementwise = (
        ops.relu(logits)
        - logits * ops.maximum(y_true, 0.0)
        + ops.log1p(ops.exp(-ops.abs(logits)))
    )
    return ops.sum(elementwise * known, axis=-1) / ops.maximum(
        ops.sum(known, axis=-1), 1.0
    )
