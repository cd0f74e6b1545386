"""Train MAEST, the patchout spectrogram transformer, as a music tagger.

    python recipes/maest.py --segment 30

The paper's recipe (Alonso-Jiménez et al., ISMIR 2023, Section 4): 96-band
log-mel input at 16 kHz, a ViT-Base/16 with stride 10 and structured
patchout, AdamW (weight decay 1e-4) with 5 warm-up epochs, a plateau to
epoch 50 and a linear decay over 50 epochs, mixup (alpha 0.3) and
SpecAugment on the spectrograms, a balanced sample of the training tracks
each epoch, stochastic weight averaging every 5 epochs from epoch 50,
binary cross-entropy; validation ROC-AUC and PR-AUC every epoch.

With `--data DIR` (a folder holding `train/`, `valid/` and `test/` TFRecord
folders, as `tfrecords/make_tfrecords.py` writes them) it trains the
full-size `maest_<segment>s` model for 130 epochs. With no `--data` it
renders the built-in tune corpus (instrument tags, 30 s clips) and, on a
machine without a GPU, trains the small preset `maest_small` of the same
architecture and input for a bounded budget, which takes a few minutes on
two CPU cores. Schedule and averaging epochs scale with `--epochs` (the
paper's 5 / 50 / 50 / 130).

Everything lands in `--output`: TensorBoard logs, the best checkpoint by
validation ROC-AUC, the state to resume an interrupted run (run the same
command again), the final model (`model.keras`, with the averaged weights
when SWA is on) and `results.json` with the test scores of the trained
model next to those of the same model before training. Runs and exports
are named after the model they hold: the preset, with the segment when it
is not the preset's own (the CPU default writes `runs/maest_small/`, the
GPU one `runs/maest_30s/`). `model.keras` carries its preprocessor (rate,
segment, log-mel frontend), its tag names and the test scores, so that
`keras-music tag runs/maest_small/model.keras clips/` tags audio with it;
the trained tagger is then exported for TF Serving to
`saved_models/<name>_tagger/<version>/`, with a model card stating the
data and the test scores (`--export saved_model,tflite` adds TFLite,
`--export=` skips it; see saved_models/README.md). For example:

    test (62 tracks, instrument): ROC-AUC 0.793 PR-AUC 0.512 (untrained:
    ROC-AUC 0.458 PR-AUC 0.229); trained in 274 s

(the default run on two CPU cores: the small preset, 6 epochs, about six
minutes including the first rendering of the corpus).

The frontend, mixup and SpecAugment run in the `tf.data` pipeline, so the
model itself maps log-mel spectrograms to tag probabilities.
"""

# First: keras_music imports TensorFlow quietly (KERAS_MUSIC_VERBOSE=1
# shows its logging).
from keras_music import quiet as _quiet  # noqa: F401

# isort: split
import dataclasses
import os
import time
import warnings

import flag_checks
import keras
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
from keras_music.convert.maest import load_maest_weights
from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.data.tfrecord_format import read_manifest
from keras_music.data.tfrecord_format import write_json_atomic
from keras_music.distribute import fit
from keras_music.evaluation.tagger_scores import track_tag_scores
from keras_music.export.serving_export import check_tflite_free
from keras_music.export.tagger import FORMATS as EXPORT_FORMATS
from keras_music.export.tagger_file import export_tagger_file
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.layers.mixup import Mixup
from keras_music.layers.spec_augment import SpecAugment
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_layers import patch_grid_size
from keras_music.models.maest.maest_presets import backbone_presets
from keras_music.models.maest.maest_segment import HOP_LENGTH
from keras_music.models.maest.maest_segment import SAMPLE_RATE
from keras_music.models.maest.maest_segment import maest_segment_config
from keras_music.models.maest.maest_segment import maest_segment_name
from keras_music.models.maest.maest_tagger import MAESTTagger
from keras_music.models.tagger_metadata import dataset_metadata
from keras_music.models.tagger_metadata import metrics_metadata
from keras_music.training.maest_schedule import PAPER_EPOCHS
from keras_music.training.maest_schedule import maest_learning_rate
from keras_music.training.maest_schedule import maest_swa
from keras_music.training.recipe_support import keep_initial_weights
from keras_music.training.recipe_support import resume_stream
from keras_music.training.recipe_support import run_callbacks
from keras_music.training.recipe_support import worker_done

# === Setup ===

# The paper's run (the preset: maest_<segment>s) and, on a CPU-only
# machine with the built-in corpus, what fits in a few minutes on two
# cores.
PAPER = {"epochs": PAPER_EPOCHS["total"], "learning_rate": 1e-4}
CPU_DEMO = {"preset": "maest_small", "epochs": 6, "learning_rate": 5e-4}

flags.DEFINE_enum(
    "segment", "30", ["5", "10", "20", "30"], "Segment length in seconds."
)
flags.DEFINE_string(
    "preset",
    None,
    "MAESTBackbone preset. Default: maest_<segment>s, or maest_small on a "
    "CPU-only machine with the built-in corpus.",
)
flags.DEFINE_integer("epochs", None, "Epochs. Default: 130 (the paper's).")
flags.DEFINE_integer(
    "steps_per_epoch", None, "Batches per epoch. Default: one balanced draw."
)
flags.DEFINE_integer("samples_per_epoch", None, "Balanced draws per epoch.")
flags.DEFINE_integer("batch_size", 12, "Global batch size.")
flags.DEFINE_float("learning_rate", None, "Peak learning rate (1e-4).")
flags.DEFINE_float("weight_decay", 1e-4, "AdamW weight decay.")
flags.DEFINE_string(
    "init",
    "random",
    "'random', or a reference checkpoint (.safetensors, .npz, .pt, .ckpt: "
    "MAEST, PaSST or DeiT weights).",
)
flags.DEFINE_string(
    "init_prefix", None, "Key prefix of --init, e.g. net_swa. (auto: net.)"
)
flags.DEFINE_integer(
    "patchout_time", None, "Time columns dropped in training (MAEST's)."
)
flags.DEFINE_integer("patchout_freq", 3, "Frequency rows dropped in training.")
flags.DEFINE_float("mixup_alpha", 0.3, "mixup Beta(alpha, alpha); 0: off.")
flags.DEFINE_bool("spec_augment", True, "SpecAugment masking.")
flags.DEFINE_bool("balanced", True, "Balanced sampling of training tracks.")
flags.DEFINE_bool("swa", True, "Stochastic weight averaging.")
flags.DEFINE_string(
    "output",
    None,
    "Run folder. Default: runs/<name>, named after the model it holds: the "
    "preset, with the segment when it is not the preset's own "
    "(runs/maest_small, runs/maest_30s, runs/maest_tiny_5s).",
)
flags.DEFINE_list(
    "export",
    ["saved_model"],
    "After training, export the tagger for serving (saved_model, tflite; "
    "empty: no export), as recipes/export.py does.",
)
flags.DEFINE_string(
    "export_dir",
    "saved_models",
    "Where exports go: <dir>/<name>_tagger, <name> as the run's.",
)
flags.register_validator(
    "export",
    lambda formats: set(formats) <= set(EXPORT_FORMATS),
    f"--export takes formats from {', '.join(EXPORT_FORMATS)}.",
)
flag_checks.positive(
    "epochs",
    "steps_per_epoch",
    "samples_per_epoch",
    "batch_size",
    "learning_rate",
)
flag_checks.non_negative(
    "weight_decay", "mixup_alpha", "patchout_time", "patchout_freq"
)
# --help lists the shared flags (recipes/run_flags.py) with these.
flags.adopt_module_key_flags(run_flags)
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Config:
    """What one run does: the paper's settings or the CPU demo's, with
    the flags given on the command line over them (`config`)."""

    preset: str
    name: str  # of the run folder and the export (maest_segment_name)
    demo: bool
    segment: int
    backbone: dict  # MAESTBackbone arguments (maest_segment_config)
    epochs: int
    learning_rate: float
    batch_size: int
    steps_per_epoch: int | None
    samples_per_epoch: int | None
    weight_decay: float
    mixup_alpha: float
    spec_augment: bool
    balanced: bool
    swa: bool
    init: str
    init_prefix: str | None
    output: str
    export: tuple
    export_dir: str


def config(demo):
    """The run's `Config`: the CPU demo's (`demo`) or the paper's
    settings, overridden by the flags given."""
    segment = int(FLAGS.segment)
    defaults = CPU_DEMO if demo else {**PAPER, "preset": f"maest_{segment}s"}
    preset = FLAGS.preset or defaults["preset"]
    if preset not in backbone_presets:
        raise ValueError(
            f"`--preset` must be one of {sorted(backbone_presets)}. "
            f"Received: --preset={preset!r}"
        )
    name = maest_segment_name(preset, segment)
    return Config(
        preset=preset,
        name=name,
        demo=demo,
        segment=segment,
        backbone=maest_segment_config(
            preset, segment, FLAGS.patchout_time, FLAGS.patchout_freq
        ),
        epochs=FLAGS.epochs or defaults["epochs"],
        learning_rate=FLAGS.learning_rate or defaults["learning_rate"],
        batch_size=FLAGS.batch_size,
        steps_per_epoch=FLAGS.steps_per_epoch,
        samples_per_epoch=FLAGS.samples_per_epoch,
        weight_decay=FLAGS.weight_decay,
        mixup_alpha=FLAGS.mixup_alpha,
        spec_augment=FLAGS.spec_augment,
        balanced=FLAGS.balanced,
        swa=FLAGS.swa,
        init=FLAGS.init,
        init_prefix=FLAGS.init_prefix,
        output=FLAGS.output or os.path.join("runs", name),
        export=tuple(FLAGS.export),
        export_dir=FLAGS.export_dir,
    )


def audio_preprocessor(cfg):
    """MAEST's input, built once for the run: its log-mel frontend (96
    bands, hop 256 at 16 kHz, normalised with the AudioSet statistics)
    on segments of `--segment` seconds. The input pipelines and the test
    scores use its frontend, and the tagger carries it."""
    frontend = LogMelSpectrogram(
        sample_rate=SAMPLE_RATE, hop_length=HOP_LENGTH, normalize=True
    )
    return AudioPreprocessor(frontend, segment_seconds=cfg.segment)


# === Data ===


def labelled_track_count(manifest, task):
    """Tracks the reader yields for `task` (single-label tasks skip tracks
    without a label)."""
    if manifest["tasks"][task]["multi_label"]:
        return manifest["num_examples"]
    return sum(manifest["label_counts"][task].values())


def epoch_steps(cfg, manifest, task):
    """Batches per epoch: `--steps_per_epoch`, else one balanced draw of
    `--samples_per_epoch` or of as many tracks as the training split has
    labelled."""
    tracks = cfg.samples_per_epoch or labelled_track_count(manifest, task)
    return cfg.steps_per_epoch or max(1, tracks // cfg.batch_size)


def input_pipeline(cfg, frontend, directory, task, training, replicas=1):
    """Batches of `(log_mel, targets)`: `frontend`, then mixup and
    SpecAugment in training."""
    manifest = read_manifest(directory)
    tracks = labelled_track_count(manifest, task)
    batch_size, drop_remainder = cfg.batch_size, training
    if replicas > 1 and not training:
        # Keras cannot split a last batch unevenly across replicas:
        # validation drops it (it only monitors; the final test scores
        # every track).
        batch_size = min(batch_size, max(1, tracks // replicas) * replicas)
        drop_remainder = True
    dataset = tfrecord_dataset(
        directory,
        segment_seconds=cfg.segment,
        task=task,
        mode="random" if training else "center",
        batch_size=batch_size,
        seed=FLAGS.seed,
        balanced=training and cfg.balanced,
        num_samples=cfg.samples_per_epoch if training else None,
        one_hot=not manifest["tasks"][task]["multi_label"],
        drop_remainder=drop_remainder,
        # Endless training epochs, each a fresh balanced draw; `fit`
        # counts the steps.
        repeat=training,
    )
    dataset = dataset.map(
        lambda audio, y: (frontend(audio), y),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if not training:
        # A known size spares Keras guessing where validation ends.
        batches = tracks // batch_size
        if not drop_remainder:
            batches = -(-tracks // batch_size)
        cardinality = tf.data.experimental.assert_cardinality(batches)
        return dataset.apply(cardinality).prefetch(tf.data.AUTOTUNE)
    mixup = Mixup(alpha=cfg.mixup_alpha, seed=FLAGS.seed)
    spec_augment = SpecAugment(seed=FLAGS.seed)

    def augment(x, y):
        if cfg.mixup_alpha > 0:
            x, y = mixup((x, y), training=True)
        if cfg.spec_augment:
            x = spec_augment(x, training=True)
        return x, y

    dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return training_input(dataset).prefetch(tf.data.AUTOTUNE)


# === Model ===


def tagger_model(cfg, preprocessor, vocabulary, learning_rate):
    """A MAEST tagger of `cfg.backbone` with one output per tag of
    `vocabulary`, initialised from `--init`, compiled with AdamW at
    `learning_rate` (a float or a schedule) and the run's compile options
    (`--jit_compile`). Build it in the strategy's scope.

    The model maps log-mel spectrograms to tag probabilities (the
    frontend runs in the input pipeline), and carries its `preprocessor`
    (sample rate, segment, frontend) and tag names, so that its `.keras`
    file tags audio by itself (`keras-music tag`, `export_tagger`)."""
    backbone = cfg.backbone
    # Checked here, once the run folder is set, against the grid of the
    # segment (the backbone names its own arguments, not the flags).
    for flag, drop, size in (
        ("--patchout_time", "train_time_patchout", "num_frames"),
        ("--patchout_freq", "train_freq_patchout", "num_mel_bins"),
    ):
        drop = backbone[drop]
        grid = patch_grid_size(
            backbone[size], backbone["patch_size"], backbone["patch_stride"]
        )
        if not 0 <= drop < grid:
            raise ValueError(
                f"`{flag}` must be in [0, {grid}): the {cfg.preset} grid "
                f"of a {cfg.segment} s segment has {grid} patches on that "
                f"axis. Received: {flag}={drop}"
            )
    tagger = MAESTTagger(
        MAESTBackbone(**backbone),
        num_tags=len(vocabulary),
        preprocessor=preprocessor,
        vocabulary=vocabulary,
    )
    if cfg.init != "random":
        report = load_maest_weights(
            tagger, cfg.init, load_head=False, prefix=cfg.init_prefix
        )
        print(f"Loaded {cfg.init} (resized: {report['resized']})")
    tagger.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate, weight_decay=cfg.weight_decay
        ),
        **compile_options(),
    )
    return tagger


# === Evaluate ===


def evaluate(cfg, tagger, splits, task, untrained_path):
    """Exact per-track test scores of the trained tagger and of the same
    model at its initial weights, kept in the trained tagger's metadata
    with the data (its exports' model cards state them)."""
    test = splits["test"]
    trained = track_tag_scores(tagger, test, task, batch_size=cfg.batch_size)
    trained_weights = tagger.get_weights()
    with warnings.catch_warnings():
        # Saved before the optimizer was built: its state is not restored
        # (nor needed to score), which Keras warns about.
        warnings.filterwarnings("ignore", "Skipping variable loading")
        tagger.load_weights(untrained_path)
    untrained = track_tag_scores(tagger, test, task, batch_size=cfg.batch_size)
    tagger.set_weights(trained_weights)
    data = "keras_music built-in tune corpus"
    if FLAGS.data is not None:
        data = os.path.basename(os.path.normpath(FLAGS.data))
    tagger.metadata = {
        "dataset": dataset_metadata(data, splits),
        "metrics": metrics_metadata(task, trained, untrained),
    }
    return trained, untrained


def main(_):
    strategy = start_run()
    demo = FLAGS.data is None and not tf.config.list_physical_devices("GPU")
    cfg = config(demo)
    prepare_output(cfg.output, strategy)
    if "tflite" in cfg.export:
        # Refused now, not after training.
        check_tflite_free(
            cfg.export_dir, f"{cfg.name}_tagger", overwrite=FLAGS.overwrite
        )
    replicas = strategy.num_replicas_in_sync

    # === Data ===
    splits, source, manifest, task = recipe_data(
        SAMPLE_RATE, corpus_task="instrument", multi=True
    )
    vocabulary = manifest["tasks"][task]["vocabulary"]
    if demo:
        print(
            f"No GPU and no --data: training the small preset {cfg.preset} "
            f"({cfg.epochs} epochs) on the built-in corpus; pass --preset "
            f"maest_{cfg.segment}s --epochs 130 for the paper's model."
        )
    steps_per_epoch = epoch_steps(cfg, manifest, task)
    preprocessor = audio_preprocessor(cfg)
    frontend = preprocessor.frontend  # the run's one frontend
    train = input_pipeline(cfg, frontend, splits["train"], task, True)
    # A resumed run goes on with the batches the interrupted one had not
    # reached, not from the start of the stream.
    train, skipped = resume_stream(train, cfg.output, steps_per_epoch)
    if skipped:
        print(f"Resuming: skipping the {skipped} batches already trained")
    valid = input_pipeline(
        cfg, frontend, splits["valid"], task, False, replicas
    )

    # === Model ===
    with strategy.scope():
        schedule = maest_learning_rate(
            cfg.learning_rate, cfg.epochs, steps_per_epoch
        )
        tagger = tagger_model(cfg, preprocessor, vocabulary, schedule)
        backbone = tagger.backbone
    print(
        f"{cfg.preset}: {tagger.count_params():,} parameters, "
        f"{backbone.num_freq_patches}x{backbone.num_time_patches} patches, "
        f"training patchout {backbone.train_time_patchout} time / "
        f"{backbone.train_freq_patchout} frequency; task {task!r} "
        f"({len(vocabulary)} tags) from {source}; strategy {FLAGS.strategy} "
        f"({replicas} replicas)"
    )

    # === Train ===
    # The initial weights, kept to score the same model untrained (a
    # resumed run keeps those of its first start).
    untrained_path = keep_initial_weights(tagger, cfg.output)
    callbacks = run_callbacks(
        cfg.output, monitor="val_roc_auc", mode="max", strategy=strategy
    )
    if cfg.swa:
        swa_path = os.path.join(cfg.output, "swa.npz")
        callbacks.append(maest_swa(cfg.epochs, swa_path))
    started = time.time()
    fit(
        tagger,
        train,
        validation_data=valid,
        epochs=cfg.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        shuffle=False,  # the input pipeline shuffles
        verbose=FLAGS.verbose,
    )
    trained_seconds = time.time() - started
    if worker_done(tagger, cfg.output, strategy):
        return  # the chief evaluates and writes the run's files
    model_path = os.path.join(cfg.output, "model.keras")
    tagger.save(model_path)

    # === Evaluate ===
    trained, untrained = evaluate(cfg, tagger, splits, task, untrained_path)
    tagger.save(model_path)
    frontend_config = keras.saving.serialize_keras_object(frontend)
    frontend_config.pop("build_config", None)  # a training batch's shape
    results = {
        "preset": cfg.preset,
        "task": task,
        # What an export needs to serve the model on raw audio.
        "vocabulary": vocabulary,
        "sample_rate": SAMPLE_RATE,
        "segment_seconds": cfg.segment,
        "frontend": frontend_config,
        "epochs": cfg.epochs,
        "train_seconds": round(trained_seconds, 1),
        "test": trained,
        "test_untrained": untrained,
    }
    write_json_atomic(os.path.join(cfg.output, "results.json"), results)

    # === Export ===
    if cfg.export:
        # Tag names, rate, segment, frontend and model card: all from the
        # model as saved, exported in float32 whatever the training policy.
        exports = export_tagger_file(
            model_path,
            os.path.join(cfg.export_dir, f"{cfg.name}_tagger"),
            formats=cfg.export,
            overwrite=FLAGS.overwrite,
        )
        for kind, path in exports.items():
            print(f"Exported {kind}: {path}")
    print(
        f"test ({trained['tracks']} tracks, {task}): ROC-AUC "
        f"{trained['roc_auc']:.3f} PR-AUC {trained['pr_auc']:.3f} "
        f"(untrained: ROC-AUC {untrained['roc_auc']:.3f} PR-AUC "
        f"{untrained['pr_auc']:.3f}); trained in {trained_seconds:.0f} s; "
        f"model in {cfg.output}/model.keras"
    )


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main)
