import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.layers.mixup import Mixup
from tests.test_case import TestCase


class MixupTest(TestCase):
    def test_layer_checks(self):
        self.run_layer_test(
            Mixup,
            {"alpha": 0.3, "p": 1.0, "seed": 3},
            (
                np.random.rand(4, 6, 5).astype("float32"),
                np.eye(4, 3, dtype="float32"),
            ),
            expected_output_shape=((4, 6, 5), (4, 3)),
            expected_num_trainable_weights=0,
            call_kwargs={"training": True},
            # Tuple vs reloaded list output structure; checked below.
            run_saving_check=False,
        )

    def test_model_saving(self):
        x = np.random.rand(4, 6).astype("float32")
        y = np.eye(4, 3, dtype="float32")
        inputs = (keras.Input((6,)), keras.Input((3,)))
        model = keras.Model(inputs, Mixup(seed=0)(inputs))
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        revived = keras.saving.load_model(path)
        self.assertAllClose(list(revived((x, y))), [x, y])

    def test_same_lambda_for_inputs_and_targets(self):
        n = 2000
        x = np.random.rand(n, 3, 4).astype("float32")
        y = np.eye(n, dtype="float32")
        xm, ym = Mixup(alpha=0.3, seed=5)((x, y), training=True)
        xm, ym = np.asarray(xm), np.asarray(ym)
        lam = ym[np.arange(n), np.arange(n)]
        off = ym.copy()
        off[np.arange(n), np.arange(n)] = 0.0
        partner = np.where(
            off.max(axis=1) > 0, off.argmax(axis=1), np.arange(n)
        )
        # lam = max(l, 1 - l) >= 0.5; float32 rounding: 1e-6.
        self.assertGreaterEqual(lam.min(), 0.5 - 1e-6)
        np.testing.assert_allclose(ym.sum(axis=1), 1.0, atol=1e-5)
        # Inputs mixed with the targets' lambda and partner (float32: 1e-5).
        expected = (
            lam[:, None, None] * x + (1 - lam[:, None, None]) * x[partner]
        )
        np.testing.assert_allclose(xm, expected, atol=1e-5)
        # Partners come from a permutation of the batch: distinct. (Rows
        # with lambda rounded to 1 in float32 show no partner.)
        mixed = off.max(axis=1) > 0
        self.assertEqual(len(set(partner[mixed])), mixed.sum())
        self.assertGreater(mixed.mean(), 0.9)
        # E[max(l, 1 - l)], l ~ Beta(0.3, 0.3), from an independent NumPy
        # sample; 4 standard errors (sd ~0.15, n = 2000 and 200000).
        ref = np.random.default_rng(0).beta(0.3, 0.3, 200000)
        ref = np.maximum(ref, 1 - ref)
        se = np.sqrt(lam.var() / n + ref.var() / len(ref))
        self.assertLess(abs(lam.mean() - ref.mean()), 4 * se)

    def test_probability_identity_and_seed(self):
        x = np.random.rand(1000, 4).astype("float32")
        y = np.eye(1000, dtype="float32")
        xm, ym = Mixup(p=0.5, seed=1)((x, y), training=True)
        kept = np.isclose(np.diag(np.asarray(ym)), 1.0, atol=1e-6).mean()
        # Binomial(1000, 0.5): sd 0.016; 4 sd (a self-pair also keeps 1).
        self.assertLess(abs(kept - 0.5), 0.064)
        again = Mixup(p=0.5, seed=1)((x, y), training=True)
        self.assertAllEqual(list(again), [xm, ym])
        self.assertAllEqual(list(Mixup()((x, y))), [x, y])

    def test_in_dataset_map(self):
        x = np.random.rand(8, 4, 5).astype("float32")
        y = np.eye(8, 3, dtype="float32")
        layer = Mixup(seed=0)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
        ds = ds.map(lambda a, b: layer((a, b), training=True))
        for xb, yb in ds:
            self.assertEqual(tuple(xb.shape), (4, 4, 5))
            self.assertEqual(tuple(yb.shape), (4, 3))

    def test_invalid(self):
        with pytest.raises(ValueError, match="`alpha` must be a positive"):
            Mixup(alpha=0.0)
        with pytest.raises(ValueError, match="`p` must be a probability"):
            Mixup(p=-1.0)
        x = np.zeros((4, 3), "float32")
        with pytest.raises(ValueError, match="expects a tuple"):
            Mixup()(x, training=True)
        with pytest.raises(ValueError, match="same batch size"):
            Mixup()((x, np.zeros((5, 2), "float32")), training=True)
        with pytest.raises(ValueError, match="at least one more axis"):
            Mixup()((x, np.zeros((4,), "float32")), training=True)
