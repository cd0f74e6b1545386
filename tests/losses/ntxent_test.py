import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.losses.ntxent import NTXent
from tests.test_case import TestCase
from tests.test_case import run_replica_script


def _projections(n, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n, d)).astype("float32"),
        rng.normal(size=(n, d)).astype("float32"),
    )


def numpy_nt_xent(z_a, z_b, temperature):
    """Per-anchor NT-Xent from SimCLR's Eq. 1, in float64.

    z = [z_a; z_b] unit rows; for anchor i, l_i = -log(exp(s_ip / t) /
    sum_{k != i} exp(s_ik / t)) with p = i + N (first view) or i - N.
    """
    z = np.concatenate([z_a, z_b]).astype("float64")
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z_a)
    sims = z @ z.T / temperature
    losses = []
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        others = [sims[i, k] for k in range(2 * n) if k != i]
        losses.append(-(sims[i, positive] - np.log(np.sum(np.exp(others)))))
    return np.array(losses)


class NTXentTest(TestCase):
    def test_matches_numpy_reference(self):
        for n, temperature, seed in ((2, 0.5, 0), (6, 0.5, 1), (5, 0.1, 2)):
            z_a, z_b = _projections(n, seed=seed)
            expected = numpy_nt_xent(z_a, z_b, temperature)
            per_anchor = NTXent(temperature, reduction="none")(z_a, z_b)
            mean = NTXent(temperature)(z_a, z_b)
            # float32 matmul + log-softmax vs float64 NumPy; logits up to
            # 1 / 0.1 = 10, so ~1e-6 relative.
            self.assertAllClose(per_anchor, expected, atol=1e-5, rtol=1e-5)
            self.assertAllClose(mean, expected.mean(), atol=1e-5, rtol=1e-5)

    def test_closed_form_orthogonal_examples(self):
        # Two orthogonal examples with identical views: each anchor sees
        # its positive at cosine 1 and two negatives at cosine 0, so
        # every loss is -log(e^(1/t) / (e^(1/t) + 2)).
        z = np.eye(2, 4, dtype="float32")
        loss = NTXent(temperature=0.5)(z, 3.0 * z)
        expected = -np.log(np.exp(2.0) / (np.exp(2.0) + 2.0))
        self.assertAllClose(loss, expected, atol=1e-6)

    def test_cosine_similarity_ignores_scale(self):
        z_a, z_b = _projections(4)
        loss = NTXent()
        # Unit-normalised first: only float32 rounding changes.
        self.assertAllClose(
            loss(7.0 * z_a, 0.1 * z_b), loss(z_a, z_b), atol=1e-6
        )

    def test_logits_labels_and_self_exclusion(self):
        z_a, z_b = _projections(3)
        logits, labels = NTXent(temperature=0.5).logits(z_a, z_b)
        self.assertEqual(tuple(logits.shape), (6, 6))
        self.assertAllEqual(labels, np.array([3, 4, 5, 0, 1, 2]))
        logits = np.array(logits)
        self.assertTrue(np.all(np.diag(logits) < -1e8))
        z = np.concatenate([z_a, z_b])
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        off_diagonal = ~np.eye(6, dtype=bool)
        # Cosines / 0.5 in float32.
        self.assertAllClose(
            logits[off_diagonal], (z @ z.T / 0.5)[off_diagonal], atol=1e-6
        )
        # Identical views: every anchor's best candidate is its positive.
        logits, labels = NTXent().logits(z_a, z_a)
        self.assertAllEqual(np.argmax(logits, axis=1), labels)

    def test_half_precision_inputs_give_float32_loss(self):
        z_a, z_b = _projections(4)
        loss = NTXent()(z_a.astype("float16"), z_b.astype("float16"))
        self.assertEqual(loss.dtype, tf.float32)
        # Inputs rounded to float16 (~5e-4 relative) before the loss.
        self.assertAllClose(
            loss, numpy_nt_xent(z_a, z_b, 0.5).mean(), atol=5e-3
        )

    def test_serialization(self):
        loss = NTXent(temperature=0.2, reduction="sum", name="contrastive")
        config = loss.get_config()
        self.assertEqual(config["temperature"], 0.2)
        self.assertEqual(config["reduction"], "sum")
        revived = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(loss)
        )
        self.assertIsInstance(revived, NTXent)
        self.assertEqual(revived.get_config(), config)
        z_a, z_b = _projections(3)
        self.assertAllClose(revived(z_a, z_b), loss(z_a, z_b))

    def test_errors(self):
        for value in (0.0, -0.5, "0.5"):
            with pytest.raises(ValueError, match=f"temperature={value!r}"):
                NTXent(temperature=value)
        z_a, z_b = _projections(4)
        with pytest.raises(ValueError, match=r"\(4, 5\) and \(3, 5\)"):
            NTXent()(z_a, z_b[:3])
        with pytest.raises(ValueError, match=r"\(batch, d\)"):
            NTXent()(z_a[0], z_b[0])


# Runs in a fresh interpreter: logical devices must be configured before
# TensorFlow initialises them, which the other tests have already done.
_DISTRIBUTED_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    import numpy as np
    import tensorflow as tf

    from keras_music.distribute import replica_scaled
    from keras_music.distribute import split_cpu

    devices = split_cpu(2)

    from keras_music.losses.ntxent import NTXent

    rng = np.random.default_rng(0)
    x_a = rng.normal(size=(8, 6)).astype("float32")
    x_b = rng.normal(size=(8, 6)).astype("float32")
    kernel = rng.normal(size=(6, 4)).astype("float32")

    def step(w, x_a, x_b, reduction):
        with tf.GradientTape() as tape:
            tape.watch([x_a, x_b])
            z_a, z_b = tf.matmul(x_a, w), tf.matmul(x_b, w)
            loss = NTXent(0.5, reduction=reduction)(z_a, z_b)
            # A mean reduction is already divided by the number of
            # replicas (Keras convention); per-anchor losses are not.
            scaled = loss if reduction != "none" else replica_scaled(
                tf.reduce_mean(loss)
            )
        return (loss,) + tuple(tape.gradient(scaled, [w, x_a, x_b]))

    def run(strategy, splits, reduction="sum_over_batch_size"):
        with strategy.scope():
            w = tf.Variable(kernel)
        bounds = np.cumsum([0] + splits)

        def local(array):
            def fn(context):
                r = context.replica_id_in_sync_group
                return tf.constant(array[bounds[r] : bounds[r + 1]])

            return strategy.experimental_distribute_values_from_function(fn)

        outputs = tf.function(strategy.run)(
            step, args=(w, local(x_a), local(x_b), reduction)
        )
        results = [strategy.experimental_local_results(o) for o in outputs]
        return [[np.asarray(v).tolist() for v in r] for r in results]

    single = tf.distribute.OneDeviceStrategy("/cpu:0")
    mirrored = tf.distribute.MirroredStrategy(devices)
    result = {
        "replicas": mirrored.num_replicas_in_sync,
        "single": run(single, [8]),
        "mirrored": run(mirrored, [4, 4]),
        "single_none": run(single, [8], "none"),
        "uneven_none": run(mirrored, [5, 3], "none"),
    }
    json.dump(result, sys.stdout)
    """
)


class NTXentDistributedTest(TestCase):
    def test_two_replicas_match_one(self):
        result = run_replica_script(_DISTRIBUTED_SCRIPT)
        self.assertEqual(result["replicas"], 2)
        (loss,), (grad_w,), (grad_a,), (grad_b,) = (
            np.array(v) for v in result["single"]
        )
        losses, grads_w, grads_a, grads_b = (
            [np.array(r) for r in v] for v in result["mirrored"]
        )
        # Equal halves: each replica returns its mean / 2 (Keras scales
        # mean-reduced losses by the number of replicas), so the values
        # sum to the global loss; float32, only summation order differs.
        self.assertAllClose(np.sum(losses), loss, atol=1e-6, rtol=1e-6)
        # The replicas' local means differ (they score different anchors
        # against the same candidates), so the gather is really global.
        self.assertGreater(abs(losses[0] - losses[1]), 1e-3)
        # Summed replica gradients of the scaled losses equal the single-device
        # gradient: the gather's gradient sums every replica's share.
        self.assertAllClose(np.sum(grads_w, axis=0), grad_w, atol=1e-6)
        self.assertAllClose(np.concatenate(grads_a), grad_a, atol=1e-6)
        self.assertAllClose(np.concatenate(grads_b), grad_b, atol=1e-6)
        # Uneven split (5 + 3): each anchor's loss is its single-device
        # loss; replica r holds [its first-view anchors; second-view].
        (per_anchor,) = result["single_none"][0]
        first, second = result["uneven_none"][0]
        self.assertEqual((len(first), len(second)), (10, 6))
        reordered = first[:5] + second[:3] + first[5:] + second[3:]
        self.assertAllClose(
            np.array(reordered), np.array(per_anchor), atol=1e-6, rtol=1e-6
        )
        self.assertAllClose(
            np.array(per_anchor),
            numpy_nt_xent(_x_times_kernel("a"), _x_times_kernel("b"), 0.5),
            atol=1e-5,
            rtol=1e-5,
        )


def _x_times_kernel(view):
    # The subprocess's data (same seed, same draws), for the reference.
    rng = np.random.default_rng(0)
    x_a, x_b, kernel = (
        rng.normal(size=size).astype("float32").astype("float64")
        for size in ((8, 6), (8, 6), (6, 4))
    )
    return (x_a if view == "a" else x_b) @ kernel
