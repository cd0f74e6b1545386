"""`export_tagger_file`: the `.keras` file a training run wrote (here in
mixed precision, with its optimizer state) exported in float32."""

import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.export.tagger_file import export_tagger_file
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger

SEGMENT = 16640  # maest_tiny: 66 frames at hop 256, 16 kHz


@pytest.fixture
def bfloat16_policy():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_a_mixed_precision_run_exports_in_float32(bfloat16_policy, tmp_path):
    keras.utils.set_random_seed(2)
    tagger = MAESTTagger(
        MAESTBackbone.from_preset("maest_tiny", num_layers=1),
        num_tags=2,
        preprocessor=AudioPreprocessor(
            LogMelSpectrogram(hop_length=256, normalize=True),
            segment_seconds=SEGMENT / 16000,
        ),
        vocabulary=["piano", "voice"],
        metadata={"dataset": "toy", "metrics": {"roc_auc": 0.5}},
    )
    tagger.compile()
    x = np.random.default_rng(0).normal(size=(4, 96, 66)).astype("float32")
    tagger.fit(x, np.eye(2)[[0, 1, 0, 1]], epochs=1, verbose=0)
    model_path = str(tmp_path / "model.keras")
    tagger.save(model_path)
    with warnings.catch_warnings():
        # Loading the optimizer's state is what a caller must not see.
        warnings.filterwarnings("error", "Skipping variable loading")
        paths = export_tagger_file(
            model_path, str(tmp_path / "tiny_tagger"), formats=["saved_model"]
        )
    assert paths["saved_model"] == str(tmp_path / "tiny_tagger" / "1")
    # The global policy is the caller's again.
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    with open(os.path.join(paths["saved_model"], "assets", "labels.txt")) as f:
        assert f.read().splitlines() == ["piano", "voice"]
    # The export computes in float32: on one segment it gives the
    # probabilities of a float32 tagger with the trained weights (same
    # ops in float32; 1e-5), its frontend included (the file's was
    # saved under mixed_bfloat16).
    keras.mixed_precision.set_global_policy("float32")
    float32_tagger = MAESTTagger(
        MAESTBackbone.from_preset("maest_tiny", num_layers=1), num_tags=2
    )
    float32_tagger.set_weights(tagger.get_weights())
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, (1, SEGMENT))
    audio = audio.astype("float32")
    spectrogram = LogMelSpectrogram(hop_length=256, normalize=True)(audio)
    served = tf.saved_model.load(paths["saved_model"])
    outputs = served.signatures["serving_default"](
        audio=audio, lengths=np.asarray([SEGMENT], "int32")
    )
    probabilities = outputs["probabilities"].numpy()
    np.testing.assert_allclose(
        probabilities, np.asarray(float32_tagger(spectrogram)), atol=1e-5
    )
    # Spectrograms rounded to bfloat16 would miss that tolerance (so the
    # check can tell them apart).
    rounded = tf.cast(tf.cast(spectrogram, "bfloat16"), "float32")
    difference = probabilities - np.asarray(float32_tagger(rounded))
    assert np.abs(difference).max() > 1e-5


def test_a_missing_file_is_named(tmp_path):
    missing = str(tmp_path / "none.keras")
    with pytest.raises(ValueError, match="none.keras"):
        export_tagger_file(missing, str(tmp_path / "out"))
    # The policy is restored on errors too.
    assert keras.mixed_precision.global_policy().name == "float32"
