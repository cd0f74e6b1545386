"""HEAR 2021 module for CLMR (`hear-validator keras_music.hear.clmr`).

Audio at 22.05 kHz; the embedding is SampleCNN's 512-d output (CLMR's
encoder, before the projection head).

Timestamp embeddings: one every 50 ms (HEAR's suggested largest hop),
from 0 ms to the end of the sound, each the embedding of the window of one
segment (59,049 samples, 2.68 s, for `sample_cnn_clmr`) centred on it, the
sound zero-padded at the edges; `load_model(..., hop_seconds=...)` sets
another hop (each timestamp costs one segment through the encoder: 20
segments per second of audio at 50 ms). Scene embeddings: the mean over
the sound's consecutive segments, a sound shorter than a segment
zero-padded to one.

`load_model()` builds `sample_cnn_clmr` at random initialisation (with a
warning); `load_model("encoder.keras")` loads the `SampleCNNBackbone`
that `recipes/clmr.py` saves.
"""

from keras_music.hear.hear_model import DEFAULT_HOP_SECONDS
from keras_music.hear.hear_model import HEARModel
from keras_music.hear.hear_model import keras_or_preset
from keras_music.hear.hear_model import scene_embeddings
from keras_music.hear.hear_model import timestamp_embeddings
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone

SAMPLE_RATE = 22050
PRESET = "sample_cnn_clmr"
# CLMR's segment (3^10 samples), for an encoder that takes any length.
SEGMENT_SAMPLES = 59049


def load_model(
    model_file_path="", preset=PRESET, hop_seconds=DEFAULT_HOP_SECONDS
):
    """A CLMR `HEARModel`: from `model_file_path` (`.keras`), or the
    `SampleCNNBackbone` preset `preset` at random initialisation;
    `hop_seconds`: the timestamp hop (default 50 ms)."""
    model = keras_or_preset(
        model_file_path,
        (SampleCNNBackbone,),
        "clmr",
        preset,
        SampleCNNBackbone.from_preset,
    )
    return from_keras(model, hop_seconds, model_file_path or preset)


def from_keras(model, hop_seconds=DEFAULT_HOP_SECONDS, source=""):
    """A `HEARModel` on an in-memory `SampleCNNBackbone`."""
    if not isinstance(model, SampleCNNBackbone):
        raise ValueError(
            "`model` must be a `SampleCNNBackbone`. "
            f"Received: {type(model).__name__}"
        )
    segment = model.input_length or max(SEGMENT_SAMPLES, model.min_length)
    return HEARModel(
        model,
        SAMPLE_RATE,
        segment_samples=segment,
        hop_seconds=hop_seconds,
        min_samples=model.min_length,
        source=source,
    )


# HEAR takes these two from each module by name.
get_scene_embeddings = scene_embeddings
get_timestamp_embeddings = timestamp_embeddings
