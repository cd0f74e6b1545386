"""`export_tflite`: one segment of audio -> tags, as a TFLite flatbuffer."""

import os

import keras
import tensorflow as tf

from keras_music.export.model_card import card_path
from keras_music.export.model_card import model_card
from keras_music.export.model_card import tensor
from keras_music.export.model_card import write_model_card
from keras_music.export.patchout import inference_patchout
from keras_music.export.serving_graph import ServingGraph
from keras_music.utils.atomic_write import atomic_path

QUANTIZATIONS = (None, "float16", "dynamic_range")


def check_free(path, overwrite=False):
    """Refuses to replace the file at `path` unless `overwrite`."""
    if os.path.exists(path) and not overwrite:
        raise ValueError(
            f"`path` {path} exists: a TFLite export does not replace a "
            "model without being asked. Pass overwrite=True (in the "
            f"recipes, --overwrite) or another path. Received: path={path!r}"
        )


def segment_model(graph):
    """A functional Keras model of one segment: audio `(batch, samples)`
    -> `{"probabilities", "embedding"}`, frontend included, from a
    `ServingGraph`'s frontend, tagger and embedding read-out.

    Audio shorter than a segment is zero-padded to one inside the model
    (as the SavedModel pads a short track); audio longer than a segment
    is cut to its first segment."""
    inputs = keras.Input(shape=(None,), name="audio")
    segment = keras.layers.Lambda(
        lambda x: _one_segment(x, graph.segment), name="pad_to_segment"
    )(inputs)
    outputs = graph.tag_segments(segment)
    return keras.Model(
        inputs, outputs, name=f"{graph.model.name}_segment_tagger"
    )


def _one_segment(audio, segment):
    missing = keras.ops.maximum(segment - keras.ops.shape(audio)[1], 0)
    audio = tf.pad(audio, [[0, 0], [0, missing]])
    return keras.ops.reshape(audio[:, :segment], (-1, segment))


def export_tflite(
    model,
    path,
    frontend=None,
    segment_seconds=None,
    quantization=None,
    inference_time_stride=None,
    inference_freq_drop=None,
    embedding_block=None,
    embedding_token="stack",
    overwrite=False,
    vocabulary=None,
):
    """Exports a MAEST tagger on one segment of raw audio to TFLite.

    The model takes a fixed-length segment, `audio` float32
    `(batch, segment_samples)` (batch 1 by default; resize the input to
    run several), and returns `probabilities` `(batch, num_tags)` and
    `embedding` `(batch, dim)`; the frontend (STFT with a power-of-two
    FFT length, mel filterbank, log) is inside. Longer audio is the
    caller's to cut into half-overlapped segments and average, as the
    SavedModel export does in its graph. It goes through Keras' LiteRT
    export with TFLite builtin ops only (no select TF ops), so the
    standard LiteRT runtime runs it.

    Args:
        model: `MAESTTagger`.
        path: str. Output file, ending in `.tflite`.
        frontend: `LogMelSpectrogram`. Defaults to MAEST's.
        segment_seconds: float. Segment length. Defaults to the one that
            fills the backbone's positional grid.
        quantization: `None` (float32), `"float16"` (float16 weights,
            half the size) or `"dynamic_range"` (int8 weights, float
            activations). Defaults to `None`.
        inference_time_stride, inference_freq_drop: inference patchout
            baked into the export; `None` keeps the model's setting.
        embedding_block, embedding_token: the embedding read-out, as
            `ServingGraph`.
        overwrite: bool. Replace an existing file at `path`; without
            it, an existing file is refused (a SavedModel export adds a
            version instead). Defaults to `False`.
        vocabulary: optional list of str. Tag names for the model card
            (`NAME.json` beside the file). Defaults to the model's
            `vocabulary`, else `tag_0 …`.

    Returns:
        str: `path`.

    Example:

    >>> import tempfile
    >>> from ai_edge_litert.interpreter import Interpreter
    >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=1)
    >>> tagger = MAESTTagger(backbone, num_tags=2)
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny_tagger.tflite")
    >>> path = export_tflite(tagger, path)
    >>> runner = Interpreter(path).get_signature_runner()
    >>> outputs = runner(audio=np.zeros((1, 16640), "float32"))
    >>> outputs["probabilities"].shape, outputs["embedding"].shape
    ((1, 2), (1, 96))
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"`quantization` must be one of {QUANTIZATIONS}. "
            f"Received: quantization={quantization!r}"
        )
    path = os.fspath(path)
    if not path.endswith(".tflite"):
        raise ValueError(
            f"`path` must end in `.tflite`. Received: path={path!r}"
        )
    check_free(path, overwrite)
    with inference_patchout(model, inference_time_stride, inference_freq_drop):
        graph = ServingGraph(
            model,
            frontend=frontend,
            segment_seconds=segment_seconds,
            embedding_block=embedding_block,
            embedding_token=embedding_token,
        )
        if graph.frontend.n_fft & (graph.frontend.n_fft - 1):
            raise ValueError(
                "TFLite's builtin RFFT2D needs a power-of-two FFT length. "
                f"Received: frontend with n_fft={graph.frontend.n_fft}"
            )
        converter_options = {
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
        }
        if quantization is not None:
            converter_options["optimizations"] = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter_options["target_spec"]["supported_types"] = [tf.float16]
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        # Written whole or not at all: a failed conversion keeps the
        # file an `overwrite` would have replaced.
        with atomic_path(path, suffix=".tflite") as temporary:
            segment_model(graph).export(
                temporary, format="litert", verbose=False, **converter_options
            )
        write_model_card(card_path(path), tflite_card(graph, path, vocabulary))
    return path


def tflite_card(graph, path, vocabulary=None):
    """The model card of a TFLite tagger, written as `NAME.json`."""
    backbone = graph.model.backbone
    width = graph._tag_widths()["embedding"]
    return model_card(
        os.path.splitext(os.path.basename(path))[0],
        "multi-label classifier",
        graph.sample_rate,
        inputs=[tensor("audio", ["batch_size", "samples"])],
        outputs=[
            tensor(
                "probabilities", ["batch_size", graph.num_tags], "predictions"
            ),
            tensor("embedding", ["batch_size", width], "embeddings"),
        ],
        classes=vocabulary
        or getattr(graph.model, "vocabulary", None)
        or [f"tag_{i}" for i in range(graph.num_tags)],
        model_format="tflite",
        metadata=getattr(graph.model, "metadata", None),
        inference={
            "segment_samples": graph.segment,
            "segment_seconds": graph.segment_seconds,
            "num_mel_bins": backbone.num_mel_bins,
            "resamples": False,
            "note": "one segment per call: shorter audio is zero-padded "
            "inside the model, longer audio is cut to its first segment",
        },
    )
