"""`EpochSelector`: keeps the weights of the best validation epoch."""

import math

import keras
import numpy as np

from keras_music.evaluation.probe_heads import probe_loss
from keras_music.evaluation.task_metrics import selection_score


class EpochSelector(keras.callbacks.Callback):
    """Keeps the weights of the best validation epoch; optional patience.

    The callback of the downstream protocols (`train_probe`,
    `evaluate_finetune`): after every epoch it scores the model on the
    validation split and, at the end of training, puts back the weights
    of the best epoch. `validation_logits` is a function of the model
    giving the validation logits (track-level for fine-tuning). Without
    validation data the last epoch is kept.

    Args:
        validation_logits: callable. `validation_logits(model)` returns
            the validation logits, `(tracks, outputs)`.
        validation_labels: array. Class indices `(tracks,)`, or multi-hot
            `(tracks, tags)` with -1 for labels not annotated.
        multi_label: bool. Whether the task is multi-label (sigmoid
            binary cross-entropy, macro ROC-AUC) or single-label (softmax
            cross-entropy, top-1 accuracy).
        selection: str. `"best_metric"` (macro ROC-AUC or top-1),
            `"best_loss"` (lowest validation loss) or `"last"` (keep the
            last epoch; the callback does nothing).
        patience: int or None. Stop after this many epochs without a
            better score; `None` trains every epoch.

    Example:

    >>> x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("int32")
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> model.compile(
    ...     optimizer="adam",
    ...     loss=probe_loss(multi_label=False),
    ...     run_eagerly=True,  # a tiny fit: tracing costs more
    ... )
    >>> selector = EpochSelector(
    ...     lambda m: m(x, training=False), y, multi_label=False,
    ...     selection="best_loss", patience=2,
    ... )
    >>> _ = model.fit(x, y, epochs=3, verbose=0, callbacks=[selector])
    >>> selector.best_epoch in (0, 1, 2)
    True
    """

    def __init__(
        self,
        validation_logits,
        validation_labels,
        multi_label,
        selection,
        patience=None,
    ):
        super().__init__()
        self.validation_logits = validation_logits
        self.validation_labels = validation_labels
        self.multi_label = multi_label
        self.selection = selection
        self.patience = patience
        self.loss = probe_loss(multi_label)
        self.best_score = -math.inf
        self.best_epoch = None
        self.best_weights = None
        self.wait = 0

    def _score(self):
        logits = np.asarray(self.validation_logits(self.model), "float32")
        labels = self.validation_labels
        loss = -float(self.loss(labels, logits))
        if self.selection == "best_loss":
            return loss
        score = selection_score(labels, logits, self.multi_label)
        # An undefined metric (a validation split too small to have both
        # classes of any tag) falls back to the loss, scaled below any
        # metric value so that the two are never compared.
        return score if np.isfinite(score) else loss - 1e6

    def on_epoch_end(self, epoch, logs=None):
        if self.selection == "last" or len(self.validation_labels) == 0:
            return
        score = self._score()
        if score > self.best_score:
            self.best_score, self.best_epoch = score, epoch
            self.best_weights = [w.numpy() for w in self.model.weights]
            self.wait = 0
            return
        self.wait += 1
        if self.patience is not None and self.wait >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            for weight, value in zip(self.model.weights, self.best_weights):
                weight.assign(value)
