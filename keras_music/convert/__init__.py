"""Reference checkpoints (PyTorch state dicts) to keras_music models."""

from keras_music.convert.maest import load_maest_weights
from keras_music.convert.state_dict import load_state_dict
from keras_music.convert.state_dict import strip_prefixes
from keras_music.convert.swin import load_swin_state_dict
from keras_music.convert.swin import swin_state_dict
