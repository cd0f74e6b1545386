import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.clmr_augment import CLMRAugment
from tests.test_case import TestCase

SMALL = {"sample_rate": 8000, "crop_length": 400}


class CLMRAugmentTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            CLMRAugment,
            init_kwargs={**SMALL, "pitch_p": 0.0, "reverb_p": 0.0, "seed": 1},
            input_data=np.random.randn(2, 600).astype("float32"),
            expected_output_shape=((2, 400), (2, 400)),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
            # A functional model returns its outputs as a list after
            # loading; test_saving compares the views as a list.
            run_saving_check=False,
        )

    def test_saving(self):
        audio = np.random.randn(2, 600).astype("float32")
        inputs = keras.Input((600,), batch_size=2)
        model = keras.Model(inputs, CLMRAugment(**SMALL)(inputs))
        path = os.path.join(self.get_temp_dir(), "model.keras")
        expected = list(model(audio, training=False))
        model.save(path)
        revived = keras.saving.load_model(path)
        self.assertAllEqual(list(revived(audio, training=False)), expected)

    def test_clmr_defaults(self):
        layer = CLMRAugment()
        config = layer.get_config()
        self.assertEqual(config["sample_rate"], 22050)
        self.assertEqual(config["crop_length"], 59049)
        probabilities = [
            config[k]
            for k in (
                "polarity_p",
                "noise_p",
                "gain_p",
                "filter_p",
                "delay_p",
                "pitch_p",
                "reverb_p",
            )
        ]
        self.assertEqual(probabilities, [0.8, 0.01, 0.3, 0.8, 0.3, 0.6, 0.6])
        self.assertEqual(tuple(config["gain_range"]), (-20.0, -1.0))
        self.assertEqual(tuple(config["semitone_range"]), (-7.0, 7.0))

    def test_two_different_views(self):
        audio = np.random.RandomState(0).randn(4, 1600).astype("float32")
        layer = CLMRAugment(**SMALL, seed=0)
        view_1, view_2 = layer(audio, training=True)
        self.assertEqual(view_1.shape, (4, 400))
        self.assertEqual(view_2.shape, (4, 400))
        self.assertFalse(np.allclose(view_1, view_2))
        # Same seed, same views.
        again = CLMRAugment(**SMALL, seed=0)(audio, training=True)
        self.assertAllEqual(again, (view_1, view_2))

    def test_inference_is_centre_crop(self):
        audio = np.random.randn(2, 1000).astype("float32")
        view_1, view_2 = CLMRAugment(**SMALL)(audio)
        self.assertAllEqual(view_1, audio[:, 300:700])
        self.assertAllEqual(view_2, audio[:, 300:700])

    def test_crop_only_chain(self):
        # With every stage off, each view is an exact crop of the input.
        audio = np.tile(np.arange(1000, dtype="float32"), (3, 1))
        layer = CLMRAugment(
            **SMALL,
            polarity_p=0.0,
            noise_p=0.0,
            gain_p=0.0,
            filter_p=0.0,
            delay_p=0.0,
            pitch_p=0.0,
            reverb_p=0.0,
            seed=2,
        )
        for view in layer(audio, training=True):
            view = np.asarray(view)
            self.assertAllEqual(view, view[:, :1] + np.arange(400))

    def test_polarity_stage_probability(self):
        # Constant positive audio: only polarity inversion flips the sign
        # (gain keeps it, the other stages are off).
        p, n = 0.8, 2000
        layer = CLMRAugment(
            sample_rate=8000,
            crop_length=4,
            noise_p=0.0,
            filter_p=0.0,
            delay_p=0.0,
            pitch_p=0.0,
            reverb_p=0.0,
            seed=5,
        )
        view_1, _ = layer(np.ones((n, 8), "float32"), training=True)
        fired = np.mean(np.asarray(view_1)[:, 0] < 0)
        # Binomial sampling error: within 4 standard deviations.
        self.assertLess(abs(fired - p), 4 * np.sqrt(p * (1 - p) / n))

    def test_in_tf_data(self):
        # A stage with p=0 is never called, yet built with the layer.
        layer = CLMRAugment(**SMALL, pitch_p=0.0, seed=0)
        audio = np.random.randn(4, 800).astype("float32")
        ds = tf.data.Dataset.from_tensor_slices(audio).batch(2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = ds.map(lambda x: layer(x, training=True))
        # No warning from Keras about sublayer state it cannot build.
        self.assertEqual([str(w.message) for w in caught], [])
        for view_1, view_2 in ds:
            self.assertEqual(view_1.shape, (2, 400))
            self.assertEqual(view_2.shape, (2, 400))
            self.assertTrue(np.all(np.isfinite(view_1.numpy())))

    def test_invalid_arguments(self):
        with pytest.raises(ValueError, match="`sample_rate` must be a posit"):
            CLMRAugment(sample_rate=0)
        with pytest.raises(ValueError, match="`crop_length` must be a posit"):
            CLMRAugment(crop_length=-1)
        with pytest.raises(ValueError, match="`p` must be a probability"):
            CLMRAugment(pitch_p=1.5)
        with pytest.raises(ValueError, match="`gain_range` must satisfy"):
            CLMRAugment(gain_range=(0.0, -6.0))
        with pytest.raises(ValueError, match="`low_pass_range` must satisfy"):
            CLMRAugment(sample_rate=4000)

    def test_invalid_audio(self):
        with pytest.raises(ValueError, match="must have rank 1 or 2"):
            CLMRAugment(**SMALL)(np.zeros((1, 2, 8), "float32"))
