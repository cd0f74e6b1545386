"""A CPU-scale reproduction study: does each method learn? One command.

    python benchmarks/study.py --quick     # the whole pipeline, < 15 min
    python benchmarks/study.py             # the study (see results/STUDY.md)
    python benchmarks/study.py --methods s3t --seeds 0,1,2   # one method

For each method the study pre-trains the encoder for a stated budget with
the library's objective, built as its recipe builds it, keeps checkpoints
along the way, and probes the frozen embeddings of each checkpoint and of
the same encoder at its random initialisation on five tasks of a larger
evaluation corpus, against a log-mel-statistics baseline and the majority
class. This version has five methods:

- `s3t`: a Swin Transformer on CQT spectrograms, pre-trained with MoCo v2
  (`keras_music.pretraining.MoCo`), built by `recipes/s3t.py`'s own
  builders (`frontend`, `preprocessor`, `pretraining_views`, `moco_model`,
  `audio_encoder`), with Time Folding (init `pretrained`) and with
  Frequency Tiling (`freq_tiling`), each against its random init
  (`random`, `freq_tiling_random`);
- `clmr`: SampleCNN + SimCLR on raw 22.05 kHz audio
  (`keras_music.pretraining.SimCLR`, built as `recipes/clmr.py` builds
  it), with CLMR's whole augmentation chain and with crops only;
- `pase_plus`: PASE+ with its multi-task workers, built by
  `recipes/pase.py`'s own builders, all workers equal and re-weighted;
- `multiformat`: a waveform (SampleCNN) and a log-mel (ResNet-18)
  encoder, each pre-trained with SimCLR by `recipes/multiformat.py`'s
  own builders, probed alone (`waveform`, `spectrogram`) and fused
  (`concat`: the embeddings side by side; `weighted`: the two probes'
  probabilities mixed with a weight chosen on valid), each against the
  same encoders at random init (`<init>_random`);
- `maest`: not self-supervised: `recipes/maest.py`'s tagger trained on
  the corpus's `instrument` tags (init `supervised`, against the same
  model before training, `untrained`), scored as a tagger (test ROC-AUC
  and PR-AUC, and under inference patchout with its throughput, the
  paper's Fig. 3) and probed at a middle block like the others.

`--methods` runs some of them: the rows and report sections of the others
already in `--results` are kept as they are. Every figure is a mean with
a 95% confidence interval from a bootstrap over the test tunes (clusters:
all clips of a tune are drawn together) and, with several `--seeds`, over
the pre-training seeds too.

The evaluation corpus is the built-in one (`build_tune_corpus`) with many
short clips: 3,000 clips of 6 s at 22.05 kHz, 70/10/20% of the tunes for
train/valid/test (about 600 test clips). Besides its `dance` and `style`
labels the study derives three tasks from the sources and the rendering
(`derive_tasks`): `metre` (simple duple, simple triple or compound, from
the ABC `M:` field), `key` (the pitch class of the key signature's major
tonic after the clip's transposition, 12 classes) and `note_rate`
(terciles of the running notes per second the clip is played at).

Two probes: a well-trained closed-form-style logistic regression
(scikit-learn, L-BFGS to convergence on standardised embeddings, its `C`
chosen on the valid split) and the library's probe protocol of the method
(`keras_music.evaluation.train_probe`: the multi-format paper's linear
protocol for CLMR as `recipes/clmr.py` runs it, the `s3t` protocol for
S3T as `recipes/s3t.py` runs it), on the final checkpoint.

Writes `--results` (default `results/`): `study.csv` (one row per
figure: `method,task,init,metric,mean,ci_low,ci_high,n_test_tracks,
seeds`), `STUDY.md` (the tables, and per method the command, the commit,
the machine and the time) and one PNG per method; and `--output` (default
`runs/study/`, not committed): the encoders as `.keras` files, the
embedding caches and the pre-training curves.
"""

import contextlib
import csv
import importlib.util
import inspect
import json
import os
import platform
import subprocess
import sys
import time
import types

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Runs from a checkout without installing the package; the recipes'
# model builders are imported from recipes/.
sys.path.insert(0, _ROOT)
sys.path.insert(0, os.path.join(_ROOT, "recipes"))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

CSV_COLUMNS = (
    "method",
    "task",
    "init",
    "metric",
    "mean",
    "ci_low",
    "ci_high",
    "n_test_tracks",
    "seeds",
)
METHODS = ("s3t", "clmr", "multiformat", "pase_plus", "maest")
IMPLEMENTED = ("s3t", "clmr", "multiformat", "pase_plus", "maest")
TASKS = ("dance", "metre", "key", "note_rate", "style")
METRE_CLASSES = ("duple", "triple", "compound")
NOTE_RATE_CLASSES = ("slow", "medium", "fast")
KEY_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SAMPLE_RATE = 22050

# Pre-training budget per run (one variant, one seed): epochs x
# steps_per_epoch batches of batch_size pairs of 2.7 s views.
FULL = {
    "corpus_clips": 3000,
    "clip_seconds": 6.0,
    "epochs": 12,
    "checkpoints": (0, 3, 6, 12),
    "steps_per_epoch": 40,
    "batch_size": 32,
    "probe_epochs": 100,
}
QUICK = {
    "corpus_clips": 600,
    "clip_seconds": 6.0,
    "epochs": 2,
    "checkpoints": (0, 1, 2),
    "steps_per_epoch": 4,
    "batch_size": 16,
    "probe_epochs": 5,
}
# S3T's pre-training budget per run (one pre-processor, one seed): the
# recipe's CPU preset `swin_mini` (168 x 168) on the CQT of the corpus's
# 6 s clips, uncompressed (259 frames; the views are crops brought to the
# 336 frames that Time Folding folds twice, or the 168 that Frequency
# Tiling tiles twice). A queue of 8 batches, 256 keys: with 2,102
# training clips a queue of 2,048 would hold the positive's own clip
# (a false negative) in most steps; chance 1/257 for MoCo's top-1
# accuracy once the queue is full.
S3T_FULL = {
    "epochs": 10,
    "checkpoints": (0, 5, 10),
    "steps_per_epoch": 30,
    "batch_size": 32,
    "queue_size": 256,
    "probe_epochs": 50,
}
S3T_QUICK = {
    "epochs": 2,
    "checkpoints": (0, 1, 2),
    "steps_per_epoch": 3,
    "batch_size": 16,
    "queue_size": 64,
    "probe_epochs": 3,
}
S3T_VARIANTS = {
    # variant -> (the recipe's --preprocessor, the views' augmentation
    # (`pretraining_views`), (pre-trained, random) inits; None: the
    # random init is another variant's, the same weights)
    "time_folding": ("time_folding", "paper", ("pretrained", "random")),
    "crop_only": ("time_folding", "crop_only", ("crop_only", None)),
    "frequency_tiling": (
        "frequency_tiling",
        "paper",
        ("freq_tiling", "freq_tiling_random"),
    ),
}
# PASE+'s pre-training budget per run (one weighting, one seed):
# `recipes/pase.py`'s CPU demo widths (64-d), 1 s chunks of the corpus
# resampled to 16 kHz, one random chunk a pre-training clip per epoch.
# The workers' targets cost 1-4 s of CPU per 6 s clip (pYIN above all),
# so PASE+ pre-trains on 128 of the 2,102 training clips (and validates
# on 32 of the valid ones), spread over the splits; an epoch is 8
# batches of 32 random chunks (each clip twice, 6 chunks of 1 s a
# clip). The equal-weight run is init `pretrained`; its validation
# losses over its first 10 epochs give the weights of the re-weighted
# run (init `reweighted`), a fresh encoder of the same seed.
PASE_FULL = {
    "epochs": 20,
    "checkpoints": (0, 10, 20),
    "steps_per_epoch": 8,
    "batch_size": 32,
    "probe_epochs": 20,
    "pretraining_clips": (128, 32),
}
PASE_QUICK = {
    "epochs": 2,
    "checkpoints": (0, 1, 2),
    "steps_per_epoch": 3,
    "batch_size": 8,
    "probe_epochs": 3,
    "pretraining_clips": (32, 16),
}
PASE_SAMPLE_RATE = 16000
# The study's flags that `recipes/s3t.py` defines too, with another
# meaning or default: the study's own win (see `define_flags`).
STUDY_FLAGS = (
    "quick",
    "methods",
    "seeds",
    "epochs",
    "steps_per_epoch",
    "batch_size",
    "learning_rate",
    "temperature",
    "moco_learning_rate",
    "moco_temperature",
    "s3t_variants",
    "tiling_seeds",
    "bootstrap",
    "output",
    "results",
    "cache_dir",
    "num_workers",
)
# Flags `recipes/s3t.py` and `recipes/pase.py` both define: the second
# import defines them again.
SHARED_RECIPE_FLAGS = ("preset", "probe_epochs")
# Flags `recipes/multiformat.py` defines too that S3T or PASE+ read: the
# earlier recipes' flags are kept.
MULTIFORMAT_SHARED_FLAGS = ("weight_decay", "probe_epochs")


def recipe_module(name):
    """`recipes/<name>.py` as a module (loaded from its file: the
    benchmarks `benchmarks/s3t.py`, ... have the same module names).
    Importing it defines its flags, once per process."""
    module_name = f"{name}_recipe"
    if module_name not in sys.modules:
        path = os.path.join(_ROOT, "recipes", f"{name}.py")
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def s3t_recipe():
    """`recipes/s3t.py` as a module."""
    return recipe_module("s3t")


def pase_recipe():
    """`recipes/pase.py` as a module."""
    return recipe_module("pase")


@contextlib.contextmanager
def recipe_flags(*settings):
    """Sets flags `(name, value)` in order for the recipe's builders
    (which read `--preprocessor`, `--seed`, `--temperature`, ...), and
    puts them back in reverse order on exit (so that multi-flag checks
    such as "--fold only with time_folding" hold at every step)."""
    previous = [(name, getattr(FLAGS, name)) for name, _ in settings]
    try:
        for name, value in settings:
            setattr(FLAGS, name, value)
        yield
    finally:
        for name, value in reversed(previous):
            setattr(FLAGS, name, value)


def define_flags():
    """Defines the command's flags (at run time only, so that importing
    this module beside other scripts cannot clash on a flag name).

    S3T is built by `recipes/s3t.py`'s own builders, which read that
    recipe's flags: importing it defines them (`--preprocessor`,
    `--queue_size`, `--momentum`, `--weight_decay`, `--seed`, ...). Those
    the study defines too (`STUDY_FLAGS`) are removed first, so that
    `--epochs`, `--temperature`, ... mean what they say below; the others
    stay, and `--queue_size`, `--momentum` and `--weight_decay` set S3T's
    MoCo. `recipes/pase.py` is imported next, the same way (the flags
    both recipes define, `SHARED_RECIPE_FLAGS`, are then `recipes/pase.py`'s,
    which S3T's builders read as plain values the study sets):
    `--workers` and `--chunk_seconds` set PASE+'s workers and
    pre-training chunks. `recipes/multiformat.py` comes next; of the
    flags it defines again, S3T's `--weight_decay` and PASE's
    `--probe_epochs` are kept (the study sets the multi-format run's
    flags for its `config` call). The recipes' other flags play no part
    in the study."""
    s3t_recipe()
    for name in STUDY_FLAGS + SHARED_RECIPE_FLAGS:
        if name in FLAGS:
            delattr(FLAGS, name)
    pase_recipe()
    for name in STUDY_FLAGS:
        if name in FLAGS:
            delattr(FLAGS, name)
    kept = {name: FLAGS[name] for name in MULTIFORMAT_SHARED_FLAGS}
    for name in kept:
        delattr(FLAGS, name)
    multiformat_recipe()
    for name in STUDY_FLAGS + MULTIFORMAT_SHARED_FLAGS:
        if name in FLAGS:
            delattr(FLAGS, name)
    for name, flag in kept.items():
        FLAGS[name] = flag
    # `recipes/maest.py` last: the flags it shares with the recipes above
    # (`MAEST_CLASHES`) are set aside while it defines its own, then put
    # back (they stay S3T's and PASE+'s); its `--mixup_alpha`,
    # `--spec_augment`, `--balanced`, `--swa` and `--patchout_freq` set
    # MAEST's training.
    aside = {name: FLAGS[name] for name in MAEST_CLASHES if name in FLAGS}
    for name in aside:
        delattr(FLAGS, name)
    maest_recipe()
    for name in (*aside, *STUDY_FLAGS):
        if name in FLAGS:
            delattr(FLAGS, name)
    for name, flag in aside.items():
        FLAGS[name] = flag
    flags.DEFINE_bool("quick", False, "The whole pipeline at a tiny budget.")
    flags.DEFINE_list(
        "methods",
        list(IMPLEMENTED),
        f"Methods, among {IMPLEMENTED}. The rows of the others already in "
        "--results are kept.",
    )
    flags.DEFINE_list("seeds", ["0"], "Pre-training seeds.")
    flags.DEFINE_integer("epochs", None, "Pre-training epochs.")
    flags.DEFINE_integer("steps_per_epoch", None, "Pre-training batches/epoch.")
    flags.DEFINE_integer("batch_size", None, "Pre-training batch.")
    flags.DEFINE_float("learning_rate", 1e-3, "SimCLR AdamW learning rate.")
    flags.DEFINE_float("temperature", 0.5, "NT-Xent temperature.")
    flags.DEFINE_float(
        "moco_learning_rate", 1e-3, "S3T's peak AdamW learning rate."
    )
    flags.DEFINE_float("moco_temperature", 0.2, "S3T's InfoNCE temperature.")
    flags.DEFINE_list(
        "tiling_seeds",
        None,
        "S3T Frequency Tiling's pre-training seeds. Default: --seeds.",
    )
    flags.DEFINE_list(
        "s3t_variants",
        list(S3T_VARIANTS),
        f"S3T's variants, among {list(S3T_VARIANTS)}: Time Folding with "
        "the paper's augmentations or with crops only, Frequency Tiling.",
    )
    flags.DEFINE_integer("bootstrap", 1000, "Bootstrap resamples.")
    flags.DEFINE_string("output", "runs/study", "Encoders, caches, curves.")
    flags.DEFINE_string("results", "results", "STUDY.md, study.csv, plots.")
    flags.DEFINE_string("cache_dir", None, "Cache root of the built-in corpus.")
    flags.DEFINE_integer("num_workers", 2, "Corpus rendering processes.")


FLAGS = flags.FLAGS


# === Tasks ===


def metre_class(field):
    """Simple duple, simple triple or compound metre of an ABC `M:` field,
    or `None` (free, missing or another metre such as 5/4)."""
    from keras_music.data.tune_corpus import parse_metre

    metre = parse_metre(field or "")
    if metre is None:
        return None
    numerator = metre[0]
    if numerator in (2, 4):
        return "duple"
    if numerator == 3:
        return "triple"
    if numerator in (6, 9, 12):
        return "compound"
    return None


def key_class(sharps, transpose):
    """Pitch class of the major tonic of a key signature (`sharps` > 0,
    flats < 0) moved by `transpose` semitones."""
    return KEY_CLASSES[(7 * int(sharps) + int(transpose)) % 12]


def note_rate(dance_or_style, tempo_factor):
    """Running notes per second a clip is played at (the corpus's tempo
    rule, `tune_corpus.RUNNING_NOTES_PER_SECOND`, times the clip's tempo
    factor)."""
    from keras_music.data.tune_corpus import RUNNING_NOTES_PER_SECOND

    return RUNNING_NOTES_PER_SECOND[dance_or_style] * float(tempo_factor)


def tercile_labels(values, edges):
    """Class index 0, 1 or 2 of each value against two tercile `edges`."""
    return np.searchsorted(np.asarray(edges), np.asarray(values), "right")


def index_entries(directory):
    """Shard index entries of a split, in `track_labels` order."""
    from keras_music.data.tfrecord_format import read_manifest

    entries = []
    for shard in read_manifest(directory)["shards"]:
        with open(os.path.join(directory, shard["index"])) as stream:
            entries += json.load(stream)["tracks"]
    return entries


def derive_tasks(splits, cache_dir=None):
    """The study's tasks of every split: labels and tune groups.

    Returns:
        dict split -> dict with `"track_ids"`, `"groups"` (tune ids, the
        bootstrap's clusters) and `"labels"` (task -> int array, -1 = no
        label), in the order of the split's embedding cache.
    """
    from keras_music.data.tfrecord_format import read_manifest
    from keras_music.data.tune_corpus import STYLES
    from keras_music.data.tune_corpus import catalog
    from keras_music.data.tune_corpus import parsed_tune
    from keras_music.data.tune_corpus import tune_corpus_cache_dir

    tunes = {t["tune_id"]: t for s in STYLES for t in catalog(s)}
    cache_dir = tune_corpus_cache_dir(cache_dir)
    raw = {}
    for split, directory in splits.items():
        tasks = read_manifest(directory)["tasks"]
        dances = tasks["dance"]["vocabulary"]
        styles = tasks["style"]["vocabulary"]
        rows = []
        for entry in index_entries(directory):
            meta = entry["metadata"]
            tune = tunes[meta["tune_id"]]
            dance = entry["labels"].get("dance", [])
            style = styles[entry["labels"]["style"][0]]
            parsed = parsed_tune(tune, cache_dir)
            metre = metre_class(tune.get("metre", ""))
            rows.append(
                {
                    "track_id": entry["track_id"],
                    "group": meta["tune_id"],
                    "dance": dance[0] if dance else -1,
                    "style": entry["labels"]["style"][0],
                    "metre": METRE_CLASSES.index(metre) if metre else -1,
                    "key": KEY_CLASSES.index(
                        key_class(parsed["sharps"], meta["transpose"])
                    ),
                    "rate": note_rate(
                        dances[dance[0]] if dance else style,
                        meta["tempo_factor"],
                    ),
                }
            )
        raw[split] = rows
    # Tercile edges from the training clips only.
    edges = np.quantile([r["rate"] for r in raw["train"]], [1 / 3, 2 / 3])
    derived = {}
    for split, rows in raw.items():
        labels = {
            task: np.asarray([r[task] for r in rows], "int32")
            for task in ("dance", "metre", "key", "style")
        }
        labels["note_rate"] = tercile_labels(
            [r["rate"] for r in rows], edges
        ).astype("int32")
        derived[split] = {
            "track_ids": np.asarray([r["track_id"] for r in rows]),
            "groups": np.asarray([r["group"] for r in rows]),
            "labels": labels,
        }
    return derived


def num_classes(task):
    from keras_music.data.tune_corpus import DANCES
    from keras_music.data.tune_corpus import STYLES

    return {
        "dance": len(DANCES),
        "style": len(STYLES),
        "metre": len(METRE_CLASSES),
        "key": len(KEY_CLASSES),
        "note_rate": len(NOTE_RATE_CLASSES),
    }[task]


# === Statistics ===


def accuracy(labels, predicted):
    return float(np.mean(np.asarray(labels) == np.asarray(predicted)))


def bootstrap_ci(
    metric, labels, predictions, groups, num_samples=1000, seed=0, level=0.95
):
    """Mean and percentile bootstrap CI of `metric` over tune clusters and
    seeds.

    Each resample draws the test tunes with replacement (all clips of a
    drawn tune come with it) and the seeds with replacement, and averages
    `metric(labels, predictions[seed])` over the drawn seeds on the drawn
    clips.

    Args:
        metric: callable `(labels, predicted) -> float`.
        labels: int array `(clips,)`.
        predictions: list (one per seed) of int arrays `(clips,)`.
        groups: array `(clips,)` of tune ids.
        num_samples: int. Resamples.
        seed: int. Seeds the resampling.
        level: float. Coverage of the interval.

    Returns:
        `(mean, low, high)`: the metric on all clips averaged over seeds,
        and the interval's bounds.
    """
    labels = np.asarray(labels)
    predictions = [np.asarray(p) for p in predictions]
    if not predictions or any(p.shape != labels.shape for p in predictions):
        raise ValueError(
            "`predictions` must be a non-empty list of arrays shaped like "
            f"`labels` {labels.shape}."
        )
    _, group_index = np.unique(np.asarray(groups), return_inverse=True)
    members = [
        np.flatnonzero(group_index == g) for g in range(group_index.max() + 1)
    ]
    rng = np.random.default_rng(seed)
    mean = float(np.mean([metric(labels, p) for p in predictions]))
    values = np.empty(num_samples)
    for b in range(num_samples):
        drawn = rng.integers(len(members), size=len(members))
        rows = np.concatenate([members[g] for g in drawn])
        seeds = rng.integers(len(predictions), size=len(predictions))
        values[b] = np.mean(
            [metric(labels[rows], predictions[s][rows]) for s in seeds]
        )
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return mean, float(low), float(high)


def score_rows(
    method, task, init, predictions, test, num_samples, seeds, suffix=""
):
    """CSV rows of accuracy and macro F1 (metric names + `suffix`) with
    their CIs."""
    from keras_music.evaluation.metrics import macro_f1

    labels = test["labels"][task]
    keep = labels >= 0
    classes = num_classes(task)
    metrics = {
        "accuracy": accuracy,
        "macro_f1": lambda y, p: macro_f1(y, p, num_classes=classes),
    }
    rows = []
    for name, metric in metrics.items():
        mean, low, high = bootstrap_ci(
            metric,
            labels[keep],
            [p[keep] for p in predictions],
            test["groups"][keep],
            num_samples=num_samples,
        )
        rows.append(
            {
                "method": method,
                "task": task,
                "init": init,
                "metric": name + suffix,
                "mean": round(mean, 4),
                "ci_low": round(low, 4),
                "ci_high": round(high, 4),
                "n_test_tracks": int(keep.sum()),
                "seeds": len(predictions),
            }
        )
    return rows


def write_csv(path, rows):
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row[c] for c in CSV_COLUMNS})


def read_csv(path):
    with open(path, newline="") as stream:
        reader = csv.DictReader(stream)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise ValueError(
                f"{path} must have the columns {CSV_COLUMNS}. "
                f"Received: {reader.fieldnames}"
            )
        rows = list(reader)
    for row in rows:
        for key in ("mean", "ci_low", "ci_high"):
            row[key] = float(row[key])
        for key in ("n_test_tracks", "seeds"):
            row[key] = int(row[key])
        if row["method"] not in METHODS:
            raise ValueError(f"Unknown method in {path}: {row['method']!r}")
    return rows


# === Probes ===


def labelled(features, split, task):
    keep = split["labels"][task] >= 0
    return features[keep], split["labels"][task][keep]


# Fitted `logistic_model`s (all training labels) by the id of the train
# and valid features and the task: the multi-format fusions reuse the
# probes of the single encoders. The arrays are kept with the model, so
# their ids are not reused while it is here.
_LOGISTIC_MODELS = {}


def logistic_model(features, derived, task, train_subset=None):
    """A logistic regression trained to convergence on standardised
    embeddings, `C` chosen on the valid split (a fitted pipeline)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    key = (id(features["train"]), id(features["valid"]), task)
    if train_subset is None and key in _LOGISTIC_MODELS:
        train, valid, model = _LOGISTIC_MODELS[key]
        if train is features["train"] and valid is features["valid"]:
            return model
    x, y = labelled(features["train"], derived["train"], task)
    if train_subset is not None:
        x, y = x[train_subset], y[train_subset]
    vx, vy = labelled(features["valid"], derived["valid"], task)
    best, chosen = -1.0, None
    for c in (0.01, 0.1, 1.0):
        model = make_pipeline(
            StandardScaler(), LogisticRegression(C=c, max_iter=3000)
        )
        model.fit(x, y)
        score = accuracy(vy, model.predict(vx))
        if score > best:
            best, chosen = score, model
    if train_subset is None:
        _LOGISTIC_MODELS[key] = (features["train"], features["valid"], chosen)
    return chosen


def logistic_predictions(features, derived, task, train_subset=None):
    """Test predictions of `logistic_model`."""
    chosen = logistic_model(features, derived, task, train_subset)
    full = np.full(len(derived["test"]["labels"][task]), -1)
    keep = derived["test"]["labels"][task] >= 0
    full[keep] = chosen.predict(features["test"][keep])
    return full


def protocol_predictions(features, derived, task, protocol, seed):
    """Test predictions of a probe trained with the library's `protocol`
    (`keras_music.evaluation.probe.train_probe`)."""
    from keras_music.evaluation.probe import train_probe

    x, y = labelled(features["train"], derived["train"], task)
    vx, vy = labelled(features["valid"], derived["valid"], task)
    model, _ = train_probe(
        x, y, vx, vy, num_classes(task), False, protocol, seed=seed
    )
    keep = derived["test"]["labels"][task] >= 0
    full = np.full(len(keep), -1)
    logits = np.asarray(model(features["test"][keep], training=False))
    full[keep] = logits.argmax(-1)
    return full


# === Features ===


def logmel_statistics_encoder(clip_samples):
    """Waveform -> mean and std over time of 96 log-mel bands (192-d)."""
    import keras

    from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram

    audio = keras.Input((clip_samples,))
    mel = LogMelSpectrogram(sample_rate=SAMPLE_RATE)(audio)
    stats = keras.layers.Concatenate()(
        [keras.ops.mean(mel, axis=-1), keras.ops.std(mel, axis=-1)]
    )
    return keras.Model(audio, stats, name="logmel_statistics")


def split_features(encoder, splits, segment_seconds, cache_dir, derived):
    from keras_music.evaluation.embedding_cache import extract_embeddings

    features = {}
    for split, directory in splits.items():
        cache = extract_embeddings(
            encoder, directory, segment_seconds, cache_dir
        )
        if not np.array_equal(cache["track_ids"], derived[split]["track_ids"]):
            raise ValueError(f"Track order differs in {cache['path']}.")
        features[split] = cache["embeddings"]
    return features


# === Methods ===


def checkpoint_curve(
    encoder, weights, epochs, curve, checkpoints, accuracy="accuracy"
):
    """A callback that records `loss` and the `accuracy` log (as
    `"accuracy"`), and every log (as `"logs"`, one dict per epoch), after
    each epoch into `curve` and saves the encoder's
    weights after the listed `epochs` (to `weights.format(epoch=...)`,
    listed in `checkpoints`)."""
    import keras

    class CheckpointCurve(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.time()

        def on_epoch_end(self, epoch, logs=None):
            curve["epoch"].append(epoch + 1)
            curve["loss"].append(float(logs["loss"]))
            curve["accuracy"].append(float(logs[accuracy]))
            curve["seconds"].append(round(time.time() - self.started, 1))
            curve.setdefault("logs", []).append(
                {k: float(v) for k, v in logs.items()}
            )
            if epoch + 1 in epochs:
                path = weights.format(epoch=epoch + 1)
                encoder.save_weights(path)
                checkpoints[epoch + 1] = path

    return CheckpointCurve()


def pretrain_and_embed(
    model,
    weighted,
    embedder,
    train,
    config,
    folder,
    splits,
    derived,
    output,
    segment_seconds,
    accuracy="accuracy",
    validation_data=None,
    embed_initial=True,
):
    """Pre-trains `model`, keeping the weights of `weighted` (the encoder
    inside it) at `config["checkpoints"]`, then embeds every split with
    `embedder` (`weighted` inside it, waveform -> embedding) at each
    checkpoint (the random init's too, with `embed_initial`); saves
    `embedder` to `folder/encoder.keras` and the curve
    to `folder/curve.json`.

    Returns:
        dict with `"curve"` (`checkpoint_curve`'s), `"features"` (`{epoch:
        split_features}`) and `"seconds"` (training time).
    """
    checkpoints = {}
    curve = {"epoch": [], "loss": [], "accuracy": [], "seconds": []}
    weights = os.path.join(folder, "epoch{epoch}.weights.h5")
    weighted.save_weights(weights.format(epoch=0))
    checkpoints[0] = weights.format(epoch=0)
    model.fit(
        train,
        epochs=config["epochs"],
        steps_per_epoch=config["steps_per_epoch"],
        validation_data=validation_data,
        callbacks=[
            checkpoint_curve(
                weighted,
                weights,
                config["checkpoints"],
                curve,
                checkpoints,
                accuracy=accuracy,
            )
        ],
        verbose=2,
    )
    seconds = curve["seconds"][-1]
    embedder.save(os.path.join(folder, "encoder.keras"))
    features = {}
    for epoch, path in sorted(checkpoints.items()):
        if epoch == 0 and not embed_initial:
            continue
        weighted.load_weights(path)
        features[epoch] = split_features(
            embedder,
            splits,
            segment_seconds,
            os.path.join(output, "embeddings"),
            derived,
        )
    with open(os.path.join(folder, "curve.json"), "w") as stream:
        json.dump(curve | {"train_seconds": seconds}, stream)
    return {"curve": curve, "features": features, "seconds": seconds}


def clmr_runs(config, splits, derived, output, seeds):
    """Pre-trains CLMR (all augmentations, crops only) per seed; returns
    `{variant: {seed: {"curve": ..., "features": {epoch: features},
    "seconds": ...}}}`."""
    import keras
    from contrastive_common import sample_cnn
    from contrastive_common import simclr_model
    from contrastive_common import view_pairs

    from keras_music.layers.clmr_augment import CLMRAugment

    # `recipes/clmr.py --augment crop_only`: every stage off but the crop.
    crop_only = {
        name: 0.0
        for name in inspect.signature(CLMRAugment).parameters
        if name.endswith("_p")
    }

    crop = 59049
    runs = {}
    for variant in ("all", "crop_only"):
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            folder = os.path.join(output, "clmr", f"{variant}_seed{seed}")
            os.makedirs(folder, exist_ok=True)
            encoder = sample_cnn("sample_cnn_clmr", crop, demo=True)
            settings = types.SimpleNamespace(
                projection_dim=64,
                temperature=FLAGS.temperature,
                learning_rate=FLAGS.learning_rate,
                weight_decay=1e-6,
            )
            simclr = simclr_model(encoder, settings)
            augment = CLMRAugment(
                sample_rate=SAMPLE_RATE,
                crop_length=crop,
                seed=seed,
                **(crop_only if variant == "crop_only" else {}),
            )
            train = view_pairs(
                splits["train"],
                config["clip_seconds"],
                config["batch_size"],
                lambda audio, augment=augment: augment(audio, training=True),
                seed,
            )
            runs.setdefault(variant, {})[seed] = pretrain_and_embed(
                simclr,
                encoder,
                encoder,
                train,
                config,
                folder,
                splits,
                derived,
                output,
                crop / SAMPLE_RATE,
            )
    return runs


def s3t_setup(recipe, preprocessor, config):
    """The recipe's sizes (`resolve_setup` of a CPU run on the built-in
    corpus) for the study's clips: the `swin_mini` preset, no time
    compression, `fold` 2 for Time Folding, the clip length of the
    corpus (the encoder's input)."""
    folding = [("fold", 2)] if preprocessor == "time_folding" else []
    with recipe_flags(
        ("fold", None),
        ("preprocessor", preprocessor),
        *folding,
        ("preset", "swin_mini"),
        ("time_compression", 1),
        ("clip_seconds", config["clip_seconds"]),
        ("epochs", config["epochs"]),
        ("queue_size", config["queue_size"]),
        ("momentum", FLAGS.momentum or 0.99),
    ):
        return recipe.resolve_setup(has_gpu=False)


def s3t_runs(config, splits, derived, output, seeds):
    """Pre-trains S3T (Swin + MoCo v2) with Time Folding and with
    Frequency Tiling per seed, with `recipes/s3t.py`'s builders; returns
    `{variant: {seed: {"curve": ..., "features": {epoch: features},
    "seconds": ...}}}`."""
    import keras

    recipe = s3t_recipe()
    runs = {}
    # Time Folding first: its runs give the label-fraction rows.
    variants = [v for v in S3T_VARIANTS if v in FLAGS.s3t_variants]
    for variant in variants:
        transform, augmentation, _ = S3T_VARIANTS[variant]
        setup = s3t_setup(recipe, transform, config)
        if variant == "frequency_tiling" and FLAGS.tiling_seeds:
            # Fewer Frequency Tiling runs where the budget is short.
            seeds = [int(s) for s in FLAGS.tiling_seeds]
        for seed in seeds:
            keras.utils.set_random_seed(seed)
            folder = os.path.join(output, "s3t", f"{variant}_seed{seed}")
            os.makedirs(folder, exist_ok=True)
            folding = (
                [("fold", setup.fold)] if transform == "time_folding" else []
            )
            with recipe_flags(
                ("fold", None),
                ("preprocessor", transform),
                *folding,
                ("seed", seed),
                ("temperature", FLAGS.moco_temperature),
            ):
                train = recipe.pretraining_views(
                    splits["train"], setup, config["batch_size"], augmentation
                )
                # The recipe's schedule: cosine decay after a linear
                # warm-up over the first 5% of the steps.
                total = config["epochs"] * config["steps_per_epoch"]
                warmup = round(recipe.WARMUP_FRACTION * total)
                schedule = keras.optimizers.schedules.CosineDecay(
                    0.0,
                    decay_steps=max(1, total - warmup),
                    warmup_target=FLAGS.moco_learning_rate,
                    warmup_steps=warmup,
                )
                moco = recipe.moco_model(setup, schedule)
                backbone = moco.encoder
                encoder = recipe.audio_encoder(backbone, setup)
            runs.setdefault(variant, {})[seed] = pretrain_and_embed(
                moco,
                backbone,
                encoder,
                train,
                config,
                folder,
                splits,
                derived,
                output,
                setup.clip_seconds,
                accuracy="top1_accuracy",
            ) | {"setup": setup}
    return runs


def source_items(directory):
    """`_RecordReader` items `(shard file, index, track id)` of a TFRecord
    folder, in its order."""
    from keras_music.data import tfrecord_format as fmt

    items = []
    for shard in fmt.read_manifest(directory)["shards"]:
        with open(os.path.join(directory, shard["index"])) as stream:
            tracks = json.load(stream)["tracks"]
        path = os.path.join(directory, shard["file"])
        items += [(path, i, t["track_id"]) for i, t in enumerate(tracks)]
    return items


def resampled_splits(splits, sample_rate, num_workers, pretraining_clips):
    """The corpus's splits at `sample_rate`, and the pre-training copies,
    written once beside the corpus in its cache by the library's writer
    (`write_tfrecords`, which resamples with `keras_music.layers.resample`).

    `train`, `valid`, `test`: every clip, in the same order (the probes'
    input). `pretrain_train`, `pretrain_valid`: `pretraining_clips`
    (train, valid) clips spread evenly over those splits, with every PASE
    target (`keras_music.features.pase_targets`, normalised with the
    pre-training train copy's statistics, as `recipes/pase.py` writes
    them). The targets (pYIN above all) cost 1-4 s of CPU per 6 s clip:
    a subset keeps them within the CPU budget. With `pretraining_clips`
    None: the three splits only (MAEST's input).

    Returns:
        dict name -> folder.
    """
    from keras_music.data import tfrecord_format as fmt
    from keras_music.data.tfrecord_rewrite import _RecordReader
    from keras_music.data.tfrecord_writer import write_tfrecords
    from keras_music.features.pase_targets import TARGET_NAMES

    root = os.path.dirname(splits["train"]) + f"_{sample_rate}hz"
    copies = {}
    # (copy, source, clips, clips a shard, targets): `write_tfrecords`'s
    # worker processes get a fresh reader per clip, which reads the
    # clip's whole source shard: the resampling runs in this process
    # (the reader reads each shard once), the subsets are cut into
    # shards of 8 clips that the target workers then read.
    jobs = [(split, splits[split], None, None, False) for split in splits]
    jobs += (
        []
        if pretraining_clips is None
        else [
            ("pretrain_train_audio", "train", pretraining_clips[0], 8, False),
            ("pretrain_valid_audio", "valid", pretraining_clips[1], 8, False),
            ("pretrain_train", "pretrain_train_audio", None, None, True),
            ("pretrain_valid", "pretrain_valid_audio", None, None, True),
        ]
    )
    for name, source, clips, per_shard, targets in jobs:
        source = copies.get(source, source)
        manifest = fmt.read_manifest(source)
        items = source_items(source)
        extra = {"num_shards": len(manifest["shards"])}
        if clips is not None:
            spread = np.linspace(0, len(items) - 1, min(clips, len(items)))
            items = [items[i] for i in np.unique(spread.round().astype(int))]
            extra["num_shards"] = -(-len(items) // per_shard)
        if targets:
            extra = {"num_shards": 1, "targets": list(TARGET_NAMES)}
            extra["num_workers"] = num_workers
            if name == "pretrain_valid":
                extra["target_statistics_from"] = copies["pretrain_train"]
        copies[name] = os.path.join(root, name)
        write_tfrecords(
            items,
            # Reads the records of the source folder as `Track`s (the
            # reader of `rewrite_with_targets`, which keeps the rate).
            _RecordReader(manifest),
            copies[name],
            tasks=manifest["tasks"],
            sample_rate=sample_rate,
            progress=False,
            **extra,
        )
    return copies


def pase_config(recipe, config, workers, weighting, tracks):
    """`recipes/pase.py`'s run `Config` of the CPU demo (its narrowed
    widths and waveform decoder) at the study's budget."""
    epochs = config["epochs"]
    return recipe.Config(
        encoder="pase_plus",
        preset="pase_plus",
        demo=True,
        demo_width=True,
        workers=workers,
        weighting=weighting,
        epochs=epochs,
        reweight_epochs=min(10, epochs),
        steps_per_epoch=config["steps_per_epoch"]
        or max(1, tracks // config["batch_size"]),
        batch_size=config["batch_size"],
        chunk_seconds=FLAGS.chunk_seconds,
        segment_seconds=config["clip_seconds"],
        learning_rate=1e-3,
        scenarios=("frozen",),
        trials=1,
        probe_epochs=config["probe_epochs"],
        finetune_epochs=None,
        corpus_clips=config["corpus_clips"],
        corpus_seconds=config["clip_seconds"],
        output=FLAGS.output,
    )


def pase_runs(config, splits, derived, output, seeds):
    """Pre-trains PASE+ with multi-task workers per seed, all workers
    equal (`equal`) and re-weighted (`reweighted`: 1 / each worker's mean
    validation loss of the equal run over its first `min(10, epochs)`
    epochs, a fresh encoder of the same seed), with `recipes/pase.py`'s
    builders (`Config`, `chunks`, `pretrainer_model`); returns `(runs,
    scales, weights)`: `{variant: {seed: run}}` as `pretrain_and_embed`
    gives them, `{variant: {seed: {worker: loss scale}}}`
    (`MultiTaskPretrainer.loss_scales`, the paper's Fig. 4) and `{seed:
    {worker: weight}}` and the seconds the 16 kHz copies took."""
    from keras_music.data import tfrecord_format as fmt
    from keras_music.models.embedder import AudioEmbedder
    from keras_music.pretraining.multi_task_pretrainer import (
        MultiTaskPretrainer,
    )
    from keras_music.pretraining.pase_workers import parse_workers

    recipe = pase_recipe()
    started = time.time()
    copies = resampled_splits(
        splits,
        PASE_SAMPLE_RATE,
        FLAGS.num_workers,
        config["pretraining_clips"],
    )
    probed = {split: copies[split] for split in ("train", "valid", "test")}
    resampling = time.time() - started
    print(f"16 kHz copies and PASE targets ready in {resampling:.0f} s")
    workers = tuple(parse_workers(FLAGS.workers))
    names = [n for n in workers if n != "waveform"]
    tracks = fmt.read_manifest(copies["pretrain_train"])["num_examples"]
    runs, scales, loss_weights = {}, {}, {}
    for seed in seeds:
        weights = None
        for variant in ("equal", "reweighted"):
            cfg = pase_config(recipe, config, workers, variant, tracks)
            folder = os.path.join(output, "pase_plus", f"{variant}_seed{seed}")
            os.makedirs(folder, exist_ok=True)
            with recipe_flags(("seed", seed), ("data", None)):
                train = recipe.chunks(
                    cfg, copies["pretrain_train"], names, True, 1
                )
                valid = recipe.chunks(
                    cfg, copies["pretrain_valid"], names, False, 1
                )
                target_dims = MultiTaskPretrainer.target_dims_from(
                    train.element_spec
                )
                model = recipe.pretrainer_model(cfg, target_dims, weights)
            if variant == "equal":
                initial = model.encoder.get_weights()
            elif not all(
                np.array_equal(a, b)
                for a, b in zip(initial, model.encoder.get_weights())
            ):
                # The recipe seeds the encoder before building it: both
                # runs of a seed share one random init, probed once.
                raise ValueError(
                    f"PASE+ seed {seed}: the equal and re-weighted runs do "
                    "not start from the same weights."
                )
            # The probes' embedding: the frames averaged over the clip.
            embedder = AudioEmbedder(model.encoder, name="pase_plus_embedder")
            run = pretrain_and_embed(
                model,
                model.encoder,
                embedder,
                train,
                config | {"steps_per_epoch": cfg.steps_per_epoch},
                folder,
                probed,
                derived,
                output,
                config["clip_seconds"],
                accuracy="val_loss",
                validation_data=valid,
                # The re-weighted run's random init is the equal run's.
                embed_initial=variant == "equal",
            )
            history = run["curve"]["logs"]
            if variant == "equal":
                weights = MultiTaskPretrainer.reweighted_loss_weights(
                    history, cfg.reweight_epochs
                )
                loss_weights[seed] = weights
            scales.setdefault(variant, {})[seed] = (
                MultiTaskPretrainer.loss_scales(
                    history,
                    cfg.reweight_epochs,
                    weights if variant == "reweighted" else None,
                )
            )
            with open(os.path.join(folder, "loss_scales.json"), "w") as f:
                json.dump(
                    {
                        "loss_scales": scales[variant][seed],
                        "loss_weights": weights
                        if variant == "reweighted"
                        else None,
                    },
                    f,
                )
            runs.setdefault(variant, {})[seed] = run
    return runs, scales, loss_weights, resampling


def loss_scale_rows(scales, loss_weights):
    """Rows of each worker's loss scale (task `loss_scale`, init
    `pretrained` for equal weights, `reweighted`), their max / min ratio
    (metric `max_over_min`) and the re-weighted run's weights (task
    `loss_weight`); the interval is the range over seeds."""
    rows = []
    for variant, init in (
        ("equal", "pretrained"),
        ("reweighted", "reweighted"),
    ):
        by_seed = list(scales[variant].values())
        for worker in by_seed[0]:
            rows.append(
                seed_range_row(
                    "pase_plus",
                    "loss_scale",
                    init,
                    worker,
                    [s[worker] for s in by_seed],
                )
            )
        rows.append(
            seed_range_row(
                "pase_plus",
                "loss_scale",
                init,
                "max_over_min",
                [max(s.values()) / min(s.values()) for s in by_seed],
            )
        )
    by_seed = list(loss_weights.values())
    for worker in by_seed[0]:
        rows.append(
            seed_range_row(
                "pase_plus",
                "loss_weight",
                "reweighted",
                worker,
                [w[worker] for w in by_seed],
            )
        )
    return rows


def embedding_statistics(features):
    """Width, effective rank (the exponential of the entropy of the
    normalised singular-value spectrum of the centred embeddings: how
    many directions carry the variance) and dead dimensions (standard
    deviation below 1e-6) of train-split embeddings `(clips, dim)`."""
    features = np.asarray(features, "float64")
    spread = np.linalg.svd(features - features.mean(0), compute_uv=False)
    share = spread**2 / max(float(np.sum(spread**2)), 1e-30)
    share = share[share > 0]
    return {
        "dim": float(features.shape[1]),
        "effective_rank": float(np.exp(-np.sum(share * np.log(share)))),
        "dead_dims": float(np.sum(features.std(0) < 1e-6)),
    }


def embedding_rows(method, init, features):
    """Rows (task `embedding`) of `embedding_statistics` of each seed's
    train embeddings: the mean, the interval is the range over seeds."""
    stats = [embedding_statistics(f) for f in features]
    return [
        seed_range_row(
            method, "embedding", init, metric, [s[metric] for s in stats]
        )
        for metric in stats[0]
    ]


def seed_range_row(method, task, init, metric, values):
    """A row of one value per seed: their mean, the interval the range over
    the seeds (a bootstrap over 1-3 seeds says little more), no test
    tracks."""
    return {
        "method": method,
        "task": task,
        "init": init,
        "metric": metric,
        "mean": round(float(np.mean(values)), 4),
        "ci_low": round(float(np.min(values)), 4),
        "ci_high": round(float(np.max(values)), 4),
        "n_test_tracks": 0,
        "seeds": len(values),
    }


def random_projection(features, dim, seed=0):
    """`features` (split -> `(clips, d)`) through one Gaussian random
    matrix `(d, dim)`: a random-features baseline of the encoder's width."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(features["train"].shape[1], int(dim)))
    return {split: x @ matrix for split, x in features.items()}


def majority_predictions(derived, task):
    train = derived["train"]["labels"][task]
    majority = np.bincount(train[train >= 0]).argmax()
    return np.full(len(derived["test"]["labels"][task]), majority)


def run_rows(method, runs, names, config, derived, protocol):
    """Probes the checkpoints of a method's runs; returns `(rows,
    curves)`.

    Args:
        method: str. The CSV's `method`.
        runs: `{variant: {seed: {"curve", "features", "seconds"}}}` (the
            seeds may differ between variants).
        names: `{variant: (final init, random init or None)}`: the inits
            of a variant's last and first checkpoints (None: the first is
            another variant's, not probed twice); the first variant's are
            the label-fraction runs.
        config: the method's budget (`epochs`, `probe_epochs`).
        derived: `derive_tasks` output.
        protocol: callable `(probe_epochs) -> ProbeProtocol`, the
            library's probe of the `_protocol` rows.
    """
    from keras_music.evaluation.label_fractions import label_fraction_indices

    num = FLAGS.bootstrap
    test = derived["test"]
    final = config["epochs"]
    rows, curves = [], {}

    def init_name(variant, epoch):
        name, random = names[variant]
        if epoch == 0:
            return random
        return name if epoch == final else f"{name}_epoch{epoch}"

    for variant, by_seed in runs.items():
        seeds = list(by_seed)
        name = names[variant][0]
        curves[name] = {"pretext": [by_seed[s]["curve"] for s in seeds]}
        for epoch in sorted(by_seed[seeds[0]]["features"]):
            init = init_name(variant, epoch)
            if init is None:
                continue  # the same initial weights as another variant's
            if epoch in (0, final):
                rows += embedding_rows(
                    method,
                    init,
                    [by_seed[s]["features"][epoch]["train"] for s in seeds],
                )
            for task in TASKS:
                predictions = [
                    logistic_predictions(
                        by_seed[s]["features"][epoch], derived, task
                    )
                    for s in seeds
                ]
                scored = score_rows(
                    method, task, init, predictions, test, num, len(seeds)
                )
                rows += scored
                curves.setdefault(init, {})[task] = scored[0]
                curves[init].setdefault("epoch", epoch)
        for s in seeds:
            curve = by_seed[s]["curve"]
            print(
                f"{method} {variant} seed {s}: loss {curve['loss'][0]:.3f} "
                f"-> {curve['loss'][-1]:.3f}, "
                f"{SECOND_CURVE[method][0].replace('_', ' ')} "
                f"{curve['accuracy'][0]:.3f} -> {curve['accuracy'][-1]:.3f} "
                f"in {by_seed[s]['seconds']:.0f} s"
            )
        rows += pretext_rows(name, [by_seed[s]["curve"] for s in seeds], method)
    # The library's own probe protocol on the first and last checkpoints.
    for variant, by_seed in runs.items():
        seeds = list(by_seed)
        for epoch in (0, final):
            init = init_name(variant, epoch)
            if init is None:
                continue
            for task in TASKS:
                predictions = [
                    protocol_predictions(
                        by_seed[s]["features"][epoch],
                        derived,
                        task,
                        protocol(config["probe_epochs"]),
                        s,
                    )
                    for s in seeds
                ]
                rows += score_rows(
                    method,
                    task,
                    init,
                    predictions,
                    test,
                    num,
                    len(seeds),
                    suffix="_protocol",
                )
    # Label fractions, logistic probe, the first variant's pre-trained
    # and random inits.
    first = next(iter(runs))
    seeds = list(runs[first])
    for epoch in (final, 0):
        name = init_name(first, epoch)
        for task in TASKS:
            train_y = derived["train"]["labels"][task]
            subsets = label_fraction_indices(
                train_y[train_y >= 0], (0.01, 0.1), seed=0
            )
            for fraction, subset in subsets.items():
                predictions = [
                    logistic_predictions(
                        runs[first][s]["features"][epoch],
                        derived,
                        task,
                        train_subset=subset,
                    )
                    for s in seeds
                ]
                rows += score_rows(
                    method,
                    task,
                    f"{name}_labels{fraction * 100:g}pct",
                    predictions,
                    test,
                    num,
                    len(seeds),
                )
    return rows, curves


def clmr_protocol(probe_epochs):
    """The linear protocol `recipes/clmr.py` probes with."""
    from contrastive_common import linear_protocol

    return linear_protocol(probe_epochs, trials=1)


def s3t_protocol(probe_epochs):
    """S3T's probe protocol as `recipes/s3t.py` runs it on the built-in
    corpus (the paper's GTZAN batch, 64)."""
    from keras_music.evaluation.probe_protocol import get_probe_protocol

    return get_probe_protocol(
        "s3t",
        epochs=probe_epochs,
        warmup_epochs=min(5, probe_epochs - 1),
        batch_size=64,
    )


def total_seconds(runs, started):
    return {
        "pre-training": sum(
            r["seconds"] for by_seed in runs.values() for r in by_seed.values()
        ),
        "all": time.time() - started,
    }


def clmr_rows(config, splits, derived, output, seeds):
    """Pre-trains and probes CLMR; returns `(rows, curves, seconds)`."""
    started = time.time()
    runs = clmr_runs(config, splits, derived, output, seeds)
    names = {"all": ("pretrained", "random"), "crop_only": ("crop_only", None)}
    rows, curves = run_rows("clmr", runs, names, config, derived, clmr_protocol)
    return rows, curves, total_seconds(runs, started)


def s3t_rows(config, splits, derived, output, seeds):
    """Pre-trains and probes S3T; returns `(rows, curves, seconds)`."""
    started = time.time()
    runs = s3t_runs(config, splits, derived, output, seeds)
    names = {v: names for v, (_, _, names) in S3T_VARIANTS.items()}
    if "time_folding" not in runs:
        # crop_only without time_folding: its own first checkpoint is the
        # random init (the same weights, seed for seed).
        names["crop_only"] = ("crop_only", "random")
    rows, curves = run_rows(
        "s3t",
        runs,
        names,
        config,
        derived,
        s3t_protocol,
    )
    return rows, curves, total_seconds(runs, started)


def pase_protocol(probe_epochs):
    """PASE's frozen probe protocol as `recipes/pase.py` runs it (a linear
    head, Adam 1e-3, early stopping on the validation loss), one trial."""
    from keras_music.evaluation.probe_protocol import get_probe_protocol

    return get_probe_protocol("pase", epochs=probe_epochs, trials=1)


def pase_rows(config, splits, derived, output, seeds):
    """Pre-trains and probes PASE+; returns `(rows, curves, seconds)`."""
    started = time.time()
    runs, scales, loss_weights, resampling = pase_runs(
        config, splits, derived, output, seeds
    )
    names = {
        "equal": ("pretrained", "random"),
        "reweighted": ("reweighted", None),
    }
    rows, curves = run_rows(
        "pase_plus", runs, names, config, derived, pase_protocol
    )
    curves["scales"] = {
        variant: {
            seed: [
                {
                    k[4:-5]: v
                    * (
                        loss_weights[seed] if variant == "reweighted" else {}
                    ).get(k[4:-5], 1.0)
                    for k, v in logs.items()
                    if k.startswith("val_")
                    and k.endswith("_loss")
                    and k != "val_loss"
                }
                for logs in runs[variant][seed]["curve"]["logs"]
            ]
            for seed in seeds
        }
        for variant in runs
    }
    rows += loss_scale_rows(scales, loss_weights)
    seconds = total_seconds(runs, started)
    seconds["resampling"] = resampling
    return rows, curves, seconds


# Multi-format contrastive learning's pre-training budget per run (one
# encoder, one seed): `recipes/multiformat.py`'s CPU demo (SampleCNN at
# an eighth of its width, 64-d; ResNet-18 at a quarter, 128-d; views of
# 59,049 samples, 2.7 s) on the study's clips. Two encoders a seed, each
# embedding every split at each checkpoint: 16 steps of batch 32 an
# epoch and no middle checkpoint keep two seeds within 30 minutes on two
# shared CPU cores.
MULTIFORMAT_FULL = {
    "epochs": 6,
    "checkpoints": (0, 6),
    "steps_per_epoch": 16,
    "batch_size": 32,
    "probe_epochs": 50,
}
MULTIFORMAT_QUICK = {
    "epochs": 2,
    "checkpoints": (0, 1, 2),
    "steps_per_epoch": 3,
    "batch_size": 8,
    "probe_epochs": 3,
}
# The multi-format paper's Adam(W) weight decay (the recipe's default;
# `--weight_decay` is S3T's).
MULTIFORMAT_WEIGHT_DECAY = 1e-6
# Each encoder's (pre-trained, random) inits, and each fusion's.
MULTIFORMAT_BRANCHES = {
    "waveform": ("waveform", "waveform_random"),
    "spectrogram": ("spectrogram", "spectrogram_random"),
}
MULTIFORMAT_FUSIONS = {
    "concat": ("concat", "concat_random"),
    "weighted": ("weighted", "weighted_random"),
}


def multiformat_recipe():
    """`recipes/multiformat.py` as a module."""
    return recipe_module("multiformat")


def multiformat_setup(recipe, config, seed):
    """The recipe's run `Config` of its CPU demo (`config(demo=True)`)
    with the study's budget, the clip as the span the two views come from
    and the paper's weight decay; the flags it reads are set for the
    call and put back."""
    with recipe_flags(
        ("epochs", config["epochs"]),
        ("steps_per_epoch", config["steps_per_epoch"]),
        ("batch_size", config["batch_size"]),
        ("span_seconds", config["clip_seconds"]),
        ("weight_decay", MULTIFORMAT_WEIGHT_DECAY),
        ("augment", "all"),
        ("seed", seed),
    ):
        return recipe.config(demo=True)


def multiformat_runs(config, splits, derived, output, seeds):
    """Pre-trains the waveform and the spectrogram encoder with SimCLR per
    seed, with `recipes/multiformat.py`'s builders (`config`, `views`,
    `sample_cnn`, `resnet`, `simclr_model`, `audio_encoder`); returns
    `{branch: {seed: {"curve": ..., "features": {epoch: features},
    "seconds": ...}}}`."""
    import keras

    from keras_music.data.view_pairs import view_pairs

    recipe = multiformat_recipe()
    runs = {}
    for branch in MULTIFORMAT_BRANCHES:
        for seed in seeds:
            cfg = multiformat_setup(recipe, config, seed)
            keras.utils.set_random_seed(seed)
            folder = os.path.join(output, "multiformat", f"{branch}_seed{seed}")
            os.makedirs(folder, exist_ok=True)
            if branch == "waveform":
                backbone = recipe.sample_cnn(
                    cfg.waveform_preset, cfg.clip_samples, cfg.demo
                )
                encoder = backbone
            else:
                backbone = recipe.resnet(
                    cfg.spectrogram_preset, cfg.n_mels, cfg.demo
                )
                encoder = recipe.audio_encoder(cfg, backbone)
            with recipe_flags(("seed", seed)):
                views = recipe.views(cfg, branch)
            train = view_pairs(
                splits["train"],
                cfg.span_seconds,
                cfg.batch_size,
                views,
                seed,
            )
            runs.setdefault(branch, {})[seed] = pretrain_and_embed(
                recipe.simclr_model(backbone, cfg),
                backbone,
                encoder,
                train,
                config,
                folder,
                splits,
                derived,
                output,
                cfg.segment_seconds,
            ) | {"setup": cfg}
    return runs


def probabilities(model, features, classes):
    """Class probabilities `(clips, classes)` of a fitted `logistic_model`
    (0 for the classes its training labels lacked)."""
    full = np.zeros((len(features), classes))
    full[:, model.classes_] = model.predict_proba(features)
    return full


def fusion_predictions(valid_probabilities, valid_labels, test_probabilities):
    """Decision-level fusion of two probes: the weight `w` of the first
    that the valid split prefers (`best_fusion_weight`), then the argmax
    of `w p_1 + (1 - w) p_2` on test (`fuse`).

    Args:
        valid_probabilities: pair of arrays `(valid clips, classes)`.
        valid_labels: int array `(valid clips,)`.
        test_probabilities: pair of arrays `(test clips, classes)`.

    Returns:
        `(test predictions, w)`.
    """
    from keras_music.evaluation.embedding_fusion import best_fusion_weight
    from keras_music.evaluation.embedding_fusion import fuse

    w = best_fusion_weight(valid_labels, list(valid_probabilities), False)
    return np.argmax(fuse(*test_probabilities, w, False), axis=-1), w


def weighted_predictions(features_a, features_b, derived, task):
    """Test predictions of the weighted fusion of the `logistic_model`s
    of two encoders' features, and the weight of the first."""
    classes = num_classes(task)
    test_keep = derived["test"]["labels"][task] >= 0
    valid_p, test_p = [], []
    for features in (features_a, features_b):
        model = logistic_model(features, derived, task)
        valid_x, valid_y = labelled(features["valid"], derived["valid"], task)
        valid_p.append(probabilities(model, valid_x, classes))
        test_p.append(
            probabilities(model, features["test"][test_keep], classes)
        )
    predicted, w = fusion_predictions(valid_p, valid_y, test_p)
    full = np.full(len(test_keep), -1)
    full[test_keep] = predicted
    return full, w


def multiformat_fusion_rows(runs, config, derived, protocol):
    """The two fusions of each seed's waveform and spectrogram embeddings
    at each checkpoint: `concat` (feature-level: one probe on the
    concatenated embeddings) and `weighted` (decision-level, the weight
    chosen on valid); the logistic probe at every checkpoint, the
    library's protocol (concat) and the embedding statistics (concat) on
    the first and the last, the weights chosen (task `fusion_weight`)."""
    method, final, num = "multiformat", config["epochs"], FLAGS.bootstrap
    test = derived["test"]
    seeds = [s for s in runs["waveform"] if s in runs["spectrogram"]]
    rows = []
    for epoch in sorted(runs["waveform"][seeds[0]]["features"]):
        pairs = [
            (
                runs["waveform"][s]["features"][epoch],
                runs["spectrogram"][s]["features"][epoch],
            )
            for s in seeds
        ]
        # `split_features` checked that both list the clips in one order.
        concat = [
            {split: np.concatenate([a[split], b[split]], axis=1) for split in a}
            for a, b in pairs
        ]
        inits = {}
        for fusion, (name, random) in MULTIFORMAT_FUSIONS.items():
            inits[fusion] = (
                random
                if epoch == 0
                else name
                if epoch == final
                else f"{name}_epoch{epoch}"
            )
        ends = epoch in (0, final)
        if ends:
            rows += embedding_rows(
                method, inits["concat"], [c["train"] for c in concat]
            )
        for task in TASKS:
            predictions = [
                logistic_predictions(c, derived, task) for c in concat
            ]
            rows += score_rows(
                method,
                task,
                inits["concat"],
                predictions,
                test,
                num,
                len(seeds),
            )
            weighted = [
                weighted_predictions(a, b, derived, task) for a, b in pairs
            ]
            rows += score_rows(
                method,
                task,
                inits["weighted"],
                [p for p, _ in weighted],
                test,
                num,
                len(seeds),
            )
            if ends:
                rows.append(
                    seed_range_row(
                        method,
                        "fusion_weight",
                        inits["weighted"],
                        task,
                        [w for _, w in weighted],
                    )
                )
                predictions = [
                    protocol_predictions(
                        c, derived, task, protocol(config["probe_epochs"]), s
                    )
                    for c, s in zip(concat, seeds)
                ]
                rows += score_rows(
                    method,
                    task,
                    inits["concat"],
                    predictions,
                    test,
                    num,
                    len(seeds),
                    suffix="_protocol",
                )
    return rows


def multiformat_protocol(probe_epochs):
    """The multi-format paper's linear classifier as `recipes/multiformat.py`
    probes with it (`linear_protocol`), one trial."""
    from keras_music.evaluation.embedding_fusion import linear_protocol

    return linear_protocol(probe_epochs, trials=1)


def multiformat_rows(config, splits, derived, output, seeds):
    """Pre-trains and probes multi-format contrastive learning; returns
    `(rows, curves, seconds)`."""
    started = time.time()
    runs = multiformat_runs(config, splits, derived, output, seeds)
    rows, curves = run_rows(
        "multiformat",
        runs,
        MULTIFORMAT_BRANCHES,
        config,
        derived,
        multiformat_protocol,
    )
    rows += multiformat_fusion_rows(runs, config, derived, multiformat_protocol)
    return rows, curves, total_seconds(runs, started)


def fusion_claim(rows, method="multiformat"):
    """The multi-format paper's secondary claim from the rows: `concat`
    (pre-trained) above both single formats on at least one task and
    below neither on any (logistic probe, accuracy, non-overlapping 95%
    CIs), with the figures."""
    claim = (
        "concat > each single format (pre-trained; logistic probe, accuracy, "
        "non-overlapping 95% CIs): above both waveform and spectrogram on "
        "at least one task and below neither on any"
    )
    above, below, figures = [], [], []
    for task in TASKS:
        joined, wave, spec = (
            find(rows, method, task, init)
            for init in ("concat", "waveform", "spectrogram")
        )
        if not (joined and wave and spec):
            continue
        signs = (compare(joined, wave), compare(joined, spec))
        above += [task] if signs == (">", ">") else []
        below += [task] if "<" in signs else []
        figures.append(
            f"{task}: concat {figure(joined)}, waveform {figure(wave)}, "
            f"spectrogram {figure(spec)}"
        )
    if not figures:
        return f"- {claim}: not run."
    seen = "seen" if above and not below else "not seen"
    return (
        f"- {claim}: **{seen}** (above both on {above or 'no task'}; below "
        f"one on {below or 'no task'}; " + "; ".join(figures) + ")."
    )


def fusion_weight_lines(rows, method="multiformat"):
    """The weight of the waveform probe the valid split chose in the
    weighted fusion, per task (range over seeds)."""
    lines = [
        "| task | weighted_random | weighted |",
        "|---|---|---|",
    ]
    for task in TASKS:
        cells = [
            find(rows, method, "fusion_weight", init, task)
            for init in MULTIFORMAT_FUSIONS["weighted"][::-1]
        ]
        lines.append(
            f"| {task} | "
            + " | ".join(figure(c) if c else "–" for c in cells)
            + " |"
        )
    return lines


def pretext_rows(init, curves, method):
    """Final pre-training loss and contrastive accuracy (PASE+: validation
    loss); the interval is the range over seeds."""
    return [
        seed_range_row(
            method, "pretext", init, metric, [c[key][-1] for c in curves]
        )
        for metric, key in (
            ("pretext_loss", "loss"),
            (SECOND_CURVE[method][0], "accuracy"),
        )
    ]


def baseline_rows(method, features, derived, dim=None):
    """Majority class, the log-mel statistics and, given the encoder's
    width `dim`, a random projection of them to `dim` (init
    `baseline_logmel_rp`)."""
    rows = []
    projected = random_projection(features, dim) if dim else None
    for task in TASKS:
        if projected is not None:
            rows += score_rows(
                method,
                task,
                "baseline_logmel_rp",
                [logistic_predictions(projected, derived, task)],
                derived["test"],
                FLAGS.bootstrap,
                1,
            )
        rows += score_rows(
            method,
            task,
            "baseline_logmel",
            [logistic_predictions(features, derived, task)],
            derived["test"],
            FLAGS.bootstrap,
            1,
        )
        rows += score_rows(
            method,
            task,
            "majority",
            [majority_predictions(derived, task)],
            derived["test"],
            FLAGS.bootstrap,
            1,
        )
    return rows


# === Report ===


def find(rows, method, task, init, metric="accuracy"):
    for row in rows:
        if (row["method"], row["task"], row["init"], row["metric"]) == (
            method,
            task,
            init,
            metric,
        ):
            return row
    return None


def compare(a, b):
    """`">"`, `"<"` or `"~"`: non-overlapping 95% CIs or not."""
    if a["ci_low"] > b["ci_high"]:
        return ">"
    if a["ci_high"] < b["ci_low"]:
        return "<"
    return "~"


def figure(row):
    return f"{row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"


def comparison(rows, method, first, second):
    """Tasks where `first` is significantly above / below `second`."""
    better, worse = [], []
    for task in TASKS:
        a = find(rows, method, task, first)
        b = find(rows, method, task, second)
        if a and b:
            sign = compare(a, b)
            better += [task] if sign == ">" else []
            worse += [task] if sign == "<" else []
    return better, worse


# The pairs each method's claims compare: (first, second, what the claim
# says), the pre-trained > random one first.
CLAIMS = {
    "clmr": (
        (
            "pretrained",
            "random",
            "pre-trained > random init (logistic probe, accuracy, "
            "non-overlapping 95% CIs) on at least one task and random "
            "significantly better on none",
        ),
        ("pretrained", "crop_only", "all CLMR augmentations > crop only"),
        (
            "crop_only",
            "random",
            "crop-only pre-training > random init on at least one task and "
            "random significantly better on none",
        ),
    ),
    "s3t": (
        (
            "pretrained",
            "random",
            "pre-trained > random init (Time Folding; logistic probe, "
            "accuracy, non-overlapping 95% CIs) on at least one task and "
            "random significantly better on none",
        ),
        (
            "freq_tiling",
            "freq_tiling_random",
            "the same with Frequency Tiling (freq_tiling > freq_tiling_random)",
        ),
        (
            "pretrained",
            "freq_tiling",
            "Time Folding > Frequency Tiling, both pre-trained (the paper's "
            "Table 4)",
        ),
        (
            "crop_only",
            "random",
            "crops-only pre-training (Time Folding) > random init on at "
            "least one task and random significantly better on none",
        ),
    ),
}


CLAIMS["pase_plus"] = (
    (
        "pretrained",
        "random",
        "pre-trained, all workers equal > random init (logistic probe, "
        "accuracy, non-overlapping 95% CIs) on at least one task and random "
        "significantly better on none",
    ),
    (
        "reweighted",
        "random",
        "pre-trained, re-weighted > random init on at least one task and "
        "random significantly better on none",
    ),
    (
        "reweighted",
        "pretrained",
        "re-weighted > all workers equal (the paper's Table 1)",
    ),
)


CLAIMS["multiformat"] = (
    (
        "waveform",
        "waveform_random",
        "waveform > random init (SampleCNN; logistic probe, accuracy, "
        "non-overlapping 95% CIs) on at least one task and random "
        "significantly better on none",
    ),
    (
        "spectrogram",
        "spectrogram_random",
        "spectrogram > random init (ResNet-18 on log-mel) on at least one "
        "task and random significantly better on none",
    ),
    (
        "concat",
        "concat_random",
        "concat > random init (feature-level fusion) on at least one task "
        "and random significantly better on none",
    ),
    (
        "weighted",
        "weighted_random",
        "weighted > random init (decision-level fusion) on at least one "
        "task and random significantly better on none",
    ),
)


def loss_scale_claim(rows):
    """The paper's Fig. 4 claim from the `loss_scale` rows: after
    re-weighting, the largest worker loss scale is within 10x of the
    smallest, in every seed."""
    before = find(rows, "pase_plus", "loss_scale", "pretrained", "max_over_min")
    after = find(rows, "pase_plus", "loss_scale", "reweighted", "max_over_min")
    claim = (
        "re-weighting brings the worker losses within one order of "
        "magnitude (largest / smallest loss scale < 10, every seed)"
    )
    if not (before and after):
        return f"- {claim}: not run."
    seen = "seen" if after["ci_high"] < 10 else "not seen"
    return (
        f"- {claim}: **{seen}** (largest / smallest: equal weights "
        f"{figure(before)}, re-weighted {figure(after)}; range over seeds)."
    )


def loss_scale_table(rows):
    """Each worker's loss scale before / after re-weighting and weight."""
    lines = [
        "| worker | equal weights | re-weighted | weight |",
        "|---|---|---|---|",
    ]
    workers = [
        r["metric"]
        for r in rows
        if (r["method"], r["task"], r["init"])
        == ("pase_plus", "loss_scale", "pretrained")
    ]
    for worker in workers:
        cells = [
            find(rows, "pase_plus", "loss_scale", "pretrained", worker),
            find(rows, "pase_plus", "loss_scale", "reweighted", worker),
            find(rows, "pase_plus", "loss_weight", "reweighted", worker),
        ]
        lines.append(
            f"| {worker} | "
            + " | ".join(figure(c) if c else "–" for c in cells)
            + " |"
        )
    return lines


def claims(rows, method):
    """The study's claims, each seen / not seen, from the rows alone."""
    lines = []
    for first, second, claim in CLAIMS.get(method, CLAIMS["clmr"][:1]):
        if not any(
            find(rows, method, task, first) and find(rows, method, task, second)
            for task in TASKS
        ):
            lines.append(f"- {claim}: not run.")
            continue
        better, worse = comparison(rows, method, first, second)
        seen = "seen" if better and not worse else "not seen"
        lines.append(
            f"- {claim}: **{seen}** (better on {better or 'no task'}; "
            f"worse on {worse or 'no task'})."
        )
    if method == "pase_plus":
        lines.append(loss_scale_claim(rows))
    if method == "multiformat":
        lines.append(fusion_claim(rows))
    first = PLOTTED.get(method, PLOTTED["clmr"])[0][0]
    label = {"pretrained": "pre-trained", "supervised": "supervised"}.get(
        first, f"pre-trained {first}"
    )
    ordered = []
    for task in TASKS:
        chain = [
            find(rows, method, task, f"{first}_labels{p}pct")
            for p in ("1", "10")
        ] + [find(rows, method, task, first)]
        if (
            all(chain)
            and chain[0]["mean"] < chain[1]["mean"] < chain[2]["mean"]
        ):
            ordered.append(task)
    lines.append(
        f"- label fractions 1% < 10% < 100% (means, {label}, logistic "
        f"probe): ordered on {ordered or 'no task'} of {list(TASKS)}."
    )
    return lines


def table(rows, method, inits, metric="accuracy"):
    header = "| task | " + " | ".join(inits) + " |"
    lines = [header, "|" + "---|" * (len(inits) + 1)]
    for task in TASKS:
        cells = []
        for init in inits:
            row = find(rows, method, task, init, metric)
            cells.append(figure(row) if row else "–")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return lines


# The curves of each method's plot: (final init, colour, its epoch-0 init).
PLOTTED = {
    "clmr": (("pretrained", "C0", "random"), ("crop_only", "C1", "random")),
    "s3t": (
        ("pretrained", "C0", "random"),
        ("crop_only", "C4", "random"),
        ("freq_tiling", "C1", "freq_tiling_random"),
    ),
    "pase_plus": (
        ("pretrained", "C0", "random"),
        ("reweighted", "C1", "random"),
    ),
    "multiformat": (
        ("waveform", "C0", "waveform_random"),
        ("spectrogram", "C1", "spectrogram_random"),
        ("concat", "C4", "concat_random"),
        ("weighted", "C5", "weighted_random"),
    ),
}
# What each method's pre-training loss is called.
LOSS_NAMES = {
    "clmr": "NT-Xent",
    "s3t": "InfoNCE",
    "pase_plus": "multi-task",
    "multiformat": "NT-Xent",
}
# Each method's second pre-training curve: (its `pretext` metric, the
# plot's title).
SECOND_CURVE = {
    "clmr": ("contrastive_accuracy", "contrastive top-1 accuracy (train)"),
    "s3t": ("contrastive_accuracy", "contrastive top-1 accuracy (train)"),
    "pase_plus": ("val_loss", "multi-task loss (valid)"),
    "multiformat": (
        "contrastive_accuracy",
        "contrastive top-1 accuracy (train)",
    ),
}


def plot(path, rows, curves, method, checkpoints):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = curves.get("scales")
    panels = len(TASKS) + 2 + (1 if scales else 0)
    figure_, axes = plt.subplots(1, panels, figsize=(4 * panels, 3.4))
    if scales:
        # The paper's Fig. 4: each worker's weighted validation loss per
        # epoch, equal weights (solid) and re-weighted (dashed), seed 0.
        axis, axes = axes[-1], axes[:-1]
        for variant, style in (("equal", "-"), ("reweighted", "--")):
            by_epoch = next(iter(scales[variant].values()))
            for i, worker in enumerate(by_epoch[0]):
                axis.semilogy(
                    range(1, len(by_epoch) + 1),
                    [e[worker] for e in by_epoch],
                    style,
                    color=f"C{i}",
                    label=worker if variant == "equal" else None,
                )
        axis.set_title("worker loss x weight (valid; -- re-weighted)")
        axis.set_xlabel("pre-training epoch")
        axis.legend(fontsize=7)
    for axis, task in zip(axes, TASKS):
        for name, colour, random in PLOTTED[method]:
            points = []
            for epoch in checkpoints:
                init = (
                    random
                    if epoch == 0
                    else name
                    if epoch == checkpoints[-1]
                    else f"{name}_epoch{epoch}"
                )
                row = find(rows, method, task, init)
                if row:
                    points.append(
                        (epoch, row["mean"], row["ci_low"], row["ci_high"])
                    )
            if points:
                e, m, lo, hi = map(np.asarray, zip(*points))
                axis.plot(e, m, "o-", color=colour, label=name)
                axis.fill_between(e, lo, hi, color=colour, alpha=0.2)
        for init, colour, style in (
            ("random", "C3", ":"),
            ("baseline_logmel", "C2", "--"),
            ("majority", "grey", "-."),
        ):
            row = find(rows, method, task, init)
            if row:
                axis.axhline(row["mean"], color=colour, ls=style, label=init)
                axis.axhspan(
                    row["ci_low"], row["ci_high"], color=colour, alpha=0.08
                )
        axis.set_title(task)
        axis.set_xlabel("pre-training epoch")
        axis.set_ylabel("test accuracy (logistic probe)")
    axes[0].legend(fontsize=7)
    for axis, key, title in (
        (axes[-2], "loss", f"{LOSS_NAMES[method]} loss (train)"),
        (axes[-1], "accuracy", SECOND_CURVE[method][1]),
    ):
        for name, colour, _ in PLOTTED[method]:
            for i, curve in enumerate(curves.get(name, {}).get("pretext", [])):
                axis.plot(
                    curve["epoch"],
                    curve[key],
                    color=colour,
                    label=name if i == 0 else None,
                )
        axis.set_title(title)
        axis.set_xlabel("pre-training epoch")
        axis.legend(fontsize=7)
    figure_.tight_layout()
    figure_.savefig(path, dpi=90)
    plt.close(figure_)


# === MAEST ===

# MAEST's budget per run (one seed): `recipes/maest.py`'s CPU preset
# `maest_small` (width 128, 4 blocks of 4 heads) on 5 s segments of the
# corpus's clips resampled to 16 kHz, the model's rate (a grid of 9 x 30
# patches), trained as the recipe trains it on the corpus's `instrument`
# tags (multi-label): AdamW with MAEST's warm-up / plateau / decay scaled
# to the run, mixup, SpecAugment, balanced draws (an epoch: one draw of
# the training clips), SWA over the last epochs; the training patchout
# drops 15 of the 30 time columns (the paper's text for MAEST-5s) and 3
# of the 9 frequency rows. The probes read block 2 of 4 (1-based: the
# output of the second block), the middle of the network, as the paper's
# block 7 of 12 is, its stacked `cls`, `dist` and average tokens. Epochs
# and peak learning rate: the recipe's CPU demo's (`CPU_DEMO`), batch 12
# its default.
MAEST_FULL = {
    "preset": "maest_small",
    "segment_seconds": 5,
    "epochs": 6,
    "checkpoints": (0, 6),
    "steps_per_epoch": None,
    "batch_size": 12,
    "learning_rate": 5e-4,
    "train_time_patchout": 15,
    "block": 2,
    "time_strides": (2, 5, 10),
    "throughput_batch": 32,
    "throughput_repeats": 20,
    "probe_epochs": 30,
}
MAEST_QUICK = MAEST_FULL | {
    "epochs": 2,
    "checkpoints": (0, 2),
    "steps_per_epoch": 4,
    "batch_size": 8,
    "throughput_batch": 8,
    "throughput_repeats": 3,
    "probe_epochs": 3,
}
MAEST_SAMPLE_RATE = 16000
MAEST_TASK = "instrument"
# The flags `recipes/maest.py` defines that an earlier recipe defines too:
# they stay the earlier recipe's (S3T's `--weight_decay`, ...).
MAEST_CLASHES = ("preset", "weight_decay", "export", "export_dir")
# `recipes/maest.py`'s `--weight_decay` default: the study's flag of that
# name is S3T's.
MAEST_WEIGHT_DECAY = 1e-4


def maest_time_columns(config):
    """Time columns of the patch grid of `config`'s segment."""
    from keras_music.models.maest.maest_layers import patch_grid_size
    from keras_music.models.maest.maest_segment import maest_segment_config

    backbone = maest_segment_config(config["preset"], config["segment_seconds"])
    return patch_grid_size(
        backbone["num_frames"], backbone["patch_size"], backbone["patch_stride"]
    )


def maest_recipe():
    """`recipes/maest.py` as a module."""
    return recipe_module("maest")


def maest_config(recipe, config, output):
    """`recipes/maest.py`'s run `Config` of `config["preset"]` on
    `config["segment_seconds"]` at the study's budget; mixup, SpecAugment,
    balanced draws, SWA and the frequency patchout as the recipe's flags
    say (its defaults)."""
    from keras_music.models.maest.maest_segment import maest_segment_config
    from keras_music.models.maest.maest_segment import maest_segment_name

    preset, segment = config["preset"], config["segment_seconds"]
    return recipe.Config(
        preset=preset,
        name=maest_segment_name(preset, segment),
        demo=True,
        segment=segment,
        backbone=maest_segment_config(
            preset,
            segment,
            config["train_time_patchout"],
            FLAGS.patchout_freq,
        ),
        epochs=config["epochs"],
        learning_rate=config["learning_rate"],
        batch_size=config["batch_size"],
        steps_per_epoch=config["steps_per_epoch"],
        samples_per_epoch=None,
        weight_decay=MAEST_WEIGHT_DECAY,
        mixup_alpha=FLAGS.mixup_alpha,
        spec_augment=FLAGS.spec_augment,
        balanced=FLAGS.balanced,
        swa=FLAGS.swa,
        init="random",
        init_prefix=None,
        output=output,
        export=(),
        export_dir="saved_models",
    )


def patchout_timings(models, inputs, repeats):
    """Seconds per call of each model (`{init: model}`) on `inputs`, side
    by side: after two warm-up calls each, every round calls each model
    once in turn, so that the load of a shared machine falls on all."""
    import tensorflow as tf

    calls = {
        name: tf.function(lambda x, m=model: m(x, training=False))
        for name, model in models.items()
    }
    for call in calls.values():
        for _ in range(2):
            np.asarray(call(inputs))
    seconds = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            np.asarray(call(inputs))
            seconds[name].append(time.perf_counter() - start)
    return seconds


def throughput_row(method, init, seconds, batch, num_samples=1000, seed=0):
    """A row (task `throughput`, metric `clips_per_second`): `batch` clips
    over the median of the timed calls `seconds`, the interval a
    percentile bootstrap of that median over the calls."""
    seconds = np.asarray(seconds, "float64")
    if seconds.ndim != 1 or len(seconds) < 2 or not np.all(seconds > 0):
        raise ValueError(
            "`seconds` must hold at least two positive call times. "
            f"Received: seconds={seconds.tolist()}"
        )
    rng = np.random.default_rng(seed)
    drawn = rng.choice(seconds, size=(num_samples, len(seconds)))
    rates = batch / np.median(drawn, axis=1)
    mean = batch / float(np.median(seconds))
    low, high = np.quantile(rates, [0.025, 0.975])
    return {
        "method": method,
        "task": "throughput",
        "init": init,
        "metric": "clips_per_second",
        "mean": round(mean, 2),
        "ci_low": round(min(float(low), mean), 2),
        "ci_high": round(max(float(high), mean), 2),
        "n_test_tracks": 0,
        "seeds": 1,
    }


def tune_groups(track_ids, split):
    """The tune of each of `track_ids`, from `derive_tasks`'s `split`."""
    index = {t: i for i, t in enumerate(split["track_ids"].tolist())}
    return split["groups"][[index[t] for t in np.asarray(track_ids).tolist()]]


def tag_rows(method, task, init, outputs, groups, num_samples, reference=None):
    """Rows of test ROC-AUC and PR-AUC (macro over the tags) of a tagger's
    per-track outputs (`track_tag_outputs`, one per seed), with bootstrap
    CIs over the test tunes `groups` and the seeds; with `reference` (the
    same model's outputs without patchout, per seed) also `roc_auc_drop`,
    reference minus these, drawn on the same tunes (paired)."""
    from keras_music.evaluation.metrics import pr_auc
    from keras_music.evaluation.metrics import roc_auc

    labels = outputs[0]["labels"]
    if any(
        not np.array_equal(o["track_ids"], outputs[0]["track_ids"])
        for o in [*outputs, *(reference or [])]
    ):
        raise ValueError(f"{init}: the seeds' test tracks differ.")
    scored = {
        "roc_auc": (roc_auc, labels, [o["scores"] for o in outputs]),
        "pr_auc": (pr_auc, labels, [o["scores"] for o in outputs]),
    }
    if reference is not None:
        k = labels.shape[1]

        def drop(y, p):
            return roc_auc(y[:, :k], p[:, :k], mask=y[:, :k] >= 0) - roc_auc(
                y[:, k:], p[:, k:], mask=y[:, k:] >= 0
            )

        scored["roc_auc_drop"] = (
            drop,
            np.concatenate([labels, labels], axis=1),
            [
                np.concatenate([r["scores"], o["scores"]], axis=1)
                for r, o in zip(reference, outputs)
            ],
        )
    rows = []
    for name, (metric, y, predictions) in scored.items():
        if name != "roc_auc_drop":
            metric = (lambda m: lambda y, p: m(y, p, mask=y >= 0))(metric)
        mean, low, high = bootstrap_ci(
            metric, y, predictions, groups, num_samples=num_samples
        )
        rows.append(
            {
                "method": method,
                "task": task,
                "init": init,
                "metric": name,
                "mean": round(mean, 4),
                "ci_low": round(low, 4),
                "ci_high": round(high, 4),
                "n_test_tracks": len(labels),
                "seeds": len(outputs),
            }
        )
    return rows


def maest_runs(config, splits, derived, output, seeds):
    """Trains MAEST per seed with `recipes/maest.py`'s builders
    (`Config`, `audio_preprocessor`, `input_pipeline`, `epoch_steps`,
    `tagger_model`, `fit`) and the library's schedule and SWA
    (`maest_learning_rate`, `maest_swa`); embeds every split with block
    `config["block"]` (`AudioEmbedder`) and scores the test tags
    (`track_tag_outputs`) before and after training, and after training
    with each inference patchout of `config["time_strides"]`
    (`set_inference_patchout`, on copies of the trained tagger). Returns
    `(runs, timings, resampling)`: `{seed: {"curve", "features": {epoch:
    split_features}, "seconds", "outputs": {init: track_tag_outputs}}}`,
    the last seed's `patchout_timings` and the seconds the 16 kHz copies
    took."""
    import keras

    from keras_music.data.tfrecord_dataset import tfrecord_dataset
    from keras_music.data.tfrecord_format import read_manifest
    from keras_music.evaluation.tagger_scores import track_tag_outputs
    from keras_music.models.embedder import AudioEmbedder
    from keras_music.models.maest.maest_tagger import MAESTTagger
    from keras_music.training.maest_schedule import maest_learning_rate
    from keras_music.training.maest_schedule import maest_swa

    recipe = maest_recipe()
    started = time.time()
    copies = resampled_splits(
        splits, MAEST_SAMPLE_RATE, FLAGS.num_workers, None
    )
    resampling = time.time() - started
    print(f"16 kHz copies ready in {resampling:.0f} s")
    manifest = read_manifest(copies["train"])
    vocabulary = manifest["tasks"][MAEST_TASK]["vocabulary"]
    embeddings = os.path.join(output, "embeddings")
    runs, timings = {}, {}
    for seed in seeds:
        folder = os.path.join(output, "maest", f"supervised_seed{seed}")
        os.makedirs(folder, exist_ok=True)
        cfg = maest_config(recipe, config, folder)
        keras.utils.set_random_seed(seed)
        with recipe_flags(("seed", seed)):
            preprocessor = recipe.audio_preprocessor(cfg)
            frontend = preprocessor.frontend
            steps = recipe.epoch_steps(cfg, manifest, MAEST_TASK)
            train = recipe.input_pipeline(
                cfg, frontend, copies["train"], MAEST_TASK, True
            )
            valid = recipe.input_pipeline(
                cfg, frontend, copies["valid"], MAEST_TASK, False
            )
            schedule = maest_learning_rate(cfg.learning_rate, cfg.epochs, steps)
            tagger = recipe.tagger_model(
                cfg, preprocessor, vocabulary, schedule
            )
        embedder = AudioEmbedder(
            tagger.backbone,
            preprocessor,
            block=config["block"],
            token="stack",
            name="maest_embedder",
        )

        def tags(model):
            return track_tag_outputs(
                model, copies["test"], MAEST_TASK, batch_size=32
            )

        features = {
            0: split_features(
                embedder, copies, cfg.segment, embeddings, derived
            )
        }
        outputs = {"untrained": tags(tagger)}
        print(
            f"maest seed {seed}: untrained embeddings and tags in "
            f"{time.time() - started:.0f} s (since the start)"
        )
        curve = {"epoch": [], "loss": [], "accuracy": [], "seconds": []}
        callbacks = [
            checkpoint_curve(tagger, "", (), curve, {}, accuracy="val_roc_auc")
        ]
        if cfg.swa:
            callbacks.append(maest_swa(cfg.epochs))
        recipe.fit(
            tagger,
            train,
            validation_data=valid,
            epochs=cfg.epochs,
            steps_per_epoch=steps,
            callbacks=callbacks,
            shuffle=False,
            verbose=2,
        )
        embedder.save(os.path.join(folder, "encoder.keras"))
        tagger.save(os.path.join(folder, "tagger.keras"))
        features[cfg.epochs] = split_features(
            embedder, copies, cfg.segment, embeddings, derived
        )
        outputs["supervised"] = tags(tagger)
        print(
            f"maest seed {seed}: trained, embedded and tagged in "
            f"{time.time() - started:.0f} s (since the start)"
        )
        models = {"supervised": tagger}
        for stride in config["time_strides"]:
            copy = MAESTTagger.from_config(tagger.get_config())
            copy.set_weights(tagger.get_weights())
            copy.set_inference_patchout(time_stride=stride)
            models[f"supervised_t{stride}"] = copy
            outputs[f"supervised_t{stride}"] = tags(copy)
        with open(os.path.join(folder, "curve.json"), "w") as stream:
            json.dump(curve, stream)
        runs[seed] = {
            "curve": curve,
            "features": features,
            "seconds": curve["seconds"][-1],
            "outputs": outputs,
        }
    audio, _ = next(
        iter(
            tfrecord_dataset(
                copies["test"],
                segment_seconds=cfg.segment,
                task=MAEST_TASK,
                mode="center",
                batch_size=config["throughput_batch"],
            )
        )
    )
    timings = patchout_timings(
        models, frontend(audio), config["throughput_repeats"]
    )
    print(
        f"maest: patchout tags and timings done in "
        f"{time.time() - started:.0f} s (since the start)"
    )
    return runs, timings, resampling


def maest_protocol(probe_epochs):
    """MAEST's probe protocol (an MLP of 512, AdamW 1e-3, warm-up, the
    best valid epoch), `probe_epochs` long."""
    from keras_music.evaluation.probe_protocol import get_probe_protocol

    return get_probe_protocol(
        "maest",
        epochs=probe_epochs,
        warmup_epochs=min(10, probe_epochs - 1),
    )


def maest_rows(config, splits, derived, output, seeds):
    """Trains, scores and probes MAEST; returns `(rows, curves,
    seconds)`."""
    started = time.time()
    runs, timings, resampling = maest_runs(
        config, splits, derived, output, seeds
    )
    probed = {
        "supervised": {
            seed: {k: run[k] for k in ("curve", "features", "seconds")}
            for seed, run in runs.items()
        }
    }
    rows, curves = run_rows(
        "maest",
        probed,
        {"supervised": ("supervised", "untrained")},
        config,
        derived,
        maest_protocol,
    )

    def outputs(init):
        return [runs[seed]["outputs"][init] for seed in seeds]

    groups = tune_groups(outputs("supervised")[0]["track_ids"], derived["test"])
    for init in outputs_of(config):
        rows += tag_rows(
            "maest",
            MAEST_TASK,
            init,
            outputs(init),
            groups,
            FLAGS.bootstrap,
            reference=None
            if init in ("untrained", "supervised")
            else outputs("supervised"),
        )
    for init, seconds in timings.items():
        rows.append(
            throughput_row(
                "maest",
                init,
                seconds,
                config["throughput_batch"],
                FLAGS.bootstrap,
            )
        )
    seconds = total_seconds(probed, started)
    seconds["resampling"] = resampling
    return rows, curves, seconds


def outputs_of(config):
    """The tagging inits of a MAEST run: untrained, supervised, and
    supervised with each inference patchout."""
    strides = config["time_strides"]
    return ["untrained", "supervised", *[f"supervised_t{t}" for t in strides]]


def maest_claims(rows, strides):
    """MAEST's claims, each seen / not seen, from the rows alone: the
    tagger beats its untrained self, inference patchout trades ROC-AUC
    for throughput (the paper's Fig. 3), and the probes' claims."""
    sup = find(rows, "maest", MAEST_TASK, "supervised", "roc_auc")
    unt = find(rows, "maest", MAEST_TASK, "untrained", "roc_auc")
    claim = (
        f"supervised > untrained (test ROC-AUC, macro over the "
        f"{MAEST_TASK} tags, non-overlapping 95% CIs)"
    )
    if sup and unt:
        seen = "seen" if compare(sup, unt) == ">" else "not seen"
        pr = [
            find(rows, "maest", MAEST_TASK, i, "pr_auc")
            for i in ("supervised", "untrained")
        ]
        lines = [
            f"- {claim}: **{seen}** (supervised {figure(sup)}, untrained "
            f"{figure(unt)}; PR-AUC {figure(pr[0])} against {figure(pr[1])})."
        ]
    else:
        lines = [f"- {claim}: not run."]
    inits = ["supervised", *[f"supervised_t{t}" for t in strides]]
    rates = [
        find(rows, "maest", "throughput", i, "clips_per_second") for i in inits
    ]
    drops = [
        find(rows, "maest", MAEST_TASK, i, "roc_auc_drop") for i in inits[1:]
    ]
    claim = (
        "inference patchout: throughput increases with the time stride T "
        f"({', '.join(f'T={t}' for t in strides)}; no patchout first; "
        "non-overlapping 95% CIs), at a cost in ROC-AUC stated with its CI"
    )
    if all(rates) and all(drops):
        seen = all(compare(b, a) == ">" for a, b in zip(rates, rates[1:]))
        speeds = ", ".join(
            f"{'none' if i == 'supervised' else 'T=' + i.split('_t')[1]} "
            f"{rate_figure(r)}"
            for i, r in zip(inits, rates)
        )
        costs = ", ".join(f"T={t} {figure(d)}" for t, d in zip(strides, drops))
        lines.append(
            f"- {claim}: **{'seen' if seen else 'not seen'}** (clips/s: "
            f"{speeds}; ROC-AUC drop against no patchout, paired over the "
            f"test tunes: {costs})."
        )
    else:
        lines.append(f"- {claim}: not run.")
    return lines + claims(rows, "maest")


CLAIMS["maest"] = (
    (
        "supervised",
        "untrained",
        "frozen embeddings of the trained tagger (block 2) > its untrained "
        "self (logistic probe, accuracy, non-overlapping 95% CIs) on at "
        "least one task and untrained significantly better on none",
    ),
)
PLOTTED["maest"] = (("supervised", "C0", "untrained"),)
LOSS_NAMES["maest"] = "binary cross-entropy"
SECOND_CURVE["maest"] = ("val_roc_auc", "ROC-AUC (valid)")


def maest_plot(path, rows, curves, method, checkpoints):
    """The paper's Fig. 3 (throughput against test ROC-AUC under inference
    patchout), the training curves, and the probes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure_, axes = plt.subplots(1, 4, figsize=(18, 3.8))
    axis = axes[0]
    inits = [
        r["init"]
        for r in rows
        if (r["method"], r["task"]) == (method, "throughput")
    ]
    for i, init in enumerate(inits):
        rate = find(rows, method, "throughput", init, "clips_per_second")
        auc = find(rows, method, MAEST_TASK, init, "roc_auc")
        if not (rate and auc):
            continue
        label = "no patchout" if init == "supervised" else "T=" + init[12:]
        axis.errorbar(
            rate["mean"],
            auc["mean"],
            xerr=[
                [rate["mean"] - rate["ci_low"]],
                [rate["ci_high"] - rate["mean"]],
            ],
            yerr=[
                [auc["mean"] - auc["ci_low"]],
                [auc["ci_high"] - auc["mean"]],
            ],
            fmt="o",
            color=f"C{i}",
            capsize=3,
            label=label,
        )
    untrained = find(rows, method, MAEST_TASK, "untrained", "roc_auc")
    if untrained:
        axis.axhline(untrained["mean"], color="grey", ls=":", label="untrained")
        axis.axhspan(
            untrained["ci_low"], untrained["ci_high"], color="grey", alpha=0.1
        )
    axis.set_xlabel("throughput (clips/s, one CPU process)")
    axis.set_ylabel(f"test ROC-AUC ({MAEST_TASK} tags)")
    axis.set_title("inference patchout (the paper's Fig. 3)")
    axis.legend(fontsize=7)
    pretext = curves.get("supervised", {}).get("pretext", [])
    for axis, key, title in (
        (axes[1], "loss", "binary cross-entropy (train)"),
        (axes[2], "accuracy", "ROC-AUC (valid)"),
    ):
        for i, curve in enumerate(pretext):
            axis.plot(curve["epoch"], curve[key], "o-", color=f"C{i}")
        axis.set_title(title)
        axis.set_xlabel("epoch")
    axis = axes[3]
    for j, (init, colour) in enumerate(
        (("untrained", "C3"), ("supervised", "C0"), ("baseline_logmel", "C2"))
    ):
        points = [find(rows, method, task, init) for task in TASKS]
        x = np.arange(len(TASKS)) + (j - 1) * 0.27
        keep = [p is not None for p in points]
        if not any(keep):
            continue
        m = np.array([p["mean"] if p else np.nan for p in points])
        lo = np.array([p["ci_low"] if p else np.nan for p in points])
        hi = np.array([p["ci_high"] if p else np.nan for p in points])
        axis.bar(
            x,
            m,
            0.27,
            yerr=[m - lo, hi - m],
            color=colour,
            label=init,
            capsize=2,
        )
    axis.set_xticks(np.arange(len(TASKS)), TASKS, fontsize=8)
    axis.set_ylabel("test accuracy (logistic probe)")
    axis.set_title("frozen block-2 embeddings")
    axis.legend(fontsize=7)
    figure_.tight_layout()
    figure_.savefig(path, dpi=90)
    plt.close(figure_)


def rate_figure(row):
    return f"{row['mean']:.1f} [{row['ci_low']:.1f}, {row['ci_high']:.1f}]"


def maest_tag_table(rows, inits):
    lines = [
        "| init | ROC-AUC | PR-AUC | ROC-AUC drop | clips/s |",
        "|---|---|---|---|---|",
    ]
    for init in inits:
        cells = [
            find(rows, "maest", MAEST_TASK, init, "roc_auc"),
            find(rows, "maest", MAEST_TASK, init, "pr_auc"),
            find(rows, "maest", MAEST_TASK, init, "roc_auc_drop"),
            find(rows, "maest", "throughput", init, "clips_per_second"),
        ]
        lines.append(
            f"| {init} | "
            + " | ".join(
                "–"
                if c is None
                else rate_figure(c)
                if c["metric"] == "clips_per_second"
                else figure(c)
                for c in cells
            )
            + " |"
        )
    return lines


def section_header(method, command, info, seeds):
    """A method section's title, plot and the run's command, commit,
    machine and mode."""
    mode = "full"
    if FLAGS.quick:
        mode = "quick (a check of the pipeline, not a result)"
    return [
        f"## {method}",
        "",
        f"![{method}]({method}.png)",
        "",
        f"Command: `{command}`  ",
        f"Commit: {info['commit']}  ",
        f"Machine: {info['machine']}  ",
        f"Mode: {mode}; seeds {[str(s) for s in seeds]}; "
        f"{FLAGS.bootstrap} bootstrap resamples.",
        "",
    ]


def maest_section(rows, method, config, seconds, command, info, seeds):
    inits = ["majority", "baseline_logmel", "baseline_logmel_rp"]
    inits += ["untrained", "supervised"]
    loss = find(rows, method, "pretext", "supervised", "pretext_loss")
    valid = find(rows, method, "pretext", "supervised", "val_roc_auc")
    strides = config["time_strides"]
    columns = maest_time_columns(config)
    return [
        *section_header(method, command, info, seeds),
        f"MAEST: `recipes/maest.py`'s `Config`, `audio_preprocessor`, "
        f"`input_pipeline`, `epoch_steps`, `tagger_model` and `fit` "
        f"(`MAESTTagger` of the preset `{config['preset']}`, width 128, 4 "
        f"blocks, on {config['segment_seconds']} s segments, a grid of 9 x "
        f"{columns} patches, 96-band log-mel at 16 kHz) trained as the recipe "
        f"trains it on the corpus's `{MAEST_TASK}` tags (multi-label, "
        "binary cross-entropy; the corpus's clips resampled to 16 kHz by "
        "the library's writer), AdamW (peak "
        f"{config['learning_rate']}, weight decay {MAEST_WEIGHT_DECAY}) "
        "with MAEST's warm-up / plateau / linear decay scaled to "
        f"{config['epochs']} epochs (`maest_learning_rate`), mixup "
        f"(alpha {FLAGS.mixup_alpha}), SpecAugment "
        f"({FLAGS.spec_augment}), balanced draws ({FLAGS.balanced}; an "
        "epoch: one draw of the training clips), SWA "
        f"({FLAGS.swa}; `maest_swa`), training patchout "
        f"{config['train_time_patchout']} of {columns} time columns and "
        f"{FLAGS.patchout_freq} of 9 frequency rows, batch "
        f"{config['batch_size']}; seeds {seeds}. `untrained` is the same "
        "model before training. Tags: the mean of the tagger's outputs "
        "over the half-overlapped 5 s segments of each 6 s test clip "
        "(`track_tag_outputs`). Inference patchout `supervised_t<T>`: the "
        "trained tagger keeping one time column in T "
        "(`set_inference_patchout`); its throughput is the tagger alone "
        f"on a batch of {config['throughput_batch']} log-mel segments, "
        f"median of {config['throughput_repeats']} calls per setting, "
        "the settings called in turn in one process (the interval: a "
        "bootstrap over the calls); the ROC-AUC drop is paired (the same "
        "tunes drawn for both). The probes read the frozen embeddings of "
        f"block {config['block']} of 4 (1-based), the stacked `cls`, "
        "`dist` and average tokens (384-d, `AudioEmbedder`), averaged "
        "over the segments of each clip.",
        "",
        f"Time on this machine: training {seconds['pre-training']:.0f} s "
        f"(all seeds), all {seconds['all']:.0f} s (of which "
        f"{seconds['resampling']:.0f} s for the 16 kHz copies of the "
        "corpus, written once into its cache).",
        "",
        "Training (final epoch; range over seeds):"
        + (
            f" binary cross-entropy (train, mixup targets) {figure(loss)}, "
            f"validation ROC-AUC {figure(valid)} (before SWA)."
            if loss and valid
            else " –"
        ),
        "",
        f"Test tagging ({MAEST_TASK}, macro over tags; clips/s: the "
        "tagger on log-mel input):",
        "",
        *maest_tag_table(rows, outputs_of(config)[:2]),
        *maest_tag_table(rows, [f"supervised_t{t}" for t in strides])[2:],
        "",
        "Test accuracy, logistic-regression probe (C chosen on valid):",
        "",
        *table(rows, method, inits),
        "",
        "Test macro F1, same probe:",
        "",
        *table(rows, method, inits, "macro_f1"),
        "",
        "Test accuracy, the library's `maest` protocol (an MLP of 512 "
        "with dropout, AdamW 1e-3, warm-up, best valid epoch; "
        f"{config['probe_epochs']} epochs):",
        "",
        *table(rows, method, ["untrained", "supervised"], "accuracy_protocol"),
        "",
        "Label fractions (logistic probe, test accuracy):",
        "",
        *table(
            rows,
            method,
            [
                "untrained_labels1pct",
                "untrained_labels10pct",
                "untrained",
                "supervised_labels1pct",
                "supervised_labels10pct",
                "supervised",
            ],
        ),
        "",
        "The embeddings (train split; as for the other methods):",
        "",
        *embedding_table(rows, method, ["untrained", "supervised"]),
        "",
        "Claims:",
        "",
        *maest_claims(rows, strides),
    ]


MAEST_ENCODER_NOTE = (
    "`maest` (`supervised_seed<seed>`): mono float32 waveform of 5 s at "
    f"{MAEST_SAMPLE_RATE} Hz, shape `(batch, 80000)` -> log-mel and MAEST "
    "(inside the model) -> block 2's stacked `cls`, `dist` and average "
    "tokens `(batch, 384)` (`AudioEmbedder`); the probes used the mean "
    "over the half-overlapped 5 s segments of each clip. Beside it, "
    "`tagger.keras`: the trained `MAESTTagger` (log-mel -> "
    f"`{MAEST_TASK}` tag probabilities, with its preprocessor and tag names)."
)
PLOTS = {"maest": maest_plot}
SECTIONS = {"maest": maest_section}


def machine():
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", ""
    import tensorflow as tf

    return {
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
        f"{platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}, TensorFlow {tf.__version__}",
    }


def task_counts(derived):
    lines = [
        "| task | classes | train | valid | test |",
        "|---|---|---|---|---|",
    ]
    for task in TASKS:
        counts = [
            int((derived[s]["labels"][task] >= 0).sum())
            for s in ("train", "valid", "test")
        ]
        lines.append(
            f"| {task} | {num_classes(task)} | "
            + " | ".join(map(str, counts))
            + " |"
        )
    return lines


def report_sections(path):
    """`(header run lines, {method: section lines})` of an earlier
    STUDY.md, or `([], {})`. The header's run lines (`Command:`,
    `Commit:`, `Machine:`, `Mode:`) are those of a report that had one
    run for all its methods."""
    if not os.path.isfile(path):
        return [], {}
    with open(path) as stream:
        lines = stream.read().split("\n")
    header, sections, current = [], {}, None
    for line in lines:
        if line.startswith("## "):
            name = line[3:].strip()
            current = name if name in METHODS else None
            if current:
                sections[current] = []
        if current:
            sections[current].append(line)
        elif not sections and line.startswith(RUN_LINES):
            header.append(line)
    for section in sections.values():
        while section and not section[-1].strip():
            section.pop()
        if header and not any(x.startswith("Command:") for x in section):
            # One run line block per method: the old header's goes into
            # its sections.
            section[4:4] = [*header, ""]
    return header, sections


RUN_LINES = ("Command:", "Commit:", "Machine:", "Mode:")


def pretext_lines(rows, method, config):
    lines = []
    for name, _, _ in PLOTTED[method]:
        loss = find(rows, method, "pretext", name, "pretext_loss")
        acc = find(rows, method, "pretext", name, SECOND_CURVE[method][0])
        if not (loss and acc):
            continue
        if method == "pase_plus":
            lines.append(
                f"- {name}: multi-task loss (train, weighted sum) "
                f"{figure(loss)}, validation loss {figure(acc)}"
            )
            continue
        if method == "s3t":
            chance = (
                f"chance {1 / (config['queue_size'] + 1):.4f}: the positive "
                f"among {config['queue_size']} queued negatives"
            )
        else:
            chance = (
                f"chance {1 / (2 * config['batch_size'] - 1):.3f} at batch "
                f"{config['batch_size']}"
            )
        lines.append(
            f"- {name}: {LOSS_NAMES[method]} loss {loss['mean']:.3f} "
            f"[{loss['ci_low']:.3f}, {loss['ci_high']:.3f}], contrastive "
            f"accuracy {acc['mean']:.3f} [{acc['ci_low']:.3f}, "
            f"{acc['ci_high']:.3f}] ({chance})"
        )
    return lines


def method_setting(method, config, seeds):
    """What was pre-trained, in a sentence."""
    if method == "s3t":
        return (
            f"S3T: the Swin preset `swin_mini` on the 84-bin CQT of the "
            f"{config['clip_seconds']:g} s clips (hop 512, no time "
            "compression, standardised per clip; `recipes/s3t.py`'s "
            "`frontend`, `preprocessor`, `pretraining_views` with "
            "`S3TAugment`, `moco_model` and `audio_encoder`), Time Folding "
            "(twice to 168 x 168) with the paper's augmentations "
            "(`pretrained`) and with crops only (`crop_only`: two crops of "
            "50-90% of the clip stretched to the view, no other "
            "augmentation), and Frequency Tiling "
            "(`freq_tiling`), MoCo v2 with queue "
            f"{config['queue_size']}, momentum {config['momentum']}, "
            f"temperature {FLAGS.moco_temperature}, AdamW peak learning rate "
            f"{FLAGS.moco_learning_rate} (weight decay "
            f"{FLAGS.weight_decay}, cosine decay after a 5% warm-up), batch "
            f"{config['batch_size']}, {config['epochs']} epochs of "
            f"{config['steps_per_epoch']} steps; seeds {seeds} (Frequency "
            f"Tiling: {[int(x) for x in FLAGS.tiling_seeds or seeds]}). Each "
            "variant's random init is the same encoder before pre-training."
        )
    if method == "pase_plus":
        return (
            "PASE+: `recipes/pase.py`'s encoder and pre-trainer "
            "(`Config`, `chunks`, `pretrainer_model`: `PASEPlusBackbone` at "
            "the CPU demo's widths, an eighth of the paper's, 64-d frames "
            "every 10 ms, 134 k parameters; `MultiTaskPretrainer` with the "
            f"workers {FLAGS.workers} and the demo's narrowed waveform "
            "decoder, Adam 1e-3) on random 1 s chunks of "
            f"{config['pretraining_clips'][0]} training clips spread over "
            "the train split (validation: the centre chunk of "
            f"{config['pretraining_clips'][1]} valid clips), batch "
            f"{config['batch_size']}, "
            f"{config['epochs']} epochs of {config['steps_per_epoch']} steps; "
            "the corpus's clips resampled to 16 kHz with the library's writer "
            "(`write_tfrecords`, `keras_music.layers.resample`), the workers' "
            "targets "
            "(`pase_targets`) computed once on the train and valid copies. "
            "`pretrained`: all workers equal; `reweighted`: a fresh encoder "
            "of the same seed trained with each worker's weight 1 / its mean "
            "validation loss over the equal run's first "
            f"{min(10, config['epochs'])} epochs "
            "(`MultiTaskPretrainer.reweighted_loss_weights`); both start "
            "from the same random init (`random`, checked). The probes read "
            "the frame embeddings averaged over the whole 6 s clip "
            f"(`AudioEmbedder`). Seeds {seeds}."
        )
    if method == "multiformat":
        return (
            "Multi-format: `recipes/multiformat.py`'s CPU demo (`config`, "
            "`views`, `sample_cnn`, `resnet`, `simclr_model`, "
            "`audio_encoder`): the waveform encoder "
            "`sample_cnn_multiformat` at an eighth of its width (64-d) on "
            "59,049-sample views with the paper's waveform augmentations "
            "(crops, white noise, gain, filter, pitch shift), and the "
            "spectrogram encoder `resnet18` at a quarter of its width "
            "(128-d) on 128-band log-mel spectrograms (FFT 2048, hop 512) "
            "of such views with noise and frequency / time masking; each "
            "trained on its own with SimCLR (projection 128, temperature "
            f"{FLAGS.temperature}, AdamW {FLAGS.learning_rate}, weight decay "
            f"{MULTIFORMAT_WEIGHT_DECAY:g}), batch {config['batch_size']}, "
            f"{config['epochs']} epochs of {config['steps_per_epoch']} "
            f"steps; seeds {seeds}. Inits: `waveform`, `spectrogram` (each "
            "encoder alone), `concat` (feature-level fusion: one probe on "
            "the two embeddings side by side, 192-d), `weighted` "
            "(decision-level fusion: one logistic probe per encoder, test "
            "probabilities `w p_waveform + (1 - w) p_spectrogram` with `w` "
            "in 0, 0.1, ..., 1 chosen on valid, `best_fusion_weight`); "
            "`<init>_random`: the same encoders before pre-training (seed "
            "for seed), probed and fused the same way. The probes read the "
            "mean embedding over half-overlapped 59,049-sample segments of "
            "each clip."
        )
    return (
        "CLMR: SampleCNN at an eighth of its width, SimCLR (projection 64, "
        f"temperature {FLAGS.temperature}, AdamW {FLAGS.learning_rate}), "
        f"batch {config['batch_size']}, {config['epochs']} epochs of "
        f"{config['steps_per_epoch']} steps, with all augmentations "
        f"(`pretrained`) and crops only (`crop_only`); seeds {seeds}."
    )


PROTOCOL_NOTES = {
    "pase_plus": "the library's `pase` protocol (linear head, Adam 1e-3, "
    "batch 64, early stopping on the valid loss with patience 10, as "
    "`recipes/pase.py`'s frozen scenario; final checkpoint)",
    "clmr": "the library's linear protocol "
    "(`recipes/contrastive_common.linear_protocol`, final checkpoint)",
    "s3t": "the library's `s3t` protocol (linear head, AdamW 1e-3, cosine, "
    "batch 64 as `recipes/s3t.py` runs it on the corpus, best valid epoch; "
    "final checkpoint)",
    "multiformat": "the library's multi-format linear protocol "
    "(`embedding_fusion.linear_protocol`, one trial; final checkpoint; not "
    "run for the weighted fusion)",
}


def method_section(rows, method, config, seconds, command, info, seeds):
    finals = [name for name, _, _ in PLOTTED[method]]
    randoms = list(dict.fromkeys(random for _, _, random in PLOTTED[method]))
    first, _, first_random = PLOTTED[method][0]
    inits = [
        "majority",
        "baseline_logmel",
        "baseline_logmel_rp",
        *randoms,
        *finals,
    ]
    return [
        *section_header(method, command, info, seeds),
        method_setting(method, config, seeds),
        "",
        "Time on this machine: pre-training "
        f"{seconds['pre-training']:.0f} s (all runs), "
        f"pre-training and probing {seconds['all']:.0f} s"
        + (
            f" (of which {seconds['resampling']:.0f} s for the 16 kHz copies "
            "of the corpus and the workers' targets, written once into the "
            "corpus's cache and reused by later runs)."
            if "resampling" in seconds
            else "."
        ),
        "",
        "Pre-training (final epoch; range over seeds):",
        "",
        *pretext_lines(rows, method, config),
        "",
        "Test accuracy, logistic-regression probe (C chosen on valid; "
        "`baseline_logmel_rp`: the log-mel statistics through a random "
        "Gaussian projection to the encoder's width):",
        "",
        *table(rows, method, inits),
        "",
        "Test macro F1, same probe:",
        "",
        *table(rows, method, inits, "macro_f1"),
        "",
        f"Test accuracy, {PROTOCOL_NOTES[method]}:",
        "",
        *table(rows, method, [*randoms, *finals], "accuracy_protocol"),
        "",
        "Label fractions (logistic probe, test accuracy):",
        "",
        *table(
            rows,
            method,
            [
                f"{first_random}_labels1pct",
                f"{first_random}_labels10pct",
                first_random,
                f"{first}_labels1pct",
                f"{first}_labels10pct",
                first,
            ],
        ),
        "",
        "The embeddings (train split; width, effective rank: the "
        "exponential of the entropy of the singular-value spectrum, dead "
        "dimensions: standard deviation < 1e-6; range over seeds):",
        "",
        *embedding_table(rows, method, [*randoms, *finals]),
        "",
        *(
            [
                "Per-worker loss scales (the paper's Fig. 4: each worker's "
                "mean validation loss over the first "
                f"{min(10, config['epochs'])} epochs times its weight; "
                "range over seeds; `max_over_min`: the largest over the "
                "smallest):",
                "",
                *loss_scale_table(rows),
                "",
            ]
            if method == "pase_plus"
            else []
        ),
        *(
            [
                "Weighted fusion: the weight `w` of the waveform probe "
                "chosen on valid (range over seeds):",
                "",
                *fusion_weight_lines(rows),
                "",
            ]
            if method == "multiformat"
            else []
        ),
        "Claims:",
        "",
        *claims(rows, method),
    ]


def embedding_table(rows, method, inits):
    lines = ["| init | dim | effective rank | dead dims |", "|---|---|---|---|"]
    for init in inits:
        cells = []
        for metric in ("dim", "effective_rank", "dead_dims"):
            row = find(rows, method, "embedding", init, metric)
            cells.append(
                "–"
                if row is None
                else f"{row['mean']:.1f}"
                if row["ci_low"] == row["ci_high"]
                else f"{row['mean']:.1f} [{row['ci_low']:.1f}, "
                f"{row['ci_high']:.1f}]"
            )
        lines.append(f"| {init} | " + " | ".join(cells) + " |")
    return lines


ENCODER_NOTES = {
    "pase_plus": "`pase_plus` (`equal_seed<seed>`, `reweighted_seed<seed>`): "
    f"mono float32 waveform at {PASE_SAMPLE_RATE} Hz, shape `(batch, "
    "samples)`, any length of at least 160 samples (the probes used the "
    "whole 6 s clip, 96,000 samples) -> the PASE+ frames averaged over "
    "time `(batch, 64)` (`AudioEmbedder`).",
    "clmr": "`clmr`: mono float32 waveform of 59,049 samples at "
    f"{SAMPLE_RATE} Hz, shape `(batch, 59049)` -> the SampleCNN "
    "embedding `(batch, d)`; the probes used the mean of these embeddings "
    "over half-overlapped 59,049-sample segments of each clip.",
    "s3t": "`s3t` (`time_folding_seed<seed>`, `crop_only_seed<seed>`, "
    "`frequency_tiling_seed<seed>`):"
    " mono float32 waveform of 6 s, 132,300 samples at "
    f"{SAMPLE_RATE} Hz, shape `(batch, 132300)` -> CQT, standardisation, "
    "Time Folding or Frequency Tiling and Swin (all inside the model) -> "
    "the pooled Swin embedding `(batch, 64)`, the probes' input (one "
    "segment per clip).",
    "multiformat": "`multiformat` (`waveform_seed<seed>`, "
    "`spectrogram_seed<seed>`): mono float32 waveform of 59,049 samples at "
    f"{SAMPLE_RATE} Hz, shape `(batch, 59049)` -> the SampleCNN embedding "
    "`(batch, 64)` (waveform), or -> 128-band log-mel and ResNet-18 (inside "
    "the model) -> `(batch, 128)` (spectrogram); the probes used the mean "
    "of these embeddings over half-overlapped 59,049-sample segments of "
    "each clip, and `concat` the two side by side.",
}


ENCODER_NOTES["maest"] = MAEST_ENCODER_NOTE


def write_report(path, rows, config, derived, sections):
    """STUDY.md: the corpus, then `sections` (method -> lines) in
    `METHODS` order, then how to load the encoders."""
    test_tunes = len(set(derived["test"]["groups"].tolist()))
    lines = [
        "# Reproduction study at CPU scale",
        "",
        "Every figure is the test mean with a 95% percentile-bootstrap "
        "interval: each resample draws the test tunes with replacement (the "
        "clips of a tune together) and, with several seeds, the "
        "pre-training seeds with replacement. `study.csv` holds every "
        "figure, one row each. Each method's section says the command, "
        "commit and machine of its run.",
        "",
        "## Evaluation corpus and tasks",
        "",
        f"The built-in corpus, {config['corpus_clips']} clips of "
        f"{config['clip_seconds']:g} s at {SAMPLE_RATE} Hz, split by tune "
        f"70/10/20% ({len(derived['test']['groups'])} test clips from "
        f"{test_tunes} tunes). Labelled clips per task:",
        "",
        *task_counts(derived),
        "",
        "`dance` and `style` are the corpus's labels; `metre` (simple "
        "duple / simple triple / compound, from the ABC `M:` field), `key` "
        "(major tonic of the key signature after the clip's transposition) "
        "and `note_rate` (terciles, on the train split, of the running "
        "notes per second the clip is played at) are derived by "
        "`derive_tasks` in `benchmarks/study.py`.",
        "",
    ]
    methods = [m for m in METHODS if m in sections]
    for method in methods:
        lines += [*sections[method], ""]
    lines += [
        "## The encoders",
        "",
        f"Each pre-trained encoder is kept as `{FLAGS.output}/<method>/"
        "<variant>_seed<seed>/encoder.keras` (not committed). Load it in a "
        "fresh process with `keras.saving.load_model(path)` after "
        "`import keras_music`. Input and output:",
        "",
        *[f"- {ENCODER_NOTES[m]}" for m in methods],
        "",
    ]
    with open(path, "w") as stream:
        stream.write("\n".join(lines))


def method_config(method):
    """The corpus and `method`'s pre-training budget, with the flags'
    overrides."""
    config = dict(QUICK if FLAGS.quick else FULL)
    if method == "s3t":
        config.update(S3T_QUICK if FLAGS.quick else S3T_FULL)
        config["queue_size"] = FLAGS.queue_size or config["queue_size"]
        config["momentum"] = FLAGS.momentum or 0.99
    if method == "pase_plus":
        config.update(PASE_QUICK if FLAGS.quick else PASE_FULL)
    if method == "maest":
        config.update(MAEST_QUICK if FLAGS.quick else MAEST_FULL)
    if method == "multiformat":
        config.update(MULTIFORMAT_QUICK if FLAGS.quick else MULTIFORMAT_FULL)
    for key in ("epochs", "steps_per_epoch", "batch_size"):
        if getattr(FLAGS, key):
            config[key] = getattr(FLAGS, key)
    if FLAGS.epochs:
        # Probed: the random init, half-way and the end.
        config["checkpoints"] = tuple(
            sorted({0, config["epochs"] // 2, config["epochs"]})
        )
    return config


RUNNERS = {
    "clmr": clmr_rows,
    "s3t": s3t_rows,
    "pase_plus": pase_rows,
    "maest": maest_rows,
    "multiformat": multiformat_rows,
}


def main(_):
    import keras

    import keras_music  # noqa: F401  (sets the Keras backend)
    from keras_music.data.tune_corpus import build_tune_corpus

    unknown = sorted(set(FLAGS.methods) - set(IMPLEMENTED))
    if unknown:
        raise ValueError(
            f"`--methods` must be among {IMPLEMENTED} (the others are not "
            f"in the study yet). Received: --methods={FLAGS.methods}"
        )
    if not FLAGS.s3t_variants or not set(FLAGS.s3t_variants) <= set(
        S3T_VARIANTS
    ):
        raise ValueError(
            f"`--s3t_variants` must be among {list(S3T_VARIANTS)}. "
            f"Received: --s3t_variants={FLAGS.s3t_variants}"
        )
    config = method_config(FLAGS.methods[0])
    seeds = [int(s) for s in FLAGS.seeds]
    # Where the files went is not part of the run (nor a path of this
    # machine to commit): the command is recorded without it.
    kept, skip = [], False
    for argument in sys.argv[1:]:
        name = argument.split("=")[0]
        if skip or name in ("--results", "--output"):
            skip = not skip and "=" not in argument
            continue
        kept.append(argument)
    command = "python benchmarks/study.py " + " ".join(kept)
    os.makedirs(FLAGS.output, exist_ok=True)
    os.makedirs(FLAGS.results, exist_ok=True)
    info = machine()
    started = time.time()

    # The rows and sections of the methods not run now are kept.
    csv_path = os.path.join(FLAGS.results, "study.csv")
    report_path = os.path.join(FLAGS.results, "STUDY.md")
    kept = read_csv(csv_path) if os.path.isfile(csv_path) else []
    kept = [r for r in kept if r["method"] not in FLAGS.methods]
    _, sections = report_sections(report_path)
    sections = {
        m: lines for m, lines in sections.items() if m not in FLAGS.methods
    }
    kept_methods = {r["method"] for r in kept}
    sections = {m: v for m, v in sections.items() if m in kept_methods}

    splits = build_tune_corpus(
        num_clips=config["corpus_clips"],
        clip_seconds=config["clip_seconds"],
        sample_rate=SAMPLE_RATE,
        seed=0,
        split_fractions=(0.7, 0.1, 0.2),
        cache_dir=FLAGS.cache_dir,
        num_workers=FLAGS.num_workers,
    )
    derived = derive_tasks(splits, FLAGS.cache_dir)
    print(f"corpus and tasks ready in {time.time() - started:.0f} s")
    keras.utils.set_random_seed(0)
    baseline = split_features(
        logmel_statistics_encoder(round(config["clip_seconds"] * SAMPLE_RATE)),
        splits,
        config["clip_seconds"],
        os.path.join(FLAGS.output, "embeddings"),
        derived,
    )
    rows = []
    for method in FLAGS.methods:
        config = method_config(method)
        method_rows, curves, seconds = RUNNERS[method](
            config, splits, derived, FLAGS.output, seeds
        )
        random_init = PLOTTED[method][0][2]
        width = find(method_rows, method, "embedding", random_init, "dim")
        rows += (
            baseline_rows(method, baseline, derived, width and width["mean"])
            + method_rows
        )
        PLOTS.get(method, plot)(
            os.path.join(FLAGS.results, f"{method}.png"),
            rows,
            curves,
            method,
            config["checkpoints"],
        )
        sections[method] = SECTIONS.get(method, method_section)(
            rows, method, config, seconds, command, info, seeds
        )
        order = {m: i for i, m in enumerate(METHODS)}
        everything = sorted(
            kept + rows, key=lambda r: order[r["method"]]
        )  # stable: each method's rows in the order they were made
        write_csv(csv_path, everything)
        write_report(report_path, everything, config, derived, sections)
    print(f"study done in {time.time() - started:.0f} s: {report_path}")


if __name__ == "__main__":
    define_flags()
    logging.set_verbosity(logging.WARNING)
    app.run(main)
