import keras
import tensorflow as tf
from keras import ops

from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.layers.validation import check_probability
from keras_music.pretraining.contrastive_utils import encoder_output_width
from keras_music.pretraining.contrastive_utils import projection_head
from keras_music.pretraining.contrastive_utils import unpack_views
from keras_music.utils.serialization import deserialize_objects
from keras_music.utils.serialization import serialize_objects


def _random_unit_rows(shape, dtype=None):
    # MoCo starts from a queue of random unit vectors, so that the first
    # steps see negatives spread over the sphere.
    rows = keras.random.normal(shape, dtype=dtype or "float32")
    return rows / ops.norm(rows, axis=-1, keepdims=True)


def _num_replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync


@keras.saving.register_keras_serializable(package="keras_music")
class MoCo(keras.Model):
    """Momentum Contrast (MoCo v2) pre-training around any encoder.

    A query encoder and a momentum key encoder of the same architecture
    embed two views of each clip; each is followed by a projection head
    `Dense(hidden_dim) -> ReLU -> Dense(projection_dim)` and L2
    normalisation. The positive of a query is the key of the other view;
    its negatives are a FIFO queue of `queue_size` keys from earlier
    batches. The loss is InfoNCE: cross-entropy over the logits `[q.k+,
    q.queue] / temperature` with the positive at index 0.

    Each `train_step` (1) moves the key encoder and head towards the query
    ones, `k <- momentum * k + (1 - momentum) * q` (parameters, and the
    moving statistics of BatchNormalization, which the key branch uses in
    inference mode; it never gets gradients), (2) embeds the second view
    with the updated key branch, (3) embeds the first view and takes one
    optimiser step on the loss, and (4) enqueues the keys. Under a
    `tf.distribute` strategy the keys of all replicas are gathered (in
    global batch order) before enqueueing, so every replica holds the same
    queue; `queue_size` must be a multiple of the global batch. The
    queue and its pointer are non-trainable variables, saved with the
    model.

    `fit` takes batches `(view_1, view_2)` and reports `loss`,
    `top1_accuracy` and `top5_accuracy` (how often the positive has the
    largest / one of the 5 largest logits). Calling the model returns the
    normalised query projections.

    Args:
        encoder: keras.Model. Maps a batch to `(batch, d)` embeddings. It
            is cloned (`keras.models.clone_model`) for the key branch, so
            it must be functional or define `get_config`/`from_config`.
        projection_dim: int. Output width of the projection head.
            Defaults to 128.
        queue_size: int. Number of keys `K` in the queue. Defaults to
            65536.
        momentum: float. Momentum `m` of the key encoder, in [0, 1].
            Defaults to 0.999.
        temperature: float. Softmax temperature `tau`. Defaults to 0.2.
        hidden_dim: int or None. Hidden width of the projection head;
            None uses the encoder's output width `d`. Defaults to None.

    Example:

    >>> encoder = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8)])
    >>> moco = MoCo(encoder, projection_dim=4, queue_size=32)
    >>> moco.compile(
    ...     optimizer="adamw",
    ...     run_eagerly=True,  # a tiny fit: tracing costs more
    ... )
    >>> views = np.random.rand(2, 32, 16).astype("float32")
    >>> history = moco.fit((views[0], views[1]), batch_size=8, verbose=0)

    Input shape:
        `call`: the encoder's input. `train_step`: a pair `(view_1,
        view_2)` of encoder inputs.

    Output shape:
        `(batch, projection_dim)`, unit-norm rows.

    Reference:
        He et al., "Momentum Contrast for Unsupervised Visual
        Representation Learning", CVPR 2020; Chen et al., "Improved
        Baselines with Momentum Contrastive Learning" (MoCo v2), 2020;
        Zhao et al., "S3T", ICASSP 2022, Section 3.2.
    """

    def __init__(
        self,
        encoder,
        projection_dim=128,
        queue_size=65536,
        momentum=0.999,
        temperature=0.2,
        hidden_dim=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.Model):
            raise ValueError(
                "`encoder` must be a keras.Model. "
                f"Received: encoder={encoder!r}"
            )
        self.projection_dim = check_positive_int(
            "projection_dim", projection_dim
        )
        self.queue_size = check_positive_int("queue_size", queue_size)
        self.momentum = check_probability("momentum", momentum)
        self.temperature = check_positive("temperature", temperature)
        if hidden_dim is not None:
            check_positive_int("hidden_dim", hidden_dim)
        self.hidden_dim = hidden_dim
        self.encoder = encoder
        embed_dim = encoder_output_width(encoder)

        self.projector = projection_head(
            hidden_dim or embed_dim, projection_dim, embed_dim, "projector"
        )
        self.key_encoder = keras.models.clone_model(encoder)
        self.key_encoder.name = "key_encoder"
        self.key_projector = projection_head(
            hidden_dim or embed_dim, projection_dim, embed_dim, "key_projector"
        )
        # The key branch starts as an exact copy of the query branch.
        for source, target in self._branch_pairs(all_weights=True):
            target.assign(source)
        self.key_encoder.trainable = False
        self.key_projector.trainable = False

        # Every replica computes the same enqueue (the keys are gathered
        # first), so the first replica's value is the one to keep.
        self.queue = self.add_weight(
            shape=(queue_size, projection_dim),
            initializer=_random_unit_rows,
            trainable=False,
            aggregation="only_first_replica",
            name="queue",
        )
        self.queue_pointer = self.add_weight(
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
            name="queue_pointer",
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.top1_tracker = keras.metrics.Mean(name="top1_accuracy")
        self.top5_tracker = keras.metrics.Mean(name="top5_accuracy")
        # Every part was built above: nothing waits for the first batch.
        self.built = True

    def _branch_pairs(self, all_weights=False):
        """(query variable, key variable) pairs, matched by position."""
        pairs = []
        for query, key in (
            (self.encoder, self.key_encoder),
            (self.projector, self.key_projector),
        ):
            for q, k in zip(query.weights, key.weights, strict=True):
                if all_weights or q.trainable:
                    pairs.append((q, k))
        return pairs

    @property
    def metrics(self):
        return [self.loss_tracker, self.top1_tracker, self.top5_tracker]

    def call(self, inputs, training=False):
        return self._embed(self.encoder, self.projector, inputs, training)

    def _embed(self, encoder, projector, inputs, training):
        z = projector(encoder(inputs, training=training), training=training)
        z = ops.cast(z, "float32")
        return z / ops.maximum(ops.norm(z, axis=-1, keepdims=True), 1e-12)

    def _keys(self, view, training):
        keys = self._embed(self.key_encoder, self.key_projector, view, training)
        return ops.stop_gradient(keys)

    def _logits(self, queries, keys):
        positive = ops.sum(queries * keys, axis=-1, keepdims=True)
        negative = ops.matmul(
            queries, ops.transpose(ops.cast(self.queue, "float32"))
        )
        return ops.concatenate([positive, negative], axis=1) / self.temperature

    def _loss_and_logits(self, queries, keys):
        # InfoNCE: the positive key is class 0 of each row of logits.
        logits = self._logits(queries, keys)
        labels = ops.zeros((ops.shape(logits)[0],), dtype="int32")
        loss = ops.mean(
            keras.losses.sparse_categorical_crossentropy(
                labels, logits, from_logits=True
            )
        )
        return loss, logits

    def _update_metrics(self, loss, logits):
        batch = ops.shape(logits)[0]
        # Rank of the positive = how many negatives score at least as high
        # (a tie is a miss: a collapsed encoder, whose logits are all
        # equal, scores 0, not 1).
        rank = ops.sum(
            ops.cast(logits[:, 1:] >= logits[:, :1], "int32"), axis=1
        )
        self.loss_tracker.update_state(loss, sample_weight=batch)
        self.top1_tracker.update_state(ops.cast(rank < 1, "float32"))
        self.top5_tracker.update_state(ops.cast(rank < 5, "float32"))
        return {m.name: m.result() for m in self.metrics}

    def _momentum_update(self):
        m = self.momentum
        # Float statistics (BatchNormalization's moving mean and variance)
        # follow the query branch too: the key branch is not trainable, so
        # Keras runs its BatchNormalization in inference mode, on these
        # averages of the query's batch statistics. That also keeps the
        # keys free of the batch statistics that shuffle-BN guards against.
        for query, key in self._branch_pairs(all_weights=True):
            if "float" in str(query.dtype):
                key.assign(m * key + (1.0 - m) * query)

    def _enqueue(self, keys):
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            keys = context.all_gather(keys, axis=0)
        global_batch = keys.shape[0]
        if global_batch is not None and self.queue_size % global_batch:
            raise ValueError(
                "`queue_size` must be a multiple of the global batch size. "
                f"Received: queue_size={self.queue_size}, global batch "
                f"{global_batch}"
            )
        global_batch = ops.shape(keys)[0]
        check = tf.debugging.assert_equal(
            self.queue_size % global_batch,
            0,
            message="`queue_size` must be a multiple of the global batch "
            "size (drop the last partial batch).",
        )
        with tf.control_dependencies([check]):
            pointer = ops.convert_to_tensor(self.queue_pointer)
            rows = pointer + ops.arange(global_batch, dtype="int32")
            self.queue.assign(
                tf.tensor_scatter_nd_update(
                    ops.convert_to_tensor(self.queue),
                    rows[:, None],
                    ops.cast(keys, self.queue.dtype),
                )
            )
            self.queue_pointer.assign(
                (pointer + global_batch) % self.queue_size
            )

    def train_step(self, data):
        view_1, view_2 = unpack_views(data, "MoCo")
        self._momentum_update()
        keys = self._keys(view_2, training=True)
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            queries = self.call(view_1, training=True)
            loss, logits = self._loss_and_logits(queries, keys)
            total = loss
            if self.losses:
                total = total + ops.sum(self.losses)
            # Replica gradients are summed, so each replica's mean over its
            # share of the batch is divided by the number of replicas; under
            # mixed_float16 the optimizer scales it against underflow.
            scaled = self.optimizer.scale_loss(total / _num_replicas())
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        self._enqueue(keys)
        return self._update_metrics(loss, logits)

    def test_step(self, data):
        view_1, view_2 = unpack_views(data, "MoCo")
        keys = self._keys(view_2, training=False)
        queries = self.call(view_1, training=False)
        loss, logits = self._loss_and_logits(queries, keys)
        return self._update_metrics(loss, logits)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                **serialize_objects(encoder=self.encoder),
                "projection_dim": self.projection_dim,
                "queue_size": self.queue_size,
                "momentum": self.momentum,
                "temperature": self.temperature,
                "hidden_dim": self.hidden_dim,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_objects(config, "encoder"))
