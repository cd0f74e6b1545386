import keras
import tensorflow as tf
from keras import ops

from keras_music.layers.validation import check_positive

# Added to the self-similarity logits: exp(-1e9) is exactly 0 in float32,
# and unlike -inf it never turns a gradient or a max into NaN.
_SELF_LOGIT_PENALTY = 1e9


@keras.saving.register_keras_serializable(package="keras_music")
class NTXent(keras.losses.Loss):
    """Normalised temperature-scaled cross-entropy (NT-Xent), SimCLR's loss.

    The two views of a batch of N examples give 2N projections `z =
    [z_a; z_b]`. Each of them is an anchor whose positive is the other view
    of the same example and whose negatives are the remaining 2N - 2
    projections. With cosine similarities `s` scaled by `1 / temperature`,
    the anchor's loss is the cross-entropy of its positive among the 2N - 1
    candidates (the anchor itself is excluded), and the batch loss is the
    mean over the 2N anchors.

    The loss has no labels: `y_true` and `y_pred` are the projections of
    the first and second view (the loss is symmetric in them), of the same
    shape `(batch, d)`. `call` returns the 2N per-anchor losses, first-view
    anchors first, so `reduction="none"` gives them and `sample_weight`, if
    passed, needs one weight per anchor (shape `(2 * batch,)`).

    Under a `tf.distribute` strategy, called in the replica context (inside
    `train_step`), the candidates are the projections of the GLOBAL batch:
    each replica all-gathers the projections of every replica (in replica
    order, as the strategy splits the global batch) and scores its own 2n
    anchors against all 2N candidates. The gradient of the gather sums the
    upstream gradients of all replicas before handing each replica its own
    rows, so the gradient that lands on a replica's projections is that of
    the global loss. Outside a strategy (or in the cross-replica context)
    only the local batch is used.

    Scaling under a strategy with R replicas follows Keras: like every
    Keras loss, a mean reduction (the default) returns the replica's mean
    ALREADY divided by R (`keras.src.losses.loss.reduce_values` applies
    `scale_loss_for_distribution`), ready for `tape.gradient`: the summed
    replica gradients are exactly those of the single-device loss on the
    global batch, and the replica values sum to the global loss. Do not
    divide it again with `keras_music.distribute.replica_scaled`. A custom
    `train_step` that reports the loss takes the unscaled per-anchor losses
    (`reduction="none"`, or cross-entropy over `logits()`), averages them
    and applies `replica_scaled` itself, as `SimCLR` does.

    Projections are L2-normalised and the loss is computed in float32,
    whatever their dtype.

    Args:
        temperature: float. Softmax temperature `tau`. Defaults to 0.5.
        reduction: string. Keras loss reduction over the 2N anchors.
            Defaults to `"sum_over_batch_size"` (the mean).
        name: string. Defaults to `"nt_xent"`.
        dtype: Dtype of the loss value. Defaults to None (float32).

    Example:

    >>> loss = NTXent(temperature=0.5)
    >>> z_a = np.random.rand(8, 16).astype("float32")
    >>> z_b = z_a + 0.01
    >>> float(loss(z_a, z_b)) < float(loss(z_a, z_a[::-1]))
    True

    Input shape:
        `y_true`, `y_pred`: `(batch, d)` projections of the two views.

    Output shape:
        A scalar; `(2 * batch,)` with `reduction="none"`.

    Reference:
        Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations" (SimCLR), ICML 2020, Eq. 1; Spijkervet & Burgoyne,
        "Contrastive Learning of Musical Representations", ISMIR 2021;
        multi-format contrastive learning (papers/multiformat-contrastive.txt),
        Section 3.3.
    """

    def __init__(
        self,
        temperature=0.5,
        reduction="sum_over_batch_size",
        name="nt_xent",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.temperature = check_positive("temperature", temperature)

    def call(self, y_true, y_pred):
        logits, labels = self.logits(y_true, y_pred)
        return keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True
        )

    def logits(self, z_a, z_b):
        """The anchors' logits over the candidates, and their positives.

        Args:
            z_a: `(n, d)` projections of the first view (local batch).
            z_b: `(n, d)` projections of the second view.

        Returns:
            `(logits, labels)`: `logits` of shape `(2n, 2N)`, cosine
            similarities / temperature of the local anchors `[z_a; z_b]`
            against the global candidates `[Z_a; Z_b]` (N = n outside a
            strategy), with the self-pairs pushed to -1e9; `labels` of
            shape `(2n,)`, the column of each anchor's positive. Top-1
            contrastive accuracy is `argmax(logits) == labels`.
        """
        z_a = ops.convert_to_tensor(z_a)
        z_b = ops.convert_to_tensor(z_b)
        if len(z_a.shape) != 2 or tuple(z_a.shape) != tuple(z_b.shape):
            raise ValueError(
                "NTXent expects the two views' projections with the same "
                "shape `(batch, d)`. "
                f"Received: shapes {tuple(z_a.shape)} and {tuple(z_b.shape)}"
            )
        z_a = _unit_rows(z_a)
        z_b = _unit_rows(z_b)
        local = ops.shape(z_a)[0]
        all_a, all_b, offset = _gather_global(z_a, z_b)
        total = ops.shape(all_a)[0]

        anchors = ops.concatenate([z_a, z_b], axis=0)
        candidates = ops.concatenate([all_a, all_b], axis=0)
        logits = ops.matmul(anchors, ops.transpose(candidates))
        logits = logits / self.temperature

        # Local example i sits at global row offset + i in each view.
        rows = ops.arange(local, dtype="int32") + offset
        selves = ops.concatenate([rows, rows + total], axis=0)
        labels = ops.concatenate([rows + total, rows], axis=0)
        is_self = ops.one_hot(selves, 2 * total, dtype="float32")
        logits = logits - _SELF_LOGIT_PENALTY * is_self
        return logits, labels

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature, "dtype": self.dtype})
        return config


def _unit_rows(z):
    z = ops.cast(z, "float32")
    return z / ops.maximum(ops.norm(z, axis=-1, keepdims=True), 1e-12)


def _gather_global(z_a, z_b):
    """Both views of the global batch and this replica's first row in it."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return z_a, z_b, 0
    # One collective for both views: gather them side by side.
    width = ops.shape(z_a)[1]
    pairs = context.all_gather(ops.concatenate([z_a, z_b], axis=1), axis=0)
    # The replicas' batch sizes may differ (last partial batch), so the
    # offset is the sum of the sizes of the replicas before this one.
    sizes = context.all_gather(tf.shape(z_a)[:1], axis=0)
    offset = tf.reduce_sum(sizes[: context.replica_id_in_sync_group])
    return pairs[:, :width], pairs[:, width:], offset
