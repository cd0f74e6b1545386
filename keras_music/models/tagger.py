"""`Tagger`: the compile defaults every multi-label tagger shares."""

import keras

from keras_music.utils.serialization import deserialize_objects
from keras_music.utils.serialization import serialize_objects


def check_metadata(metadata):
    """Refuses `metadata` that is neither `None` nor a dict."""
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(
            "`metadata` must be a dict (dataset, metrics, ...). "
            f"Received: metadata={metadata!r}"
        )
    return metadata


class Tagger(keras.Model):
    """Base class of multi-label taggers (sigmoid outputs).

    Subclasses build a functional model and set `self.activation`
    (`"sigmoid"`, or `None` for logits). `compile()` with its `"auto"`
    arguments then gives binary cross-entropy (on logits when
    `activation=None`), ROC-AUC and PR-AUC metrics (Keras' streaming
    approximations, for monitoring; report
    `keras_music.evaluation.metrics`), and `default_optimizer()`.

    `MAESTTagger` and `EfficientNetTagger` are its subclasses; the
    example below is the smallest one, a linear tagger on 8 features.

    Args:
        preprocessor: optional `AudioPreprocessor`. Sample rate, segment
            and frontend of the model's input. Defaults to `None`.
        vocabulary: optional list of str. One tag name per output.
            Defaults to `None`.
        metadata: optional dict. What the model was trained and scored
            on, carried to its exports' model cards: `dataset` (a name,
            or a dict with `name`, `citation`, `size`), `metrics` (the
            evaluation the training run measured) and optionally `link`,
            `description`, `author`, `citation`. JSON values only.
            Defaults to `None`.
        **kwargs: The functional model's arguments (`inputs`, `outputs`,
            `name`), passed on by the subclass.

    Example:

    >>> class LinearTagger(Tagger):
    ...     def __init__(self, num_tags, **kwargs):
    ...         inputs = keras.Input((8,))
    ...         outputs = keras.layers.Dense(num_tags)(inputs)
    ...         super().__init__(inputs=inputs, outputs=outputs, **kwargs)
    ...         self.activation = None  # logits
    >>> tagger = LinearTagger(num_tags=3)
    >>> tagger.compile(run_eagerly=True)  # a tiny fit: tracing costs more
    >>> tagger.loss.from_logits
    True
    >>> x = np.random.rand(4, 8).astype("float32")
    >>> y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], "float32")
    >>> sorted(tagger.fit(x, y, verbose=0).history)
    ['loss', 'pr_auc', 'roc_auc']
    """

    def __init__(
        self,
        *args,
        preprocessor=None,
        vocabulary=None,
        metadata=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        if vocabulary is not None:
            vocabulary = [str(tag) for tag in vocabulary]
            if len(vocabulary) != self.output_shape[-1]:
                raise ValueError(
                    f"`vocabulary` must name each of the "
                    f"{self.output_shape[-1]} outputs. Received: "
                    f"{len(vocabulary)} names"
                )
        # What a user or an export needs besides the weights, kept in
        # the config so that a `.keras` file reloads with it.
        self.preprocessor = preprocessor
        self.vocabulary = vocabulary
        self.metadata = check_metadata(metadata)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            **serialize_objects(preprocessor=self.preprocessor),
            "vocabulary": self.vocabulary,
            "metadata": self.metadata,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_objects(config, "preprocessor"))

    def audio_model(self, features, name=None):
        """`features` (a model on this tagger's input) on raw audio: the
        preprocessor first, so the result maps mono audio `(batch,
        samples)` at `preprocessor.sample_rate` to the features.

        Raises a `ValueError` for a tagger without a preprocessor that
        has a frontend (one that takes its input as the frontend gives
        it)."""
        preprocessor = self.preprocessor
        if preprocessor is None or preprocessor.frontend is None:
            raise ValueError(
                f"`{self.name}` has no preprocessor with a frontend, so it "
                "cannot take audio: pass `audio=False` (spectrogram input), "
                "or build the tagger with `preprocessor=AudioPreprocessor("
                "frontend, ...)`."
            )
        inputs = keras.Input(
            shape=(preprocessor.segment_samples,), name="audio"
        )
        return keras.Model(
            inputs, features(preprocessor(inputs)), name=name or features.name
        )

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
