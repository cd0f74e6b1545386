"""Whole-track MAEST embeddings in one graph."""

import keras

from keras_music.layers.validation import check_positive_int
from keras_music.models.maest.maest_backbone import reset_compiled_functions
from keras_music.models.maest.maest_layers import MAESTSegmentAverage
from keras_music.models.maest.maest_layers import MAESTSegmenter
from keras_music.models.maest.maest_layers import MAESTTokenPooling


@keras.saving.register_keras_serializable(package="keras_music")
class MAESTEmbedder(keras.Model):
    """Track-level embeddings from a `MAESTBackbone`.

    Takes a log-mel spectrogram of any length (or raw audio, when a
    `frontend` is given), splits it into half-overlapped segments of the
    model's length (`MAESTSegmenter`: the last segment is aligned with the
    end of the track; a track shorter than one segment is one shorter
    segment), runs all segments of all tracks as one batch through the
    backbone up to block `block`, reads the `token` embedding of each
    segment and averages them per track. Everything is graph ops, so the
    model runs under `tf.function` and exports as one SavedModel.

    Blocks are numbered from 1 as in the paper (see `MAESTBackbone`):
    `block=7` is the paper's best, the output of the 7th block, `k^7`.

    Args:
        backbone: `MAESTBackbone`. The (trained) transformer.
        block: int. Block whose tokens are read, 1-based; 0 is the input
            of the first block. Defaults to 7.
        token: str. `"stack"` (cls, dist, avg → `(3, hidden_dim)`),
            `"cls"`, `"dist"`, `"avg"` or `"cls_dist"`. Defaults to
            `"stack"`.
        frontend: optional `keras.layers.Layer`. Maps audio
            `(batch, samples)` to the backbone's input
            `(batch, num_mel_bins, frames)`, e.g. `LogMelSpectrogram`
            with MAEST's settings. `None`: the model takes spectrograms.
        segment_frames: int. Frames per segment. Defaults to
            `backbone.num_frames`.
        hop_frames: int. Frames between segment starts. Defaults to
            `segment_frames // 2` (half overlap).

    Example:
    >>> backbone = MAESTBackbone.from_preset("maest_tiny")
    >>> embedder = MAESTEmbedder(backbone, block=1)
    >>> embedder(np.zeros((2, 96, 500), "float32")).shape
    TensorShape([2, 3, 32])

    Input shape:
        `(batch, num_mel_bins, frames)` with `frames >= 16`, or
        `(batch, samples)` with a `frontend`.

    Output shape:
        `(batch, 3, hidden_dim)` for `token="stack"`, else
        `(batch, hidden_dim)`.

    Reference:
        Alonso-Jiménez et al., ISMIR 2023, Sections 3.3 and 4.1.
    """

    def __init__(
        self,
        backbone,
        block=7,
        token="stack",
        frontend=None,
        segment_frames=None,
        hop_frames=None,
        **kwargs,
    ):
        if not hasattr(backbone, "block_output"):
            raise ValueError(
                "`backbone` must be a `MAESTBackbone`. "
                f"Received: backbone={backbone!r}"
            )
        if segment_frames is None:
            segment_frames = backbone.num_frames
        segment_frames = check_positive_int("segment_frames", segment_frames)
        if segment_frames > backbone.num_frames:
            raise ValueError(
                "`segment_frames` must be at most the backbone's "
                f"`num_frames` ({backbone.num_frames}). Received: "
                f"segment_frames={segment_frames}"
            )
        if hop_frames is None:
            hop_frames = max(segment_frames // 2, 1)
        hop_frames = check_positive_int("hop_frames", hop_frames)

        # === Layers ===
        features = keras.Model(
            backbone.input,
            backbone.block_output(block),
            name=f"{backbone.name}_to_block_{block}",
        )
        segmenter = MAESTSegmenter(segment_frames, hop_frames, name="segmenter")
        pooling = MAESTTokenPooling(
            token, dtype=backbone.dtype_policy, name="token_pooling"
        )
        average = MAESTSegmentAverage(
            dtype=backbone.dtype_policy, name="segment_average"
        )

        # === Functional model ===
        if frontend is None:
            inputs = keras.Input(
                shape=(backbone.num_mel_bins, None),
                name="log_mel_spectrogram",
            )
            spectrogram = inputs
        else:
            inputs = keras.Input(shape=(None,), name="audio")
            spectrogram = frontend(inputs)
        segments = segmenter(spectrogram)
        tokens = features(segments)
        embeddings = average([pooling(tokens), spectrogram])
        super().__init__(inputs=inputs, outputs=embeddings, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.block = block
        self.token = token
        self.frontend = frontend
        self.segment_frames = segment_frames
        self.hop_frames = hop_frames

    def set_inference_patchout(self, time_stride=None, freq_drop=None):
        """Inference patchout of the backbone; see
        `MAESTBackbone.set_inference_patchout`."""
        self.backbone.set_inference_patchout(time_stride, freq_drop)
        reset_compiled_functions(self)

    def get_config(self):
        frontend = self.frontend
        if frontend is not None:
            frontend = keras.saving.serialize_keras_object(frontend)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "block": self.block,
            "token": self.token,
            "frontend": frontend,
            "segment_frames": self.segment_frames,
            "hop_frames": self.hop_frames,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(
            config["backbone"]
        )
        if config.get("frontend") is not None:
            config["frontend"] = keras.saving.deserialize_keras_object(
                config["frontend"]
            )
        return cls(**config)
