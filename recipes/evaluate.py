"""Evaluate an encoder on downstream tasks and print a results table.

    python recipes/evaluate.py --encoder maest_tiny --protocol s3t \\
        --fractions 0.01,0.1,1.0 --scenario frozen

With no `--data`, the tasks are those of the built-in corpus (rendered
once, see recipes/tune_corpus.py): `dance`, `instrument` and `style`. The
encoder's track embeddings (half-overlapped segments, averaged) are
cached under `--output/embeddings` so that a second run only trains the
probes. The table is printed and written to `--output/results.md` and
`results.csv`, for example (maest_tiny, random init, 2-core CPU):

    | method | dance top1 | dance top5 | dance f1 | instrument roc_auc | ...
    |---|---|---|---|---|...
    | maest_tiny frozen 1% | 25.0 | 100.0 | 24.8 | 51.3 | ...
    | maest_tiny frozen 100% | 12.5 | 100.0 | 10.1 | 65.3 | ...

(about 3 minutes on a shared 2-core CPU with the corpus already rendered:
extracting 600 x 30 s tracks, then 9 probes of 50 epochs; a random-init
encoder, so near chance except for instruments).

`--encoder` is a MAEST preset (`maest_tiny`, ..., randomly initialised;
its own log-mel frontend and segment length) or a `.keras` file: a
`MAESTBackbone` or `MAESTTagger` (read at `--block`/`--token`, with the
MAEST frontend and the inference patchout of `--inference_time_stride` and
`--inference_freq_drop`) or
any model mapping a batch of segments as the dataset yields them to
`(batch, dim)` (then pass `--segment_seconds`). `--scenario finetune` or
`supervised` trains the encoder with the head (no cache).
"""

# First: keras_music imports TensorFlow quietly (KERAS_MUSIC_VERBOSE=1
# shows its logging).
from keras_music import quiet as _quiet  # noqa: F401

# isort: split
import os
import time

import flag_checks
import keras
from absl import app
from absl import flags

import keras_music  # noqa: F401  (sets the Keras backend)
from keras_music.data.tfrecord_format import read_manifest
from keras_music.evaluation.embedding_cache import extract_embeddings
from keras_music.evaluation.embedding_cache import negative_task
from keras_music.evaluation.embedding_cache import partially_labelled_tasks
from keras_music.evaluation.finetune import evaluate_finetune
from keras_music.evaluation.probe import evaluate_frozen
from keras_music.evaluation.probe_protocol import get_probe_protocol
from keras_music.evaluation.results_table import ResultsTable
from keras_music.evaluation.segment_encoder import maest_preset_encoder
from keras_music.evaluation.segment_encoder import maest_segment_encoder
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.maest.maest_presets import backbone_presets
from keras_music.training.recipe_support import resolve_splits

flags.DEFINE_string("encoder", "maest_tiny", "MAEST preset or .keras file.")
flags.DEFINE_string("data", None, "TFRecords root with train/valid/test.")
flags.DEFINE_list("tasks", None, "Tasks to evaluate (default: all).")
flags.DEFINE_enum("protocol", "s3t", ["s3t", "maest", "pase"], "Protocol.")
flags.DEFINE_list("fractions", ["0.01", "0.1", "1.0"], "Label fractions.")
flags.DEFINE_enum(
    "scenario", "frozen", ["frozen", "finetune", "supervised"], "Scenario."
)
flags.DEFINE_string("output", "evaluation", "Folder for caches and tables.")
flags.DEFINE_integer("block", None, "MAEST block, 1-based (default: last).")
flags.DEFINE_string("token", "stack", "MAEST token read-out.")
flags.DEFINE_float("segment_seconds", None, "Segment length (.keras).")
flags.DEFINE_integer(
    "inference_time_stride", 1, "MAEST: keep 1 of k time columns."
)
flags.DEFINE_list(
    "inference_freq_drop", [], "MAEST: frequency rows to drop, e.g. 0,7,8."
)
flags.DEFINE_integer("epochs", None, "Override the protocol's epochs.")
flags.DEFINE_integer("trials", None, "Override the protocol's trials.")
flags.DEFINE_integer("max_grid_points", None, "Grid points to try.")
flags.DEFINE_integer("num_clips", 600, "Built-in corpus: clips.")
flags.DEFINE_float("clip_seconds", 30.0, "Built-in corpus: clip length.")
flags.DEFINE_string("corpus_cache_dir", None, "Built-in corpus cache root.")
flags.DEFINE_integer("seed", 0, "Seed of subsets and trials.")
flag_checks.keras_file("encoder", allowed=backbone_presets)
flag_checks.fraction_list("fractions")
flag_checks.positive(
    "block",
    "segment_seconds",
    "inference_time_stride",
    "epochs",
    "trials",
    "max_grid_points",
    "num_clips",
    "clip_seconds",
)
FLAGS = flags.FLAGS


def load_encoder(name):
    """`(encoder, segment_seconds, description)` from a preset or file."""
    if name in backbone_presets:
        encoder, seconds = maest_preset_encoder(
            name, block=FLAGS.block, token=FLAGS.token
        )
        return encoder, seconds, f"{name} (random init)"
    model = keras.saving.load_model(name)
    seconds = FLAGS.segment_seconds
    # A MAEST backbone, or a model holding one (the tagger of
    # recipes/maest.py): read its tokens at --block / --token.
    backbone = getattr(model, "backbone", model)
    # A tagger carries its preprocessor: the frontend and segment it was
    # trained with. A bare backbone takes MAEST's.
    preprocessor = getattr(model, "preprocessor", None)
    if hasattr(backbone, "block_output"):
        backbone.set_inference_patchout(
            FLAGS.inference_time_stride,
            [int(row) for row in FLAGS.inference_freq_drop],
        )
        if preprocessor is not None and preprocessor.frontend is not None:
            if preprocessor.sample_rate != 16000:
                raise app.UsageError(
                    f"{name} takes {preprocessor.sample_rate} Hz audio; "
                    "this evaluation reads 16000 Hz data."
                )
            frontend = preprocessor.frontend
            seconds = seconds or preprocessor.segment_seconds
        else:
            frontend = LogMelSpectrogram(normalize=True)
            seconds = seconds or (backbone.num_frames - 1) * 256 / 16000
        model = maest_segment_encoder(
            backbone, FLAGS.block, FLAGS.token, frontend
        )
    if seconds is None:
        raise app.UsageError("--segment_seconds is needed for this encoder.")
    return model, seconds, os.path.basename(name)


def main(_):
    started = time.time()
    # === Data: a TFRecords root, or the built-in corpus ===
    splits, _ = resolve_splits(
        FLAGS.data,
        corpus_clips=FLAGS.num_clips,
        corpus_seconds=FLAGS.clip_seconds,
        cache_dir=FLAGS.corpus_cache_dir,
    )
    specs = read_manifest(splits["train"])["tasks"]
    # A partially labelled task's negatives are its mask, not a task.
    companions = {negative_task(t) for t in partially_labelled_tasks(specs)}
    tasks = FLAGS.tasks or sorted(set(specs) - companions)
    fractions = [float(f) for f in FLAGS.fractions]

    # === Encoder and protocol ===
    # Seeded, so that a preset's random weights (and the cache key that
    # hashes them) are the same on every run.
    keras.utils.set_random_seed(FLAGS.seed)
    encoder, seconds, description = load_encoder(FLAGS.encoder)
    protocol = get_probe_protocol(FLAGS.protocol)
    overrides = {"trials": FLAGS.trials} if FLAGS.trials else {}
    if FLAGS.epochs:
        # A shorter run keeps the protocol's share of warm-up epochs.
        share = protocol.warmup_epochs / protocol.epochs
        overrides["epochs"] = FLAGS.epochs
        overrides["warmup_epochs"] = int(share * FLAGS.epochs)
    protocol = get_probe_protocol(FLAGS.protocol, **overrides)
    print(
        f"Encoder {description}: {encoder.count_params():,} parameters, "
        f"{seconds:.2f} s segments; protocol {protocol.name} "
        f"({protocol.head} head, {protocol.epochs} epochs, "
        f"{protocol.trials} trial(s)); scenario {FLAGS.scenario}"
    )

    # === Embeddings (frozen: extracted once, cached) ===
    if FLAGS.scenario == "frozen":
        caches = {}
        for split, directory in splits.items():
            caches[split] = extract_embeddings(
                encoder,
                directory,
                seconds,
                cache_dir=os.path.join(FLAGS.output, "embeddings"),
                description=description,
            )
            cache = caches[split]
            print(
                f"{split}: {cache['embeddings'].shape} embeddings "
                f"({'reused' if cache['reused'] else 'extracted'}) in "
                f"{cache['path']}"
            )

    # === Probes and table ===
    table = ResultsTable()
    for task in tasks:
        if FLAGS.scenario == "frozen":
            results = evaluate_frozen(
                caches["train"],
                caches["valid"],
                caches["test"],
                task,
                protocol,
                fractions,
                seed=FLAGS.seed,
                max_grid_points=FLAGS.max_grid_points,
            )
        else:
            results = evaluate_finetune(
                encoder,
                splits,
                task,
                protocol,
                seconds,
                scenario=FLAGS.scenario,
                fractions=fractions,
                seed=FLAGS.seed,
            )
        for fraction, values in results.items():
            name = os.path.basename(FLAGS.encoder)
            method = f"{name} {FLAGS.scenario} {fraction:.0%}"
            table.add(method, task, values)
    print(table.to_markdown())
    markdown, csv = table.save(FLAGS.output)
    print(f"Wrote {markdown} and {csv} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    app.run(main)
