"""Reading the golden fixtures written by `make_fixtures.py`.

A fixture is a folder of `tests/golden/data/`: the official model's
`weights.safetensors`, its inputs and outputs in `arrays.npz` and a
`meta.json` naming the reference repository, commit and constructor.
"""

import json
import os

import numpy as np

from keras_music.convert.state_dict import load_state_dict

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def fixture_path(name, filename):
    return os.path.join(DATA, name, filename)


def load_fixture(name):
    """`(state_dict, arrays, meta)` of fixture `name`."""
    state_dict = load_state_dict(fixture_path(name, "weights.safetensors"))
    with np.load(fixture_path(name, "arrays.npz")) as data:
        arrays = {k: data[k] for k in data.files}
    with open(fixture_path(name, "meta.json")) as f:
        meta = json.load(f)
    return state_dict, arrays, meta


def assert_matches(actual, expected, atol, what):
    """Raises `AssertionError` naming `what` and the largest difference
    when `actual` and the official `expected` differ by more than `atol`
    (absolute) anywhere, or differ in shape."""
    actual = np.asarray(actual, "float64")
    expected = np.asarray(expected, "float64")
    if actual.shape != expected.shape:
        raise AssertionError(
            f"{what}: shape {actual.shape}, official {expected.shape}"
        )
    error = float(np.max(np.abs(actual - expected)))
    if not error <= atol:
        raise AssertionError(
            f"{what}: max abs difference {error:.3g} from the official "
            f"output exceeds {atol:g}"
        )
    return error
