"""`export_tagger`: a trained tagger to every serving format, from what
the model carries."""

import os

from keras_music.export.saved_model import export_saved_model
from keras_music.export.serving_graph import default_segment_seconds
from keras_music.export.tflite import QUANTIZATIONS
from keras_music.export.tflite import check_free
from keras_music.export.tflite import export_tflite
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.layers.validation import check_positive
from keras_music.layers.validation import check_positive_int
from keras_music.models.maest.maest_embedder import PRECISIONS
from keras_music.models.maest.maest_embedder import maest_with_precision
from keras_music.utils.atomic_write import write_text_atomic

FORMATS = ("saved_model", "tflite")


def tagger_metadata(
    model,
    vocabulary=None,
    sample_rate=None,
    segment_seconds=None,
    frontend=None,
):
    """Tag names, sample rate, segment and frontend of a tagger.

    Read from the model: `model.vocabulary` and `model.preprocessor`
    (its frontend, sample rate and segment; a `.keras` file keeps them).
    Each argument given overrides the model; what neither gives is an
    error naming the argument to pass.

    Args:
        model: a `Tagger` (`MAESTTagger`).
        vocabulary: optional list of str. Tag names in output order.
        sample_rate: optional int. Audio rate in Hz.
        segment_seconds: optional float. Segment length. Defaults to the
            preprocessor's, else the one that fills the backbone's grid.
        frontend: optional `LogMelSpectrogram`.

    Returns:
        dict with `"vocabulary"`, `"sample_rate"`, `"segment_seconds"`,
        `"frontend"`.

    Example:

    A tagger that carries nothing (no preprocessor, no tag names) gets
    them from the arguments; `export_tagger`'s example shows one that
    carries its own:

    >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=1)
    >>> tagger = MAESTTagger(backbone, num_tags=2)
    >>> metadata = tagger_metadata(
    ...     tagger,
    ...     vocabulary=["piano", "voice"],
    ...     frontend=LogMelSpectrogram(hop_length=256, normalize=True),
    ...     sample_rate=8000,
    ... )
    >>> metadata["frontend"].sample_rate, round(metadata["segment_seconds"], 2)
    (8000, 2.08)
    >>> tagger_metadata(tagger)
    Traceback (most recent call last):
    ...
    ValueError: `model` ... has no `vocabulary` (tag names) and none was ...
    """
    preprocessor = getattr(model, "preprocessor", None)
    if vocabulary is None:
        vocabulary = getattr(model, "vocabulary", None)
    if vocabulary is None:
        raise ValueError(
            f"`model` {getattr(model, 'name', model)!r} has no `vocabulary` "
            "(tag names) and none was given: pass `vocabulary=[...]` (in "
            "recipes/export.py, --labels FILE), or build the tagger with "
            "`vocabulary=`."
        )
    if frontend is None and preprocessor is not None:
        frontend = preprocessor.frontend
    if frontend is None:
        raise ValueError(
            f"`model` {getattr(model, 'name', model)!r} has no preprocessor "
            "with a frontend and no `frontend` was given: pass "
            "`frontend=LogMelSpectrogram(...)`, or build the tagger with "
            "`preprocessor=AudioPreprocessor(frontend, ...)`."
        )
    if not isinstance(frontend, LogMelSpectrogram):
        raise ValueError(
            "`frontend` must be a `LogMelSpectrogram` (a MAEST tagger's). "
            f"Received: frontend={frontend!r}"
        )
    if sample_rate is not None:
        sample_rate = check_positive_int("sample_rate", sample_rate)
        if sample_rate != frontend.sample_rate:
            frontend = LogMelSpectrogram.from_config(
                {**frontend.get_config(), "sample_rate": sample_rate}
            )
    if segment_seconds is None and preprocessor is not None:
        segment_seconds = preprocessor.segment_seconds
    if segment_seconds is None:
        segment_seconds = default_segment_seconds(model, frontend)
    check_positive("segment_seconds", segment_seconds)
    return {
        "vocabulary": [str(tag) for tag in vocabulary],
        "sample_rate": int(frontend.sample_rate),
        "segment_seconds": segment_seconds,
        "frontend": frontend,
    }


def export_tagger(
    model,
    path,
    formats=FORMATS,
    quantizations=(None,),
    version=None,
    vocabulary=None,
    sample_rate=None,
    segment_seconds=None,
    frontend=None,
    inference_time_stride=None,
    inference_freq_drop=None,
    precision="float32",
    overwrite=False,
):
    """Exports a tagger for serving, from what the model carries.

    Reads the tag names, sample rate, segment and frontend from the model
    (`tagger_metadata`; arguments override) and writes, for
    `path="saved_models/maest_tagger"`:

    - `saved_models/maest_tagger/VERSION/`: the SavedModel in TF
      Serving's layout (see `export_saved_model` for its signatures),
      with `assets/labels.txt`, `README.md` and `model_card.json`;
    - `saved_models/maest_tagger[.QUANTIZATION].tflite`: one segment
      (see `export_tflite`), with its card `maest_tagger[...].json` and
      `maest_tagger.labels.txt`.

    Every card (Essentia's schema, `model_card`) states the sample rate,
    the classes (the model's vocabulary) and the model's `metadata`
    (dataset and the metrics its training run measured).

    Args:
        model: `MAESTTagger`.
        path: str. Base path of the exports (a folder name, no suffix).
        formats: subset of `("saved_model", "tflite")`. Defaults to both.
        quantizations: TFLite variants, from `None` (float32),
            `"float16"`, `"dynamic_range"`. Defaults to `(None,)`.
        version: optional int. SavedModel version. Defaults to the next.
        vocabulary, sample_rate, segment_seconds, frontend: overrides of
            what the model carries (`tagger_metadata`).
        inference_time_stride, inference_freq_drop: inference patchout of
            the exports; `None` keeps the model's.
        precision: str. SavedModel compute dtype, `"float32"` or
            `"bfloat16"` (`maest_with_precision`). Defaults to
            `"float32"`.
        overwrite: bool. Replace existing TFLite files (checked before
            anything is written). Defaults to `False`.

    Returns:
        dict kind (`"saved_model"`, `"tflite"`, `"tflite_float16"`, …,
        `"tflite_labels"`) -> path written.

    Example:

    >>> import tempfile
    >>> backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=1)
    >>> preprocessor = AudioPreprocessor(
    ...     LogMelSpectrogram(hop_length=256, normalize=True),
    ...     segment_seconds=1.04,
    ... )
    >>> tagger = MAESTTagger(
    ...     backbone, num_tags=2, preprocessor=preprocessor,
    ...     vocabulary=["piano", "voice"],
    ... )
    >>> base = os.path.join(tempfile.mkdtemp(), "tiny_tagger")
    >>> paths = export_tagger(tagger, base, formats=("tflite",))
    >>> sorted(os.path.basename(p) for p in paths.values())
    ['tiny_tagger.labels.txt', 'tiny_tagger.tflite']
    >>> sorted(os.listdir(os.path.dirname(base)))
    ['tiny_tagger.json', 'tiny_tagger.labels.txt', 'tiny_tagger.tflite']
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
    path = os.path.normpath(os.fspath(path))
    if not os.path.basename(path) or os.path.basename(path) in (".", ".."):
        raise ValueError(
            f"`path` must end in a model name. Received: path={path!r}"
        )
    metadata = tagger_metadata(
        model, vocabulary, sample_rate, segment_seconds, frontend
    )
    if "tflite" in formats:
        for quantization in quantizations:
            check_free(tflite_path(path, quantization), overwrite)
    options = {
        "vocabulary": metadata["vocabulary"],
        "frontend": metadata["frontend"],
        "segment_seconds": metadata["segment_seconds"],
        "inference_time_stride": inference_time_stride,
        "inference_freq_drop": inference_freq_drop,
    }
    paths = {}
    if "saved_model" in formats:
        paths["saved_model"] = export_saved_model(
            maest_with_precision(model, precision),
            path,
            version=version,
            **options,
        )
    if "tflite" in formats:
        options.pop("vocabulary")
        for quantization in quantizations:
            key = f"tflite_{quantization}" if quantization else "tflite"
            paths[key] = export_tflite(
                model,
                tflite_path(path, quantization),
                quantization=quantization,
                overwrite=overwrite,
                vocabulary=metadata["vocabulary"],
                **options,
            )
        labels_path = f"{path}.labels.txt"
        write_text_atomic(labels_path, "\n".join(metadata["vocabulary"]) + "\n")
        paths["tflite_labels"] = labels_path
    return paths


def tflite_path(path, quantization=None):
    """`path[.quantization].tflite`, where `export_tagger` writes a TFLite
    variant."""
    suffix = f".{quantization}" if quantization else ""
    return f"{path}{suffix}.tflite"
