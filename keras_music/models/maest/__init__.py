"""MAEST: patchout spectrogram transformer (Alonso-Jiménez et al. 2023)."""

from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_embedder import MAESTEmbedder
from keras_music.models.maest.maest_readout import maest_block_readout
from keras_music.models.maest.maest_segment import maest_segment_config
from keras_music.models.maest.maest_segment import maest_segment_frames
from keras_music.models.maest.maest_segment import maest_segment_name
from keras_music.models.maest.maest_tagger import MAESTTagger
