"""`AudioEmbedder`: a backbone read at one block, on raw audio."""

import keras

from keras_music.models.maest.maest_readout import maest_block_readout


@keras.saving.register_keras_serializable(package="keras_music")
class AudioEmbedder(keras.Model):
    """A task model giving one embedding per segment of audio.

    Holds a backbone, the preprocessor of its input (sample rate, segment
    length, frontend) and a read-out, all in `get_config`, so that a
    `.keras` file reloads with everything an export or a user needs
    (`model.preprocessor.sample_rate`). With a preprocessor the model
    takes mono audio `(batch, samples)` at its rate; without one it takes
    the backbone's input.

    The read-out: for a `MAESTBackbone`, the `token` of block `block`
    (`maest_block_readout`, the one read-out used everywhere); for other
    backbones, their output (`block` must be `None`), averaged over time
    when it is a sequence (PASE's frames).

    Args:
        backbone: `Backbone`. The (trained) network.
        preprocessor: optional `AudioPreprocessor`. Defaults to `None`.
        block: optional int. MAEST block read, 1-based (0 = the input of
            the first block). Defaults to `None`: the last block.
        token: optional str. MAEST token read: `"stack"`, `"cls"`,
            `"dist"`, `"avg"` or `"cls_dist"`; `None` or `"avg"` for other
            backbones. Defaults to `None`: `"stack"` for MAEST.
        metadata: optional dict. As `Tagger`'s: dataset and metrics for
            the model card of an export. Defaults to `None`.
        **kwargs: `name`, `trainable`.

    Example:

    >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=2)
    >>> preprocessor = AudioPreprocessor(
    ...     LogMelSpectrogram(hop_length=256, normalize=True),
    ...     segment_seconds=1.04,
    ... )
    >>> embedder = AudioEmbedder(backbone, preprocessor, block=1)
    >>> embedder(np.zeros((2, 16640), "float32")).shape
    TensorShape([2, 96])

    Input shape:
        `(batch, segment_samples)` audio with a preprocessor, else the
        backbone's input.

    Output shape:
        `(batch, dim)`.

    Reference:
        Alonso-Jiménez et al., ISMIR 2023, Section 4.1 (block embeddings).
    """

    def __init__(
        self,
        backbone,
        preprocessor=None,
        block=None,
        token=None,
        metadata=None,
        **kwargs,
    ):
        is_maest = hasattr(backbone, "block_output")
        if not is_maest and block is not None:
            raise ValueError(
                "`block` is for MAEST backbones; other backbones are read at "
                f"their output. Received: block={block!r} with backbone "
                f"{type(backbone).__name__}"
            )
        if not is_maest and token not in (None, "avg"):
            raise ValueError(
                "`token` must be None or 'avg' for a backbone that is not "
                f"MAEST. Received: token={token!r}"
            )
        if is_maest:
            if block is None:
                block = backbone.num_layers
            token = token or "stack"

        # === Layers ===
        if is_maest:
            readout = maest_block_readout(backbone, block, token)
        else:
            readout = backbone

        # === Functional model ===
        if preprocessor is None:
            inputs = keras.Input(shape=backbone.input_shape[1:], name="input")
            x = inputs
        else:
            inputs = keras.Input(
                shape=(preprocessor.segment_samples,), name="audio"
            )
            x = preprocessor(inputs)
        x = readout(x)
        if len(x.shape) == 3:
            x = keras.layers.GlobalAveragePooling1D(name="time_average")(x)
        super().__init__(inputs=inputs, outputs=x, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.block = block
        self.token = token
        self.metadata = metadata

    def get_config(self):
        preprocessor = self.preprocessor
        if preprocessor is not None:
            preprocessor = keras.saving.serialize_keras_object(preprocessor)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "preprocessor": preprocessor,
            "block": self.block,
            "token": self.token,
            "metadata": self.metadata,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(
            config["backbone"]
        )
        if isinstance(config.get("preprocessor"), dict):
            config["preprocessor"] = keras.saving.deserialize_keras_object(
                config["preprocessor"]
            )
        return cls(**config)
