import numpy as np
import pytest

from keras_music.training.warmup_cosine import warmup_cosine


def _formula(peak, total, warmup, t):
    if t < warmup:
        return peak * t / warmup
    decay = max(1, total - warmup)
    progress = min(t - warmup, decay) / decay
    return peak * 0.5 * (1.0 + np.cos(np.pi * progress))


@pytest.mark.parametrize("total,warmup", [(100, 10), (40, 0), (7, 2)])
def test_matches_warmup_then_half_cosine(total, warmup):
    schedule = warmup_cosine(5e-4, total, warmup)
    steps = range(total + 3)
    got = [float(schedule(t)) for t in steps]
    want = [_formula(5e-4, total, warmup, t) for t in steps]
    # float32 arithmetic in Keras: relative 1e-6 of the peak.
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-10)


def test_all_warmup_still_ends_at_the_peak():
    # total == warmup: no decay steps left; the peak holds, no NaN.
    schedule = warmup_cosine(1e-3, 10, 10)
    assert float(schedule(10)) == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "args,pattern",
    [
        ((0.0, 10, 1), "peak_learning_rate"),
        ((1e-3, 0, 1), "total_steps"),
        ((1e-3, 10, -1), "warmup_steps"),
    ],
)
def test_bad_arguments_name_themselves(args, pattern):
    with pytest.raises(ValueError, match=pattern):
        warmup_cosine(*args)
