"""MAEST-30s inference speed against EfficientNet-B0 as Essentia runs it.

    python benchmarks/maest.py [--tagger runs/maest_30s/model.keras]
        [--repeats 3] [--batch_clips 4] [--train] [--quick]
        [--output benchmarks/results/maest_speed.json]

Measures, in one process and round-robin (every round runs every case
once, so load from other processes hits all cases alike; median over
`--repeats` rounds after one warm-up call per case, tracing, compilation
and conversion excluded), embeddings per second (30 s clips per second,
one clip per call unless a row says otherwise) of:

- EfficientNet-B0 (`EfficientNetTagger`'s pooled 1280-d output, random
  weights) the way Essentia's discogs-effnet extractor runs it
  (`essentia_patches`: 128-frame patches with a hop of 62 frames, all
  patches of a clip in one batch; see `ESSENTIA_PATCH_FRAMES`), and once
  over the whole 96 x 1876 mel (`whole_mel`, the paper's framing);
- `MAESTBackbone` (`maest_30s`, random weights) without inference
  patchout and with the paper's settings (Section 4.5: keep 1 of T time
  columns, drop F = 4 frequency rows), in four variants: float32 and
  bfloat16 (`maest_with_precision`) under `tf.function`, what
  `predict()` runs on a CPU; float32 under XLA (`jit_compile=True`);
  int8 TFLite (dynamic range: int8 weights, float activations; and, for
  `T=10,F=4`, full integer with float fallback, calibrated on random
  spectrograms) run by LiteRT with every core;
- batches of `--batch_clips` clips for the fastest setting and the
  baseline;
- a float32 and a bfloat16 matmul, the machine's peak for the arithmetic.

GFLOP per clip: MAEST analytic (`maest_forward_flops`, matrix products),
EfficientNet-B0 from TensorFlow's profiler (all ops) on the patches of
one clip.

Quality (`--tagger`): full MAEST-30s cannot be trained on a CPU, so the
same settings run on a trained tagger of the same architecture family
and input (`python recipes/maest.py --segment 30` trains `maest_small`,
30 s input, on the built-in corpus and writes
`runs/maest_30s/model.keras`), on the built-in corpus's test split:
macro ROC-AUC of the track-averaged probabilities, and the largest
absolute difference of the sigmoid outputs from float32 without
patchout. Without that file the quality columns are empty.

Everything is printed and written to `--output` (JSON: machine, commit,
rows of model, setting, precision, runtime, batch, GFLOP per clip,
emb_per_s, ratio_vs_effnet_essentia, roc_auc, max_abs_diff), and the
same figures as a Markdown table beside it (`maest_speed.md`). Only
ratios measured side by side mean anything; absolute numbers depend on
the machine and its load. Nothing is asserted. `benchmarks/README.md`
has the table of a full run and the FLOP / bandwidth arithmetic. The
`--train` rows (training steps/s with and without training patchout)
keep 12 blocks of 1685 x 1685 attention maps for the gradient: about
13 GB at batch 2.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.timing import round_robin  # noqa: E402
from keras_music.data.tfrecord_dataset import tfrecord_dataset  # noqa: E402
from keras_music.evaluation.embedding_cache import track_labels  # noqa: E402
from keras_music.evaluation.metrics import roc_auc  # noqa: E402
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram  # noqa: E402
from keras_music.models.efficientnet.efficientnet_tagger import (  # noqa: E402
    EfficientNetTagger,
)
from keras_music.models.maest.maest_backbone import MAESTBackbone  # noqa: E402
from keras_music.models.maest.maest_embedder import maest_with_precision  # noqa: E402
from keras_music.models.maest.maest_layers import patch_grid_size  # noqa: E402
from keras_music.models.maest.maest_presets import backbone_presets  # noqa: E402
from keras_music.models.maest.maest_tagger import MAESTTagger  # noqa: E402

# Ops whose FLOPs the analytic count covers; the rest of the graph
# (LayerNorm, softmax, GELU, bias and residual adds) is element-wise and
# adds under 1 % for ViT-Base at 30 s.
MATMUL_OPS = ("Conv2D", "MatMul", "BatchMatMul", "BatchMatMulV2")

# Essentia's `TensorflowPredictEffnetDiscogs` (the discogs-effnet models,
# e.g. discogs-effnet-bs64-1.pb): 96-band log-mel at 16 kHz (frame 512,
# hop 256), `patchSize=128` frames, `patchHopSize=62`, `batchSize=64`
# patches per run. A 30 s clip (1876 frames) holds 29 whole patches; all
# go in one batch here (the bs64 graph would pad them to 64, which would
# only slow the baseline).
ESSENTIA_PATCH_FRAMES = 128
ESSENTIA_PATCH_HOP = 62

# Built-in corpus framing of `recipes/maest.py`.
SAMPLE_RATE, HOP_LENGTH = 16000, 256

# Variant -> (precision, runtime).
VARIANTS = {
    "float32": ("float32", "tf.function"),
    "bfloat16": ("bfloat16", "tf.function"),
    "xla": ("float32", "xla"),
    "int8_dynamic": ("int8_dynamic", "tflite"),
    "int8_full": ("int8_full", "tflite"),
}


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


def patchout_settings(config):
    """The paper's inference patchouts: `{name: (time stride, rows)}`."""
    rows = patch_grid_size(
        config["num_mel_bins"], config["patch_size"], config["patch_stride"]
    )
    drop4 = (0, 1, rows - 2, rows - 1)
    return {
        "none": (1, ()),
        "T=2": (2, ()),
        "T=5": (5, ()),
        "T=10": (10, ()),
        "T=10,F=4": (10, drop4),
    }


def essentia_patches(mel, frames=ESSENTIA_PATCH_FRAMES, hop=ESSENTIA_PATCH_HOP):
    """`(batch, bins, T)` -> `(batch * patches, bins, frames)`, whole
    patches only, clip-major."""
    patches = tf.signal.frame(mel, frames, hop, axis=2)
    patches = tf.transpose(patches, (0, 2, 1, 3))
    return tf.reshape(patches, (-1, mel.shape[1], frames))


def effnet_embedding(num_mel_bins, frames):
    """EfficientNet-B0's pooled 1280-d output on `(bins, frames)` input."""
    tagger = EfficientNetTagger(num_mel_bins=num_mel_bins, num_frames=frames)
    return keras.Model(tagger.inputs, tagger.get_layer("head").input)


def graph_runner(fn, shape, jit_compile=False):
    """`fn` traced now on float32 `shape`; numpy in, float32 numpy out."""
    step = tf.function(fn, jit_compile=jit_compile)
    concrete = step.get_concrete_function(tf.TensorSpec(shape, tf.float32))
    return concrete, lambda x: np.asarray(tf.cast(step(x), "float32"))


def tflite_runner(model, shape, quantization, representative=None):
    """`model` on `shape` converted to int8 TFLite and run by LiteRT.

    `"int8_dynamic"`: int8 weights, activations quantized on the fly;
    `"int8_full"`: int8 activations too, calibrated on `representative`
    (examples without the batch axis), float ops where no int8 kernel
    exists; float32 input and output either way. Converted by Keras'
    LiteRT export (through a SavedModel: 3.2 GB at the peak for
    maest_30s, against 8.7 GB from a frozen concrete function).
    """
    inputs = keras.Input(batch_shape=shape)
    wrapper = keras.Model(inputs, model(inputs, training=False))
    options = {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if quantization == "int8_full":
        options["representative_dataset"] = lambda: (
            [r[None]] for r in representative
        )
        options["target_spec"] = {
            "supported_ops": [
                tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                tf.lite.OpsSet.TFLITE_BUILTINS,
            ]
        }
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.tflite")
        wrapper.export(path, format="litert", verbose=False, **options)
        with open(path, "rb") as stream:
            return interpreter_runner(stream.read())


def interpreter_runner(flatbuffer):
    """A TFLite model run by LiteRT on every core; numpy in and out."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(
        model_content=flatbuffer, num_threads=os.cpu_count()
    )
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]

    def run(x):
        interpreter.set_tensor(source, np.asarray(x, "float32"))
        interpreter.invoke()
        return interpreter.get_tensor(target).copy()

    return run


def maest_runner(models, variant, shape, representative=None):
    """A runner of `models[precision]` (its current patchout) as `variant`."""
    precision, runtime = VARIANTS[variant]
    if runtime == "tflite":
        return tflite_runner(
            models["float32"], shape, precision, representative
        )
    model = models[precision]
    fn = lambda x: model(x, training=False)  # noqa: E731
    return graph_runner(fn, shape, jit_compile=runtime == "xla")[1]


def maest_rows(models, settings, shape, representative, full_integer):
    """`{(setting, variant): runner}` for every setting and variant,
    `int8_full` only for the settings in `full_integer`."""
    runners = {}
    for setting, (stride, drop) in settings.items():
        for model in models.values():
            model.set_inference_patchout(stride, drop)
        variants = ["float32", "bfloat16", "xla", "int8_dynamic"]
        variants += ["int8_full"] if setting in full_integer else []
        for variant in variants:
            runners[(setting, variant)] = maest_runner(
                models, variant, shape, representative
            )
    for model in models.values():
        model.set_inference_patchout(1, ())
    return runners


def maest_cases(name, runners, config, x):
    """Timed cases of `runners` on `x` and the GFLOP per clip of each
    setting: `({(name, setting, variant, 1): step}, {(name, setting):
    flops})`."""
    settings = patchout_settings(config)
    cases, flops = {}, {}
    for (setting, variant), run in runners.items():
        cases[(name, setting, variant, 1)] = lambda r=run: r(x)
        stride, drop = settings[setting]
        flops[(name, setting)] = sum(
            maest_forward_flops(
                config, config["num_frames"], stride, drop
            ).values()
        )
    return cases, flops


def speed_cases(args, config, frames, rng):
    """Timed cases `{(model, setting, variant, batch): step}` and their
    GFLOP per clip."""
    bins = config["num_mel_bins"]
    one = rng.normal(size=(1, bins, frames)).astype("float32")
    many = np.repeat(one, args.batch_clips, axis=0)
    backbone = MAESTBackbone.from_preset(args.preset)
    models = {
        "float32": backbone,
        "bfloat16": maest_with_precision(backbone, "bfloat16"),
    }
    settings = patchout_settings(config)
    if args.quick:
        settings = {k: settings[k] for k in ("none",)}
    # Full integer for the last setting only: each conversion of
    # maest_30s takes minutes (calibration runs the float model).
    calibration = rng.normal(size=(2, bins, frames)).astype("float32")
    runners = maest_rows(
        models, settings, one.shape, calibration, list(settings)[-1:]
    )
    cases, flops = maest_cases(args.preset, runners, config, one)
    best = list(settings)[-1]
    for model in models.values():
        model.set_inference_patchout(*settings[best])
    for variant in ("float32", "bfloat16"):
        run = maest_runner(models, variant, many.shape)
        cases[(args.preset, best, variant, args.batch_clips)] = lambda r=run: r(
            many
        )
    effnet_cases(args, bins, frames, one, many, cases, flops)
    return cases, flops


def effnet_cases(args, bins, frames, one, many, cases, flops):
    """EfficientNet-B0 cases, Essentia's patches and the whole mel."""
    patch = effnet_embedding(bins, args.patch_frames)
    hop = args.patch_hop
    essentia = lambda x: patch(  # noqa: E731
        essentia_patches(x, args.patch_frames, hop), training=False
    )
    concrete, run = graph_runner(essentia, one.shape)
    flops[("effnet_b0", "essentia_patches")] = graph_flops(concrete)
    cases[("effnet_b0", "essentia_patches", "float32", 1)] = lambda: run(one)
    _, run_many = graph_runner(essentia, many.shape)
    cases[("effnet_b0", "essentia_patches", "float32", len(many))] = lambda: (
        run_many(many)
    )
    whole = effnet_embedding(bins, frames)
    concrete, run_whole = graph_runner(
        lambda x: whole(x, training=False), one.shape
    )
    flops[("effnet_b0", "whole_mel")] = graph_flops(concrete)
    cases[("effnet_b0", "whole_mel", "float32", 1)] = lambda: run_whole(one)


def peak_cases(size, rng):
    """A `size`-square matmul in float32 and bfloat16."""
    cases = {}
    for dtype in ("float32", "bfloat16"):
        a = tf.cast(tf.constant(rng.normal(size=(size, size))), dtype)
        step = tf.function(lambda a: tf.matmul(a, a))
        cases[("matmul", dtype)] = lambda a=a, s=step: s(a).numpy()
    return cases


def train_cases(args, config, frames, rng):
    """Training steps of `MAESTTagger` with and without training patchout
    (`--train`)."""
    x = rng.normal(size=(args.train_batch, config["num_mel_bins"], frames))
    x = tf.constant(x, tf.float32)
    y = tf.constant(
        rng.integers(0, 2, size=(args.train_batch, 400)), tf.float32
    )
    cases = {}
    for label, overrides in (
        ("none", {"train_time_patchout": 0, "train_freq_patchout": 0}),
        ("preset", {}),
    ):
        model = MAESTTagger(
            MAESTBackbone.from_preset(args.preset, **overrides), num_tags=400
        )
        model.compile()
        cases[("train", label)] = lambda m=model: m.train_on_batch(x, y)
    return cases


def test_split(data_dir, segment_seconds):
    """Log-mel segments of a TFRecord folder (the recipe's frontend), the
    track of each, and the multi-hot labels of its first multi-label
    task: `(mel, track_index, truth, task)`."""
    frontend = LogMelSpectrogram(
        sample_rate=SAMPLE_RATE, hop_length=HOP_LENGTH, normalize=True
    )
    dataset = tfrecord_dataset(
        data_dir, segment_seconds=segment_seconds, mode="all", batch_size=8
    )
    mels, ids = [], []
    for audio, track in dataset:
        mels.append(np.asarray(frontend(audio)))
        ids.extend(track.numpy().astype(str).tolist())
    track_ids, labels, tasks = track_labels(data_dir)
    task = next(t for t, spec in tasks.items() if spec["multi_label"])
    row = {t: i for i, t in enumerate(track_ids.astype(str).tolist())}
    return np.concatenate(mels), np.array([row[t] for t in ids]), labels[task]


def track_average(scores, track_index, tracks):
    """Mean of segment scores per track, tracks in index order."""
    sums = np.zeros((tracks, scores.shape[1]))
    np.add.at(sums, track_index, scores)
    counts = np.bincount(track_index, minlength=tracks)[:, None]
    return sums / np.maximum(counts, 1)


def quality(tagger, mel, track_index, truth, quick):
    """`{(setting, variant): (roc_auc, max_abs_diff)}` of `tagger` under
    every setting and variant, against float32 without patchout, and
    the runners."""
    models = {
        "float32": tagger,
        "bfloat16": maest_with_precision(tagger, "bfloat16"),
    }
    settings = patchout_settings(tagger.backbone.get_config())
    if quick:
        settings = {k: settings[k] for k in ("none", "T=2")}
    shape = (1,) + mel.shape[1:]
    runners = maest_rows(models, settings, shape, mel[:8], settings)
    scores = {}
    for key, run in runners.items():
        segments = np.concatenate([run(m[None]) for m in mel])
        scores[key] = track_average(segments, track_index, len(truth))
    reference = scores[("none", "float32")]
    # Partially labelled tasks mark unknown labels -1.
    quality = {
        key: (
            float(roc_auc(truth, s, mask=truth >= 0)),
            float(np.abs(s - reference).max()),
        )
        for key, s in scores.items()
    }
    return quality, runners


def quick_quality(rng):
    """Quality inputs for `--quick`: a tiny untrained tagger, 8 random
    clips and random labels with both classes in every tag."""
    config = backbone_presets["maest_tiny"]
    tagger = MAESTTagger(MAESTBackbone.from_preset("maest_tiny"), num_tags=3)
    mel = rng.normal(size=(8, 96, config["num_frames"])).astype("float32")
    truth = np.tile(np.eye(2, dtype="int8")[[0, 1]], (4, 2))[:, :3]
    return tagger, mel, np.arange(8), truth


def machine():
    """What the figures were measured on."""
    flags = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as stream:
            flags = next((ln for ln in stream if ln.startswith("flags")), "")
    model = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as stream:
            names = [ln for ln in stream if ln.startswith("model name")]
        model = names[0].split(":", 1)[1].strip() if names else model
    features = [
        f for f in ("avx512_bf16", "amx_bf16", "amx_int8") if f in flags
    ]
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "features": features,
        "tensorflow": tf.__version__,
        "gpu": bool(tf.config.list_physical_devices("GPU")),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
    }


def git_commit():
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def result_rows(medians, flops, scores):
    """JSON rows; ratios against the Essentia-style EffNet-B0 row of the
    same batch."""
    base = {
        key[3]: key[3] / t
        for key, t in medians.items()
        if key[:2] == ("effnet_b0", "essentia_patches")
    }
    rows = []
    for key, seconds in medians.items():
        if key[0] in ("matmul", "train"):
            continue
        model, setting, variant, batch = key
        speed = batch / seconds
        auc, diff = scores.get((setting, variant), (None, None))
        if model == "effnet_b0":
            auc = diff = None
        precision, runtime = VARIANTS[variant]
        rows.append(
            {
                "model": model,
                "setting": setting,
                "precision": precision,
                "runtime": runtime,
                "batch": batch,
                "gflop_per_clip": round(flops[(model, setting)] / 1e9, 3),
                "emb_per_s": round(speed, 3),
                "ratio_vs_effnet_essentia": round(speed / base[batch], 3),
                "roc_auc": None if auc is None else round(auc, 4),
                "max_abs_diff": None if diff is None else float(f"{diff:.3g}"),
            }
        )
    return rows


def verdict(rows, preset):
    """Best ratio of `preset` within 1 ROC-AUC point of float32 without
    patchout."""
    maest = [r for r in rows if r["model"] == preset]
    reference = next(
        r["roc_auc"]
        for r in maest
        if (r["setting"], r["precision"], r["batch"]) == ("none", "float32", 1)
    )
    kept = [
        r
        for r in maest
        if reference is None
        or (r["roc_auc"] is not None and r["roc_auc"] >= reference - 0.01)
    ]
    best = max(kept, key=lambda r: r["ratio_vs_effnet_essentia"])
    return {
        "reference_roc_auc": reference,
        "best_within_1_point": {
            k: best[k]
            for k in ("setting", "precision", "runtime", "batch", "roc_auc")
        }
        | {"ratio": best["ratio_vs_effnet_essentia"]},
        "goal_2x_met": best["ratio_vs_effnet_essentia"] >= 2,
    }


def print_table(rows, peaks):
    header = (
        f"{'model':<10} {'setting':<17} {'precision':<12} {'runtime':<11} "
        f"{'batch':>5} {'GFLOP':>7} {'emb/s':>7} {'x Ess.':>6} "
        f"{'ROC-AUC':>7} {'max|d|':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        auc = "-" if r["roc_auc"] is None else f"{r['roc_auc']:.4f}"
        diff = "-" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.3g}"
        print(
            f"{r['model']:<10} {r['setting']:<17} {r['precision']:<12} "
            f"{r['runtime']:<11} {r['batch']:>5} {r['gflop_per_clip']:>7.2f} "
            f"{r['emb_per_s']:>7.3f} {r['ratio_vs_effnet_essentia']:>6.2f} "
            f"{auc:>7} {diff:>7}"
        )
    print(
        "emb/s: 30 s clips per second; x Ess.: against EffNet-B0 on\n"
        "Essentia's patches at the same batch. Peak matmul GFLOP/s: "
        + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items())
    )


def markdown_table(result, preset):
    """The issue's table as Markdown: `preset`'s patchout settings (rows)
    x variants (columns), each cell `emb/s (ratio x)` and the ROC-AUC;
    then the baseline rows and the batched rows."""
    rows = result["rows"]
    variants = list(VARIANTS.items())
    cell = {
        (r["setting"], (r["precision"], r["runtime"])): r
        for r in rows
        if r["model"] == preset and r["batch"] == 1
    }
    settings = list(dict.fromkeys(s for s, _ in cell))
    names = {
        "float32": "float32",
        "bfloat16": "bfloat16",
        "xla": "float32 XLA",
        "int8_dynamic": "int8 dynamic TFLite",
        "int8_full": "int8 full-integer TFLite",
    }
    lines = [
        f"| {preset} | " + " | ".join(names[v] for v, _ in variants) + " |",
        "|---" * (len(variants) + 1) + "|",
    ]
    for setting in settings:
        cells = []
        for _, key in variants:
            r = cell.get((setting, key))
            if r is None:
                cells.append("-")
                continue
            auc = "" if r["roc_auc"] is None else f", AUC {r['roc_auc']:.4f}"
            cells.append(
                f"{r['emb_per_s']:.2f} ({r['ratio_vs_effnet_essentia']:.2f}x)"
                f"{auc}"
            )
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| model | setting | precision | runtime | batch | GFLOP/clip "
        "| emb/s | x Essentia |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["model"] == "effnet_b0" or r["batch"] > 1:
            lines.append(
                f"| {r['model']} | {r['setting']} | {r['precision']} "
                f"| {r['runtime']} | {r['batch']} | {r['gflop_per_clip']:.2f} "
                f"| {r['emb_per_s']:.2f} "
                f"| {r['ratio_vs_effnet_essentia']:.2f} |"
            )
    best = result["verdict"]["best_within_1_point"]
    lines += [
        "",
        f"Reference ROC-AUC (float32, no patchout): "
        f"{result['verdict']['reference_roc_auc']}. Fastest within 1 point: "
        f"{best['setting']} {best['precision']} {best['runtime']} batch "
        f"{best['batch']}, {best['ratio']:.2f}x the Essentia-style "
        f"EfficientNet-B0 at ROC-AUC {best['roc_auc']}.",
        f"Commit {result['commit']}, `{result['command'].strip()}`, "
        f"{result['seconds']} s, 1-min load average at start "
        f"{result['machine']['load_average_1min_at_start']}.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="maest_30s")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch_clips", type=int, default=4)
    parser.add_argument("--tagger", default="runs/maest_30s/model.keras")
    parser.add_argument("--tagger_label", default="maest_small")
    parser.add_argument("--data", default=None, help="Test TFRecord folder.")
    parser.add_argument(
        "--output", default="benchmarks/results/maest_speed.json"
    )
    parser.add_argument(
        "--patch_frames", type=int, default=ESSENTIA_PATCH_FRAMES
    )
    parser.add_argument("--patch_hop", type=int, default=ESSENTIA_PATCH_HOP)
    parser.add_argument("--matmul_size", type=int, default=2048)
    parser.add_argument("--train", action="store_true", help="Training rows.")
    parser.add_argument("--train_batch", type=int, default=2)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Smoke run: maest_tiny, 1 round, an untrained tiny tagger.",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.preset, args.repeats, args.matmul_size = "maest_tiny", 1, 256
        args.batch_clips, args.patch_frames, args.patch_hop = 2, 32, 16
    if args.preset not in backbone_presets:
        parser.error(f"--preset must be one of {sorted(backbone_presets)}")
    return args


def quality_model(args, rng):
    """The trained tagger, its test split and a description:
    `(label, tagger, (mel, track_index, truth), source)`; `None` without
    `--tagger`."""
    if args.quick:
        tagger, *split = quick_quality(rng)
        return "maest_tiny_tagger", tagger, split, "maest_tiny, untrained"
    if not os.path.exists(args.tagger):
        print(f"No {args.tagger}: no quality columns.")
        return None
    from keras_music.training.recipe_support import resolve_splits

    data = args.data or resolve_splits(None, sample_rate=SAMPLE_RATE)[0]["test"]
    tagger = keras.saving.load_model(args.tagger, compile=False)
    frames = tagger.backbone.num_frames
    split = test_split(data, (frames - 1) * HOP_LENGTH // SAMPLE_RATE)
    source = (
        f"{args.tagger} ({args.tagger_label}, {tagger.count_params():,} "
        f"parameters, trained by recipes/maest.py --segment 30), "
        f"{len(split[2])} test tracks of the built-in corpus"
    )
    return args.tagger_label, tagger, split, source


def quality_cases(args, rng):
    """Quality of every setting on the trained tagger, and its own timed
    cases: `(scores, cases, flops, source)`."""
    found = quality_model(args, rng)
    if found is None:
        return {}, {}, {}, None
    label, tagger, (mel, track_index, truth), source = found
    scores, runners = quality(tagger, mel, track_index, truth, args.quick)
    config = tagger.backbone.get_config()
    cases, flops = maest_cases(label, runners, config, mel[:1])
    return scores, cases, flops, source


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(0)
    config = backbone_presets[args.preset]
    frames = config["num_frames"]
    info = machine()
    started = time.perf_counter()
    scores, cases, flops, source = quality_cases(args, rng)
    speed, speed_flops = speed_cases(args, config, frames, rng)
    cases.update(speed)
    flops.update(speed_flops)
    cases.update(peak_cases(args.matmul_size, rng))
    if args.train:
        cases.update(train_cases(args, config, frames, rng))
    medians = round_robin(cases, args.repeats)
    peaks = {
        dtype: 2 * args.matmul_size**3 / medians[("matmul", dtype)] / 1e9
        for dtype in ("float32", "bfloat16")
    }
    rows = result_rows(medians, flops, scores)
    result = {
        "machine": info,
        "commit": git_commit(),
        "command": "python benchmarks/maest.py "
        + " ".join(argv or sys.argv[1:]),
        "speed_model": f"{args.preset}, random weights, log-mel input",
        "quality_model": source,
        "repeats": args.repeats,
        "seconds": round(time.perf_counter() - started),
        "peak_matmul_gflop_per_s": {k: round(v, 1) for k, v in peaks.items()},
        "rows": rows,
        "verdict": verdict(rows, args.preset),
    }
    if args.train:
        result["train_steps_per_s"] = {
            key[1]: round(1 / t, 4)
            for key, t in medians.items()
            if key[0] == "train"
        }
    print_table(rows, peaks)
    print(json.dumps(result["verdict"]))
    directory = os.path.dirname(args.output)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(args.output, "w") as stream:
        json.dump(result, stream, indent=1)
        stream.write("\n")
    # The same figures as the Markdown table of benchmarks/README.md.
    with open(os.path.splitext(args.output)[0] + ".md", "w") as stream:
        stream.write(markdown_table(result, args.preset))


if __name__ == "__main__":
    main()
