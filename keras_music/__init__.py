"""keras_music: music representation learning with Keras 3 and TensorFlow."""

import os

# The library is built on TensorFlow (tf.data, tf.distribute, SavedModel).
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
