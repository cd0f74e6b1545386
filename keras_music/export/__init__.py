"""Export for serving, by what a user exports: `export_tagger` (TF Serving
SavedModel and TFLite) and `export_embedder` (SavedModel), each reading
the sample rate, segment, frontend and tag names from the model and
writing a model card beside every model."""

from keras_music.export.embedder import export_embedder
from keras_music.export.embedder_serving_graph import EmbedderServingGraph
from keras_music.export.model_card import model_card
from keras_music.export.patchout import inference_patchout
from keras_music.export.saved_model import export_embedder_saved_model
from keras_music.export.saved_model import export_saved_model
from keras_music.export.segmented_audio_graph import SegmentedAudioGraph
from keras_music.export.serving_export import embedder_metadata
from keras_music.export.serving_export import export_embedder_for_serving
from keras_music.export.serving_export import export_for_serving
from keras_music.export.serving_export import serving_metadata
from keras_music.export.serving_graph import ServingGraph
from keras_music.export.tagger import export_tagger
from keras_music.export.tagger import tagger_metadata
from keras_music.export.tagger_file import export_tagger_file
from keras_music.export.tflite import export_tflite
