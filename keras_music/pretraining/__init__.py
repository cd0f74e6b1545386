"""Self-supervised objectives with a custom train_step."""

from keras_music.pretraining.moco import MoCo
from keras_music.pretraining.simclr import SimCLR
