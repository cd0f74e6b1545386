"""`maest_segment_config` / `maest_segment_name` / `maest_segment_frames`:
a MAEST preset on a segment length."""

import pytest

from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_presets import backbone_presets
from keras_music.models.maest.maest_segment import maest_segment_config
from keras_music.models.maest.maest_segment import maest_segment_frames
from keras_music.models.maest.maest_segment import maest_segment_name


@pytest.mark.parametrize("seconds", [1, 5, 10, 30])
def test_frames_are_the_frontends(seconds):
    # The frames MAEST's frontend gives on a segment (centred frames).
    frontend = LogMelSpectrogram(sample_rate=16000, hop_length=256)
    expected = frontend.compute_output_shape((None, seconds * 16000))[-1]
    assert maest_segment_frames(seconds) == expected


def test_released_presets_keep_their_grid():
    # Essentia feeds as many frames as a segment holds, or a few more.
    for seconds in (5, 10, 20, 30):
        preset = f"maest_{seconds}s"
        config = maest_segment_config(preset, seconds)
        assert config["num_frames"] == backbone_presets[preset]["num_frames"]
        assert config["num_frames"] >= maest_segment_frames(seconds)


def test_other_presets_get_the_segments_grid_and_patchout():
    config = maest_segment_config("maest_tiny", 5, freq_patchout=3)
    assert config["num_frames"] == 313
    # The time patchout of the released 5 s model, 30 columns.
    assert config["train_time_patchout"] == 30
    assert config["train_freq_patchout"] == 3
    config = maest_segment_config("maest_tiny", 5, 10, 2)
    assert (config["train_time_patchout"], config["train_freq_patchout"]) == (
        10,
        2,
    )
    # The rest is the preset's, and builds the backbone.
    backbone = MAESTBackbone(**config)
    assert backbone.num_frames == 313
    assert backbone.hidden_dim == backbone_presets["maest_tiny"]["hidden_dim"]
    # A released preset on another segment gets that segment's grid.
    assert maest_segment_config("maest_5s", 10)["num_frames"] == 626
    # No released model of that length: the preset's own patchout.
    odd = maest_segment_config("maest_tiny", 3)
    assert (
        odd["train_time_patchout"]
        == (backbone_presets["maest_tiny"]["train_time_patchout"])
    )


@pytest.mark.parametrize(
    "preset, seconds, name",
    [
        ("maest_30s", 30, "maest_30s"),
        ("maest_5s", 5, "maest_5s"),
        ("maest_small", 30, "maest_small"),  # its grid is 30 s
        ("maest_small", 5, "maest_small_5s"),
        ("maest_tiny", 5, "maest_tiny_5s"),
        ("maest_30s", 10, "maest_30s_10s"),
    ],
)
def test_names(preset, seconds, name):
    assert maest_segment_name(preset, seconds) == name


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`preset` must be one of.*nope"):
        maest_segment_config("nope", 5)
    with pytest.raises(ValueError, match="`preset` must be one of"):
        maest_segment_name("nope", 5)
    with pytest.raises(ValueError, match="segment_seconds=0"):
        maest_segment_frames(0)
