"""HEAR 2021 module for PASE+ (`hear-validator keras_music.hear.pase_plus`).

Audio at 16 kHz; the embedding is the encoder's 512-d frame (`pase_plus`).

Timestamp embeddings: PASE+'s own frames, one every 10 ms (160 samples,
finer than HEAR's suggested 50 ms), frame `t` centred on sample
`160 t + 80`, i.e. at `10 t + 5` ms. The sound is zero-padded to whole
frames (and to the encoder's minimum, 480 samples, 30 ms) and the frames
centred within it are kept, at least one: `(n + 80) // 160` for `n`
samples, so the last one is at most 10 ms before the end. Scene
embeddings: the mean over those frames.

Long sounds are read in chunks of 30 s with 2 s of audio on each side,
so that memory does not grow with their length; the convolutions then
see what they see on the whole sound, and the causal QRNN starts 2 s
before each chunk instead of at the start of the sound (its state from
further back is lost; `tests/hear/pase_plus_test.py` measures the
difference).

`load_model()` builds `pase_plus` at random initialisation (with a
warning); `load_model("encoder.keras")` loads the `PASEPlusBackbone` (or
`PASEBackbone`) that `recipes/pase.py` saves.
"""

from keras_music.hear.hear_model import HEARModel
from keras_music.hear.hear_model import keras_or_preset
from keras_music.hear.hear_model import scene_embeddings
from keras_music.hear.hear_model import timestamp_embeddings
from keras_music.models.pase.pase_backbone import PASEBackbone
from keras_music.models.pase.pase_plus_backbone import PASEPlusBackbone

PRESET = "pase_plus"
FRAME_HOP = 160
CHUNK_SECONDS = 30
CONTEXT_SECONDS = 2


def load_model(model_file_path="", preset=PRESET):
    """A PASE+ `HEARModel`: from `model_file_path` (`.keras`), or the
    `PASEPlusBackbone` preset `preset` at random initialisation."""
    model = keras_or_preset(
        model_file_path,
        (PASEBackbone,),
        "pase_plus",
        preset,
        PASEPlusBackbone.from_preset,
    )
    return from_keras(model, model_file_path or preset)


def from_keras(
    model,
    source="",
    chunk_seconds=CHUNK_SECONDS,
    context_seconds=CONTEXT_SECONDS,
):
    """A `HEARModel` on an in-memory `PASEPlusBackbone` (or
    `PASEBackbone`), reading `chunk_seconds` at a time with
    `context_seconds` on each side."""
    if not isinstance(model, PASEBackbone):
        raise ValueError(
            "`model` must be a `PASEPlusBackbone` or a `PASEBackbone`. "
            f"Received: {type(model).__name__}"
        )
    rate = model.sample_rate
    return HEARModel(
        model,
        rate,
        frame_hop=FRAME_HOP,
        frame_offset=FRAME_HOP // 2,
        chunk_samples=round(chunk_seconds * rate / FRAME_HOP) * FRAME_HOP,
        context_samples=round(context_seconds * rate / FRAME_HOP) * FRAME_HOP,
        min_samples=model.min_samples,
        batch_size=4,
        source=source,
    )


# HEAR takes these two from each module by name.
get_scene_embeddings = scene_embeddings
get_timestamp_embeddings = timestamp_embeddings
