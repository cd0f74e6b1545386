"""Segment encoders: a backbone read at one depth, pooled to `(batch, dim)`.

Probes, embedding extraction and fine-tuning all need the same thing from
an encoder: a Keras model that maps a batch of segments (waveforms, or
whatever the encoder's frontend expects) to one vector per segment. These
helpers build that model from a backbone, a frontend and a read-out, so
that users do not write the glue:

- MAEST: the tokens after block `n` (1-based, as `MAESTBackbone`), read as
  `cls`, `dist`, `avg`, `cls_dist` or the flattened `stack` of the three
  (the paper's best embedding, `3 * hidden_dim` wide).
- Swin: the output of stage `n` (1-based), global-average-pooled over its
  frequency x time grid.

Every model returned is a plain functional `keras.Model` built from
registered layers, so it saves to `.keras` and re-initialises from its
config (`keras.models.clone_model`), which the `supervised` scenario uses.
"""

import keras

from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_readout import maest_block_readout
from keras_music.models.swin.swin_readout import swin_stage_readout


def maest_segment_encoder(backbone, block=None, token="stack", frontend=None):
    """A MAEST backbone read at block `block` as `(batch, dim)`.

    Args:
        backbone: `MAESTBackbone`.
        block: int. Block whose tokens are read, 1-based; 0 is the input of
            the first block. Defaults to `None`: the last block (the final
            LayerNorm is not applied, as for every other block).
        token: str. `"stack"` (cls, dist, avg flattened, `3 * hidden_dim`),
            `"cls"`, `"dist"`, `"avg"` or `"cls_dist"`. Defaults to
            `"stack"`.
        frontend: optional layer mapping audio `(batch, samples)` to the
            backbone's `(batch, num_mel_bins, frames)`. `None`: the encoder
            takes spectrograms.

    Returns:
        A functional `keras.Model`, `(batch, samples)` or
        `(batch, num_mel_bins, frames)` -> `(batch, dim)`.

    Example:

    >>> backbone = MAESTBackbone.from_preset("maest_tiny")
    >>> encoder = maest_segment_encoder(backbone, block=1, token="cls")
    >>> encoder(np.zeros((2, 96, 66), "float32")).shape
    TensorShape([2, 32])

    Reference:
        Alonso-Jiménez et al., ISMIR 2023, Sections 3.3 and 4.1.
    """
    if block is None:
        block = getattr(backbone, "num_layers", None)
    # `maest_block_readout` checks the backbone, block and token.
    readout = maest_block_readout(backbone, block, token)
    if frontend is None:
        inputs = keras.Input(
            shape=(backbone.num_mel_bins, None), name="log_mel_spectrogram"
        )
        spectrogram = inputs
    else:
        inputs = keras.Input(shape=(None,), name="audio")
        spectrogram = frontend(inputs)
    embedding = readout(spectrogram)
    return keras.Model(
        inputs, embedding, name=f"maest_block_{block}_{token}_encoder"
    )


def swin_segment_encoder(backbone, stage=None, frontend=None):
    """A Swin backbone read at stage `stage`, average-pooled to `(batch, dim)`.

    Args:
        backbone: `SwinBackbone`.
        stage: int. Stage whose output is read, 1-based. Defaults to `None`:
            the backbone's own output (last stage, final LayerNorm, pooled).
        frontend: optional layer mapping the encoder's input (e.g. audio
            through a CQT and a pre-processor) to the backbone's
            `(batch, height, width)`. `None`: the encoder takes spectrograms.

    Returns:
        A functional `keras.Model` -> `(batch, stage width)`.

    Example:

    >>> backbone = SwinBackbone.from_preset("swin_test_tiny")
    >>> encoder = swin_segment_encoder(backbone, stage=1)
    >>> encoder(np.zeros((2, 32, 40), "float32")).shape
    TensorShape([2, 16])

    Reference:
        Zhao et al., "S3T", ICASSP 2022, Section 3.2 (linear evaluation of
        the pooled features).
    """
    if not hasattr(backbone, "stage_outputs"):
        raise ValueError(
            "`backbone` must be a `SwinBackbone`. "
            f"Received: backbone={backbone!r}"
        )
    num_stages = len(backbone.stage_outputs)
    # `swin_stage_readout` checks `stage`.
    features = swin_stage_readout(backbone, stage)
    inputs = keras.Input(shape=backbone.input_shape[1:], name="spectrogram")
    if frontend is not None:
        inputs = keras.Input(shape=(None,), name="audio")
    x = inputs if frontend is None else frontend(inputs)
    name = f"swin_stage_{stage or num_stages}_encoder"
    return keras.Model(inputs, features(x), name=name)


def maest_preset_encoder(
    preset, block=None, token="stack", sample_rate=16000, hop_length=256
):
    """A randomly initialised MAEST preset on raw audio, with its segment.

    The frontend is `LogMelSpectrogram` with MAEST's settings and input
    normalisation; the segment length is the one that gives the preset's
    `num_frames` frames (centred STFT: `(num_frames - 1) * hop_length`
    samples), so that every segment fills the positional grid.

    Args:
        preset: str. A `MAESTBackbone` preset, e.g. `"maest_tiny"`.
        block, token: as `maest_segment_encoder`.
        sample_rate: int. Audio rate in Hz. Defaults to 16000.
        hop_length: int. Frontend hop in samples. Defaults to 256.

    Returns:
        `(encoder, segment_seconds)`.

    Example:

    >>> encoder, seconds = maest_preset_encoder("maest_tiny", block=1)
    >>> round(seconds, 2)
    1.04
    """
    backbone = MAESTBackbone.from_preset(preset)
    frontend = LogMelSpectrogram(
        sample_rate=sample_rate,
        hop_length=hop_length,
        n_mels=backbone.num_mel_bins,
        normalize=True,
        name="log_mel_spectrogram",
    )
    encoder = maest_segment_encoder(backbone, block, token, frontend)
    segment_seconds = (backbone.num_frames - 1) * hop_length / sample_rate
    return encoder, segment_seconds
