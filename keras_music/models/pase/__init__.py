"""PASE and PASE+: multi-task self-supervised waveform encoders."""

from keras_music.models.pase.pase_backbone import PASEBackbone
from keras_music.models.pase.pase_layers import ReflectPadding1D
from keras_music.models.pase.pase_plus_backbone import PASEPlusBackbone
