"""Is S3T's pre-training limited by its input pipeline or by its model?

    python benchmarks/s3t.py [--preset swin_tiny] [--batch_size 8]
        [--repeats 3] [--small]

Measures, in one process:

- examples/s of the augmentation pipeline of `recipes/s3t.py`, in
  `tf.data` as the recipe runs it (parallel map, AUTOTUNE): raw audio ->
  CQT (22.05 kHz, 84 bins, hop 512, dB) -> time compression -> per-clip
  standardisation -> `S3TAugment` (two views) -> `TimeFolding` of both
  views to the square input. The audio is random noise held in memory,
  so TFRecord reading and decoding are excluded (see
  `benchmarks/tfrecord_read.py` for those);
- MoCo training steps/s (`MoCo.train_on_batch`: momentum update, key
  pass, query pass with gradients, AdamW step, enqueue) of the preset
  on random square views, the median over `--repeats` timed steps after
  one warm-up step (tracing excluded), and the examples/s this gives;
- their ratio: pipeline examples/s over model examples/s. Above 1 the
  model is the bottleneck (the pipeline keeps up); below 1 the input is.

The default is the paper's setup: `swin_tiny` on 256 x 256 (84 bins x 768
frames compressed 10x, 178.3 s clips, folded 3 times and padded). With
`--small`, the recipe's CPU demo: `swin_mini` on 168 x 168 (336 frames
compressed 2x, 15.6 s clips, folded twice), batch 4, one repeat.

Absolute numbers depend on the machine and its load; both rates are
measured in the same process, one after the other. Nothing is asserted.

Example output of `python benchmarks/s3t.py` on 2 CPU cores (AVX-512)
shared with other jobs (load average ~15), about 8 minutes:

```
swin_tiny at 256x256: 84 bins x 768 frames (compression 10, 178.3 s
clips) folded 3x; batch 8; TF 2.21.0
augmentation pipeline:      8.68 examples/s
MoCo training (27,524,010 backbone parameters): 0.062 steps/s =
0.49 examples/s (median of 3)
pipeline / model = 17.54: the model is the bottleneck
```
"""

import argparse
import statistics
import sys
import time

import keras
import numpy as np
import tensorflow as tf

import keras_music  # noqa: F401  (sets the Keras backend)
from keras_music.layers.cqt import CQT
from keras_music.layers.s3t_augment import S3TAugment
from keras_music.layers.time_folding import TimeFolding
from keras_music.models.swin.swin_backbone import SwinBackbone
from keras_music.models.swin.swin_presets import backbone_presets
from keras_music.pretraining.moco import MoCo

SAMPLE_RATE = 22050
HOP_LENGTH = 512
N_BINS = 84
# (preset, time compression, fold): the paper's and the CPU demo's.
SETUPS = {False: ("swin_tiny", 10, 3), True: ("swin_mini", 2, 2)}


def clip_samples(size, compression, fold):
    """Samples of the shortest clip whose compressed CQT has exactly the
    `fold * size` frames that fold to `size` columns (frames = 1 +
    samples // hop)."""
    return (fold * size * compression - 1) * HOP_LENGTH


def augmentation_pipeline(audio, size, compression, fold, batch_size, seed=0):
    """The recipe's `tf.data` pre-training input on in-memory clips:
    batches of two square views `(batch, size, size)`."""
    cqt = CQT(
        sample_rate=SAMPLE_RATE,
        hop_length=HOP_LENGTH,
        n_bins=N_BINS,
        output_scale="db",
        time_compression=compression,
    )
    standardise = keras.layers.LayerNormalization(
        axis=(1, 2), center=False, scale=False, epsilon=1e-3
    )
    augment = S3TAugment(output_length=fold * size, seed=seed)
    fold_layer = TimeFolding(n=fold, target_size=(size, size))

    def views(clips):
        view_1, view_2 = augment(standardise(cqt(clips)), training=True)
        return fold_layer(view_1), fold_layer(view_2)

    dataset = tf.data.Dataset.from_tensor_slices(audio).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(views, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def pipeline_rate(dataset, batch_size, batches, clock=time.perf_counter):
    """Examples/s over `batches` batches, after one warm-up batch."""
    iterator = iter(dataset)
    next(iterator)
    started = clock()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (clock() - started)


def moco_step_time(preset, size, batch_size, repeats, clock=time.perf_counter):
    """Median seconds of one MoCo training step, after one warm-up step."""
    backbone = SwinBackbone.from_preset(preset, input_size=(size, size))
    moco = MoCo(backbone, queue_size=64 * batch_size)
    moco.compile(optimizer=keras.optimizers.AdamW(5e-4, weight_decay=0.05))
    rng = np.random.default_rng(0)
    views = tuple(
        rng.normal(size=(batch_size, size, size)).astype("float32")
        for _ in range(2)
    )
    moco.train_on_batch(views)
    times = []
    for _ in range(repeats):
        started = clock()
        moco.train_on_batch(views)
        times.append(clock() - started)
    return statistics.median(times), backbone.count_params()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default=None)
    parser.add_argument("--batch_size", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--pipeline_batches", type=int, default=None)
    parser.add_argument(
        "--small", action="store_true", help="The recipe's CPU demo sizes."
    )
    args = parser.parse_args(argv)
    preset, compression, fold = SETUPS[args.small]
    preset = args.preset or preset
    size = backbone_presets[preset]["input_size"][0]
    batch_size = args.batch_size or (4 if args.small else 8)
    repeats = args.repeats or (1 if args.small else 3)
    batches = args.pipeline_batches or (2 if args.small else 4)
    samples = clip_samples(size, compression, fold)

    print(
        f"{preset} at {size}x{size}: {N_BINS} bins x {fold * size} frames "
        f"(compression {compression}, {samples / SAMPLE_RATE:.1f} s clips) "
        f"folded {fold}x; batch {batch_size}; TF {tf.__version__}"
    )
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, (2 * batch_size, samples)).astype("float32")
    dataset = augmentation_pipeline(audio, size, compression, fold, batch_size)
    view = next(iter(dataset))[0]
    if tuple(view.shape) != (batch_size, size, size):
        raise RuntimeError(f"pipeline gave {view.shape}, not {size}x{size}")
    input_rate = pipeline_rate(dataset, batch_size, batches)
    step, params = moco_step_time(preset, size, batch_size, repeats)
    model_rate = batch_size / step
    ratio = input_rate / model_rate
    print(f"augmentation pipeline: {input_rate:9.2f} examples/s")
    print(
        f"MoCo training ({params:,} backbone parameters): {1 / step:.3f} "
        f"steps/s = {model_rate:9.2f} examples/s (median of {repeats})"
    )
    bottleneck = "model" if ratio >= 1 else "input pipeline"
    print(f"pipeline / model = {ratio:.2f}: the {bottleneck} is the bottleneck")
    return {
        "pipeline_examples_per_second": input_rate,
        "steps_per_second": 1 / step,
        "model_examples_per_second": model_rate,
        "ratio": ratio,
    }


if __name__ == "__main__":
    main(sys.argv[1:])
