import warnings

import keras
import numpy as np
import pytest

from keras_music.hear import clmr
from keras_music.models.pase.pase_plus_backbone import PASEPlusBackbone
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from tests.hear import hear_contract

# 243 samples (3^5, 11 ms) per segment: CLMR's encoder, four blocks.
PRESET = "sample_cnn_test_tiny"


def _noise(n, samples, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, samples)).astype("float32")


@pytest.fixture(scope="module")
def backbone():
    keras.utils.set_random_seed(0)
    return SampleCNNBackbone.from_preset(PRESET)


@pytest.fixture(scope="module")
def model(backbone):
    return clmr.from_keras(backbone, source=PRESET)


def test_passes_the_validator_checks(model):
    assert model.sample_rate == 22050
    assert model.scene_embedding_size == 16
    hear_contract.check_module(clmr, model)


def test_load_model_warns_once_about_random_init():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = clmr.load_model(preset=PRESET)
        clmr.get_timestamp_embeddings(_noise(1, 2205), model)
    messages = [
        str(w.message) for w in caught if "random init" in str(w.message)
    ]
    assert len(messages) == 1
    assert "'sample_cnn_test_tiny'" in messages[0]


def test_timestamp_embeddings_are_the_centred_segments(backbone, model):
    audio = _noise(2, 5000)
    embeddings, timestamps = clmr.get_timestamp_embeddings(audio, model)
    # 50 ms = 1102.5 samples: centres 0, 1102 (1102.5 rounds to even),
    # 2205, 3308 (3307.5), 4410.
    centres = np.array([0, 1102, 2205, 3308, 4410])
    # Timestamps on the 50 ms grid, each within half a sample of its
    # window's centre.
    np.testing.assert_array_equal(timestamps.numpy()[0], 50.0 * np.arange(5))
    # Odd window: 121 zeros before, 122 after.
    padded = np.pad(audio, ((0, 0), (121, 122)))
    windows = np.stack([padded[:, c : c + 243] for c in centres], axis=1)
    expected = backbone(windows.reshape(-1, 243)).numpy().reshape(2, 5, -1)
    np.testing.assert_allclose(embeddings.numpy(), expected, atol=1e-5)


def test_scene_embedding_is_the_mean_over_segments(backbone, model):
    audio = _noise(2, 600)
    # Segments [0, 243), [243, 486) and [357, 600) (aligned with the end).
    segments = np.stack([audio[:, s : s + 243] for s in (0, 243, 357)], 1)
    expected = backbone(segments.reshape(-1, 243)).numpy()
    expected = expected.reshape(2, 3, -1).mean(axis=1)
    scene = clmr.get_scene_embeddings(audio, model).numpy()
    np.testing.assert_allclose(scene, expected, atol=1e-5)


def test_sound_shorter_than_a_segment(backbone, model):
    audio = _noise(2, 100)
    scene = clmr.get_scene_embeddings(audio, model).numpy()
    expected = backbone(np.pad(audio, ((0, 0), (0, 143)))).numpy()
    np.testing.assert_allclose(scene, expected, atol=1e-5)
    embeddings, timestamps = clmr.get_timestamp_embeddings(audio, model)
    assert embeddings.shape == (2, 1, 16)
    np.testing.assert_array_equal(timestamps.numpy(), [[0.0], [0.0]])


def test_any_length_encoder_uses_clmr_segment():
    keras.utils.set_random_seed(0)
    backbone = SampleCNNBackbone.from_preset(PRESET, input_length=None)
    model = clmr.from_keras(backbone)
    assert model.segment_samples == clmr.SEGMENT_SAMPLES
    assert not model.fixed_length
    # A 2,000-sample sound is one segment at its own length.
    audio = _noise(2, 2000)
    np.testing.assert_allclose(
        clmr.get_scene_embeddings(audio, model),
        backbone(audio).numpy(),
        atol=1e-5,
    )


def test_hop_seconds(backbone):
    model = clmr.from_keras(backbone, hop_seconds=0.01)
    timestamps = clmr.get_timestamp_embeddings(_noise(1, 2205), model)[1]
    np.testing.assert_allclose(
        timestamps.numpy()[0], 10.0 * np.arange(11), atol=1e-3
    )


def test_outputs_are_deterministic(model):
    audio = _noise(3, 4410, seed=2)
    first = clmr.get_timestamp_embeddings(audio, model)[0].numpy()
    again = clmr.get_timestamp_embeddings(audio, model)[0].numpy()
    np.testing.assert_array_equal(first, again)
    scene = clmr.get_scene_embeddings(audio, model).numpy()
    np.testing.assert_array_equal(
        scene, clmr.get_scene_embeddings(audio, model).numpy()
    )


def test_file_is_loaded(backbone, tmp_path):
    path = str(tmp_path / "encoder.keras")
    backbone.save(path)
    loaded = clmr.load_model(path)
    audio = _noise(2, 3000)
    np.testing.assert_allclose(
        clmr.get_scene_embeddings(audio, loaded),
        clmr.get_scene_embeddings(audio, clmr.from_keras(backbone)),
        atol=1e-6,
    )


def test_file_of_the_wrong_kind_raises(tmp_path):
    path = str(tmp_path / "pase.keras")
    PASEPlusBackbone.from_preset("pase_plus_tiny").save(path)
    with pytest.raises(
        ValueError, match=r"pase\.keras.*SampleCNNBackbone.*PASEPlus"
    ):
        clmr.load_model(path)


def test_corrupt_file_raises(tmp_path):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"broken\.keras.*could not be loaded"):
        clmr.load_model(str(path))
