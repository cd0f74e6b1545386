"""The TF Serving export of a tiny raw-audio encoder, exported once."""

import io
import os

import keras
import numpy as np
import pytest
import soundfile
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

from keras_music.export.embedder_serving_graph import EmbedderServingGraph
from keras_music.export.saved_model import export_embedder_saved_model
from keras_music.layers.resample import resample
from tests.test_case import TestCase

SAMPLE_RATE = 8000
SEGMENT = 4000  # 0.5 s at 8 kHz
WIDTH = 16


def _tiny_encoder(segment=SEGMENT):
    """Raw audio -> embedding with a learned Conv1D frontend, the shape of
    contract of S3T's `encoder.keras` and SampleCNN."""
    audio = keras.Input((segment,), name="audio")
    x = keras.layers.Reshape((segment, 1))(audio)
    x = keras.layers.Conv1D(8, 64, strides=32, activation="relu")(x)
    x = keras.layers.Conv1D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(audio, keras.layers.Dense(WIDTH)(x), name="tiny_enc")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(7)
    encoder = _tiny_encoder()
    base = str(tmp_path_factory.mktemp("saved_models") / "tiny_encoder")
    path = export_embedder_saved_model(
        encoder, base, sample_rate=SAMPLE_RATE, batch_size=3
    )
    return {
        "encoder": encoder,
        "base": base,
        "path": path,
        "loaded": tf.saved_model.load(path),
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


def _keras_track_embedding(encoder, x):
    return np.asarray(encoder(_segments(x))).mean(axis=0)


def _wav_bytes(x, rate):
    stream = io.BytesIO()
    soundfile.write(stream, x, rate, format="WAV", subtype="PCM_16")
    return stream.getvalue()


class EmbedderSavedModelTest(TestCase):
    @pytest.fixture(autouse=True)
    def _exported(self, exported):
        self.exported = exported

    def serve(self, name="serving_default", **inputs):
        signature = self.exported["loaded"].signatures[name]
        return {k: v.numpy() for k, v in signature(**inputs).items()}

    def test_layout_signatures_and_readme(self):
        base, path = self.exported["base"], self.exported["path"]
        self.assertEqual(path, os.path.join(base, "1"))
        # Nothing else: the temporary folder is gone.
        self.assertEqual(os.listdir(base), ["1"])
        self.assertTrue(os.path.isfile(os.path.join(path, "saved_model.pb")))
        self.assertTrue(os.path.isdir(os.path.join(path, "variables")))
        # An encoder has no tag names: no labels asset.
        assets = os.path.join(path, "assets")
        self.assertEqual(
            os.listdir(assets) if os.path.isdir(assets) else [], []
        )
        with open(os.path.join(path, "README.md")) as stream:
            readme = stream.read()
        for name in ("serving_default", "embed", "embed_wav", "embedding"):
            self.assertIn(f"`{name}`", readme)
        self.assertIn(f"{SEGMENT} samples", readme)
        self.assertEqual(
            set(self.exported["loaded"].signatures),
            {"serving_default", "embed", "embed_wav"},
        )
        outputs = self.exported["loaded"].signatures["embed"].structured_outputs
        self.assertEqual(set(outputs), {"embedding"})
        self.assertEqual(outputs["embedding"].shape.as_list(), [None, WIDTH])

    def test_next_version_and_version_errors(self):
        encoder = self.exported["encoder"]
        base = self.exported["base"]
        with pytest.raises(ValueError, match="`version` 1 already exists"):
            export_embedder_saved_model(encoder, base, SAMPLE_RATE, version=1)
        with pytest.raises(ValueError, match="`version` must be a positive"):
            export_embedder_saved_model(encoder, base, SAMPLE_RATE, version=0)
        # A model that is not an encoder leaves no folder behind.
        audio = keras.Input((SEGMENT,))
        with pytest.raises(ValueError, match="`model` must give one"):
            export_embedder_saved_model(
                keras.Model(audio, keras.layers.Reshape((40, 100))(audio)),
                os.path.join(base, "..", "not_written"),
                SAMPLE_RATE,
            )
        self.assertFalse(
            os.path.exists(os.path.join(base, "..", "not_written"))
        )

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
        self.assertIn("Conv2D", ops)  # the encoder is inside
        self.assertIn("DecodeWav", ops)
        forbidden = {"PyFunc", "PyFuncStateless", "EagerPyFunc"} & ops
        self.assertEqual(forbidden, set())
        # A custom op is one the core TensorFlow registry does not know.
        custom = {op for op in ops if op_def_registry.get(op) is None}
        self.assertEqual(custom, set())

    def test_matches_keras_encoder_on_a_padded_batch(self):
        rng = np.random.default_rng(0)
        # Shorter than, equal to and longer than a segment, with a last
        # segment off the hop grid; batch_size 3 splits the 9 segments
        # over several steps of the graph's loop.
        lengths = [2500, 4000, 9100]
        tracks = [rng.uniform(-0.5, 0.5, n).astype("float32") for n in lengths]
        audio = np.full((3, max(lengths)), 7.0, "float32")  # padding
        for i, t in enumerate(tracks):
            audio[i, : len(t)] = t
        lengths = tf.constant(lengths, tf.int32)
        expected = np.stack(
            [
                _keras_track_embedding(self.exported["encoder"], t)
                for t in tracks
            ]
        )
        for name in ("serving_default", "embed"):
            got = self.serve(name, audio=audio, lengths=lengths)
            self.assertEqual(got["embedding"].shape, (3, WIDTH))
            # The same float32 ops, batched differently: 1e-5.
            self.assertAllClose(got["embedding"], expected, atol=1e-5)

    def test_embed_wav_decodes_and_resamples(self):
        rng = np.random.default_rng(4)
        x = np.round(rng.uniform(-0.5, 0.5, 6000) * 32768) / 32768
        x = x.astype("float32")
        direct = self.serve(audio=x[None], lengths=tf.constant([len(x)]))
        wav = self.serve(
            "embed_wav", wav=tf.constant([_wav_bytes(x, SAMPLE_RATE)])
        )
        # 16-bit PCM of the same values: decoded exactly.
        self.assertAllClose(wav["embedding"], direct["embedding"], atol=1e-5)
        # A stereo 16 kHz file: channels averaged, then resampled; the
        # reference resamples with the library's resampler, eagerly.
        y = np.round(rng.uniform(-0.4, 0.4, (10000, 2)) * 32768) / 32768
        wav = self.serve("embed_wav", wav=tf.constant([_wav_bytes(y, 16000)]))
        mono = resample(y.mean(axis=1).astype("float32"), 16000, SAMPLE_RATE)
        expected = _keras_track_embedding(
            self.exported["encoder"], mono.numpy()
        )
        # The same float32 ops in the graph and eagerly: 1e-4.
        self.assertAllClose(wav["embedding"][0], expected, atol=1e-4)

    def test_bad_requests_fail_clearly(self):
        good = np.zeros((1, 100), "float32")
        nan = good.copy()
        nan[0, 5] = np.nan
        cases = [
            (np.zeros(100, "float32"), [100], "must be \\(batch, samples\\)"),
            (np.zeros((0, 100), "float32"), np.zeros(0, "int32"), "empty"),
            (good, [0], "lengths must be positive"),
            (good, [101], "lengths must be at most"),
            (good, [50, 50], "one length per row"),
            (nan, [100], "NaN or infinite"),
        ]
        for name in ("serving_default", "embed"):
            for audio, lengths, message in cases:
                with pytest.raises(
                    tf.errors.InvalidArgumentError, match=message
                ):
                    self.serve(
                        name,
                        audio=tf.constant(audio),
                        lengths=tf.constant(lengths, tf.int32),
                    )
        with pytest.raises(tf.errors.InvalidArgumentError, match="RIFF/WAVE"):
            self.serve("embed_wav", wav=tf.constant([b"not a wav file"]))
        with pytest.raises(tf.errors.InvalidArgumentError, match="at least"):
            self.serve("embed_wav", wav=tf.constant([], tf.string))


class EmbedderServingGraphTest(TestCase):
    def test_argument_errors(self):
        encoder = _tiny_encoder(segment=800)
        with pytest.raises(ValueError, match="`model` must be a built Keras"):
            EmbedderServingGraph("encoder", sample_rate=SAMPLE_RATE)
        frames = keras.Input((800, 1))
        framed = keras.Model(
            frames, keras.layers.GlobalAveragePooling1D()(frames)
        )
        with pytest.raises(ValueError, match="input shape \\(None, 800, 1\\)"):
            EmbedderServingGraph(framed, sample_rate=SAMPLE_RATE)
        audio = keras.Input((800,))
        sequence = keras.Model(audio, keras.layers.Reshape((100, 8))(audio))
        with pytest.raises(ValueError, match="output shape \\(None, 100, 8"):
            EmbedderServingGraph(sequence, sample_rate=SAMPLE_RATE)
        with pytest.raises(ValueError, match="`sample_rate` must be a posi"):
            EmbedderServingGraph(encoder, sample_rate=8000.0)
        with pytest.raises(ValueError, match="model's 800 input samples"):
            EmbedderServingGraph(
                encoder, sample_rate=SAMPLE_RATE, segment_seconds=0.2
            )
        with pytest.raises(ValueError, match="`batch_size` must be"):
            EmbedderServingGraph(encoder, SAMPLE_RATE, batch_size=0)
        graph = EmbedderServingGraph(encoder, SAMPLE_RATE, segment_seconds=0.1)
        self.assertEqual((graph.segment, graph.hop), (800, 400))
        self.assertEqual(graph.segment_seconds, 0.1)
