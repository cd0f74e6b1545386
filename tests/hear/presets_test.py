"""The default models of the four HEAR modules, at full size."""

import warnings

import numpy as np
import pytest

from keras_music.hear import clmr
from keras_music.hear import maest
from keras_music.hear import pase_plus
from keras_music.hear import s3t
from tests.hear import hear_contract


@pytest.mark.large
@pytest.mark.parametrize(
    "module, rate, size, segment",
    [
        (maest, 16000, 2304, 1875 * 256),  # block 7 `stack`, 30 s
        (s3t, 22050, 768, (768 * 10 - 1) * 512),  # Swin-T, 178.3 s
        (clmr, 22050, 512, 59049),
        (pase_plus, 16000, 512, None),
    ],
    ids=["maest", "s3t", "clmr", "pase_plus"],
)
def test_default_model(module, rate, size, segment):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = module.load_model()
    assert [w for w in caught if "random init" in str(w.message)]
    hear_contract.check_attributes(model)
    assert model.sample_rate == rate
    assert model.scene_embedding_size == size
    assert model.timestamp_embedding_size == size
    assert model.segment_samples == segment
    # 0.2 s: four timestamps at 50 ms (PASE+: 20 frames at 10 ms).
    audio = hear_contract.white_noise(model, 2, 0.2)
    embeddings, timestamps = module.get_timestamp_embeddings(audio, model)
    count = 20 if segment is None else 5
    assert embeddings.shape == (2, count, size)
    hear_contract.check_timestamps(timestamps.numpy(), 0.2)
    scene = module.get_scene_embeddings(audio, model)
    assert scene.shape == (2, size)
    assert np.all(np.isfinite(scene.numpy()))
