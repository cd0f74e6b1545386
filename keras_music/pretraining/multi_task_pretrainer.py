import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_music.distribute import replica_scaled
from keras_music.pretraining.pase_workers import WORKER_LOSSES
from keras_music.pretraining.pase_workers import WORKER_NAMES
from keras_music.pretraining.pase_workers import PASEWorkers
from keras_music.pretraining.pase_workers import parse_workers
from keras_music.pretraining.pase_workers import worker_name
from keras_music.utils.serialization import deserialize_objects
from keras_music.utils.serialization import serialize_objects

_PROBE_SAMPLES = 3200


def _embedding_width(encoder):
    try:
        # A functional or Sequential encoder knows its output shape.
        shapes = [tuple(o.shape) for o in encoder.outputs]
    except (AttributeError, TypeError, ValueError):
        shapes = None
    if not shapes:
        # A subclassed encoder is traced on a short symbolic clip.
        try:
            spec = encoder.compute_output_spec(
                keras.KerasTensor((1, _PROBE_SAMPLES))
            )
            shapes = [tuple(spec.shape)]
        except Exception:  # noqa: BLE001 - any failure means "unknown"
            shapes = [None]
    shape = shapes[0] if len(shapes) == 1 else None
    if shape is None or len(shape) != 3 or shape[-1] is None:
        raise ValueError(
            "`encoder` must map audio `(batch, samples)` to frame embeddings "
            "`(batch, frames, emb_dim)` with a known emb_dim. Received: "
            f"encoder={encoder.name!r} with output shape(s) {shapes}"
        )
    return int(shape[-1])


def _mean_loss(name, target, prediction):
    error = ops.cast(prediction, "float32") - ops.cast(target, "float32")
    if WORKER_LOSSES[name] == "mae":
        return ops.mean(ops.abs(error))
    return ops.mean(ops.square(error))


@keras.saving.register_keras_serializable(package="keras_music")
class MultiTaskPretrainer(keras.Model):
    """Multi-task self-supervised pre-training of an audio encoder (PASE).

    An encoder maps 16 kHz audio `(batch, samples)` to frame embeddings
    `(batch, samples // 160, emb_dim)`; a set of workers (`PASEWorkers`)
    predicts hand-crafted targets from them: the waveform itself (MAE) and
    frame-level features such as LPS, prosody, MFCC, chroma and tempogram
    (MSE). The training loss is the weighted sum of the worker losses,
    `loss = sum_w weight_w * loss_w`, plus any regularisation losses.
    After pre-training the workers are dropped and `encoder` is used
    downstream.

    `fit` takes batches `(audio, targets)` with `targets` a dict
    `{worker name: (batch, frames, target_dims[name])}` holding at least
    the selected frame-level workers (other entries are ignored, so one
    data set serves any subset of workers). The `waveform` worker's target
    is `targets["waveform"]` when present (e.g. clean audio for a
    distorted input) and the input audio otherwise; it is compared with
    the first `frames * hop` samples, the part the frames cover. Every
    target must have as many frames as the encoder outputs.

    `fit`/`evaluate` report `loss` and one `<name>_loss` per worker
    (unweighted). Two weighting schemes (paper, Section 3.3):

    - equal (`loss_weights=None` or `"equal"`): plain sum;
    - re-weighted: train with equal weights, take `weights =
      reweighted_loss_weights(history, epochs=10)` (1 / the mean
      validation loss of each worker over the first 10 epochs), then
      train a fresh model with `loss_weights=weights`.

    Under a `tf.distribute` strategy the per-replica loss is divided by
    the number of replicas before taking gradients (they are summed across
    replicas), so a step equals one on the global batch; reported losses
    are unscaled.

    Args:
        encoder: keras.Model. Maps `(batch, samples)` audio to
            `(batch, frames, emb_dim)` embeddings, e.g. `PASEPlusBackbone`.
        workers: str or sequence of str. Worker names or codes, e.g.
            `"W,L,P,M,C,T"` or `("waveform", "lps")`. Stored as names.
            Defaults to all six.
        target_dims: dict. Feature size of every selected frame-level
            worker, e.g. `{"lps": 1025, "mfcc": 20, "prosody": 4}`;
            `target_dims_from(dataset.element_spec)` reads it from a data
            set.
        loss_weights: None, `"equal"` or dict `{worker: weight}` with a
            non-negative weight for every selected worker. Defaults to
            None (equal).
        hidden_dim: int. Hidden width of the frame-level workers. Defaults
            to 256.
        decoder_filters: sequence of int. Channels of the waveform
            decoder's transposed convolutions. Defaults to
            `(256, 256, 128, 128, 64)`.
        decoder_strides: sequence of int. Their strides; the product is the
            encoder's hop in samples. Defaults to `(2, 2, 2, 2, 10)`.

    Example:

    >>> encoder = keras.Sequential([
    ...     keras.Input((1600,)),
    ...     keras.layers.Reshape((1600, 1)),
    ...     keras.layers.Conv1D(32, 160, strides=160),
    ... ])
    >>> audio = np.random.rand(4, 1600).astype("float32")
    >>> targets = {"mfcc": np.random.rand(4, 10, 20).astype("float32")}
    >>> data = tf.data.Dataset.from_tensor_slices((audio, targets)).batch(4)
    >>> model = MultiTaskPretrainer(
    ...     encoder,
    ...     workers="W,M",
    ...     target_dims=MultiTaskPretrainer.target_dims_from(data.element_spec),
    ...     hidden_dim=16,
    ...     decoder_filters=(8, 8, 8, 8, 8),
    ... )
    >>> model.compile(
    ...     optimizer="adam",
    ...     run_eagerly=True,  # a tiny fit: tracing costs more
    ... )
    >>> history = model.fit(data, validation_data=data, epochs=1, verbose=0)
    >>> sorted(history.history)[:3]
    ['loss', 'mfcc_loss', 'val_loss']
    >>> weights = MultiTaskPretrainer.reweighted_loss_weights(history, 1)
    >>> sorted(weights)
    ['mfcc', 'waveform']
    >>> reweighted = MultiTaskPretrainer(
    ...     keras.models.clone_model(encoder),
    ...     workers="W,M",
    ...     target_dims={"mfcc": 20},
    ...     loss_weights=weights,
    ...     hidden_dim=16,
    ...     decoder_filters=(8, 8, 8, 8, 8),
    ... )

    Input shape:
        `call`: audio `(batch, samples)`. `train_step`: `(audio, targets)`.

    Output shape:
        `call` returns the workers' predictions, a dict:
        `(batch, frames, target_dims[name])` per frame-level worker and
        `(batch, frames * prod(decoder_strides))` for `waveform`.

    Reference:
        Wu et al., "Multi-Task Self-Supervised Pre-Training for Music
        Classification", ICASSP 2021, Sections 2.1, 3.2 and 3.3.
    """

    def __init__(
        self,
        encoder,
        workers=WORKER_NAMES,
        target_dims=None,
        loss_weights=None,
        hidden_dim=256,
        decoder_filters=(256, 256, 128, 128, 64),
        decoder_strides=(2, 2, 2, 2, 10),
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.Model):
            raise ValueError(
                "`encoder` must be a keras.Model. "
                f"Received: encoder={encoder!r}"
            )
        self.workers = list(parse_workers(workers))
        self.loss_weights = _check_loss_weights(self.workers, loss_weights)
        self.encoder = encoder
        emb_dim = _embedding_width(encoder)
        self.worker_heads = PASEWorkers(
            self.workers,
            target_dims=target_dims,
            hidden_dim=hidden_dim,
            decoder_filters=decoder_filters,
            decoder_strides=decoder_strides,
            dtype=self.dtype_policy,
            name="workers",
        )
        self.worker_heads.build((None, None, emb_dim))
        self.target_dims = dict(self.worker_heads.target_dims)
        self.hidden_dim = self.worker_heads.hidden_dim
        self.decoder_filters = list(self.worker_heads.decoder_filters)
        self.decoder_strides = list(self.worker_heads.decoder_strides)
        self.hop_length = self.worker_heads.hop_length

        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.worker_trackers = {
            name: keras.metrics.Mean(name=f"{name}_loss")
            for name in self.workers
        }
        # Every part was built above: nothing waits for the first batch.
        self.built = True

    @property
    def metrics(self):
        return [self.loss_tracker] + list(self.worker_trackers.values())

    def call(self, inputs, training=False):
        embeddings = self.encoder(inputs, training=training)
        return self.worker_heads(embeddings, training=training)

    # === Training ===

    def _unpack(self, data):
        audio, targets, sample_weight = keras.utils.unpack_x_y_sample_weight(
            data
        )
        if sample_weight is not None:
            raise ValueError(
                "MultiTaskPretrainer does not take sample weights: batches "
                "are `(audio, {worker name: target})`."
            )
        if targets is None:
            targets = {}
        if not isinstance(targets, dict):
            raise ValueError(
                "MultiTaskPretrainer expects batches `(audio, {worker name: "
                f"target}})`. Received targets: {targets!r}"
            )
        for name in self.workers:
            if name != "waveform" and name not in targets:
                raise ValueError(
                    f"The data has no target for worker {name!r}. Batches "
                    "must be `(audio, {worker name: target})`; received "
                    f"targets for: {sorted(targets)}"
                )
        return audio, targets

    def _worker_target(self, name, audio, targets, prediction):
        if name == "waveform":
            waveform = targets.get("waveform", audio)
            if len(waveform.shape) != 2:
                raise ValueError(
                    "The target of worker 'waveform' must be audio (batch, "
                    f"samples). Received: shape={tuple(waveform.shape)}"
                )
            return self._crop_waveform(waveform, prediction)
        target = targets[name]
        dim = self.target_dims[name]
        shape = tuple(target.shape)
        if len(shape) != 3 or shape[-1] not in (None, dim):
            raise ValueError(
                f"The target of worker {name!r} must have shape (batch, "
                f"frames, {dim}) (its `target_dims`). Received: shape={shape}"
            )
        frames, expected = shape[1], prediction.shape[1]
        if frames is not None and expected is not None and frames != expected:
            raise ValueError(
                f"The target of worker {name!r} has {frames} frames but the "
                f"encoder outputs {expected}. Received: shape={shape}"
            )
        check = tf.debugging.assert_equal(
            tf.shape(target)[1],
            tf.shape(prediction)[1],
            message=f"The target of worker {name!r} must have as many frames "
            "as the encoder outputs.",
        )
        with tf.control_dependencies([check]):
            return tf.identity(target)

    def _crop_waveform(self, waveform, prediction):
        # The frames cover the first `frames * hop` samples; the rest
        # (fewer than `hop`) has no frame to be decoded from.
        length, hop = prediction.shape[1], self.hop_length
        samples = waveform.shape[1]
        if length is not None and samples is not None:
            if not length <= samples < length + hop:
                raise ValueError(
                    "Worker 'waveform' decodes "
                    f"{length // hop} frames to {length} samples (hop "
                    f"{hop} = prod(decoder_strides)), which does not match "
                    f"its target of {samples} samples: the encoder's hop "
                    f"must equal prod(decoder_strides)={hop}."
                )
            return waveform[:, :length]
        length = tf.shape(prediction)[1]
        samples = tf.shape(waveform)[1]
        checks = [
            tf.debugging.assert_less_equal(
                length,
                samples,
                message="Worker 'waveform' decodes more samples than its "
                "target has: the encoder's hop must equal "
                "prod(decoder_strides).",
            ),
            tf.debugging.assert_less(
                samples,
                length + hop,
                message="Worker 'waveform' decodes fewer samples than its "
                "target has: the encoder's hop must equal "
                "prod(decoder_strides).",
            ),
        ]
        with tf.control_dependencies(checks):
            return waveform[:, :length]

    def compute_worker_losses(self, audio, targets, predictions):
        """Unweighted mean loss of every worker, a dict of float32 scalars."""
        losses = {}
        for name in self.workers:
            prediction = predictions[name]
            target = self._worker_target(name, audio, targets, prediction)
            losses[name] = _mean_loss(name, target, prediction)
        return losses

    def _total_loss(self, worker_losses):
        total = 0.0
        for name, loss in worker_losses.items():
            weight = 1.0
            if isinstance(self.loss_weights, dict):
                weight = self.loss_weights[name]
            total = total + weight * loss
        if self.losses:
            total = total + ops.cast(ops.sum(self.losses), "float32")
        return total

    def _update_metrics(self, audio, total, worker_losses):
        # Weighted by the local batch, so that the replicas' metric
        # totals add up to the mean over the global batch.
        batch = ops.shape(audio)[0]
        self.loss_tracker.update_state(total, sample_weight=batch)
        for name, loss in worker_losses.items():
            self.worker_trackers[name].update_state(loss, sample_weight=batch)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        audio, targets = self._unpack(data)
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            predictions = self(audio, training=True)
            worker_losses = self.compute_worker_losses(
                audio, targets, predictions
            )
            total = self._total_loss(worker_losses)
            # Gradients are summed across replicas: divide each replica's
            # mean by their number to get the gradient of the global mean.
            scaled = self.optimizer.scale_loss(replica_scaled(total))
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply(gradients, variables)
        return self._update_metrics(audio, total, worker_losses)

    def test_step(self, data):
        audio, targets = self._unpack(data)
        predictions = self(audio, training=False)
        worker_losses = self.compute_worker_losses(audio, targets, predictions)
        total = self._total_loss(worker_losses)
        return self._update_metrics(audio, total, worker_losses)

    # === Helpers for recipes ===

    @staticmethod
    def target_dims_from(element_spec):
        """`target_dims` from a data set's `element_spec`.

        Args:
            element_spec: the `element_spec` of a `tf.data.Dataset` of
                `(audio, {name: (batch, frames, dim)})`.

        Returns:
            dict `{name: dim}` for every frame-level target (`waveform`
            and names that are not workers are left out).
        """
        try:
            _, targets = element_spec
        except (TypeError, ValueError):
            targets = None
        if not isinstance(targets, dict):
            raise ValueError(
                "`element_spec` must be `(audio, {name: target})`. "
                f"Received: element_spec={element_spec!r}"
            )
        dims = {}
        for name, spec in targets.items():
            if name == "waveform" or name not in WORKER_NAMES:
                continue
            dim = spec.shape[-1] if spec.shape.rank else None
            if dim is None:
                raise ValueError(
                    f"The target {name!r} has no known feature size. "
                    f"Received: element_spec={element_spec!r}"
                )
            dims[name] = int(dim)
        return dims

    @staticmethod
    def reweighted_loss_weights(history, epochs=10, prefix="val_"):
        """Re-weighting: 1 / mean loss of each worker over the first epochs.

        Phase one of the paper's re-weighted scheme (Section 3.3): after an
        equal-weight run with validation data, each worker's weight is the
        reciprocal of its mean validation loss over the first `epochs`
        epochs, so that every worker contributes about 1 to the loss of
        the fresh run trained with these weights.

        Args:
            history: a `keras.callbacks.History` (what `fit` returns), its
                `.history` dict `{metric: [per-epoch values]}`, or a list
                of per-epoch logs dicts (`on_epoch_end`'s `logs`).
            epochs: int. Number of first epochs to average. Defaults to 10.
            prefix: str. `"val_"` uses validation losses (the paper);
                `""` uses training losses. Defaults to `"val_"`.

        Returns:
            dict `{worker name: weight}` for every worker found in the
            history, ready for `loss_weights`.

        Example:

        >>> history = {"val_lps_loss": [2.0, 6.0], "val_chroma_loss": [0.5]}
        >>> MultiTaskPretrainer.reweighted_loss_weights(history, epochs=1)
        {'lps': 0.5, 'chroma': 2.0}
        """
        means = MultiTaskPretrainer._mean_losses(history, epochs, prefix)
        return {name: 1.0 / mean for name, mean in means.items()}

    @staticmethod
    def loss_scales(history, epochs=10, loss_weights=None, prefix="val_"):
        """Each worker's share of the loss: its mean loss over the first
        `epochs` epochs times its weight (what the paper's Fig. 4 plots,
        before and after re-weighting).

        Args:
            history: as `reweighted_loss_weights`'s.
            epochs: int. Number of first epochs to average. Defaults to 10.
            loss_weights: optional dict `{worker: weight}`; `None` is equal
                weights. Defaults to `None`.
            prefix: str. `"val_"` (validation) or `""` (training) losses.
                Defaults to `"val_"`.

        Returns:
            dict `{worker name: scale}` for every worker in the history.

        Example:

        >>> history = {"val_lps_loss": [2.0, 6.0], "val_chroma_loss": [0.5]}
        >>> MultiTaskPretrainer.loss_scales(
        ...     history, epochs=1, loss_weights={"lps": 0.5, "chroma": 2.0}
        ... )
        {'lps': 1.0, 'chroma': 1.0}
        """
        means = MultiTaskPretrainer._mean_losses(history, epochs, prefix)
        if loss_weights is None:
            return means
        missing = sorted(set(means) - set(loss_weights))
        if missing:
            raise ValueError(
                f"`loss_weights` has no weight for the workers {missing} of "
                f"the history. Received: loss_weights={loss_weights!r}"
            )
        return {name: mean * loss_weights[name] for name, mean in means.items()}

    @staticmethod
    def _mean_losses(history, epochs, prefix):
        """dict worker -> mean `{prefix}{worker}_loss` over the first
        `epochs` epochs, for every worker in `history`."""
        if isinstance(history, keras.callbacks.History):
            history = history.history
        if isinstance(history, (list, tuple)):
            merged = {}
            for logs in history:
                for key, value in logs.items():
                    merged.setdefault(key, []).append(value)
            history = merged
        if not isinstance(history, dict):
            raise ValueError(
                "`history` must be a keras History, a dict of per-epoch "
                "values or a list of per-epoch logs. "
                f"Received: history={history!r}"
            )
        epochs = int(epochs) if not isinstance(epochs, bool) else 0
        if epochs < 1:
            raise ValueError(
                "`epochs` must be a positive integer. "
                f"Received: epochs={epochs!r}"
            )
        means = {}
        for name in WORKER_NAMES:
            key = f"{prefix}{name}_loss"
            if key not in history:
                continue
            values = [float(v) for v in history[key]]
            if len(values) < epochs:
                raise ValueError(
                    f"Worker {name!r} has {len(values)} epochs of "
                    f"`{key}`, fewer than the {epochs} to average. "
                    f"Received: epochs={epochs}"
                )
            mean = float(np.mean(values[:epochs]))
            if not math.isfinite(mean) or mean <= 0.0:
                raise ValueError(
                    f"Worker {name!r} has a mean `{key}` of {mean} over the "
                    "first epochs; re-weighting needs a positive finite "
                    "loss."
                )
            means[name] = mean
        if not means:
            raise ValueError(
                f"`history` has no `{prefix}<worker>_loss` entries (did the "
                "equal-weight run get `validation_data`?). Received keys: "
                f"{sorted(history)}"
            )
        return means

    # === Config ===

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                **serialize_objects(encoder=self.encoder),
                "workers": list(self.workers),
                "target_dims": dict(self.target_dims),
                "loss_weights": self.loss_weights,
                "hidden_dim": self.hidden_dim,
                "decoder_filters": list(self.decoder_filters),
                "decoder_strides": list(self.decoder_strides),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_objects(config, "encoder"))


def _check_loss_weights(workers, loss_weights):
    if loss_weights is None or loss_weights == "equal":
        return loss_weights
    if not isinstance(loss_weights, dict):
        raise ValueError(
            '`loss_weights` must be None, "equal" or a dict {worker: '
            f"weight}}. Received: loss_weights={loss_weights!r}"
        )
    weights = {}
    for key, value in loss_weights.items():
        name = worker_name(key)
        if name not in workers:
            raise ValueError(
                f"`loss_weights` has a weight for {key!r}, which is not "
                f"one of the workers {workers}. "
                f"Received: loss_weights={loss_weights!r}"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.integer, np.floating))
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(
                f"`loss_weights` of worker {name!r} must be a non-negative "
                f"number. Received: loss_weights={loss_weights!r}"
            )
        weights[name] = float(value)
    missing = [name for name in workers if name not in weights]
    if missing:
        raise ValueError(
            f"`loss_weights` has no weight for worker(s) {missing}. "
            f"Received: loss_weights={loss_weights!r}"
        )
    return weights
