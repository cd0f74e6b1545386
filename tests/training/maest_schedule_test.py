"""`maest_learning_rate` / `maest_swa`: MAEST's 5 / 50 / 50 / 130-epoch
schedule and SWA, scaled to the run."""

import numpy as np
import pytest

from keras_music.training.maest_schedule import maest_learning_rate
from keras_music.training.maest_schedule import maest_swa


def test_the_paper_run_has_the_paper_schedule():
    # 130 epochs of 100 steps: warm-up to step 500, decay from step 5000
    # over 5000 steps (the paper's epochs 5, 50 and 50, in steps).
    schedule = maest_learning_rate(1e-4, epochs=130, steps_per_epoch=100)
    assert (
        schedule.warmup_steps,
        schedule.plateau_end_step,
        schedule.decay_steps,
    ) == (500, 5000, 5000)
    # The learning rate along it: half the peak half-way up the warm-up,
    # the peak on the plateau, half-way down the decay about half (the
    # decay ends at 1e-7), 1e-7 after it. float32: relative 1e-5.
    steps = [250, 500, 4999, 7500, 10000, 13000]
    expected = [5e-5, 1e-4, 1e-4, (1e-4 + 1e-7) / 2, 1e-7, 1e-7]
    np.testing.assert_allclose(
        [float(schedule(s)) for s in steps], expected, rtol=1e-5
    )


def test_a_short_run_keeps_the_proportions():
    # 6 epochs of 2 steps (the recipe's CPU demo scale): 12 steps, of
    # which 5/130, 50/130 and 50/130 round to 0, 5 and 5 steps.
    schedule = maest_learning_rate(5e-4, epochs=6, steps_per_epoch=2)
    assert (
        schedule.warmup_steps,
        schedule.plateau_end_step,
        schedule.decay_steps,
    ) == (0, 5, 5)
    # A run too short for one decay step still decays over one step.
    assert maest_learning_rate(1e-4, 1, 1).decay_steps == 1


@pytest.mark.parametrize(
    "epochs, start, every",
    [
        (130, 50, 5),  # the paper's
        (26, 10, 1),  # ceil(10), round(1)
        (6, 3, 1),  # ceil(2.31), round(0.23) -> at least 1
        (2, 1, 1),  # ceil(0.77)
        (260, 100, 10),
    ],
)
def test_swa_scales_its_start_and_period(epochs, start, every, tmp_path):
    swa = maest_swa(epochs, state_path=str(tmp_path / "swa.npz"))
    assert (swa.start_epoch, swa.every) == (start, every)
    assert swa.state_path == str(tmp_path / "swa.npz")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: maest_learning_rate(1e-4, 0, 10), "`epochs`.*epochs=0"),
        (
            lambda: maest_learning_rate(1e-4, 10, 2.5),
            "`steps_per_epoch`.*steps_per_epoch=2.5",
        ),
        (
            lambda: maest_learning_rate(-1.0, 10, 2),
            "`learning_rate`.*learning_rate=-1.0",
        ),
        (lambda: maest_swa(0), "`epochs`.*epochs=0"),
    ],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
