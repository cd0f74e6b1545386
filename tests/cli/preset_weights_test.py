"""`keras-music tag PRESET --weights FILE --labels FILE`: a preset with
trained weights tags like the tagger those weights come from; unknown
presets, missing weights and missing names are one-line errors."""

import numpy as np
import pytest

from keras_music.cli.main import main
from keras_music.cli.models import preset_preprocessor
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_presets import backbone_presets
from keras_music.models.maest.maest_presets import frontend_presets
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.cli.fixtures import VOCABULARY
from tests.cli.fixtures import tiny_tagger
from tests.convert.maest_test import _reference_state_dict


def error_line(capsys):
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1, errors
    return errors[0]


@pytest.fixture(scope="module")
def labels_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("labels") / "labels.txt"
    path.write_text("\n".join(VOCABULARY) + "\n")
    return str(path)


def recipe_tagger():
    """maest_tiny with the frontend `recipes/maest.py` trains on (96
    bands, hop 256, normalised), on the segment that fills its grid."""
    return MAESTTagger(
        MAESTBackbone.from_preset("maest_tiny"),
        num_tags=len(VOCABULARY),
        preprocessor=AudioPreprocessor(
            LogMelSpectrogram(
                sample_rate=16000, hop_length=256, normalize=True
            ),
            segment_seconds=1.04,
        ),
        vocabulary=VOCABULARY,
    )


def expected_table(tagger, paths, top_k=3):
    """The table `tag` prints, computed the documented way: load, cut into
    segments every half segment (a short file zero-padded), tag, average."""
    preprocessor = tagger.preprocessor
    rows = {}
    for path in paths:
        segments = preprocessor.segments(
            preprocessor.load_audio(path),
            hop=preprocessor.segment_samples // 2,
            pad=True,
        )
        scores = tagger.predict(preprocessor(segments), verbose=0)
        scores = scores.mean(axis=0)
        order = np.argsort(-scores)[:top_k]
        rows[path] = [(VOCABULARY[i], scores[i]) for i in order]
    return rows


def parse_table(text):
    """`file  tag score  tag score ...` lines; tag names may have spaces."""
    rows = {}
    for line in text.strip().splitlines():
        path, rest = line.split("  ", 1)
        words = rest.split()
        tags, name = [], []
        for word in words:
            try:
                tags.append((" ".join(name), float(word)))
                name = []
            except ValueError:
                name.append(word)
        rows[path] = tags
    return rows


def check_tags(printed, expected):
    assert sorted(printed) == sorted(expected)
    for path, tags in expected.items():
        assert [t for t, _ in printed[path]] == [t for t, _ in tags], path
        # Printed with 3 decimals.
        np.testing.assert_allclose(
            [s for _, s in printed[path]], [s for _, s in tags], atol=6e-4
        )


def test_keras_weights_file(folder, labels_file, tmp_path, capsys):
    _, paths = folder
    weights = str(tmp_path / "tiny.weights.h5")
    tiny_tagger(seed=3).save_weights(weights)
    files = [paths["long"], paths["short"]]
    status = main(
        [
            "tag",
            "maest_tiny",
            *files,
            "--weights",
            weights,
            "--labels",
            labels_file,
            "--top_k",
            "3",
        ]
    )
    assert status == 0
    printed = parse_table(capsys.readouterr().out)
    reference = recipe_tagger()
    reference.load_weights(weights)
    check_tags(printed, expected_table(reference, files))
    # The weights were used: another seed's tagger tags differently.
    other = recipe_tagger()
    assert not np.allclose(
        other.predict(np.ones((1, 96, 66), "float32"), verbose=0),
        reference.predict(np.ones((1, 96, 66), "float32"), verbose=0),
    )


def test_reference_checkpoint(folder, labels_file, tmp_path, capsys):
    from keras_music.convert.maest import load_maest_weights

    _, paths = folder
    state = _reference_state_dict(np.random.default_rng(0))
    checkpoint = str(tmp_path / "tiny.npz")
    np.savez(checkpoint, **state)
    files = [paths["long"]]
    arguments = ["tag", "maest_tiny", *files, "--weights", checkpoint]
    assert main([*arguments, "--labels", labels_file, "--top_k", "3"]) == 0
    printed = parse_table(capsys.readouterr().out)
    reference = recipe_tagger()
    load_maest_weights(reference, state)
    check_tags(printed, expected_table(reference, files))


def test_released_sizes_get_the_official_frontend():
    # Reference checkpoints of the released sizes were trained on the
    # official frontend and segment; Keras weights on the recipe's.
    official = preset_preprocessor("maest_10s", reference=True)
    assert (
        official.frontend.get_config()["max_frames"]
        == (frontend_presets["maest_10s"]["max_frames"])
    )
    assert official.segment_samples == 10 * 16000
    recipe = preset_preprocessor("maest_10s", reference=False)
    assert recipe.frontend.normalize and recipe.frontend.hop_length == 256
    frames = backbone_presets["maest_10s"]["num_frames"]
    assert recipe.segment_samples == (frames - 1) * 256


def test_errors_name_the_argument(folder, labels_file, tmp_path, capsys):
    _, paths = folder
    audio = paths["long"]
    weights = str(tmp_path / "tiny.weights.h5")
    tiny_tagger().save_weights(weights)
    backbone_only = str(tmp_path / "backbone.npz")
    state = _reference_state_dict(np.random.default_rng(0))
    np.savez(
        backbone_only,
        **{k: v for k, v in state.items() if not k.startswith("head")},
    )
    wrong_size = str(tmp_path / "three.txt")
    with open(wrong_size, "w") as stream:
        stream.write("a\nb\nc\n")
    cases = [
        (
            ["maest_tiny", audio],
            "MODEL 'maest_tiny': a preset name tags with trained weights "
            "only: pass --weights FILE",
        ),
        (
            ["maest_huge", audio, "--weights", weights],
            "MODEL 'maest_huge': --weights needs a MAEST preset name",
        ),
        (
            ["maest_tiny", audio, "--weights", str(tmp_path / "no.npz")],
            f"--weights {str(tmp_path / 'no.npz')!r}: no such file",
        ),
        (
            ["maest_tiny", audio, "--weights", audio],
            f"--weights {audio!r}: expected a MAEST checkpoint",
        ),
        (
            ["maest_tiny", audio, "--weights", weights],
            f"--weights {weights!r} carries no tag names: pass --labels",
        ),
        (
            ["maest_small", audio, "--weights", weights, "--labels"]
            + [labels_file],
            f"--weights {weights!r} does not fit a maest_small tagger",
        ),
        (
            ["maest_tiny", audio, "--weights", backbone_only],
            "no tagging head (`head.1.weight`)",
        ),
        (
            ["maest_tiny", audio, "--weights", weights, "--labels"]
            + [str(tmp_path / "none.txt")],
            f"--labels {str(tmp_path / 'none.txt')!r}: no such file",
        ),
        (
            ["maest_tiny", audio, "--labels", labels_file],
            "--labels goes with --weights",
        ),
    ]
    checkpoint = str(tmp_path / "tiny.npz")
    np.savez(checkpoint, **state)
    cases.append(
        (
            ["maest_tiny", audio, "--weights", checkpoint]
            + ["--labels", wrong_size],
            f"--labels {wrong_size!r} names 3 tags; --weights "
            f"{checkpoint!r} has 5 outputs",
        )
    )
    for arguments, message in cases:
        assert main(["tag", *arguments]) == 2, arguments
        line = error_line(capsys)
        assert line.startswith("keras-music tag: error: "), line
        assert message in line, (line, message)
