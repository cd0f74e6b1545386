"""Export of a MAEST tagger for serving: time, size, latency, agreement.

    python benchmarks/export.py [--preset maest_30s] [--num_tags 50]
        [--repeats 3] [--quick]

Builds `MAESTTagger(MAESTBackbone.from_preset(preset), num_tags)` with
random weights (export cost and numerical agreement do not depend on
training) and, in one process:

- exports it as a TF Serving SavedModel (`export_saved_model`) and as
  TFLite float32 and float16 (`export_tflite`), timing each export and
  measuring its size on disk and the process's peak memory after it;
- runs one clip of the model's segment length (30 s for `maest_30s`)
  through the Keras model (frontend + tagger as one `tf.function`, what
  `predict_on_batch` runs on a CPU), the SavedModel's `serving_default`
  signature (reloaded with `tf.saved_model.load`; it also checks the
  request, segments and averages, here a single segment) and the LiteRT
  interpreter of each TFLite file (as many threads as CPU cores), timed
  round-robin (every round runs every case once, so load from other
  processes hits all alike) with the median over `--repeats` rounds after
  one warm-up call each;
- gives the largest absolute difference to the Keras model of the tag
  probabilities and of the embedding (the stacked tokens after block 7,
  from `maest_segment_encoder`).

Only the ratios measured side by side are meaningful; absolute times
depend on the machine and its load. Nothing is asserted.

Output of `python benchmarks/export.py` on 2 CPU cores (AVX-512) shared
with other jobs (load average about 14: this process got 20 % of the
machine, so every latency is about 4x what an idle machine gives; the
ratios hold). It took 14 min wall time and 4.8 GB of memory at its peak
(the Keras model, the reloaded SavedModel and two interpreters at once);
the float32 TFLite conversion peaked at 3.7 GB:

```
maest_30s tagger, 50 tags, 85,446,962 parameters (random weights); one
30.0 s clip (480000 samples at 16000 Hz).
2 CPU cores, TF 2.21.0; latency: median of 3 round-robin rounds (304 s)
after one warm-up call each; LiteRT with 2 threads.
format          export s  size MB peak GB  s/clip x Keras  max|dp|  max|de|
---------------------------------------------------------------------------
Keras                  -    341.8     1.6  20.376    1.00        -        -
SavedModel         103.1    344.4     1.7  18.470    0.91  3.6e-07  3.3e-06
TFLite float32     164.8    341.6     3.7  19.488    0.96  7.5e-07  1.4e-05
TFLite float16      84.9    170.9     3.7  19.209    0.94  5.0e-04  4.8e-03
size MB: on disk (Keras: float32 weights). peak GB: the process's
peak resident memory after that step. s/clip: median latency of
one clip; x Keras: latency over the Keras model's (below 1 is
faster). max|dp|, max|de|: largest absolute difference to the
Keras model of the tag probabilities and of the block 7
embedding (2304 values).
Total 783 s.
```

The three run at the same speed within the noise of a shared machine
(0.91-0.96x the Keras latency): all spend their time in the same
float32 matrix products. float16 weights halve the file but not the
time (on a CPU the float16 weights are dequantised to float32 when the
model loads) and move the
probabilities by up to 5e-4.
"""

import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from benchmarks.timing import round_robin  # noqa: E402
from keras_music.evaluation.segment_encoder import maest_segment_encoder  # noqa: E402
from keras_music.export.saved_model import export_saved_model  # noqa: E402
from keras_music.export.serving_export import export_size  # noqa: E402
from keras_music.export.serving_graph import ServingGraph  # noqa: E402
from keras_music.export.serving_graph import default_frontend  # noqa: E402
from keras_music.export.tflite import export_tflite  # noqa: E402
from keras_music.models.maest.maest_backbone import MAESTBackbone  # noqa: E402
from keras_music.models.maest.maest_presets import backbone_presets  # noqa: E402
from keras_music.models.maest.maest_tagger import MAESTTagger  # noqa: E402

# The exports in table order: (name, TFLite quantization or "saved_model").
EXPORTS = (
    ("SavedModel", "saved_model"),
    ("TFLite float32", None),
    ("TFLite float16", "float16"),
)


def peak_memory_gb():
    """The process's peak resident memory so far, in GB (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def timed(fn):
    """`fn()` and its wall time in seconds."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def keras_step(tagger, frontend, clip):
    """Frontend + tagger on `clip` as one `tf.function`, as `predict`
    compiles it on a CPU-only machine; returns a step giving NumPy
    probabilities."""

    @tf.function
    def forward(x):
        return tagger(frontend(x), training=False)

    return lambda: forward(clip).numpy()


def saved_model_step(path, clip):
    """The reloaded export's `serving_default` on `clip`."""
    signature = tf.saved_model.load(path).signatures["serving_default"]
    lengths = tf.constant([clip.shape[1]], tf.int32)
    audio = tf.constant(clip)
    return lambda: {
        key: value.numpy()
        for key, value in signature(audio=audio, lengths=lengths).items()
    }


def tflite_step(path, clip, num_threads):
    """The LiteRT interpreter's signature runner on `clip`."""
    interpreter = Interpreter(path, num_threads=num_threads)
    runner = interpreter.get_signature_runner()
    return lambda: runner(audio=clip)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="maest_30s")
    parser.add_argument("--num_tags", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--output_dir",
        default=None,
        help="Where to write the exports (default: a temporary folder).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Smoke run: maest_tiny (about 1 s segments), 1 round.",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.preset, args.repeats = "maest_tiny", 1
    if args.preset not in backbone_presets:
        parser.error(f"--preset must be one of {sorted(backbone_presets)}")
    threads = os.cpu_count()
    started = time.perf_counter()

    # === Model and clip ===
    keras.utils.set_random_seed(0)
    tagger = MAESTTagger(
        MAESTBackbone.from_preset(args.preset), num_tags=args.num_tags
    )
    frontend = default_frontend(tagger)
    # The export's own segment: the one that fills the positional grid.
    graph = ServingGraph(tagger, frontend=frontend)
    rng = np.random.default_rng(0)
    clip = rng.uniform(-0.5, 0.5, (1, graph.segment)).astype("float32")
    encoder = maest_segment_encoder(
        tagger.backbone, graph.embedding_block, "stack", frontend
    )
    expected_embedding = np.asarray(encoder(clip))
    memory = {"model": peak_memory_gb()}

    # === Exports ===
    output_dir = args.output_dir or tempfile.mkdtemp(prefix="export_bench_")
    name = f"{args.preset}_tagger"
    paths, export_seconds, sizes = {}, {}, {}
    for label, kind in EXPORTS:
        if kind == "saved_model":
            path, seconds = timed(
                lambda: export_saved_model(
                    tagger, os.path.join(output_dir, name)
                )
            )
        else:
            suffix = f".{kind}" if kind else ""
            path, seconds = timed(
                lambda suffix=suffix, kind=kind: export_tflite(
                    tagger,
                    os.path.join(output_dir, f"{name}{suffix}.tflite"),
                    quantization=kind,
                )
            )
        paths[label], export_seconds[label] = path, seconds
        sizes[label] = export_size(path)
        memory[label] = peak_memory_gb()
        # Progress: a full-size export takes minutes.
        print(
            f"exported {label} in {seconds:.1f} s "
            f"({sizes[label] / 1e6:.1f} MB; peak memory so far "
            f"{memory[label]:.1f} GB)",
            flush=True,
        )

    # === Latency, side by side ===
    cases = {"Keras": keras_step(tagger, frontend, clip)}
    cases["SavedModel"] = saved_model_step(paths["SavedModel"], clip)
    for label, _ in EXPORTS[1:]:
        cases[label] = tflite_step(paths[label], clip, threads)
    outputs = {label: step() for label, step in cases.items()}
    timing_started = time.perf_counter()
    medians = round_robin(cases, args.repeats)
    timing_seconds = time.perf_counter() - timing_started

    # === Agreement with the Keras model ===
    expected = outputs["Keras"]
    probability_diff, embedding_diff = {}, {}
    for label, _ in EXPORTS:
        probability_diff[label] = float(
            np.max(np.abs(outputs[label]["probabilities"] - expected))
        )
        embedding_diff[label] = float(
            np.max(np.abs(outputs[label]["embedding"] - expected_embedding))
        )

    # === Report ===
    seconds = graph.segment / graph.sample_rate
    print(
        f"\n{args.preset} tagger, {args.num_tags} tags, "
        f"{tagger.count_params():,} parameters (random weights); one "
        f"{seconds:.1f} s clip ({graph.segment} samples at "
        f"{graph.sample_rate} Hz).\n{threads} CPU cores, TF {tf.__version__}; "
        f"latency: median of {args.repeats} round-robin rounds "
        f"({timing_seconds:.0f} s) after one warm-up call each; LiteRT with "
        f"{threads} threads."
    )
    header = (
        f"{'format':<15} {'export s':>8} {'size MB':>8} {'peak GB':>7} "
        f"{'s/clip':>7} {'x Keras':>7} {'max|dp|':>8} {'max|de|':>8}"
    )
    print(header)
    print("-" * len(header))
    keras_seconds = medians["Keras"]
    print(
        f"{'Keras':<15} {'-':>8} {tagger.count_params() * 4 / 1e6:>8.1f} "
        f"{memory['model']:>7.1f} {keras_seconds:>7.3f} {1.0:>7.2f} "
        f"{'-':>8} {'-':>8}"
    )
    for label, _ in EXPORTS:
        print(
            f"{label:<15} {export_seconds[label]:>8.1f} "
            f"{sizes[label] / 1e6:>8.1f} {memory[label]:>7.1f} "
            f"{medians[label]:>7.3f} {medians[label] / keras_seconds:>7.2f} "
            f"{probability_diff[label]:>8.1e} {embedding_diff[label]:>8.1e}"
        )
    print(
        "size MB: on disk (Keras: float32 weights). peak GB: the process's\n"
        "peak resident memory after that step. s/clip: median latency of\n"
        "one clip; x Keras: latency over the Keras model's (below 1 is\n"
        "faster). max|dp|, max|de|: largest absolute difference to the\n"
        "Keras model of the tag probabilities and of the block "
        f"{graph.embedding_block}\nembedding ({expected_embedding.shape[1]} "
        "values)."
    )
    total = time.perf_counter() - started
    print(f"Total {total:.0f} s.")
    return {
        "export_seconds": export_seconds,
        "sizes": sizes,
        "latency": medians,
        "probability_diff": probability_diff,
        "embedding_diff": embedding_diff,
        "peak_memory_gb": memory,
    }


if __name__ == "__main__":
    main()
