"""keras_music: music representation learning with Keras 3 and TensorFlow."""

import os

# The library is built on TensorFlow (tf.data, tf.distribute, SavedModel).
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Before anything imports TensorFlow: no C++ start-up notices on stderr
# (`KERAS_MUSIC_VERBOSE=1` shows them).
from keras_music.quiet import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

# Importing the packages of Keras objects registers them, so that
# `keras.saving.load_model` finds them after `import keras_music`.
from keras_music import layers  # noqa: E402
from keras_music import losses  # noqa: E402
from keras_music import models  # noqa: E402
from keras_music import pretraining  # noqa: E402
from keras_music import training  # noqa: E402

__version__ = "0.1.0"
