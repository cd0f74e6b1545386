"""Contrastive losses."""

from keras_music.losses.ntxent import NTXent
