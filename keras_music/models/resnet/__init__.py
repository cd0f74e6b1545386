"""ResNet backbones for 1-channel spectrograms."""

from keras_music.models.resnet.resnet50_backbone import ResNet50Backbone
from keras_music.models.resnet.resnet_backbone import ResNetBackbone
