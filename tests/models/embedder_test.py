import numpy as np
import pytest

from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.embedder import AudioEmbedder
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from keras_music.models.s3t.s3t_backbone import S3TBackbone
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from keras_music.models.swin.swin_backbone import SwinBackbone
from tests.test_case import TestCase

SEGMENT = 16640  # maest_tiny's 66 frames at hop 256


def maest_preprocessor():
    return AudioPreprocessor(
        LogMelSpectrogram(hop_length=256, normalize=True),
        segment_seconds=SEGMENT / 16000,
    )


def stack_reference(backbone, spectrogram, block):
    """The paper's stack, from the tokens of a model cut at `block`."""
    import keras

    tokens = np.asarray(
        keras.Model(backbone.input, backbone.block_output(block))(spectrogram)
    )
    return np.concatenate(
        [tokens[:, 0], tokens[:, 1], tokens[:, 2:].mean(axis=1)], axis=-1
    )


class AudioEmbedderTest(TestCase):
    def test_maest_block_readout_config_and_keras_round_trip(self):
        backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=2)
        preprocessor = maest_preprocessor()
        embedder = AudioEmbedder(backbone, preprocessor, block=1)
        self.assertEqual((embedder.block, embedder.token), (1, "stack"))
        audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, SEGMENT))
        audio = audio.astype("float32")
        # The stack (cls, dist, mean of patches) computed from the raw
        # tokens with NumPy; float32 sums in another order: 1e-5.
        expected = stack_reference(backbone, preprocessor(audio), 1)
        self.assertAllClose(embedder(audio), expected, atol=1e-5)
        revived = self.run_task_test(
            embedder, audio, (2, 96), run_training_check=False
        )
        self.assertEqual((revived.block, revived.token), (1, "stack"))
        self.assertEqual(revived.preprocessor.sample_rate, 16000)

    def test_non_maest_backbone_is_read_at_its_output(self):
        backbone = SampleCNNBackbone.from_preset("sample_cnn_test_tiny")
        samples = backbone.input_shape[1]
        preprocessor = AudioPreprocessor(
            sample_rate=22050, segment_seconds=samples / 22050
        )
        embedder = AudioEmbedder(backbone, preprocessor)
        audio = np.random.default_rng(1).uniform(-1, 1, (3, samples))
        audio = audio.astype("float32")
        # No read-out of its own: exactly the backbone's output.
        self.assertAllClose(embedder(audio), backbone(audio), atol=0)
        self.run_task_test(
            embedder, audio, (3, backbone.output_dim), run_training_check=False
        )

    def test_swin_stage_readout_equals_the_pooled_stage_outputs(self):
        import keras

        backbone = SwinBackbone.from_preset("swin_test_tiny")
        x = np.random.default_rng(3).normal(size=(2, 32, 40))
        x = x.astype("float32")
        stages = keras.Model(backbone.input, backbone.stage_outputs)(x)
        for stage in (1, 2):
            embedder = AudioEmbedder(backbone, block=stage)
            # The backbone's own stage output averaged over its grid with
            # NumPy; float32 means summed in another order: 1e-5.
            expected = np.asarray(stages[f"stage_{stage}"]).mean(axis=(1, 2))
            self.assertEqual(expected.shape, (2, 16 * stage))
            self.assertAllClose(embedder(x), expected, atol=1e-5)
        # No stage: the backbone's output (final LayerNorm, pooled).
        self.assertAllClose(AudioEmbedder(backbone)(x), backbone(x), atol=0)
        revived = self.run_task_test(
            AudioEmbedder(backbone, block=1, token="avg"),
            x,
            (2, 16),
            run_training_check=False,
        )
        self.assertEqual((revived.block, revived.token), (1, "avg"))

    def test_s3t_stage_readout_on_raw_audio(self):
        import keras

        backbone = S3TBackbone.from_preset("s3t_test_tiny")
        audio = np.random.default_rng(4).uniform(-0.5, 0.5, (2, 32256))
        audio = audio.astype("float32")
        swin = backbone.swin
        image = backbone.square(backbone.preprocessor(audio))
        stages = keras.Model(swin.input, swin.stage_outputs)(image)
        embedder = AudioEmbedder(backbone, block=1)
        self.assertEqual(embedder.input_shape, (None, 32256))
        # The Swin's stage 1 on the S3T's own CQT image, averaged with
        # NumPy; float32 means summed in another order: 1e-5.
        expected = np.asarray(stages["stage_1"]).mean(axis=(1, 2))
        self.assertAllClose(embedder(audio), expected, atol=1e-5)
        revived = self.run_task_test(
            embedder, audio, (2, 16), run_training_check=False
        )
        self.assertEqual(revived.block, 1)

    def test_errors(self):
        sample_cnn = SampleCNNBackbone.from_preset("sample_cnn_test_tiny")
        with pytest.raises(ValueError, match="`block` is for MAEST"):
            AudioEmbedder(sample_cnn, block=2)
        with pytest.raises(ValueError, match="`token` must be None or 'avg'"):
            AudioEmbedder(sample_cnn, token="cls")
        maest = MAESTBackbone.from_preset("maest_tiny", num_layers=2)
        with pytest.raises(ValueError, match=r"`block` must be an integer"):
            AudioEmbedder(maest, block=3)
        with pytest.raises(ValueError, match="`token` must be one of"):
            AudioEmbedder(maest, token="mean")
        swin = SwinBackbone.from_preset("swin_test_tiny")
        for stage in (0, 3, 1.0, True):
            with pytest.raises(
                ValueError,
                match=r"`block` is the stage read of SwinBackbone: `stage` "
                r"must be an integer in \[1, 2\]",
            ):
                AudioEmbedder(swin, block=stage)
        with pytest.raises(ValueError, match="`token` must be None or 'avg'"):
            AudioEmbedder(swin, block=1, token="cls")
        with pytest.raises(ValueError, match="`metadata` must be a dict"):
            AudioEmbedder(sample_cnn, metadata=["gtzan"])


class EmbeddingModelTest(TestCase):
    def test_tagger_embedding_model_on_audio_and_spectrograms(self):
        backbone = MAESTBackbone.from_preset("maest_tiny", num_layers=2)
        preprocessor = maest_preprocessor()
        tagger = MAESTTagger(backbone, num_tags=3, preprocessor=preprocessor)
        audio = np.random.default_rng(2).uniform(-0.5, 0.5, (2, SEGMENT))
        audio = audio.astype("float32")
        spectrogram = preprocessor(audio)
        on_audio = tagger.embedding_model(block=2)
        self.assertEqual(on_audio.input_shape, (None, SEGMENT))
        # Same read-out as the AudioEmbedder's, on the tagger's weights.
        self.assertAllClose(
            on_audio(audio),
            stack_reference(backbone, spectrogram, 2),
            atol=1e-5,
        )
        on_mel = tagger.embedding_model(block=0, token="cls", audio=False)
        tokens = np.asarray(backbone.patch_embedding(spectrogram))
        self.assertAllClose(on_mel(spectrogram), tokens[:, 0], atol=0)

    def test_embedding_model_needs_a_frontend_for_audio(self):
        tagger = MAESTTagger(
            MAESTBackbone.from_preset("maest_tiny", num_layers=1), num_tags=2
        )
        self.assertEqual(tagger.embedding_model(1).input_shape[1], 96)
        with pytest.raises(ValueError, match="no preprocessor with a frontend"):
            tagger.embedding_model(1, audio=True)
