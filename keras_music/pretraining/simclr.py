import keras
import tensorflow as tf
from keras import ops

from keras_music.distribute import replica_scaled
from keras_music.layers.validation import check_positive_int
from keras_music.losses.ntxent import NTXent
from keras_music.pretraining.contrastive_utils import encoder_output_width
from keras_music.pretraining.contrastive_utils import projection_head
from keras_music.pretraining.contrastive_utils import unpack_views
from keras_music.utils.serialization import deserialize_objects
from keras_music.utils.serialization import serialize_objects


@keras.saving.register_keras_serializable(package="keras_music")
class SimCLR(keras.Model):
    """SimCLR contrastive pre-training around any encoder (CLMR's objective).

    One encoder and a projection head `Dense(hidden_dim) -> ReLU ->
    Dense(projection_dim)` embed both augmented views of each clip; the
    loss is NT-Xent (`keras_music.losses.ntxent.NTXent`): each of the 2N
    projections must pick out the other view of its clip among the 2N - 1
    others, by cosine similarity / temperature. The encoder may take
    waveforms (`SampleCNNBackbone`) or spectrograms (`ResNetBackbone`,
    `SwinBackbone`): anything that maps a batch to `(batch, d)`.

    `fit` takes batches `(view_1, view_2)` (augment beforehand, e.g. with
    `CLMRAugment` in the `tf.data` pipeline) and reports `loss` and
    `accuracy`, the contrastive top-1 accuracy: how often an anchor's
    positive has the largest similarity among its 2N - 1 candidates. The
    views go through the encoder in two separate calls, so they may have
    different shapes (multi-crop) and BatchNorm statistics are per view.
    Under a `tf.distribute` strategy the negatives come from the global
    batch (see `NTXent`), the loss is divided by the number of replicas
    before taking gradients and the reported loss is the global one.
    Calling the model returns the L2-normalised projections; the
    representation for downstream tasks is `simclr.encoder(x)`.

    Args:
        encoder: keras.Model. Maps a batch to `(batch, d)` embeddings.
        projection_dim: int. Output width of the projection head.
            Defaults to 128.
        hidden_dim: int or None. Hidden width of the projection head;
            None uses the encoder's output width `d` (CLMR: 512).
            Defaults to None.
        temperature: float. NT-Xent temperature. Defaults to 0.5.

    Example:

    >>> encoder = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8)])
    >>> simclr = SimCLR(encoder, projection_dim=4)
    >>> simclr.compile(
    ...     optimizer=keras.optimizers.Adam(3e-4),
    ...     run_eagerly=True,  # a tiny fit: tracing costs more
    ... )
    >>> views = np.random.rand(2, 32, 16).astype("float32")
    >>> history = simclr.fit((views[0], views[1]), batch_size=8, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'loss']

    With CLMR's encoder: `SimCLR(SampleCNNBackbone.from_preset(
    "sample_cnn_clmr"), projection_dim=128)`, trained on pairs from
    `CLMRAugment`.

    Input shape:
        `call`: the encoder's input. `train_step` / `test_step`: a pair
        `(view_1, view_2)` of encoder inputs.

    Output shape:
        `(batch, projection_dim)`, unit-norm rows.

    Reference:
        Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations" (SimCLR), ICML 2020; Spijkervet & Burgoyne,
        "Contrastive Learning of Musical Representations" (CLMR), ISMIR
        2021; multi-format contrastive learning
        (papers/multiformat-contrastive.txt), Section 3.
    """

    def __init__(
        self,
        encoder,
        projection_dim=128,
        hidden_dim=None,
        temperature=0.5,
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
        if hidden_dim is not None:
            check_positive_int("hidden_dim", hidden_dim)
        self.hidden_dim = hidden_dim
        self.nt_xent = NTXent(temperature=temperature, reduction="none")
        self.temperature = temperature
        self.encoder = encoder
        embed_dim = encoder_output_width(encoder)

        self.projector = projection_head(
            hidden_dim or embed_dim, projection_dim, embed_dim, "projector"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        # Every part was built above: nothing waits for the first batch.
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def call(self, inputs, training=False):
        z = self._project(inputs, training)
        return z / ops.maximum(ops.norm(z, axis=-1, keepdims=True), 1e-12)

    def _project(self, inputs, training):
        h = self.encoder(inputs, training=training)
        return ops.cast(self.projector(h, training=training), "float32")

    def _loss_and_logits(self, view_1, view_2, training):
        z_1 = self._project(view_1, training)
        z_2 = self._project(view_2, training)
        logits, labels = self.nt_xent.logits(z_1, z_2)
        loss = ops.mean(
            keras.losses.sparse_categorical_crossentropy(
                labels, logits, from_logits=True
            )
        )
        return loss, logits, labels

    def _update_metrics(self, loss, logits, labels):
        anchors = ops.shape(logits)[0]
        best = ops.cast(ops.argmax(logits, axis=-1), "int32")
        hits = ops.equal(best, ops.cast(labels, "int32"))
        self.loss_tracker.update_state(loss, sample_weight=anchors)
        self.accuracy_tracker.update_state(ops.cast(hits, "float32"))
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        view_1, view_2 = unpack_views(data, "SimCLR")
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            loss, logits, labels = self._loss_and_logits(
                view_1, view_2, training=True
            )
            total = loss
            if self.losses:
                total = total + ops.sum(self.losses)
            # Replica gradients are summed: each replica's mean over its
            # own anchors is divided by the number of replicas; under
            # mixed_float16 the optimizer scales it against underflow.
            scaled = self.optimizer.scale_loss(replica_scaled(total))
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        return self._update_metrics(loss, logits, labels)

    def test_step(self, data):
        view_1, view_2 = unpack_views(data, "SimCLR")
        loss, logits, labels = self._loss_and_logits(
            view_1, view_2, training=False
        )
        return self._update_metrics(loss, logits, labels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                **serialize_objects(encoder=self.encoder),
                "projection_dim": self.projection_dim,
                "hidden_dim": self.hidden_dim,
                "temperature": self.temperature,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_objects(config, "encoder"))
