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
import os
import time

import flag_checks
import keras
import run_flags
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging
from contrastive_common import CPU_DEMO_WIDTH_DIVISOR
from contrastive_common import SAMPLE_RATE
from contrastive_common import concatenated
from contrastive_common import describe
from contrastive_common import linear_protocol
from contrastive_common import probe_scores
from contrastive_common import sample_cnn
from contrastive_common import simclr_model
from contrastive_common import view_pairs
from contrastive_common import weighted_fusion_scores
from run_flags import prepare_output
from run_flags import recipe_data
from run_flags import start_run

import keras_music  # noqa: F401  (sets the Keras backend)
from keras_music.data.tfrecord_format import write_json_atomic
from keras_music.distribute import fit
from keras_music.distribute import is_chief
from keras_music.evaluation.probe_encoder import embed_splits
from keras_music.layers.clmr_augment import CLMRAugment
from keras_music.layers.frequency_masking import FrequencyMasking
from keras_music.layers.gaussian_noise import GaussianNoise
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.layers.random_crop import RandomCrop
from keras_music.layers.time_masking import TimeMasking
from keras_music.models.resnet.resnet_backbone import ResNetBackbone
from keras_music.models.resnet.resnet_presets import (
    backbone_presets as resnet_presets,
)
from keras_music.models.sample_cnn.sample_cnn_presets import (
    backbone_presets as sample_cnn_presets,
)
from keras_music.training.recipe_support import keep_initial_weights
from keras_music.training.recipe_support import resume_stream
from keras_music.training.recipe_support import run_callbacks
from keras_music.training.recipe_support import save_weights_atomic
from keras_music.training.recipe_support import worker_done

PAPER = {"epochs": 200, "batch_size": 48, "clip_samples": 5 * SAMPLE_RATE}
CPU_DEMO = {"epochs": 6, "batch_size": 32, "clip_samples": 59049}
# ResNet-18 at a quarter of its width for the CPU demo.
RESNET_DEMO_WIDTH_DIVISOR = 4
N_FFT, HOP_LENGTH = 2048, 512
BRANCHES = ("waveform", "spectrogram")

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
flags.DEFINE_enum(
    "augment",
    "all",
    ["all", "crop_only"],
    "The paper's augmentations, or random crops only (Table 1).",
)
flags.DEFINE_integer(
    "clip_samples", None, "Samples per view. Default: 5 s (110,250)."
)
flags.DEFINE_integer("n_mels", 128, "Mel bands of the spectrogram branch.")
flags.DEFINE_float(
    "span_seconds", 30.0, "Window of each track the two crops come from."
)
flags.DEFINE_integer("epochs", None, "Pre-training epochs per encoder.")
flags.DEFINE_integer(
    "steps_per_epoch", None, "Batches per epoch. Default: one pass."
)
flags.DEFINE_integer("batch_size", None, "Global batch (48).")
flags.DEFINE_float("learning_rate", 3e-4, "Adam learning rate.")
flags.DEFINE_float("weight_decay", 1e-6, "Adam(W) weight decay.")
flags.DEFINE_float("temperature", 0.5, "NT-Xent temperature.")
flags.DEFINE_integer("projection_dim", 128, "Projector output width.")
flags.DEFINE_integer("probe_epochs", None, "Linear probe epoch cap (200).")
flags.DEFINE_integer("probe_trials", 3, "Linear probe seeds (mean).")
flags.DEFINE_string(
    "output", None, "Run folder. Default: runs/multiformat_<aug>."
)
flag_checks.positive(
    "clip_samples",
    "n_mels",
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


def check_presets():
    for flag, presets in (
        ("waveform_preset", sample_cnn_presets),
        ("spectrogram_preset", resnet_presets),
    ):
        if getattr(FLAGS, flag) not in presets:
            raise ValueError(
                f"`--{flag}` must be one of {sorted(presets)}. "
                f"Received: --{flag}={getattr(FLAGS, flag)!r}"
            )


def run_dir():
    return FLAGS.output or os.path.join("runs", f"multiformat_{FLAGS.augment}")


def log_mel():
    return LogMelSpectrogram(
        sample_rate=SAMPLE_RATE,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        n_mels=FLAGS.n_mels,
    )


def waveform_views(clip_samples):
    """Section 3.1: crop, white noise, gain, filter, pitch shift."""
    stages = {"polarity_p": 0.0, "delay_p": 0.0, "reverb_p": 0.0}
    if FLAGS.augment == "crop_only":
        stages |= {"noise_p": 0.0, "gain_p": 0.0, "filter_p": 0.0}
        stages |= {"pitch_p": 0.0}
    augment = CLMRAugment(
        sample_rate=SAMPLE_RATE,
        crop_length=clip_samples,
        gain_range=(-6.0, 0.0),
        semitone_range=(-5.0, 5.0),
        seed=FLAGS.seed,
        **stages,
    )
    return lambda audio: augment(audio, training=True)


def spectrogram_views(clip_samples):
    """Section 3.2: crops mixed with noise, log-mel, frequency and time
    masks."""
    seed, n_mels = FLAGS.seed, FLAGS.n_mels
    crop = RandomCrop(clip_samples, seed=seed)
    noise = GaussianNoise(snr_range=(10.0, 30.0), p=0.5, seed=seed + 1)
    frontend = log_mel()
    bands = (max(1, n_mels // 20), max(1, n_mels // 10))
    masks = [
        FrequencyMasking(0.8, (1, 2), bands, seed=seed + 2),
        TimeMasking(0.8, (1, 2), (0.05, 0.1), 0.2, seed=seed + 3),
    ]

    def view(audio):
        x = crop(audio, training=True)
        if FLAGS.augment == "crop_only":
            return frontend(x)
        x = frontend(noise(x, training=True))
        for mask in masks:
            x = mask(x, training=True)
        return x

    return lambda audio: (view(audio), view(audio))


def resnet(demo):
    overrides = {"input_size": (FLAGS.n_mels, None)}
    if demo:
        preset = resnet_presets[FLAGS.spectrogram_preset]
        overrides["stem_filters"] = max(
            4, preset["stem_filters"] // RESNET_DEMO_WIDTH_DIVISOR
        )
        overrides["stage_filters"] = tuple(
            max(4, f // RESNET_DEMO_WIDTH_DIVISOR)
            for f in preset["stage_filters"]
        )
    return ResNetBackbone.from_preset(FLAGS.spectrogram_preset, **overrides)


def audio_encoder(backbone, clip_samples):
    """Clip of raw audio -> embedding (the spectrogram branch's frontend
    inside), what the probe and a server feed."""
    audio = keras.Input((clip_samples,), name="audio")
    return keras.Model(
        audio, backbone(log_mel()(audio)), name="multiformat_spectrogram"
    )


def pretrain(name, backbone, make_views, splits, setup, strategy):
    """SimCLR on one encoder, resumable; a finished encoder is loaded."""
    folder = os.path.join(run_dir(), name)
    os.makedirs(folder, exist_ok=True)
    keep_initial_weights(backbone, folder)
    final = os.path.join(folder, "final.weights.h5")
    if os.path.exists(final):
        backbone.load_weights(final)
        return {"loaded": final}
    train = view_pairs(
        splits["train"],
        FLAGS.span_seconds,
        setup["batch_size"],
        make_views,
        FLAGS.seed,
    )
    # A resumed run goes on where the interrupted one's stream was.
    train, _ = resume_stream(train, folder, setup["steps_per_epoch"])
    with strategy.scope():
        simclr = simclr_model(backbone, FLAGS)
    print(
        f"{name}: {backbone.count_params():,} parameters -> "
        f"{backbone.output_dim}-d"
    )
    started = time.time()
    history = fit(
        simclr,
        train,
        epochs=setup["epochs"],
        steps_per_epoch=setup["steps_per_epoch"],
        callbacks=run_callbacks(folder, "loss", "min", strategy),
        shuffle=False,  # the input pipeline shuffles
        verbose=FLAGS.verbose,
    )
    if is_chief(strategy):
        save_weights_atomic(backbone, final)
    return {
        "final_loss": history.history.get("loss", [None])[-1],
        "final_accuracy": history.history.get("accuracy", [None])[-1],
        "train_seconds": round(time.time() - started, 1),
    }


def evaluate(encoders, splits, task, seconds, protocol):
    """Each encoder alone and the fusion: probe test scores."""
    cache_dir = os.path.join(run_dir(), "embeddings")
    caches = {
        name: embed_splits(encoder, splits, seconds, cache_dir)
        for name, encoder in encoders.items()
    }
    scores = {
        name: probe_scores(caches[name], task, protocol, FLAGS.seed)
        for name in BRANCHES
    }
    if FLAGS.fusion == "concat":
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
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    demo = FLAGS.data is None and not has_gpu
    check_presets()
    # Finished encoders are reused: another fusion or probe only probes.
    prepare_output(
        run_dir(),
        strategy,
        finished=None,
        ignore=("fusion", "probe_epochs", "probe_trials"),
    )
    setup = dict(CPU_DEMO if demo else PAPER)
    for key in ("epochs", "batch_size", "clip_samples"):
        setup[key] = getattr(FLAGS, key) or setup[key]
    clip_samples = setup["clip_samples"]
    if round(FLAGS.span_seconds * SAMPLE_RATE) < clip_samples:
        raise ValueError(
            f"`--span_seconds` must hold a crop of {clip_samples} samples. "
            f"Received: --span_seconds={FLAGS.span_seconds}"
        )

    # === Data ===
    splits, source, manifest, task = recipe_data(
        SAMPLE_RATE, corpus_task="dance"
    )
    setup["steps_per_epoch"] = FLAGS.steps_per_epoch or max(
        1, manifest["num_examples"] // setup["batch_size"]
    )
    if demo:
        print(
            f"No GPU and no --data: pre-training both encoders at reduced "
            f"width on {clip_samples}-sample crops ({setup['epochs']} "
            f"epochs, batch {setup['batch_size']}) on the built-in corpus; "
            f"pass --data (or run on a GPU) for the paper's sizes."
        )
    print(
        f"task {task!r} from {source}; augment {FLAGS.augment}; fusion "
        f"{FLAGS.fusion}; strategy {FLAGS.strategy} "
        f"({strategy.num_replicas_in_sync} replicas)"
    )

    # === Models ===
    with strategy.scope():
        waveform = sample_cnn(FLAGS.waveform_preset, clip_samples, demo)
        spectrogram = resnet(demo)

    # === Pre-train, each encoder on its own ===
    training = {
        "waveform": pretrain(
            "waveform",
            waveform,
            waveform_views(clip_samples),
            splits,
            setup,
            strategy,
        ),
        "spectrogram": pretrain(
            "spectrogram",
            spectrogram,
            spectrogram_views(clip_samples),
            splits,
            setup,
            strategy,
        ),
    }
    worker_done(waveform, run_dir(), strategy, "waveform")
    if worker_done(spectrogram, run_dir(), strategy, "spectrogram"):
        return  # the chief evaluates and writes the run's files
    encoders = {
        "waveform": waveform,
        "spectrogram": audio_encoder(spectrogram, clip_samples),
    }
    for name, encoder in encoders.items():
        encoder.save(os.path.join(run_dir(), name, "encoder.keras"))

    # === Frozen linear evaluation ===
    seconds = clip_samples / SAMPLE_RATE
    protocol = linear_protocol(FLAGS.probe_epochs, FLAGS.probe_trials)
    pretrained = evaluate(encoders, splits, task, seconds, protocol)
    for name, backbone in (
        ("waveform", waveform),
        ("spectrogram", spectrogram),
    ):
        backbone.load_weights(
            os.path.join(run_dir(), name, "initial.weights.h5")
        )
    random_init = evaluate(encoders, splits, task, seconds, protocol)
    results = {
        "waveform_preset": FLAGS.waveform_preset,
        "spectrogram_preset": FLAGS.spectrogram_preset,
        "width_divisors": (
            {"waveform": CPU_DEMO_WIDTH_DIVISOR}
            | {"spectrogram": RESNET_DEMO_WIDTH_DIVISOR}
            if demo
            else None
        ),
        "augment": FLAGS.augment,
        "fusion": FLAGS.fusion,
        "task": task,
        "sample_rate": SAMPLE_RATE,
        "segment_seconds": seconds,
        "n_mels": FLAGS.n_mels,
        "setup": setup,
        "training": training,
        "probe": protocol.name,
        "probe_trials": protocol.trials,
        "test": pretrained,
        "test_random_init": random_init,
    }
    write_json_atomic(os.path.join(run_dir(), "results.json"), results)
    names = list(pretrained)
    tracks = pretrained["waveform"]["tracks"]
    print(
        f"test ({tracks} tracks, {task}): "
        + " | ".join(f"{n} {describe(pretrained[n])}" for n in names)
        + " (random init: "
        + " | ".join(f"{n} {describe(random_init[n])}" for n in names)
        + f"); augment {FLAGS.augment}; encoders in {run_dir()}/"
    )


if __name__ == "__main__":
    logging.set_verbosity(logging.WARNING)
    app.run(main)
