"""`export_for_serving`: a trained tagger to every serving format at once;
`export_embedder_for_serving`: a raw-audio encoder to TF Serving.

What `recipes/export.py` and the end of the training recipes call: reads
what an export needs (tag names, sample rate, segment, frontend) from a
run folder's `results.json` or from arguments, and writes
`saved_models/NAME/VERSION/` (TF Serving) and, for taggers,
`saved_models/NAME.tflite` (plus `NAME.float16.tflite` /
`NAME.dynamic_range.tflite` when asked).
"""

import json
import os

import keras

from keras_music.export.saved_model import export_embedder_saved_model
from keras_music.export.saved_model import export_saved_model
from keras_music.export.tflite import QUANTIZATIONS
from keras_music.export.tflite import check_free
from keras_music.export.tflite import export_tflite
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.models.maest.maest_embedder import PRECISIONS
from keras_music.models.maest.maest_embedder import maest_with_precision

FORMATS = ("saved_model", "tflite")
RESULTS_FILE = "results.json"


def serving_metadata(
    model_path, labels=None, sample_rate=None, segment_seconds=None
):
    """Tag names, sample rate, segment and frontend of a saved model.

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
    """Exports a tagger as a SavedModel for TF Serving and as TFLite.

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
    """
    formats = list(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(
            f"`formats` must be a non-empty subset of {FORMATS}. "
            f"Received: formats={formats!r}"
        )
    bad = [q for q in quantizations if q not in QUANTIZATIONS]
    if bad or not quantizations:
        raise ValueError(
            f"`quantizations` must be a non-empty subset of {QUANTIZATIONS}. "
            f"Received: quantizations={quantizations!r}"
        )
    if precision not in PRECISIONS:
        raise ValueError(
            f"`precision` must be one of {PRECISIONS}. "
            f"Received: precision={precision!r}"
        )
    _check_name(name)
    if "tflite" in formats:
        check_tflite_free(output_dir, name, quantizations, overwrite)
    patchout = {
        "inference_time_stride": inference_time_stride,
        "inference_freq_drop": inference_freq_drop,
    }
    paths = {}
    if "saved_model" in formats:
        paths["saved_model"] = export_saved_model(
            maest_with_precision(model, precision),
            os.path.join(output_dir, name),
            version=version,
            vocabulary=vocabulary,
            frontend=frontend,
            segment_seconds=segment_seconds,
            **patchout,
        )
    if "tflite" in formats:
        for quantization in quantizations:
            key = f"tflite_{quantization}" if quantization else "tflite"
            paths[key] = export_tflite(
                model,
                tflite_path(output_dir, name, quantization),
                overwrite=overwrite,
                frontend=frontend,
                segment_seconds=segment_seconds,
                quantization=quantization,
                **patchout,
            )
        labels_path = os.path.join(output_dir, f"{name}.labels.txt")
        with open(labels_path, "w") as stream:
            stream.write("\n".join(vocabulary) + "\n")
        paths["tflite_labels"] = labels_path
    return paths


def tflite_path(output_dir, name, quantization=None):
    """`output_dir/name[.quantization].tflite`, where `export_for_serving`
    writes a TFLite variant."""
    suffix = f".{quantization}" if quantization else ""
    return os.path.join(output_dir, f"{name}{suffix}.tflite")


def check_tflite_free(output_dir, name, quantizations=(None,), overwrite=False):
    """Refuses, before anything is exported (or trained), TFLite files of
    `export_for_serving` that exist, unless `overwrite`."""
    for quantization in quantizations:
        check_free(tflite_path(output_dir, name, quantization), overwrite)


def embedder_metadata(model_path, sample_rate=None, segment_seconds=None):
    """Sample rate and segment of a run's encoder, or `None` for a model
    that is not one.

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
    """Exports a raw-audio encoder as a SavedModel for TF Serving.

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
    _check_name(name)
    return {
        "saved_model": export_embedder_saved_model(
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
