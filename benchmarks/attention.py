"""MAEST's attention kernel against `keras.ops.dot_product_attention` and
query chunking, at MAEST-30s's token counts, on this CPU.

    python benchmarks/attention.py [--repeats 5] [--chunk 256 ...]
        [--batch 1] [--heads 12] [--head_dim 64] [--quick]

`MAESTAttention` computes `softmax(q k^T / sqrt(d)) v` with two batched
matmuls and a float32 softmax (`maest_layers.attention_product`). The
alternatives timed side by side (interleaved rounds,
`benchmarks/timing.py`, median, one warm-up call per case, under
`tf.function`; at N = 173 each timing is of 40 calls), for `--batch`
examples and the heads of one block (by default 12 x 64, MAEST-30s at
width 768; `--batch 16 --heads 2 --head_dim 16` is what
`benchmarks/embed.py`'s model runs per call), in float32 and bfloat16:

- `ours`: the layer's own computation (from q, k, v), whole;
- `logit_scale`: the layer's computation before it scaled q: the
  `1 / sqrt(d)` applied to the `N x N` logits, one pass more over them;
- `keras_dpa`: `keras.ops.dot_product_attention` (the fused kernel
  where the backend has one; TensorFlow on a CPU has none);
- `chunk_<c>`: the layer's query-chunked product (`query_chunk_size=c`)
  for each `--chunk` c: `c` queries at a time, so that `batch x heads x
  c` rows of the score matrix are held instead of `batch x heads x N`;
  `chunk_auto` is `query_chunk_size="auto"` (what `keras-music embed`
  uses), which picks c from the shapes or computes the product whole.

Token counts: MAEST-30s without patchout (N = 1685) and with inference
patchout T=10 (N = 173). The analytic share of attention in a block's
matrix products (`benchmarks/maest.py`, `maest_forward_flops`) is printed
beside: it bounds what any attention kernel can save of a whole forward.
Prints milliseconds per call, the speed ratio to `ours` and the largest
absolute difference of the outputs from `ours` in float32; `main` returns
the same as a list of rows.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.maest import maest_forward_flops  # noqa: E402
from benchmarks.timing import round_robin  # noqa: E402
from keras_music.models.maest.maest_layers import attention_product  # noqa: E402
from keras_music.models.maest.maest_presets import backbone_presets  # noqa: E402


def ours(q, k, v):
    # q, k, v of shape (batch, heads, tokens, d).
    return attention_product(q, k, v)


def logit_scale(q, k, v):
    logits = tf.matmul(q, k, transpose_b=True) * (q.shape[-1] ** -0.5)
    weights = tf.nn.softmax(tf.cast(logits, "float32"), axis=-1)
    return tf.matmul(tf.cast(weights, v.dtype), v)


def keras_dpa(q, k, v):
    # keras.ops.dot_product_attention takes (batch, tokens, heads, d).
    def layout(x):
        return tf.transpose(x, (0, 2, 1, 3))

    out = keras.ops.dot_product_attention(layout(q), layout(k), layout(v))
    return layout(out)


def chunked(chunk):
    return lambda q, k, v: attention_product(q, k, v, chunk)


def attention_share(config, frames, time_stride):
    flops = maest_forward_flops(config, frames, time_stride)
    dense = flops["qkv"] + flops["proj"] + flops["mlp"]
    return flops["attention"] / (flops["attention"] + dense)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk", type=int, nargs="+", default=[256])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--head_dim", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="Smoke run.")
    args = parser.parse_args(argv)
    config = backbone_presets["maest_30s"]
    frames = config["num_frames"]
    settings = {"none": 1, "T=10": 10}
    tokens = {"none": 1685, "T=10": 173}
    # Calls per timing: about 60 ms of work each, above the timer's noise.
    calls = {"none": 1, "T=10": 40}
    if args.quick:
        tokens, args.repeats = {"none": 64, "T=10": 16}, 1
    rng = np.random.default_rng(0)
    kernels = {"ours": ours, "logit_scale": logit_scale, "keras_dpa": keras_dpa}
    kernels.update({f"chunk_{c}": chunked(c) for c in [*args.chunk, "auto"]})
    cases, outputs = {}, {}
    shape = (args.batch, args.heads)
    for setting, n in tokens.items():
        qkv = rng.standard_normal((3, *shape, n, args.head_dim))
        qkv = qkv.astype("float32")
        for dtype in ("float32", "bfloat16"):
            q, k, v = (tf.constant(x, dtype=dtype) for x in qkv)
            for name, kernel in kernels.items():
                fn = tf.function(kernel)
                outputs[(setting, dtype, name)] = np.asarray(
                    tf.cast(fn(q, k, v), "float32")
                )

                def run(fn=fn, q=q, k=k, v=v, reps=calls[setting]):
                    for _ in range(reps):
                        fn(q, k, v).numpy()

                cases[(setting, dtype, name)] = run
    medians = {
        key: seconds / calls[key[0]]
        for key, seconds in round_robin(cases, args.repeats).items()
    }
    rows = []
    print(
        f"batch {args.batch}, {args.heads} heads x {args.head_dim}\n"
        f"{'setting':<7} {'tokens':>6} {'dtype':<9} {'kernel':<11} "
        f"{'ms':>8} {'x ours':>7} {'max|d|':>8} {'attn share':>10}"
    )
    for (setting, dtype, name), seconds in medians.items():
        reference = medians[(setting, dtype, "ours")]
        exact = outputs[(setting, "float32", "ours")]
        diff = np.abs(outputs[(setting, dtype, name)] - exact).max()
        share = attention_share(config, frames, settings[setting])
        rows.append(
            {
                "setting": setting,
                "dtype": dtype,
                "kernel": name,
                "ratio": reference / seconds,
                "max_abs_diff": float(diff),
                "attention_share": share,
            }
        )
        print(
            f"{setting:<7} {tokens[setting]:>6} {dtype:<9} {name:<11} "
            f"{seconds * 1e3:>8.2f} {reference / seconds:>7.2f} "
            f"{diff:>8.2g} {share:>10.1%}"
        )
    print(
        "attn share: attention's part of a MAEST-30s block's matrix-product "
        "FLOPs at that setting\n(the most a faster kernel can save of the "
        "forward pass)."
    )
    return rows


if __name__ == "__main__":
    main()
