"""Milliseconds per batch of CLMR's waveform augmentations, per stage.

    python benchmarks/augmentation.py [--batch_size 32] [--clip_samples 59049]
        [--span_seconds 4] [--repeats 7]

Times, on random audio inside a `tf.function` (as `tf.data` runs them),
one batch of:

- every stage of `CLMRAugment` alone on `(batch_size, clip_samples)`,
  once at the probability CLMR uses (what a training step pays) and once
  at p=1 (the cost of the transform itself);
- the full CLMR chain (`CLMRAugment` with its defaults, both views) on
  `(batch_size, span_seconds * 22050)` spans as the recipe feeds it.

The recipes' whole pipelines, multi-format's included, are timed against
their training steps by `benchmarks/input_pipeline.py`; this script says
where the CLMR chain's time goes.

Each row is the median of `--repeats` timed calls after one warm-up call
(which traces). The defaults are the recipes' CPU demo values (batch 32,
59049 samples). The recipes crop from a 30 s span; a shorter span is the
default here because the crop only gathers and 30 s spans make random
input generation dominate the run; pass `--span_seconds 30` to match.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_music  # noqa: E402, F401  (sets the Keras backend)
from benchmarks.timing import round_robin  # noqa: E402
from keras_music.layers.clmr_augment import CLMRAugment  # noqa: E402
from keras_music.layers.delay import Delay  # noqa: E402
from keras_music.layers.gaussian_noise import GaussianNoise  # noqa: E402
from keras_music.layers.pitch_shift import PitchShift  # noqa: E402
from keras_music.layers.polarity_inversion import PolarityInversion  # noqa: E402
from keras_music.layers.random_filter import RandomFilter  # noqa: E402
from keras_music.layers.random_gain import RandomGain  # noqa: E402
from keras_music.layers.reverb import Reverb  # noqa: E402

SAMPLE_RATE = 22050
# CLMR's probabilities (CLMRAugment's defaults).
STAGES = [
    ("PolarityInversion", PolarityInversion, 0.8),
    ("GaussianNoise", GaussianNoise, 0.01),
    ("RandomGain", RandomGain, 0.3),
    ("RandomFilter", RandomFilter, 0.8),
    ("Delay", Delay, 0.3),
    ("PitchShift", PitchShift, 0.6),
    ("Reverb", Reverb, 0.6),
]


def timed_call(fn, x):
    """A callable running `fn(x)` and waiting for its result (both views
    where there are two)."""

    def run():
        out = fn(x)
        for tensor in out if isinstance(out, tuple) else (out,):
            tensor.numpy()

    return run


def stage_fn(cls, p):
    kwargs = {"p": p, "seed": 0}
    if cls in (RandomFilter, Delay, Reverb):
        kwargs["sample_rate"] = SAMPLE_RATE
    layer = cls(**kwargs)
    return tf.function(lambda x: layer(x, training=True))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--clip_samples", type=int, default=59049)
    parser.add_argument("--span_seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    span = max(args.clip_samples, round(args.span_seconds * SAMPLE_RATE))
    clips = tf.constant(
        rng.standard_normal((args.batch_size, args.clip_samples), "float32")
        * 0.1
    )
    spans = tf.constant(
        rng.standard_normal((args.batch_size, span), "float32") * 0.1
    )
    print(
        f"batch {args.batch_size} x {args.clip_samples} samples "
        f"(spans of {span}), median of {args.repeats}, "
        f"{os.cpu_count()} CPU cores"
    )
    print(f"{'stage':<40} {'ms/batch':>10}")

    cases = {}
    for name, cls, p in STAGES:
        cases[f"{name} p={p}"] = timed_call(stage_fn(cls, p), clips)
        cases[f"{name} p=1"] = timed_call(stage_fn(cls, 1.0), clips)

    clmr = CLMRAugment(
        sample_rate=SAMPLE_RATE, crop_length=args.clip_samples, seed=0
    )
    cases["CLMRAugment (2 views)"] = timed_call(
        tf.function(lambda a: clmr(a, training=True)), spans
    )
    for label, seconds in round_robin(cases, args.repeats).items():
        print(f"{label:<40} {1000 * seconds:>10.1f}")


if __name__ == "__main__":
    main()
