"""Quiet TensorFlow imports: no C++ start-up notices unless asked.

Importing TensorFlow prints a dozen lines of C++ logging to stderr
(oneDNN notices, "Could not find cuda drivers", `failed call to cuInit` on
a CPU-only machine, repeated per worker), which drown a command's own
output. `keras_music` imports TensorFlow through `quiet_tensorflow()` when
it is imported itself, so every entry point that imports `keras_music`
before TensorFlow (the `keras-music` command, the recipes) is quiet.

Set `KERAS_MUSIC_VERBOSE=1` (the command line's `--verbose` does) to see
everything; a `TF_CPP_MIN_LOG_LEVEL` you set yourself is kept.
"""

import logging
import os
import sys

VERBOSE_VARIABLE = "KERAS_MUSIC_VERBOSE"


def is_verbose():
    """Whether `KERAS_MUSIC_VERBOSE` asks for TensorFlow's logging.

    Example:

    >>> import os
    >>> os.environ.pop("KERAS_MUSIC_VERBOSE", None) and None
    >>> is_verbose()
    False
    """
    return os.environ.get(VERBOSE_VARIABLE, "") not in ("", "0")


def quiet_tensorflow():
    """Imports TensorFlow without its C++ start-up logging.

    Sets `TF_CPP_MIN_LOG_LEVEL=3` (unless set) and holds file descriptor
    2 on `/dev/null` while `tensorflow` is imported: the notices printed
    before absl's C++ logging is initialised ignore the level. Python
    errors of the import still reach stderr (raised after stderr is
    back). Python-side, TensorFlow's and absl's loggers show warnings and
    errors only. Does nothing under `KERAS_MUSIC_VERBOSE=1`.

    Example:

    >>> quiet_tensorflow()  # TensorFlow is imported already: only the
    >>> import logging      # Python loggers are turned down.
    >>> logging.getLogger("tensorflow").level == logging.ERROR
    True
    """
    if is_verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable stderr: nothing to hide
            saved = None
        if saved is not None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            if saved is not None:
                os.dup2(saved, 2)
                os.close(saved)
                os.close(devnull)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.WARNING)
