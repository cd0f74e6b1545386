"""Custom train steps scale their loss for a `LossScaleOptimizer`.

Under `mixed_float16`, Keras wraps the optimizer in a `LossScaleOptimizer`
that divides the gradients by its loss scale before applying them; a
`train_step` that does not multiply its loss by that scale
(`optimizer.scale_loss`) would take steps `scale` times too small.
"""

import keras
import numpy as np
import pytest

from keras_music.pretraining.moco import MoCo
from keras_music.pretraining.simclr import SimCLR


def _encoder():
    return keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, name="dense")],
        name="encoder",
    )


def _objective(kind):
    keras.utils.set_random_seed(0)
    if kind == "moco":
        return MoCo(_encoder(), projection_dim=4, queue_size=8)
    return SimCLR(_encoder(), projection_dim=4)


def _trained_weights(kind, optimizer):
    model = _objective(kind)
    model.compile(optimizer=optimizer)
    rng = np.random.default_rng(0)
    views = tuple(rng.normal(size=(8, 6)).astype("float32") for _ in "ab")
    model.train_on_batch(views)
    return [np.asarray(w) for w in model.encoder.trainable_weights]


@pytest.mark.parametrize("kind", ["moco", "simclr"])
def test_scaled_optimizer_takes_the_same_step(kind):
    plain = _trained_weights(kind, keras.optimizers.SGD(0.5))
    scaled = _trained_weights(
        kind,
        keras.optimizers.LossScaleOptimizer(
            keras.optimizers.SGD(0.5), initial_scale=1024.0
        ),
    )
    initial = [np.asarray(w) for w in _objective(kind).encoder.weights]
    for before, a, b in zip(initial, plain, scaled):
        # The step is real (the weights moved), and the scaled optimizer's
        # equals the plain one's: scaling by 1024 is exact in float32, the
        # rest is summation order (1e-5).
        assert np.abs(a - before).max() > 1e-4
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
