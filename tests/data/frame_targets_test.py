"""`FrameTargets`: the frame-target description the writer stores."""

import functools

import numpy as np
import pytest

from keras_music.data.frame_targets import FrameTargets
from keras_music.data.frame_targets import describe
from keras_music.features import pase_targets


def energy(audio, hop=100):
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    return {"rms": np.sqrt(np.mean(frames**2, axis=1, keepdims=True))}


def test_from_function_finds_the_hop_and_widths():
    targets = FrameTargets.from_function(energy, 8000)
    assert (targets.hop_length, targets.dims) == (100, {"rms": 1})
    assert targets.spec(8000) == {
        "names": ["rms"],
        "dims": {"rms": 1},
        "hop_length": 100,
        "frame_rate": 80.0,
        "storage": "float16",
        "function": f"{__name__}.energy",
    }
    wider = FrameTargets.from_function(functools.partial(energy, hop=400), 8000)
    assert wider.hop_length == 400
    assert wider.description == f"{__name__}.energy(hop=400)"


def test_from_function_refuses_inconsistent_frames():
    with pytest.raises(ValueError, match="for one integer hop"):
        FrameTargets.from_function(lambda a: {"x": np.zeros((3, 2))}, 8000)


def test_pase_frame_targets_are_the_workers_targets():
    targets = pase_targets.frame_targets(["prosody", "lps"])
    # The stored order is the order asked for.
    assert targets.names == ["prosody", "lps"]
    assert targets.spec(16000)["dims"] == {"prosody": 4, "lps": 1025}
    assert (targets.sample_rate, targets.hop_length) == (16000, 160)
    assert targets.description == (
        f"{describe(pase_targets.pase_targets)} version "
        f"{pase_targets.TARGETS_VERSION}"
    )
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, 3200)
    audio = audio.astype(np.float32)
    computed = targets.function(audio)
    expected = pase_targets.pase_targets(audio, names=("prosody", "lps"))
    for name in targets.names:
        np.testing.assert_array_equal(computed[name], expected[name])
    with pytest.raises(ValueError, match="waveform"):
        pase_targets.frame_targets(["waveform"])
