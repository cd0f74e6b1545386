"""`Tagger`: the compile defaults every multi-label tagger shares."""

import keras


class Tagger(keras.Model):
    """Base class of multi-label taggers (sigmoid outputs).

    Subclasses build a functional model and set `self.activation`
    (`"sigmoid"`, or `None` for logits). `compile()` with its `"auto"`
    arguments then gives binary cross-entropy (on logits when
    `activation=None`), ROC-AUC and PR-AUC metrics (Keras' streaming
    approximations, for monitoring; report
    `keras_music.evaluation.metrics`), and `default_optimizer()`.
    """

    def default_optimizer(self):
        return keras.optimizers.Adam(1e-3)

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        from_logits = self.activation is None
        if optimizer == "auto":
            optimizer = self.default_optimizer()
        if loss == "auto":
            loss = keras.losses.BinaryCrossentropy(from_logits=from_logits)
        if metrics == "auto":
            metrics = [
                keras.metrics.AUC(
                    multi_label=True, from_logits=from_logits, name="roc_auc"
                ),
                keras.metrics.AUC(
                    curve="PR",
                    multi_label=True,
                    from_logits=from_logits,
                    name="pr_auc",
                ),
            ]
        super().compile(
            optimizer=optimizer, loss=loss, metrics=metrics, **kwargs
        )

    def compile_from_config(self, config):
        # Restores the compile arguments saved in a `.keras` file (the
        # base class skips models that override `compile`).
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)
