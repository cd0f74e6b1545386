"""Shared fixtures of the command-line tests: one tiny tagger file and one
folder of awkward audio for the whole module."""

import os

import pytest

from tests.cli.fixtures import audio_folder
from tests.cli.fixtures import tiny_tagger


@pytest.fixture(scope="module")
def tagger_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("model") / "tagger.keras")
    tiny_tagger(path)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("audio"))
    return directory, audio_folder(directory)


@pytest.fixture(scope="module")
def loaded_tagger(tagger_file):
    import keras

    return keras.saving.load_model(tagger_file, compile=False)


def relative(folder_path, path):
    return os.path.relpath(path, folder_path)
