"""A MAEST preset fitted to a segment length, and the name it goes by.

MAEST's input is the log-mel spectrogram of one segment (96 bands, hop
256 at 16 kHz). The released presets `maest_<n>s` carry the grid of
their own segment (the frames Essentia feeds, a few more than a segment
holds); any other preset trained on a segment gets that segment's grid.
"""

from keras_music.models.maest.maest_presets import backbone_presets
from keras_music.utils.validation import check_positive
from keras_music.utils.validation import check_positive_int

SAMPLE_RATE = 16000
HOP_LENGTH = 256


def maest_segment_frames(segment_seconds, sample_rate=SAMPLE_RATE, hop=None):
    """Log-mel frames of a segment: centred frames, hop 256 at 16 kHz.

    Args:
        segment_seconds: float. Segment length in seconds.
        sample_rate: int. Audio rate in Hz. Defaults to 16000.
        hop: optional int. Hop of the frames in samples. Defaults to 256.

    Returns:
        int, `segment_samples // hop + 1`.

    Example:

    >>> maest_segment_frames(30), maest_segment_frames(5)
    (1876, 313)
    """
    check_positive("segment_seconds", segment_seconds)
    check_positive_int("sample_rate", sample_rate)
    hop = check_positive_int("hop", HOP_LENGTH if hop is None else hop)
    return int(round(segment_seconds * sample_rate)) // hop + 1


def _check_preset(preset):
    if preset not in backbone_presets:
        raise ValueError(
            f"`preset` must be one of {sorted(backbone_presets)}. "
            f"Received: preset={preset!r}"
        )


def _released(preset, segment_seconds):
    return preset.startswith("maest_") and preset.endswith(
        f"_{segment_seconds:g}s"
    )


def maest_segment_config(
    preset, segment_seconds, time_patchout=None, freq_patchout=None
):
    """`MAESTBackbone` arguments of `preset` on segments of
    `segment_seconds`.

    The released presets of that segment (`maest_30s` on 30 s) keep their
    grid, which holds the segment's frames; every other preset (`maest_5s`
    on 10 s too) gets the segment's grid (`maest_segment_frames`).

    Args:
        preset: str. A `MAESTBackbone` preset, e.g. `"maest_small"`.
        segment_seconds: float. Segment length in seconds.
        time_patchout: optional int. Time columns dropped in training.
            Defaults to the released model's of that segment (90 for
            30 s), or the preset's for other segments.
        freq_patchout: optional int. Frequency rows dropped in training.
            Defaults to the preset's.

    Returns:
        dict, the arguments of `MAESTBackbone(**config)`.

    Example:

    >>> config = maest_segment_config("maest_tiny", 5, freq_patchout=3)
    >>> config["num_frames"], config["train_time_patchout"]
    (313, 30)
    >>> maest_segment_config("maest_5s", 5)["num_frames"]
    316
    """
    _check_preset(preset)
    frames = maest_segment_frames(segment_seconds)
    config = dict(backbone_presets[preset])
    if not _released(preset, segment_seconds):
        config["num_frames"] = frames
    released = backbone_presets.get(f"maest_{segment_seconds:g}s", config)
    if time_patchout is None:
        time_patchout = released.get("train_time_patchout", 0)
    config["train_time_patchout"] = time_patchout
    if freq_patchout is not None:
        config["train_freq_patchout"] = freq_patchout
    return config


def maest_segment_name(preset, segment_seconds):
    """What a model of `preset` on `segment_seconds` is named after: the
    preset, with the segment when it is not the preset's own.

    Args:
        preset: str. A `MAESTBackbone` preset.
        segment_seconds: float. Segment length in seconds.

    Returns:
        str, e.g. `"maest_30s"`, `"maest_small"` (its own grid is 30 s)
        or `"maest_tiny_5s"`.

    Example:

    >>> maest_segment_name("maest_small", 30)
    'maest_small'
    >>> maest_segment_name("maest_tiny", 5)
    'maest_tiny_5s'
    """
    _check_preset(preset)
    frames = backbone_presets[preset]["num_frames"]
    if _released(preset, segment_seconds) or frames == maest_segment_frames(
        segment_seconds
    ):
        return preset
    return f"{preset}_{segment_seconds:g}s"
