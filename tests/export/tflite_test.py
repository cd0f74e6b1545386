import os

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from keras_music.export.serving_export import export_for_serving
from keras_music.export.serving_graph import default_frontend
from keras_music.export.tflite import export_tflite
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.test_case import TestCase

SEGMENT = 16640  # maest_tiny's segment at 16 kHz


@pytest.fixture(scope="module")
def tagged(tmp_path_factory):
    """A tiny tagger, its Keras outputs on six clips and its float32
    TFLite export, built once for the module."""
    # The seed of `TestCase.setUp`: the weights the agreement below was
    # measured with.
    keras.utils.set_random_seed(1337)
    tagger = MAESTTagger(MAESTBackbone.from_preset("maest_tiny"), num_tags=8)
    rng = np.random.default_rng(0)
    clips = rng.uniform(-0.5, 0.5, (6, SEGMENT)).astype("float32")
    expected = np.asarray(tagger(default_frontend(tagger)(clips)))
    folder = tmp_path_factory.mktemp("tflite")
    return {
        "tagger": tagger,
        "clips": clips,
        "expected": expected,
        "folder": str(folder),
        "float32": export_tflite(tagger, str(folder / "m.tflite")),
    }


class TFLiteExportTest(TestCase):
    @pytest.fixture(autouse=True)
    def _tagged(self, tagged):
        self.tagger = tagged["tagger"]
        self.clips = tagged["clips"]
        self.expected = tagged["expected"]
        self.tagged = tagged

    def run_tflite(self, path):
        interpreter = Interpreter(path)
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        runner = interpreter.get_signature_runner()
        outputs = [runner(audio=clip[None]) for clip in self.clips]
        return ops, np.concatenate([o["probabilities"] for o in outputs])

    def test_float32_matches_keras_with_builtin_ops(self):
        ops, probabilities = self.run_tflite(self.tagged["float32"])
        # The frontend is inside, on the builtin RFFT2D; no select TF ops
        # (they would show as FlexXxx custom ops).
        self.assertIn("RFFT2D", ops)
        self.assertFalse([op for op in ops if op.startswith("Flex")])
        self.assertNotIn("CUSTOM", ops)
        # float32 kernels in another order (XNNPACK): 1e-4.
        self.assertAllClose(probabilities, self.expected, atol=1e-4)

    def test_quantized_keeps_the_top_tags(self):
        for quantization in ("float16", "dynamic_range"):
            path = export_tflite(
                self.tagger,
                f"{self.tagged['folder']}/m.{quantization}.tflite",
                quantization=quantization,
            )
            _, probabilities = self.run_tflite(path)
            top = np.argsort(-probabilities, axis=1)[:, :3]
            expected = np.argsort(-self.expected, axis=1)[:, :3]
            # The top tag agrees on every clip; of the top-3 sets, 17 of
            # 18 entries agreed when measured (dynamic range swaps a
            # near-tie at rank 3 on one clip; float16 agrees on all).
            self.assertAllEqual(top[:, 0], expected[:, 0])
            agreement = np.mean(
                [len(set(a) & set(b)) / 3 for a, b in zip(top, expected)]
            )
            self.assertGreaterEqual(agreement, 16 / 18, quantization)

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="`quantization` must be one"):
            export_tflite(self.tagger, "m.tflite", quantization="int4")
        with pytest.raises(ValueError, match="`path` must end in"):
            export_tflite(self.tagger, "m.bin")
        with pytest.raises(ValueError, match="`model` must be a `MAESTTagger`"):
            export_tflite(self.tagger.backbone, "m.tflite")


def test_an_existing_file_is_kept_unless_overwrite(tagged, tmp_path):
    path = str(tmp_path / "m.tflite")
    with open(path, "wb") as stream:
        stream.write(b"an earlier model")
    with pytest.raises(ValueError, match=rf"`path` {path} exists.*overwrite"):
        export_tflite(tagged["tagger"], path)
    with open(path, "rb") as stream:
        assert stream.read() == b"an earlier model"
    assert export_tflite(tagged["tagger"], path, overwrite=True) == path
    with open(path, "rb") as stream:
        assert stream.read() != b"an earlier model"


def test_a_failed_overwrite_keeps_the_earlier_file(
    tagged, tmp_path, monkeypatch
):
    path = tmp_path / "m.tflite"
    path.write_bytes(b"an earlier model")

    def failing_export(model, filepath, **kwargs):
        with open(filepath, "wb") as stream:
            stream.write(b"half a flatbuffer")
        raise RuntimeError("converter failed")

    monkeypatch.setattr(keras.Model, "export", failing_export)
    with pytest.raises(RuntimeError, match="converter failed"):
        export_tflite(tagged["tagger"], str(path), overwrite=True)
    # The earlier model, whole; no partial file, no card.
    assert path.read_bytes() == b"an earlier model"
    assert os.listdir(tmp_path) == ["m.tflite"]


def test_serving_export_refuses_before_writing_anything(tagged, tmp_path):
    existing = tmp_path / "tagger.float16.tflite"
    existing.write_bytes(b"an earlier model")
    with pytest.raises(ValueError, match=rf"`path` {existing} exists"):
        export_for_serving(
            tagged["tagger"],
            "tagger",
            [str(i) for i in range(8)],
            frontend=default_frontend(tagged["tagger"]),
            segment_seconds=1.04,
            output_dir=str(tmp_path),
            quantizations=(None, "float16"),
        )
    # Not the SavedModel, nor the float32 variant listed first.
    assert sorted(os.listdir(tmp_path)) == ["tagger.float16.tflite"]
