"""Training utilities shared by the recipes: schedules and callbacks."""

from keras_music.training.atomic_backup_and_restore import (
    AtomicBackupAndRestore,
)
from keras_music.training.maest_schedule import maest_learning_rate
from keras_music.training.maest_schedule import maest_swa
from keras_music.training.stochastic_weight_averaging import (
    StochasticWeightAveraging,
)
from keras_music.training.warmup_cosine import warmup_cosine
from keras_music.training.warmup_plateau_decay import WarmupPlateauDecay
