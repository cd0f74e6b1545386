"""`recipes/export.py` on a tiny trained-tagger folder, as
`recipes/maest.py` leaves it (subprocesses: absl flags are process-wide).
"""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

import keras_music  # noqa: F401  (sets the backend)
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.test_case import TestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "export.py")
ENV = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
VOCABULARY = ["piano", "violin", "drums"]
# maest_tiny's 66 frames: (66 - 1) * 256 samples at 16 kHz.
SEGMENT_SECONDS = 65 * 256 / 16000


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """`model.keras` and `results.json`, with the keys `recipes/maest.py`
    writes for an export."""
    folder = str(tmp_path_factory.mktemp("run"))
    keras.utils.set_random_seed(5)
    tagger = MAESTTagger(
        MAESTBackbone.from_preset("maest_tiny"), num_tags=len(VOCABULARY)
    )
    tagger.save(os.path.join(folder, "model.keras"))
    frontend = LogMelSpectrogram(
        sample_rate=16000, hop_length=256, normalize=True
    )
    results = {
        "preset": "maest_tiny",
        "vocabulary": VOCABULARY,
        "sample_rate": 16000,
        "segment_seconds": SEGMENT_SECONDS,
        "frontend": keras.saving.serialize_keras_object(frontend),
        "test": {"roc_auc": 0.5},
    }
    with open(os.path.join(folder, "results.json"), "w") as stream:
        json.dump(results, stream)
    return {"folder": folder, "tagger": tagger, "frontend": frontend}


def _run(*flags):
    return subprocess.run(
        [sys.executable, RECIPE, *flags],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )


class ExportRecipeTest(TestCase):
    @pytest.fixture(autouse=True)
    def _run_folder(self, run_folder):
        self.run_folder = run_folder

    def test_writes_the_formats_asked_for(self):
        model = os.path.join(self.run_folder["folder"], "model.keras")
        output = self.get_temp_dir()
        common = [f"--model={model}", "--name=tiny", f"--output_dir={output}"]

        saved = _run(*common, "--format=saved_model")
        self.assertEqual(saved.returncode, 0, saved.stderr[-3000:])
        self.assertIn("3 tags, 16000 Hz, 1.04 s segments", saved.stdout)
        self.assertIn(f"saved_model: {output}/tiny/1 (", saved.stdout)
        # Only the SavedModel: TF Serving's base folder with version 1.
        self.assertEqual(sorted(os.listdir(output)), ["tiny"])
        self.assertEqual(os.listdir(os.path.join(output, "tiny")), ["1"])
        version = os.path.join(output, "tiny", "1")
        for name in ("saved_model.pb", "variables", "README.md"):
            self.assertTrue(os.path.exists(os.path.join(version, name)), name)
        with open(os.path.join(version, "assets", "labels.txt")) as stream:
            self.assertEqual(stream.read().split(), VOCABULARY)

        tflite = _run(*common, "--format=tflite")
        self.assertEqual(tflite.returncode, 0, tflite.stderr[-3000:])
        self.assertNotIn("saved_model:", tflite.stdout)
        # No second SavedModel version; the TFLite model and its labels.
        self.assertEqual(os.listdir(os.path.join(output, "tiny")), ["1"])
        self.assertEqual(
            sorted(os.listdir(output)),
            ["tiny", "tiny.json", "tiny.labels.txt", "tiny.tflite"],
        )
        with open(os.path.join(output, "tiny.labels.txt")) as stream:
            self.assertEqual(stream.read().split(), VOCABULARY)
        # The frontend of results.json is inside: the TFLite model on a
        # raw segment gives the Keras tagger's output on its log-mels.
        clip = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 16640))
        clip = clip.astype("float32")
        runner = Interpreter(
            os.path.join(output, "tiny.tflite")
        ).get_signature_runner()
        tagger, frontend = (
            self.run_folder["tagger"],
            self.run_folder["frontend"],
        )
        # float32 kernels in another order (XNNPACK): 1e-4.
        self.assertAllClose(
            runner(audio=clip)["probabilities"],
            tagger(frontend(clip)),
            atol=1e-4,
        )

    def test_unknown_format_is_refused_before_loading(self):
        result = _run("--model=missing.keras", "--name=tiny", "--format=onnx")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(
            "--format must list one or more of saved_model, tflite",
            result.stderr,
        )

    def test_clear_error_without_metadata(self):
        # The model alone, without the results.json of its run.
        folder = self.get_temp_dir()
        model = os.path.join(folder, "model.keras")
        shutil.copy(
            os.path.join(self.run_folder["folder"], "model.keras"), model
        )
        output = os.path.join(folder, "saved_models")
        result = _run(
            f"--model={model}", "--name=tiny", f"--output_dir={output}"
        )
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(
            "No labels, sample_rate, segment_seconds for", result.stderr
        )
        self.assertIn(
            "(--labels FILE, --sample_rate, --segment)", result.stderr
        )
        self.assertNotIn("Traceback", result.stderr)
        self.assertFalse(os.path.exists(output))


@pytest.fixture(scope="module")
def encoder_folder(tmp_path_factory):
    """`encoder.keras` and `results.json` with the keys `recipes/s3t.py`
    writes: a raw-audio encoder, no tag names."""
    folder = str(tmp_path_factory.mktemp("encoder_run"))
    keras.utils.set_random_seed(6)
    audio = keras.Input((2000,), name="audio")
    x = keras.layers.Reshape((2000, 1))(audio)
    x = keras.layers.Conv1D(4, 50, strides=25, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    encoder = keras.Model(audio, keras.layers.Dense(6)(x), name="enc")
    encoder.save(os.path.join(folder, "encoder.keras"))
    results = {
        "sample_rate": 8000,
        "segment_seconds": 0.25,
        "encoder": "encoder.keras",
        "test": {"roc_auc": 0.5},
    }
    with open(os.path.join(folder, "results.json"), "w") as stream:
        json.dump(results, stream)
    return {"folder": folder, "encoder": encoder}


class ExportEncoderRecipeTest(TestCase):
    @pytest.fixture(autouse=True)
    def _encoder_folder(self, encoder_folder):
        self.encoder_folder = encoder_folder

    def test_exports_an_encoder_as_a_saved_model(self):
        model = os.path.join(self.encoder_folder["folder"], "encoder.keras")
        output = self.get_temp_dir()
        result = _run(
            f"--model={model}", "--name=enc", f"--output_dir={output}"
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        # The default formats hold tflite: an encoder gets the SavedModel.
        self.assertIn("exporting the SavedModel only", result.stdout)
        self.assertIn("encoder of 6-d embeddings, 8000 Hz", result.stdout)
        self.assertIn(f"saved_model: {output}/enc/1 (", result.stdout)
        self.assertEqual(sorted(os.listdir(output)), ["enc"])
        serve = tf.saved_model.load(os.path.join(output, "enc", "1"))
        x = np.random.default_rng(2).uniform(-0.5, 0.5, 3000)
        x = x.astype("float32")
        served = serve.signatures["embed"](
            audio=x[None], lengths=tf.constant([3000])
        )
        # 3000 samples: clips at 0 and 1000 (the last ends the track).
        clips = np.stack([x[:2000], x[1000:]])
        expected = np.asarray(self.encoder_folder["encoder"](clips))
        # The same float32 model, batched differently: 1e-5.
        self.assertAllClose(
            served["embedding"][0], expected.mean(axis=0), atol=1e-5
        )

    def test_encoder_errors_are_clear(self):
        folder = self.encoder_folder["folder"]
        output = self.get_temp_dir()
        tflite = _run(
            f"--model={os.path.join(folder, 'encoder.keras')}",
            "--name=enc",
            f"--output_dir={output}",
            "--format=tflite",
        )
        self.assertNotEqual(tflite.returncode, 0)
        self.assertIn("an encoder exports as saved_model only", tflite.stderr)
        self.assertNotIn("Traceback", tflite.stderr)
        self.assertEqual(os.listdir(output), [])


def _in_subprocess(code):
    result = subprocess.run(
        [sys.executable, "-c", code, RECIPE],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_help_imports_no_tensorflow():
    output = _in_subprocess(
        "import os, runpy, sys\n"
        "recipe = sys.argv[1]\n"
        "sys.path.insert(0, os.path.dirname(recipe))\n"
        "sys.argv = [recipe, '--help']\n"
        "try:\n"
        "    runpy.run_path(recipe, run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    print('exit', exit.code)\n"
        "heavy = ('tensorflow', 'keras', 'keras_music')\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "print('heavy', sorted(heavy)[:5])\n"
    )
    assert "--model: A trained tagger or encoder" in output
    assert "exit 1" in output  # absl's --help
    assert "heavy []" in output


def test_formats_named_in_the_recipe_are_the_library_s():
    output = _in_subprocess(
        "import os, runpy, sys\n"
        "sys.path.insert(0, os.path.dirname(sys.argv[1]))\n"
        "recipe = runpy.run_path(sys.argv[1])\n"
        "from keras_music.export.tagger import FORMATS\n"
        "print(tuple(recipe['FORMATS']) == FORMATS)\n"
    )
    assert output.split() == ["True"]
