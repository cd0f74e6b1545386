import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_embedder import MAESTEmbedder
from keras_music.models.maest.maest_embedder import maest_with_precision
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.test_case import TestCase


@keras.saving.register_keras_serializable(package="keras_music_tests")
class FramesFrontend(keras.layers.Layer):
    """Stand-in frontend: audio → (batch, 96, frames), 96 samples a frame."""

    def call(self, audio):
        frames = tf.signal.frame(audio, 96, 96)
        return tf.transpose(frames, (0, 2, 1))


def _reference(backbone, x, block, starts, length):
    """NumPy average of (cls, dist, avg) over the given segments."""
    features = keras.Model(backbone.input, backbone.block_output(block))
    stacks = []
    for s in starts:
        t = np.array(features(x[:, :, s : s + length]))
        stacks.append(np.stack([t[:, 0], t[:, 1], t[:, 2:].mean(1)], 1))
    return np.mean(stacks, axis=0)


class MAESTEmbedderTest(TestCase):
    def test_whole_track_average(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        embedder = MAESTEmbedder(backbone, block=1)
        x = np.random.rand(2, 96, 150).astype("float32")
        out = embedder(x)
        self.assertEqual(tuple(out.shape), (2, 3, 32))
        # Half overlap (hop 33) and the last segment ending at frame 150.
        expected = _reference(backbone, x, 1, [0, 33, 66, 84], 66)
        # Same float32 ops in another batch order: ~1e-7.
        self.assertAllClose(out, expected, atol=1e-5, rtol=1e-5)
        graph = tf.function(embedder, jit_compile=False)
        self.assertAllClose(graph(x), out, atol=1e-6)

    def test_short_track_and_single_tokens(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        x = np.random.rand(1, 96, 40).astype("float32")
        out = MAESTEmbedder(backbone, block=2, token="avg")(x)
        self.assertEqual(tuple(out.shape), (1, 32))
        expected = _reference(backbone, x, 2, [0], 40)[:, 2]
        self.assertAllClose(out, expected, atol=1e-5, rtol=1e-5)

    def test_audio_frontend_save_and_export(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        embedder = MAESTEmbedder(
            backbone, block=1, token="cls", frontend=FramesFrontend()
        )
        audio = np.random.rand(2, 96 * 100).astype("float32")
        out = embedder(audio)
        self.assertEqual(tuple(out.shape), (2, 32))
        spectrogram = np.array(FramesFrontend()(audio))
        expected = _reference(backbone, spectrogram, 1, [0, 33, 34], 66)
        self.assertAllClose(out, expected[:, 0], atol=1e-5, rtol=1e-5)
        self.run_serialization_test(embedder, {"block": 1, "token": "cls"})
        self.run_model_saving_test(embedder, audio)
        restored = self.run_export_test(embedder, audio)
        # The exported graph takes any length.
        self.assertEqual(
            tuple(restored.serve(audio[:, : 96 * 250]).shape), (2, 32)
        )

    def test_errors(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        with pytest.raises(ValueError, match="block=9"):
            MAESTEmbedder(backbone, block=9)
        with pytest.raises(ValueError, match="segment_frames=100"):
            MAESTEmbedder(backbone, block=1, segment_frames=100)
        with pytest.raises(ValueError, match="hop_frames=0"):
            MAESTEmbedder(backbone, block=1, hop_frames=0)
        with pytest.raises(ValueError, match="backbone="):
            MAESTEmbedder(keras.layers.Dense(2))
        with pytest.raises(ValueError, match="precision='int4'"):
            MAESTEmbedder(backbone, block=1, precision="int4")
        with pytest.raises(ValueError, match="model="):
            maest_with_precision(keras.layers.Dense(2), "bfloat16")

    def test_bfloat16_embeddings(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        backbone.set_inference_patchout(2)
        x = np.random.rand(2, 96, 150).astype("float32")
        expected = MAESTEmbedder(backbone, block=2)(x)
        embedder = MAESTEmbedder(backbone, block=2, precision="bfloat16")
        out = embedder(x)
        self.assertEqual(out.dtype, "float32")
        self.assertEqual(
            embedder.backbone.patch_embedding.compute_dtype, "bfloat16"
        )
        # The copy keeps the patchout; the given backbone stays float32.
        self.assertEqual(embedder.backbone.inference_time_stride, 2)
        self.assertEqual(backbone.patch_embedding.compute_dtype, "float32")
        # bfloat16 keeps 8 bits of mantissa (relative step 2^-8 = 0.004)
        # through 2 blocks of LayerNorm-scaled tokens of size ~1: a few
        # hundredths, not the 1.0 a wrong weight or token would give.
        self.assertAllClose(out, expected, atol=0.1, rtol=0.05)
        self.assertGreater(np.abs(np.array(out) - expected).max(), 0)
        self.run_serialization_test(embedder, {"precision": "bfloat16"})
        self.run_model_saving_test(embedder, x)

    def test_bfloat16_tagger_copy(self):
        backbone = MAESTBackbone.from_preset("maest_tiny")
        tagger = MAESTTagger(backbone, num_tags=3)
        x = np.random.rand(2, 96, 66).astype("float32")
        copy = maest_with_precision(tagger, "bfloat16")
        self.assertIsInstance(copy, MAESTTagger)
        self.assertIs(maest_with_precision(tagger, "float32"), tagger)
        self.assertIs(maest_with_precision(copy, "bfloat16"), copy)
        out = copy(x)
        self.assertEqual(out.dtype, "float32")
        # Sigmoid outputs in (0, 1): bfloat16 rounding moves them by
        # well under 0.05 on the tiny model.
        self.assertAllClose(out, tagger(x), atol=0.05)
