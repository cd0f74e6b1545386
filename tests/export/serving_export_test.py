"""What an export reads from a run folder, and the argument checks of
`export_for_serving` (its exports are run by tests/recipes/export_test.py).
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.export.serving_export import embedder_metadata
from keras_music.export.serving_export import export_embedder_for_serving
from keras_music.export.serving_export import export_for_serving
from keras_music.export.serving_export import export_size
from keras_music.export.serving_export import serving_metadata
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.test_case import TestCase


class ServingMetadataTest(TestCase):
    def write_run(self, **results):
        folder = self.get_temp_dir()
        with open(os.path.join(folder, "results.json"), "w") as stream:
            json.dump(results, stream)
        return os.path.join(folder, "model.keras")

    def test_reads_results_json(self):
        frontend = LogMelSpectrogram(
            sample_rate=16000, hop_length=256, n_mels=64, normalize=True
        )
        model = self.write_run(
            vocabulary=["a", "b"],
            sample_rate=16000,
            segment_seconds=30,
            frontend=keras.saving.serialize_keras_object(frontend),
            test={"roc_auc": 0.5},
        )
        metadata = serving_metadata(model)
        self.assertEqual(metadata["vocabulary"], ["a", "b"])
        self.assertEqual(metadata["sample_rate"], 16000)
        self.assertEqual(metadata["segment_seconds"], 30)
        self.assertEqual(
            metadata["frontend"].get_config(), frontend.get_config()
        )

    def test_arguments_override_results_json(self):
        frontend = LogMelSpectrogram(sample_rate=16000, n_mels=64)
        model = self.write_run(
            vocabulary=["a", "b"],
            sample_rate=16000,
            segment_seconds=30,
            frontend=keras.saving.serialize_keras_object(frontend),
        )
        labels = os.path.join(os.path.dirname(model), "labels.txt")
        with open(labels, "w") as stream:
            stream.write("x\n\ny\nz\n")
        metadata = serving_metadata(
            model, labels=labels, sample_rate=22050, segment_seconds=10.0
        )
        self.assertEqual(metadata["vocabulary"], ["x", "y", "z"])
        self.assertEqual(metadata["segment_seconds"], 10.0)
        # The run's frontend, moved to the new rate.
        self.assertEqual(metadata["frontend"].sample_rate, 22050)
        self.assertEqual(metadata["frontend"].n_mels, 64)

    def test_without_results_json_the_arguments_suffice(self):
        model = os.path.join(self.get_temp_dir(), "model.keras")
        metadata = serving_metadata(
            model, labels=["a"], sample_rate=16000, segment_seconds=5
        )
        # MAEST's frontend at that rate.
        frontend = metadata["frontend"]
        self.assertEqual(
            (frontend.sample_rate, frontend.hop_length, frontend.normalize),
            (16000, 256, True),
        )

    def test_errors(self):
        model = os.path.join(self.get_temp_dir(), "model.keras")
        with pytest.raises(
            ValueError, match="No labels, sample_rate, segment_seconds"
        ):
            serving_metadata(model)
        with pytest.raises(ValueError, match="there is no results.json"):
            serving_metadata(model, labels=["a"], sample_rate=16000)
        # A results.json without the export's keys (an older run).
        with open(
            os.path.join(os.path.dirname(model), "results.json"), "w"
        ) as f:
            json.dump({"test": {"roc_auc": 0.5}}, f)
        with pytest.raises(
            ValueError, match="No segment_seconds for .*does not give them"
        ):
            serving_metadata(model, labels=["a"], sample_rate=16000)
        with pytest.raises(ValueError, match="`sample_rate` must be a posi"):
            serving_metadata(
                model, labels=["a"], sample_rate=-1, segment_seconds=5
            )
        with pytest.raises(ValueError, match="`segment_seconds` must be a"):
            serving_metadata(
                model, labels=["a"], sample_rate=16000, segment_seconds=-5
            )


class ExportForServingTest(TestCase):
    def test_argument_errors(self):
        tagger = MAESTTagger(
            MAESTBackbone.from_preset("maest_tiny"), num_tags=1
        )
        frontend = LogMelSpectrogram()
        output = self.get_temp_dir()

        def export(**kwargs):
            arguments = {
                "name": "m",
                "vocabulary": ["a"],
                "frontend": frontend,
                "segment_seconds": 1.04,
                "output_dir": output,
                **kwargs,
            }
            export_for_serving(tagger, **arguments)

        for formats in (["onnx"], []):
            with pytest.raises(ValueError, match="`formats` must be a non"):
                export(formats=formats)
        for quantizations in (["int4"], []):
            with pytest.raises(ValueError, match="`quantizations` must be"):
                export(quantizations=quantizations)
        for name in ("", "a/b", ".."):
            with pytest.raises(ValueError, match="`name` must be a folder"):
                export(name=name)
        with pytest.raises(ValueError, match="precision='float16'"):
            export(precision="float16")
        # Refused before anything was written.
        self.assertEqual(os.listdir(output), [])

    def test_bfloat16_saved_model(self):
        tagger = MAESTTagger(
            MAESTBackbone.from_preset("maest_tiny"), num_tags=2
        )
        frontend = LogMelSpectrogram(hop_length=256, normalize=True)
        audio = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 16640))
        audio = audio.astype("float32")
        outputs = {}
        for precision in ("float32", "bfloat16"):
            paths = export_for_serving(
                tagger,
                precision,
                ["a", "b"],
                frontend=frontend,
                segment_seconds=1.04,
                output_dir=self.get_temp_dir(),
                formats=("saved_model",),
                precision=precision,
            )
            serve = tf.saved_model.load(paths["saved_model"])
            signature = serve.signatures["serving_default"]
            outputs[precision] = signature(
                audio=tf.constant(audio), lengths=tf.constant([16640])
            )["probabilities"].numpy()
        # The tagger itself stays float32; the export computes in
        # bfloat16 (8-bit mantissa): sigmoid outputs move by under 0.05
        # on the tiny model, but do move.
        self.assertEqual(
            tagger.backbone.patch_embedding.compute_dtype, "float32"
        )
        difference = np.abs(outputs["bfloat16"] - outputs["float32"]).max()
        self.assertLess(difference, 0.05)
        self.assertGreater(difference, 0)

    def test_export_size(self):
        folder = self.get_temp_dir()
        os.makedirs(os.path.join(folder, "variables"))
        with open(os.path.join(folder, "saved_model.pb"), "wb") as stream:
            stream.write(b"x" * 100)
        path = os.path.join(folder, "variables", "data")
        with open(path, "wb") as stream:
            stream.write(b"x" * 23)
        self.assertEqual(export_size(folder), 123)
        self.assertEqual(export_size(path), 23)


class EmbedderMetadataTest(TestCase):
    def write_run(self, model_name, **results):
        folder = self.get_temp_dir()
        with open(os.path.join(folder, "results.json"), "w") as stream:
            json.dump(results, stream)
        return os.path.join(folder, model_name)

    def test_the_rule_that_makes_an_encoder(self):
        s3t = {"sample_rate": 22050, "segment_seconds": 4.0}
        # What recipes/s3t.py writes: the file named under `encoder`.
        model = self.write_run("encoder.keras", encoder="encoder.keras", **s3t)
        self.assertEqual(
            embedder_metadata(model),
            {"sample_rate": 22050, "segment_seconds": 4.0},
        )
        self.assertEqual(
            embedder_metadata(model, sample_rate=16000, segment_seconds=2.0),
            {"sample_rate": 16000, "segment_seconds": 2.0},
        )
        # Another file of that run (MoCo's best.keras) is no encoder.
        best = os.path.join(os.path.dirname(model), "best.keras")
        self.assertIsNone(embedder_metadata(best))
        # Tag names make a tagger; no results.json, no encoder.
        tagger = self.write_run(
            "encoder.keras", encoder="encoder.keras", vocabulary=["a"], **s3t
        )
        self.assertIsNone(embedder_metadata(tagger))
        alone = os.path.join(self.get_temp_dir(), "encoder.keras")
        self.assertIsNone(embedder_metadata(alone))

    def test_errors(self):
        model = self.write_run("encoder.keras", encoder="encoder.keras")
        with pytest.raises(ValueError, match="No sample_rate for .*encoder"):
            embedder_metadata(model)
        with pytest.raises(ValueError, match="`sample_rate` must be a posi"):
            embedder_metadata(model, sample_rate=-1)
        audio = keras.Input((100,))
        encoder = keras.Model(audio, keras.layers.Dense(2)(audio))
        with pytest.raises(ValueError, match="`name` must be a folder"):
            export_embedder_for_serving(encoder, "a/b", 8000)
        frames = keras.Input((100, 1))
        sequence = keras.Model(frames, keras.layers.Dense(2)(frames))
        output = self.get_temp_dir()
        with pytest.raises(ValueError, match="must take raw audio segments"):
            export_embedder_for_serving(
                sequence, "enc", 8000, output_dir=output
            )
        # Refused before anything is written.
        self.assertEqual(os.listdir(output), [])
