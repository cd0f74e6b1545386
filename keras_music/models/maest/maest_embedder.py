"""Whole-track MAEST embeddings in one graph."""

import keras

from keras_music.layers.validation import check_positive_int
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_backbone import reset_compiled_functions
from keras_music.models.maest.maest_layers import MAESTSegmentAverage
from keras_music.models.maest.maest_layers import MAESTSegmenter
from keras_music.models.maest.maest_readout import maest_block_readout
from keras_music.models.maest.maest_tagger import MAESTTagger
from keras_music.utils.serialization import deserialize_objects
from keras_music.utils.serialization import serialize_objects

PRECISIONS = ("float32", "bfloat16")


def maest_with_precision(model, precision):
    """A copy of a `MAESTBackbone` or `MAESTTagger` computing in `precision`.

    `"bfloat16"` rebuilds the transformer under the `"bfloat16"` dtype
    policy (weights stored and multiplied in bfloat16; the softmax, the
    tagging head and the frontend stay float32) and copies the weights
    over, inference patchout included. On CPUs with AVX512_BF16 / AMX
    oneDNN runs its matrix products at several times the float32 rate;
    `benchmarks/README.md` has the measured speed and the output
    difference. `"float32"` returns `model` itself.

    Args:
        model: `MAESTBackbone` or `MAESTTagger`.
        precision: str. `"float32"` or `"bfloat16"`.

    Returns:
        A model of the same class with the same weights.
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"`precision` must be one of {PRECISIONS}. "
            f"Received: precision={precision!r}"
        )
    backbone = getattr(model, "backbone", model)
    if not isinstance(backbone, MAESTBackbone):
        raise ValueError(
            "`model` must be a `MAESTBackbone` or a `MAESTTagger`. "
            f"Received: model={model!r}"
        )
    if (
        precision == "float32"
        or backbone.patch_embedding.compute_dtype == precision
    ):
        return model
    copy = MAESTBackbone.from_config(
        {**backbone.get_config(), "dtype": precision}
    )
    if model is not backbone:
        copy = MAESTTagger(
            copy,
            num_tags=model.num_tags,
            activation=model.activation,
            preprocessor=model.preprocessor,
            vocabulary=model.vocabulary,
            metadata=model.metadata,
            name=model.name,
        )
    copy.set_weights(model.get_weights())
    return copy


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
        precision: str. `"float32"` or `"bfloat16"`: the transformer's
            compute dtype (see `maest_with_precision`); the embeddings
            are float32 either way. Defaults to `"float32"`. For the
            fastest setting that keeps the tags (measured in
            `benchmarks/README.md`), pass `precision="bfloat16"` and call
            `set_inference_patchout(10)`.

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
        precision="float32",
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
        # The read-out keeps the given backbone's policy (float32 output).
        policy = backbone.dtype_policy
        backbone = maest_with_precision(backbone, precision)

        # === Layers ===
        readout = maest_block_readout(
            backbone, block, token, flatten=False, dtype=policy
        )
        segmenter = MAESTSegmenter(segment_frames, hop_frames, name="segmenter")
        average = MAESTSegmentAverage(dtype=policy, name="segment_average")

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
        embeddings = average([readout(segments), spectrogram])
        super().__init__(inputs=inputs, outputs=embeddings, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.block = block
        self.token = token
        self.frontend = frontend
        self.segment_frames = segment_frames
        self.hop_frames = hop_frames
        self.precision = precision

    def set_inference_patchout(self, time_stride=None, freq_drop=None):
        """Inference patchout of the backbone; see
        `MAESTBackbone.set_inference_patchout`."""
        self.backbone.set_inference_patchout(time_stride, freq_drop)
        reset_compiled_functions(self)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            **serialize_objects(backbone=self.backbone),
            "block": self.block,
            "token": self.token,
            **serialize_objects(frontend=self.frontend),
            "segment_frames": self.segment_frames,
            "hop_frames": self.hop_frames,
            "precision": self.precision,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_objects(config, "backbone", "frontend"))
