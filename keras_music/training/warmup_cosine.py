"""`warmup_cosine`: linear warm-up from 0, then cosine decay to 0."""

import keras

from keras_music.utils.validation import check_non_negative_int
from keras_music.utils.validation import check_positive
from keras_music.utils.validation import check_positive_int


def warmup_cosine(peak_learning_rate, total_steps, warmup_steps):
    """Linear warm-up from 0 to a peak, then cosine decay to 0.

    S3T pre-trains with it (20 warm-up epochs of 400), and the `s3t` and
    `clmr` probe protocols train with it. Over `total_steps` optimizer
    steps: `peak * t / warmup_steps` while `t < warmup_steps`, then
    `peak * (1 + cos(pi * (t - warmup_steps) / decay)) / 2` with
    `decay = max(1, total_steps - warmup_steps)`, 0 from then on.

    Args:
        peak_learning_rate: float. Learning rate at the end of the
            warm-up.
        total_steps: int. Steps of the whole schedule.
        warmup_steps: int. Steps of the linear warm-up, 0 or more.

    Returns:
        A `keras.optimizers.schedules.CosineDecay`.

    Example:

    >>> schedule = warmup_cosine(1e-3, total_steps=100, warmup_steps=10)
    >>> [round(float(schedule(s)), 6) for s in (0, 5, 10, 55, 100)]
    [0.0, 0.0005, 0.001, 0.0005, 0.0]

    Reference:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", ICLR 2017; Zhao et al., "S3T", ICASSP 2022, §4.1.
    """
    check_positive("peak_learning_rate", peak_learning_rate)
    check_positive_int("total_steps", total_steps)
    check_non_negative_int("warmup_steps", warmup_steps)
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        decay_steps=max(1, total_steps - warmup_steps),
        warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps,
    )
