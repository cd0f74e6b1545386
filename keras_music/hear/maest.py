"""HEAR 2021 module for MAEST (`hear-validator keras_music.hear.maest`).

Audio at 16 kHz; the embedding is MAEST's `stack` read-out (cls, dist and
average token, `3 * hidden_dim`: 2,304 for the 30 s models) of one block,
by default the paper's block 7 of 12 (the same relative depth, rounded,
for shallower models: block 2 of `maest_small`'s 4).

Timestamp embeddings: one every 50 ms (HEAR's suggested largest hop),
from 0 ms to the end of the sound, each the embedding of the window of one
segment (the model's: 30 s for `maest_30s`) centred on it, the sound
zero-padded at the edges. Each timestamp costs one segment through the
transformer (20 segments per second of audio at 50 ms), so on long sounds
`load_model(..., hop_seconds=...)` with a larger hop may be the better
trade. Scene embeddings: the mean over the sound's consecutive segments;
a sound shorter than one segment is embedded at its own length (MAEST
takes shorter inputs), at least one patch (3,840 samples, 0.24 s).

`load_model()` builds `maest_30s` at random initialisation (with a
warning); `load_model("model.keras")` loads a `MAESTTagger` (as
`recipes/maest.py` saves it; its `AudioPreprocessor`, when it has a
frontend and a segment, gives both) or a `MAESTBackbone`.
"""

from keras_music.evaluation.segment_encoder import maest_segment_encoder
from keras_music.hear.hear_model import DEFAULT_HOP_SECONDS
from keras_music.hear.hear_model import HEARModel
from keras_music.hear.hear_model import keras_or_preset
from keras_music.hear.hear_model import scene_embeddings
from keras_music.hear.hear_model import timestamp_embeddings
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger

SAMPLE_RATE = 16000
HOP_LENGTH = 256
PRESET = "maest_30s"


def load_model(
    model_file_path="",
    preset=PRESET,
    block=None,
    token="stack",
    hop_seconds=DEFAULT_HOP_SECONDS,
):
    """A MAEST `HEARModel`: from `model_file_path` (`.keras`), or the
    `MAESTBackbone` preset `preset` at random initialisation. `block`,
    `token`: the read-out (`maest_segment_encoder`); `hop_seconds`: the
    timestamp hop (default 50 ms)."""
    model = keras_or_preset(
        model_file_path,
        (MAESTTagger, MAESTBackbone),
        "maest",
        preset,
        MAESTBackbone.from_preset,
    )
    return from_keras(
        model, block, token, hop_seconds, model_file_path or preset
    )


def default_block(num_layers):
    """The paper's block 7 of 12, at the same relative depth."""
    return max(1, round(num_layers * 7 / 12))


def from_keras(
    model,
    block=None,
    token="stack",
    hop_seconds=DEFAULT_HOP_SECONDS,
    source="",
):
    """A `HEARModel` on an in-memory `MAESTTagger` or `MAESTBackbone`."""
    if not isinstance(model, (MAESTTagger, MAESTBackbone)):
        raise ValueError(
            "`model` must be a `MAESTTagger` or a `MAESTBackbone`. "
            f"Received: {type(model).__name__}"
        )
    backbone = getattr(model, "backbone", model)
    preprocessor = getattr(model, "preprocessor", None)
    if (
        preprocessor is None
        or preprocessor.frontend is None
        or preprocessor.segment_seconds is None
    ):
        # The frontend of `recipes/maest.py` and the segment that fills
        # the positional grid (centred STFT), as `maest_preset_encoder`.
        preprocessor = AudioPreprocessor(
            LogMelSpectrogram(
                sample_rate=SAMPLE_RATE,
                hop_length=HOP_LENGTH,
                n_mels=backbone.num_mel_bins,
                normalize=True,
            ),
            segment_seconds=(backbone.num_frames - 1)
            * HOP_LENGTH
            / SAMPLE_RATE,
        )
    if block is None:
        block = default_block(backbone.num_layers)
    encoder = maest_segment_encoder(backbone, block, token, preprocessor)
    return HEARModel(
        encoder,
        preprocessor.sample_rate,
        segment_samples=preprocessor.segment_samples,
        hop_seconds=hop_seconds,
        # One patch of frames (centred STFT: 1 + samples // hop).
        min_samples=(backbone.patch_size - 1) * preprocessor.hop_length,
        source=source,
    )


# HEAR takes these two from each module by name.
get_scene_embeddings = scene_embeddings
get_timestamp_embeddings = timestamp_embeddings
