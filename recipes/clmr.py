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
import dataclasses
import os

import flag_checks
import simclr_flags
from absl import app
from absl import flags
from absl import logging
from run_flags import cpu_demo
from run_flags import prepare_output
from run_flags import recipe_data
from run_flags import start_run

import keras_music  # noqa: F401  (sets the Keras backend)
from keras_music.data.tfrecord_format import write_json_atomic
from keras_music.data.view_pairs import clmr_views
from keras_music.data.view_pairs import view_pairs
from keras_music.evaluation.embedding_fusion import describe
from keras_music.evaluation.embedding_fusion import linear_protocol
from keras_music.evaluation.embedding_fusion import probe_scores
from keras_music.evaluation.probe_encoder import embed_splits
from keras_music.models.sample_cnn.sample_cnn_presets import (
    CPU_DEMO_WIDTH_DIVISOR,
)
from keras_music.models.sample_cnn.sample_cnn_presets import backbone_presets
from keras_music.pretraining.simclr_setup import sample_cnn
from keras_music.pretraining.simclr_setup import simclr_model
from keras_music.training.recipe_support import epoch_steps
from keras_music.training.recipe_support import pretrain
from keras_music.training.recipe_support import worker_done

# === Setup ===

SAMPLE_RATE = 22050
PAPER = {"epochs": 200, "batch_size": 48}
CPU_DEMO = {"epochs": 6, "batch_size": 32}

flags.DEFINE_string("preset", "sample_cnn_clmr", "SampleCNNBackbone preset.")
flags.DEFINE_integer(
    "crop_samples", None, "Samples per view. Default: the preset's (59049)."
)
flags.DEFINE_string(
    "embedding_cache",
    None,
    "Embedding cache root; runs sharing it reuse the random-init "
    "embeddings. Default: <output>/embeddings.",
)
flag_checks.positive("crop_samples")
simclr_flags.define_flags(
    projection_dim=64,
    augment_help="CLMR's whole chain, or random crops only (Table 1 ablation).",
    output_help="Run folder. Default: runs/clmr_<aug>.",
)
# --help lists the shared flags (recipes/simclr_flags.py, run_flags.py).
flags.adopt_module_key_flags(simclr_flags)
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Config(simclr_flags.Settings):
    """What one run does: the paper's settings or the CPU demo's, with
    the flags given on the command line over them (`config`)."""

    preset: str
    crop_samples: int
    output: str
    embedding_cache: str

    @property
    def segment_seconds(self):
        return self.crop_samples / SAMPLE_RATE


def config(demo):
    """The run's `Config`: the CPU demo's (`demo`) or the paper's
    settings, overridden by the flags given."""
    if FLAGS.preset not in backbone_presets:
        raise ValueError(
            f"`--preset` must be one of {sorted(backbone_presets)}. "
            f"Received: --preset={FLAGS.preset!r}"
        )
    crop = FLAGS.crop_samples or backbone_presets[FLAGS.preset]["input_length"]
    simclr_flags.check_span(crop, SAMPLE_RATE)
    output = FLAGS.output or os.path.join("runs", f"clmr_{FLAGS.augment}")
    return Config(
        **simclr_flags.settings(demo, PAPER, CPU_DEMO),
        preset=FLAGS.preset,
        crop_samples=crop,
        output=output,
        embedding_cache=FLAGS.embedding_cache
        or os.path.join(output, "embeddings"),
    )


# === Data ===


def training_pairs(cfg, directory):
    """Batches of two augmented crops of each track's random window."""
    views = clmr_views(
        SAMPLE_RATE, cfg.crop_samples, FLAGS.seed, cfg.augment == "crop_only"
    )
    return view_pairs(
        directory,
        cfg.span_seconds,
        cfg.batch_size,
        views,
        FLAGS.seed,
        FLAGS.data_service_address,
    )


# === Evaluate ===


def linear_scores(cfg, encoder, splits, task, protocol):
    """The linear probe's test scores on the frozen encoder's
    half-overlapped crops, averaged per track."""
    caches = embed_splits(
        encoder, splits, cfg.segment_seconds, cfg.embedding_cache
    )
    return probe_scores(caches, task, protocol, FLAGS.seed)


def main(_):
    strategy = start_run()
    demo = cpu_demo()
    cfg = config(demo)
    prepare_output(cfg.output, strategy)

    # === Data ===
    splits, source, manifest, task = recipe_data(
        SAMPLE_RATE, corpus_task="dance"
    )
    steps = epoch_steps(
        manifest["num_examples"], cfg.batch_size, cfg.steps_per_epoch
    )
    if demo:
        print(
            f"No GPU and no --data: pre-training {cfg.preset} at an eighth "
            f"of its width ({cfg.epochs} epochs, batch {cfg.batch_size}) on "
            f"the built-in corpus; pass --data (or run on a GPU) for CLMR's "
            "size."
        )
    train = training_pairs(cfg, splits["train"])

    # === Model ===
    with strategy.scope():
        encoder = sample_cnn(cfg.preset, cfg.crop_samples, demo)
        simclr = simclr_model(encoder, cfg)
    print(
        f"{cfg.preset}{' (demo width)' if demo else ''}: "
        f"{encoder.count_params():,} parameters, {cfg.crop_samples} samples "
        f"-> {encoder.output_dim}-d; augment {cfg.augment}; batch "
        f"{cfg.batch_size}; task {task!r} from {source}; strategy "
        f"{FLAGS.strategy} ({strategy.num_replicas_in_sync} replicas)"
    )

    # === Train ===
    # Resumable; the initial weights are kept, to probe the same encoder
    # untrained (a resumed run keeps those of its first start).
    done = pretrain(
        simclr,
        train,
        cfg.output,
        cfg.epochs,
        steps,
        strategy,
        baseline=encoder,
        verbose=FLAGS.verbose,
    )
    if worker_done(simclr, cfg.output, strategy):
        return  # the chief evaluates and writes the run's files
    encoder.save(os.path.join(cfg.output, "encoder.keras"))

    # === Evaluate ===
    protocol = linear_protocol(cfg.probe_epochs, cfg.probe_trials)
    pretrained = linear_scores(cfg, encoder, splits, task, protocol)
    encoder.load_weights(done.initial_weights)
    random_init = linear_scores(cfg, encoder, splits, task, protocol)

    # === Export ===
    results = {
        "preset": cfg.preset,
        "width_divisor": CPU_DEMO_WIDTH_DIVISOR if demo else 1,
        "augment": cfg.augment,
        "task": task,
        "sample_rate": SAMPLE_RATE,
        "segment_seconds": cfg.segment_seconds,
        "encoder": "encoder.keras",
        "epochs": cfg.epochs,
        "steps_per_epoch": steps,
        "batch_size": cfg.batch_size,
        "final_loss": done.history.history.get("loss", [None])[-1],
        "final_accuracy": done.history.history.get("accuracy", [None])[-1],
        "train_seconds": round(done.seconds, 1),
        "probe": protocol.name,
        "probe_trials": protocol.trials,
        "test": pretrained,
        "test_random_init": random_init,
    }
    write_json_atomic(os.path.join(cfg.output, "results.json"), results)
    print(
        f"test ({pretrained['tracks']} tracks, {task}): "
        f"{describe(pretrained)} (random init: {describe(random_init)}); "
        f"augment {cfg.augment}, pre-trained in {done.seconds:.0f} s; "
        f"encoder in {cfg.output}/encoder.keras"
    )


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main)
