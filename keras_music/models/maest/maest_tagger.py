"""MAEST with its multi-label tagging head."""

import keras

from keras_music.layers.validation import check_positive_int
from keras_music.models.maest.maest_backbone import reset_compiled_functions
from keras_music.models.maest.maest_layers import MAESTTokenPooling
from keras_music.models.maest.maest_readout import maest_block_readout
from keras_music.models.tagger import Tagger
from keras_music.utils.serialization import deserialize_objects
from keras_music.utils.serialization import serialize_objects


@keras.saving.register_keras_serializable(package="keras_music")
class MAESTTagger(Tagger):
    """A `MAESTBackbone` with MAEST's tagging head.

    The head averages the final (LayerNorm-ed) `cls` and `dist` tokens,
    then applies a LayerNorm (epsilon 1e-5, PyTorch's default, as in the
    reference head) and a dense layer with one output per tag. Compiled
    with no arguments it trains as a multi-label tagger: binary
    cross-entropy, AdamW, ROC-AUC and PR-AUC (mAP).

    Args:
        backbone: `MAESTBackbone`. The transformer.
        num_tags: int. Number of tags. Defaults to 400 (Discogs styles).
        activation: str. Output activation; `"sigmoid"` gives tag
            probabilities, `None` logits. Defaults to `"sigmoid"`.
        preprocessor: optional `AudioPreprocessor`. Defaults to `None`.
        vocabulary: optional list of `num_tags` tag names. Defaults to
            `None`.

    Example:
    >>> backbone = MAESTBackbone.from_preset("maest_tiny")
    >>> tagger = MAESTTagger(backbone, num_tags=5)
    >>> tagger(np.zeros((2, 96, 66), "float32")).shape
    TensorShape([2, 5])

    Input shape:
        `(batch, num_mel_bins, frames)`, at most one segment.

    Output shape:
        `(batch, num_tags)`, float32.

    Reference:
        Alonso-Jiménez et al., ISMIR 2023, Section 3.2; Touvron et al.,
        "Training data-efficient image transformers & distillation
        through attention", ICML 2021 (the `cls`/`dist` average).
    """

    def __init__(
        self,
        backbone,
        num_tags=400,
        activation="sigmoid",
        preprocessor=None,
        vocabulary=None,
        **kwargs,
    ):
        if not hasattr(backbone, "set_inference_patchout"):
            raise ValueError(
                "`backbone` must be a `MAESTBackbone`. "
                f"Received: backbone={backbone!r}"
            )
        num_tags = check_positive_int("num_tags", num_tags)

        # === Layers ===
        pooling = MAESTTokenPooling(
            "cls_dist", dtype=backbone.dtype_policy, name="head_pooling"
        )
        head_norm = keras.layers.LayerNormalization(
            epsilon=1e-5, dtype=backbone.dtype_policy, name="head_norm"
        )
        # float32 outputs: probabilities near 0 or 1 lose their
        # resolution in float16 / bfloat16.
        head_dense = keras.layers.Dense(
            num_tags, activation=activation, dtype="float32", name="head"
        )

        # === Functional model ===
        inputs = backbone.input
        x = backbone(inputs)
        x = pooling(x)
        x = head_norm(x)
        outputs = head_dense(x)
        super().__init__(
            inputs=inputs,
            outputs=outputs,
            preprocessor=preprocessor,
            vocabulary=vocabulary,
            **kwargs,
        )

        # === Config ===
        self.backbone = backbone
        self.num_tags = num_tags
        self.activation = activation

    def set_inference_patchout(self, time_stride=None, freq_drop=None):
        """Inference patchout of the backbone; see
        `MAESTBackbone.set_inference_patchout`."""
        self.backbone.set_inference_patchout(time_stride, freq_drop)
        reset_compiled_functions(self)

    def embedding_model(self, block=None, token="stack", audio=None):
        """The `token` embedding of block `block`, as a Keras model.

        The read-out is `maest_block_readout`'s (the one used by the
        evaluation encoders and the exports), on this tagger's weights.

        Args:
            block: int. Block read, 1-based (0 = the input of the first
                block). Defaults to `None`: the last block.
            token: str. `"stack"` (`3 * hidden_dim`), `"cls"`, `"dist"`,
                `"avg"` or `"cls_dist"`. Defaults to `"stack"`.
            audio: optional bool. Whether the model takes raw audio
                (through `self.preprocessor`) or spectrograms. Defaults to
                `None`: audio when the tagger has a preprocessor with a
                frontend.

        Returns:
            `keras.Model`, `(batch, samples)` or `(batch, num_mel_bins,
            frames)` -> `(batch, dim)`.

        Example:

        >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=2)
        >>> tagger = MAESTTagger(backbone, num_tags=3)
        >>> embed = tagger.embedding_model(block=1, token="cls")
        >>> embed(np.zeros((2, 96, 66), "float32")).shape
        TensorShape([2, 32])
        """
        readout = maest_block_readout(self.backbone, block, token)
        if audio is None:
            audio = getattr(self.preprocessor, "frontend", None) is not None
        if not audio:
            return readout
        return self.audio_model(readout)

    def default_optimizer(self):
        # MAEST: AdamW, learning rate 1e-4, weight decay 1e-4.
        return keras.optimizers.AdamW(learning_rate=1e-4, weight_decay=1e-4)

    def get_config(self):
        return {
            **super().get_config(),
            **serialize_objects(backbone=self.backbone),
            "num_tags": self.num_tags,
            "activation": self.activation,
        }

    @classmethod
    def from_config(cls, config):
        return super().from_config(deserialize_objects(config, "backbone"))
