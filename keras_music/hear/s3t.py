"""HEAR 2021 module for S3T (`hear-validator keras_music.hear.s3t`).

Audio at 22.05 kHz; the embedding is the pooled output of the S3T
encoder's Swin (768 for Swin-T, 64 for the CPU demo's `swin_mini`).

The encoder takes a fixed clip: 178.3 s for the paper's `s3t_swin_tiny`
(an 84-bin CQT compressed 10x, folded in 3), 15.6 s for `s3t_swin_mini`.
Timestamp embeddings: one every 50 ms (HEAR's suggested largest hop),
from 0 ms to the end of the sound, each the embedding of the clip centred
on it, the sound zero-padded at the edges. Each timestamp costs one clip
through the CQT and the Swin (20 clips per second of audio at 50 ms), so
on long sounds `load_model(..., hop_seconds=...)` with a larger hop may
be the better trade. Scene embeddings: the mean over the sound's
consecutive clips, a sound shorter than a clip zero-padded to one.

`load_model()` builds `s3t_swin_tiny` at random initialisation (with a
warning); `load_model("encoder.keras")` loads the `S3TBackbone` that
`recipes/s3t.py` saves.
"""

from keras_music.hear.hear_model import DEFAULT_HOP_SECONDS
from keras_music.hear.hear_model import HEARModel
from keras_music.hear.hear_model import keras_or_preset
from keras_music.hear.hear_model import scene_embeddings
from keras_music.hear.hear_model import timestamp_embeddings
from keras_music.models.s3t.s3t_backbone import S3TBackbone

PRESET = "s3t_swin_tiny"


def load_model(
    model_file_path="", preset=PRESET, hop_seconds=DEFAULT_HOP_SECONDS
):
    """An S3T `HEARModel`: from `model_file_path` (`.keras`), or the
    `S3TBackbone` preset `preset` at random initialisation;
    `hop_seconds`: the timestamp hop (default 50 ms)."""
    model = keras_or_preset(
        model_file_path,
        (S3TBackbone,),
        "s3t",
        preset,
        S3TBackbone.from_preset,
    )
    return from_keras(model, hop_seconds, model_file_path or preset)


def from_keras(model, hop_seconds=DEFAULT_HOP_SECONDS, source=""):
    """A `HEARModel` on an in-memory `S3TBackbone`."""
    if not isinstance(model, S3TBackbone):
        raise ValueError(
            "`model` must be an `S3TBackbone`. "
            f"Received: {type(model).__name__}"
        )
    return HEARModel(
        model,
        model.sample_rate,
        segment_samples=model.clip_samples,
        hop_seconds=hop_seconds,
        # A clip of `s3t_swin_tiny` is 3.9 M samples; its CQT is larger.
        batch_size=4,
        source=source,
    )


# HEAR takes these two from each module by name.
get_scene_embeddings = scene_embeddings
get_timestamp_embeddings = timestamp_embeddings
