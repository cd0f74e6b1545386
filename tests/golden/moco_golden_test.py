"""MoCo against the official builder (facebookresearch/moco).

The fixture runs `moco.builder.MoCo.forward` (MoCo v2's MLP head, K = 12,
m = 0.9, T = 0.2) once on fixed views with a Linear base encoder: InfoNCE
logits, the momentum update of the key encoder and the enqueue (pointer
8 of 12, so it wraps to 0). Ours gets the same weights and queue.

Tolerance 1e-5 absolute: logits of order 1 / T = 5 and weights of order
1, a few float32 operations each (measured about 1e-7).
"""

import keras
import numpy as np

from keras_music.pretraining.moco import MoCo
from tests.golden.golden import assert_matches
from tests.golden.golden import load_fixture
from tests.test_case import TestCase

ATOL = 1e-5


def _branch(state, prefix):
    """Official encoder + MLP head weights in our layer order."""
    names = ["body.weight", "body.bias", "fc.0.weight", "fc.0.bias"]
    names += ["fc.2.weight", "fc.2.bias"]
    values = [state[f"{prefix}{name}"] for name in names]
    return [v.T if v.ndim == 2 else v for v in values]


def converted():
    state, arrays, meta = load_fixture("moco")
    c = meta["constructor"]
    encoder = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8)])
    moco = MoCo(
        encoder,
        projection_dim=c["dim"],
        queue_size=c["K"],
        momentum=c["m"],
        temperature=c["T"],
        hidden_dim=8,
    )
    for model, projector, prefix in (
        (moco.encoder, moco.projector, "encoder_q."),
        (moco.key_encoder, moco.key_projector, "encoder_k."),
    ):
        weights = model.weights + projector.weights
        for variable, value in zip(weights, _branch(state, prefix)):
            variable.assign(value)
    moco.queue.assign(state["queue"].T)
    moco.queue_pointer.assign(int(state["queue_ptr"][0]))
    return moco, arrays


class MoCoGoldenTest(TestCase):
    def test_logits(self):
        moco, arrays = converted()
        moco._momentum_update()
        keys = moco._keys(arrays["im_k"], training=False)
        logits = moco._logits(moco(arrays["im_q"]), keys)
        assert_matches(logits, arrays["logits"], ATOL, "logits")
        self.assertAllEqual(arrays["labels"], np.zeros(4))

    def test_train_step_updates_like_the_official_forward(self):
        moco, arrays = converted()
        # A zero learning rate leaves the query branch as the official
        # forward does (it takes no optimiser step).
        moco.compile(optimizer=keras.optimizers.SGD(0.0))
        metrics = moco.train_step((arrays["im_q"], arrays["im_k"]))
        logits = arrays["logits"].astype("float64")
        top = logits.max(axis=1, keepdims=True)
        log_sum = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        expected_loss = np.mean(log_sum - logits[:, 0])
        assert_matches(metrics["loss"], expected_loss, ATOL, "InfoNCE loss")
        assert_matches(moco.queue, arrays["queue_after"].T, ATOL, "queue")
        self.assertEqual(int(moco.queue_pointer), arrays["queue_ptr_after"])
        after = {
            k[len("after.") :]: v
            for k, v in arrays.items()
            if k.startswith("after.")
        }
        weights = moco.key_encoder.weights + moco.key_projector.weights
        for variable, value in zip(weights, _branch(after, "encoder_k.")):
            assert_matches(variable, value, ATOL, variable.path)

    def test_corrupted_queue_fails(self):
        moco, arrays = converted()
        moco.queue.assign(np.asarray(moco.queue) + 0.01)
        moco._momentum_update()
        keys = moco._keys(arrays["im_k"], training=False)
        logits = moco._logits(moco(arrays["im_q"]), keys)
        with self.assertRaisesRegex(AssertionError, "logits: max abs"):
            assert_matches(logits, arrays["logits"], ATOL, "logits")
