"""Reference checkpoints (PyTorch state dicts) to keras_music models."""

from keras_music.convert.maest import load_maest_weights
from keras_music.convert.maest import maest_frontend
from keras_music.convert.pase import load_pase_plus_weights
from keras_music.convert.pase import load_pase_weights
from keras_music.convert.pase import torchqrnn_to_qrnn
from keras_music.convert.sample_cnn import load_sample_cnn_weights
from keras_music.convert.state_dict import load_state_dict
from keras_music.convert.state_dict import strip_prefixes
from keras_music.convert.swin import load_swin_state_dict
from keras_music.convert.swin import swin_state_dict
