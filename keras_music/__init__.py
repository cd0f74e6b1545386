"""keras_music: music representation learning with Keras 3 and TensorFlow."""

import os
import sys

# The library is built on TensorFlow (tf.data, tf.distribute, SavedModel).
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"


def import_all():
    """Imports TensorFlow without its C++ start-up notices on stderr
    (`KERAS_MUSIC_VERBOSE=1` shows them), then every package of Keras
    objects, which registers them: `keras.saving.load_model` finds them
    after `import keras_music`. `import keras_music` calls it, except
    under the `keras-music` command (which calls it after parsing its
    arguments, so that `--help` does not wait for TensorFlow).

    Example:

    >>> import keras_music
    >>> keras_music.import_all()  # done already by `import keras_music`
    >>> "keras_music.models" in __import__("sys").modules
    True
    """
    from keras_music.quiet import quiet_tensorflow

    quiet_tensorflow()
    from keras_music import layers  # noqa: F401
    from keras_music import losses  # noqa: F401
    from keras_music import models  # noqa: F401
    from keras_music import pretraining  # noqa: F401
    from keras_music import training  # noqa: F401


def _run_as_the_command_line():
    """Whether this process is `keras-music ...` (the console script) or
    `python -m keras_music.cli.main ...`."""
    argv = getattr(sys, "argv", None) or [""]
    if os.path.basename(argv[0]) in ("keras-music", "keras-music.exe"):
        return True
    orig = getattr(sys, "orig_argv", [])
    return any(
        flag == "-m" and module == "keras_music.cli.main"
        for flag, module in zip(orig, orig[1:])
    )


if not _run_as_the_command_line():
    import_all()
