"""EfficientNet-B0 tagger: the CNN baseline MAEST is compared with."""

import keras

from keras_music.layers.validation import check_positive_int
from keras_music.models.tagger import Tagger


@keras.saving.register_keras_serializable(package="keras_music")
class EfficientNetTagger(Tagger):
    """EfficientNet-B0 on log-mel spectrograms with a tagging head.

    The MAEST paper's baseline: `keras.applications.EfficientNetB0`
    (random initialisation, no ImageNet weights) on a one-channel
    spectrogram `(num_mel_bins, num_frames, 1)`, global average pooling,
    and a dense layer with one output per tag. It takes the same
    frequency-first log-mel input as `MAESTBackbone`; the channel axis is
    added inside. EfficientNet's built-in input scaling (1/255 and an
    identity `Normalization`) is kept: the batch normalisation after the
    stem convolution absorbs the scale.

    Compiled with no arguments it trains as a multi-label tagger (binary
    cross-entropy, Adam, ROC-AUC and PR-AUC).

    Args:
        num_tags: int. Number of tags. Defaults to 400.
        num_mel_bins: int. Mel bands. Defaults to 96.
        num_frames: int. Frames per input patch; EfficientNet needs a
            fixed size. Defaults to 128 (about 2 s at hop 256, 16 kHz,
            the patch length of the Discogs EfficientNet models).
        activation: str. Output activation; `None` gives logits.
            Defaults to `"sigmoid"`.
        preprocessor: optional `AudioPreprocessor`. Defaults to `None`.
        vocabulary: optional list of `num_tags` tag names. Defaults to
            `None`.

    Example:
    >>> tagger = EfficientNetTagger(num_tags=5, num_mel_bins=32, num_frames=32)
    >>> tagger(np.zeros((1, 32, 32), "float32")).shape
    TensorShape([1, 5])

    Input shape:
        `(batch, num_mel_bins, num_frames)`.

    Output shape:
        `(batch, num_tags)`, float32.

    Reference:
        Tan and Le, "EfficientNet: Rethinking Model Scaling for
        Convolutional Neural Networks", ICML 2019; Alonso-Jiménez et al.,
        ISMIR 2023, Section 4.4 (the EffNet-B0 baseline).
    """

    def __init__(
        self,
        num_tags=400,
        num_mel_bins=96,
        num_frames=128,
        activation="sigmoid",
        preprocessor=None,
        vocabulary=None,
        **kwargs,
    ):
        num_tags = check_positive_int("num_tags", num_tags)
        num_mel_bins = check_positive_int("num_mel_bins", num_mel_bins)
        num_frames = check_positive_int("num_frames", num_frames)
        # Five stride-2 stages: smaller inputs collapse to nothing.
        for name, value in (
            ("num_mel_bins", num_mel_bins),
            ("num_frames", num_frames),
        ):
            if value < 32:
                raise ValueError(
                    f"`{name}` must be at least 32 for EfficientNet-B0. "
                    f"Received: {name}={value}"
                )

        # === Layers ===
        add_channel = keras.layers.Reshape(
            (num_mel_bins, num_frames, 1), name="add_channel"
        )
        cnn = keras.applications.EfficientNetB0(
            include_top=False,
            weights=None,
            input_shape=(num_mel_bins, num_frames, 1),
            pooling="avg",
        )
        head = keras.layers.Dense(
            num_tags, activation=activation, dtype="float32", name="head"
        )

        # === Functional model ===
        inputs = keras.Input(
            shape=(num_mel_bins, num_frames), name="log_mel_spectrogram"
        )
        outputs = head(cnn(add_channel(inputs)))
        super().__init__(
            inputs=inputs,
            outputs=outputs,
            preprocessor=preprocessor,
            vocabulary=vocabulary,
            **kwargs,
        )

        # === Config ===
        self.num_tags = num_tags
        self.num_mel_bins = num_mel_bins
        self.num_frames = num_frames
        self.activation = activation
        self.cnn = cnn

    def get_config(self):
        return {
            **super().get_config(),
            "num_tags": self.num_tags,
            "num_mel_bins": self.num_mel_bins,
            "num_frames": self.num_frames,
            "activation": self.activation,
        }
