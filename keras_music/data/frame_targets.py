"""Frame-level targets stored with the audio: what they are, for the writer.

`write_tfrecords(..., targets=spec)` computes, for each track, a dict of
frame-level arrays from its audio and stores them beside it; the records'
readers (`tfrecord_dataset(..., targets=names)`) give them back frame for
frame with the audio. A `FrameTargets` says what those targets are: the
function, the names and widths it returns, its hop, the rate it needs and
a description that names it the same way in every process (it goes into
the manifest, so that a folder written with other targets is not taken
for this one). A family supplies its own (PASE's workers:
`keras_music.features.pase_targets.frame_targets`); any function is made
one with `FrameTargets.from_function`, which finds its hop and widths by
calling it.
"""

import dataclasses
import functools

import numpy as np


@dataclasses.dataclass(frozen=True)
class FrameTargets:
    """Frame-level targets a writer computes from each track's audio.

    Args:
        function: callable `audio (samples,) float32 -> {name: array
            (samples // hop_length, dim)}` (picklable to run in worker
            processes).
        dims: dict name -> int, the width of each target, in the order
            the targets are stored.
        hop_length: int. Samples per target frame.
        sample_rate: int or `None`. The rate `function` is defined at, or
            `None` for any rate.
        description: str. Names `function` (and its version) the same way
            in every process; it goes into the manifest.

    Example:

    >>> import numpy as np
    >>> def rms(audio):
    ...     frames = audio[: len(audio) // 100 * 100].reshape(-1, 100)
    ...     return {"rms": np.sqrt((frames**2).mean(axis=1, keepdims=True))}
    >>> targets = FrameTargets.from_function(rms, 8000)
    >>> targets.hop_length, targets.dims
    (100, {'rms': 1})
    """

    function: object
    dims: dict
    hop_length: int
    sample_rate: int | None
    description: str

    @property
    def names(self):
        """The target names, in the stored order."""
        return list(self.dims)

    def spec(self, sample_rate):
        """The manifest's description of the targets at `sample_rate`."""
        return {
            "names": self.names,
            "dims": dict(self.dims),
            "hop_length": self.hop_length,
            "frame_rate": sample_rate / self.hop_length,
            "storage": "float16",
            "function": self.description,
        }

    @classmethod
    def from_function(cls, function, sample_rate):
        """The targets of `function` at `sample_rate`: its names, widths
        and hop found by calling it on 1 s and 2 s of noise."""
        lengths = (sample_rate, 2 * sample_rate)
        noise = np.random.default_rng(0).uniform(-0.5, 0.5, lengths[1])
        outputs = [function(noise[:n].astype(np.float32)) for n in lengths]
        shapes = [
            {k: np.shape(v) for k, v in o.items()} if isinstance(o, dict) else o
            for o in outputs
        ]
        hop = _probed_hop(shapes, lengths)
        if hop is None:
            raise ValueError(
                "`targets` must return a dict of names (no '/') to arrays "
                "`(samples // hop, dim)`, the same names for any audio, for "
                f"one integer hop. Received shapes {shapes[0]} for "
                f"{lengths[0]} samples and {shapes[1]} for {lengths[1]} from "
                f"targets={function!r}"
            )
        dims = {n: int(shapes[0][n][1]) for n in sorted(shapes[0])}
        return cls(function, dims, hop, None, describe(function))


def _probed_hop(shapes, lengths):
    """The hop the probed target shapes imply, or None if inconsistent."""
    if not all(isinstance(s, dict) and s for s in shapes):
        return None
    names = sorted(shapes[0])
    if set(shapes[1]) != set(names) or not all(
        isinstance(n, str) and "/" not in n for n in names
    ):
        return None
    if not all(len(s[n]) == 2 for s in shapes for n in names):
        return None
    added = shapes[1][names[0]][0] - shapes[0][names[0]][0]
    if added <= 0 or lengths[0] % added:
        return None
    hop = lengths[0] // added
    for n in names:
        if shapes[0][n][1] != shapes[1][n][1]:
            return None
        if any(s[n][0] != length // hop for s, length in zip(shapes, lengths)):
            return None
    return hop


def describe(function):
    """A text naming `function` that is the same in every process."""
    if isinstance(function, functools.partial):
        arguments = [repr(a) for a in function.args] + [
            f"{k}={v!r}" for k, v in sorted(function.keywords.items())
        ]
        return f"{describe(function.func)}({', '.join(arguments)})"
    name = getattr(function, "__qualname__", type(function).__qualname__)
    module = getattr(function, "__module__", type(function).__module__)
    return f"{module}.{name}"
