"""Self-supervised objectives with a custom train_step."""

from keras_music.pretraining.moco import MoCo
from keras_music.pretraining.multi_task_pretrainer import MultiTaskPretrainer
from keras_music.pretraining.pase_workers import PASEWorkers
from keras_music.pretraining.pase_workers import parse_workers
from keras_music.pretraining.simclr import SimCLR
