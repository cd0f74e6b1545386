import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.test_case import TestCase


class MAESTTaggerTest(TestCase):
    def test_head_formula(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        tagger = MAESTTagger(backbone, num_tags=5)
        x = np.random.rand(2, 96, 66).astype("float32")
        tokens = np.array(backbone(x))
        norm, dense = tagger.get_layer("head_norm"), tagger.get_layer("head")
        h = (tokens[:, 0] + tokens[:, 1]) / 2
        h = (h - h.mean(-1, keepdims=True)) / np.sqrt(
            h.var(-1, keepdims=True) + 1e-5
        )
        h = h * np.array(norm.gamma) + np.array(norm.beta)
        logits = h @ np.array(dense.kernel) + np.array(dense.bias)
        # float32 LayerNorm vs float64: ~1e-7 relative.
        self.assertAllClose(tagger(x), 1 / (1 + np.exp(-logits)), atol=1e-6)

    def test_fit_save_and_export(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        tagger = MAESTTagger(backbone, num_tags=5)
        self.run_serialization_test(tagger, {"num_tags": 5})
        x = np.random.rand(4, 96, 66).astype("float32")
        y = (np.random.rand(4, 5) > 0.5).astype("float32")
        # No XLA: compiling it costs more than the one step it runs.
        tagger.compile(jit_compile=False)
        self.assertIsInstance(tagger.loss, keras.losses.BinaryCrossentropy)
        before = np.array(tagger.get_layer("head").kernel)
        history = tagger.fit(x, y, epochs=1, batch_size=4, verbose=0)
        self.assertIn("pr_auc", history.history)
        self.assertFalse(
            np.array_equal(before, tagger.get_layer("head").kernel)
        )
        revived = self.run_model_saving_test(tagger, x)
        self.assertIsInstance(revived.loss, keras.losses.BinaryCrossentropy)
        self.run_export_test(tagger, x)

    def test_xla_train_step_on_segments_of_any_length(self):
        # Pipelines give spectrograms a dynamic time axis; XLA (Keras'
        # default on GPU) must still compile the train step, patchout and
        # the random window of the time encoding included.
        tagger = MAESTTagger(
            MAESTBackbone.from_preset("maest_tiny", train_time_patchout=3),
            num_tags=5,
        )
        x = np.random.rand(4, 96, 66).astype("float32")
        y = (np.random.rand(4, 5) > 0.5).astype("float32")
        data = tf.data.Dataset.from_generator(
            lambda: iter([(x, y)]),
            output_signature=(
                tf.TensorSpec((None, 96, None), "float32"),
                tf.TensorSpec((None, 5), "float32"),
            ),
        )
        tagger.compile(jit_compile=True)
        history = tagger.fit(data, epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))

    def test_inference_patchout_on_tagger(self):
        tagger = MAESTTagger(MAESTBackbone.from_preset("maest_tiny"), 3)
        x = np.random.rand(2, 96, 66).astype("float32")
        full = tagger.predict(x, verbose=0)
        tagger.set_inference_patchout(time_stride=2, freq_drop=[8])
        thinned = tagger.predict(x, verbose=0)
        self.assertEqual(thinned.shape, (2, 3))
        self.assertFalse(np.allclose(full, thinned))
        tagger.set_inference_patchout(time_stride=1, freq_drop=[])
        self.assertAllClose(tagger.predict(x, verbose=0), full)

    def test_errors(self):
        with pytest.raises(ValueError, match="backbone="):
            MAESTTagger(keras.layers.Dense(3), num_tags=3)
        backbone = MAESTBackbone.from_preset("maest_tiny")
        with pytest.raises(ValueError, match="num_tags=0"):
            MAESTTagger(backbone, num_tags=0)

    @pytest.mark.large
    def test_full_size_tagger(self):
        tagger = MAESTTagger(MAESTBackbone.from_preset("maest_30s"), 400)
        # 85,716,112 = 86.0 M reference - 307,600 (unused `head_dist`).
        self.assertEqual(tagger.count_params(), 85_716_112)
        x = np.random.rand(1, 96, 1876).astype("float32")
        self.assertEqual(tuple(tagger(x).shape), (1, 400))


class MAESTTaggerTaskTest(TestCase):
    def test_carries_preprocessor_and_vocabulary(self):
        from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
        from keras_music.models.audio_preprocessor import AudioPreprocessor

        preprocessor = AudioPreprocessor(
            LogMelSpectrogram(sample_rate=16000), segment_seconds=1.0
        )
        tagger = MAESTTagger(
            MAESTBackbone.from_preset("maest_tiny"),
            num_tags=3,
            preprocessor=preprocessor,
            vocabulary=["rock", "jazz", "folk"],
        )
        x = np.random.rand(2, 96, 66).astype("float32")
        revived = self.run_task_test(tagger, x, expected_output_shape=(2, 3))
        self.assertEqual(revived.vocabulary, ["rock", "jazz", "folk"])
        self.assertEqual(revived.preprocessor.sample_rate, 16000)
        with pytest.raises(ValueError, match="vocabulary"):
            MAESTTagger(
                MAESTBackbone.from_preset("maest_tiny"), 3, vocabulary=["a"]
            )
