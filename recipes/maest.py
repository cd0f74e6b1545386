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
import math
import os
import time
import warnings

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
from keras_music.convert.maest import load_maest_weights
from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.data.tfrecord_format import read_manifest
from keras_music.data.tfrecord_format import write_json_atomic
from keras_music.distribute import fit
from keras_music.evaluation.embedding_cache import labelled_tracks
from keras_music.evaluation.embedding_cache import segment_sums
from keras_music.evaluation.embedding_cache import track_labels
from keras_music.evaluation.metrics import pr_auc
from keras_music.evaluation.metrics import roc_auc
from keras_music.export.serving_export import check_tflite_free
from keras_music.export.tagger import FORMATS as EXPORT_FORMATS
from keras_music.export.tagger import export_tagger
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.layers.mixup import Mixup
from keras_music.layers.spec_augment import SpecAugment
from keras_music.models.audio_preprocessor import AudioPreprocessor
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_layers import patch_grid_size
from keras_music.models.maest.maest_presets import backbone_presets
from keras_music.models.maest.maest_tagger import MAESTTagger
from keras_music.training.recipe_support import keep_initial_weights
from keras_music.training.recipe_support import resume_stream
from keras_music.training.recipe_support import run_callbacks
from keras_music.training.recipe_support import worker_done
from keras_music.training.stochastic_weight_averaging import (
    StochasticWeightAveraging,
)
from keras_music.training.warmup_plateau_decay import WarmupPlateauDecay

SAMPLE_RATE = 16000
HOP_LENGTH = 256
# The paper's schedule in epochs: warm-up, decay start, decay length, total;
# SWA starts at the decay start and averages every 5 epochs.
PAPER_EPOCHS = {"warmup": 5, "decay_start": 50, "decay": 50, "total": 130}
SWA_EVERY = 5
# On a CPU-only machine with the built-in corpus: what fits in a few
# minutes on two cores.
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


def segment_frames(seconds):
    """Log-mel frames of a segment: centred frames, hop 256 at 16 kHz."""
    return seconds * SAMPLE_RATE // HOP_LENGTH + 1


def run_name(preset):
    """What the run folder and the export are named after: the model they
    hold, the preset, with the segment when it is not the preset's own
    (`maest_small` on 30 s is `maest_small`, `maest_tiny` on 5 s is
    `maest_tiny_5s`)."""
    segment = int(FLAGS.segment)
    frames = backbone_presets[preset]["num_frames"]
    if preset.endswith(f"_{segment}s") or frames == segment_frames(segment):
        return preset
    return f"{preset}_{segment}s"


def frontend_layer():
    """MAEST's log-mel frontend: 96 bands, hop 256 at 16 kHz, normalised
    with the AudioSet statistics."""
    return LogMelSpectrogram(
        sample_rate=SAMPLE_RATE, hop_length=HOP_LENGTH, normalize=True
    )


def resolve_schedule(has_gpu):
    """Preset, epochs and learning rate from the flags and the machine."""
    segment = int(FLAGS.segment)
    demo = FLAGS.data is None and not has_gpu
    preset = FLAGS.preset or (
        CPU_DEMO["preset"] if demo else f"maest_{segment}s"
    )
    if preset not in backbone_presets:
        raise ValueError(
            f"`--preset` must be one of {sorted(backbone_presets)}. "
            f"Received: --preset={preset!r}"
        )
    epochs = FLAGS.epochs or (
        CPU_DEMO["epochs"] if demo else PAPER_EPOCHS["total"]
    )
    learning_rate = FLAGS.learning_rate or (
        CPU_DEMO["learning_rate"] if demo else 1e-4
    )
    return preset, epochs, learning_rate, demo


def build_backbone(preset):
    segment = int(FLAGS.segment)
    frames = segment_frames(segment)
    config = dict(backbone_presets[preset])
    # Full presets carry the released grid (Essentia feeds a few frames
    # more than a segment holds); other sizes get the segment's grid.
    if not preset.startswith("maest_") or not preset.endswith(f"_{segment}s"):
        config["num_frames"] = frames
    if config["num_frames"] < frames:
        raise ValueError(
            f"`--preset` {preset} takes {config['num_frames']} frames, fewer "
            f"than a {segment} s segment ({frames}). Choose the preset of "
            f"the segment length or a smaller `--segment`."
        )
    config["train_time_patchout"] = (
        FLAGS.patchout_time
        if FLAGS.patchout_time is not None
        else backbone_presets[f"maest_{segment}s"]["train_time_patchout"]
    )
    config["train_freq_patchout"] = FLAGS.patchout_freq
    grid = {
        "--patchout_time": patch_grid_size(config["num_frames"], 16, 10),
        "--patchout_freq": patch_grid_size(config["num_mel_bins"], 16, 10),
    }
    for flag, drop in zip(
        grid, (config["train_time_patchout"], FLAGS.patchout_freq)
    ):
        if not 0 <= drop < grid[flag]:
            raise ValueError(
                f"`{flag}` must be in [0, {grid[flag]}): the {preset} grid "
                f"of a {segment} s segment has {grid[flag]} patches on that "
                f"axis. Received: {flag}={drop}"
            )
    return MAESTBackbone(**config)


def paper_schedule(learning_rate, epochs, steps_per_epoch):
    """MAEST's warm-up / plateau / linear decay, scaled to `epochs`."""
    step = epochs / PAPER_EPOCHS["total"] * steps_per_epoch
    return WarmupPlateauDecay(
        learning_rate,
        warmup_steps=round(PAPER_EPOCHS["warmup"] * step),
        plateau_end_step=round(PAPER_EPOCHS["decay_start"] * step),
        decay_steps=max(1, round(PAPER_EPOCHS["decay"] * step)),
    )


def swa_callback(epochs, path):
    """SWA every 5 epochs from epoch 50 of 130, scaled to `epochs`."""
    scale = epochs / PAPER_EPOCHS["total"]
    return StochasticWeightAveraging(
        start_epoch=max(1, math.ceil(PAPER_EPOCHS["decay_start"] * scale)),
        every=max(1, round(SWA_EVERY * scale)),
        state_path=path,
    )


def labelled_track_count(manifest, task):
    """Tracks the reader yields for `task` (single-label tasks skip tracks
    without a label)."""
    if manifest["tasks"][task]["multi_label"]:
        return manifest["num_examples"]
    return sum(manifest["label_counts"][task].values())


def input_pipeline(directory, task, multi_label, training, replicas=1):
    """Batches of `(log_mel, targets)`: frontend, then mixup and
    SpecAugment in training."""
    segment = int(FLAGS.segment)
    batch_size, drop_remainder = FLAGS.batch_size, training
    if replicas > 1 and not training:
        # Keras cannot split a last batch unevenly across replicas:
        # validation drops it (it only monitors; the final test scores
        # every track).
        tracks = labelled_track_count(read_manifest(directory), task)
        batch_size = min(batch_size, max(1, tracks // replicas) * replicas)

        drop_remainder = True
    frontend = frontend_layer()
    dataset = tfrecord_dataset(
        directory,
        segment_seconds=segment,
        task=task,
        mode="random" if training else "center",
        batch_size=batch_size,
        seed=FLAGS.seed,
        balanced=training and FLAGS.balanced,
        num_samples=FLAGS.samples_per_epoch if training else None,
        one_hot=not multi_label,
        drop_remainder=drop_remainder,
        # Endless training epochs, each a fresh balanced draw; `fit`
        # counts the steps.
        repeat=training,
    )
    dataset = dataset.map(
        lambda audio, y: (frontend(audio), y),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    if training:
        mixup = Mixup(alpha=FLAGS.mixup_alpha, seed=FLAGS.seed)
        spec_augment = SpecAugment(seed=FLAGS.seed)

        def augment(x, y):
            if FLAGS.mixup_alpha > 0:
                x, y = mixup((x, y), training=True)
            if FLAGS.spec_augment:
                x = spec_augment(x, training=True)
            return x, y

        dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        dataset = training_input(dataset)
    else:
        # A known size spares Keras guessing where validation ends.
        tracks = labelled_track_count(read_manifest(directory), task)
        batches = tracks // batch_size
        if not drop_remainder:
            batches = -(-tracks // batch_size)
        cardinality = tf.data.experimental.assert_cardinality(batches)
        dataset = dataset.apply(cardinality)
    return dataset.prefetch(tf.data.AUTOTUNE)


def tagger_model(preset, vocabulary, learning_rate):
    """A MAEST tagger on `preset` with one output per tag of `vocabulary`,
    initialised from `--init`, compiled with AdamW at `learning_rate` (a
    float or a schedule) and the run's compile options (`--jit_compile`).
    Build it in the strategy's scope.

    The model maps log-mel spectrograms to tag probabilities (the
    frontend runs in the input pipeline), and carries its preprocessor
    (sample rate, segment, frontend) and tag names, so that its `.keras`
    file tags audio by itself (`keras-music tag`, `export_tagger`)."""
    preprocessor = AudioPreprocessor(
        frontend_layer(), segment_seconds=int(FLAGS.segment)
    )
    tagger = MAESTTagger(
        build_backbone(preset),
        num_tags=len(vocabulary),
        preprocessor=preprocessor,
        vocabulary=vocabulary,
    )
    if FLAGS.init != "random":
        report = load_maest_weights(
            tagger,
            FLAGS.init,
            load_head=False,
            prefix=FLAGS.init_prefix,
        )
        print(f"Loaded {FLAGS.init} (resized: {report['resized']})")
    tagger.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate, weight_decay=FLAGS.weight_decay
        ),
        **compile_options(),
    )
    return tagger


def dataset_card(splits):
    """The `dataset` of the model card: the data's name and size."""
    if FLAGS.data is None:
        name = "keras_music built-in tune corpus"
    else:
        name = os.path.basename(os.path.normpath(FLAGS.data))
    sizes = {
        split: read_manifest(folder)["num_examples"]
        for split, folder in splits.items()
    }
    size = " / ".join(f"{count} {split}" for split, count in sizes.items())
    return {"name": name, "size": f"{size} tracks"}


def evaluate_tracks(model, directory, task, multi_label):
    """Exact ROC-AUC and PR-AUC per track: every half-overlapped segment
    is tagged and the probabilities averaged per track."""
    frontend = frontend_layer()
    sums, counts = segment_sums(
        lambda audio, training: model(frontend(audio), training=training),
        directory,
        int(FLAGS.segment),
        batch_size=FLAGS.batch_size,
    )
    track_ids, labels, tasks = track_labels(directory)
    truth = labels[task]
    keep = labelled_tracks(truth)
    if not multi_label:
        truth = np.eye(len(tasks[task]["vocabulary"]))[truth]
    truth = truth[keep]
    # Partially labelled tasks (OpenMIC) mark unknown labels -1.
    mask = truth >= 0
    scores = np.stack([sums[t] / counts[t] for t in track_ids[keep]])
    return {
        "tracks": int(keep.sum()),
        "roc_auc": float(roc_auc(truth, scores, mask=mask)),
        "pr_auc": float(pr_auc(truth, scores, mask=mask)),
    }


def main(_):
    strategy = start_run()
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    preset, epochs, learning_rate, demo = resolve_schedule(has_gpu)
    name = run_name(preset)
    output = FLAGS.output or os.path.join("runs", name)
    prepare_output(output, strategy)
    if "tflite" in FLAGS.export:
        # Refused now, not after training.
        check_tflite_free(
            FLAGS.export_dir, f"{name}_tagger", overwrite=FLAGS.overwrite
        )

    # === Data ===
    splits, source, manifest, task = recipe_data(
        SAMPLE_RATE, corpus_task="instrument", multi=True
    )
    spec = manifest["tasks"][task]
    multi_label = spec["multi_label"]
    num_tags = len(spec["vocabulary"])
    if demo:
        print(
            f"No GPU and no --data: training the small preset {preset} "
            f"({epochs} epochs) on the built-in corpus; pass --preset "
            f"maest_{FLAGS.segment}s --epochs 130 for the paper's model."
        )
    steps_per_epoch = FLAGS.steps_per_epoch or max(
        1,
        (FLAGS.samples_per_epoch or labelled_track_count(manifest, task))
        // FLAGS.batch_size,
    )
    replicas = strategy.num_replicas_in_sync
    train = input_pipeline(splits["train"], task, multi_label, True)
    # A resumed run goes on with the batches the interrupted one had not
    # reached, not from the start of the stream.
    train, skipped = resume_stream(train, output, steps_per_epoch)
    if skipped:
        print(f"Resuming: skipping the {skipped} batches already trained")
    valid = input_pipeline(splits["valid"], task, multi_label, False, replicas)

    # === Model ===
    with strategy.scope():
        schedule = paper_schedule(learning_rate, epochs, steps_per_epoch)
        tagger = tagger_model(preset, spec["vocabulary"], schedule)
        backbone = tagger.backbone
    print(
        f"{preset}: {tagger.count_params():,} parameters, "
        f"{backbone.num_freq_patches}x{backbone.num_time_patches} patches, "
        f"training patchout {backbone.train_time_patchout} time / "
        f"{backbone.train_freq_patchout} frequency; task {task!r} "
        f"({num_tags} tags) from {source}; strategy {FLAGS.strategy} "
        f"({strategy.num_replicas_in_sync} replicas)"
    )

    # === Train ===
    # The initial weights, kept to score the same model untrained (a
    # resumed run keeps those of its first start).
    untrained_path = keep_initial_weights(tagger, output)
    callbacks = run_callbacks(
        output, monitor="val_roc_auc", mode="max", strategy=strategy
    )
    if FLAGS.swa:
        callbacks.append(swa_callback(epochs, os.path.join(output, "swa.npz")))
    started = time.time()
    fit(
        tagger,
        train,
        validation_data=valid,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        shuffle=False,  # the input pipeline shuffles
        verbose=FLAGS.verbose,
    )
    trained_seconds = time.time() - started
    if worker_done(tagger, output, strategy):
        return  # the chief evaluates and writes the run's files
    tagger.save(os.path.join(output, "model.keras"))

    # === Final evaluation ===
    trained = evaluate_tracks(tagger, splits["test"], task, multi_label)
    trained_weights = tagger.get_weights()
    with warnings.catch_warnings():
        # Saved before the optimizer was built: its state is not restored
        # (nor needed to score), which Keras warns about.
        warnings.filterwarnings("ignore", "Skipping variable loading")
        tagger.load_weights(untrained_path)
    untrained = evaluate_tracks(tagger, splits["test"], task, multi_label)
    results = {
        "preset": preset,
        "task": task,
        # What an export needs to serve the model on raw audio.
        "vocabulary": spec["vocabulary"],
        "sample_rate": SAMPLE_RATE,
        "segment_seconds": int(FLAGS.segment),
        "frontend": keras.saving.serialize_keras_object(frontend_layer()),
        "epochs": epochs,
        "train_seconds": round(trained_seconds, 1),
        "test": trained,
        "test_untrained": untrained,
    }
    # The trained tagger again, now with what it was scored on, which its
    # exports' model cards state.
    tagger.set_weights(trained_weights)
    tagger.metadata = {
        "dataset": dataset_card(splits),
        "metrics": {
            "task": task,
            "split": "test",
            "tracks": trained["tracks"],
            "roc_auc": trained["roc_auc"],
            "pr_auc": trained["pr_auc"],
            "untrained": {
                "roc_auc": untrained["roc_auc"],
                "pr_auc": untrained["pr_auc"],
            },
        },
    }
    tagger.save(os.path.join(output, "model.keras"))
    write_json_atomic(os.path.join(output, "results.json"), results)
    if FLAGS.export:
        # The trained model as saved, exported in float32 whatever the
        # training policy.
        keras.mixed_precision.set_global_policy("float32")
        model_path = os.path.join(output, "model.keras")
        with warnings.catch_warnings():
            # The file holds the optimizer's state, which serving does
            # not need; Keras warns that it skips it.
            warnings.filterwarnings("ignore", "Skipping variable loading")
            trained_model = keras.saving.load_model(model_path, compile=False)
        # Tag names, rate, segment, frontend and model card: all from
        # the model.
        exports = export_tagger(
            trained_model,
            os.path.join(FLAGS.export_dir, f"{name}_tagger"),
            formats=FLAGS.export,
            overwrite=FLAGS.overwrite,
        )
        for kind, path in exports.items():
            print(f"Exported {kind}: {path}")
    print(
        f"test ({trained['tracks']} tracks, {task}): ROC-AUC "
        f"{trained['roc_auc']:.3f} PR-AUC {trained['pr_auc']:.3f} "
        f"(untrained: ROC-AUC {untrained['roc_auc']:.3f} PR-AUC "
        f"{untrained['pr_auc']:.3f}); trained in {trained_seconds:.0f} s; "
        f"model in {output}/model.keras"
    )


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main)
