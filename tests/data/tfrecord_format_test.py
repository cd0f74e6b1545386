import numpy as np
import pytest
import tensorflow as tf

from keras_music.data import tfrecord_format as fmt
from tests.test_case import TestCase

MANIFEST = {
    "data_kind": "audio",
    "audio_format": "int16",
    "tasks": {"genre": {"vocabulary": ["a", "b"], "multi_label": False}},
}


class TFRecordFormatTest(TestCase):
    def test_encode_parse_round_trip(self):
        audio = np.array([-1.0, -0.5, 0.0, 0.25, 0.999], "float32")
        pcm = fmt.audio_to_int16(audio)
        # round(x * 32768), clipped: 0.999 * 32768 = 32735.2 -> 32735.
        self.assertAllEqual(pcm, np.array([-32768, -16384, 0, 8192, 32735]))
        record = fmt.encode_example("id7", pcm, 16000, 0.5, {"genre": [1]})
        parsed = fmt.parse_example(tf.constant(record), MANIFEST)
        self.assertEqual(parsed["track_id"].numpy(), b"id7")
        self.assertAllEqual(parsed["data"], pcm / np.float32(32768.0))
        self.assertEqual(int(parsed["sample_rate"]), 16000)
        self.assertAllEqual(parsed["labels/genre"], np.array([1]))

    def test_clipping(self):
        pcm = fmt.audio_to_int16(np.array([1.0, 2.0, -2.0]))
        self.assertAllEqual(pcm, np.array([32767, 32767, -32768]))

    def test_encoding_is_deterministic(self):
        labels = {"genre": [0], "tags": [1, 2], "mood": []}
        pcm = np.zeros(3, "int16")
        first = fmt.encode_example("x", pcm, 8000, 1.0, labels)
        reordered = dict(reversed(list(labels.items())))
        self.assertEqual(
            fmt.encode_example("x", pcm, 8000, 1.0, reordered), first
        )

    def test_names(self):
        name = fmt.shard_name(3, 12)
        self.assertEqual(name, "shard-00003-of-00012.tfrecord")
        self.assertEqual(
            fmt.shard_index_name(name), "shard-00003-of-00012.index.json"
        )

    def test_data_dtype_error(self):
        with pytest.raises(ValueError, match="data.dtype=float32"):
            fmt.encode_example("x", np.zeros(3, "float32"), 8000, 1.0, {})

    def test_targets_round_trip(self):
        lps = np.arange(12, dtype="float16").reshape(4, 3) - 5.5
        prosody = np.array([[1.5], [65504.0], [-2.0], [0.0]], "float16")
        record = fmt.encode_example(
            "x",
            np.zeros(640, "int16"),
            16000,
            0.04,
            {"genre": [0]},
            targets={"lps": lps, "prosody": prosody},
        )
        manifest = dict(MANIFEST, targets={"dims": {"lps": 3, "prosody": 1}})
        parsed = fmt.parse_example(
            tf.constant(record), manifest, targets=("prosody", "lps")
        )
        # float16 -> float32 widening is exact.
        self.assertAllEqual(parsed["targets/lps"], lps.astype("float32"))
        self.assertAllEqual(
            parsed["targets/prosody"], prosody.astype("float32")
        )
        # A reader that asks for no targets ignores them.
        plain = fmt.parse_example(tf.constant(record), MANIFEST)
        self.assertNotIn("targets/lps", plain)

    def test_target_normalization(self):
        manifest = {
            "targets": {
                "statistics": {
                    "lps": {"count": 3, "mean": [1.0, -2.0], "std": [4.0, 0.0]}
                }
            }
        }
        mean, scale = fmt.target_normalization(manifest, "lps")
        self.assertAllEqual(mean, np.array([1.0, -2.0], "float32"))
        # A dimension that never varies is only centred (scale 1).
        self.assertAllEqual(scale, np.array([4.0, 1.0], "float32"))

    def test_target_dtype_error(self):
        with pytest.raises(ValueError, match=r"targets\['lps'\].*float32"):
            fmt.encode_example(
                "x",
                np.zeros(3, "int16"),
                8000,
                1.0,
                {},
                targets={"lps": np.zeros((1, 2), "float32")},
            )
