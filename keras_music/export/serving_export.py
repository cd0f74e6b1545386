"""Deprecated: the export functions that read a run's `results.json`.

`export_tagger` (`keras_music.export.tagger`) and `export_embedder`
(`keras_music.export.embedder`) read what an export needs from the model
itself; the functions here forward to them and warn
(`DeprecationWarning`), for one release. `export_size`, `tflite_path`
and `check_tflite_free` stay.
"""

import json
import os
import warnings

import keras

from keras_music.export import tagger as tagger_export
from keras_music.export.embedder import export_embedder
from keras_music.export.tagger import FORMATS
from keras_music.export.tagger import export_tagger
from keras_music.export.tflite import check_free
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int

RESULTS_FILE = "results.json"


def _deprecated(old, new):
    warnings.warn(
        f"`{old}` is deprecated and will be removed in the next release: "
        f"use `{new}`, which reads the sample rate, segment, frontend and "
        "tag names from the model (no results.json).",
        DeprecationWarning,
        stacklevel=3,
    )


def serving_metadata(
    model_path, labels=None, sample_rate=None, segment_seconds=None
):
    """Deprecated (use `export_tagger`, which reads the model): tag names,
    sample rate, segment and frontend of a saved model.

    Read from `results.json` next to `model_path` (what `recipes/maest.py`
    writes) when present; each argument given overrides it.

    Args:
        model_path: str. A `.keras` file.
        labels: list of str, or str: a text file with one tag per line.
        sample_rate: int. Audio rate in Hz.
        segment_seconds: float. Segment length.

    Returns:
        dict with `"vocabulary"`, `"sample_rate"`, `"segment_seconds"` and
        `"frontend"` (a `LogMelSpectrogram`).

    Example:

    A run folder whose `results.json` gives no frontend (MAEST's is
    used), with the sample rate overridden:

    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> with open(os.path.join(run, "results.json"), "w") as f:
    ...     json.dump({"vocabulary": ["piano", "voice"],
    ...                "sample_rate": 16000, "segment_seconds": 1.04}, f)
    >>> model_path = os.path.join(run, "tagger.keras")
    >>> metadata = serving_metadata(model_path)
    >>> metadata["vocabulary"], metadata["segment_seconds"]
    (['piano', 'voice'], 1.04)
    >>> frontend = metadata["frontend"]
    >>> frontend.sample_rate, frontend.n_mels, frontend.hop_length
    (16000, 96, 256)
    >>> serving_metadata(model_path, sample_rate=8000)["sample_rate"]
    8000
    """
    _deprecated("serving_metadata", "tagger_metadata")
    results = {}
    results_path = os.path.join(
        os.path.dirname(os.path.abspath(model_path)), RESULTS_FILE
    )
    if os.path.isfile(results_path):
        with open(results_path) as stream:
            results = json.load(stream)
    if isinstance(labels, str):
        with open(labels) as stream:
            labels = [line.strip() for line in stream if line.strip()]
    vocabulary = labels if labels is not None else results.get("vocabulary")
    sample_rate = sample_rate or results.get("sample_rate")
    segment_seconds = segment_seconds or results.get("segment_seconds")
    missing = [
        name
        for name, value in (
            ("labels", vocabulary),
            ("sample_rate", sample_rate),
            ("segment_seconds", segment_seconds),
        )
        if value is None
    ]
    if missing:
        where = (
            f"the {RESULTS_FILE} beside it does not give them"
            if os.path.isfile(results_path)
            else f"there is no {RESULTS_FILE} beside it"
        )
        raise ValueError(
            f"No {', '.join(missing)} for {model_path}: {where}; pass them "
            "(--labels FILE, --sample_rate, --segment)."
        )
    check_positive_int("sample_rate", sample_rate)
    check_positive("segment_seconds", segment_seconds)
    frontend_config = results.get("frontend")
    if frontend_config is not None:
        frontend = keras.saving.deserialize_keras_object(frontend_config)
        if frontend.sample_rate != sample_rate:
            frontend = LogMelSpectrogram.from_config(
                {**frontend.get_config(), "sample_rate": sample_rate}
            )
    else:
        # MAEST's frontend at that rate.
        frontend = LogMelSpectrogram(
            sample_rate=sample_rate, hop_length=256, normalize=True
        )
    return {
        "vocabulary": list(vocabulary),
        "sample_rate": int(sample_rate),
        "segment_seconds": segment_seconds,
        "frontend": frontend,
    }


def export_size(path):
    """Bytes on disk of an export: a file, or every file under a folder
    (a SavedModel version: `saved_model.pb`, `variables/`, `assets/`)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def export_for_serving(
    model,
    name,
    vocabulary,
    frontend,
    segment_seconds,
    output_dir="saved_models",
    formats=FORMATS,
    quantizations=(None,),
    version=None,
    inference_time_stride=None,
    inference_freq_drop=None,
    precision="float32",
    overwrite=False,
):
    """Deprecated: `export_tagger(model, output_dir/name, ...)`, which
    reads the tag names, frontend and segment from the model; this
    forwards to it with them given.

    Args:
        model: `MAESTTagger`.
        name: str. Model name: `output_dir/name/VERSION/` and
            `output_dir/name[.quantization].tflite`.
        vocabulary: list of str. Tag names in output order.
        frontend: `LogMelSpectrogram`.
        segment_seconds: float. Segment length.
        output_dir: str. Defaults to `"saved_models"`.
        formats: subset of `("saved_model", "tflite")`. Defaults to both.
        quantizations: TFLite variants, from `None` (float32),
            `"float16"`, `"dynamic_range"`. Defaults to `(None,)`.
        version: int. SavedModel version. Defaults to the next one.
        inference_time_stride, inference_freq_drop: inference patchout of
            the exports; `None` keeps the model's.
        precision: str. Compute dtype of the SavedModel's transformer,
            `"float32"` or `"bfloat16"` (`maest_with_precision`; faster
            on CPUs with AVX512_BF16 / AMX, see `benchmarks/README.md`).
            TFLite variants are chosen by `quantizations`. Defaults to
            `"float32"`.
        overwrite: bool. Replace existing TFLite files; without it they
            are refused before anything is written. Defaults to `False`.

    Returns:
        dict format (`"saved_model"`, `"tflite"`, `"tflite_float16"`, …)
        -> path written.

    Example:

    A one-block tiny tagger to float16 TFLite, with its labels file:

    >>> import tempfile
    >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=1)
    >>> tagger = MAESTTagger(backbone, num_tags=2)
    >>> output_dir = tempfile.mkdtemp()
    >>> paths = export_for_serving(
    ...     tagger, "tiny_tagger", ["piano", "voice"],
    ...     frontend=LogMelSpectrogram(hop_length=256, normalize=True),
    ...     segment_seconds=1.04, output_dir=output_dir,
    ...     formats=("tflite",), quantizations=("float16",),
    ... )
    >>> {key: os.path.basename(path) for key, path in paths.items()}
    {'tflite_float16': 'tiny_tagger.float16.tflite',
     'tflite_labels': 'tiny_tagger.labels.txt'}
    >>> os.path.isfile(os.path.join(output_dir, "tiny_tagger.float16.json"))
    True
    """
    _deprecated("export_for_serving", "export_tagger")
    _check_name(name)
    return export_tagger(
        model,
        os.path.join(output_dir, name),
        formats=formats,
        quantizations=quantizations,
        version=version,
        vocabulary=vocabulary,
        frontend=frontend,
        segment_seconds=segment_seconds,
        inference_time_stride=inference_time_stride,
        inference_freq_drop=inference_freq_drop,
        precision=precision,
        overwrite=overwrite,
    )


def tflite_path(output_dir, name, quantization=None):
    """`output_dir/name[.quantization].tflite`, where `export_tagger`
    writes a TFLite variant of `output_dir/name`."""
    return tagger_export.tflite_path(
        os.path.join(output_dir, name), quantization
    )


def check_tflite_free(output_dir, name, quantizations=(None,), overwrite=False):
    """Refuses, before anything is exported (or trained), TFLite files of
    `export_for_serving` that exist, unless `overwrite`."""
    for quantization in quantizations:
        check_free(tflite_path(output_dir, name, quantization), overwrite)


def embedder_metadata(model_path, sample_rate=None, segment_seconds=None):
    """Deprecated (use `export_embedder` on a model that carries its
    preprocessor): sample rate and segment of a run's encoder, or `None`
    for a model that is not one.

    The rule: a model is an encoder (raw audio segment -> embedding, to
    export with `export_embedder_for_serving`) when the `results.json`
    beside it names its file under `"encoder"` and gives no
    `"vocabulary"`, as `recipes/s3t.py` writes it. Each argument given
    overrides `results.json`.

    Args:
        model_path: str. A `.keras` file.
        sample_rate: int. Audio rate in Hz.
        segment_seconds: float. Segment length; `None` takes the model's
            input length.

    Returns:
        `None`, or a dict with `"sample_rate"` and `"segment_seconds"`.

    Example:

    A run folder as `recipes/s3t.py` writes it:

    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> with open(os.path.join(run, "results.json"), "w") as f:
    ...     json.dump({"encoder": "encoder.keras", "sample_rate": 22050,
    ...                "segment_seconds": 4.0}, f)
    >>> embedder_metadata(os.path.join(run, "encoder.keras"))
    {'sample_rate': 22050, 'segment_seconds': 4.0}
    >>> print(embedder_metadata(os.path.join(run, "tagger.keras")))
    None
    """
    _deprecated("embedder_metadata", "export_embedder")
    results_path = os.path.join(
        os.path.dirname(os.path.abspath(model_path)), RESULTS_FILE
    )
    if not os.path.isfile(results_path):
        return None
    with open(results_path) as stream:
        results = json.load(stream)
    encoder = results.get("encoder")
    if (
        not isinstance(encoder, str)
        or os.path.basename(encoder) != os.path.basename(model_path)
        or "vocabulary" in results
    ):
        return None
    sample_rate = sample_rate or results.get("sample_rate")
    if sample_rate is None:
        raise ValueError(
            f"No sample_rate for {model_path}: the {RESULTS_FILE} beside it "
            "does not give it; pass it (--sample_rate)."
        )
    return {
        "sample_rate": check_positive_int("sample_rate", sample_rate),
        "segment_seconds": segment_seconds or results.get("segment_seconds"),
    }


def export_embedder_for_serving(
    model,
    name,
    sample_rate,
    segment_seconds=None,
    output_dir="saved_models",
    version=None,
):
    """Deprecated: `export_embedder(model, output_dir/name, ...)`, to
    which this forwards.

    TFLite is left out: the segment encoder already is a Keras model of
    one segment, which `model.export(path, format="litert")` converts
    when its ops allow.

    Args:
        model: `keras.Model`. Raw audio `(batch, segment_samples)` ->
            embedding `(batch, dim)`.
        name: str. Model name: `output_dir/name/VERSION/`.
        sample_rate: int. Audio rate in Hz.
        segment_seconds: float. Segment length. Defaults to the model's
            input length.
        output_dir: str. Defaults to `"saved_models"`.
        version: int. SavedModel version. Defaults to the next one.

    Returns:
        dict `{"saved_model": path written}`.

    Example:

    An encoder of 800-sample segments at 8 kHz giving each segment's
    mean:

    >>> import tempfile
    >>> encoder = keras.Sequential([
    ...     keras.Input((800,)),
    ...     keras.layers.Reshape((800, 1)),
    ...     keras.layers.GlobalAveragePooling1D(),
    ... ])
    >>> output_dir = tempfile.mkdtemp()
    >>> paths = export_embedder_for_serving(
    ...     encoder, "tiny_encoder", sample_rate=8000, output_dir=output_dir
    ... )
    >>> os.path.relpath(paths["saved_model"], output_dir)
    'tiny_encoder/1'
    >>> loaded = tf.saved_model.load(paths["saved_model"])
    >>> outputs = loaded.signatures["embed"](
    ...     audio=tf.ones((1, 1200)), lengths=tf.constant([1200])
    ... )
    >>> outputs["embedding"].numpy()
    array([[1.]], dtype=float32)
    """
    _deprecated("export_embedder_for_serving", "export_embedder")
    _check_name(name)
    return {
        "saved_model": export_embedder(
            model,
            os.path.join(output_dir, name),
            sample_rate=sample_rate,
            version=version,
            segment_seconds=segment_seconds,
        )
    }


def _check_name(name):
    if not name or os.sep in name or name in (".", ".."):
        raise ValueError(
            f"`name` must be a folder name. Received: name={name!r}"
        )
