"""Speed of MAEST with inference and training patchout, against EffNet-B0.

    python benchmarks/maest.py [--preset maest_30s] [--batch_size 2]
        [--repeats 3] [--train_batch 2] [--xla_all] [--quick]

Measures, in one process and round-robin (every round runs every case
once, so load from other processes hits all cases alike), with the median
over `--repeats` rounds after one warm-up call per case (tracing and
compilation excluded):

- forward throughput (examples/s) of `MAESTBackbone` (all blocks and the
  final LayerNorm) without patchout and with the paper's inference
  patchout settings (Section 4.5: keep 1 of T = 2, 3, 5, 10 time columns;
  drop F = 3 frequency rows, the first and the two last, or F = 4, the two
  first and the two last), against the penultimate (pooled, 1280-d)
  output of `EfficientNetTagger` (EfficientNet-B0, one channel) on the
  same input. Both run as `tf.function(model(x, training=False))`, what
  `predict_on_batch` compiles on a CPU-only machine (Keras does not use
  XLA there); XLA (`jit_compile=True`) rows are added for EffNet-B0 and
  MAEST without patchout (`--xla_all`: for every row);
- the analytic FLOPs of MAEST's forward pass per example (patch
  convolution, qkv, attention scores and weighted sum, output projection,
  MLP; two FLOPs per multiply-add), checked against TensorFlow's graph
  profiler, and the achieved FLOP/s as a fraction of a large float32
  matmul's FLOP/s measured in the same rounds;
- training steps/s of `MAESTTagger` (its `compile()` defaults: AdamW, BCE,
  ROC-AUC/PR-AUC) with the preset's training patchout against none.

Inputs are random log-mel spectrograms `(batch, 96, num_frames)` (1876
frames = 30 s at 16 kHz, hop 256). The frontend is excluded from every row
and timed once on its own (`LogMelSpectrogram` on the batch's raw audio).
Only ratios measured side by side are meaningful; absolute numbers depend
on the machine and its load. Nothing is asserted.

Example output of `python benchmarks/maest.py` on 2 CPU cores (AVX-512)
shared with other jobs (this process got 73 % of one core; the matmul
reached 109 GFLOP/s). It took 8 min wall time and 12.8 GB of memory at its
peak (training without patchout at batch 2 keeps 12 blocks of
12 x 1685 x 1685 attention maps):

```
maest_30s: log-mel input (batch, 96, 1876); forward batch 2, train batch 2.
2 CPU cores, TF 2.21.0; median of 3 round-robin rounds (448 s),
after one warm-up call each.
Frontend excluded from all rows: LogMelSpectrogram takes 8.2 ms
per 30.0 s clip (tf.function).
Peak: float32 matmul 4096x4096 @ 4096x4096, 109.1 GFLOP/s.
MAEST forward, no patchout: 391.56 GFLOP/example analytic;
TF profiler 391.56 (matmul and conv ops), 394.72 (all ops).

tf.function, what predict() runs on CPU:
forward: graph  tokens GFLOP/ex    ex/s x EffNet x MAEST GFLOP/s x peak
-----------------------------------------------------------------------
EffNet-B0            -    2.829  12.270     1.00       -    34.7   0.32
MAEST none        1685  391.557   0.222     0.02    1.00    87.1   0.80
MAEST T=2          848  171.220   0.599     0.05    2.69   102.5   0.94
MAEST T=3          569  109.253   0.806     0.07    3.62    88.0   0.81
MAEST T=5          344   63.459   1.288     0.10    5.79    81.7   0.75
MAEST T=10         173   31.152   3.212     0.26   14.44   100.1   0.92
MAEST F=3         1124  238.168   0.324     0.03    1.45    77.0   0.71
MAEST F=4          937  192.195   0.326     0.03    1.46    62.6   0.57
MAEST T=3, F=3     380   70.535   1.102     0.09    4.96    77.8   0.71
MAEST T=10, F=4     97   17.486   4.356     0.36   19.58    76.2   0.70

XLA, tf.function(jit_compile=True):
forward: XLA    tokens GFLOP/ex    ex/s x EffNet x MAEST GFLOP/s x peak
-----------------------------------------------------------------------
EffNet-B0            -    2.829   0.717     1.00       -     2.0   0.02
MAEST none        1685  391.557   0.166     0.23    1.00    64.9   0.60
GFLOP/ex: MAEST analytic (matrix products), EffNet-B0 from TF's
profiler (all ops). x EffNet, x MAEST: throughput ratios within
one table. x peak: achieved GFLOP/s over the matmul's.
Paper (Section 4.5): with inference patchout MAEST-30s runs 2-3x
faster than EffNet-B0. Best here (maest_30s): 0.36x (MAEST T=10, F=4, graph):
NOT met.

MAESTTagger.train_on_batch, compile() defaults (AdamW, BCE, AUC):
training patchout      tokens  steps/s  ratio
---------------------------------------------
none                     1685    0.026   1.00
time 90, freq 3           584    0.101   3.83
ratio: steps/s against no patchout.
```

EffNet-B0 under XLA is 17x slower than without on this CPU, and MAEST
0.75x: Keras' `predict` does not use XLA on CPU-only machines, and the
"graph" rows are what users get. The paper's 2-3x claim is not reproduced:
even with T=10, F=4 MAEST does 6x EffNet-B0's FLOPs per example (17.5 vs
2.8 G), and EffNet-B0 runs at a third of the matmul rate against MAEST's
0.7-0.9, which leaves MAEST at about 0.36x EffNet-B0's throughput.
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
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram  # noqa: E402
from keras_music.models.efficientnet.efficientnet_tagger import (  # noqa: E402
    EfficientNetTagger,
)
from keras_music.models.maest.maest_backbone import MAESTBackbone  # noqa: E402
from keras_music.models.maest.maest_layers import patch_grid_size  # noqa: E402
from keras_music.models.maest.maest_presets import backbone_presets  # noqa: E402
from keras_music.models.maest.maest_tagger import MAESTTagger  # noqa: E402

# Ops whose FLOPs the analytic count covers; the rest of the graph
# (LayerNorm, softmax, GELU, bias and residual adds) is element-wise and
# adds under 1 % for ViT-Base at 30 s.
MATMUL_OPS = ("Conv2D", "MatMul", "BatchMatMul", "BatchMatMulV2")


def patchout_grid(config, frames, time_stride=1, freq_drop=()):
    """Patch rows and columns kept at inference: `(rows, columns)`.

    `config` holds `MAESTBackbone` arguments (a preset dict). Columns are
    `0, k, 2k, …` of the time grid, so `ceil(columns / k)` are kept.
    """
    rows = patch_grid_size(
        config["num_mel_bins"], config["patch_size"], config["patch_stride"]
    )
    cols = patch_grid_size(frames, config["patch_size"], config["patch_stride"])
    return rows - len(freq_drop), -(-cols // time_stride)


def maest_forward_flops(config, frames, time_stride=1, freq_drop=()):
    """Analytic FLOPs of one example through a `MAESTBackbone`, by part.

    Two FLOPs per multiply-add; only the matrix products are counted
    (element-wise ops are under 1 %). The patch convolution runs on the
    whole grid before patchout; the blocks see `N = 2 + rows * columns`
    tokens. Per block: qkv `2 N D 3D`, scores `2 N^2 D` (all heads
    together: `heads * 2 N^2 * D / heads`), weighted sum `2 N^2 D`,
    projection `2 N D^2`, MLP `2 * 2 N D I`.

    Hand count for maest_30s without patchout (9 x 187 patches, N = 1685,
    D = 768, I = 3072, 12 blocks): patch conv 2 * 1683 * 256 * 768 =
    0.662 G; per block 2 * 1685 * 768 * (2304 + 768 + 6144) = 23.85 G of
    dense layers plus 4 * 1685^2 * 768 = 8.72 G of attention, 32.57 G;
    12 blocks 390.9 G; total 391.56 GFLOP per example. TensorFlow's
    profiler gives 391.56 G for the Conv2D/MatMul/BatchMatMul ops of the
    traced graph and 394.72 G counting every op.
    """
    size = config["patch_size"]
    dim, inner = config["hidden_dim"], config["intermediate_dim"]
    layers = config["num_layers"]
    full_rows, full_cols = patchout_grid(config, frames)
    rows, cols = patchout_grid(config, frames, time_stride, freq_drop)
    tokens = 2 + rows * cols
    return {
        "patch_conv": 2 * full_rows * full_cols * size * size * dim,
        "qkv": layers * 2 * tokens * dim * 3 * dim,
        "attention": layers * 2 * (2 * tokens * tokens * dim),
        "proj": layers * 2 * tokens * dim * dim,
        "mlp": layers * 2 * (2 * tokens * dim * inner),
    }


def graph_flops(concrete_function, op_types=None):
    """FLOPs of a traced graph from TensorFlow's profiler (static shapes).

    `op_types`: count only these op types (e.g. `MATMUL_OPS`); `None`
    counts every op with registered FLOP statistics.
    """
    from tensorflow.python.profiler import model_analyzer
    from tensorflow.python.profiler import option_builder

    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    if op_types is not None:
        options["account_type_regexes"] = [f"^{t}$" for t in op_types]
    result = model_analyzer.profile(concrete_function.graph, options=options)
    return result.total_float_ops


def forward_step(model, x, jit_compile):
    """A step that runs `model(x)` as `predict_on_batch` would."""
    fn = tf.function(
        lambda x: model(x, training=False), jit_compile=jit_compile
    )
    # Traced here, with the model's current settings (inference patchout
    # is read at trace time); later calls reuse this graph.
    concrete = fn.get_concrete_function(tf.TensorSpec(x.shape, x.dtype))
    return concrete, lambda: fn(x).numpy()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="maest_30s")
    parser.add_argument("--batch_size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train_batch", type=int, default=2)
    parser.add_argument(
        "--xla_all",
        action="store_true",
        help="Add an XLA row for every configuration, not only two.",
    )
    parser.add_argument(
        "--matmul_size", type=int, default=4096, help="Side of the matmul."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Smoke run: maest_tiny, its 66-frame input, 1 round.",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.preset, args.repeats, args.matmul_size = "maest_tiny", 1, 512
    if args.preset not in backbone_presets:
        parser.error(f"--preset must be one of {sorted(backbone_presets)}")
    config = backbone_presets[args.preset]
    frames = config["num_frames"]
    rows = patch_grid_size(
        config["num_mel_bins"], config["patch_size"], config["patch_stride"]
    )
    last = rows - 1
    rng = np.random.default_rng(0)
    x = tf.constant(
        rng.normal(size=(args.batch_size, config["num_mel_bins"], frames)),
        tf.float32,
    )

    # === Forward cases: (label, time stride, dropped rows) ===
    patchouts = [
        ("none", 1, ()),
        ("T=2", 2, ()),
        ("T=3", 3, ()),
        ("T=5", 5, ()),
        ("T=10", 10, ()),
        ("F=3", 1, (0, last - 1, last)),
        ("F=4", 1, (0, 1, last - 1, last)),
        ("T=3, F=3", 3, (0, last - 1, last)),
        ("T=10, F=4", 10, (0, 1, last - 1, last)),
    ]
    backbone = MAESTBackbone.from_preset(args.preset)
    tagger = EfficientNetTagger(
        num_mel_bins=config["num_mel_bins"], num_frames=frames
    )
    effnet = keras.Model(tagger.inputs, tagger.get_layer("head").input)
    cases, info = {}, {}
    modes = [("graph", False), ("XLA", True)]
    for mode, jit in modes:
        concrete, cases[("EffNet-B0", mode)] = forward_step(effnet, x, jit)
        # EffNet-B0's FLOPs from the profiler (depthwise convolutions,
        # squeeze-excitation: no short hand count).
        info[("EffNet-B0", mode)] = (
            "-",
            graph_flops(concrete) / args.batch_size,
        )
        for label, stride, drop in patchouts:
            if mode == "XLA" and label != "none" and not args.xla_all:
                continue
            backbone.set_inference_patchout(stride, drop)
            name = (f"MAEST {label}", mode)
            _, cases[name] = forward_step(backbone, x, jit)
            grid = patchout_grid(config, frames, stride, drop)
            flops = sum(
                maest_forward_flops(config, frames, stride, drop).values()
            )
            info[name] = (2 + grid[0] * grid[1], flops)
    backbone.set_inference_patchout(1, ())

    # The analytic count against TensorFlow's profiler, no patchout.
    concrete, _ = forward_step(backbone, x[:1], False)
    profiled = graph_flops(concrete, MATMUL_OPS)
    profiled_all = graph_flops(concrete)

    # === Peak: a large float32 matmul ===
    n = args.matmul_size
    a = tf.constant(rng.normal(size=(n, n)), tf.float32)
    matmul = tf.function(lambda a: tf.matmul(a, a))
    cases[("matmul", "graph")] = lambda: matmul(a).numpy()

    # === Training cases ===
    y = tf.constant(
        rng.integers(0, 2, size=(args.train_batch, 400)), tf.float32
    )
    x_train = x[: args.train_batch]
    if args.train_batch > args.batch_size:
        x_train = tf.tile(x, (-(-args.train_batch // args.batch_size), 1, 1))
        x_train = x_train[: args.train_batch]
    train_rows = {}
    for label, overrides in (
        ("none", {"train_time_patchout": 0, "train_freq_patchout": 0}),
        (
            f"time {config['train_time_patchout']}, "
            f"freq {config['train_freq_patchout']}",
            {},
        ),
    ):
        model = MAESTTagger(
            MAESTBackbone.from_preset(args.preset, **overrides), num_tags=400
        )
        model.compile()
        embedding = model.backbone.patch_embedding
        full_rows, full_cols = patchout_grid(config, frames)
        kept = max(full_rows - embedding.train_freq_patchout, 1) * max(
            full_cols - embedding.train_time_patchout, 1
        )
        name = (f"train {label}", "graph")
        train_rows[name] = 2 + kept
        cases[name] = lambda m=model: m.train_on_batch(x_train, y)

    # === Frontend, timed once on its own ===
    frontend = LogMelSpectrogram(check_values=False)
    samples = (frames - 1) * 256
    audio = tf.constant(
        rng.uniform(-0.5, 0.5, size=(args.batch_size, samples)), tf.float32
    )
    frontend_fn = tf.function(lambda a: frontend(a))
    frontend_time = round_robin({"f": lambda: frontend_fn(audio).numpy()}, 3)

    start = time.perf_counter()
    medians = round_robin(cases, args.repeats)
    total = time.perf_counter() - start
    peak = 2 * n**3 / medians[("matmul", "graph")]

    # === Report ===
    print(
        f"{args.preset}: log-mel input (batch, {config['num_mel_bins']}, "
        f"{frames}); forward batch {args.batch_size}, train batch "
        f"{args.train_batch}.\n{os.cpu_count()} CPU cores, TF "
        f"{tf.__version__}; median of {args.repeats} round-robin rounds "
        f"({total:.0f} s),\nafter one warm-up call each."
    )
    print(
        "Frontend excluded from all rows: LogMelSpectrogram takes "
        f"{frontend_time['f'] / args.batch_size * 1e3:.1f} ms\nper "
        f"{samples / 16000:.1f} s clip (tf.function)."
    )
    print(f"Peak: float32 matmul {n}x{n} @ {n}x{n}, {peak / 1e9:.1f} GFLOP/s.")
    analytic = sum(maest_forward_flops(config, frames).values())
    print(
        f"MAEST forward, no patchout: {analytic / 1e9:.2f} GFLOP/example "
        f"analytic;\nTF profiler {profiled / 1e9:.2f} (matmul and conv "
        f"ops), {profiled_all / 1e9:.2f} (all ops)."
    )
    best = None
    titles = {
        "graph": "tf.function, what predict() runs on CPU",
        "XLA": "XLA, tf.function(jit_compile=True)",
    }
    for mode, _ in modes:
        print()
        header = (
            f"{'forward: ' + mode:<15} {'tokens':>6} {'GFLOP/ex':>8} "
            f"{'ex/s':>7} {'x EffNet':>8} {'x MAEST':>7} {'GFLOP/s':>7} "
            f"{'x peak':>6}"
        )
        print(f"{titles[mode]}:")
        print(header)
        print("-" * len(header))
        effnet_speed = args.batch_size / medians[("EffNet-B0", mode)]
        maest_speed = args.batch_size / medians[("MAEST none", mode)]
        for name, seconds in medians.items():
            if name[1] != mode or name not in info:
                continue
            tokens, flops = info[name]
            speed = args.batch_size / seconds
            achieved = flops * speed
            versus_maest = (
                "-" if name[0] == "EffNet-B0" else f"{speed / maest_speed:.2f}"
            )
            print(
                f"{name[0]:<15} {tokens!s:>6} {flops / 1e9:>8.3f} "
                f"{speed:>7.3f} {speed / effnet_speed:>8.2f} "
                f"{versus_maest:>7} {achieved / 1e9:>7.1f} "
                f"{achieved / peak:>6.2f}"
            )
            if name[0].startswith("MAEST") and name[0] != "MAEST none":
                ratio = speed / effnet_speed
                if best is None or ratio > best[0]:
                    best = (ratio, f"{name[0]}, {mode}")
    print(
        "GFLOP/ex: MAEST analytic (matrix products), EffNet-B0 from TF's\n"
        "profiler (all ops). x EffNet, x MAEST: throughput ratios within\n"
        "one table. x peak: achieved GFLOP/s over the matmul's."
    )
    verdict = "met" if best[0] >= 2 else "NOT met"
    print(
        "Paper (Section 4.5): with inference patchout MAEST-30s runs 2-3x\n"
        f"faster than EffNet-B0. Best here ({args.preset}): "
        f"{best[0]:.2f}x ({best[1]}):\n{verdict}."
    )
    print()
    header = (
        f"{'training patchout':<22} {'tokens':>6} {'steps/s':>8} {'ratio':>6}"
    )
    print("MAESTTagger.train_on_batch, compile() defaults (AdamW, BCE, AUC):")
    print(header)
    print("-" * len(header))
    train_names = list(train_rows)
    base = 1 / medians[train_names[0]]
    for name in train_names:
        speed = 1 / medians[name]
        print(
            f"{name[0][6:]:<22} {train_rows[name]:>6} {speed:>8.3f} "
            f"{speed / base:>6.2f}"
        )
    print("ratio: steps/s against no patchout.")


if __name__ == "__main__":
    main()
