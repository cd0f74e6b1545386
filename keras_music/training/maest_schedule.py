"""MAEST's training schedule, scaled to a run of any length.

The paper trains for 130 epochs: 5 epochs of warm-up, the peak learning
rate to epoch 50, a linear decay over the next 50 epochs, and stochastic
weight averaging every 5 epochs from epoch 50 (Alonso-Jiménez et al.,
ISMIR 2023, Section 4). A shorter run keeps the proportions: every epoch
count is scaled by `epochs / 130`.
"""

import math

from keras_music.training.stochastic_weight_averaging import (
    StochasticWeightAveraging,
)
from keras_music.training.warmup_plateau_decay import WarmupPlateauDecay
from keras_music.utils.validation import check_positive
from keras_music.utils.validation import check_positive_int

# The paper's schedule in epochs: warm-up, decay start, decay length,
# total; SWA starts at the decay start and averages every `SWA_EVERY`.
PAPER_EPOCHS = {"warmup": 5, "decay_start": 50, "decay": 50, "total": 130}
SWA_EVERY = 5


def maest_learning_rate(learning_rate, epochs, steps_per_epoch):
    """MAEST's warm-up / plateau / linear decay, scaled to `epochs`.

    Args:
        learning_rate: float. The peak (plateau) learning rate.
        epochs: int. Epochs of the run (the paper's: 130).
        steps_per_epoch: int. Optimizer steps per epoch.

    Returns:
        A `WarmupPlateauDecay` over optimizer steps: warm-up for
        `5 / 130` of the run, the plateau to `50 / 130`, then a linear
        decay over `50 / 130` of it (at least one step).

    Example:

    >>> schedule = maest_learning_rate(1e-4, epochs=13, steps_per_epoch=10)
    >>> schedule.warmup_steps, schedule.plateau_end_step, schedule.decay_steps
    (5, 50, 50)
    """
    check_positive("learning_rate", learning_rate)
    epochs = check_positive_int("epochs", epochs)
    steps_per_epoch = check_positive_int("steps_per_epoch", steps_per_epoch)
    step = epochs / PAPER_EPOCHS["total"] * steps_per_epoch
    return WarmupPlateauDecay(
        learning_rate,
        warmup_steps=round(PAPER_EPOCHS["warmup"] * step),
        plateau_end_step=round(PAPER_EPOCHS["decay_start"] * step),
        decay_steps=max(1, round(PAPER_EPOCHS["decay"] * step)),
    )


def maest_swa(epochs, state_path=None):
    """MAEST's weight averaging (every 5 epochs from epoch 50 of 130),
    scaled to `epochs`.

    Args:
        epochs: int. Epochs of the run.
        state_path: optional str. Where the running average is kept, so
            that a resumed run goes on with it
            (`StochasticWeightAveraging(state_path=...)`). Defaults to
            `None`.

    Returns:
        A `StochasticWeightAveraging` callback starting at epoch
        `ceil(50 / 130 * epochs)` (at least 1) and averaging every
        `round(5 / 130 * epochs)` epochs (at least 1).

    Example:

    >>> swa = maest_swa(26)
    >>> swa.start_epoch, swa.every
    (10, 1)
    """
    epochs = check_positive_int("epochs", epochs)
    scale = epochs / PAPER_EPOCHS["total"]
    return StochasticWeightAveraging(
        start_epoch=max(1, math.ceil(PAPER_EPOCHS["decay_start"] * scale)),
        every=max(1, round(SWA_EVERY * scale)),
        state_path=state_path,
    )
