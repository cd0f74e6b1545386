"""Audio I/O, the TFRecord format, readers, writers and the tune corpus."""

from keras_music.data.audio import load_audio
from keras_music.data.balanced_sampler import BalancedSampler
from keras_music.data.data_service import start_dispatcher
from keras_music.data.data_service import start_worker
from keras_music.data.data_service import through_data_service
from keras_music.data.errors import AudioDecodeError
from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.data.tfrecord_format import read_manifest
from keras_music.data.tfrecord_rewrite import rewrite_with_targets
from keras_music.data.tfrecord_split import TFRecordSplit
from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from keras_music.data.tune_corpus import TUNE_CORPUS_TASKS
from keras_music.data.tune_corpus import build_tune_corpus
