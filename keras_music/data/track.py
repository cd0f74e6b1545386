"""`Track`: one decoded piece of audio with its labels."""

import dataclasses

import numpy as np


@dataclasses.dataclass
class Track:
    """A mono recording and its labels, as loaders hand them to the writer.

    Args:
        track_id: str. Unique id within a dataset (used to split and to
            trace errors back to a file).
        audio: float32 array `(samples,)`, mono, nominally in [-1, 1].
        sample_rate: int. Sampling rate of `audio` in Hz.
        labels: dict mapping a task name (e.g. `"genre"`, `"tags"`) to the
            list of label names that apply (one name for single-label
            tasks, any number for multi-label tasks). Vocabularies live in
            the TFRecord manifest.
        metadata: dict of extra JSON-serialisable facts (source file,
            offset) kept in the manifest, not in the records.

    Example:

    >>> audio = np.zeros(8000, "float32")
    >>> track = Track("t0", audio, 16000, labels={"genre": ["rock"]})
    >>> track.duration
    0.5
    """

    track_id: str
    audio: np.ndarray
    sample_rate: int
    labels: dict = dataclasses.field(default_factory=dict)
    metadata: dict = dataclasses.field(default_factory=dict)

    @property
    def duration(self):
        return len(self.audio) / float(self.sample_rate)
