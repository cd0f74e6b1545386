import warnings

import keras
import numpy as np
import pytest

from keras_music.hear import pase_plus
from keras_music.models.pase.pase_plus_backbone import PASEPlusBackbone
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from tests.hear import hear_contract

PRESET = "pase_plus_tiny"


def _noise(n, samples, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, samples)).astype("float32")


@pytest.fixture(scope="module")
def backbone():
    keras.utils.set_random_seed(0)
    return PASEPlusBackbone.from_preset(PRESET)


@pytest.fixture(scope="module")
def model(backbone):
    return pase_plus.from_keras(backbone, source=PRESET)


def test_passes_the_validator_checks(model):
    assert model.sample_rate == 16000
    assert model.timestamp_embedding_size == 16
    hear_contract.check_module(pase_plus, model)


def test_load_model_warns_once_about_random_init():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = pase_plus.load_model(preset=PRESET)
        pase_plus.get_scene_embeddings(_noise(1, 1600), model)
    messages = [
        str(w.message) for w in caught if "random init" in str(w.message)
    ]
    assert len(messages) == 1
    assert "'pase_plus_tiny'" in messages[0] and "untrained" in messages[0]


def test_frames_are_the_backbone_frames_every_10_ms(backbone, model):
    audio = _noise(2, 16000)
    embeddings, timestamps = pase_plus.get_timestamp_embeddings(audio, model)
    # Whole frames: the backbone's own output, 100 frames at 10 t + 5 ms.
    expected = backbone(audio).numpy()
    np.testing.assert_allclose(embeddings.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(
        timestamps.numpy(), np.tile(10.0 * np.arange(100) + 5, (2, 1))
    )
    scene = pase_plus.get_scene_embeddings(audio, model).numpy()
    np.testing.assert_allclose(scene, expected.mean(axis=1), atol=1e-5)


def test_partial_frame_at_the_end_is_kept_when_centred_within(model):
    # 1.07 s = 17,120 samples (107 frames); 100 more samples reach the
    # centre of frame 107 (sample 17,200), padded with zeros.
    embeddings, timestamps = pase_plus.get_timestamp_embeddings(
        _noise(2, 17220), model
    )
    assert embeddings.shape == (2, 108, 16)
    assert timestamps.numpy()[0, -1] == 1075.0


def test_sound_shorter_than_the_encoder_minimum(model):
    # 100 samples < 480: padded, one frame (centred at 5 ms).
    embeddings, timestamps = pase_plus.get_timestamp_embeddings(
        _noise(2, 100), model
    )
    assert embeddings.shape == (2, 1, 16)
    np.testing.assert_array_equal(timestamps.numpy(), [[5.0], [5.0]])
    assert pase_plus.get_scene_embeddings(_noise(2, 100), model).shape == (
        2,
        16,
    )


def test_chunks_with_context_match_the_whole_sound(backbone):
    audio = _noise(2, 16000 * 3 + 160 * 3)
    whole = backbone(audio).numpy()
    chunked = pase_plus.from_keras(
        backbone, chunk_seconds=1, context_seconds=0.5
    )
    embeddings = pase_plus.get_timestamp_embeddings(audio, chunked)[0]
    # Measured at ~1e-6 of outputs of size ~3 (float32 round-off; the
    # random QRNN forgets within 0.5 s).
    np.testing.assert_allclose(embeddings.numpy(), whole, atol=1e-5)
    # Without context the convolutions see the chunk edges and the QRNN
    # restarts: the first frames of every chunk differ.
    bare = pase_plus.from_keras(backbone, chunk_seconds=1, context_seconds=0)
    embeddings = pase_plus.get_timestamp_embeddings(audio, bare)[0].numpy()
    assert np.max(np.abs(embeddings[:, 100] - whole[:, 100])) > 1e-2


def test_outputs_are_deterministic(model):
    audio = _noise(3, 8000, seed=1)
    first = pase_plus.get_timestamp_embeddings(audio, model)[0].numpy()
    again = pase_plus.get_timestamp_embeddings(audio, model)[0].numpy()
    np.testing.assert_array_equal(first, again)


@pytest.mark.large
def test_twenty_minutes_in_chunks(backbone, model):
    # HEAR's longest sound; 30 s chunks keep each call at 34 s of audio.
    audio = _noise(1, 20 * 60 * 16000)
    embeddings, timestamps = pase_plus.get_timestamp_embeddings(audio, model)
    assert embeddings.shape == (1, 120000, 16)
    assert timestamps.numpy()[0, -1] == 1199995.0
    expected = backbone(audio[:, : 10 * 16000]).numpy()
    np.testing.assert_allclose(
        embeddings[:, :900], expected[:, :900], atol=1e-5
    )


def test_file_is_loaded(backbone, tmp_path):
    path = str(tmp_path / "encoder.keras")
    backbone.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = pase_plus.load_model(path)
    assert not [w for w in caught if "random init" in str(w.message)]
    assert loaded.source == path
    audio = _noise(2, 4000)
    np.testing.assert_allclose(
        pase_plus.get_timestamp_embeddings(audio, loaded)[0],
        backbone(audio).numpy(),
        atol=1e-5,
    )


def test_file_of_the_wrong_kind_raises(tmp_path):
    path = str(tmp_path / "clmr.keras")
    SampleCNNBackbone.from_preset("sample_cnn_test_tiny").save(path)
    with pytest.raises(ValueError, match=r"clmr\.keras.*PASEBackbone.*Sample"):
        pase_plus.load_model(path)


def test_missing_file_raises(tmp_path):
    path = str(tmp_path / "nothing.keras")
    with pytest.raises(FileNotFoundError, match=r"nothing\.keras.*not exist"):
        pase_plus.load_model(path)
    with pytest.raises(ValueError, match=r"\.keras.*weights\.h5"):
        pase_plus.load_model(str(tmp_path / "weights.h5"))
