"""Throughput of keras_music's CQT and LogMelSpectrogram against librosa.

    python benchmarks/frontends.py [--batch 16] [--seconds 30] [--repeats 3]

Prints, for a batch of random clips, seconds of audio processed per second
of wall time for our layers (eager-free `tf.function`, with and without
XLA `jit_compile`) and for librosa (`librosa.cqt`,
`librosa.feature.melspectrogram`) looping over the same clips on one
thread, and the ratio ours / librosa. Run it on an otherwise idle
machine: both sides share the same cores.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# librosa's reference loop runs single-threaded (NumPy/BLAS, FFT).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_music.layers.cqt import CQT  # noqa: E402
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram  # noqa: E402


def best_time(fn, repeats):
    """Best of `repeats` wall times, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def ours(layer, clips, jit_compile, repeats):
    fn = tf.function(
        lambda x: layer(x), jit_compile=jit_compile, reduce_retracing=True
    )
    x = tf.constant(clips)
    return best_time(lambda: fn(x).numpy(), repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    rows = []
    cases = [
        (
            "CQT",
            22050,
            CQT(check_values=False),
            lambda y: np.abs(librosa.cqt(y, sr=22050)),
        ),
        (
            "LogMelSpectrogram",
            16000,
            LogMelSpectrogram(check_values=False),
            lambda y: np.log10(
                1
                + 10000
                * librosa.feature.melspectrogram(
                    y=y,
                    sr=16000,
                    n_fft=512,
                    hop_length=256,
                    n_mels=96,
                    fmax=8000,
                )
            ),
        ),
    ]
    for name, sr, layer, reference in cases:
        clips = rng.uniform(
            -0.5, 0.5, size=(args.batch, int(args.seconds * sr))
        ).astype("float32")
        audio_seconds = args.batch * args.seconds

        def librosa_loop(clips=clips, reference=reference):
            for clip in clips:
                reference(clip)

        t_ref = best_time(librosa_loop, args.repeats)
        t_graph = ours(layer, clips, False, args.repeats)
        t_xla = ours(layer, clips, True, args.repeats)
        for label, t in (
            ("librosa (1 thread)", t_ref),
            ("ours, tf.function", t_graph),
            ("ours, XLA", t_xla),
        ):
            rows.append(
                (name, label, audio_seconds / t, t / args.batch, t_ref / t)
            )

    print(
        f"batch {args.batch} x {args.seconds:g} s clips, "
        f"{os.cpu_count()} CPU cores, best of {args.repeats}"
    )
    print(
        f"{'frontend':<18} {'implementation':<20} {'audio s/s':>10} "
        f"{'ms/clip':>8} {'x librosa':>10}"
    )
    for name, label, speed, per_clip, ratio in rows:
        print(
            f"{name:<18} {label:<20} {speed:>10.0f} {per_clip * 1e3:>8.2f} "
            f"{ratio:>10.2f}"
        )


if __name__ == "__main__":
    main()
