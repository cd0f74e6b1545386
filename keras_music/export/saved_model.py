"""`export_saved_model` and `export_embedder_saved_model`: a tagger or an
audio encoder as a versioned SavedModel for TF Serving."""

import os
import shutil
import tempfile

import tensorflow as tf

from keras_music.export.embedder_serving_graph import EmbedderServingGraph
from keras_music.export.serving_graph import ServingGraph

LABELS_FILE = "labels.txt"
README_FILE = "README.md"


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
    - `tag_wav(wav)` -> `probabilities`, `embedding` from WAV bytes.

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
    ('1', ['README.md', 'assets', 'fingerprint.pb', 'saved_model.pb',
           'variables'])
    >>> serving = tf.saved_model.load(path).signatures["serving_default"]
    >>> audio = tf.zeros((1, 24000))
    >>> serving(audio=audio, lengths=tf.constant([24000]))["probabilities"]
    <tf.Tensor: shape=(1, 2), dtype=float32, ...>
    """
    _check_version(version)
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

    export_dir, version = _resolve_version(export_dir, version)
    backbone = getattr(model, "backbone", None)
    previous = None
    if backbone is not None and hasattr(backbone, "set_inference_patchout"):
        previous = (
            backbone.inference_time_stride,
            tuple(backbone.inference_freq_drop),
        )

    def stage_labels(graph, temporary):
        staging = os.path.join(temporary, "labels")
        os.makedirs(staging)
        labels_path = os.path.join(staging, LABELS_FILE)
        with open(labels_path, "w") as stream:
            stream.write("\n".join(vocabulary) + "\n")
        # Tracked as an asset: copied into `assets/` and found by the
        # loaded model as `labels_file`.
        graph.labels_file = tf.saved_model.Asset(labels_path)

    try:
        if inference_time_stride is not None or inference_freq_drop is not None:
            if previous is None:
                raise ValueError(
                    "Inference patchout needs a `MAESTTagger`. Received: "
                    f"model={model!r}"
                )
            model.set_inference_patchout(
                inference_time_stride, inference_freq_drop
            )
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
        return _save_version(
            graph,
            export_dir,
            version,
            ("serving_default", "embed", "tag_wav"),
            signatures_readme(graph, vocabulary, version),
            stage=stage_labels,
        )
    finally:
        if previous is not None and (
            inference_time_stride is not None or inference_freq_drop is not None
        ):
            model.set_inference_patchout(*previous)


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
    _check_version(version)
    # Built first: a model that is not an encoder leaves no folder behind.
    graph = EmbedderServingGraph(
        model,
        sample_rate=sample_rate,
        segment_seconds=segment_seconds,
        batch_size=batch_size,
        resample_wav=resample_wav,
    )
    export_dir, version = _resolve_version(export_dir, version)
    return _save_version(
        graph,
        export_dir,
        version,
        ("serving_default", "embed", "embed_wav"),
        embedder_readme(graph, version),
    )


def _check_version(version):
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise ValueError(
            "`version` must be a positive integer (TF Serving's version "
            f"folders are numbers). Received: version={version!r}"
        )


def _resolve_version(export_dir, version):
    """`export_dir` (created) and the version to write in it."""
    export_dir = os.fspath(export_dir)
    os.makedirs(export_dir, exist_ok=True)
    existing = existing_versions(export_dir)
    if version is None:
        return export_dir, max(existing, default=0) + 1
    if version in existing:
        raise ValueError(
            f"`version` {version} already exists in {export_dir}; versions "
            f"are never overwritten. Existing versions: {sorted(existing)}. "
            f"Received: version={version}"
        )
    return export_dir, version


def _save_version(graph, export_dir, version, signatures, readme, stage=None):
    """Saves `graph` with `signatures` (names of its functions) as
    `export_dir/version`, written to a temporary folder beside it and
    renamed into place; `stage(graph, temporary)` adds assets first."""
    target = os.path.join(export_dir, str(version))
    temporary = tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=export_dir)
    try:
        if stage is not None:
            stage(graph, temporary)
        written = os.path.join(temporary, "model")
        tf.saved_model.save(
            graph,
            written,
            signatures={name: getattr(graph, name) for name in signatures},
        )
        with open(os.path.join(written, README_FILE), "w") as stream:
            stream.write(readme)
        # Atomic on one file system; fails rather than replace a version
        # another process wrote meanwhile.
        os.rename(written, target)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target


def existing_versions(export_dir):
    """The integer version folders in `export_dir`."""
    if not os.path.isdir(export_dir):
        return []
    return sorted(
        int(entry)
        for entry in os.listdir(export_dir)
        if entry.isdigit() and os.path.isdir(os.path.join(export_dir, entry))
    )


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
    wav_rate = (
        ", resampled to the model's rate"
        if graph.resample_wav
        else ", at the model's rate"
    )
    tags = ", ".join(vocabulary[:10]) + (" …" if len(vocabulary) > 10 else "")
    return f"""# {graph.model.name}, version {version}

A MAEST tagger exported by keras_music for TF Serving. Audio is mono
float32 at {graph.sample_rate} Hz, any length; each track is split into
{graph.segment_seconds:g} s segments ({graph.segment} samples) overlapping
by half (the last one ends with the track; a shorter track is zero-padded
to one segment), tagged, and the outputs averaged per track.

## Signatures

- `serving_default`
  - inputs: `audio` float32 `(batch, samples)` (a padded batch when the
    tracks differ in length), `lengths` int32 `(batch,)` (samples of
    each track; padding past it is ignored)
  - outputs: `probabilities` float32 `(batch, {graph.num_tags})`, tag
    probabilities in the order of `assets/{LABELS_FILE}`; `embedding`
    float32 `(batch, {token_width})`, the `{graph.embedding_token}`
    token(s) after block {graph.embedding_block}
- `embed`: inputs as `serving_default`; outputs {blocks}, float32
  `(batch, {embed_width})`: the `{graph.embed_token}` token(s) after
  each block
- `tag_wav`: input `wav` string `(batch,)`, WAV file bytes (16-bit PCM,
  channels averaged{wav_rate});
  outputs as `serving_default`

Bad requests (wrong rank, empty audio, lengths out of range, NaN or
infinite samples, bytes that are not WAV) fail with INVALID_ARGUMENT and
a message naming the input.

Tags ({len(vocabulary)}): {tags}
"""


def embedder_readme(graph, version):
    """The short description of an encoder export's signatures."""
    wav_rate = (
        ", resampled to the model's rate"
        if graph.resample_wav
        else ", at the model's rate"
    )
    return f"""# {graph.model.name}, version {version}

An audio encoder exported by keras_music for TF Serving. Audio is mono
float32 at {graph.sample_rate} Hz, any length; each track is split into
{graph.segment_seconds:g} s segments ({graph.segment} samples) overlapping
by half (the last one ends with the track; a shorter track is zero-padded
to one segment), encoded, and the embeddings averaged per track.

## Signatures

- `serving_default`
  - inputs: `audio` float32 `(batch, samples)` (a padded batch when the
    tracks differ in length), `lengths` int32 `(batch,)` (samples of
    each track; padding past it is ignored)
  - outputs: `embedding` float32 `(batch, {graph.embedding_width})`, the
    track's embedding
- `embed`: the same as `serving_default`
- `embed_wav`: input `wav` string `(batch,)`, WAV file bytes (16-bit
  PCM, channels averaged{wav_rate}); outputs as `serving_default`

Bad requests (wrong rank, empty audio, lengths out of range, NaN or
infinite samples, bytes that are not WAV) fail with INVALID_ARGUMENT and
a message naming the input.
"""
