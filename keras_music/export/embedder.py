"""`export_embedder`: a model's embeddings, as a SavedModel for serving."""

import keras

from keras_music.export.saved_model import export_embedder_saved_model
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.embedder import AudioEmbedder


def audio_embedder(model, block=None, token=None):
    """An `AudioEmbedder` on raw audio segments, from a tagger or an
    embedder, reading `block` / `token` (`None`: the embedder's, or the
    `AudioEmbedder` defaults for a tagger).

    The preprocessor is the model's; one without a segment length gets
    the segment that fills a MAEST backbone's positional grid.

    Example:

    >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=2)
    >>> preprocessor = AudioPreprocessor(
    ...     LogMelSpectrogram(hop_length=256, normalize=True)
    ... )
    >>> tagger = MAESTTagger(backbone, num_tags=2, preprocessor=preprocessor)
    >>> embedder = audio_embedder(tagger, block=1, token="cls")
    >>> embedder.input_shape, embedder.output_shape
    ((None, 16640), (None, 32))

    Args:
        model: `MAESTTagger` (with a preprocessor) or `AudioEmbedder`.
        block: optional int. MAEST block read, 1-based.
        token: optional str. MAEST token read.
    """
    preprocessor = getattr(model, "preprocessor", None)
    backbone = getattr(model, "backbone", None)
    if preprocessor is None or backbone is None:
        raise ValueError(
            f"`model` {getattr(model, 'name', model)!r} carries no "
            "preprocessor (sample rate, segment, frontend) or no backbone: "
            "pass a tagger or `AudioEmbedder` built with "
            "`preprocessor=AudioPreprocessor(...)`, or a raw-audio encoder "
            "with `sample_rate=`."
        )
    if isinstance(model, AudioEmbedder):
        block = model.block if block is None else block
        token = model.token if token is None else token
        if (block, token) == (model.block, model.token):
            return model
    if preprocessor.segment_samples is None:
        if not hasattr(backbone, "num_frames") or not preprocessor.hop_length:
            raise ValueError(
                "`model`'s preprocessor gives no `segment_seconds`: build it "
                "with `segment_seconds=`."
            )
        seconds = (
            (backbone.num_frames - 1)
            * preprocessor.hop_length
            / preprocessor.sample_rate
        )
        preprocessor = AudioPreprocessor.from_config(
            {**preprocessor.get_config(), "segment_seconds": seconds}
        )
    return AudioEmbedder(
        backbone,
        preprocessor,
        block=block,
        token=token,
        metadata=getattr(model, "metadata", None),
        name=f"{model.name}_embedder",
    )


def raw_audio_embedder(model, block=None, token=None):
    """A raw-audio encoder as it is, or read at `block` / `token`.

    With neither given, `model`. Otherwise an `AudioEmbedder` on `model`
    (or, for an `AudioEmbedder`, on its backbone) reading that block or
    stage: an `S3TBackbone` is read at a stage of its Swin
    (`swin_stage_readout`); other encoders have no read-outs, and the
    `AudioEmbedder` says so.

    Example:

    >>> s3t = S3TBackbone.from_preset("s3t_test_tiny")
    >>> raw_audio_embedder(s3t) is s3t
    True
    >>> raw_audio_embedder(s3t, block=1).output_shape
    (None, 16)

    Args:
        model: `keras.Model`. Raw audio segment -> embedding.
        block: optional int. The stage (block) read.
        token: optional str. `None` or `"avg"` for a Swin stage.
    """
    if block is None and token is None:
        return model
    backbone = model
    if isinstance(model, AudioEmbedder):
        block = model.block if block is None else block
        token = model.token if token is None else token
        if (block, token) == (model.block, model.token):
            return model
        backbone = model.backbone
    return AudioEmbedder(
        backbone,
        block=block,
        token=token,
        metadata=getattr(model, "metadata", None),
        name=f"{backbone.name}_embedder",
    )


def carried_sample_rate(model):
    """The sample rate a model's preprocessor (or its backbone's, for an
    `AudioEmbedder` on an `S3TBackbone`) states, or `None`."""
    for owner in (model, getattr(model, "backbone", None)):
        preprocessor = getattr(owner, "preprocessor", None)
        if preprocessor is not None:
            return preprocessor.sample_rate
    return None


def export_embedder(
    model,
    path,
    block=None,
    token=None,
    version=None,
    sample_rate=None,
    segment_seconds=None,
    batch_size=8,
    resample_wav=True,
):
    """Exports a model's embeddings as a SavedModel in TF Serving's layout.

    `model` is a tagger (`MAESTTagger`) or an `AudioEmbedder`: the sample
    rate, segment and frontend come from its preprocessor, and `block` /
    `token` choose the read-out (`AudioEmbedder`; MAEST's block and
    token). A raw-audio encoder (a Keras model `(batch,
    segment_samples)` -> `(batch, dim)`, such as `recipes/s3t.py`'s
    `encoder.keras`) is exported as it is, at its preprocessor's rate;
    an `S3TBackbone` can be read at a stage of its Swin (`block`). One
    that carries no rate needs `sample_rate`.

    Writes `path/VERSION/` with `saved_model.pb`, `variables/`,
    `README.md` and `model_card.json` (Essentia's schema; `embeddings`
    output, the sample rate, the model's `metadata`). The signatures
    (`EmbedderServingGraph`) take mono float32 audio at the model's rate,
    any length (they do not resample; `embed_wav` resamples WAV bytes),
    and average the embeddings of half-overlapped segments per track.

    Args:
        model: `MAESTTagger`, `AudioEmbedder`, `S3TBackbone` or another
            raw-audio encoder.
        path: str. The model's base folder, e.g.
            `"saved_models/maest_block_7"`.
        block: optional int. MAEST block read, 1-based, or the Swin stage
            of an `S3TBackbone`. Defaults to the embedder's, the last
            block of a tagger, or a raw-audio encoder's own output.
        token: optional str. MAEST token read (`None` or `"avg"` for a
            Swin stage). Defaults to the embedder's, or `"stack"`.
        version: optional int. Defaults to the next version.
        sample_rate: optional int. Required for a plain encoder; must
            match the preprocessor's otherwise.
        segment_seconds: optional float. Plain encoders only: defaults
            to the model's input length.
        batch_size, resample_wav: as `EmbedderServingGraph`.

    Returns:
        str: the version folder written.

    Example:

    >>> import tempfile, json
    >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=2)
    >>> preprocessor = AudioPreprocessor(
    ...     LogMelSpectrogram(hop_length=256, normalize=True),
    ...     segment_seconds=1.04,
    ... )
    >>> tagger = MAESTTagger(backbone, num_tags=2, preprocessor=preprocessor)
    >>> base = os.path.join(tempfile.mkdtemp(), "tiny_block_1")
    >>> path = export_embedder(tagger, base, block=1, token="cls")
    >>> with open(os.path.join(path, "model_card.json")) as f:
    ...     card = json.load(f)
    >>> card["inference"]["sample_rate"], card["schema"]["outputs"][0]["shape"]
    (16000, ['batch_size', 32])
    """
    own_preprocessor = getattr(model, "preprocessor", None)
    if isinstance(model, keras.Model) and (
        own_preprocessor is None or getattr(model, "backbone", None) is None
    ):
        # A raw-audio encoder, e.g. an `S3TBackbone`, whose frontend is
        # inside it: exported as it is, or read at `block` / `token`.
        encoder = raw_audio_embedder(model, block, token)
        if sample_rate is None:
            sample_rate = carried_sample_rate(encoder)
        if sample_rate is None:
            raise ValueError(
                f"`model` {model.name!r} carries no sample rate (no "
                "preprocessor): pass `sample_rate=` (Hz)."
            )
    else:
        encoder = audio_embedder(model, block, token)
        rate = encoder.preprocessor.sample_rate
        if sample_rate is not None and sample_rate != rate:
            raise ValueError(
                f"`sample_rate` must be the model's ({rate} Hz), which its "
                f"frontend is built for. Received: sample_rate={sample_rate}"
            )
        sample_rate = rate
        segment_seconds = encoder.preprocessor.segment_seconds
    return export_embedder_saved_model(
        encoder,
        path,
        sample_rate=sample_rate,
        version=version,
        segment_seconds=segment_seconds,
        batch_size=batch_size,
        resample_wav=resample_wav,
    )
