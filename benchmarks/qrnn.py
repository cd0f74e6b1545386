"""Speed of QRNN fo-pooling as a parallel scan against `keras.ops.scan`.

    python benchmarks/qrnn.py [--batch 16] [--units 512]
        [--frames 200,2000] [--repeats 5]

The recurrence `c_t = f_t c_{t-1} + (1 - f_t) z_t` of `QRNN` (PASE+'s
is 512 units at 100 frames per second: 200 frames are 2 s of audio, 2,000
frames 20 s) computed two ways on the same random gates
`(batch, frames, units)`:

- `associative`: `keras_music.layers.qrnn.fo_pooling`, what the layer
  runs: a doubling scan over the composition of the affine steps,
  unrolled at trace time into `ceil(log2(frames))` static levels;
- `scan`: `keras.ops.scan` stepping through time (a `tf.while_loop` of
  `frames` iterations), the usual way to write a recurrence;
- `doubling`: `fo_pooling` traced without a time length, as in a
  SavedModel that takes any length: the layer's doubling scan
  (`ceil(log2(frames))` passes).

Each is timed forward and forward + backward (gradients of the sum of the
states with respect to both gates), as `tf.function`s, round-robin: every
round runs every case once, so load from other processes hits all cases
alike; median over `--repeats` rounds after one warm-up call per case
(tracing excluded). The results are checked to agree before timing.
Only the ratios, measured side by side, are meaningful.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import round_robin  # noqa: E402
from keras_music.layers.qrnn import fo_pooling  # noqa: E402


def scan_fo_pooling(forget, candidate):
    """The same recurrence with `keras.ops.scan`, one step per frame."""

    def step(cell, gates):
        f, z = gates
        cell = f * cell + (1.0 - f) * z
        return cell, cell

    time_major = (
        keras.ops.transpose(forget, (1, 0, 2)),
        keras.ops.transpose(candidate, (1, 0, 2)),
    )
    _, cells = keras.ops.scan(
        step, keras.ops.zeros_like(forget[:, 0]), time_major
    )
    return keras.ops.transpose(cells, (1, 0, 2))


def _signature(units, any_length):
    if not any_length:
        return None
    spec = tf.TensorSpec((None, None, units), tf.float32)
    return [spec, spec]


def forward_fn(pooling, units, any_length=False):
    return tf.function(pooling, input_signature=_signature(units, any_length))


def backward_fn(pooling, units, any_length=False):
    @tf.function(input_signature=_signature(units, any_length))
    def run(forget, candidate):
        with tf.GradientTape() as tape:
            tape.watch([forget, candidate])
            loss = tf.reduce_sum(pooling(forget, candidate))
        return tape.gradient(loss, [forget, candidate])

    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--frames", default="200,2000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    # Every case is a new tf.function traced once: not the retracing that
    # TensorFlow warns about.
    tf.get_logger().setLevel("ERROR")
    lengths = [int(v) for v in args.frames.split(",")]

    rng = np.random.default_rng(0)
    implementations = {
        "associative": (fo_pooling, False),
        "scan": (scan_fo_pooling, False),
        "doubling": (fo_pooling, True),
    }
    cases = {}
    for frames in lengths:
        shape = (args.batch, frames, args.units)
        forget = tf.constant(rng.uniform(0, 1, shape).astype("float32"))
        candidate = tf.constant(rng.uniform(-1, 1, shape).astype("float32"))
        outputs = {}
        for name, (pooling, any_length) in implementations.items():
            fwd = forward_fn(pooling, args.units, any_length)
            bwd = backward_fn(pooling, args.units, any_length)
            outputs[name] = fwd(forget, candidate).numpy()
            cases[(frames, "forward", name)] = (
                lambda fn=fwd, f=forget, z=candidate: fn(f, z).numpy()
            )
            cases[(frames, "forward+backward", name)] = (
                lambda fn=bwd, f=forget, z=candidate: [
                    g.numpy() for g in fn(f, z)
                ]
            )
        error = max(
            np.max(np.abs(outputs[name] - outputs["scan"]))
            for name in implementations
        )
        if error > 1e-4:
            raise RuntimeError(
                f"The two implementations disagree by {error} at {frames} "
                "frames."
            )

    start = time.perf_counter()
    medians = round_robin(cases, args.repeats)
    elapsed = time.perf_counter() - start

    devices = [d.device_type for d in tf.config.list_logical_devices()]
    device = "GPU" if "GPU" in devices else "CPU"
    print(
        f"fo-pooling, batch {args.batch} x {args.units} units, float32, "
        f"{device} ({os.cpu_count()} CPU cores), TF {tf.__version__}; "
        f"median of {args.repeats} round-robin rounds ({elapsed:.0f} s)."
    )
    print(
        f"{'frames':>7} {'pass':<17} {'scan ms':>9} {'assoc. ms':>9} "
        f"{'doubl. ms':>9} {'scan/assoc.':>11} {'scan/doubl.':>11}"
    )
    rows = []
    for frames in lengths:
        for phase in ("forward", "forward+backward"):
            t_scan = medians[(frames, phase, "scan")]
            t_assoc = medians[(frames, phase, "associative")]
            t_doubl = medians[(frames, phase, "doubling")]
            rows.append((frames, phase, t_scan / t_assoc, t_scan / t_doubl))
            print(
                f"{frames:>7} {phase:<17} {t_scan * 1e3:>9.2f} "
                f"{t_assoc * 1e3:>9.2f} {t_doubl * 1e3:>9.2f} "
                f"{t_scan / t_assoc:>11.2f} {t_scan / t_doubl:>11.2f}"
            )
    print(
        "scan/assoc., scan/doubl. > 1: that scan is that many times faster "
        "than keras.ops.scan."
    )
    return rows


if __name__ == "__main__":
    main()
