import keras
import numpy as np
import pytest

from keras_music.evaluation.probe_heads import probe_head
from keras_music.evaluation.probe_heads import probe_loss
from tests.test_case import TestCase


class ProbeHeadTest(TestCase):
    def test_linear_head_is_one_dense_layer(self):
        head = probe_head("linear", 8, 3)
        x = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
        self.assertEqual(tuple(head(x).shape), (5, 3))
        kernel, bias = head.get_layer("logits").get_weights()
        self.assertEqual(head.count_params(), 8 * 3 + 3)
        # A linear map: logits = x W + b, from NumPy.
        self.assertAllClose(head(x), x @ kernel + bias, atol=1e-5)

    def test_mlp_head_matches_maest_probe(self):
        head = probe_head("mlp", 96, 16)
        hidden = head.get_layer("hidden")
        self.assertEqual(hidden.units, 512)
        self.assertEqual(hidden.activation, keras.activations.relu)
        self.assertEqual(head.get_layer("dropout").rate, 0.5)
        self.assertEqual(head.count_params(), 96 * 512 + 512 + 512 * 16 + 16)
        x = np.ones((2, 96), "float32")
        # Dropout only in training: inference is deterministic.
        self.assertAllClose(head(x), head(x))

    def test_standardization_uses_training_statistics(self):
        rng = np.random.default_rng(0)
        data = rng.normal(3.0, 5.0, size=(50, 4)).astype("float32")
        head = probe_head("linear", 4, 2, standardize_with=data)
        z = head.get_layer("standardize")(data)
        # float32 mean/variance of 50 rows: 1e-4.
        self.assertAllClose(np.mean(z, 0), np.zeros(4), atol=1e-4)
        self.assertAllClose(np.std(z, 0), np.ones(4), atol=1e-4)

    def test_saving_round_trip(self):
        head = probe_head("mlp", 6, 3, hidden_dim=8)
        self.run_model_saving_test(head, np.ones((2, 6), "float32"))

    def test_losses(self):
        # Multi-label: binary cross-entropy on logits that skips unknown
        # (-1) targets; its values are checked in partial_labels_test.py.
        self.assertEqual(probe_loss(True).name, "masked_binary_crossentropy")
        self.assertIsInstance(
            probe_loss(False), keras.losses.SparseCategoricalCrossentropy
        )

    def test_errors(self):
        with pytest.raises(ValueError, match="`kind` must be one of"):
            probe_head("conv", 4, 2)
        with pytest.raises(ValueError, match="`input_dim` must be"):
            probe_head("linear", 0, 2)
        with pytest.raises(ValueError, match="`num_outputs` must be"):
            probe_head("linear", 4, 0)
        with pytest.raises(ValueError, match="`hidden_dim` must be"):
            probe_head("mlp", 4, 2, hidden_dim=-1)
        with pytest.raises(ValueError, match="`dropout` must be below 1"):
            probe_head("mlp", 4, 2, dropout=1.0)
        with pytest.raises(ValueError, match="`standardize_with` must be"):
            probe_head("linear", 4, 2, standardize_with=np.ones((3, 5)))
