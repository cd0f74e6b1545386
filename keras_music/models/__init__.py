"""Backbones and task models, one folder per family."""

from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.backbone import Backbone
from keras_music.models.efficientnet import EfficientNetTagger
from keras_music.models.embedder import AudioEmbedder
from keras_music.models.maest import MAESTBackbone
from keras_music.models.maest import MAESTEmbedder
from keras_music.models.maest import MAESTTagger
from keras_music.models.pase import PASEBackbone
from keras_music.models.pase import PASEPlusBackbone
from keras_music.models.resnet import ResNet50Backbone
from keras_music.models.resnet import ResNetBackbone
from keras_music.models.s3t import S3TBackbone
from keras_music.models.sample_cnn import SampleCNNBackbone
from keras_music.models.swin import SwinBackbone
from keras_music.models.tagger import Tagger
from keras_music.models.tagger_metadata import dataset_metadata
from keras_music.models.tagger_metadata import metrics_metadata
