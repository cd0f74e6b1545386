"""What the command line accepts as MODEL, and how it is read."""

import os
import warnings

import keras
import tensorflow as tf

from keras_music.cli.arguments import KERAS_WEIGHTS
from keras_music.cli.arguments import MODEL_KINDS
from keras_music.cli.arguments import REFERENCE_CHECKPOINTS
from keras_music.cli.arguments import TRADE_OFF  # noqa: F401
from keras_music.cli.arguments import WEIGHTS_KINDS
from keras_music.cli.audio_files import CommandError
from keras_music.convert.maest import load_maest_weights
from keras_music.convert.maest import maest_frontend
from keras_music.convert.state_dict import load_state_dict
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_embedder import maest_with_precision
from keras_music.models.maest.maest_presets import backbone_presets
from keras_music.models.maest.maest_presets import frontend_presets
from keras_music.models.maest.maest_tagger import MAESTTagger
from keras_music.models.tagger import Tagger


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


def read_labels(path):
    """Tag names of `--labels FILE`: one per line, in output order."""
    if not os.path.isfile(path):
        raise CommandError(
            f"--labels {path!r}: no such file (expected a text file with "
            "one tag name per line, in output order)."
        )
    with open(path, encoding="utf-8") as stream:
        labels = [line.strip() for line in stream if line.strip()]
    if not labels:
        raise CommandError(f"--labels {path!r}: the file names no tags.")
    return labels


def preset_preprocessor(preset, reference):
    """Rate, segment and frontend of a preset: the released MAEST sizes
    with the official frontend when their weights are a reference
    checkpoint (which was trained on it), else the frontend of
    `recipes/maest.py` (96 bands, hop 256, normalised) on the segment
    that fills the preset's grid."""
    if reference and preset in frontend_presets:
        seconds = int(preset[len("maest_") : -1])
        return AudioPreprocessor(
            maest_frontend(preset), segment_seconds=seconds
        )
    frames = backbone_presets[preset]["num_frames"]
    frontend = LogMelSpectrogram(
        sample_rate=16000, hop_length=256, normalize=True
    )
    return AudioPreprocessor(
        frontend, segment_seconds=(frames - 1) * 256 / 16000
    )


def load_keras_weights(model, path):
    """`model.load_weights(path)`, raising `ValueError` where Keras only
    warns that it left variables unloaded (a file of another model)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(path)
    for warning in caught:
        text = " ".join(str(warning.message).split())
        if issubclass(warning.category, UserWarning) and "load" in text:
            raise ValueError(text)


def _checked_weights(preset, weights, carriers):
    """Checks `preset` (a MAEST preset) and `weights` (an existing file of
    `WEIGHTS_KINDS`); returns whether it is a reference checkpoint (else a
    Keras `.weights.h5`). `carriers`: what carries its own weights instead
    (`"file"`, `"file or an export"`), for the error."""
    if preset not in MAESTBackbone.presets:
        raise CommandError(
            f"MODEL {preset!r}: --weights needs a MAEST preset name "
            f"({', '.join(sorted(MAESTBackbone.presets))}); a `.keras` "
            f"{carriers} carries its own weights."
        )
    reference = weights.lower().endswith(REFERENCE_CHECKPOINTS)
    if not reference and not weights.endswith(KERAS_WEIGHTS):
        raise CommandError(f"--weights {weights!r}: expected {WEIGHTS_KINDS}.")
    if not os.path.isfile(weights):
        raise CommandError(f"--weights {weights!r}: no such file.")
    return reference


def preset_tagger(preset, weights, labels=None):
    """A `MAESTTagger` of `preset` with `weights` (`WEIGHTS_KINDS`), its
    preprocessor (`preset_preprocessor`) and tag names: `labels` (a file),
    required, since weights carry no names.

    Raises:
        CommandError: an unknown preset, a missing or unreadable weights
            file, no labels, or weights that do not fit, naming which.
    """
    reference = _checked_weights(preset, weights, "file or an export")
    state = None
    if reference:
        try:
            state = load_state_dict(weights)
        except (ValueError, OSError, KeyError) as error:
            raise CommandError(
                f"--weights {weights!r}: cannot be read as a checkpoint "
                f"({str(error)[:200]})."
            ) from None
        if "head.1.weight" not in state:
            raise CommandError(
                f"--weights {weights!r}: no tagging head (`head.1.weight`); "
                "a backbone checkpoint gives embeddings (`keras-music "
                "embed`), not tags."
            )
        num_tags = int(state["head.1.weight"].shape[0])
    if labels is None:
        count = f" ({num_tags} outputs)" if reference else ""
        raise CommandError(
            f"--weights {weights!r} carries no tag names: pass --labels "
            f"FILE, one tag per line in output order{count}."
        )
    vocabulary = read_labels(labels)
    if reference and len(vocabulary) != num_tags:
        raise CommandError(
            f"--labels {labels!r} names {len(vocabulary)} tags; --weights "
            f"{weights!r} has {num_tags} outputs."
        )
    tagger = MAESTTagger(
        MAESTBackbone.from_preset(preset),
        num_tags=len(vocabulary),
        preprocessor=preset_preprocessor(preset, reference),
        vocabulary=vocabulary,
        name=f"{preset}_tagger",
    )
    try:
        if reference:
            load_maest_weights(tagger, state)
        else:
            load_keras_weights(tagger, weights)
    except (ValueError, OSError, KeyError) as error:
        message = " ".join(str(error).split())[:300]
        raise CommandError(
            f"--weights {weights!r} does not fit a {preset} tagger with "
            f"{len(vocabulary)} tags: {message}"
        ) from None
    return tagger


def preset_backbone(preset, weights):
    """A `MAESTBackbone` of `preset` with `weights` (`WEIGHTS_KINDS`; a
    tagging head in a checkpoint is skipped, a Keras file must be a
    backbone's) and its preprocessor (`preset_preprocessor`).

    Raises:
        CommandError: an unknown preset, a missing weights file, or
            weights that do not fit, naming which.
    """
    reference = _checked_weights(preset, weights, "file")
    backbone = MAESTBackbone.from_preset(preset)
    try:
        if reference:
            load_maest_weights(backbone, weights)
        else:
            load_keras_weights(backbone, weights)
    except (ValueError, OSError, KeyError) as error:
        message = " ".join(str(error).split())[:300]
        raise CommandError(
            f"--weights {weights!r} does not fit a {preset} backbone: {message}"
        ) from None
    return backbone, preset_preprocessor(preset, reference)
