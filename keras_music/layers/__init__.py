"""Keras layers: frontends, pre-processors, augmentations, shared blocks."""

from keras_music.layers.clmr_augment import CLMRAugment
from keras_music.layers.cqt import CQT
from keras_music.layers.delay import Delay
from keras_music.layers.frequency_masking import FrequencyMasking
from keras_music.layers.frequency_tiling import FrequencyTiling
from keras_music.layers.gaussian_noise import GaussianNoise
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.layers.log_power_spectrum import LogPowerSpectrum
from keras_music.layers.mixup import Mixup
from keras_music.layers.pitch_shift import PitchShift
from keras_music.layers.polarity_inversion import PolarityInversion
from keras_music.layers.qrnn import QRNN
from keras_music.layers.random_crop import RandomCrop
from keras_music.layers.random_filter import RandomFilter
from keras_music.layers.random_gain import RandomGain
from keras_music.layers.random_multi_crop import RandomMultiCrop
from keras_music.layers.random_shift import RandomShift
from keras_music.layers.reverb import Reverb
from keras_music.layers.s3t_augment import S3TAugment
from keras_music.layers.sinc_conv1d import SincConv1D
from keras_music.layers.spec_augment import SpecAugment
from keras_music.layers.time_folding import TimeFolding
from keras_music.layers.time_masking import TimeMasking
from keras_music.layers.time_warping import TimeWarping
