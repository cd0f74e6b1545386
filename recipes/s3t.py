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

The input arithmetic. The paper's numbers do not fit together literally:
hop 512 at 22.05 kHz is 43.07 frames/s, so "compressed 100x" leaves 0.43
frames/s and a 3-5 minute track 78-130 frames, not the 768 that Time
Folding needs for a 256x256 image. The compression and the clip length
are therefore flags, and the default clip is the one that fills the
input exactly. With `--time_compression 10` (the default):

    84 bins x 768 frames   <- 768 x 10 = 7680 CQT frames, i.e.
                              (7680 - 1) x 512 samples = 178.3 s (3 min)
    fold 3  -> 252 x 256   (three chunks of 256 frames stacked)
    pad 4 bins -> 256 x 256 (Swin-T's input, no resizing)

Frequency Tiling takes 256 frames (59.4 s) and repeats the 84 bins 4
times, cut to 256 x 256. A `--clip_seconds` of another length is cropped
and resized by the augmentation in training and cropped or padded to the
input at evaluation.

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

The frontend and the augmentation run in the `tf.data` pipeline; the
MoCo model maps pairs of square spectrograms to the contrastive loss.
"""

# First: keras_music imports TensorFlow quietly (KERAS_MUSIC_VERBOSE=1
# shows its logging).
from keras_music import quiet as _quiet  # noqa: F401

# isort: split
import dataclasses
import os
import time

import flag_checks
import keras
import numpy as np
import run_flags
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging
from run_flags import compile_options
from run_flags import prepare_output
from run_flags import recipe_data
from run_flags import start_run
from run_flags import training_input

import keras_music  # noqa: F401  (sets the Keras backend)
from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.data.tfrecord_format import write_json_atomic
from keras_music.distribute import fit
from keras_music.evaluation.embedding_cache import extract_embeddings
from keras_music.evaluation.probe import evaluate_frozen
from keras_music.evaluation.probe import task_split
from keras_music.evaluation.probe_protocol import get_probe_protocol
from keras_music.export.embedder import export_embedder
from keras_music.layers.s3t_augment import S3TAugment
from keras_music.models.s3t.s3t_backbone import S3TBackbone
from keras_music.models.s3t.s3t_backbone import fitting_clip_samples
from keras_music.models.s3t.s3t_backbone import s3t_frontend
from keras_music.models.s3t.s3t_backbone import s3t_square_layer
from keras_music.models.s3t.s3t_backbone import view_frames
from keras_music.models.swin.swin_backbone import SwinBackbone
from keras_music.models.swin.swin_presets import backbone_presets
from keras_music.pretraining.moco import MoCo
from keras_music.training.recipe_support import keep_initial_weights
from keras_music.training.recipe_support import resume_stream
from keras_music.training.recipe_support import run_callbacks
from keras_music.training.recipe_support import worker_done

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


@dataclasses.dataclass
class Setup:
    """The resolved sizes of a run (flags over the paper's or demo's)."""

    preset: str
    size: int
    time_compression: int
    fold: int
    view_frames: int
    clip_seconds: float
    epochs: int
    queue_size: int
    momentum: float
    demo: bool


def resolve_setup(has_gpu):
    demo = FLAGS.data is None and not has_gpu
    defaults = CPU_DEMO if demo else PAPER
    preset = FLAGS.preset or defaults["preset"]
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
    fold = FLAGS.fold or defaults["fold"]
    compression = FLAGS.time_compression or defaults["time_compression"]
    frames = view_frames(FLAGS.preprocessor, fold, height)
    samples = fitting_clip_samples(frames, compression, HOP_LENGTH)
    clip_seconds = FLAGS.clip_seconds or samples / SAMPLE_RATE
    if (1 + round(clip_seconds * SAMPLE_RATE) // HOP_LENGTH) < compression:
        raise ValueError(
            f"`--clip_seconds` must hold at least one compressed frame "
            f"({compression} CQT frames). "
            f"Received: --clip_seconds={clip_seconds}"
        )
    return Setup(
        preset=preset,
        size=height,
        time_compression=compression,
        fold=fold,
        view_frames=frames,
        clip_seconds=clip_seconds,
        epochs=FLAGS.epochs or defaults["epochs"],
        queue_size=FLAGS.queue_size or defaults["queue_size"],
        momentum=FLAGS.momentum or defaults["momentum"],
        demo=demo,
    )


def frontend(setup):
    """Raw audio -> CQT in dB, compressed in time, standardised per clip
    (so that masks, padding and shifted-in cells, all 0, are the mean)."""
    return s3t_frontend(setup.time_compression, SAMPLE_RATE, HOP_LENGTH, N_BINS)


def preprocessor(setup):
    return s3t_square_layer(FLAGS.preprocessor, setup.fold, setup.size)


def view_augmentation(setup, augmentation="paper"):
    """The augmentation of the pre-training views: `"paper"` (S3TAugment's
    chain: crops of 10-90% of the clip stretched to the view, time
    warping, shifts, masks), `"crop_only"` (two crops of 50-90% of the
    clip each, stretched to the view as the paper's crops are, nothing
    else) or `"crop_only_pad"` (the same crops padded with zeros, not
    stretched, as the encoder pads a whole clip at inference)."""
    if augmentation == "paper":
        return S3TAugment(output_length=setup.view_frames, seed=FLAGS.seed)
    if augmentation in ("crop_only", "crop_only_pad"):
        return S3TAugment(
            output_length=setup.view_frames,
            crop_ratio_range=(0.5, 0.9),
            crop_mode="pad" if augmentation == "crop_only_pad" else "resize",
            time_warp_p=0.0,
            shift_p=0.0,
            freq_mask_p=0.0,
            time_mask_p=0.0,
            seed=FLAGS.seed,
        )
    raise ValueError(
        "`augmentation` must be 'paper', 'crop_only' or 'crop_only_pad'. "
        f"Received: augmentation={augmentation!r}"
    )


def pretraining_views(directory, setup, batch_size, augmentation="paper"):
    """Batches of two augmented, square views of random clips
    (`view_augmentation`)."""
    augment = view_augmentation(setup, augmentation)
    cqt = frontend(setup)
    square = preprocessor(setup)

    def views(audio):
        view_1, view_2 = augment(cqt(audio), training=True)
        return square(view_1), square(view_2)

    dataset = tfrecord_dataset(
        directory,
        segment_seconds=setup.clip_seconds,
        mode="random",
        batch_size=batch_size,
        seed=FLAGS.seed,
        # MoCo's queue takes whole global batches.
        drop_remainder=True,
        repeat=True,
    )
    dataset = dataset.map(views, num_parallel_calls=tf.data.AUTOTUNE)
    return training_input(dataset).prefetch(tf.data.AUTOTUNE)


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
        transform=FLAGS.preprocessor,
        fold=setup.fold,
        time_compression=setup.time_compression,
        clip_seconds=setup.clip_seconds,
        sample_rate=SAMPLE_RATE,
        hop_length=HOP_LENGTH,
        n_bins=N_BINS,
        name="s3t_encoder",
    )


def probe_scores(encoder, splits, task, setup, cache_dir):
    """Linear probe (S3T's protocol) on the frozen encoder's embeddings."""
    caches = [
        extract_embeddings(encoder, splits[name], setup.clip_seconds, cache_dir)
        for name in ("train", "valid", "test")
    ]
    overrides = {}
    if FLAGS.probe_epochs:
        overrides["epochs"] = FLAGS.probe_epochs
        overrides["warmup_epochs"] = min(5, FLAGS.probe_epochs - 1)
    if FLAGS.data is None:
        # The corpus is GTZAN-sized: the paper's GTZAN batch.
        overrides["batch_size"] = 64
    protocol = get_probe_protocol("s3t", **overrides)
    scores = evaluate_frozen(*caches, task, protocol, seed=FLAGS.seed)[1.0]
    tracks = len(task_split(caches[2], task)[1])
    return {"tracks": tracks} | {k: float(v[0]) for k, v in scores.items()}


def describe(scores):
    names = {"top1": "accuracy", "f1": "macro F1", "roc_auc": "ROC-AUC"}
    names["pr_auc"] = "PR-AUC"
    return " ".join(
        f"{label} {scores[key]:.3f}"
        for key, label in names.items()
        if key in scores
    )


def main(_):
    strategy = start_run()
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    setup = resolve_setup(has_gpu)
    output = FLAGS.output or os.path.join("runs", f"s3t_{FLAGS.preprocessor}")
    prepare_output(output, strategy)
    replicas = strategy.num_replicas_in_sync
    batch_size = FLAGS.batch_size or (
        CPU_DEMO["batch_size"]
        if setup.demo
        else PAPER["batch_per_replica"] * replicas
    )

    # === Data ===
    splits, source, manifest, task = recipe_data(
        SAMPLE_RATE,
        corpus_seconds=max(30.0, float(np.ceil(setup.clip_seconds))),
        corpus_task="dance",
    )
    steps_per_epoch = FLAGS.steps_per_epoch or max(
        1, manifest["num_examples"] // batch_size
    )
    if setup.demo:
        print(
            f"No GPU and no --data: pre-training the small preset "
            f"{setup.preset} ({setup.epochs} epochs) on the built-in corpus; "
            f"pass --preset swin_tiny --epochs 400 for the paper's model."
        )
    train = pretraining_views(splits["train"], setup, batch_size)
    # A resumed run goes on where the interrupted one's stream was.
    train, _ = resume_stream(train, output, steps_per_epoch)

    # === Model ===
    with strategy.scope():
        total = setup.epochs * steps_per_epoch
        warmup = round(WARMUP_FRACTION * total)
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0,
            decay_steps=max(1, total - warmup),
            warmup_target=FLAGS.learning_rate,
            warmup_steps=warmup,
        )
        moco = moco_model(setup, schedule)
        backbone = moco.encoder
    print(
        f"{setup.preset}: {backbone.count_params():,} parameters on "
        f"{setup.size}x{setup.size}; {FLAGS.preprocessor} of an {N_BINS}-bin "
        f"CQT compressed {setup.time_compression}x ({setup.view_frames} "
        f"frames, {setup.clip_seconds:.2f} s clips); queue "
        f"{setup.queue_size}, batch {batch_size}; data from {source}; "
        f"strategy {FLAGS.strategy} ({replicas} replicas)"
    )

    # === Pre-train ===
    # The initial weights, to probe the same encoder untrained (a resumed
    # run keeps those of its first start).
    initial_path = keep_initial_weights(backbone, output)
    started = time.time()
    history = fit(
        moco,
        train,
        epochs=setup.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=run_callbacks(output, "loss", "min", strategy),
        verbose=FLAGS.verbose,
    )
    trained_seconds = time.time() - started
    if worker_done(moco, output, strategy):
        return  # the chief evaluates and writes the run's files
    encoder = audio_encoder(backbone, setup)
    encoder.save(os.path.join(output, "encoder.keras"))

    # === Frozen linear evaluation ===
    cache_dir = os.path.join(output, "embeddings")
    pretrained = probe_scores(encoder, splits, task, setup, cache_dir)
    backbone.load_weights(initial_path)
    random_init = probe_scores(encoder, splits, task, setup, cache_dir)
    results = {
        "preset": setup.preset,
        "preprocessor": FLAGS.preprocessor,
        "task": task,
        "sample_rate": SAMPLE_RATE,
        "segment_seconds": setup.clip_seconds,
        "input": dataclasses.asdict(setup),
        "encoder": "encoder.keras",
        "epochs": setup.epochs,
        "steps_per_epoch": steps_per_epoch,
        "batch_size": batch_size,
        "final_loss": history.history.get("loss", [None])[-1],
        "train_seconds": round(trained_seconds, 1),
        "test": pretrained,
        "test_random_init": random_init,
    }
    write_json_atomic(os.path.join(output, "results.json"), results)
    if FLAGS.export:
        # The trained encoder as saved (the backbone now holds the initial
        # weights), exported in float32 whatever the training policy.
        keras.mixed_precision.set_global_policy("float32")
        encoder_path = os.path.join(output, "encoder.keras")
        # The S3TBackbone carries its rate and clip length (its
        # preprocessor): the export reads them from the model.
        path = export_embedder(
            keras.saving.load_model(encoder_path, compile=False),
            os.path.join(FLAGS.export_dir, f"s3t_{FLAGS.preprocessor}_encoder"),
        )
        print(f"Exported saved_model: {path}")
    print(
        f"test ({pretrained['tracks']} tracks, {task}): "
        f"{describe(pretrained)} (random init: {describe(random_init)}); "
        f"{FLAGS.preprocessor}, pre-trained in {trained_seconds:.0f} s; "
        f"encoder in {output}/encoder.keras"
    )


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main)
