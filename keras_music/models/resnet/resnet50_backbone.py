import keras

from keras_music.layers.validation import check_positive_int
from keras_music.models.backbone import Backbone


def _synchronize(layer):
    # Under MirroredStrategy, synchronized BatchNorm computes its batch
    # statistics over the global batch: MoCo's keys and queries then
    # cannot "cheat" through per-replica statistics (S3T uses shuffle-BN
    # or synchronized BN for CNN encoders).
    config = layer.get_config()
    if isinstance(layer, keras.layers.BatchNormalization):
        config["synchronized"] = True
    return layer.__class__.from_config(config)


@keras.saving.register_keras_serializable(package="keras_music")
class ResNet50Backbone(Backbone):
    """ResNet-50 on 1-channel spectrograms, the CNN baseline of S3T.

    `keras.applications.ResNet50` without its classifier and without
    pretrained weights, on a one-channel input, global-average pooled to a
    2048-d embedding. Its BatchNormalization layers can be synchronized
    across replicas for contrastive pre-training under `tf.distribute`.

    Args:
        input_size: (int, int). Height (frequency bins) and width (frames)
            of the input; each at least 32. Defaults to (256, 256).
        synchronized_batch_norm: bool. Whether BatchNormalization uses
            global-batch statistics under a distribution strategy.
            Defaults to True.
        dtype: string or `keras.DTypePolicy`. Defaults to None.

    Example:

    >>> backbone = ResNet50Backbone(
    ...     input_size=(32, 32), synchronized_batch_norm=False
    ... )
    >>> backbone(np.zeros((1, 32, 32), "float32")).shape
    TensorShape([1, 2048])

    Input shape:
        `(batch, height, width)` or `(batch, height, width, 1)`.

    Output shape:
        `(batch, 2048)`.

    Reference:
        He et al., "Deep Residual Learning for Image Recognition", CVPR
        2016; Zhao et al., "S3T", ICASSP 2022, Table 3.
    """

    def __init__(
        self,
        input_size=(256, 256),
        synchronized_batch_norm=True,
        dtype=None,
        **kwargs,
    ):
        try:
            height, width = (
                check_positive_int("input_size", v) for v in input_size
            )
        except (TypeError, ValueError):
            height = width = None
        if height is None or min(height, width) < 32:
            raise ValueError(
                "`input_size` must be (height, width), each at least 32 "
                "(ResNet-50 downsamples 32x). "
                f"Received: input_size={input_size!r}"
            )
        input_size = (height, width)

        # === Layers ===
        resnet = keras.applications.ResNet50(
            include_top=False,
            weights=None,
            input_shape=input_size + (1,),
            pooling="avg",
        )
        if synchronized_batch_norm:
            resnet = keras.models.clone_model(
                resnet, clone_function=_synchronize
            )
        self.resnet = resnet

        # === Functional model ===
        inputs = keras.Input(shape=input_size, name="spectrogram")
        x = keras.layers.Reshape(input_size + (1,), name="add_channel")(inputs)
        outputs = self.resnet(x)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.input_size = input_size
        self.synchronized_batch_norm = bool(synchronized_batch_norm)
        self.output_dim = 2048

    def get_config(self):
        return {
            **super().get_config(),
            "input_size": self.input_size,
            "synchronized_batch_norm": self.synchronized_batch_norm,
        }
