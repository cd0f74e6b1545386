"""Adapters from datasets' official on-disk layouts to keras_music TFRecords."""

from keras_music.data.datasets.dataset_item import DatasetItem
from keras_music.data.datasets.dataset_layout import SPLITS
from keras_music.data.datasets.dataset_layout import DatasetLayout
from keras_music.data.datasets.extended_ballroom import ExtendedBallroom
from keras_music.data.datasets.fma_small import FMASmall
from keras_music.data.datasets.folder_csv import FolderCSV
from keras_music.data.datasets.gtzan import GTZAN
from keras_music.data.datasets.magnatagatune import MagnaTagATune
from keras_music.data.datasets.mtg_jamendo import MTGJamendo
from keras_music.data.datasets.openmic_2018 import OpenMIC2018
from keras_music.data.datasets.registry import DATASET_LAYOUTS
from keras_music.data.datasets.registry import get_dataset_layout
