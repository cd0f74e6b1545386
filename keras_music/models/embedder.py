"""`AudioEmbedder`: a backbone read at one block, on raw audio."""

import keras

from keras_music.models.maest.maest_readout import maest_block_readout
from keras_music.models.swin.swin_readout import swin_stage_readout
from keras_music.models.tagger import check_metadata
from keras_music.utils.serialization import deserialize_objects
from keras_music.utils.serialization import serialize_objects


@keras.saving.register_keras_serializable(package="keras_music")
class AudioEmbedder(keras.Model):
    """A task model giving one embedding per segment of audio.

    Holds a backbone, the preprocessor of its input (sample rate, segment
    length, frontend) and a read-out, all in `get_config`, so that a
    `.keras` file reloads with everything an export or a user needs
    (`model.preprocessor.sample_rate`). With a preprocessor the model
    takes mono audio `(batch, samples)` at its rate; without one it takes
    the backbone's input.

    The read-out, chosen by `block` (how deep) and `token` (what is read
    there): for a `MAESTBackbone`, the `token` of block `block`
    (`maest_block_readout`); for a `SwinBackbone` or an `S3TBackbone`,
    stage `block` averaged over its grid (`swin_stage_readout`; `token`
    `None` or `"avg"`); for other backbones, and for a Swin with
    `block=None`, the backbone's output, averaged over time when it is a
    sequence (PASE's frames). These read-outs are the ones evaluation
    and export use.

    Args:
        backbone: `Backbone`. The (trained) network.
        preprocessor: optional `AudioPreprocessor`. Defaults to `None`.
        block: optional int. MAEST block read, 1-based (0 = the input of
            the first block), or Swin / S3T stage read, 1-based. Defaults
            to `None`: MAEST's last block, a Swin's own output.
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

    The first stage of an S3T encoder, on its raw audio:

    >>> s3t = S3TBackbone.from_preset("s3t_test_tiny")
    >>> AudioEmbedder(s3t, block=1).output_shape
    (None, 16)

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
        # An `S3TBackbone` reads the stages of the Swin it holds.
        has_stages = hasattr(
            getattr(backbone, "swin", backbone), "stage_output"
        )
        if not (is_maest or has_stages) and block is not None:
            raise ValueError(
                "`block` is for MAEST backbones (a block) and Swin or S3T "
                "backbones (a stage); other backbones are read at their "
                f"output. Received: block={block!r} with backbone "
                f"{type(backbone).__name__}"
            )
        if not is_maest and token not in (None, "avg"):
            raise ValueError(
                "`token` must be None or 'avg' for a backbone that is not "
                f"MAEST. Received: token={token!r}"
            )
        metadata = check_metadata(metadata)
        if is_maest:
            if block is None:
                block = backbone.num_layers
            token = token or "stack"

        # === Layers ===
        if is_maest:
            readout = maest_block_readout(backbone, block, token)
        elif has_stages:
            try:
                readout = swin_stage_readout(backbone, block)
            except ValueError as error:
                raise ValueError(
                    f"`block` is the stage read of {type(backbone).__name__}"
                    f": {error}"
                ) from None
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
        return {
            "name": self.name,
            "trainable": self.trainable,
            **serialize_objects(
                backbone=self.backbone, preprocessor=self.preprocessor
            ),
            "block": self.block,
            "token": self.token,
            "metadata": self.metadata,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_objects(config, "backbone", "preprocessor"))
