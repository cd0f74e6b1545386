import dataclasses

import keras
import numpy as np
import pytest

from keras_music.evaluation.probe_protocol import PROBE_PROTOCOLS
from keras_music.evaluation.probe_protocol import ProbeProtocol
from keras_music.evaluation.probe_protocol import get_probe_protocol
from keras_music.training.warmup_plateau_decay import WarmupPlateauDecay


def test_s3t_values_from_the_paper():
    p = get_probe_protocol("s3t")
    assert (p.head, p.optimizer, p.learning_rate, p.weight_decay) == (
        "linear",
        "adamw",
        1e-3,
        0.05,
    )
    assert (p.schedule, p.warmup_epochs, p.epochs, p.batch_size) == (
        "cosine",
        5,
        50,
        256,
    )
    optimizer = p.make_optimizer(steps_per_epoch=10)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert optimizer.weight_decay == pytest.approx(0.05)
    schedule = p.learning_rate_schedule(10)
    steps = np.array([0, 25, 50, 275, 500])
    rates = np.array([float(schedule(s)) for s in steps])
    # Linear warm-up over 5 epochs (50 steps) to 1e-3, then cosine to 0
    # at step 500, from the formula 0.5 * (1 + cos(pi * t / T)).
    expected = [
        0.0,
        0.5e-3,
        1e-3,
        1e-3 * 0.5 * (1 + np.cos(np.pi * 225 / 450)),
        0.0,
    ]
    np.testing.assert_allclose(rates, expected, atol=1e-9)  # float32


def test_maest_values_and_grid():
    p = get_probe_protocol("maest")
    assert (p.head, p.hidden_dim, p.dropout, p.weight_decay) == (
        "mlp",
        512,
        0.5,
        1e-3,
    )
    assert (p.batch_size, p.epochs, p.selection) == (128, 30, "best_metric")
    assert p.grid == {
        "batch_size": [64, 128, 256],
        "epochs": [30, 40, 50, 60, 70, 80],
        "dropout": [0.5, 0.75],
        "learning_rate": [1e-3, 1e-4, 5e-4, 1e-5],
    }
    points = p.grid_points()
    assert len(points) == 3 * 6 * 2 * 4
    assert {
        (q.batch_size, q.epochs, q.dropout, q.learning_rate) for q in points
    } == {
        (b, e, d, r)
        for b in [64, 128, 256]
        for e in [30, 40, 50, 60, 70, 80]
        for d in [0.5, 0.75]
        for r in [1e-3, 1e-4, 5e-4, 1e-5]
    }
    assert all(q.grid is None for q in points)
    some = p.grid_points(max_points=5, seed=1)
    assert len(some) == 5
    assert some == p.grid_points(max_points=5, seed=1)
    schedule = p.learning_rate_schedule(2)
    assert isinstance(schedule, WarmupPlateauDecay)
    # 10 warm-up epochs (20 steps), plateau to epoch 15, 1e-7 at the end.
    rates = [float(schedule(s)) for s in (10, 20, 30, 60)]
    np.testing.assert_allclose(rates, [5e-4, 1e-3, 1e-3, 1e-7], rtol=1e-5)


def test_pase_values():
    p = get_probe_protocol("pase")
    assert (p.head, p.optimizer, p.learning_rate) == ("linear", "adam", 1e-3)
    assert (p.selection, p.patience, p.trials) == ("best_loss", 10, 10)
    optimizer = p.make_optimizer(5)
    assert type(optimizer) is keras.optimizers.Adam
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)


def test_overrides_and_registry():
    assert set(PROBE_PROTOCOLS) == {"s3t", "maest", "pase"}
    p = get_probe_protocol("s3t", epochs=7)
    assert p.epochs == 7 and PROBE_PROTOCOLS["s3t"].epochs == 50
    assert dataclasses.replace(p, trials=3).trials == 3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"head": "conv"}, "`head` must be one of"),
        ({"optimizer": "sgd"}, "`optimizer` must be one of"),
        ({"schedule": "step"}, "`schedule` must be one of"),
        ({"selection": "first"}, "`selection` must be one of"),
        ({"learning_rate": 0.0}, "`learning_rate` must be a positive"),
        ({"epochs": 0}, "`epochs` must be a positive integer"),
        ({"batch_size": 1.5}, "`batch_size` must be a positive integer"),
        ({"trials": 0}, "`trials` must be a positive integer"),
        ({"dropout": 1.0}, "`dropout` must be below 1"),
        ({"dropout": -0.1}, "`dropout` must be a probability"),
        ({"weight_decay": -1.0}, "`weight_decay` must be >= 0"),
        ({"warmup_epochs": 5, "epochs": 5}, "`warmup_epochs` must be"),
        ({"patience": 0}, "`patience` must be a positive integer"),
        ({"grid": {"colour": [1]}}, "`grid` must map protocol fields"),
    ],
)
def test_invalid_arguments(kwargs, match):
    base = dict(
        name="x",
        head="linear",
        optimizer="adam",
        learning_rate=1e-3,
        epochs=10,
        batch_size=8,
    )
    with pytest.raises(ValueError, match=match):
        ProbeProtocol(**{**base, **kwargs})


def test_unknown_protocol_and_bad_steps():
    with pytest.raises(ValueError, match="`name` must be one of"):
        get_probe_protocol("clmr")
    with pytest.raises(ValueError, match="`steps_per_epoch` must be"):
        get_probe_protocol("s3t").make_optimizer(0)
