"""SampleCNN: raw-waveform encoders (CLMR, multi-format contrastive)."""

from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
