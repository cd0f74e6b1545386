import keras
import numpy as np
import pytest

from keras_music.layers.frequency_masking import FrequencyMasking
from keras_music.layers.random_augmentation import RandomAugmentation
from keras_music.layers.random_augmentation import SpectrogramAugmentation
from keras_music.layers.random_gain import RandomGain
from keras_music.layers.random_shift import RandomShift
from keras_music.layers.spec_augment import SpecAugment
from keras_music.layers.time_masking import TimeMasking
from keras_music.layers.time_warping import TimeWarping
from keras_music.layers.waveform_ops import WaveformAugmentation
from tests.test_case import TestCase


@keras.saving.register_keras_serializable(package="keras_music_tests")
class AddUniform(SpectrogramAugmentation):
    """Adds one uniform draw per example, where its coin fires, so that a
    test can read the layer's random stream from its output."""

    def augment(self, x):
        batch = keras.ops.shape(x)[0]
        fire = self.fires(batch)
        u = keras.random.uniform((batch,), seed=self.seed_generator)
        u = keras.ops.where(fire, u, 0.0)
        return x + u[:, None, None, None]


def _state(layer):
    return keras.ops.convert_to_numpy(layer.seed_generator.state)


class RandomAugmentationTest(TestCase):
    def test_layer_checks(self):
        self.run_layer_test(
            AddUniform,
            {"p": 0.5, "seed": 3},
            np.zeros((4, 5, 6), "float32"),
            expected_output_shape=(4, 5, 6),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
        )

    def test_stream_is_the_one_augment_draws(self):
        # The base draws nothing of its own: the coins and the values are
        # the first and second draws of a generator seeded like the layer.
        x = np.zeros((16, 2, 3, 2), "float32")
        out = keras.ops.convert_to_numpy(
            AddUniform(p=0.5, seed=11)(x, training=True)
        )
        generator = keras.random.SeedGenerator(11)
        coins = keras.random.uniform((16,), seed=generator) < 0.5
        values = keras.random.uniform((16,), seed=generator)
        expected = np.where(coins, values, 0.0)
        self.assertAllEqual(out[:, 0, 0, 0], expected)
        self.assertAllEqual(out, np.broadcast_to(out[:, :1, :1, :1], x.shape))
        self.assertTrue(0 < np.count_nonzero(expected) < 16)

    def test_inference_is_identity_and_draws_nothing(self):
        layer = AddUniform(p=1.0, seed=0)
        x = np.random.default_rng(0).random((3, 4, 5)).astype("float32")
        before = _state(layer)
        for training in (None, False):
            self.assertAllEqual(layer(x, training=training), x)
        self.assertAllEqual(_state(layer), before)
        layer(x, training=True)
        self.assertFalse(np.array_equal(_state(layer), before))

    def test_rank_and_dtype(self):
        x = np.zeros((2, 4, 5), "float32")
        out = AddUniform(p=1.0, seed=0, dtype="mixed_float16")(x, training=True)
        self.assertEqual(tuple(out.shape), (2, 4, 5))
        self.assertEqual(keras.backend.standardize_dtype(out.dtype), "float16")
        with pytest.raises(ValueError, match="AddUniform input.*rank 3 or 4"):
            AddUniform(p=1.0)(np.zeros((2, 4), "float32"))

    def test_config_holds_p_and_seed(self):
        config = AddUniform(p=0.25, seed=7).get_config()
        self.assertEqual((config["p"], config["seed"]), (0.25, 7))
        restored = AddUniform.from_config(config)
        self.assertEqual((restored.p, restored.seed), (0.25, 7))

    def test_invalid(self):
        with pytest.raises(ValueError, match="`p` must be a probability"):
            AddUniform(p=1.5)
        for seed in (True, 1.5, "0"):
            with pytest.raises(ValueError, match="`seed` must be an integer"):
                FrequencyMasking(seed=seed)

    def test_layers_share_the_base(self):
        for cls in (
            FrequencyMasking,
            TimeMasking,
            RandomShift,
            TimeWarping,
            SpecAugment,
        ):
            self.assertTrue(issubclass(cls, SpectrogramAugmentation), cls)
        self.assertTrue(issubclass(WaveformAugmentation, RandomAugmentation))

    def test_streams_unchanged(self):
        # Outputs of the layers before they shared this base (same seed,
        # same input, same TensorFlow RNG): the refactoring kept every
        # layer's random stream, so these must not move.
        ones = np.ones((6, 40, 64), "float32")

        def zeros(layer):
            out = np.asarray(layer(ones, training=True))
            return [int(v) for v in (out == 0).sum(axis=(1, 2))]

        self.assertEqual(
            zeros(FrequencyMasking(p=0.5, seed=0)), [0, 0, 0, 0, 1280, 0]
        )
        self.assertEqual(
            zeros(TimeMasking(p=0.5, seed=0)), [0, 0, 0, 0, 800, 0]
        )
        self.assertEqual(
            zeros(
                SpecAugment(p=0.5, seed=0, max_time_masks=4, max_freq_masks=2)
            ),
            [640, 0, 0, 0, 512, 0],
        )
        self.assertEqual(
            zeros(RandomShift(p=0.5, seed=0)), [120, 0, 0, 0, 0, 360]
        )
        ramp = np.broadcast_to(np.arange(64, dtype="float32"), (6, 4, 64))
        out = np.asarray(TimeWarping(p=0.5, seed=0)(ramp, training=True))
        # Sums of 64 interpolated frame positions, printed to 2 decimals;
        # another warp moves a sum by whole frames.
        self.assertAllClose(
            out[:, 0].sum(axis=-1),
            np.array([2279.14, 2016.0, 2016.0, 2016.0, 2016.0, 1869.86]),
            atol=1e-2,
        )
        gain = np.asarray(
            RandomGain(p=0.5, seed=0)(np.ones((6, 8), "float32"), training=True)
        )
        # Printed to 4 decimals.
        self.assertAllClose(
            gain[:, 0],
            np.array([0.1197, 1.0, 1.0, 1.0, 0.2448, 1.0]),
            atol=5e-5,
        )
