import pytest

from keras_music.data.datasets.dataset_layout import check_fields
from keras_music.data.datasets.dataset_layout import first_existing


def test_first_existing_prefers_the_path_then_the_alternatives(tmp_path):
    wav, au, flac = (str(tmp_path / n) for n in ("a.wav", "a.au", "a.flac"))
    # None exists: the path itself, for the writer to report missing.
    assert first_existing(wav, au, flac) == wav
    open(flac, "w").close()
    assert first_existing(wav, au, flac) == flac
    open(au, "w").close()
    assert first_existing(wav, au, flac) == au
    open(wav, "w").close()
    assert first_existing(wav, au, flac) == wav


def test_check_fields_names_the_file_line_and_counts():
    check_fields("x.csv", 3, ["a", "b"], ["path", "label"])
    with pytest.raises(
        ValueError,
        match=r"Malformed row in x\.csv, line 4: 1 fields, the header has 2",
    ):
        check_fields("x.csv", 4, ["a"], ["path", "label"])
