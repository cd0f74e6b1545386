"""`EpochSelector`: keeps the weights of the best validation epoch."""

import math

import keras
import numpy as np

from keras_music.evaluation.probe_heads import probe_loss
from keras_music.evaluation.task_metrics import selection_score


class EpochSelector(keras.callbacks.Callback):
    """Keeps the weights of the best validation epoch; optional patience.

    `validation_logits` is a function of the model giving the validation
    logits (track-level for fine-tuning). Without validation data the last
    epoch is kept.
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
