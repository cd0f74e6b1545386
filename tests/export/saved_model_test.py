"""The TF Serving export of a tiny MAEST tagger, exported once."""

import base64
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from keras_music.evaluation.embedding_cache import segment_sums
from keras_music.evaluation.segment_encoder import maest_segment_encoder
from keras_music.export.saved_model import export_saved_model
from keras_music.export.serving_graph import ServingGraph
from keras_music.export.serving_graph import default_frontend
from keras_music.layers.resample import resample
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.test_case import TestCase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
README = os.path.join(ROOT, "saved_models", "README.md")
VOCABULARY = ["piano", "violin", "flute", "drums", "voice"]
SEGMENT = 16640  # maest_tiny: 65 hops of 256 samples, 66 frames
PATCHOUT = (2, (0,))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tf.keras.utils.set_random_seed(3)
    tagger = MAESTTagger(MAESTBackbone.from_preset("maest_tiny"), num_tags=5)
    base = str(tmp_path_factory.mktemp("saved_models") / "tiny_tagger")
    # An earlier version: the export must become version 4.
    os.makedirs(os.path.join(base, "3"))
    path = export_saved_model(
        tagger,
        base,
        vocabulary=VOCABULARY,
        inference_time_stride=PATCHOUT[0],
        inference_freq_drop=PATCHOUT[1],
    )
    restored = (
        tagger.backbone.inference_time_stride,
        tuple(tagger.backbone.inference_freq_drop),
    )
    # The reference computations below use the exported patchout.
    tagger.set_inference_patchout(*PATCHOUT)
    return {
        "tagger": tagger,
        "base": base,
        "path": path,
        "loaded": tf.saved_model.load(path),
        "restored": restored,
    }


def _segments(x):
    """The dataset's rule, in NumPy: pad to a segment, hop half a segment,
    the last segment ending with the track."""
    x = np.pad(x, (0, max(0, SEGMENT - len(x))))
    last = len(x) - SEGMENT
    starts = list(range(0, last + 1, SEGMENT // 2))
    if starts[-1] < last:
        starts.append(last)
    return np.stack([x[s : s + SEGMENT] for s in starts])


def _keras_track_tags(tagger, x):
    frontend = default_frontend(tagger)
    return np.asarray(tagger(frontend(_segments(x)))).mean(axis=0)


def _padded(tracks):
    width = max(len(t) for t in tracks)
    audio = np.zeros((len(tracks), width), "float32")
    for i, t in enumerate(tracks):
        audio[i, : len(t)] = t
    return audio, np.asarray([len(t) for t in tracks], "int32")


def _tracks(seed=0, lengths=(40000, 9000, 16640, 25000)):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-0.5, 0.5, n).astype("float32") for n in lengths]


def _wav_bytes(x, rate):
    stream = io.BytesIO()
    soundfile.write(stream, x, rate, format="WAV", subtype="PCM_16")
    return stream.getvalue()


class SavedModelExportTest(TestCase):
    @pytest.fixture(autouse=True)
    def _exported(self, exported):
        self.exported = exported

    def serve(self, name="serving_default", **inputs):
        signature = self.exported["loaded"].signatures[name]
        return {k: v.numpy() for k, v in signature(**inputs).items()}

    def test_layout_version_assets_and_readme(self):
        base, path = self.exported["base"], self.exported["path"]
        self.assertEqual(path, os.path.join(base, "4"))
        # Nothing else: the temporary folder is gone.
        self.assertEqual(sorted(os.listdir(base)), ["3", "4"])
        self.assertTrue(os.path.isfile(os.path.join(path, "saved_model.pb")))
        self.assertTrue(os.path.isdir(os.path.join(path, "variables")))
        with open(os.path.join(path, "assets", "labels.txt")) as stream:
            self.assertEqual(stream.read().split("\n")[:-1], VOCABULARY)
        with open(os.path.join(path, "README.md")) as stream:
            readme = stream.read()
        for name in ("serving_default", "embed", "tag_wav", "block_2"):
            self.assertIn(f"`{name}`", readme)
        self.assertEqual(
            set(self.exported["loaded"].signatures),
            {
                "serving_default",
                "embed",
                "tag_wav",
                "segment_tokens",
                "serving_mel",
                "metadata",
            },
        )
        # The export's patchout did not stay on the model.
        self.assertEqual(self.exported["restored"], (1, ()))

    def test_version_errors(self):
        tagger = self.exported["tagger"]
        with pytest.raises(ValueError, match="`version` 4 already exists"):
            export_saved_model(tagger, self.exported["base"], version=4)
        with pytest.raises(ValueError, match="`version` must be a positive"):
            export_saved_model(tagger, self.exported["base"], version=0)
        with pytest.raises(ValueError, match="`vocabulary` must name the"):
            export_saved_model(
                tagger, self.exported["base"], vocabulary=["a", "b"]
            )
        with pytest.raises(ValueError, match="without line breaks"):
            export_saved_model(
                tagger, self.exported["base"], vocabulary=["a\nb"] * 5
            )
        self.assertEqual(sorted(os.listdir(self.exported["base"])), ["3", "4"])

    def test_graph_has_only_core_ops(self):
        model = saved_model_pb2.SavedModel()
        with open(
            os.path.join(self.exported["path"], "saved_model.pb"), "rb"
        ) as f:
            model.ParseFromString(f.read())
        graph = model.meta_graphs[0].graph_def
        functions = {f.signature.name for f in graph.library.function}
        ops = {node.op for node in graph.node}
        for function in graph.library.function:
            ops |= {node.op for node in function.node_def}
        ops -= functions
        self.assertIn("RFFT", ops)  # the frontend is inside
        forbidden = {"PyFunc", "PyFuncStateless", "EagerPyFunc"} & ops
        self.assertEqual(forbidden, set())
        # A custom op is one the core TensorFlow registry does not know.
        custom = {op for op in ops if op_def_registry.get(op) is None}
        self.assertEqual(custom, set())

    def test_matches_keras_model_on_a_padded_batch(self):
        tracks = _tracks()
        audio, lengths = _padded(tracks)
        # Whatever the padding holds, it is ignored.
        audio[1, lengths[1] :] = 7.0
        outputs = self.serve(audio=audio, lengths=lengths)
        self.assertEqual(outputs["probabilities"].shape, (4, 5))
        self.assertEqual(outputs["embedding"].shape, (4, 96))
        expected = [
            _keras_track_tags(self.exported["tagger"], t) for t in tracks
        ]
        # float32, same ops in another batch composition: 1e-5.
        self.assertAllClose(
            outputs["probabilities"], np.stack(expected), atol=1e-5
        )

    # Large: the same agreement as `test_matches_keras_model_on_a_padded_
    # batch`, reached through the evaluation pipeline; the segmenting rule
    # it shares with the reader is checked in serving_graph_test.
    @pytest.mark.large
    def test_matches_segment_sums_on_a_dataset(self):
        # float16 storage: the audio below is exactly what the reader
        # gives back.
        tracks = [t.astype("float16") for t in _tracks(1, (30000, 5000))]
        directory = os.path.join(self.get_temp_dir(), "data")
        write_tfrecords(
            [0, 1],
            lambda i: Track(f"t{i}", tracks[i].astype("float32"), 16000, {}),
            directory,
            tasks={},
            sample_rate=16000,
            audio_format="float16",
            progress=False,
        )
        tagger = self.exported["tagger"]
        frontend = default_frontend(tagger)
        sums, counts = segment_sums(
            lambda audio, training: tagger(frontend(audio), training=training),
            directory,
            SEGMENT / 16000,
        )
        audio, lengths = _padded([t.astype("float32") for t in tracks])
        outputs = self.serve(audio=audio, lengths=lengths)
        for i in range(2):
            # float64 sums vs float32 means of the same float32 outputs.
            self.assertAllClose(
                outputs["probabilities"][i],
                sums[f"t{i}"] / counts[f"t{i}"],
                atol=1e-5,
            )

    def test_embed_matches_the_segment_encoder(self):
        tracks = _tracks(2, (20000, 12000))
        audio, lengths = _padded(tracks)
        outputs = self.serve("embed", audio=audio, lengths=lengths)
        self.assertEqual(sorted(outputs), ["block_1", "block_2"])
        tagger = self.exported["tagger"]
        encoder = maest_segment_encoder(
            tagger.backbone, 1, "stack", default_frontend(tagger)
        )
        expected = [np.asarray(encoder(_segments(t))).mean(0) for t in tracks]
        self.assertAllClose(outputs["block_1"], np.stack(expected), atol=1e-5)

    def test_saved_model_cli_show_and_run(self):
        path = self.exported["path"]
        folder = self.get_temp_dir()
        tracks = _tracks(3, (20000, 8000))
        audio, lengths = _padded(tracks)
        np.save(os.path.join(folder, "audio.npy"), audio)
        np.save(os.path.join(folder, "lengths.npy"), lengths)
        cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
        # Both at once: each spends most of its time importing TensorFlow.
        show = subprocess.Popen(
            cli + ["show", "--dir", path, "--all"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        run = subprocess.Popen(
            cli
            + ["run", "--dir", path, "--tag_set", "serve"]
            + ["--signature_def", "serving_default", "--inputs"]
            + [f"audio={folder}/audio.npy;lengths={folder}/lengths.npy"]
            + ["--outdir", folder],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        show_out, show_err = show.communicate(timeout=180)
        _, run_err = run.communicate(timeout=180)
        self.assertEqual(show.returncode, 0, show_err[-2000:])
        for name in ("serving_default", "embed", "tag_wav", "probabilities"):
            self.assertIn(name, show_out)
        self.assertEqual(run.returncode, 0, run_err[-2000:])
        probabilities = np.load(os.path.join(folder, "probabilities.npy"))
        expected = [
            _keras_track_tags(self.exported["tagger"], t) for t in tracks
        ]
        self.assertAllClose(probabilities, np.stack(expected), atol=1e-5)

    def test_bad_requests_fail_clearly(self):
        good = np.zeros((1, 100), "float32")
        nan = good.copy()
        nan[0, 5] = np.nan
        cases = [
            (np.zeros(100, "float32"), [100], "must be \\(batch, samples\\)"),
            (np.zeros((1, 2, 3), "float32"), [3], "received rank.*3"),
            (np.zeros((0, 100), "float32"), np.zeros(0, "int32"), "empty"),
            (np.zeros((1, 0), "float32"), [0], "empty"),
            (good, [0], "lengths must be positive"),
            (good, [101], "lengths must be at most"),
            (good, [50, 50], "one length per row"),
            (nan, [100], "NaN or infinite"),
        ]
        for audio, lengths, message in cases:
            with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                self.serve(
                    audio=tf.constant(audio),
                    lengths=tf.constant(lengths, tf.int32),
                )
        # NaN in the padding is ignored.
        self.serve(audio=nan, lengths=tf.constant([5]))
        with pytest.raises(tf.errors.InvalidArgumentError, match="float"):
            # A tensor keeps its dtype (a NumPy array would be cast).
            self.serve(
                audio=tf.constant(good, tf.float64), lengths=tf.constant([1])
            )
        with pytest.raises(tf.errors.InvalidArgumentError, match="RIFF/WAVE"):
            self.serve("tag_wav", wav=tf.constant([b"not a wav file"]))
        with pytest.raises(tf.errors.InvalidArgumentError, match="at least"):
            self.serve("tag_wav", wav=tf.constant([], tf.string))

    def test_tag_wav_decodes_and_resamples(self):
        rng = np.random.default_rng(4)
        x = np.round(rng.uniform(-0.5, 0.5, 20000) * 32768) / 32768
        x = x.astype("float32")
        direct = self.serve(audio=x[None], lengths=tf.constant([len(x)]))
        wav = self.serve("tag_wav", wav=tf.constant([_wav_bytes(x, 16000)]))
        # 16-bit PCM of the same values: decoded exactly.
        self.assertAllClose(
            wav["probabilities"], direct["probabilities"], atol=1e-5
        )
        # A stereo 8 kHz file: channels averaged, then resampled; the
        # reference resamples with the library's resampler, eagerly.
        y = np.round(rng.uniform(-0.4, 0.4, (6000, 2)) * 32768) / 32768
        wav = self.serve("tag_wav", wav=tf.constant([_wav_bytes(y, 8000)]))
        mono = resample(y.mean(axis=1).astype("float32"), 8000, 16000)
        expected = _keras_track_tags(self.exported["tagger"], mono.numpy())
        # The same float32 ops in the graph and eagerly: 1e-4.
        self.assertAllClose(wav["probabilities"][0], expected, atol=1e-4)

    def test_readme_requests_run_as_tf_serving_decodes_them(self):
        with open(README) as stream:
            bodies = re.findall(r"```json\n(.*?)```", stream.read(), re.S)
        self.assertEqual(len(bodies), 3)
        loaded = self.exported["loaded"]
        for body in map(json.loads, bodies):
            name = body.get("signature_name", "serving_default")
            signature = loaded.signatures[name]
            inputs = _tf_serving_inputs(body, signature)
            outputs = signature(**inputs)
            batch = next(iter(inputs.values())).shape[0]
            for value in outputs.values():
                self.assertEqual(value.shape[0], batch)
            if "audio" in inputs:
                audio, lengths = inputs["audio"].numpy(), inputs["lengths"]
                tracks = [a[:n] for a, n in zip(audio, lengths.numpy())]
                if name == "serving_default":
                    expected = [
                        _keras_track_tags(self.exported["tagger"], t)
                        for t in tracks
                    ]
                    self.assertAllClose(
                        outputs["probabilities"], np.stack(expected), atol=1e-5
                    )
            else:
                self.assertEqual(outputs["probabilities"].shape, (1, 5))


def _tf_serving_inputs(body, signature):
    """A REST `:predict` body as TF Serving turns it into input tensors:
    `instances` (row format: one object per batch item, or bare values
    for a one-input signature) are stacked along a new batch axis;
    `inputs` (columnar) are taken as they are; `{"b64": ...}` is bytes;
    numbers take the signature's dtype."""
    specs = signature.structured_input_signature[1]

    def value(v):
        if isinstance(v, dict) and set(v) == {"b64"}:
            return base64.b64decode(v["b64"])
        if isinstance(v, list):
            return [value(item) for item in v]
        return v

    if "instances" in body:
        rows = body["instances"]
        if not all(isinstance(r, dict) and set(r) != {"b64"} for r in rows):
            (only,) = specs
            rows = [{only: r} for r in rows]
        columns = {name: [value(r[name]) for r in rows] for name in specs}
    else:
        columns = body["inputs"]
        if not isinstance(columns, dict):
            (only,) = specs
            columns = {only: columns}
        columns = {name: value(v) for name, v in columns.items()}
    return {
        name: tf.constant(columns[name], dtype=spec.dtype)
        for name, spec in specs.items()
    }


class ServingGraphResampleOffTest(TestCase):
    def test_refuses_other_rates_without_resampling(self):
        tagger = MAESTTagger(
            MAESTBackbone.from_preset("maest_tiny"), num_tags=2
        )
        graph = ServingGraph(tagger, resample_wav=False)
        wav = _wav_bytes(np.zeros(800, "float32"), 8000)
        # The decoding step `tag_wav` maps over each file, run eagerly:
        # the same check without tracing the tagger.
        with pytest.raises(tf.errors.InvalidArgumentError, match="16000 Hz"):
            graph._decode_wav(tf.constant(wav))
        same_rate = _wav_bytes(np.full(800, 0.5, "float32"), 16000)
        self.assertAllClose(graph._decode_wav(tf.constant(same_rate)), 0.5)
