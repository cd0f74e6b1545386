"""Bad inputs give one line naming the argument or file, exit status 2,
and the command does nothing else."""

import os

import pytest

from keras_music.cli.main import main


def error_line(capsys):
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1, errors
    return errors[0]


def test_missing_folder(tagger_file, tmp_path, capsys):
    missing = str(tmp_path / "nowhere")
    output = str(tmp_path / "out")
    assert main(["embed", tagger_file, missing, "--output", output]) == 2
    line = error_line(capsys)
    assert line.startswith("keras-music embed: error: DIR ")
    assert repr(missing) in line and "no such folder" in line
    assert not os.path.exists(output)


def test_empty_folder_and_folder_without_audio(tagger_file, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("x")
    for folder in (empty, texts):
        status = main(["tag", tagger_file, str(folder)])
        assert status == 2
        line = error_line(capsys)
        assert f"AUDIO {str(folder)!r}: the folder holds no audio" in line


@pytest.mark.parametrize("kind", ["wav", "folder", "zip", "name"])
def test_model_of_the_wrong_kind(kind, folder, tmp_path, capsys):
    directory, paths = folder
    model = {
        "wav": paths["long"],
        "folder": directory,
        "name": "maest_huge",
    }.get(kind)
    if kind == "zip":
        model = str(tmp_path / "broken.keras")
        with open(model, "wb") as stream:
            stream.write(b"PK\x03\x04 not a model")
    assert main(["tag", model, paths["long"]]) == 2
    line = error_line(capsys)
    assert line.startswith(f"keras-music tag: error: MODEL {model!r}: ")
    assert "expected a `.keras` tagger" in line or "cannot be loaded" in line


def test_block_out_of_range(tagger_file, folder, tmp_path, capsys):
    directory, _ = folder
    output = str(tmp_path / "out")
    arguments = ["embed", tagger_file, directory, "--output", output]
    assert main([*arguments, "--block", "3"]) == 2
    line = error_line(capsys)
    assert "--block must be in [0, 2]" in line and "Received: --block 3" in line
    assert not os.path.exists(output)


def test_preset_without_weights_is_not_a_tagger(folder, capsys):
    _, paths = folder
    assert main(["tag", "maest_tiny", paths["long"]]) == 2
    line = error_line(capsys)
    assert (
        "MODEL 'maest_tiny': a preset name tags with trained weights only: "
        "pass --weights FILE"
    ) in line


def test_embed_model_of_the_wrong_kind(folder, tmp_path, capsys):
    directory, paths = folder
    output = str(tmp_path / "out")
    for model in (paths["long"], directory, "maest_huge"):
        assert main(["embed", model, directory, "--output", output]) == 2
        line = error_line(capsys)
        assert line.startswith(f"keras-music embed: error: MODEL {model!r}: ")
        assert "expected a `.keras` tagger" in line
    assert not os.path.exists(output)
