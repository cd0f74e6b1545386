import numpy as np
import pytest

from keras_music.models.efficientnet.efficientnet_tagger import (
    EfficientNetTagger,
)
from tests.test_case import TestCase


class EfficientNetTaggerTest(TestCase):
    def test_shapes_and_parameter_count(self):
        tagger = EfficientNetTagger(num_tags=3, num_frames=32)
        x = np.random.rand(2, 96, 32).astype("float32")
        probs = np.array(tagger(x))
        self.assertEqual(probs.shape, (2, 3))
        self.assertTrue(np.all((probs > 0) & (probs < 1)))
        # EfficientNet-B0 without top on one channel: 4,048,991 parameters
        # (keras.applications, 3 of them the Normalization statistics),
        # plus the head Dense(1280 → 3).
        self.assertEqual(tagger.count_params(), 4_048_991 + 1280 * 3 + 3)

    @pytest.mark.large
    def test_config_fit_and_saving(self):
        # ~90 s on 2 shared cores: three EfficientNet builds and a fit.
        init_kwargs = {"num_tags": 3, "num_mel_bins": 96, "num_frames": 32}
        tagger = EfficientNetTagger(**init_kwargs)
        self.run_serialization_test(tagger, init_kwargs)
        x = np.random.rand(2, 96, 32).astype("float32")
        tagger.compile(jit_compile=False)
        tagger.fit(x, np.ones((2, 3), "float32"), verbose=0)
        self.run_model_saving_test(tagger, x, atol=1e-5, rtol=1e-5)

    def test_errors(self):
        with pytest.raises(ValueError, match="num_frames=16"):
            EfficientNetTagger(num_frames=16)
        with pytest.raises(ValueError, match="num_tags=0"):
            EfficientNetTagger(num_tags=0)
