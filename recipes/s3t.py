"""Pre-train S3T, a Swin Transformer on CQT spectrograms, with MoCo v2.

    python recipes/s3t.py --preprocessor time_folding

The paper's method (Zhao et al., ICASSP 2022, Sections 2-4): a constant-Q
spectrogram (22.05 kHz, 84 bins, 12 per octave, hop 512) compressed along
time, two augmented views of each clip (S3TAugment: random crops, time
warping, pitch/time shifts, frequency and time masking), Time Folding (or
Frequency Tiling) to a square image, a Swin-T encoder pre-trained with
MoCo v2 (AdamW, lr 5e-4, cosine decay after 20 warm-up epochs of 400,
queue 65,536, momentum 0.999, temperature 0.2), then a linear probe on the
frozen encoder (the evaluation library's `s3t` protocol).

The paper's input sizes do not fit together literally, so the time
compression and the clip length are flags, and the default clip is the
one that fills the Swin's input exactly: with `--time_compression 10`
(the default), 84 bins x 768 frames of a 178.3 s clip, folded in 3 to
252 x 256 and padded to 256 x 256 (Frequency Tiling: 256 frames, 59.4 s);
`keras_music/models/s3t/s3t_presets.py` has the arithmetic. A
`--clip_seconds` of another length is cropped and resized by the
augmentation in training and cropped or padded at evaluation.

With `--data DIR` (train/, valid/ and test/ TFRecord folders written at
22.05 kHz by `tfrecords/make_tfrecords.py`) or on a GPU it trains
`swin_tiny` with the paper's values. With no `--data` on a CPU it renders
the built-in tune corpus (30 s clips at 22.05 kHz; a few minutes the
first time) and trains the small preset `swin_mini` for a bounded budget:
an 84 x 336 CQT (compression 2, 15.6 s) folded twice to 168 x 168 (or 168
frames tiled twice), 6 epochs, queue 1024, momentum 0.99 (0.999 barely
moves the key encoder in ~80 steps).

Everything lands in `--output`: TensorBoard logs, the state to resume an
interrupted run (run the same command again), `best.keras` (the MoCo
model of the lowest loss), `encoder.keras` (raw audio of
`segment_seconds` in, embedding out: CQT, normalisation, pre-processor
and Swin; exported at the end for TF Serving to
`saved_models/s3t_<preprocessor>_encoder/<version>/`, `--export=` skips
it, `recipes/export.py` does it later) and `results.json`
with the probe's test scores on the pre-trained encoder next to those on
the same encoder at its random initialisation, for example (the CPU
demo on two CPU cores shared with other jobs, load ~10):

    test (24 tracks, dance): accuracy 0.167 macro F1 0.154 (random init:
    accuracy 0.167 macro F1 0.107); time_folding, pre-trained in 603 s

Six epochs of 14 steps are a smoke test of the method, not a
reproduction: the contrastive top-1 accuracy reaches a few percent
(chance 0.1 %) and the probe does not yet separate the pre-trained
encoder from the random one on the corpus's 24 labelled test tracks.

The frontend and the augmentation run in the `tf.data` pipeline
(`keras_music.data.s3t_views`); the MoCo model maps pairs of square
spectrograms to the contrastive loss.
"""

# First: keras_music imports TensorFlow quietly (KERAS_MUSIC_VERBOSE=1
# shows its logging).
from keras_music import quiet as _quiet  # noqa: F401

# isort: split
import dataclasses
import os

import flag_checks
import keras
import numpy as np
import run_flags
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging
from run_flags import compile_options
from run_flags import cpu_demo
from run_flags import flags_or_defaults
from run_flags import prepare_output
from run_flags import recipe_data
from run_flags import start_run
from run_flags import training_input

import keras_music  # noqa: F401  (sets the Keras backend)
from keras_music.data.s3t_views import s3t_augmentation
from keras_music.data.s3t_views import s3t_view_pairs
from keras_music.data.tfrecord_format import write_json_atomic
from keras_music.evaluation.embedding_fusion import describe
from keras_music.evaluation.probe_encoder import probe_encoder
from keras_music.evaluation.probe_protocol import get_probe_protocol
from keras_music.export.embedder import export_embedder
from keras_music.models.s3t.s3t_backbone import S3TBackbone
from keras_music.models.s3t.s3t_backbone import s3t_clip
from keras_music.models.s3t.s3t_backbone import s3t_frontend
from keras_music.models.s3t.s3t_backbone import s3t_square_layer
from keras_music.models.s3t.s3t_backbone import view_frames
from keras_music.models.swin.swin_backbone import SwinBackbone
from keras_music.models.swin.swin_presets import backbone_presets
from keras_music.pretraining.moco import MoCo
from keras_music.training.recipe_support import epoch_steps
from keras_music.training.recipe_support import pretrain
from keras_music.training.recipe_support import worker_done
from keras_music.training.warmup_cosine import warmup_cosine

# === Setup ===

SAMPLE_RATE = 22050
HOP_LENGTH = 512
N_BINS = 84
# The paper's values (Section 4.1), and what fits in a few minutes on two
# CPU cores with the built-in corpus.
PAPER = {
    "preset": "swin_tiny",
    "time_compression": 10,
    "fold": 3,
    "epochs": 400,
    "queue_size": 65536,
    "momentum": 0.999,
    "batch_per_replica": 128,
}
CPU_DEMO = {
    "preset": "swin_mini",
    "time_compression": 2,
    "fold": 2,
    "epochs": 6,
    "queue_size": 1024,
    "momentum": 0.99,
    "batch_size": 32,
}
WARMUP_FRACTION = 20 / 400
# The input's sizes, as `results.json` records them (under "input").
INPUT_FIELDS = ("preset", "size", "time_compression", "fold", "view_frames")
INPUT_FIELDS += ("clip_seconds", "epochs", "queue_size", "momentum", "demo")

flags.DEFINE_enum(
    "preprocessor",
    "time_folding",
    ["time_folding", "frequency_tiling"],
    "How the CQT becomes a square image.",
)
flags.DEFINE_string(
    "preset",
    None,
    "SwinBackbone preset. Default: swin_tiny, or swin_mini on a CPU-only "
    "machine with the built-in corpus.",
)
flags.DEFINE_integer("time_compression", None, "CQT frames averaged (10).")
flags.DEFINE_integer("fold", None, "Time Folding chunks (3).")
flags.DEFINE_float(
    "clip_seconds", None, "Clip length. Default: what fills the input."
)
flags.DEFINE_integer("epochs", None, "Pre-training epochs (400).")
flags.DEFINE_integer(
    "steps_per_epoch", None, "Batches per epoch. Default: one pass."
)
flags.DEFINE_integer(
    "batch_size", None, "Global batch. Default: 128 per replica."
)
flags.DEFINE_integer("queue_size", None, "MoCo queue (65536).")
flags.DEFINE_float("momentum", None, "Key encoder momentum (0.999).")
flags.DEFINE_float("temperature", 0.2, "InfoNCE temperature.")
flags.DEFINE_float("learning_rate", 5e-4, "Peak learning rate.")
flags.DEFINE_float("weight_decay", 0.05, "AdamW weight decay.")
flags.DEFINE_integer("probe_epochs", None, "Linear probe epochs (50).")
flags.DEFINE_string("output", None, "Run folder. Default: runs/s3t_<pre>.")
flags.DEFINE_list(
    "export",
    ["saved_model"],
    "After training, export the encoder for TF Serving (saved_model; "
    "empty: no export), as recipes/export.py does.",
)
flags.DEFINE_string(
    "export_dir",
    "saved_models",
    "Where exports go: <dir>/s3t_<preprocessor>_encoder.",
)
flags.register_validator(
    "export",
    lambda formats: set(formats) <= {"saved_model"},
    "--export takes saved_model (or nothing): an encoder has no TFLite export.",
)
flag_checks.positive(
    "time_compression",
    "fold",
    "clip_seconds",
    "epochs",
    "steps_per_epoch",
    "batch_size",
    "queue_size",
    "temperature",
    "learning_rate",
    "probe_epochs",
)
flag_checks.non_negative("weight_decay")
flag_checks.below_one("momentum")
# Frequency Tiling has no chunks to fold: --fold would be ignored.
flag_checks.only_with("fold", "preprocessor", ["time_folding"])
# --help lists the shared flags (recipes/run_flags.py) with these.
flags.adopt_module_key_flags(run_flags)
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Config:
    """What one run does: the paper's settings or the CPU demo's, with
    the flags given on the command line over them (`config`)."""

    preprocessor: str
    preset: str
    size: int  # the Swin's square input, size x size
    time_compression: int
    fold: int
    view_frames: int  # compressed CQT frames that fill the input
    clip_seconds: float
    epochs: int
    queue_size: int
    momentum: float
    demo: bool
    steps_per_epoch: int | None  # None: one pass over the tracks
    batch_size: int
    learning_rate: float
    probe_epochs: int | None
    output: str
    export: tuple
    export_dir: str

    def input(self):
        """The input's sizes by name (`INPUT_FIELDS`)."""
        return {name: getattr(self, name) for name in INPUT_FIELDS}


def config(demo, replicas=1):
    """The run's `Config`: the CPU demo's (`demo`) or the paper's
    settings, overridden by the flags given; the paper's batch is per
    replica, of `replicas`."""
    names = ("preset", "time_compression", "fold", "epochs", "queue_size")
    value = flags_or_defaults(
        CPU_DEMO if demo else PAPER, names + ("momentum",)
    )
    preset = value["preset"]
    if preset not in backbone_presets:
        raise ValueError(
            f"`--preset` must be one of {sorted(backbone_presets)}. "
            f"Received: --preset={preset!r}"
        )
    height, width = backbone_presets[preset]["input_size"]
    if height != width:
        raise ValueError(
            f"`--preset` must take a square input (S3T's pre-processors "
            f"make one); {preset} takes {height}x{width}. "
            f"Received: --preset={preset!r}"
        )
    frames = view_frames(FLAGS.preprocessor, value["fold"], height)
    _, clip_seconds = s3t_clip(
        frames,
        value["time_compression"],
        FLAGS.clip_seconds,
        SAMPLE_RATE,
        HOP_LENGTH,
        name="--clip_seconds",
    )
    batch_size = FLAGS.batch_size or (
        CPU_DEMO["batch_size"]
        if demo
        else PAPER["batch_per_replica"] * replicas
    )
    return Config(
        **value,
        preprocessor=FLAGS.preprocessor,
        size=height,
        view_frames=frames,
        clip_seconds=clip_seconds,
        demo=demo,
        steps_per_epoch=FLAGS.steps_per_epoch,
        batch_size=batch_size,
        learning_rate=FLAGS.learning_rate,
        probe_epochs=FLAGS.probe_epochs,
        output=FLAGS.output
        or os.path.join("runs", f"s3t_{FLAGS.preprocessor}"),
        export=tuple(FLAGS.export),
        export_dir=FLAGS.export_dir,
    )


def resolve_setup(has_gpu):
    """The `Config` of a run on a machine with a GPU or without one, as
    `main` resolves it (the benchmarks build S3T from it)."""
    return config(FLAGS.data is None and not has_gpu)


# === Data ===


def frontend(setup):
    """Raw audio -> CQT in dB, compressed in time, standardised per clip
    (so that masks, padding and shifted-in cells, all 0, are the mean)."""
    return s3t_frontend(setup.time_compression, SAMPLE_RATE, HOP_LENGTH, N_BINS)


def preprocessor(setup):
    """The CQT -> the Swin's square image (`--preprocessor`)."""
    return s3t_square_layer(setup.preprocessor, setup.fold, setup.size)


def view_augmentation(setup, augmentation="paper"):
    """The views' augmentation (`s3t_augmentation`), seeded by `--seed`."""
    return s3t_augmentation(setup.view_frames, augmentation, seed=FLAGS.seed)


def pretraining_views(directory, setup, batch_size, augmentation="paper"):
    """Batches of two augmented, square views of random clips
    (`view_augmentation`), on the tf.data service when one is given."""
    dataset = s3t_view_pairs(
        directory,
        view_augmentation(setup, augmentation),
        frontend(setup),
        preprocessor(setup),
        setup.clip_seconds,
        batch_size,
        seed=FLAGS.seed,
    )
    return training_input(dataset).prefetch(tf.data.AUTOTUNE)


# === Model ===


def learning_rate_schedule(cfg, steps_per_epoch):
    """Cosine decay to 0 after a linear warm-up over the first 5% of the
    steps (20 of the paper's 400 epochs) to `--learning_rate`."""
    total = cfg.epochs * steps_per_epoch
    return warmup_cosine(
        cfg.learning_rate, total, round(WARMUP_FRACTION * total)
    )


def moco_model(setup, learning_rate):
    """MoCo on the Swin preset of `setup`, compiled with AdamW at
    `learning_rate` (a float or a schedule) and the run's compile options
    (`--jit_compile`). Build it in the strategy's scope."""
    moco = MoCo(
        SwinBackbone.from_preset(setup.preset),
        queue_size=setup.queue_size,
        momentum=setup.momentum,
        temperature=FLAGS.temperature,
    )
    moco.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate, weight_decay=FLAGS.weight_decay
        ),
        **compile_options(),
    )
    return moco


def audio_encoder(backbone, setup):
    """The encoder a probe or a server uses: clip of audio -> embedding
    (an `S3TBackbone` around `backbone`, sharing its weights)."""
    return S3TBackbone(
        swin=backbone,
        transform=setup.preprocessor,
        fold=setup.fold,
        time_compression=setup.time_compression,
        clip_seconds=setup.clip_seconds,
        sample_rate=SAMPLE_RATE,
        hop_length=HOP_LENGTH,
        n_bins=N_BINS,
        name="s3t_encoder",
    )


# === Evaluate ===


def probe_scores(encoder, splits, task, setup, cache_dir):
    """Linear probe (S3T's protocol) on the frozen encoder's embeddings:
    the test tracks and the score of each metric."""
    overrides = {}
    if setup.probe_epochs:
        overrides["epochs"] = setup.probe_epochs
        overrides["warmup_epochs"] = min(5, setup.probe_epochs - 1)
    if FLAGS.data is None:
        # The corpus is GTZAN-sized: the paper's GTZAN batch.
        overrides["batch_size"] = 64
    protocol = get_probe_protocol("s3t", **overrides)
    result = probe_encoder(
        encoder,
        splits,
        task,
        protocol,
        setup.clip_seconds,
        cache_dir,
        seed=FLAGS.seed,
    )
    scores = {name: trials[0] for name, trials in result.trials.items()}
    return {"tracks": result.test_tracks} | scores


# === Export ===


def export_encoder(cfg):
    """The trained encoder as saved (`encoder.keras`: it carries its rate
    and clip length), exported for TF Serving in float32 whatever the
    training policy."""
    keras.mixed_precision.set_global_policy("float32")
    encoder = keras.saving.load_model(
        os.path.join(cfg.output, "encoder.keras"), compile=False
    )
    path = export_embedder(
        encoder,
        os.path.join(cfg.export_dir, f"s3t_{cfg.preprocessor}_encoder"),
    )
    print(f"Exported saved_model: {path}")


def main(_):
    strategy = start_run()
    demo = cpu_demo()
    replicas = strategy.num_replicas_in_sync
    cfg = config(demo, replicas)
    prepare_output(cfg.output, strategy)

    # === Data ===
    splits, source, manifest, task = recipe_data(
        SAMPLE_RATE,
        corpus_seconds=max(30.0, float(np.ceil(cfg.clip_seconds))),
        corpus_task="dance",
    )
    steps_per_epoch = epoch_steps(
        manifest["num_examples"], cfg.batch_size, cfg.steps_per_epoch
    )
    if demo:
        print(
            f"No GPU and no --data: pre-training the small preset "
            f"{cfg.preset} ({cfg.epochs} epochs) on the built-in corpus; "
            f"pass --preset swin_tiny --epochs 400 for the paper's model."
        )
    train = pretraining_views(splits["train"], cfg, cfg.batch_size)

    # === Model ===
    with strategy.scope():
        moco = moco_model(cfg, learning_rate_schedule(cfg, steps_per_epoch))
        backbone = moco.encoder
    print(
        f"{cfg.preset}: {backbone.count_params():,} parameters on "
        f"{cfg.size}x{cfg.size}; {cfg.preprocessor} of an {N_BINS}-bin "
        f"CQT compressed {cfg.time_compression}x ({cfg.view_frames} "
        f"frames, {cfg.clip_seconds:.2f} s clips); queue "
        f"{cfg.queue_size}, batch {cfg.batch_size}; data from {source}; "
        f"strategy {FLAGS.strategy} ({replicas} replicas)"
    )

    # === Train ===
    # Resumable; the initial weights are kept, to probe the same encoder
    # untrained (a resumed run keeps those of its first start).
    done = pretrain(
        moco,
        train,
        cfg.output,
        cfg.epochs,
        steps_per_epoch,
        strategy,
        baseline=backbone,
        verbose=FLAGS.verbose,
    )
    if worker_done(moco, cfg.output, strategy):
        return  # the chief evaluates and writes the run's files
    encoder = audio_encoder(backbone, cfg)
    encoder.save(os.path.join(cfg.output, "encoder.keras"))

    # === Evaluate ===
    # The frozen linear probe of the trained encoder, then of the same
    # encoder at its initial weights.
    cache_dir = os.path.join(cfg.output, "embeddings")
    pretrained = probe_scores(encoder, splits, task, cfg, cache_dir)
    backbone.load_weights(done.initial_weights)
    random_init = probe_scores(encoder, splits, task, cfg, cache_dir)
    results = {
        "preset": cfg.preset,
        "preprocessor": cfg.preprocessor,
        "task": task,
        "sample_rate": SAMPLE_RATE,
        "segment_seconds": cfg.clip_seconds,
        "input": cfg.input(),
        "encoder": "encoder.keras",
        "epochs": cfg.epochs,
        "steps_per_epoch": steps_per_epoch,
        "batch_size": cfg.batch_size,
        "final_loss": done.history.history.get("loss", [None])[-1],
        "train_seconds": round(done.seconds, 1),
        "test": pretrained,
        "test_random_init": random_init,
    }
    write_json_atomic(os.path.join(cfg.output, "results.json"), results)

    # === Export ===
    if cfg.export:
        export_encoder(cfg)
    print(
        f"test ({pretrained['tracks']} tracks, {task}): "
        f"{describe(pretrained)} (random init: {describe(random_init)}); "
        f"{cfg.preprocessor}, pre-trained in {done.seconds:.0f} s; "
        f"encoder in {cfg.output}/encoder.keras"
    )


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main)
