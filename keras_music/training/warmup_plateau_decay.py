"""`WarmupPlateauDecay`: warm-up, constant plateau, then linear decay."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_music")
class WarmupPlateauDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, a constant plateau, then a linear decay.

    MAEST's schedule: warm up for 5 epochs, hold the peak learning rate
    until epoch 50, decay linearly over 50 epochs to 1e-7, then hold. Steps
    are optimizer iterations, so pass `epochs * steps_per_epoch`.

    Args:
        peak_learning_rate: float. Learning rate on the plateau.
        warmup_steps: int. Steps of linear warm-up from
            `initial_learning_rate` to the peak. Defaults to 0.
        plateau_end_step: int. Step at which the decay starts (counted
            from 0, so it includes the warm-up).
        decay_steps: int. Length of the linear decay.
        final_learning_rate: float. Learning rate after the decay.
            Defaults to 1e-7.
        initial_learning_rate: float. Learning rate at step 0. Defaults
            to 0.

    Example:

    >>> schedule = WarmupPlateauDecay(1e-4, warmup_steps=5,
    ...     plateau_end_step=50, decay_steps=50)
    >>> [round(float(schedule(s)), 8) for s in (0, 5, 50, 75, 100, 130)]
    [0.0, 0.0001, 0.0001, 5.005e-05, 1e-07, 1e-07]

    Reference:
        Alonso-Jiménez et al., "Efficient supervised training of audio
        transformers for music representation learning", ISMIR 2023, §4.
    """

    def __init__(
        self,
        peak_learning_rate,
        warmup_steps=0,
        plateau_end_step=0,
        decay_steps=1,
        final_learning_rate=1e-7,
        initial_learning_rate=0.0,
    ):
        if peak_learning_rate <= 0:
            raise ValueError(
                "`peak_learning_rate` must be positive. "
                f"Received: peak_learning_rate={peak_learning_rate}"
            )
        if warmup_steps < 0 or decay_steps <= 0:
            raise ValueError(
                "`warmup_steps` must be >= 0 and `decay_steps` > 0. "
                f"Received: warmup_steps={warmup_steps}, "
                f"decay_steps={decay_steps}"
            )
        if plateau_end_step < warmup_steps:
            raise ValueError(
                "`plateau_end_step` must be >= `warmup_steps`. Received: "
                f"plateau_end_step={plateau_end_step}, "
                f"warmup_steps={warmup_steps}"
            )
        self.peak_learning_rate = peak_learning_rate
        self.warmup_steps = warmup_steps
        self.plateau_end_step = plateau_end_step
        self.decay_steps = decay_steps
        self.final_learning_rate = final_learning_rate
        self.initial_learning_rate = initial_learning_rate

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        warmup = float(max(self.warmup_steps, 1))
        rising = self.initial_learning_rate + (
            peak - self.initial_learning_rate
        ) * ops.minimum(step / warmup, 1.0)
        progress = ops.clip(
            (step - self.plateau_end_step) / float(self.decay_steps), 0.0, 1.0
        )
        falling = peak * (1.0 - progress) + self.final_learning_rate * progress
        return ops.where(step < self.warmup_steps, rising, falling)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "plateau_end_step": self.plateau_end_step,
            "decay_steps": self.decay_steps,
            "final_learning_rate": self.final_learning_rate,
            "initial_learning_rate": self.initial_learning_rate,
        }
