import warnings

import keras
import numpy as np
import pytest

from keras_music.hear import maest
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from tests.hear import hear_contract

# Width 32, 2 blocks, 66 frames: a segment of 65 x 256 = 16,640 samples.
PRESET = "maest_tiny"
SEGMENT = 16640


def _noise(n, samples, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, samples)).astype("float32")


@pytest.fixture(scope="module")
def backbone():
    keras.utils.set_random_seed(0)
    return MAESTBackbone.from_preset(PRESET)


@pytest.fixture(scope="module")
def model(backbone):
    return maest.from_keras(backbone, source=PRESET)


@pytest.fixture(scope="module")
def tagger(backbone):
    preprocessor = AudioPreprocessor(
        LogMelSpectrogram(sample_rate=16000, hop_length=256, normalize=True),
        segment_seconds=SEGMENT / 16000,
    )
    return MAESTTagger(backbone, num_tags=3, preprocessor=preprocessor)


def test_passes_the_validator_checks(model):
    assert model.sample_rate == 16000
    assert model.segment_samples == SEGMENT
    # The paper's block 7 of 12 is block 1 of 2; `stack` is 3 x 32 wide.
    assert model.scene_embedding_size == 96
    hear_contract.check_module(maest, model)


def test_load_model_warns_once_about_random_init():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = maest.load_model(preset=PRESET)
        maest.get_scene_embeddings(_noise(1, 8000), model)
        maest.get_timestamp_embeddings(_noise(1, 8000), model)
    messages = [
        str(w.message) for w in caught if "random init" in str(w.message)
    ]
    assert len(messages) == 1
    assert "'maest_tiny'" in messages[0] and "untrained" in messages[0]


def test_default_block_is_the_papers_relative_depth():
    assert maest.default_block(12) == 7
    assert maest.default_block(4) == 2
    assert maest.default_block(2) == 1
    assert maest.default_block(1) == 1


def test_embeddings_are_the_tagger_readout(tagger):
    model = maest.from_keras(tagger, block=2, token="cls")
    embed = tagger.embedding_model(block=2, token="cls")
    assert model.scene_embedding_size == 32
    # One segment exactly: the scene embedding is the read-out of it.
    audio = _noise(2, SEGMENT)
    np.testing.assert_allclose(
        maest.get_scene_embeddings(audio, model),
        embed(audio).numpy(),
        atol=1e-5,
    )
    # The timestamp at 250 ms: the segment centred on sample 4,000.
    embeddings, timestamps = maest.get_timestamp_embeddings(audio, model)
    assert timestamps.numpy()[0, 5] == 250.0
    padded = np.pad(audio, ((0, 0), (SEGMENT // 2, SEGMENT // 2)))
    expected = embed(padded[:, 4000 : 4000 + SEGMENT]).numpy()
    np.testing.assert_allclose(embeddings[:, 5], expected, atol=1e-5)


def test_short_sound_is_embedded_at_its_length(model):
    # 2,000 samples (< one patch, 3,840) are padded to one patch; 8,000
    # samples are embedded as they are.
    for samples in (2000, 8000):
        scene = maest.get_scene_embeddings(_noise(2, samples), model)
        assert scene.shape == (2, 96)
        embeddings, _ = maest.get_timestamp_embeddings(
            _noise(2, samples), model
        )
        assert embeddings.shape == (2, samples // 800 + 1, 96)
    short = _noise(2, 8000)
    np.testing.assert_allclose(
        maest.get_scene_embeddings(short, model),
        model.encoder(short).numpy(),
        atol=1e-5,
    )


def test_outputs_are_deterministic(model):
    audio = _noise(2, 20000, seed=4)
    first = maest.get_scene_embeddings(audio, model).numpy()
    np.testing.assert_array_equal(
        first, maest.get_scene_embeddings(audio, model).numpy()
    )


def test_tagger_file_is_loaded(tagger, tmp_path):
    path = str(tmp_path / "model.keras")
    tagger.save(path)
    loaded = maest.load_model(path, block=2, token="avg")
    assert loaded.scene_embedding_size == 32
    audio = _noise(2, 20000)
    np.testing.assert_allclose(
        maest.get_scene_embeddings(audio, loaded),
        maest.get_scene_embeddings(
            audio, maest.from_keras(tagger, block=2, token="avg")
        ),
        atol=1e-5,
    )


def test_backbone_file_is_loaded(backbone, model, tmp_path):
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    loaded = maest.load_model(path)
    audio = _noise(1, 5000)
    np.testing.assert_allclose(
        maest.get_scene_embeddings(audio, loaded),
        maest.get_scene_embeddings(audio, model),
        atol=1e-5,
    )


def test_file_of_the_wrong_kind_raises(tmp_path):
    path = str(tmp_path / "clmr.keras")
    SampleCNNBackbone.from_preset("sample_cnn_test_tiny").save(path)
    with pytest.raises(
        ValueError, match=r"clmr\.keras.*MAESTTagger, MAESTBackbone.*SampleCNN"
    ):
        maest.load_model(path)


def test_bad_read_out_raises(backbone):
    with pytest.raises(ValueError, match="token"):
        maest.from_keras(backbone, token="mean")
