"""Pre-train PASE / PASE+ with multi-task workers, then classify music.

    python recipes/pase.py --encoder pase_plus --weighting reweighted

The method of Wu et al. (ICASSP 2021, ../shared/papers/multitask-pase.txt):
a raw-waveform encoder at 16 kHz (PASE, or PASE+ with a QRNN and dense
skips; 512-d frames every 10 ms) pre-trained by workers that predict,
frame by frame, hand-crafted targets of the input chunk: the waveform
itself (W, MAE), log power spectrum (L), prosody (P), MFCC (M), chroma
(C) and tempogram (T) (MSE on z-normalised targets). `--weighting equal`
sums the worker losses; `reweighted` first trains with equal weights for
`--reweight_epochs` (10), takes 1 / the mean validation loss of each
worker as its weight (saved to `loss_weights.json`) and trains a fresh
encoder with them. Then the paper's three downstream scenarios on the
same data, each a mean-pooled embedding -> Dense with Adam 1e-3 and early
stopping (patience 10) on the validation loss, `--trials` seeds, macro
F1: supervised (the encoder from scratch), frozen (a probe on cached
embeddings, also of the encoder at its random initialisation) and
fine-tuned.

With `--data DIR` (train/, valid/ and test/ written by
`tfrecords/make_tfrecords.py --features pase`) or on a GPU it trains the
paper's encoder size. With no `--data` on a CPU it renders the built-in
tune corpus (400 clips of 4 s), computes the workers' targets once into a
copy of its train and valid folders beside it in the cache, and runs a
bounded demo: PASE+ at an eighth of the paper's widths (64-d), 6 epochs of
1 s chunks, 2 trials and 3 epochs per end-to-end trial, on the `dance`
task (5 classes).

Everything lands in `--output`: per pre-training phase TensorBoard logs,
`history.csv`, `best.keras` and the state to resume an interrupted run
(run the same command again); `encoder.keras` (audio -> frame
embeddings) and `results.json` with the scores (mean, std and every
trial) and the per-worker loss scales before and after re-weighting. A
CPU demo run with `--weighting reweighted --epochs 3 --scenarios frozen
--trials 3` printed (11 minutes on two busy cores; at this scale the
probes are at chance):

    test (16 tracks, dance): macro F1 frozen 0.160 ± 0.141 (random init
    0.154 ± 0.092, equal phase 0.188 ± 0.070); pase_plus (CPU demo
    width), workers W,L,P,M,C,T, reweighted, pre-trained in 220 s;
    encoder in runs/pase_plus_reweighted/encoder.keras
"""

# First: keras_music imports TensorFlow quietly (KERAS_MUSIC_VERBOSE=1
# shows its logging).
from keras_music import quiet as _quiet  # noqa: F401

# isort: split
import dataclasses
import json
import os
import time

import flag_checks
import keras
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
from keras_music.data import tfrecord_format as fmt
from keras_music.data.tfrecord_dataset import tfrecord_dataset
from keras_music.data.tfrecord_rewrite import rewrite_with_targets
from keras_music.distribute import is_chief
from keras_music.evaluation.embedding_cache import labelled_tracks
from keras_music.evaluation.embedding_cache import track_labels
from keras_music.evaluation.finetune import evaluate_finetune
from keras_music.evaluation.probe_encoder import probe_encoder
from keras_music.evaluation.probe_encoder import summarize_trials
from keras_music.evaluation.probe_protocol import get_probe_protocol
from keras_music.features.pase_targets import frame_targets
from keras_music.models.embedder import AudioEmbedder
from keras_music.models.pase.pase_backbone import PASEBackbone
from keras_music.models.pase.pase_plus_backbone import PASEPlusBackbone
from keras_music.models.pase.pase_presets import pase_plus_presets
from keras_music.models.pase.pase_presets import pase_presets
from keras_music.pretraining.multi_task_pretrainer import MultiTaskPretrainer
from keras_music.pretraining.pase_workers import WORKER_CODES
from keras_music.pretraining.pase_workers import parse_workers
from keras_music.training import recipe_support
from keras_music.training.recipe_support import epoch_steps
from keras_music.training.recipe_support import read_history
from keras_music.training.recipe_support import worker_done
from keras_music.training.recipe_support import worker_folder

# === Setup ===

SAMPLE_RATE = 16000
BACKBONES = {"pase": PASEBackbone, "pase_plus": PASEPlusBackbone}
PRESETS = {"pase": pase_presets, "pase_plus": pase_plus_presets}
SCENARIOS = ("supervised", "frozen", "finetune")
# The paper gives no pre-training length or batch; Fig. 4 shows 20 epochs.
# PASE trains on 1 s chunks (16,000 samples).
PAPER = {"epochs": 50, "batch_size": 32, "corpus_clips": 600}
PAPER |= {"corpus_seconds": 30.0, "trials": 10, "finetune_epochs": None}
# What fits in a few minutes on two CPU cores (see the docstring).
CPU_DEMO = {"epochs": 6, "batch_size": 16, "corpus_clips": 400}
CPU_DEMO |= {"corpus_seconds": 4.0, "trials": 2, "finetune_epochs": 3}
# An eighth of the paper's widths (a quarter of its sinc filters) and a
# quarter of the waveform decoder's: 134 k encoder parameters for PASE+.
CPU_DEMO_WIDTHS = {
    "sinc_filters": 16,
    "conv_filters": [8, 16, 16, 32, 32, 64, 64],
    "emb_dim": 64,
}
CPU_DEMO_DECODER = (64, 64, 32, 32, 16)

flags.DEFINE_enum("encoder", "pase_plus", list(BACKBONES), "Encoder family.")
flags.DEFINE_string(
    "preset",
    None,
    "Preset of the encoder, e.g. pase_plus_tiny. Default: the paper's size "
    "(narrowed in the CPU demo).",
)
flags.DEFINE_string("workers", "W,L,P,M,C,T", "Worker codes or names.")
flags.DEFINE_enum("weighting", "equal", ["equal", "reweighted"], "Loss sum.")
flags.DEFINE_integer(
    "reweight_epochs", None, "Equal-weight epochs averaged (10; demo: all)."
)
flags.DEFINE_integer("epochs", None, "Pre-training epochs (50; demo 6).")
flags.DEFINE_integer(
    "steps_per_epoch", None, "Batches per epoch. Default: one chunk a track."
)
flags.DEFINE_integer("batch_size", None, "Global batch (32; demo 16).")
flags.DEFINE_float("chunk_seconds", 1.0, "Pre-training chunk length.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_list("scenarios", list(SCENARIOS), "Downstream scenarios.")
flags.DEFINE_integer("trials", None, "Seeds per scenario (10; demo 2).")
flags.DEFINE_integer("probe_epochs", None, "Frozen probe epoch cap (200).")
flags.DEFINE_integer(
    "finetune_epochs", None, "Epoch cap of supervised/finetune (200; demo 3)."
)
flags.DEFINE_float(
    "segment_seconds", None, "Downstream segment. Default: --chunk_seconds."
)
flags.DEFINE_string(
    "output", None, "Run folder. Default: runs/<preset>_<weighting>."
)
flag_checks.positive(
    "reweight_epochs",
    "epochs",
    "steps_per_epoch",
    "batch_size",
    "chunk_seconds",
    "learning_rate",
    "trials",
    "probe_epochs",
    "finetune_epochs",
    "segment_seconds",
)
# --help lists the shared flags (recipes/run_flags.py) with these.
flags.adopt_module_key_flags(run_flags)
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Config:
    """What one run does: the paper's settings or the CPU demo's, with
    the flags given on the command line over them (`config`)."""

    encoder: str
    preset: str
    demo: bool  # the CPU demo: its narrowed waveform decoder
    demo_width: bool  # and its narrowed encoder (no --preset given)
    workers: tuple
    weighting: str
    epochs: int
    reweight_epochs: int
    steps_per_epoch: int | None
    batch_size: int
    chunk_seconds: float
    segment_seconds: float
    learning_rate: float
    scenarios: tuple
    trials: int
    probe_epochs: int | None
    finetune_epochs: int | None
    corpus_clips: int
    corpus_seconds: float
    output: str

    @property
    def codes(self):
        """The workers as their paper letters, e.g. `"W,L,P"`."""
        return ",".join(c for c, n in WORKER_CODES.items() if n in self.workers)


def config(demo):
    """The run's `Config`: the CPU demo's (`demo`) or the paper's
    settings, overridden by the flags given."""
    value = flags_or_defaults(CPU_DEMO if demo else PAPER)
    preset = FLAGS.preset or FLAGS.encoder
    if preset not in PRESETS[FLAGS.encoder]:
        raise ValueError(
            f"`--preset` must be one of {sorted(PRESETS[FLAGS.encoder])} "
            f"(--encoder {FLAGS.encoder}). Received: --preset={preset!r}"
        )
    unknown = [s for s in FLAGS.scenarios if s not in SCENARIOS]
    if unknown or not FLAGS.scenarios:
        raise ValueError(
            f"`--scenarios` must be a list of {', '.join(SCENARIOS)}. "
            f"Received: --scenarios={','.join(FLAGS.scenarios)}"
        )
    reweight_epochs = FLAGS.reweight_epochs or min(10, value["epochs"])
    if demo:
        reweight_epochs = min(reweight_epochs, value["epochs"])
    return Config(
        encoder=FLAGS.encoder,
        preset=preset,
        demo=demo,
        demo_width=demo and FLAGS.preset is None,
        workers=tuple(parse_workers(FLAGS.workers)),
        weighting=FLAGS.weighting,
        reweight_epochs=reweight_epochs,
        steps_per_epoch=FLAGS.steps_per_epoch,
        chunk_seconds=FLAGS.chunk_seconds,
        segment_seconds=FLAGS.segment_seconds or FLAGS.chunk_seconds,
        learning_rate=FLAGS.learning_rate,
        scenarios=tuple(FLAGS.scenarios),
        probe_epochs=FLAGS.probe_epochs,
        output=FLAGS.output
        or os.path.join("runs", f"{preset}_{FLAGS.weighting}"),
        **value,
    )


# === Data ===


def pretraining_splits(splits, names):
    """Train and valid folders holding the targets of `names`: on the
    built-in corpus, a copy of its folders with every PASE target (made
    once, beside it in the cache)."""
    if FLAGS.data is None:
        root = os.path.dirname(splits["train"]) + "_pase_targets"
        targets = frame_targets()
        train = rewrite_with_targets(
            splits["train"], os.path.join(root, "train"), targets
        )
        valid = rewrite_with_targets(
            splits["valid"], os.path.join(root, "valid"), targets, train
        )
        return {"train": train, "valid": valid}
    for split in ("train", "valid"):
        manifest = fmt.read_manifest(splits[split])
        stored = manifest.get("targets", {}).get("names", [])
        missing = [n for n in names if n not in stored]
        if manifest["sample_rate"] != SAMPLE_RATE or missing:
            raise ValueError(
                f"`--data` must be written with the PASE targets at 16 kHz: "
                f"{splits[split]} has {manifest['sample_rate']} Hz and lacks "
                f"the targets {missing}. Write it with `python "
                f"tfrecords/make_tfrecords.py ... --sample_rate 16000 "
                f"--features pase`. Received: --data={FLAGS.data!r}"
            )
    return {split: splits[split] for split in ("train", "valid")}


def chunks(cfg, directory, names, training, replicas):
    """Batches `(audio, {target: (batch, frames, dim)})` of 1 chunk/track."""
    tracks = fmt.read_manifest(directory)["num_examples"]
    batch_size = cfg.batch_size
    if not training:
        # Replicas split a batch evenly; validation keeps whole batches.
        batch_size = min(batch_size, max(1, tracks // replicas) * replicas)
    dataset = tfrecord_dataset(
        directory,
        segment_seconds=cfg.chunk_seconds,
        mode="random" if training else "center",
        batch_size=batch_size,
        seed=FLAGS.seed,
        drop_remainder=True,
        targets=names or None,
        repeat=training,
    )
    if training:
        return training_input(dataset)
    cardinality = tf.data.experimental.assert_cardinality(tracks // batch_size)
    return dataset.apply(cardinality)


# === Model ===


def pretrainer_model(cfg, target_dims, weights=None):
    """The multi-task pre-trainer of the run's workers on a fresh, seeded
    encoder, with the workers' loss `weights` (`None`: equal), compiled
    with Adam and the run's compile options. Build it in the strategy's
    scope."""
    keras.utils.set_random_seed(FLAGS.seed)
    overrides = {}
    if cfg.demo_width:
        overrides = dict(CPU_DEMO_WIDTHS)
        if cfg.encoder == "pase_plus":
            overrides["qrnn_units"] = CPU_DEMO_WIDTHS["emb_dim"]
    model = MultiTaskPretrainer(
        BACKBONES[cfg.encoder].from_preset(cfg.preset, **overrides),
        workers=cfg.workers,
        target_dims=target_dims,
        loss_weights=weights,
        **({"decoder_filters": CPU_DEMO_DECODER} if cfg.demo else {}),
    )
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        **compile_options(),
    )
    return model


# === Train ===


def pretrain(cfg, phase, data, weights, epochs, strategy):
    """One pre-training run in `<output>/<phase>`: its encoder, history
    and the path of its initial weights (the random-init baseline)."""
    folder = os.path.join(cfg.output, phase)
    os.makedirs(folder, exist_ok=True)
    train, valid, target_dims, steps = data
    with strategy.scope():
        model = pretrainer_model(cfg, target_dims, weights)
        encoder = model.encoder
    # Every worker of a multi-worker run logs its own history (they are
    # equal), which the loss re-weighting reads.
    history = os.path.join(
        folder if is_chief(strategy) else worker_folder(folder, strategy),
        "history.csv",
    )
    # The log row is written before the backup of the same epoch, so that
    # a resumed run never lacks an epoch (it may repeat one).
    done = recipe_support.pretrain(
        model,
        train,
        folder,
        epochs,
        steps,
        strategy,
        baseline=encoder,
        monitor="val_loss",
        callbacks=[keras.callbacks.CSVLogger(history, append=True)],
        validation_data=valid,
        verbose=FLAGS.verbose,
    )
    if is_chief(strategy):
        encoder.save(os.path.join(folder, "encoder.keras"))
    return encoder, read_history(history), done.initial_weights


def equal_phase(cfg, data, strategy):
    """The re-weighted scheme's first phase (equal weights for
    `reweight_epochs`), or the one a resumed run finished: its encoder,
    the loss weights it gives and its loss scales."""
    path = os.path.join(cfg.output, "loss_weights.json")
    if os.path.exists(path):
        with open(path) as stream:
            weights = json.load(stream)
        folder = os.path.join(cfg.output, "equal")
        encoder = keras.saving.load_model(os.path.join(folder, "encoder.keras"))
        history = read_history(os.path.join(folder, "history.csv"))
    else:
        encoder, history, _ = pretrain(
            cfg, "equal", data, None, cfg.reweight_epochs, strategy
        )
        weights = MultiTaskPretrainer.reweighted_loss_weights(
            history, cfg.reweight_epochs
        )
        if is_chief(strategy):
            fmt.write_json_atomic(path, weights)
    scales = MultiTaskPretrainer.loss_scales(history, cfg.reweight_epochs)
    return encoder, weights, scales


# === Evaluate ===


def downstream_scores(cfg, encoder, initial, trained, phases, splits, task):
    """The paper's scenarios on `task`: `{scenario: summary}`, the frozen
    one also for each earlier phase and for the random initialisation."""
    protocol = get_probe_protocol("pase", trials=cfg.trials)
    if cfg.probe_epochs:
        protocol = get_probe_protocol(
            "pase", trials=cfg.trials, epochs=cfg.probe_epochs
        )
    end_to_end = protocol
    if cfg.finetune_epochs:
        end_to_end = get_probe_protocol(
            "pase", trials=cfg.trials, epochs=cfg.finetune_epochs
        )
    cache_dir = os.path.join(cfg.output, "embeddings")

    def frozen(backbone):
        return probe_encoder(
            AudioEmbedder(backbone),
            splits,
            task,
            protocol,
            cfg.segment_seconds,
            cache_dir,
            seed=FLAGS.seed,
        ).summary()

    scores = {}
    if "frozen" in cfg.scenarios:
        scores["frozen"] = frozen(encoder)
        for phase, phase_encoder in phases.items():
            scores[f"frozen_{phase}"] = frozen(phase_encoder)
        encoder.load_weights(initial)
        scores["frozen_random_init"] = frozen(encoder)
        encoder.load_weights(trained)
    for scenario in ("finetune", "supervised"):
        if scenario in cfg.scenarios:
            trials = evaluate_finetune(
                AudioEmbedder(encoder),
                splits,
                task,
                end_to_end,
                cfg.segment_seconds,
                scenario=scenario,
                seed=FLAGS.seed,
            )[1.0]
            scores[scenario] = summarize_trials(trials)
    return scores


def describe(cfg, scores, metric):
    """The scenarios' test scores, `mean ± std` over the trials."""

    def score(name):
        value = scores[name][metric]
        return f"{value['mean']:.3f} ± {value['std']:.3f}"

    parts = []
    for scenario in cfg.scenarios:
        if scenario != "frozen":
            parts.append(f"{scenario} {score(scenario)}")
            continue
        equal = ""
        if "frozen_equal" in scores:
            equal = f", equal phase {score('frozen_equal')}"
        parts.append(
            f"frozen {score('frozen')} (random init "
            f"{score('frozen_random_init')}{equal})"
        )
    return ", ".join(parts)


def main(_):
    strategy = start_run()
    demo = cpu_demo()
    cfg = config(demo)
    prepare_output(cfg.output, strategy)
    replicas = strategy.num_replicas_in_sync

    # === Data ===
    splits, source, _, task = recipe_data(
        SAMPLE_RATE, cfg.corpus_clips, cfg.corpus_seconds, corpus_task="dance"
    )
    names = [n for n in cfg.workers if n != "waveform"]
    pretraining = pretraining_splits(splits, names)
    train = chunks(cfg, pretraining["train"], names, True, 1)
    valid = chunks(cfg, pretraining["valid"], names, False, replicas)
    tracks = fmt.read_manifest(pretraining["train"])["num_examples"]
    steps = epoch_steps(tracks, cfg.batch_size, cfg.steps_per_epoch)
    target_dims = MultiTaskPretrainer.target_dims_from(train.element_spec)
    data = (train, valid, target_dims, steps)
    if demo:
        print(
            f"No GPU and no --data: a bounded demo on the built-in corpus, "
            f"{cfg.preset} at the CPU demo width, {cfg.epochs} epochs, "
            f"{cfg.trials} trials; pass --data (or run on a GPU) for the "
            "paper's size."
        )
    print(
        f"{cfg.preset}: workers {cfg.codes}, {cfg.weighting} weighting, task "
        f"{task!r} from {source}; strategy {FLAGS.strategy} ({replicas} "
        "replicas)"
    )

    # === Pre-train ===
    started = time.time()
    weights, scales, phases = None, {}, {}
    if cfg.weighting == "reweighted":
        phases["equal"], weights, scales["equal"] = equal_phase(
            cfg, data, strategy
        )
    encoder, history, initial = pretrain(
        cfg, "pretrain", data, weights, cfg.epochs, strategy
    )
    trained_seconds = time.time() - started
    if worker_done(encoder, cfg.output, strategy):
        return  # the chief evaluates and writes the run's files
    encoder.save(os.path.join(cfg.output, "encoder.keras"))
    trained = os.path.join(cfg.output, "pretrain", "trained.weights.h5")
    encoder.save_weights(trained)
    scales[cfg.weighting] = MultiTaskPretrainer.loss_scales(
        history, min(cfg.reweight_epochs, cfg.epochs), weights
    )

    # === Evaluate ===
    scores = downstream_scores(
        cfg, encoder, initial, trained, phases, splits, task
    )
    _, labels, tasks = track_labels(splits["test"])
    test_tracks = int(labelled_tracks(labels[task]).sum())
    metric = "roc_auc" if tasks[task]["multi_label"] else "f1"
    results = {
        "encoder": cfg.encoder,
        "preset": cfg.preset,
        "demo_width": cfg.demo_width,
        "parameters": encoder.count_params(),
        "workers": cfg.codes,
        "weighting": cfg.weighting,
        "loss_weights": weights,
        "loss_scales": scales,
        "epochs": cfg.epochs,
        "reweight_epochs": cfg.reweight_epochs,
        "chunk_seconds": cfg.chunk_seconds,
        "segment_seconds": cfg.segment_seconds,
        "train_seconds": round(trained_seconds, 1),
        "task": task,
        "source": source,
        "test_tracks": test_tracks,
        "trials": cfg.trials,
        "metric": metric,
        "scores": scores,
    }
    fmt.write_json_atomic(os.path.join(cfg.output, "results.json"), results)
    label = {"f1": "macro F1", "roc_auc": "ROC-AUC"}[metric]
    print(
        f"test ({test_tracks} tracks, {task}): {label} "
        f"{describe(cfg, scores, metric)}; {cfg.preset}"
        f"{' (CPU demo width)' if cfg.demo_width else ''}, workers "
        f"{cfg.codes}, {cfg.weighting}, pre-trained in {trained_seconds:.0f}"
        f" s; encoder in {cfg.output}/encoder.keras"
    )


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main)
