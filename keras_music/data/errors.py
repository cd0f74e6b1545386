"""Errors raised by keras_music's data pipeline."""


class AudioDecodeError(ValueError):
    """An audio file that cannot be turned into usable samples.

    Raised by `load_audio` (and by `load_fn`s that wrap it) for files that
    are missing, unreadable, of an unsupported type, empty, or contain NaN
    or infinite samples. `write_tfrecords` skips the items that raise it,
    and reports them with `reason` in the manifest, instead of stopping.

    Args:
        path: str. The file (or item) that failed.
        reason: str. What is wrong with it.

    Example:

    >>> from keras_music.data.audio import load_audio
    >>> try:
    ...     load_audio("missing.wav", 16000)
    ... except AudioDecodeError as error:
    ...     print(error.path, "-", error.reason)
    missing.wav - ...
    """

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = str(reason)
        super().__init__(f"Cannot decode audio file '{self.path}': {reason}")

    def __reduce__(self):
        # Pickled across worker processes: rebuild from both arguments.
        return (type(self), (self.path, self.reason))
