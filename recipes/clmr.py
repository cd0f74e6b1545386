"""Pre-train CLMR, SampleCNN on raw audio with SimCLR, and probe it.

    python recipes/clmr.py

The method of Spijkervet & Burgoyne (CLMR, ISMIR 2021), the baseline of
the multi-format paper (../shared/papers/multiformat-contrastive.txt):
two random crops of 59,049 samples (2.7 s at 22.05 kHz) of each track,
each through CLMR's augmentation chain (`CLMRAugment`: polarity
inversion 0.8, white noise 0.01, gain -20..-1 dB 0.3, high/low-pass
filter 0.8, delay 0.3, pitch shift +-7 semitones 0.6, reverb 0.6), the
SampleCNN encoder (`sample_cnn_clmr`, 512-d), a projector Dense(512) ->
ReLU -> Dense(64) and NT-Xent with temperature 0.5 over the global batch
of 48 (Adam 3e-4, weight decay 1e-6). Then a linear classifier on the
frozen 512-d embedding, averaged over each track's half-overlapped
crops (Adam with weight decay 1e-6, early stopping on validation loss,
mean of 3 seeds).

`--augment crop_only` keeps the random crops and turns every other
augmentation off: the multi-format paper's Table 1 ablation.

With `--data DIR` (train/, valid/ and test/ TFRecord folders at 22.05
kHz, as `tfrecords/make_tfrecords.py` writes them) or on a GPU it trains
the full-size encoder for 200 epochs. With no `--data` on a CPU it
renders the built-in tune corpus (600 clips of 30 s; a few minutes the
first time), and pre-trains SampleCNN at an eighth of CLMR's width (same
depth and input, 64-d) for 6 epochs of batch 32, then probes the
`dance` task (5 classes): 13 minutes of pre-training, 34 minutes in all,
on two CPU cores busy with other jobs.

Everything lands in `--output`: TensorBoard logs, the state to resume an
interrupted run (run the same command again), `best.keras` (the SimCLR
model of the lowest loss), `encoder.keras` (59,049 samples in, embedding
out) and `results.json` with the probe's test scores on the pre-trained
encoder next to those on the same encoder at its random initialisation,
for example:

    test (24 tracks, dance): accuracy 0.500 macro F1 0.410 (random init:
    accuracy 0.375 macro F1 0.318); augment all, pre-trained in 777 s;
    encoder in runs/clmr_all/encoder.keras

(the CPU demo; with `--augment crop_only` the same run gives accuracy
0.250, macro F1 0.224: the augmentations matter, as in the paper.)

The crops and augmentations run in the `tf.data` pipeline; the SimCLR
model maps pairs of views to the contrastive loss.
"""

# First: keras_music imports TensorFlow quietly (KERAS_MUSIC_VERBOSE=1
# shows its logging).
from keras_music import quiet as _quiet  # noqa: F401

# isort: split
import os
import time

import flag_checks
import run_flags
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging
from contrastive_common import CPU_DEMO_WIDTH_DIVISOR
from contrastive_common import SAMPLE_RATE
from contrastive_common import describe
from contrastive_common import linear_protocol
from contrastive_common import probe_scores
from contrastive_common import sample_cnn
from contrastive_common import simclr_model
from contrastive_common import view_pairs
from run_flags import prepare_output
from run_flags import recipe_data
from run_flags import start_run

import keras_music  # noqa: F401  (sets the Keras backend)
from keras_music.data.tfrecord_format import write_json_atomic
from keras_music.distribute import fit
from keras_music.evaluation.probe_encoder import embed_splits
from keras_music.layers.clmr_augment import CLMRAugment
from keras_music.models.sample_cnn.sample_cnn_presets import backbone_presets
from keras_music.training.recipe_support import keep_initial_weights
from keras_music.training.recipe_support import resume_stream
from keras_music.training.recipe_support import run_callbacks
from keras_music.training.recipe_support import worker_done

PAPER = {"epochs": 200, "batch_size": 48}
CPU_DEMO = {"epochs": 6, "batch_size": 32}
# `--augment crop_only`: every stage of the chain but the crop off.
CROP_ONLY = {
    "polarity_p": 0.0,
    "noise_p": 0.0,
    "gain_p": 0.0,
    "filter_p": 0.0,
    "delay_p": 0.0,
    "pitch_p": 0.0,
    "reverb_p": 0.0,
}

flags.DEFINE_string("preset", "sample_cnn_clmr", "SampleCNNBackbone preset.")
flags.DEFINE_enum(
    "augment",
    "all",
    ["all", "crop_only"],
    "CLMR's whole chain, or random crops only (Table 1 ablation).",
)
flags.DEFINE_integer(
    "crop_samples", None, "Samples per view. Default: the preset's (59049)."
)
flags.DEFINE_float(
    "span_seconds", 30.0, "Window of each track the two crops come from."
)
flags.DEFINE_integer("epochs", None, "Pre-training epochs (200).")
flags.DEFINE_integer(
    "steps_per_epoch", None, "Batches per epoch. Default: one pass."
)
flags.DEFINE_integer("batch_size", None, "Global batch (48).")
flags.DEFINE_float("learning_rate", 3e-4, "Adam learning rate.")
flags.DEFINE_float("weight_decay", 1e-6, "Adam(W) weight decay.")
flags.DEFINE_float("temperature", 0.5, "NT-Xent temperature.")
flags.DEFINE_integer("projection_dim", 64, "Projector output width.")
flags.DEFINE_integer("probe_epochs", None, "Linear probe epoch cap (200).")
flags.DEFINE_integer("probe_trials", 3, "Linear probe seeds (mean).")
flags.DEFINE_string("output", None, "Run folder. Default: runs/clmr_<aug>.")
flags.DEFINE_string(
    "embedding_cache",
    None,
    "Embedding cache root; runs sharing it reuse the random-init "
    "embeddings. Default: <output>/embeddings.",
)
flag_checks.positive(
    "crop_samples",
    "span_seconds",
    "epochs",
    "steps_per_epoch",
    "batch_size",
    "learning_rate",
    "temperature",
    "projection_dim",
    "probe_epochs",
    "probe_trials",
)
flag_checks.non_negative("weight_decay")
# --help lists the shared flags (recipes/run_flags.py) with these.
flags.adopt_module_key_flags(run_flags)
FLAGS = flags.FLAGS


def crop_samples():
    """The preset's input length, checked against the flags."""
    if FLAGS.preset not in backbone_presets:
        raise ValueError(
            f"`--preset` must be one of {sorted(backbone_presets)}. "
            f"Received: --preset={FLAGS.preset!r}"
        )
    crop_length = (
        FLAGS.crop_samples or backbone_presets[FLAGS.preset]["input_length"]
    )
    if round(FLAGS.span_seconds * SAMPLE_RATE) < crop_length:
        raise ValueError(
            f"`--span_seconds` must hold a crop of {crop_length} samples "
            f"({crop_length / SAMPLE_RATE:.2f} s). "
            f"Received: --span_seconds={FLAGS.span_seconds}"
        )
    return crop_length


def augmentation(crop_length):
    """CLMR's chain (or the crops alone): audio -> two views."""
    off = CROP_ONLY if FLAGS.augment == "crop_only" else {}
    return CLMRAugment(
        sample_rate=SAMPLE_RATE,
        crop_length=crop_length,
        seed=FLAGS.seed,
        **off,
    )


def main(_):
    strategy = start_run()
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    demo = FLAGS.data is None and not has_gpu
    defaults = CPU_DEMO if demo else PAPER
    crop_length = crop_samples()
    epochs = FLAGS.epochs or defaults["epochs"]
    batch_size = FLAGS.batch_size or defaults["batch_size"]
    output = FLAGS.output or os.path.join("runs", f"clmr_{FLAGS.augment}")
    prepare_output(output, strategy)

    # === Data ===
    splits, source, manifest, task = recipe_data(
        SAMPLE_RATE, corpus_task="dance"
    )
    steps_per_epoch = FLAGS.steps_per_epoch or max(
        1, manifest["num_examples"] // batch_size
    )
    if demo:
        print(
            f"No GPU and no --data: pre-training {FLAGS.preset} at an eighth "
            f"of its width ({epochs} epochs, batch {batch_size}) on the "
            f"built-in corpus; pass --data (or run on a GPU) for CLMR's size."
        )
    augment = augmentation(crop_length)
    train = view_pairs(
        splits["train"],
        FLAGS.span_seconds,
        batch_size,
        lambda audio: augment(audio, training=True),
        FLAGS.seed,
    )
    # A resumed run goes on where the interrupted one's stream was.
    train, _ = resume_stream(train, output, steps_per_epoch)

    # === Model ===
    with strategy.scope():
        encoder = sample_cnn(FLAGS.preset, crop_length, demo)
        simclr = simclr_model(encoder, FLAGS)
    print(
        f"{FLAGS.preset}{' (demo width)' if demo else ''}: "
        f"{encoder.count_params():,} parameters, {crop_length} samples "
        f"-> {encoder.output_dim}-d; augment {FLAGS.augment}; batch "
        f"{batch_size}; task {task!r} from {source}; strategy "
        f"{FLAGS.strategy} ({strategy.num_replicas_in_sync} replicas)"
    )

    # === Pre-train ===
    # The initial weights, to probe the same encoder untrained (a resumed
    # run keeps those of its first start).
    initial_path = keep_initial_weights(encoder, output)
    started = time.time()
    history = fit(
        simclr,
        train,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=run_callbacks(output, "loss", "min", strategy),
        shuffle=False,  # the input pipeline shuffles
        verbose=FLAGS.verbose,
    )
    trained_seconds = time.time() - started
    if worker_done(simclr, output, strategy):
        return  # the chief evaluates and writes the run's files
    encoder.save(os.path.join(output, "encoder.keras"))

    # === Frozen linear evaluation ===
    cache_dir = FLAGS.embedding_cache or os.path.join(output, "embeddings")
    seconds = crop_length / SAMPLE_RATE
    protocol = linear_protocol(FLAGS.probe_epochs, FLAGS.probe_trials)
    caches = embed_splits(encoder, splits, seconds, cache_dir)
    pretrained = probe_scores(caches, task, protocol, FLAGS.seed)
    encoder.load_weights(initial_path)
    caches = embed_splits(encoder, splits, seconds, cache_dir)
    random_init = probe_scores(caches, task, protocol, FLAGS.seed)
    results = {
        "preset": FLAGS.preset,
        "width_divisor": CPU_DEMO_WIDTH_DIVISOR if demo else 1,
        "augment": FLAGS.augment,
        "task": task,
        "sample_rate": SAMPLE_RATE,
        "segment_seconds": seconds,
        "encoder": "encoder.keras",
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "batch_size": batch_size,
        "final_loss": history.history.get("loss", [None])[-1],
        "final_accuracy": history.history.get("accuracy", [None])[-1],
        "train_seconds": round(trained_seconds, 1),
        "probe": protocol.name,
        "probe_trials": protocol.trials,
        "test": pretrained,
        "test_random_init": random_init,
    }
    write_json_atomic(os.path.join(output, "results.json"), results)
    print(
        f"test ({pretrained['tracks']} tracks, {task}): "
        f"{describe(pretrained)} (random init: {describe(random_init)}); "
        f"augment {FLAGS.augment}, pre-trained in {trained_seconds:.0f} s; "
        f"encoder in {output}/encoder.keras"
    )


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main)
