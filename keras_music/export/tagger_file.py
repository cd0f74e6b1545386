"""`export_tagger_file`: a saved `.keras` tagger to its serving formats."""

import warnings

import keras

from keras_music.export.tagger import FORMATS
from keras_music.export.tagger import export_tagger


def export_tagger_file(model_path, path, formats=FORMATS, **kwargs):
    """Exports the tagger saved at `model_path`, in float32, for serving.

    The end of a training run: the `.keras` file it wrote (the trained
    tagger with its preprocessor, tag names and metadata) is loaded
    without its optimizer (which serving does not need; Keras's warning
    that it skips that state is silenced) and passed to `export_tagger`,
    in float32 whatever precision it trained in: the backbone
    (`precision="float32"`) and the frontend too (a frontend saved under
    `mixed_bfloat16` would round its spectrograms to bfloat16). The global
    dtype policy is restored afterwards.

    Args:
        model_path: str. A `.keras` file of a tagger (`MAESTTagger`).
        path: str. Base path of the exports (a folder name, no suffix).
        formats: subset of `("saved_model", "tflite")`. Defaults to both.
        **kwargs: the other arguments of `export_tagger` (`overwrite`,
            `version`, `quantizations`, `frontend`, ...).

    Returns:
        dict kind -> path written, as `export_tagger` returns it.

    Example:

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> tagger = MAESTTagger(
    ...     MAESTBackbone.from_preset("maest_tiny", num_layers=1),
    ...     num_tags=2,
    ...     preprocessor=AudioPreprocessor(
    ...         LogMelSpectrogram(hop_length=256, normalize=True),
    ...         segment_seconds=1.04,
    ...     ),
    ...     vocabulary=["piano", "voice"],
    ... )
    >>> tagger.save(os.path.join(folder, "model.keras"))
    >>> paths = export_tagger_file(
    ...     os.path.join(folder, "model.keras"),
    ...     os.path.join(folder, "tiny_tagger"),
    ...     formats=("tflite",),
    ... )
    >>> os.path.basename(paths["tflite"])
    'tiny_tagger.tflite'
    """
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Skipping variable loading")
            model = keras.saving.load_model(model_path, compile=False)
        frontend = getattr(model.preprocessor, "frontend", None)
        if frontend is not None and "frontend" not in kwargs:
            kwargs["frontend"] = type(frontend).from_config(
                {**frontend.get_config(), "dtype": "float32"}
            )
        return export_tagger(model, path, formats=formats, **kwargs)
    finally:
        keras.mixed_precision.set_global_policy(policy)
