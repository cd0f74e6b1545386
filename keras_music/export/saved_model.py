"""`export_saved_model` and `export_embedder_saved_model`: a tagger or an
audio encoder as a versioned SavedModel for TF Serving."""

import os

import tensorflow as tf

from keras_music.export.embedder_serving_graph import EmbedderServingGraph
from keras_music.export.model_card import model_card
from keras_music.export.model_card import tensor
from keras_music.export.patchout import inference_patchout
from keras_music.export.serving_graph import ServingGraph
from keras_music.export.serving_layout import check_version
from keras_music.export.serving_layout import existing_versions  # noqa: F401
from keras_music.export.serving_layout import resolve_version
from keras_music.export.serving_layout import save_version

LABELS_FILE = "labels.txt"
TAGGER_SIGNATURES = (
    "serving_default",
    "embed",
    "tag_wav",
    "segment_tokens",
    "serving_mel",
    "metadata",
)


def export_saved_model(
    model,
    export_dir,
    version=None,
    vocabulary=None,
    frontend=None,
    segment_seconds=None,
    inference_time_stride=None,
    inference_freq_drop=None,
    embedding_block=None,
    embedding_token="stack",
    embed_blocks=None,
    embed_token="stack",
    batch_size=8,
    resample_wav=True,
):
    """Exports a MAEST tagger on raw audio in TF Serving's layout.

    Writes `export_dir/VERSION/` (`saved_model.pb`, `variables/`,
    `assets/labels.txt` with one tag per line in output order, and a
    `README.md` describing the signatures), the layout TF Serving loads
    with `--model_base_path=export_dir`. The version is written to a
    temporary folder next to it and renamed into place, so TF Serving
    never sees a half-written version, and an existing version is never
    overwritten.

    The signatures (see `ServingGraph`) take mono float32 audio at the
    frontend's sample rate, any length and batch:

    - `serving_default(audio, lengths)` -> `probabilities`, `embedding`;
    - `embed(audio, lengths)` -> `block_<n>` for each of `embed_blocks`;
    - `tag_wav(wav)` -> `probabilities`, `embedding` from WAV bytes;
    - `segment_tokens(audio)` -> `spectrogram` and `block_<n>_tokens`
      (every block's tokens) of one segment per row;
    - `serving_mel(mel)` -> `probabilities`, `embedding` from Essentia's
      MAEST input, `(batch, frames, mel bands)` log-mel;
    - `metadata()` -> `sample_rate`, `segment_samples`, … (the raw-audio
      signatures do not resample: send audio at `sample_rate`).

    `model_card.json` (Essentia's schema, `model_card`) beside
    `saved_model.pb` states the same, the classes and the model's
    `metadata` (dataset, metrics).

    Args:
        model: `MAESTTagger`. Maps a log-mel segment to tag probabilities.
        export_dir: str. The model's base folder, e.g.
            `"saved_models/maest_30s_tagger"`.
        version: int. Version folder to write. Defaults to `None`: one
            more than the highest existing version (1 for a new folder).
        vocabulary: list of str. Tag names in output order. Defaults to
            `tag_0 … tag_{n-1}`.
        frontend: `LogMelSpectrogram`. Defaults to MAEST's.
        segment_seconds: float. Segment length. Defaults to the one that
            fills the backbone's positional grid.
        inference_time_stride: int. Inference patchout for the export:
            keep one of every k time columns. Defaults to `None`, the
            model's current setting.
        inference_freq_drop: list of int. Frequency rows dropped at
            inference in the export. Defaults to `None`, the model's.
        embedding_block, embedding_token, embed_blocks, embed_token,
        batch_size, resample_wav: as `ServingGraph`.

    Returns:
        str: the version folder written.

    Example:

    >>> import tempfile
    >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=1)
    >>> tagger = MAESTTagger(backbone, num_tags=2)
    >>> base = os.path.join(tempfile.mkdtemp(), "tiny_tagger")
    >>> path = export_saved_model(tagger, base, vocabulary=["piano", "voice"])
    >>> os.path.relpath(path, base), sorted(os.listdir(path))
    ('1', ['README.md', 'assets', 'fingerprint.pb', 'model_card.json',
           'saved_model.pb', 'variables'])
    >>> serving = tf.saved_model.load(path).signatures["serving_default"]
    >>> audio = tf.zeros((1, 24000))
    >>> serving(audio=audio, lengths=tf.constant([24000]))["probabilities"]
    <tf.Tensor: shape=(1, 2), dtype=float32, ...>
    """
    check_version(version)
    if vocabulary is None:
        vocabulary = [f"tag_{i}" for i in range(getattr(model, "num_tags", 0))]
    vocabulary = [str(tag) for tag in vocabulary]
    if hasattr(model, "num_tags") and len(vocabulary) != model.num_tags:
        raise ValueError(
            f"`vocabulary` must name the model's {model.num_tags} tags. "
            f"Received: {len(vocabulary)} names"
        )
    bad = [tag for tag in vocabulary if not tag or "\n" in tag]
    if bad:
        raise ValueError(
            "`vocabulary` must hold non-empty names without line breaks. "
            f"Received: {bad[0]!r}"
        )

    export_dir, version = resolve_version(export_dir, version)

    def stage_labels(graph, staging):
        labels_path = os.path.join(staging, LABELS_FILE)
        with open(labels_path, "w") as stream:
            stream.write("\n".join(vocabulary) + "\n")
        # Tracked as an asset: copied into `assets/` and found by the
        # loaded model as `labels_file`.
        graph.labels_file = tf.saved_model.Asset(labels_path)

    with inference_patchout(model, inference_time_stride, inference_freq_drop):
        graph = ServingGraph(
            model,
            frontend=frontend,
            segment_seconds=segment_seconds,
            embedding_block=embedding_block,
            embedding_token=embedding_token,
            embed_blocks=embed_blocks,
            embed_token=embed_token,
            batch_size=batch_size,
            resample_wav=resample_wav,
        )
        return save_version(
            graph,
            export_dir,
            version,
            TAGGER_SIGNATURES,
            signatures_readme(graph, vocabulary, version),
            stage=stage_labels,
            card=tagger_card(graph, export_dir, vocabulary, version),
        )


def export_embedder_saved_model(
    model,
    export_dir,
    sample_rate,
    version=None,
    segment_seconds=None,
    batch_size=8,
    resample_wav=True,
):
    """Exports a raw-audio encoder in TF Serving's layout.

    The sibling of `export_saved_model` for encoders with the frontend
    inside: a Keras model mapping `(batch, segment_samples)` raw audio to
    `(batch, dim)` embeddings, such as `recipes/s3t.py`'s `encoder.keras`.
    The layout, versioning and atomic write are `export_saved_model`'s
    (`export_dir/VERSION/` with `saved_model.pb`, `variables/` and a
    `README.md` of the signatures; no labels). The signatures (see
    `EmbedderServingGraph`) take mono float32 audio at `sample_rate`,
    any length and batch, and average the embeddings of half-overlapped
    segments per track:

    - `serving_default(audio, lengths)` -> `embedding`;
    - `embed(audio, lengths)` -> `embedding`;
    - `embed_wav(wav)` -> `embedding` from WAV bytes.

    Args:
        model: `keras.Model`. Raw audio segment -> embedding.
        export_dir: str. The model's base folder, e.g.
            `"saved_models/s3t_encoder"`.
        sample_rate: int. The encoder's audio rate in Hz.
        version: int. Version folder to write. Defaults to `None`: one
            more than the highest existing version (1 for a new folder).
        segment_seconds: float. Segment length. Defaults to the model's
            input length at `sample_rate`.
        batch_size, resample_wav: as `EmbedderServingGraph`.

    Returns:
        str: the version folder written.

    Example:

    An encoder of 800-sample segments at 8 kHz giving each segment's
    mean:

    >>> import tempfile
    >>> encoder = keras.Sequential([
    ...     keras.Input((800,)),
    ...     keras.layers.Reshape((800, 1)),
    ...     keras.layers.GlobalAveragePooling1D(),
    ... ])
    >>> base = os.path.join(tempfile.mkdtemp(), "tiny_encoder")
    >>> path = export_embedder_saved_model(encoder, base, sample_rate=8000)
    >>> embed = tf.saved_model.load(path).signatures["serving_default"]
    >>> embed(audio=tf.ones((1, 500)), lengths=tf.constant([500]))
    {'embedding': <tf.Tensor: shape=(1, 1), dtype=float32,
     numpy=array([[0.625]], dtype=float32)>}
    """
    check_version(version)
    # Built first: a model that is not an encoder leaves no folder behind.
    graph = EmbedderServingGraph(
        model,
        sample_rate=sample_rate,
        segment_seconds=segment_seconds,
        batch_size=batch_size,
        resample_wav=resample_wav,
    )
    export_dir, version = resolve_version(export_dir, version)
    return save_version(
        graph,
        export_dir,
        version,
        ("serving_default", "embed", "embed_wav"),
        embedder_readme(graph, version),
        card=embedder_card(graph, export_dir, version),
    )


def _readme_intro(graph, version, what, verb, averaged, outputs):
    """The lines every export's README opens with: the audio it takes,
    how tracks are segmented, and `serving_default`'s inputs."""
    return f"""# {graph.model.name}, version {version}

{what} exported by keras_music for TF Serving. Audio is mono
float32 at {graph.sample_rate} Hz, any length; each track is split into
{graph.segment_seconds:g} s segments ({graph.segment} samples) overlapping
by half (the last one ends with the track; a shorter track is zero-padded
to one segment), {verb}, and the {averaged} averaged per track.

## Signatures

- `serving_default`
  - inputs: `audio` float32 `(batch, samples)` (a padded batch when the
    tracks differ in length), `lengths` int32 `(batch,)` (samples of
    each track; padding past it is ignored)
  - outputs: {outputs}
"""


_BAD_REQUESTS = """\
Bad requests (wrong rank, empty audio, lengths out of range, NaN or
infinite samples, bytes that are not WAV) fail with INVALID_ARGUMENT and
a message naming the input.
"""


def _wav_rate(graph):
    if graph.resample_wav:
        return ", resampled to the model's rate"
    return ", at the model's rate"


def signatures_readme(graph, vocabulary, version):
    """The short description of an export's signatures."""
    backbone = graph.model.backbone
    token_width = backbone.hidden_dim * (
        3 if graph.embedding_token == "stack" else 1
    )
    embed_width = backbone.hidden_dim * (
        3 if graph.embed_token == "stack" else 1
    )
    blocks = ", ".join(f"`block_{n}`" for n in graph.embed_blocks)
    tags = ", ".join(vocabulary[:10]) + (" …" if len(vocabulary) > 10 else "")
    intro = _readme_intro(
        graph,
        version,
        "A MAEST tagger",
        "tagged",
        "outputs",
        f"""`probabilities` float32 `(batch, {graph.num_tags})`, tag
    probabilities in the order of `assets/{LABELS_FILE}`; `embedding`
    float32 `(batch, {token_width})`, the `{graph.embedding_token}`
    token(s) after block {graph.embedding_block}""",
    )
    return (
        intro
        + f"""\
- `embed`: inputs as `serving_default`; outputs {blocks}, float32
  `(batch, {embed_width})`: the `{graph.embed_token}` token(s) after
  each block
- `tag_wav`: input `wav` string `(batch,)`, WAV file bytes (16-bit PCM,
  channels averaged{_wav_rate(graph)});
  outputs as `serving_default`
- `segment_tokens`: input `audio` float32 `(batch, samples)`, at most one
  segment per row (shorter rows zero-padded); outputs `spectrogram`
  (the tagger's input) and `block_<n>_tokens` float32
  `(batch, tokens, {backbone.hidden_dim})` for blocks 1 to
  {backbone.num_layers}
- `serving_mel`: input `mel` float32 `(batch, frames, {backbone.num_mel_bins})`,
  Essentia's MAEST input (`log10(1 + 10000 x)` mel, time first, not
  normalised; {backbone.num_frames} frames fill a segment); outputs as
  `serving_default`, one segment per row
- `metadata`: no inputs; `sample_rate`, `segment_samples`,
  `segment_seconds`, `num_tags`, `num_mel_bins`, `num_frames`

The audio signatures do not resample: audio must be at
{graph.sample_rate} Hz (`metadata`, `model_card.json`).

{_BAD_REQUESTS}
Tags ({len(vocabulary)}): {tags}
"""
    )


def embedder_readme(graph, version):
    """The short description of an encoder export's signatures."""
    intro = _readme_intro(
        graph,
        version,
        "An audio encoder",
        "encoded",
        "embeddings",
        f"""`embedding` float32 `(batch, {graph.embedding_width})`, the
    track's embedding""",
    )
    return (
        intro
        + f"""\
- `embed`: the same as `serving_default`
- `embed_wav`: input `wav` string `(batch,)`, WAV file bytes (16-bit
  PCM, channels averaged{_wav_rate(graph)}); outputs as `serving_default`

{_BAD_REQUESTS}"""
    )


def tagger_card(graph, export_dir, vocabulary, version):
    """The model card of a tagger's SavedModel (`ServingGraph`)."""
    backbone = graph.model.backbone
    batch = "batch_size"
    mel = tensor(
        "mel",
        [batch, backbone.num_frames, backbone.num_mel_bins],
        signature="serving_mel",
    )
    width = graph._tag_widths()["embedding"]
    outputs = [
        tensor(
            "probabilities",
            [batch, graph.num_tags],
            "predictions",
            "serving_default",
        ),
        tensor("embedding", [batch, width], "embeddings", "serving_default"),
    ]
    outputs += [
        tensor(name, [batch, dim], "embeddings", "embed")
        for name, dim in graph._embed_widths().items()
    ]
    return model_card(
        os.path.basename(os.path.normpath(export_dir)),
        "multi-label classifier",
        graph.sample_rate,
        inputs=[*_audio_inputs(batch), mel],
        outputs=outputs,
        classes=vocabulary,
        version=version,
        metadata=getattr(graph.model, "metadata", None),
        inference=_inference(graph),
    )


def embedder_card(graph, export_dir, version):
    """The model card of an encoder's SavedModel (`EmbedderServingGraph`)."""
    batch = "batch_size"
    return model_card(
        os.path.basename(os.path.normpath(export_dir)),
        "embedding extractor",
        graph.sample_rate,
        inputs=_audio_inputs(batch),
        outputs=[
            tensor(
                "embedding",
                [batch, graph.embedding_width],
                "embeddings",
                "serving_default",
            )
        ],
        version=version,
        metadata=getattr(graph.model, "metadata", None),
        inference=_inference(graph),
    )


def _audio_inputs(batch):
    """`serving_default`'s inputs in a model card: audio and lengths."""
    return [
        tensor("audio", [batch, "samples"], signature="serving_default"),
        tensor("lengths", [batch], signature="serving_default", type="int"),
    ]


def _inference(graph):
    return {
        "segment_samples": graph.segment,
        "segment_seconds": graph.segment_seconds,
        "resamples": False,
        "note": "audio signatures take mono float32 at sample_rate and do "
        "not resample; the *_wav signatures decode and resample WAV bytes",
    }
