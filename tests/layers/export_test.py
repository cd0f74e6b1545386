"""Every pre-processor and augmentation layer survives a SavedModel export.

At inference the augmentations are the identity (RandomCrop and the
two-view pipelines centre-crop), so an exported serving graph that
contains them must give the Keras model's outputs. The frontends' own
tests cover SavedModel and TFLite export.
"""

import numpy as np

from keras_music import layers
from tests.test_case import TestCase

RNG = np.random.default_rng(0)
SPECTROGRAM = RNG.normal(size=(2, 24, 40)).astype("float32")
AUDIO = RNG.normal(size=(2, 4000)).astype("float32") * 0.1
TARGETS = np.eye(2, 3, dtype="float32")

CASES = [
    (layers.TimeFolding, {"n": 2}, SPECTROGRAM),
    (layers.FrequencyTiling, {"size": 32}, SPECTROGRAM),
    (layers.RandomMultiCrop, {"output_length": 20, "seed": 1}, SPECTROGRAM),
    (layers.FrequencyMasking, {"seed": 1}, SPECTROGRAM),
    (layers.TimeMasking, {"seed": 1}, SPECTROGRAM),
    (layers.TimeWarping, {"seed": 1}, SPECTROGRAM),
    (layers.RandomShift, {"seed": 1}, SPECTROGRAM),
    (layers.SpecAugment, {"seed": 1}, SPECTROGRAM),
    (layers.S3TAugment, {"output_length": 20, "seed": 1}, SPECTROGRAM),
    (layers.Mixup, {"seed": 1}, (SPECTROGRAM, TARGETS)),
    (layers.RandomCrop, {"length": 3000, "seed": 1}, AUDIO),
    (layers.PolarityInversion, {"seed": 1}, AUDIO),
    (layers.GaussianNoise, {"seed": 1}, AUDIO),
    (layers.RandomGain, {"seed": 1}, AUDIO),
    (layers.RandomFilter, {"sample_rate": 8000, "seed": 1}, AUDIO),
    (layers.Delay, {"sample_rate": 8000, "seed": 1}, AUDIO),
    (layers.PitchShift, {"n_fft": 512, "hop_length": 128, "seed": 1}, AUDIO),
    (layers.Reverb, {"sample_rate": 8000, "seed": 1}, AUDIO),
    (layers.CLMRAugment, {"sample_rate": 8000, "crop_length": 3000}, AUDIO),
]


class ExportTest(TestCase):
    def test_every_layer_exports(self):
        for cls, kwargs, data in CASES:
            with self.subTest(cls.__name__):
                self.run_export_test(cls(**kwargs), data)
