"""`export_tagger` / `export_embedder`: exports by product, read from the
model alone (a `.keras` reload), with model cards, per-block signatures,
Essentia's `serving_mel` input and TFLite on short audio."""

import json
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_music.export.embedder import export_embedder
from keras_music.export.patchout import inference_patchout
from keras_music.export.serving_export import embedder_metadata
from keras_music.export.serving_export import export_embedder_for_serving
from keras_music.export.serving_export import export_for_serving
from keras_music.export.serving_export import serving_metadata
from keras_music.export.tagger import export_tagger
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.embedder import AudioEmbedder
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from keras_music.models.s3t.s3t_backbone import S3TBackbone
from keras_music.models.sample_cnn.sample_cnn_backbone import SampleCNNBackbone
from tests.test_case import TestCase

SEGMENT = 16640  # maest_tiny: 66 frames at hop 256, 16 kHz
VOCABULARY = ["church organ", "nylon guitar", "cello"]
METADATA = {"dataset": "tune corpus", "metrics": {"roc_auc": 0.75}}


def tiny_preprocessor():
    return AudioPreprocessor(
        LogMelSpectrogram(hop_length=256, normalize=True),
        segment_seconds=SEGMENT / 16000,
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny two-block tagger saved as `.keras`, reloaded with no other
    file and exported to a SavedModel and TFLite, once for the module."""
    keras.utils.set_random_seed(3)
    folder = tmp_path_factory.mktemp("export")
    tagger = MAESTTagger(
        MAESTBackbone.from_preset("maest_tiny", num_layers=2),
        num_tags=3,
        preprocessor=tiny_preprocessor(),
        vocabulary=VOCABULARY,
        metadata=METADATA,
    )
    tagger.save(folder / "tagger.keras")
    reloaded = keras.saving.load_model(folder / "tagger.keras")
    base = str(folder / "models" / "tiny_tagger")
    paths = export_tagger(reloaded, base)
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, SEGMENT))
    return {
        "tagger": reloaded,
        "base": base,
        "paths": paths,
        "loaded": tf.saved_model.load(paths["saved_model"]),
        "audio": audio.astype("float32"),
    }


def embed_one_segment(path, samples, seed, amplitude=0.5):
    """A random segment of `samples` and the `serving_default` embedding
    of the SavedModel at `path` for it."""
    audio = np.random.default_rng(seed).uniform(
        -amplitude, amplitude, (1, samples)
    )
    audio = audio.astype("float32")
    serving = tf.saved_model.load(path).signatures["serving_default"]
    outputs = serving(audio=tf.constant(audio), lengths=tf.constant([samples]))
    return audio, outputs["embedding"]


def read_card(path):
    with open(path) as stream:
        return json.load(stream)


class ExportTaggerTest(TestCase):
    @pytest.fixture(autouse=True)
    def _exported(self, exported):
        self.x = exported
        self.tagger = exported["tagger"]
        self.audio = exported["audio"]
        self.signatures = exported["loaded"].signatures

    def test_layout_and_model_cards(self):
        paths, base = self.x["paths"], self.x["base"]
        self.assertEqual(paths["saved_model"], os.path.join(base, "1"))
        self.assertEqual(paths["tflite"], base + ".tflite")
        with open(base + ".labels.txt") as stream:
            self.assertEqual(stream.read().splitlines(), VOCABULARY)
        cards = {
            "saved_model": read_card(
                os.path.join(paths["saved_model"], "model_card.json")
            ),
            "tflite": read_card(base + ".json"),
        }
        for kind, card in cards.items():
            for key in ("name", "type", "link", "version", "description"):
                self.assertIn(key, card, kind)
            self.assertEqual(card["model_types"], [kind])
            self.assertEqual(card["name"], "tiny_tagger")
            self.assertEqual(card["classes"], self.tagger.vocabulary)
            self.assertEqual(card["inference"]["sample_rate"], 16000)
            self.assertEqual(card["inference"]["segment_samples"], SEGMENT)
            self.assertEqual(card["dataset"]["name"], "tune corpus")
            self.assertEqual(card["dataset"]["metrics"], {"roc_auc": 0.75})
            for entry in card["schema"]["inputs"] + card["schema"]["outputs"]:
                self.assertEqual(
                    sorted(set(entry) & {"name", "type", "shape"}),
                    ["name", "shape", "type"],
                )
            purposes = {
                o["name"]: o["output_purpose"]
                for o in card["schema"]["outputs"]
            }
            self.assertEqual(purposes["probabilities"], "predictions")
            self.assertEqual(purposes["embedding"], "embeddings")
        self.assertEqual(cards["saved_model"]["version"], "1")
        outputs = cards["saved_model"]["schema"]["outputs"]
        self.assertIn(["batch_size", 3], [o["shape"] for o in outputs])
        self.assertIn("block_2", [o["name"] for o in outputs])

    def test_metadata_signature_states_the_rate(self):
        metadata = self.signatures["metadata"]()
        self.assertEqual(int(metadata["sample_rate"]), 16000)
        self.assertEqual(int(metadata["segment_samples"]), SEGMENT)
        self.assertEqual(int(metadata["num_tags"]), 3)
        self.assertEqual(int(metadata["num_frames"]), 66)
        # Stated where a client reads the signatures, too.
        readme_path = os.path.join(self.x["paths"]["saved_model"], "README.md")
        with open(readme_path) as stream:
            self.assertIn("do not resample", stream.read())

    def test_block_signatures_equal_embedding_model(self):
        lengths = tf.constant([SEGMENT, SEGMENT])
        embed = self.signatures["embed"](
            audio=tf.constant(self.audio), lengths=lengths
        )
        tokens = self.signatures["segment_tokens"](
            audio=tf.constant(self.audio)
        )
        spectrogram = self.tagger.preprocessor(self.audio)
        # Same graph ops in another order (while loop, SavedModel): 1e-5.
        self.assertAllClose(tokens["spectrogram"], spectrogram, atol=1e-5)
        for n in (1, 2):
            expected = self.tagger.embedding_model(n, "stack")(self.audio)
            self.assertAllClose(embed[f"block_{n}"], expected, atol=1e-5)
            raw = keras.Model(
                self.tagger.backbone.input,
                self.tagger.backbone.block_output(n),
            )(spectrogram)
            self.assertAllClose(tokens[f"block_{n}_tokens"], raw, atol=1e-5)
            # The stack is (cls, dist, mean of the patch tokens).
            raw = np.asarray(raw)
            stack = np.concatenate(
                [raw[:, 0], raw[:, 1], raw[:, 2:].mean(axis=1)], axis=-1
            )
            self.assertAllClose(embed[f"block_{n}"], stack, atol=1e-5)

    def test_serving_mel_equals_the_audio_path(self):
        # Essentia's input: log10(1 + 10000 x) mel, not normalised, time
        # first, (batch, frames, 96).
        mel = LogMelSpectrogram(hop_length=256, normalize=False)(self.audio)
        mel = np.transpose(np.asarray(mel), (0, 2, 1))
        self.assertEqual(mel.shape, (2, 66, 96))
        from_mel = self.signatures["serving_mel"](mel=tf.constant(mel))
        from_audio = self.signatures["serving_default"](
            audio=tf.constant(self.audio), lengths=tf.constant([SEGMENT] * 2)
        )
        # The same spectrogram normalised outside or inside the frontend:
        # float32 rounding of the affine map, 1e-5.
        for key in ("probabilities", "embedding"):
            self.assertAllClose(from_mel[key], from_audio[key], atol=1e-5)
        with pytest.raises(tf.errors.InvalidArgumentError, match="time first"):
            self.signatures["serving_mel"](
                mel=tf.constant(np.transpose(mel, (0, 2, 1)))
            )

    def test_tflite_pads_audio_shorter_than_a_segment(self):
        short = self.audio[:1, :5000]
        runner = Interpreter(self.x["paths"]["tflite"]).get_signature_runner()
        outputs = runner(audio=short)
        # The SavedModel zero-pads a short track to one segment: the same
        # probabilities (TFLite vs TF kernels: 1e-5).
        expected = self.signatures["serving_default"](
            audio=tf.constant(short), lengths=tf.constant([5000])
        )
        self.assertAllClose(
            outputs["probabilities"], expected["probabilities"], atol=1e-5
        )
        full = runner(audio=self.audio[:1])
        self.assertAllClose(
            full["probabilities"],
            self.tagger(self.tagger.preprocessor(self.audio[:1])),
            atol=1e-5,
        )

    def test_missing_metadata_is_a_clear_error(self):
        bare = MAESTTagger(self.tagger.backbone, num_tags=3)
        out = os.path.join(self.get_temp_dir(), "bare")
        with pytest.raises(ValueError, match="has no `vocabulary`"):
            export_tagger(bare, out)
        with pytest.raises(ValueError, match="no preprocessor with a frontend"):
            export_tagger(bare, out, vocabulary=VOCABULARY)
        self.assertFalse(os.path.exists(out))

    def test_inference_patchout_is_restored_after_an_error(self):
        backbone = self.tagger.backbone
        with pytest.raises(RuntimeError):
            with inference_patchout(self.tagger, 2, (0,)):
                self.assertEqual(backbone.inference_time_stride, 2)
                raise RuntimeError("export failed")
        self.assertEqual(backbone.inference_time_stride, 1)
        self.assertEqual(tuple(backbone.inference_freq_drop), ())
        with pytest.raises(ValueError, match="needs a MAEST model"):
            with inference_patchout(keras.Sequential(), 2):
                pass


class ExportEmbedderTest(TestCase):
    def test_maest_block_from_a_tagger(self):
        keras.utils.set_random_seed(4)
        tagger = MAESTTagger(
            MAESTBackbone.from_preset("maest_tiny", num_layers=2),
            num_tags=2,
            preprocessor=tiny_preprocessor(),
            metadata=METADATA,
        )
        base = os.path.join(self.get_temp_dir(), "tiny_block_1")
        path = export_embedder(tagger, base, block=1, token="cls")
        audio, embedding = embed_one_segment(path, SEGMENT, seed=5)
        self.assertAllClose(
            embedding,
            tagger.embedding_model(1, "cls")(audio),
            atol=1e-5,
        )
        card = read_card(os.path.join(path, "model_card.json"))
        self.assertEqual(card["inference"]["sample_rate"], 16000)
        self.assertEqual(card["classes"], [])
        (output,) = card["schema"]["outputs"]
        self.assertEqual(output["output_purpose"], "embeddings")
        self.assertEqual(output["shape"], ["batch_size", 32])
        self.assertEqual(card["dataset"]["metrics"], {"roc_auc": 0.75})

    def test_non_maest_audio_embedder(self):
        backbone = SampleCNNBackbone.from_preset("sample_cnn_test_tiny")
        samples = backbone.input_shape[1]
        embedder = AudioEmbedder(
            backbone,
            AudioPreprocessor(
                sample_rate=22050, segment_seconds=samples / 22050
            ),
        )
        path = export_embedder(embedder, os.path.join(self.get_temp_dir(), "s"))
        audio, embedding = embed_one_segment(path, samples, 6, amplitude=1)
        # One segment: the backbone's output (inference BatchNorm), 1e-5.
        self.assertAllClose(
            embedding, backbone(audio, training=False), atol=1e-5
        )
        self.assertEqual(
            read_card(os.path.join(path, "model_card.json"))["inference"][
                "sample_rate"
            ],
            22050,
        )
        with pytest.raises(ValueError, match="`block` is for MAEST"):
            export_embedder(embedder, os.path.join(self.get_temp_dir(), "b"), 1)
        with pytest.raises(ValueError, match="pass `sample_rate=`"):
            export_embedder(backbone, os.path.join(self.get_temp_dir(), "c"))

    def test_s3t_stage_of_a_raw_audio_encoder(self):
        keras.utils.set_random_seed(8)
        backbone = S3TBackbone.from_preset("s3t_test_tiny")
        samples = backbone.clip_samples
        path = export_embedder(
            backbone, os.path.join(self.get_temp_dir(), "s3t_stage_1"), 1
        )
        audio, embedding = embed_one_segment(path, samples, seed=9)
        # One segment: the Keras read-out of stage 1 (float32, the same
        # ops traced into the SavedModel): 1e-5.
        self.assertAllClose(
            embedding,
            AudioEmbedder(backbone, block=1)(audio),
            atol=1e-5,
        )
        card = read_card(os.path.join(path, "model_card.json"))
        self.assertEqual(card["inference"]["sample_rate"], 22050)
        self.assertEqual(card["schema"]["outputs"][0]["shape"][1], 16)
        with pytest.raises(ValueError, match=r"`stage` must be an integer"):
            export_embedder(
                backbone, os.path.join(self.get_temp_dir(), "bad"), block=3
            )


class DeprecatedAliasesTest(TestCase):
    def test_results_json_functions_warn_and_forward(self):
        keras.utils.set_random_seed(7)
        tagger = MAESTTagger(
            MAESTBackbone.from_preset("maest_tiny", num_layers=1), num_tags=3
        )
        folder = self.get_temp_dir()
        with open(os.path.join(folder, "results.json"), "w") as stream:
            json.dump(
                {
                    "vocabulary": VOCABULARY,
                    "sample_rate": 16000,
                    "segment_seconds": SEGMENT / 16000,
                },
                stream,
            )
        model_path = os.path.join(folder, "model.keras")
        with pytest.warns(DeprecationWarning, match="use `tagger_metadata`"):
            metadata = serving_metadata(model_path)
        with pytest.warns(DeprecationWarning, match="use `export_tagger`"):
            paths = export_for_serving(
                tagger,
                "legacy",
                metadata["vocabulary"],
                metadata["frontend"],
                metadata["segment_seconds"],
                output_dir=folder,
                formats=("tflite",),
            )
        # Forwarded: export_tagger's files, card included.
        self.assertEqual(
            read_card(os.path.join(folder, "legacy.json"))["classes"],
            VOCABULARY,
        )
        runner = Interpreter(paths["tflite"]).get_signature_runner()
        audio = np.zeros((1, SEGMENT), "float32")
        expected = tagger(metadata["frontend"](audio))
        self.assertAllClose(
            runner(audio=audio)["probabilities"], expected, atol=1e-5
        )
        with pytest.warns(DeprecationWarning, match="use `export_embedder`"):
            self.assertIsNone(embedder_metadata(model_path))
        encoder = keras.Sequential(
            [
                keras.Input((800,)),
                keras.layers.Reshape((800, 1)),
                keras.layers.GlobalAveragePooling1D(),
            ]
        )
        with pytest.warns(DeprecationWarning, match="use `export_embedder`"):
            out = export_embedder_for_serving(
                encoder, "enc", sample_rate=8000, output_dir=folder
            )
        self.assertEqual(out["saved_model"], os.path.join(folder, "enc", "1"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loaded = tf.saved_model.load(out["saved_model"])
        embedding = loaded.signatures["embed"](
            audio=tf.ones((1, 1200)), lengths=tf.constant([1200])
        )["embedding"]
        self.assertAllClose(embedding, [[1.0]], atol=1e-6)
