import json

import keras
import numpy as np
import pytest

from keras_music.training.warmup_plateau_decay import WarmupPlateauDecay


def _reference(step, peak, warmup, plateau_end, decay, final, initial):
    """The schedule written piecewise, as in the MAEST paper."""
    if step < warmup:
        return initial + (peak - initial) * step / warmup
    if step < plateau_end:
        return peak
    progress = min((step - plateau_end) / decay, 1.0)
    return peak + (final - peak) * progress


@pytest.mark.parametrize("step", [0, 1, 3, 5, 6, 49, 50, 51, 77, 100, 101, 500])
def test_matches_piecewise_reference(step):
    args = dict(
        peak_learning_rate=1e-4,
        warmup_steps=5,
        plateau_end_step=50,
        decay_steps=50,
        final_learning_rate=1e-7,
        initial_learning_rate=1e-6,
    )
    schedule = WarmupPlateauDecay(**args)
    expected = _reference(step, *args.values())
    # float32 arithmetic on values near 1e-4: relative 1e-6.
    np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-6)


def test_config_round_trip_and_optimizer_use():
    schedule = WarmupPlateauDecay(1e-3, 2, 10, 5)
    revived = WarmupPlateauDecay.from_config(
        json.loads(json.dumps(schedule.get_config()))
    )
    assert revived.get_config() == schedule.get_config()
    optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    restored = keras.optimizers.deserialize(
        keras.optimizers.serialize(optimizer)
    )
    assert isinstance(restored._learning_rate, WarmupPlateauDecay)
    assert float(restored.learning_rate) == pytest.approx(0.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(peak_learning_rate=0), "peak_learning_rate=0"),
        (dict(peak_learning_rate=1, decay_steps=0), "decay_steps=0"),
        (
            dict(peak_learning_rate=1, warmup_steps=5, plateau_end_step=2),
            "plateau_end_step=2",
        ),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WarmupPlateauDecay(**kwargs)
