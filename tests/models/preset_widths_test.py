import pytest

from keras_music.models.preset_widths import narrowed_widths

PRESETS = {
    "wide": {"stem": 64, "out": None, "blocks": [64, 96, 12], "depth": 3},
}


def test_divides_each_width_with_a_floor_of_four():
    overrides = narrowed_widths(
        PRESETS, "wide", 8, widths=("stem", "out"), width_tuples=("blocks",)
    )
    # 96 // 8 = 12; 12 // 8 = 1, raised to the floor of 4; `out` is None
    # in the preset and stays out; `depth` is not a width.
    assert overrides == {"stem": 8, "blocks": (8, 12, 4)}
    assert PRESETS["wide"]["blocks"] == [64, 96, 12]  # not modified


def test_names_the_unknown_preset():
    with pytest.raises(ValueError, match=r"one of \['wide'\].*name='tall'"):
        narrowed_widths(PRESETS, "tall", 8)
