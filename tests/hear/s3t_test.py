import warnings

import keras
import numpy as np
import pytest

from keras_music.hear import s3t
from keras_music.models.s3t.s3t_backbone import S3TBackbone
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from tests.hear import hear_contract

# A 16-bin CQT of 64 frames (32,256 samples, 1.46 s) folded to 32 x 32.
PRESET = "s3t_test_tiny"
CLIP = 32256


def _noise(n, samples, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, samples)).astype("float32")


@pytest.fixture(scope="module")
def backbone():
    keras.utils.set_random_seed(0)
    return S3TBackbone.from_preset(PRESET)


@pytest.fixture(scope="module")
def model(backbone):
    return s3t.from_keras(backbone, source=PRESET)


def test_passes_the_validator_checks(model):
    assert model.sample_rate == 22050
    assert model.segment_samples == CLIP
    assert model.scene_embedding_size == 32
    hear_contract.check_module(s3t, model)


def test_load_model_warns_once_about_random_init():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = s3t.load_model(preset=PRESET)
        s3t.get_scene_embeddings(_noise(1, 2205), model)
    messages = [
        str(w.message) for w in caught if "random init" in str(w.message)
    ]
    assert len(messages) == 1
    assert "'s3t_test_tiny'" in messages[0]


def test_timestamp_embeddings_are_the_centred_clips(backbone, model):
    audio = _noise(2, 3000)
    embeddings, timestamps = s3t.get_timestamp_embeddings(audio, model)
    # 3,000 samples = 136 ms: timestamps 0, 50 and 100 ms, on samples 0,
    # 1102 (1102.5 rounded to even) and 2205.
    np.testing.assert_array_equal(timestamps.numpy(), [[0, 50, 100]] * 2)
    padded = np.pad(audio, ((0, 0), (CLIP // 2, CLIP // 2)))
    for k, c in enumerate((0, 1102, 2205)):
        expected = backbone(padded[:, c : c + CLIP]).numpy()
        np.testing.assert_allclose(embeddings[:, k], expected, atol=1e-5)


def test_scene_embedding_is_the_mean_over_clips(backbone, model):
    audio = _noise(2, 50000)
    # Clips [0, 32256) and [17744, 50000) (aligned with the end).
    expected = (
        backbone(audio[:, :CLIP]).numpy() + backbone(audio[:, -CLIP:]).numpy()
    ) / 2
    scene = s3t.get_scene_embeddings(audio, model).numpy()
    np.testing.assert_allclose(scene, expected, atol=1e-5)


def test_sound_shorter_than_a_clip_is_zero_padded(backbone, model):
    audio = _noise(2, 1000)
    expected = backbone(np.pad(audio, ((0, 0), (0, CLIP - 1000)))).numpy()
    scene = s3t.get_scene_embeddings(audio, model).numpy()
    np.testing.assert_allclose(scene, expected, atol=1e-5)


def test_outputs_are_deterministic(model):
    audio = _noise(2, 5000, seed=3)
    first = s3t.get_timestamp_embeddings(audio, model)[0].numpy()
    again = s3t.get_timestamp_embeddings(audio, model)[0].numpy()
    np.testing.assert_array_equal(first, again)


def test_file_is_loaded(backbone, tmp_path):
    path = str(tmp_path / "encoder.keras")
    backbone.save(path)
    loaded = s3t.load_model(path, hop_seconds=0.025)
    assert loaded.hop_seconds == 0.025
    audio = _noise(2, 3000)
    np.testing.assert_allclose(
        s3t.get_scene_embeddings(audio, loaded),
        s3t.get_scene_embeddings(audio, s3t.from_keras(backbone)),
        atol=1e-6,
    )


def test_file_of_the_wrong_kind_raises(tmp_path):
    path = str(tmp_path / "clmr.keras")
    SampleCNNBackbone.from_preset("sample_cnn_test_tiny").save(path)
    with pytest.raises(
        ValueError, match=r"clmr\.keras.*S3TBackbone.*SampleCNNBackbone"
    ):
        s3t.load_model(path)


def test_in_memory_model_of_the_wrong_kind_raises():
    backbone = SampleCNNBackbone.from_preset("sample_cnn_test_tiny")
    with pytest.raises(ValueError, match="S3TBackbone.*SampleCNNBackbone"):
        s3t.from_keras(backbone)
