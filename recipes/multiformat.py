"""Multi-format contrastive learning: a waveform and a mel-spectrogram
encoder, each pre-trained with SimCLR, probed alone and fused.

    python recipes/multiformat.py --fusion concat

The method of ../shared/papers/multiformat-contrastive.txt (Sections 3-4):
two encoders trained independently with NT-Xent (temperature 0.5, Adam
with weight decay 1e-6) on two views of random 5 s clips at 22.05 kHz:

- waveform: the 9-block SampleCNN with a 1-D batch norm on its 512-d
  output (`sample_cnn_multiformat`); views are random crops with white
  noise, gain in [-6, 0] dB, a high/low-pass filter and a pitch shift
  within +-5 semitones (`CLMRAugment` with those stages, at CLMR's
  probabilities: the paper gives none);
- spectrogram: ResNet-18 (`resnet18`, 512-d) on 128-band log-mel
  spectrograms (FFT 2048, hop 512); views are random crops mixed with
  white noise (probability 0.5, SNR 10-30 dB: the paper gives no level),
  then frequency and time masking (probability 0.8, one or two masks of
  5-10% of the bands or frames: the paper found 10% masks better than 5%).

Then linear classifiers (Adam, weight decay 1e-6) on each frozen
embedding and on the fusion, the paper's Table 2: `--fusion concat`
concatenates the two embeddings (1024-d, feature-level fusion);
`--fusion weighted` is the decision-level fusion the paper suggests: one
probe per encoder and test probabilities `w p_wave + (1 - w) p_spec`,
`w` in 0, 0.1, ..., 1 chosen on the validation split. `--augment
crop_only` keeps only the random crops (Table 1's ablation).

With `--data DIR` (train/, valid/ and test/ TFRecord folders at 22.05
kHz) or on a GPU the encoders are the paper's (batch 48, 200 epochs).
With no `--data` on a CPU it renders the built-in tune corpus and trains
both networks at reduced width (SampleCNN an eighth, ResNet-18 a quarter)
on 2.7 s crops (59,049 samples) for 6 epochs of batch 32, and probes the
`dance` task: 13 + 3 minutes of pre-training, 30 minutes in all, on two
CPU cores busy with other jobs.

Everything lands in `--output`: per encoder (`waveform/`,
`spectrogram/`) TensorBoard logs, resumable state and `encoder.keras`
(raw audio in, embedding out); a finished encoder is not trained again,
so rerunning with another `--fusion` only probes. `results.json` holds
every probe's test scores on the pre-trained encoders next to those on
the same encoders at random initialisation; the last line of the CPU
demo reads (wrapped here):

    test (24 tracks, dance): waveform accuracy 0.500 macro F1 0.414 |
    spectrogram accuracy 0.264 macro F1 0.238 | concat accuracy 0.500
    macro F1 0.449 (random init: waveform accuracy 0.375 macro F1 0.318
    | spectrogram accuracy 0.417 macro F1 0.427 | concat accuracy 0.569
    macro F1 0.544); augment all; encoders in runs/multiformat_all/

At this scale the pre-trained spectrogram encoder probes worse than its
random initialisation; 24 test tracks make one track 4 points.
"""

# First: keras_music imports TensorFlow quietly (KERAS_MUSIC_VERBOSE=1
# shows its logging).
from keras_music import quiet as _quiet  # noqa: F401

# isort: split
import dataclasses
import os

import flag_checks
import keras
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
from keras_music.data.view_pairs import multiformat_spectrogram_views
from keras_music.data.view_pairs import multiformat_waveform_views
from keras_music.data.view_pairs import view_pairs
from keras_music.distribute import is_chief
from keras_music.evaluation.embedding_fusion import concatenated
from keras_music.evaluation.embedding_fusion import describe
from keras_music.evaluation.embedding_fusion import linear_protocol
from keras_music.evaluation.embedding_fusion import probe_scores
from keras_music.evaluation.embedding_fusion import weighted_fusion_scores
from keras_music.evaluation.probe_encoder import embed_splits
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.resnet import resnet_presets
from keras_music.models.sample_cnn import sample_cnn_presets
from keras_music.pretraining.simclr_setup import resnet
from keras_music.pretraining.simclr_setup import sample_cnn
from keras_music.pretraining.simclr_setup import simclr_model
from keras_music.training.recipe_support import epoch_steps
from keras_music.training.recipe_support import keep_initial_weights
from keras_music.training.recipe_support import pretrain
from keras_music.training.recipe_support import save_weights_atomic
from keras_music.training.recipe_support import worker_done

# === Setup ===

SAMPLE_RATE = 22050
PAPER = {"epochs": 200, "batch_size": 48, "clip_samples": 5 * SAMPLE_RATE}
CPU_DEMO = {"epochs": 6, "batch_size": 32, "clip_samples": 59049}
N_FFT, HOP_LENGTH = 2048, 512
BRANCHES = ("waveform", "spectrogram")
DEMO_WIDTH_DIVISORS = {
    "waveform": sample_cnn_presets.CPU_DEMO_WIDTH_DIVISOR,
    "spectrogram": resnet_presets.CPU_DEMO_WIDTH_DIVISOR,
}

flags.DEFINE_enum(
    "fusion",
    "concat",
    ["concat", "weighted"],
    "Concatenated embeddings, or a weighted mix of the probes' outputs.",
)
flags.DEFINE_string(
    "waveform_preset", "sample_cnn_multiformat", "SampleCNN preset."
)
flags.DEFINE_string("spectrogram_preset", "resnet18", "ResNet preset.")
flags.DEFINE_integer(
    "clip_samples", None, "Samples per view. Default: 5 s (110,250)."
)
flags.DEFINE_integer("n_mels", 128, "Mel bands of the spectrogram branch.")
flag_checks.positive("clip_samples", "n_mels")
simclr_flags.define_flags(
    projection_dim=128,
    augment_help="The paper's augmentations, or random crops only (Table 1).",
    output_help="Run folder. Default: runs/multiformat_<aug>.",
)
# --help lists the shared flags (recipes/simclr_flags.py, run_flags.py).
flags.adopt_module_key_flags(simclr_flags)
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Config(simclr_flags.Settings):
    """What one run does: the paper's settings or the CPU demo's, with
    the flags given on the command line over them (`config`)."""

    fusion: str
    waveform_preset: str
    spectrogram_preset: str
    clip_samples: int
    n_mels: int
    output: str

    @property
    def segment_seconds(self):
        return self.clip_samples / SAMPLE_RATE


def config(demo):
    """The run's `Config`: the CPU demo's (`demo`) or the paper's
    settings, overridden by the flags given."""
    for flag, presets in (
        ("waveform_preset", sample_cnn_presets.backbone_presets),
        ("spectrogram_preset", resnet_presets.backbone_presets),
    ):
        if getattr(FLAGS, flag) not in presets:
            raise ValueError(
                f"`--{flag}` must be one of {sorted(presets)}. "
                f"Received: --{flag}={getattr(FLAGS, flag)!r}"
            )
    shared = simclr_flags.settings(demo, PAPER, CPU_DEMO)
    simclr_flags.check_span(shared["clip_samples"], SAMPLE_RATE)
    names = ("fusion", "waveform_preset", "spectrogram_preset", "n_mels")
    return Config(
        **shared,
        **{name: getattr(FLAGS, name) for name in names},
        output=FLAGS.output
        or os.path.join("runs", f"multiformat_{FLAGS.augment}"),
    )


# === Data ===


def log_mel(cfg):
    return LogMelSpectrogram(
        sample_rate=SAMPLE_RATE,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        n_mels=cfg.n_mels,
    )


def views(cfg, name):
    """Section 3.1 (waveform) or 3.2 (spectrogram): audio -> two views."""
    crop_only = cfg.augment == "crop_only"
    if name == "waveform":
        return multiformat_waveform_views(
            SAMPLE_RATE, cfg.clip_samples, FLAGS.seed, crop_only
        )
    return multiformat_spectrogram_views(
        log_mel(cfg), cfg.clip_samples, FLAGS.seed, crop_only
    )


# === Model ===


def audio_encoder(cfg, backbone):
    """Clip of raw audio -> embedding (the spectrogram branch's frontend
    inside), what the probe and a server feed."""
    audio = keras.Input((cfg.clip_samples,), name="audio")
    return keras.Model(
        audio, backbone(log_mel(cfg)(audio)), name="multiformat_spectrogram"
    )


# === Train ===


def train_encoder(cfg, name, backbone, train_dir, steps, strategy):
    """SimCLR on one encoder, resumable; a finished encoder is loaded."""
    folder = os.path.join(cfg.output, name)
    os.makedirs(folder, exist_ok=True)
    keep_initial_weights(backbone, folder)
    final = os.path.join(folder, "final.weights.h5")
    if os.path.exists(final):
        backbone.load_weights(final)
        return {"loaded": final}
    train = view_pairs(
        train_dir,
        cfg.span_seconds,
        cfg.batch_size,
        views(cfg, name),
        FLAGS.seed,
        FLAGS.data_service_address,
    )
    with strategy.scope():
        simclr = simclr_model(backbone, cfg)
    print(
        f"{name}: {backbone.count_params():,} parameters -> "
        f"{backbone.output_dim}-d"
    )
    done = pretrain(
        simclr,
        train,
        folder,
        cfg.epochs,
        steps,
        strategy,
        verbose=FLAGS.verbose,
    )
    if is_chief(strategy):
        save_weights_atomic(backbone, final)
    return {
        "final_loss": done.history.history.get("loss", [None])[-1],
        "final_accuracy": done.history.history.get("accuracy", [None])[-1],
        "train_seconds": round(done.seconds, 1),
    }


# === Evaluate ===


def evaluate(cfg, encoders, splits, task, protocol):
    """Each encoder alone and the fusion: probe test scores."""
    cache_dir = os.path.join(cfg.output, "embeddings")
    caches = {
        name: embed_splits(encoder, splits, cfg.segment_seconds, cache_dir)
        for name, encoder in encoders.items()
    }
    scores = {
        name: probe_scores(caches[name], task, protocol, FLAGS.seed)
        for name in BRANCHES
    }
    if cfg.fusion == "concat":
        scores["concat"] = probe_scores(
            concatenated(*caches.values()), task, protocol, FLAGS.seed
        )
    else:
        scores["weighted"] = weighted_fusion_scores(
            *caches.values(), task, protocol, FLAGS.seed
        )
    return scores


def main(_):
    strategy = start_run()
    demo = cpu_demo()
    cfg = config(demo)
    # Finished encoders are reused: another fusion or probe only probes.
    ignore = ("fusion", "probe_epochs", "probe_trials")
    prepare_output(cfg.output, strategy, finished=None, ignore=ignore)

    # === Data ===
    splits, source, manifest, task = recipe_data(
        SAMPLE_RATE, corpus_task="dance"
    )
    steps = epoch_steps(
        manifest["num_examples"], cfg.batch_size, cfg.steps_per_epoch
    )
    if demo:
        print(
            f"No GPU and no --data: pre-training both encoders at reduced "
            f"width on {cfg.clip_samples}-sample crops ({cfg.epochs} "
            f"epochs, batch {cfg.batch_size}) on the built-in corpus; "
            f"pass --data (or run on a GPU) for the paper's sizes."
        )
    print(
        f"task {task!r} from {source}; augment {cfg.augment}; fusion "
        f"{cfg.fusion}; strategy {FLAGS.strategy} "
        f"({strategy.num_replicas_in_sync} replicas)"
    )

    # === Model ===
    with strategy.scope():
        backbones = {
            "waveform": sample_cnn(cfg.waveform_preset, cfg.clip_samples, demo),
            "spectrogram": resnet(cfg.spectrogram_preset, cfg.n_mels, demo),
        }

    # === Train, each encoder on its own ===
    training = {
        name: train_encoder(
            cfg, name, backbone, splits["train"], steps, strategy
        )
        for name, backbone in backbones.items()
    }
    worker_done(backbones["waveform"], cfg.output, strategy, "waveform")
    if worker_done(
        backbones["spectrogram"], cfg.output, strategy, "spectrogram"
    ):
        return  # the chief evaluates and writes the run's files
    encoders = {
        "waveform": backbones["waveform"],
        "spectrogram": audio_encoder(cfg, backbones["spectrogram"]),
    }
    for name, encoder in encoders.items():
        encoder.save(os.path.join(cfg.output, name, "encoder.keras"))

    # === Evaluate ===
    protocol = linear_protocol(cfg.probe_epochs, cfg.probe_trials)
    pretrained = evaluate(cfg, encoders, splits, task, protocol)
    for name, backbone in backbones.items():
        initial = os.path.join(cfg.output, name, "initial.weights.h5")
        backbone.load_weights(initial)
    random_init = evaluate(cfg, encoders, splits, task, protocol)

    # === Export ===
    results = {
        "waveform_preset": cfg.waveform_preset,
        "spectrogram_preset": cfg.spectrogram_preset,
        "width_divisors": DEMO_WIDTH_DIVISORS if demo else None,
        "augment": cfg.augment,
        "fusion": cfg.fusion,
        "task": task,
        "sample_rate": SAMPLE_RATE,
        "segment_seconds": cfg.segment_seconds,
        "n_mels": cfg.n_mels,
        "setup": {
            "epochs": cfg.epochs,
            "batch_size": cfg.batch_size,
            "clip_samples": cfg.clip_samples,
            "steps_per_epoch": steps,
        },
        "training": training,
        "probe": protocol.name,
        "probe_trials": protocol.trials,
        "test": pretrained,
        "test_random_init": random_init,
    }
    write_json_atomic(os.path.join(cfg.output, "results.json"), results)
    names = list(pretrained)
    tracks = pretrained["waveform"]["tracks"]
    print(
        f"test ({tracks} tracks, {task}): "
        + " | ".join(f"{n} {describe(pretrained[n])}" for n in names)
        + " (random init: "
        + " | ".join(f"{n} {describe(random_init[n])}" for n in names)
        + f"); augment {cfg.augment}; encoders in {cfg.output}/"
    )


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main)
