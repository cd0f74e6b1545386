"""Export for serving: SavedModel (TF Serving layout) and TFLite."""

from keras_music.export.saved_model import export_saved_model
from keras_music.export.serving_export import export_for_serving
from keras_music.export.serving_export import serving_metadata
from keras_music.export.serving_graph import ServingGraph
from keras_music.export.tflite import export_tflite
