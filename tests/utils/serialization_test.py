import keras
import numpy as np

from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.utils.serialization import deserialize_objects
from keras_music.utils.serialization import serialize_objects


def test_objects_round_trip_and_none_stays_none():
    preprocessor = AudioPreprocessor(
        LogMelSpectrogram(sample_rate=8000, hop_length=128),
        segment_seconds=0.5,
    )
    config = {
        "units": 3,
        **serialize_objects(preprocessor=preprocessor, backbone=None),
    }
    assert config["backbone"] is None
    assert isinstance(config["preprocessor"], dict)
    rebuilt = deserialize_objects(config, "preprocessor", "backbone")
    assert rebuilt["units"] == 3 and rebuilt["backbone"] is None
    assert rebuilt["preprocessor"].get_config() == preprocessor.get_config()
    # The rebuilt layer computes what the original does (same frontend
    # constants, no weights): equal to the last bit.
    audio = np.random.default_rng(0).uniform(-1, 1, (1, 4000))
    audio = audio.astype("float32")
    np.testing.assert_array_equal(
        rebuilt["preprocessor"](audio), preprocessor(audio)
    )
    # The given config is not changed, and a built object is kept.
    assert isinstance(config["preprocessor"], dict)
    layer = keras.layers.Dense(2)
    assert deserialize_objects({"layer": layer}, "layer")["layer"] is layer
