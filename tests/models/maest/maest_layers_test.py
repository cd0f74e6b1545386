import numpy as np
import pytest
import tensorflow as tf

from keras_music.models.maest.maest_layers import MAESTAttention
from keras_music.models.maest.maest_layers import MAESTBlock
from keras_music.models.maest.maest_layers import MAESTPatchEmbedding
from keras_music.models.maest.maest_layers import MAESTSegmentAverage
from keras_music.models.maest.maest_layers import MAESTSegmenter
from keras_music.models.maest.maest_layers import MAESTTokenPooling
from keras_music.models.maest.maest_layers import attention_product
from keras_music.models.maest.maest_layers import auto_query_chunk_size
from tests.test_case import TestCase

# 96 bins → 9 frequency rows; 66 frames → 6 time columns.
TINY = {"num_mel_bins": 96, "num_frames": 66, "hidden_dim": 8}


def _grid_tokens(layer, x, start=0, frames=None):
    """NumPy reference: conv patches + encodings, as a (B, F, T, D) grid."""
    kernel = np.array(layer.projection.kernel)  # (16, 16, 1, D)
    bias = np.array(layer.projection.bias)
    frames = x.shape[2] if frames is None else frames
    rows = (x.shape[1] - 16) // 10 + 1
    cols = (frames - 16) // 10 + 1
    grid = np.zeros((x.shape[0], rows, cols, kernel.shape[-1]))
    for f in range(rows):
        for t in range(cols):
            patch = x[:, f * 10 : f * 10 + 16, t * 10 : t * 10 + 16]
            grid[:, f, t] = np.einsum("bij,ijd->bd", patch, kernel[:, :, 0])
    grid += bias
    grid += np.array(layer.freq_position)[None, :, None]
    grid += np.array(layer.time_position)[None, None, start : start + cols]
    return grid


class MAESTPatchEmbeddingTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            MAESTPatchEmbedding,
            init_kwargs=TINY,
            input_data=np.random.rand(2, 96, 66).astype("float32"),
            expected_output_shape=(2, 56, 8),
            expected_num_trainable_weights=7,
        )

    def test_export_bakes_in_patchout(self):
        layer = MAESTPatchEmbedding(
            **TINY,
            train_time_patchout=2,
            train_freq_patchout=3,
            inference_time_stride=2,
            inference_freq_drop=[0, 8],
        )
        x = np.random.rand(2, 96, 66).astype("float32")
        restored = self.run_export_test(layer, x)
        # 7 rows × 3 columns (stride 2 of 6) + cls + dist.
        self.assertEqual(tuple(restored.serve(x).shape), (2, 23, 8))

    def test_tokens_match_numpy_frequency_major(self):
        layer = MAESTPatchEmbedding(**TINY)
        x = np.random.rand(2, 96, 66).astype("float32")
        out = np.array(layer(x))
        grid = _grid_tokens(layer, x)
        cls = np.array(layer.cls_token) + np.array(layer.token_position)[0]
        dist = np.array(layer.dist_token) + np.array(layer.token_position)[1]
        # float32 conv of 256-term sums vs float64: ~1e-6 rounding.
        self.assertAllClose(out[:, 0], np.broadcast_to(cls, (2, 8)))
        self.assertAllClose(out[:, 1], np.broadcast_to(dist, (2, 8)))
        self.assertAllClose(
            out[:, 2:], grid.reshape(2, 54, 8), atol=1e-5, rtol=1e-5
        )

    def test_channel_axis_accepted(self):
        layer = MAESTPatchEmbedding(**TINY)
        x = np.random.rand(2, 96, 66).astype("float32")
        self.assertAllClose(layer(x[..., None]), layer(x))

    def test_training_patchout_drops_whole_rows_and_columns(self):
        layer = MAESTPatchEmbedding(
            **TINY, train_time_patchout=2, train_freq_patchout=3
        )
        x = np.random.rand(3, 96, 66).astype("float32")
        full = np.array(layer(x)).reshape(3, 2 + 54, 8)[:, 2:]
        full = full.reshape(3, 9, 6, 8)
        seen = set()
        for _ in range(4):
            out = np.array(layer(x, training=True))
            self.assertEqual(out.shape, (3, 2 + 6 * 4, 8))
            tokens = out[:, 2:].reshape(3, 6, 4, 8)
            # Find where each kept token came from in the full grid.
            where = np.zeros((3, 6, 4, 2), int)
            for b in range(3):
                for i in range(6):
                    for j in range(4):
                        d = np.abs(full[b] - tokens[b, i, j]).max(-1)
                        where[b, i, j] = np.unravel_index(d.argmin(), d.shape)
                        self.assertLess(d.min(), 1e-5)
            rows, cols = where[0, :, 0, 0], where[0, 0, :, 1]
            # Whole rows / columns, in grid order, the same for the batch.
            self.assertTrue(np.all(where[..., 0] == rows[None, :, None]))
            self.assertTrue(np.all(where[..., 1] == cols[None, None, :]))
            self.assertTrue(np.all(np.diff(rows) > 0))
            self.assertTrue(np.all(np.diff(cols) > 0))
            seen.add((tuple(rows), tuple(cols)))
        self.assertGreater(len(seen), 1, "patchout is not random")

    def test_patchout_on_a_shorter_input_keeps_one(self):
        # A 6 x 9 grid drops 5 columns and 8 rows; a 26-frame input has
        # only 2 columns, and keeps one of them.
        layer = MAESTPatchEmbedding(
            **TINY, train_time_patchout=5, train_freq_patchout=8
        )
        out = layer(np.zeros((1, 96, 26), "float32"), training=True)
        self.assertEqual(tuple(out.shape), (1, 3, 8))

    def test_inference_patchout_keep_one_of_k(self):
        layer = MAESTPatchEmbedding(**TINY)
        x = np.random.rand(2, 96, 66).astype("float32")
        grid = np.array(layer(x))[:, 2:].reshape(2, 9, 6, 8)
        layer.set_inference_patchout(time_stride=4, freq_drop=[0, 7, 8])
        out = np.array(layer(x))
        # Columns 0 and 4 of 6; rows 1..6.
        self.assertEqual(out.shape, (2, 2 + 6 * 2, 8))
        expected = grid[:, 1:7][:, :, [0, 4]].reshape(2, 12, 8)
        self.assertAllClose(out[:, 2:], expected)
        # Training ignores the inference setting.
        self.assertEqual(layer(x, training=True).shape, (2, 56, 8))

    def test_shorter_input_inference_uses_first_encodings(self):
        layer = MAESTPatchEmbedding(**TINY)
        x = np.random.rand(2, 96, 66).astype("float32")
        full = np.array(layer(x))[:, 2:].reshape(2, 9, 6, 8)
        short = np.array(layer(x[:, :, :36]))  # 3 columns
        self.assertEqual(short.shape, (2, 2 + 27, 8))
        self.assertAllClose(short[:, 2:].reshape(2, 9, 3, 8), full[:, :, :3])

    def test_shorter_input_training_uses_a_random_window(self):
        layer = MAESTPatchEmbedding(**TINY)
        x = np.random.rand(1, 96, 36).astype("float32")
        starts = set()
        for _ in range(12):
            out = np.array(layer(x, training=True))[:, 2:]
            out = out.reshape(1, 9, 3, 8)
            diffs = [
                np.abs(out - _grid_tokens(layer, x, start=s)).max()
                for s in range(4)  # 6 - 3 + 1 windows
            ]
            # float32 vs float64 patch sums: ~1e-6.
            self.assertLess(min(diffs), 1e-5)
            starts.add(int(np.argmin(diffs)))
        self.assertGreater(len(starts), 1, "the window never moves")

    def test_longer_input_raises(self):
        layer = MAESTPatchEmbedding(**TINY)
        with pytest.raises(ValueError, match="Split longer inputs"):
            layer(np.zeros((1, 96, 76), "float32"))
        # 75 frames still give 6 columns.
        self.assertEqual(layer(np.zeros((1, 96, 75), "float32")).shape[1], 56)

    def test_longer_input_raises_in_graph(self):
        layer = MAESTPatchEmbedding(**TINY)
        fn = tf.function(
            layer, input_signature=[tf.TensorSpec((None, 96, None))]
        )
        with pytest.raises(tf.errors.InvalidArgumentError, match="segments"):
            fn(tf.zeros((1, 96, 90)))

    def test_too_short_or_wrong_bins_raise(self):
        layer = MAESTPatchEmbedding(**TINY)
        with pytest.raises(ValueError, match="at least 16 frames"):
            layer(np.zeros((1, 96, 10), "float32"))
        with pytest.raises(ValueError, match="96 mel bins"):
            layer(np.zeros((1, 80, 66), "float32"))
        with pytest.raises(ValueError, match="rank 3 or 4"):
            layer(np.zeros((96, 66), "float32"))

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="of the 6 patches.*=6"):
            MAESTPatchEmbedding(**TINY, train_time_patchout=6)
        with pytest.raises(ValueError, match="of the 9 patches.*=9"):
            MAESTPatchEmbedding(**TINY, train_freq_patchout=9)
        with pytest.raises(ValueError, match="train_time_patchout=-1"):
            MAESTPatchEmbedding(**TINY, train_time_patchout=-1)
        with pytest.raises(ValueError, match="train_freq_patchout=1.5"):
            MAESTPatchEmbedding(**TINY, train_freq_patchout=1.5)
        with pytest.raises(ValueError, match="inference_time_stride=0"):
            MAESTPatchEmbedding(**TINY, inference_time_stride=0)
        with pytest.raises(ValueError, match=r"inference_freq_drop=\[9\]"):
            MAESTPatchEmbedding(**TINY, inference_freq_drop=[9])
        with pytest.raises(ValueError, match="inference_freq_drop='ab'"):
            MAESTPatchEmbedding(**TINY, inference_freq_drop="ab")
        with pytest.raises(ValueError, match="keep at least one"):
            MAESTPatchEmbedding(**TINY, inference_freq_drop=range(9))
        with pytest.raises(ValueError, match="num_mel_bins=8"):
            MAESTPatchEmbedding(num_mel_bins=8)
        with pytest.raises(ValueError, match="num_frames=10"):
            MAESTPatchEmbedding(num_frames=10)
        with pytest.raises(ValueError, match="hidden_dim=0"):
            MAESTPatchEmbedding(hidden_dim=0)


class MAESTBlockTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            MAESTBlock,
            init_kwargs={
                "hidden_dim": 8,
                "num_heads": 2,
                "intermediate_dim": 16,
                "layer_norm_epsilon": 1e-6,
            },
            input_data=np.random.rand(2, 5, 8).astype("float32"),
            expected_output_shape=(2, 5, 8),
            expected_num_trainable_weights=12,
        )

    def test_attention_shape(self):
        out = MAESTAttention(8, 2)(np.random.rand(2, 5, 8).astype("float32"))
        self.assertEqual(tuple(out.shape), (2, 5, 8))

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="num_heads=3"):
            MAESTAttention(hidden_dim=8, num_heads=3)
        with pytest.raises(ValueError, match="intermediate_dim=0"):
            MAESTBlock(8, 2, intermediate_dim=0)
        with pytest.raises(ValueError, match="layer_norm_epsilon=-1"):
            MAESTBlock(8, 2, 16, layer_norm_epsilon=-1)


def _numpy_attention(q, k, v):
    # The formula (Vaswani et al., Eq. 1) in float64.
    q, k, v = (np.asarray(x, "float64") for x in (q, k, v))
    logits = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    return (weights / weights.sum(-1, keepdims=True)) @ v


class QueryChunkingTest(TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        # 37 tokens: not a multiple of any chunk tried below but 37.
        self.qkv = rng.standard_normal((3, 2, 3, 37, 8)).astype("float32")

    def test_chunked_equals_whole_and_the_formula(self):
        q, k, v = (tf.constant(x) for x in self.qkv)
        whole = attention_product(q, k, v).numpy()
        # float32 against the float64 formula: a few float32 ulps of
        # outputs of order 1.
        np.testing.assert_allclose(
            whole, _numpy_attention(*self.qkv), atol=1e-5
        )
        for chunk in (1, 5, 8, 36, 37, 64):
            # Each query's softmax row is computed whole in either case;
            # only the matmuls' blocking may differ, well within 1e-5.
            np.testing.assert_allclose(
                attention_product(q, k, v, chunk).numpy(),
                whole,
                atol=1e-5,
                err_msg=f"query_chunk_size={chunk}",
            )

    def test_dynamic_batch_and_tokens(self):
        spec = tf.TensorSpec((None, 3, None, 8), "float32")
        chunked = tf.function(
            lambda q, k, v: attention_product(q, k, v, 5),
            input_signature=[spec] * 3,
        )
        for tokens in (37, 4):
            qkv = self.qkv[:, :, :, :tokens]
            np.testing.assert_allclose(
                chunked(*qkv).numpy(), _numpy_attention(*qkv), atol=1e-5
            )

    def test_layer_chunked_equals_whole_with_gradients(self):
        x = tf.constant(np.random.rand(2, 37, 8).astype("float32"))
        whole = MAESTAttention(8, 2)
        chunked = MAESTAttention(8, 2, query_chunk_size=5)
        whole(x), chunked(x)
        chunked.set_weights(whole.get_weights())
        outputs, grads = [], []
        for layer in (whole, chunked):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x)
                loss = tf.reduce_sum(y**2)
            outputs.append(y.numpy())
            grads.append(tape.gradient(loss, x).numpy())
        np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-5)
        np.testing.assert_allclose(grads[1], grads[0], atol=1e-4)

    def test_layer_with_chunks(self):
        self.run_layer_test(
            MAESTBlock,
            init_kwargs={
                "hidden_dim": 8,
                "num_heads": 2,
                "intermediate_dim": 16,
                "layer_norm_epsilon": 1e-6,
                "query_chunk_size": 3,
            },
            input_data=np.random.rand(2, 7, 8).astype("float32"),
            expected_output_shape=(2, 7, 8),
            expected_num_trainable_weights=12,
        )

    def test_config_without_the_key_loads_unchunked(self):
        # Configs saved before the option existed have no such key.
        config = MAESTBlock(8, 2, 16).get_config()
        self.assertIsNone(config.pop("query_chunk_size"))
        self.assertIsNone(MAESTBlock.from_config(config).query_chunk_size)
        config = MAESTAttention(8, 2, query_chunk_size="auto").get_config()
        self.assertEqual(config["query_chunk_size"], "auto")
        self.assertEqual(
            MAESTAttention.from_config(config).query_chunk_size, "auto"
        )

    def test_auto(self):
        # benchmarks/embed.py's model at --batch_size 16: 2 heads.
        self.assertEqual(auto_query_chunk_size(16, 2, 1685), 32)
        # MAEST-30s: 12 heads; at least 8 queries.
        self.assertEqual(auto_query_chunk_size(16, 12, 1685), 8)
        # Small score matrices (inference patchout T=10) stay whole, as
        # does a batch size unknown when traced.
        self.assertIsNone(auto_query_chunk_size(16, 2, 173))
        self.assertIsNone(auto_query_chunk_size(None, 2, 1685))
        q, k, v = (tf.constant(x) for x in self.qkv)
        np.testing.assert_allclose(
            attention_product(q, k, v, "auto").numpy(),
            _numpy_attention(*self.qkv),
            atol=1e-5,
        )

    def test_bad_chunk_size(self):
        for bad in (0, -1, 2.0, True, "big"):
            with pytest.raises(ValueError, match="`query_chunk_size` must"):
                MAESTAttention(8, 2, query_chunk_size=bad)
        block = MAESTBlock(8, 2, 16)
        with pytest.raises(ValueError, match="query_chunk_size=0"):
            block.query_chunk_size = 0


class MAESTTokenPoolingTest(TestCase):
    def test_values(self):
        x = np.random.rand(2, 7, 4).astype("float32")
        avg = x[:, 2:].mean(1)
        expected = {
            "cls": x[:, 0],
            "dist": x[:, 1],
            "avg": avg,
            "cls_dist": (x[:, 0] + x[:, 1]) / 2,
            "stack": np.stack([x[:, 0], x[:, 1], avg], axis=1),
        }
        for token, want in expected.items():
            self.assertAllClose(MAESTTokenPooling(token)(x), want)

    def test_layer(self):
        self.run_layer_test(
            MAESTTokenPooling,
            init_kwargs={"token": "stack"},
            input_data=np.random.rand(2, 7, 4).astype("float32"),
            expected_output_shape=(2, 3, 4),
            run_training_check=False,
            run_saving_check=False,
        )

    def test_bad_token(self):
        with pytest.raises(ValueError, match="token='mean'"):
            MAESTTokenPooling("mean")


class MAESTSegmenterTest(TestCase):
    def test_segments_cover_the_track(self):
        x = np.random.rand(2, 3, 23).astype("float32")
        out = np.array(MAESTSegmenter(10, 5)(x))
        starts = [0, 5, 10, 13]  # the last one ends at frame 23
        expected = np.stack([x[:, :, s : s + 10] for s in starts], axis=1)
        self.assertAllEqual(out, expected.reshape(8, 3, 10))

    def test_exact_fit_and_short_tracks(self):
        x = np.random.rand(1, 3, 20).astype("float32")
        out = np.array(MAESTSegmenter(10, 5)(x))
        self.assertEqual(out.shape, (3, 3, 10))  # starts 0, 5, 10
        short = np.array(MAESTSegmenter(30, 15)(x))
        self.assertAllEqual(short, x)

    def test_layer(self):
        self.run_layer_test(
            MAESTSegmenter,
            init_kwargs={"segment_frames": 10, "hop_frames": 5},
            input_data=np.random.rand(2, 3, 23).astype("float32"),
            expected_output_shape=(8, 3, 10),
            run_training_check=False,
            run_precision_checks=False,
            run_saving_check=False,
            run_export_check=True,
        )

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="segment_frames=0"):
            MAESTSegmenter(0, 5)
        with pytest.raises(ValueError, match="hop_frames=-2"):
            MAESTSegmenter(10, -2)

    def test_average(self):
        emb = np.random.rand(6, 4).astype("float32")
        out = MAESTSegmentAverage()([emb, np.zeros((2, 5))])
        self.assertAllClose(out, emb.reshape(2, 3, 4).mean(1))
