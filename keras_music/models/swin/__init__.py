"""Swin Transformer for spectrograms (S3T, Zhao et al. 2022)."""

from keras_music.models.swin.swin_backbone import SwinBackbone
from keras_music.models.swin.swin_readout import swin_stage_readout
