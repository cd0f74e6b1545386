"""Session fixtures shared by the evaluation tests: one tiny corpus."""

import pytest

from keras_music.data.tune_corpus import build_tune_corpus


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """20 clips of 5 s (16/2/2 train/valid/test), rendered once."""
    return build_tune_corpus(
        num_clips=20,
        clip_seconds=5.0,
        cache_dir=str(tmp_path_factory.mktemp("tune_corpus")),
        progress=False,
    )
