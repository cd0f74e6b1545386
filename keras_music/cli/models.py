"""What the command line accepts as MODEL, and how it is read."""

import os

import keras
import tensorflow as tf

from keras_music.cli.audio_files import CommandError
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_embedder import maest_with_precision
from keras_music.models.maest.maest_tagger import MAESTTagger
from keras_music.models.tagger import Tagger

MODEL_KINDS = (
    "a `.keras` tagger (e.g. runs/maest_small/model.keras), an exported "
    "SavedModel folder (saved_models/NAME or saved_models/NAME/VERSION) "
    f"or a MAEST preset name ({', '.join(sorted(MAESTBackbone.presets))})"
)

# Measured in benchmarks/README.md (maest_30s on the built-in test split,
# 2-core CPU): the speed/quality trade-off of issue 22's options.
TRADE_OFF = (
    "Measured trade-off (benchmarks/README.md, maest_30s, CPU): "
    "--inference_time_stride 10 as int8 TFLite runs 2.22x the "
    "Essentia-style EfficientNet-B0 at ROC-AUC 0.7665 vs 0.7731 without "
    "patchout; --precision bfloat16 gives 1.08x on this CPU."
)


def saved_model_version(path):
    """The version folder of an export: `path` itself when it holds
    `saved_model.pb`, else its highest integer subfolder that does."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted(
        int(name)
        for name in os.listdir(path)
        if name.isdigit()
        and os.path.isfile(os.path.join(path, name, "saved_model.pb"))
    )
    if not versions:
        return None
    return os.path.join(path, str(versions[-1]))


def load_model(path):
    """Reads MODEL: a `keras.Model` from a `.keras` file, a loaded
    SavedModel (`tf.Module`) from an export folder, or a MAEST preset
    name (a randomly initialised `MAESTBackbone`).

    Raises:
        CommandError: `path` is none of these, naming it.
    """
    if os.path.isdir(path):
        version = saved_model_version(path)
        if version is None:
            raise CommandError(
                f"MODEL {path!r}: a folder without saved_model.pb (nor a "
                f"version subfolder holding one); expected {MODEL_KINDS}."
            )
        return tf.saved_model.load(version)
    if os.path.isfile(path):
        if not path.endswith(".keras"):
            raise CommandError(
                f"MODEL {path!r}: not a .keras file; expected {MODEL_KINDS}."
            )
        try:
            return keras.saving.load_model(path, compile=False)
        except Exception as error:  # a zip that is not a Keras model, ...
            raise CommandError(
                f"MODEL {path!r}: cannot be loaded as a Keras model "
                f"({type(error).__name__}: {str(error)[:200]})."
            ) from None
    if path in MAESTBackbone.presets:
        return MAESTBackbone.from_preset(path)
    raise CommandError(
        f"MODEL {path!r}: no such file, folder or preset; expected "
        f"{MODEL_KINDS}."
    )


def speed_settings(model, precision, time_stride, freq_drop):
    """A MAEST tagger or backbone with issue 22's speed options applied:
    `precision` (`maest_with_precision`) and inference patchout."""
    if precision == "float32" and time_stride is None and freq_drop is None:
        return model
    if not isinstance(model, (MAESTTagger, MAESTBackbone)):
        raise CommandError(
            "--precision, --inference_time_stride and "
            "--inference_freq_drop apply to MAEST models. Received: a "
            f"{type(model).__name__}."
        )
    model = maest_with_precision(model, precision)
    if time_stride is not None or freq_drop is not None:
        model.set_inference_patchout(time_stride, freq_drop)
    return model


def check_tagger(model, path):
    """`model` if it is a tagger with a preprocessor and tag names."""
    if not isinstance(model, Tagger):
        raise CommandError(
            f"MODEL {path!r}: a {type(model).__name__}, not a tagger; "
            f"`tag` needs a tagger with tag names ({MODEL_KINDS})."
        )
    missing = [
        name
        for name in ("preprocessor", "vocabulary")
        if getattr(model, name, None) is None
    ]
    if missing or model.preprocessor.segment_samples is None:
        raise CommandError(
            f"MODEL {path!r}: the tagger carries no "
            f"{' and no '.join(missing) or 'segment length'}; save it with "
            "`preprocessor=AudioPreprocessor(..., segment_seconds=...)` "
            "and `vocabulary=[...]` (see recipes/maest.py)."
        )
    return model
