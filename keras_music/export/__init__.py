"""Export for serving: SavedModel (TF Serving layout) and TFLite."""

from keras_music.export.embedder_serving_graph import EmbedderServingGraph
from keras_music.export.saved_model import export_embedder_saved_model
from keras_music.export.saved_model import export_saved_model
from keras_music.export.segmented_audio_graph import SegmentedAudioGraph
from keras_music.export.serving_export import embedder_metadata
from keras_music.export.serving_export import export_embedder_for_serving
from keras_music.export.serving_export import export_for_serving
from keras_music.export.serving_export import serving_metadata
from keras_music.export.serving_graph import ServingGraph
from keras_music.export.tflite import export_tflite
