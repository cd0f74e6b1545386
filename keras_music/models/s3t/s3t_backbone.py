import keras

from keras_music.layers.cqt import CQT
from keras_music.layers.frequency_tiling import FrequencyTiling
from keras_music.layers.time_folding import TimeFolding
from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.backbone import Backbone
from keras_music.models.s3t.s3t_presets import backbone_presets
from keras_music.models.swin.swin_backbone import SwinBackbone
from keras_music.utils.serialization import deserialize_objects
from keras_music.utils.serialization import serialize_objects

TRANSFORMS = ("time_folding", "frequency_tiling")


def view_frames(transform, fold, size):
    """Compressed CQT frames that fill a `size x size` input: Time
    Folding stacks `fold` chunks of `size` frames, Frequency Tiling takes
    `size` frames."""
    return fold * size if transform == "time_folding" else size


def fitting_clip_samples(frames, time_compression, hop_length):
    """The shortest clip whose CQT has `frames * time_compression` frames
    (a centred CQT has `1 + samples // hop_length` of them)."""
    return (frames * time_compression - 1) * hop_length


def s3t_clip(
    frames,
    time_compression,
    clip_seconds=None,
    sample_rate=22050,
    hop_length=512,
    name="clip_seconds",
):
    """`(samples, seconds)` of S3T's clip: by default the shortest clip
    whose CQT fills `frames` compressed frames (`fitting_clip_samples`),
    otherwise `clip_seconds`, which must hold one compressed frame.

    Args:
        frames: int. Compressed CQT frames of the input (`view_frames`).
        time_compression: int. CQT frames averaged into one.
        clip_seconds: optional float. The clip length asked for.
            Defaults to `None`: what fills the input.
        sample_rate: int. Audio rate in Hz. Defaults to 22050.
        hop_length: int. CQT hop in samples. Defaults to 512.
        name: str. How errors name `clip_seconds` (a recipe names its
            flag). Defaults to `"clip_seconds"`.

    Example:

    >>> s3t_clip(768, 10)  # the paper's input: 178.3 s
    (3931648, 178.30603174603175)
    """
    if clip_seconds is None:
        samples = fitting_clip_samples(frames, time_compression, hop_length)
        return samples, samples / sample_rate
    check_positive(name, clip_seconds)
    samples = round(clip_seconds * sample_rate)
    if 1 + samples // hop_length < time_compression:
        raise ValueError(
            f"`{name}` must hold at least one compressed frame "
            f"({time_compression} CQT frames). "
            f"Received: {name}={clip_seconds}"
        )
    return samples, clip_seconds


def s3t_frontend(
    time_compression,
    sample_rate=22050,
    hop_length=512,
    n_bins=84,
    segment_seconds=None,
    dtype=None,
):
    """S3T's frontend: raw audio -> CQT in dB, compressed in time,
    standardised per clip (so that masks, padding and shifted-in cells,
    all 0, are the mean), as an `AudioPreprocessor`."""
    cqt = CQT(
        sample_rate=sample_rate,
        hop_length=hop_length,
        n_bins=n_bins,
        output_scale="db",
        time_compression=time_compression,
        dtype=dtype,
        name="cqt",
    )
    return AudioPreprocessor(
        cqt,
        segment_seconds=segment_seconds,
        normalization="per_clip",
        dtype=dtype,
        name="cqt_frontend",
    )


def s3t_square_layer(transform, fold, size, dtype=None):
    """The pre-processor that makes a CQT a `size x size` image."""
    if transform not in TRANSFORMS:
        raise ValueError(
            f"`transform` must be one of {TRANSFORMS}. "
            f"Received: transform={transform!r}"
        )
    if transform == "time_folding":
        return TimeFolding(n=fold, target_size=(size, size), dtype=dtype)
    return FrequencyTiling(size=size, dtype=dtype)


def _swin_backbone(swin, dtype):
    if isinstance(swin, SwinBackbone):
        return swin
    if isinstance(swin, str):
        return SwinBackbone.from_preset(swin, dtype=dtype)
    if isinstance(swin, dict):
        return SwinBackbone(**{**swin, "dtype": dtype})
    raise ValueError(
        "`swin` must be a `SwinBackbone`, one of its preset names or a dict "
        f"of its arguments. Received: swin={swin!r}"
    )


@keras.saving.register_keras_serializable(package="keras_music")
class S3TBackbone(Backbone):
    """S3T's encoder: raw audio -> CQT -> square image -> Swin embedding.

    The encoder a probe, a server or a HEAR module uses on a Swin
    pre-trained by S3T (`recipes/s3t.py` pre-trains the Swin with MoCo on
    augmented views, then wraps it in this backbone). A clip of audio goes
    through a constant-Q transform in dB, compressed in time by averaging
    `time_compression` frames and standardised per clip (the
    `preprocessor`, an `AudioPreprocessor`), then Time Folding (`fold`
    chunks of frames stacked along frequency, cropped or padded to the
    Swin's square input) or Frequency Tiling (the bins repeated to fill
    the square), then the Swin and its global pooling.

    The clip length is fixed: by default the shortest clip that fills the
    Swin's input exactly (`clip_samples`), otherwise `clip_seconds`,
    whose CQT the pre-processor crops or pads.

    Args:
        swin: `SwinBackbone`, str or dict. The Swin, one of its preset
            names, or a dict of its arguments; its input must be square.
            A given `SwinBackbone` is used as is (its weights shared).
            Defaults to `"swin_tiny"`.
        transform: str. `"time_folding"` or `"frequency_tiling"`.
            Defaults to `"time_folding"`.
        fold: int. Time Folding chunks (unused by Frequency Tiling).
            Defaults to 3.
        time_compression: int. CQT frames averaged into one. Defaults to
            10.
        clip_seconds: optional float. Clip length in seconds. Defaults to
            `None`: what fills the input.
        sample_rate: int. Audio rate in Hz. Defaults to 22050.
        hop_length: int. CQT hop in samples. Defaults to 512.
        n_bins: int. CQT bins (12 per octave from C1). Defaults to 84.
        dtype: str or `keras.DTypePolicy`. Defaults to `None`.

    Example:

    >>> backbone = S3TBackbone.from_preset("s3t_test_tiny")
    >>> backbone.clip_samples, backbone.output_dim
    (32256, 32)
    >>> backbone(np.zeros((2, 32256), "float32")).shape
    TensorShape([2, 32])

    Input shape:
        `(batch, clip_samples)` mono audio at `sample_rate`.

    Output shape:
        `(batch, output_dim)`, the Swin's pooled embedding.

    Reference:
        Zhao et al., "S3T: Self-Supervised Pre-training with Swin
        Transformer for Music Classification", ICASSP 2022, Sections
        2.4 and 3.2.
    """

    preset_configs = backbone_presets

    def __init__(
        self,
        swin="swin_tiny",
        transform="time_folding",
        fold=3,
        time_compression=10,
        clip_seconds=None,
        sample_rate=22050,
        hop_length=512,
        n_bins=84,
        dtype=None,
        **kwargs,
    ):
        if transform not in TRANSFORMS:
            raise ValueError(
                f"`transform` must be one of {TRANSFORMS}. "
                f"Received: transform={transform!r}"
            )
        fold = check_positive_int("fold", fold)
        time_compression = check_positive_int(
            "time_compression", time_compression
        )
        sample_rate = check_positive_int("sample_rate", sample_rate)
        hop_length = check_positive_int("hop_length", hop_length)
        swin = _swin_backbone(swin, dtype)
        height, width = swin.input_size
        if height != width:
            raise ValueError(
                "`swin` must take a square input (S3T's pre-processors "
                f"make one). Received: a Swin on {height}x{width}"
            )
        frames = view_frames(transform, fold, height)
        samples, clip_seconds = s3t_clip(
            frames, time_compression, clip_seconds, sample_rate, hop_length
        )

        # === Layers ===
        self.swin = swin
        self.preprocessor = s3t_frontend(
            time_compression,
            sample_rate=sample_rate,
            hop_length=hop_length,
            n_bins=n_bins,
            segment_seconds=clip_seconds,
            dtype=dtype,
        )
        self.square = s3t_square_layer(transform, fold, height, dtype=dtype)

        # === Functional model ===
        inputs = keras.Input(shape=(samples,), name="audio")
        x = self.square(self.preprocessor(inputs))
        outputs = self.swin(x)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.transform = transform
        self.fold = fold
        self.time_compression = time_compression
        self.clip_seconds = clip_seconds
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.n_bins = n_bins
        self.view_frames = frames
        self.clip_samples = samples
        self.output_dim = swin.output_dim

    def get_config(self):
        return {
            **super().get_config(),
            **serialize_objects(swin=self.swin),
            "transform": self.transform,
            "fold": self.fold,
            "time_compression": self.time_compression,
            "clip_seconds": self.clip_seconds,
            "sample_rate": self.sample_rate,
            "hop_length": self.hop_length,
            "n_bins": self.n_bins,
        }

    @classmethod
    def from_config(cls, config):
        # A dict of the Swin's arguments (as in a preset) passes through
        # as it is; a serialised Swin is rebuilt.
        return super().from_config(deserialize_objects(config, "swin"))
