"""`ServingGraph`: a MAEST tagger on raw audio, as SavedModel signatures."""

import keras
import tensorflow as tf
from tensorflow.python.trackable.data_structures import NoDependency

from keras_music.export.segmented_audio_graph import SegmentedAudioGraph
from keras_music.layers.log_mel_spectrogram import MAEST_MEAN
from keras_music.layers.log_mel_spectrogram import MAEST_STD
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.layers.validation import check_positive
from keras_music.models.maest.maest_layers import TOKEN_KINDS
from keras_music.models.maest.maest_readout import maest_block_readout
from keras_music.models.maest.maest_tagger import MAESTTagger

# The paper's best embedding: the stacked tokens after block 7 (Section
# 4.1); shallower models use their last block.
PAPER_EMBEDDING_BLOCK = 7


def default_frontend(model, sample_rate=16000, hop_length=256):
    """MAEST's frontend for `model`: `LogMelSpectrogram` with the released
    models' input normalisation and the backbone's mel bands."""
    return LogMelSpectrogram(
        sample_rate=sample_rate,
        hop_length=hop_length,
        n_mels=model.backbone.num_mel_bins,
        normalize=True,
        name="log_mel_spectrogram",
    )


def default_segment_seconds(model, frontend):
    """The segment that fills the backbone's positional grid: the one that
    gives `num_frames` centred frames, `(num_frames - 1) * hop` samples."""
    hop = frontend.hop_length
    return (model.backbone.num_frames - 1) * hop / frontend.sample_rate


class ServingGraph(SegmentedAudioGraph):
    """A MAEST tagger on raw audio of any length, in one TensorFlow graph.

    What TF Serving, `saved_model_cli` and `tf.saved_model.load` run: the
    audio of every track in a batch is checked, split into half-overlapped
    segments exactly as `tfrecord_dataset(mode="all")` splits it (hop
    `segment // 2`, the last segment aligned with the end of the track, a
    track shorter than one segment zero-padded to one segment), the
    segments of all tracks go through the frontend and the tagger
    `batch_size` at a time, and the outputs are averaged per track. Only
    core TensorFlow ops are used (no `py_function`), so the graph runs
    wherever TensorFlow does.

    Three functions, each a signature of the export:

    - `serving_default(audio, lengths)` -> `probabilities`
      `(batch, num_tags)` and `embedding` `(batch, dim)` (the
      `embedding_token` of block `embedding_block`, flattened);
    - `embed(audio, lengths)` -> `block_<n>` `(batch, dim)` for every
      block `n` in `embed_blocks`, with `embed_token`;
    - `tag_wav(wav)` -> as `serving_default`, from WAV file bytes
      (16-bit PCM, any channels, averaged to mono; resampled to
      `sample_rate` in the graph by Fourier resampling when
      `resample_wav`, else a different rate is an error).

    `audio` is `(batch, samples)` float32 at `sample_rate`, a padded batch
    when tracks differ in length; `lengths` `(batch,)` int32 gives each
    track's true length (samples past it are ignored). Bad requests fail
    with an `InvalidArgumentError` naming the input and what was
    expected: wrong rank, empty batch or track, lengths out of range,
    non-finite samples, bytes that are not a WAV file.

    Args:
        model: `MAESTTagger`. The trained tagger (spectrogram segment ->
            tag probabilities); its inference patchout is baked in when
            the graph is traced.
        frontend: `LogMelSpectrogram`. Maps a segment of audio to the
            tagger's input. Defaults to MAEST's (`default_frontend`).
        segment_seconds: float. Segment length in seconds. Defaults to
            the one that fills the backbone's grid.
        embedding_block: int. Block of the `serving_default` embedding,
            1-based (0 = the input of the first block). Defaults to 7
            (the paper's best) or the last block of shallower models.
        embedding_token: str. `"stack"`, `"cls"`, `"dist"`, `"avg"` or
            `"cls_dist"`. Defaults to `"stack"`.
        embed_blocks: list of int. Blocks read by `embed`. Defaults to
            every block, `1 … num_layers`.
        embed_token: str. Token read by `embed`. Defaults to `"stack"`.
        batch_size: int. Segments per call of the tagger inside the
            graph; bounds memory on long tracks. Defaults to 8.
        resample_wav: bool. Whether `tag_wav` resamples files at another
            rate (else it refuses them). Defaults to `True`.

    Example:

    A one-block tiny tagger on a padded batch of two tracks:

    >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=1)
    >>> graph = ServingGraph(MAESTTagger(backbone, num_tags=3))
    >>> graph.sample_rate, graph.segment
    (16000, 16640)
    >>> audio = np.zeros((2, 20000), "float32")
    >>> outputs = graph.serving_default(audio, tf.constant([20000, 8000]))
    >>> outputs["probabilities"].shape, outputs["embedding"].shape
    (TensorShape([2, 3]), TensorShape([2, 96]))

    Reference:
        Alonso-Jiménez et al., ISMIR 2023, Section 3.3 (segment
        averaging) and 4.1 (embeddings).
    """

    def __init__(
        self,
        model,
        frontend=None,
        segment_seconds=None,
        embedding_block=None,
        embedding_token="stack",
        embed_blocks=None,
        embed_token="stack",
        batch_size=8,
        resample_wav=True,
        name="serving_graph",
    ):
        frontend = _serving_frontend(model, frontend)
        segment_seconds = _serving_segment_seconds(
            model, frontend, segment_seconds
        )
        embedding_block, embed_blocks = _serving_blocks(
            model.backbone, embedding_block, embed_blocks
        )
        _check_tokens(embedding_token=embedding_token, embed_token=embed_token)
        if model.activation not in ("sigmoid", None):
            raise ValueError(
                "`model` must end in a sigmoid (or give logits, "
                "`activation=None`) to serve tag probabilities. Received: "
                f"model with activation={model.activation!r}"
            )
        super().__init__(
            sample_rate=frontend.sample_rate,
            segment_seconds=segment_seconds,
            batch_size=batch_size,
            resample_wav=resample_wav,
            name=name,
        )
        self.model = NoDependency(model)
        # Values are checked once for the whole request, before
        # segmenting; the frontend's own checks would repeat them per
        # batch of segments.
        self.frontend = NoDependency(
            LogMelSpectrogram.from_config(
                {**frontend.get_config(), "check_values": False}
            )
        )
        self.embedding_block = embedding_block
        self.embedding_token = embedding_token
        self.embed_blocks = embed_blocks
        self.embed_token = embed_token
        self.num_tags = model.num_tags
        self._build_readouts(model)

    def _build_readouts(self, model):
        """The Keras models the signatures call, on `model`'s weights."""
        backbone = model.backbone
        # One pass through the backbone gives the tagger's tokens and the
        # embedding (`maest_block_readout`, the library's one read-out;
        # it raises for a bad block number).
        embedding = maest_block_readout(
            backbone, self.embedding_block, self.embedding_token
        )
        self._tag_features = _untracked_model(
            backbone.input,
            {"tokens": backbone.output, "embedding": embedding.output},
            name="tag_features",
        )
        self._embed_features = NoDependency(
            maest_block_readout(backbone, self.embed_blocks, self.embed_token)
        )
        # The raw tokens of every block, for `segment_tokens`.
        self.token_blocks = list(range(1, backbone.num_layers + 1))
        self._block_tokens = _untracked_model(
            backbone.input,
            {
                f"block_{n}_tokens": backbone.block_output(n)
                for n in self.token_blocks
            },
            name="block_tokens",
        )
        # The tagger's head (MAESTTagger names its layers).
        self._head = NoDependency(
            [
                model.get_layer(name)
                for name in ("head_pooling", "head_norm", "head")
            ]
        )
        # The SavedModel tracks the tf.Variables under the Keras ones, not
        # the Keras objects: a Keras variable is saved as a second copy of
        # its tf.Variable, which TF1-style loaders (`saved_model_cli run`,
        # TF Serving's session) then find uninitialised.
        self._variables = [v.value for v in model.variables]

    # === Signatures ===

    @tf.function(
        input_signature=[
            tf.TensorSpec(None, tf.float32, name="audio"),
            tf.TensorSpec([None], tf.int32, name="lengths"),
        ]
    )
    def serving_default(self, audio, lengths):
        audio, lengths = self._check_request(audio, lengths)
        return self._tag(audio, lengths)

    @tf.function(
        input_signature=[
            tf.TensorSpec(None, tf.float32, name="audio"),
            tf.TensorSpec([None], tf.int32, name="lengths"),
        ]
    )
    def embed(self, audio, lengths):
        audio, lengths = self._check_request(audio, lengths)
        return self._per_track(
            audio, lengths, self.embed_segments, self._embed_widths()
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="wav")])
    def tag_wav(self, wav):
        return self._tag(*self._wav_tracks(wav))

    @tf.function(
        input_signature=[tf.TensorSpec([None, None], tf.float32, name="audio")]
    )
    def segment_tokens(self, audio):
        """One segment per row, at `sample_rate` (not resampled; shorter
        rows zero-padded to a segment): the input `spectrogram` and the
        tokens `block_<n>_tokens` `(batch, 2 + patches, dim)` of every
        block."""
        length = tf.debugging.Assert(
            tf.shape(audio)[1] <= self.segment,
            [
                f"audio must be at most one segment ({self.segment} "
                "samples) per row; use serving_default or embed for longer "
                "audio; received samples",
                tf.shape(audio)[1],
            ],
        )
        with tf.control_dependencies([length]):
            audio = tf.pad(
                audio, [[0, 0], [0, self.segment - tf.shape(audio)[1]]]
            )
        audio = tf.ensure_shape(audio, [None, self.segment])
        spectrogram = self.frontend(audio)
        tokens = self._block_tokens(spectrogram, training=False)
        outputs = {k: keras.ops.cast(v, "float32") for k, v in tokens.items()}
        outputs["spectrogram"] = keras.ops.cast(spectrogram, "float32")
        return outputs

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None], tf.float32, name="mel")
        ]
    )
    def serving_mel(self, mel):
        """Essentia's MAEST input: `(batch, frames, mel bands)` log-mel,
        `log10(1 + 10000 x)` of the Slaney mel power spectrum, time first,
        not normalised (the released models normalise inside); at most
        `num_frames` frames (1876 for 30 s). Returns `probabilities` and
        `embedding` of each row, one segment each."""
        bands = tf.debugging.assert_equal(
            tf.shape(mel)[2],
            self.model.backbone.num_mel_bins,
            message=f"mel must be (batch, frames, "
            f"{self.model.backbone.num_mel_bins}) log-mel, time first",
        )
        frames = tf.debugging.assert_less_equal(
            tf.shape(mel)[1],
            self.model.backbone.num_frames,
            message=f"mel must have at most {self.model.backbone.num_frames} "
            "frames (one segment)",
        )
        with tf.control_dependencies([bands, frames]):
            x = tf.transpose(mel, [0, 2, 1])
        x = tf.ensure_shape(x, [None, self.model.backbone.num_mel_bins, None])
        if self.frontend.normalize:
            x = (x - MAEST_MEAN) / (2.0 * MAEST_STD)
        return self.tag_spectrograms(x)

    @tf.function(input_signature=[])
    def metadata(self):
        """What a client must know to send audio: `sample_rate` (Hz; the
        raw-audio signatures do not resample), `segment_samples`,
        `segment_seconds`, `num_tags`, `num_mel_bins`, `num_frames`."""
        backbone = self.model.backbone
        return {
            "sample_rate": tf.constant(self.sample_rate, tf.int32),
            "segment_samples": tf.constant(self.segment, tf.int32),
            "segment_seconds": tf.constant(self.segment_seconds, tf.float32),
            "num_tags": tf.constant(self.num_tags, tf.int32),
            "num_mel_bins": tf.constant(backbone.num_mel_bins, tf.int32),
            "num_frames": tf.constant(backbone.num_frames, tf.int32),
        }

    # === Graph pieces ===

    def tag_segments(self, segments):
        """Per-segment `probabilities` and `embedding` of audio segments
        `(n, segment)`; tensors or symbolic Keras inputs."""
        return self.tag_spectrograms(self.frontend(segments))

    def tag_spectrograms(self, spectrograms):
        """`probabilities` and `embedding` of the tagger's input
        spectrograms `(n, num_mel_bins, frames)`."""
        features = self._tag_features(spectrograms, training=False)
        x = features["tokens"]
        for layer in self._head:
            x = layer(x, training=False)
        x = keras.ops.cast(x, "float32")
        if self.model.activation is None:
            x = keras.ops.sigmoid(x)
        return {
            "probabilities": x,
            "embedding": keras.ops.cast(features["embedding"], "float32"),
        }

    def embed_segments(self, segments):
        """Per-segment `block_<n>` embeddings of audio segments."""
        features = self._embed_features(self.frontend(segments), training=False)
        return {
            name: keras.ops.cast(x, "float32") for name, x in features.items()
        }

    def _tag(self, audio, lengths):
        return self._per_track(
            audio, lengths, self.tag_segments, self._tag_widths()
        )

    def _tag_widths(self):
        return {
            "probabilities": self.num_tags,
            "embedding": _token_width(
                self.embedding_token, self.model.backbone.hidden_dim
            ),
        }

    def _embed_widths(self):
        width = _token_width(self.embed_token, self.model.backbone.hidden_dim)
        return {f"block_{n}": width for n in self.embed_blocks}


def _untracked_model(*args, **kwargs):
    return NoDependency(keras.Model(*args, **kwargs))


def _token_width(token, hidden_dim):
    return 3 * hidden_dim if token == "stack" else hidden_dim


def _serving_frontend(model, frontend):
    """The checked `model` and its `frontend` (MAEST's by default)."""
    if not isinstance(model, MAESTTagger):
        raise ValueError(
            "`model` must be a `MAESTTagger` (spectrogram segment -> tag "
            f"probabilities). Received: model={model!r}"
        )
    if frontend is None:
        frontend = default_frontend(model)
    if not isinstance(frontend, LogMelSpectrogram):
        raise ValueError(
            "`frontend` must be a `LogMelSpectrogram`. "
            f"Received: frontend={frontend!r}"
        )
    num_mel_bins = model.backbone.num_mel_bins
    if frontend.n_mels != num_mel_bins:
        raise ValueError(
            f"`frontend` must give the backbone's {num_mel_bins} "
            f"mel bands. Received: frontend with n_mels="
            f"{frontend.n_mels}"
        )
    return frontend


def _serving_segment_seconds(model, frontend, segment_seconds):
    """`segment_seconds`, by default the one that fills the backbone's
    grid, checked to give at most the frames the backbone takes."""
    if segment_seconds is None:
        segment_seconds = default_segment_seconds(model, frontend)
    check_positive("segment_seconds", segment_seconds)
    segment = max(1, int(round(segment_seconds * frontend.sample_rate)))
    frames = frontend.compute_output_shape((None, segment))[-1]
    if frames > model.backbone.num_frames:
        raise ValueError(
            f"`segment_seconds` gives {frames} frames, more than the "
            f"backbone takes ({model.backbone.num_frames}). Received: "
            f"segment_seconds={segment_seconds}"
        )
    return segment_seconds


def _serving_blocks(backbone, embedding_block, embed_blocks):
    """`embedding_block` and the list `embed_blocks`, with their defaults
    (block 7 or the last; every block)."""
    if embedding_block is None:
        embedding_block = min(PAPER_EMBEDDING_BLOCK, backbone.num_layers)
    if embed_blocks is None:
        embed_blocks = list(range(1, backbone.num_layers + 1))
    embed_blocks = list(embed_blocks)
    if not embed_blocks:
        raise ValueError(
            "`embed_blocks` must list at least one block. "
            f"Received: embed_blocks={embed_blocks!r}"
        )
    return embedding_block, embed_blocks


def _check_tokens(**tokens):
    for token_name, token in tokens.items():
        if token not in TOKEN_KINDS:
            raise ValueError(
                f"`{token_name}` must be one of {TOKEN_KINDS}. "
                f"Received: {token_name}={token!r}"
            )
