"""Writes a dataset as keras_music TFRecords.

A dataset in its official layout, one TFRecord folder per split:

```
python tfrecords/make_tfrecords.py --dataset gtzan --root ~/data/gtzan \
    --output tfrecords/gtzan --sample_rate 16000
python tfrecords/make_tfrecords.py --dataset mtg_jamendo \
    --root ~/data/mtg-jamendo --jamendo_repo ~/src/mtg-jamendo-dataset \
    --jamendo_subset moodtheme --output tfrecords/jamendo_moodtheme
```

`--dataset` is one of gtzan, fma_small, magnatagatune, openmic2018,
extended_ballroom, mtg_jamendo; it writes `OUT/train`, `OUT/valid` and
`OUT/test`, the layout of the built-in corpus, so recipes take `--data OUT`.

A folder of audio files with a labels CSV:

```
python tfrecords/make_tfrecords.py --audio_dir DIR --labels labels.csv \
    --output tfrecords/mydata --sample_rate 16000 \
    [--features none|mel|cqt|pase] [--num_shards N] [--num_workers N]
```

The CSV has a header and a `path` column (relative to `--audio_dir`), and a
`label` column (one class per file: task "label"), a `tags` column (names
separated by `;`: multi-label task "tags"), or both. With a `split` column
(`train`/`valid`/`test`) it writes one folder per split like `--dataset`;
without, the whole CSV goes to `--output`. Vocabularies are the sorted
distinct names. It prints a progress bar, then the skipped files with the
reason and a summary per folder. See tfrecords/README.md for each layout.

`--features pase` stores the audio (at 16 kHz: `--sample_rate` must be
16000) together with the targets of the PASE workers (lps, mfcc, chroma,
tempogram, prosody; `keras_music.features.pase_targets`, 10 ms frames)
for multi-task pre-training (`recipes/pase.py`). The training split is
written first and its per-dimension target mean/std go into every split's
manifest, so that valid and test are normalised with the training
statistics. Without splits, the one folder uses its own statistics.
Computing the targets costs about 1 s of CPU per 30 s of audio (most of
it pYIN for the prosody): use `--num_workers` for large datasets.
"""

import functools
import os
import sys

from absl import app
from absl import flags

# Run as `python tfrecords/make_tfrecords.py` from a checkout: make the
# repository's keras_music importable without installing it.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_music.data.datasets.dataset_layout import SPLITS  # noqa: E402
from keras_music.data.datasets.dataset_layout import DatasetLayout  # noqa: E402
from keras_music.data.datasets.folder_csv import FolderCSV  # noqa: E402
from keras_music.data.datasets.mtg_jamendo import MTG_JAMENDO_SUBSETS  # noqa: E402
from keras_music.data.datasets.registry import DATASET_LAYOUTS  # noqa: E402
from keras_music.data.datasets.registry import get_dataset_layout  # noqa: E402
from keras_music.data.tfrecord_format import read_manifest  # noqa: E402
from keras_music.data.tfrecord_writer import write_tfrecords  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "dataset", None, sorted(DATASET_LAYOUTS), "A dataset in its own layout."
)
flags.DEFINE_string("root", None, "Folder the --dataset was unpacked to.")
flags.DEFINE_string(
    "jamendo_repo", None, "mtg_jamendo: checkout of MTG/mtg-jamendo-dataset."
)
flags.DEFINE_enum(
    "jamendo_subset", "top50tags", MTG_JAMENDO_SUBSETS, "mtg_jamendo: subset."
)
flags.DEFINE_integer("jamendo_split", 0, "mtg_jamendo: split-N folder.")
flags.DEFINE_string("audio_dir", None, "Folder the CSV paths are under.")
flags.DEFINE_string("labels", None, "CSV: path,label and/or tags[,split].")
flags.DEFINE_string("output", None, "Output folder.")
flags.DEFINE_integer("sample_rate", 16000, "Sample rate of stored audio.")
flags.DEFINE_enum(
    "features",
    "none",
    ["none", "mel", "cqt", "pase"],
    "Store audio, features, or audio + PASE worker targets.",
)
flags.DEFINE_enum("audio_format", "int16", ["int16", "float16"], "Storage.")
flags.DEFINE_integer("num_shards", None, "Shards (default: 256 files each).")
flags.DEFINE_integer("num_workers", 1, "Processes decoding audio.")
flags.mark_flags_as_required(["output"])


@flags.multi_flags_validator(
    ["dataset", "root", "audio_dir", "labels", "jamendo_repo"],
    message="Give either --dataset and --root (and --jamendo_repo for "
    "mtg_jamendo, only there), or --audio_dir and --labels.",
)
def _check_mode(values):
    dataset_mode = values["dataset"] is not None and values["root"]
    csv_mode = values["audio_dir"] is not None and values["labels"]
    if values["dataset"] is not None or values["root"] is not None:
        csv_mode = False
    if values["audio_dir"] is not None or values["labels"] is not None:
        dataset_mode = False
    if dataset_mode:
        jamendo = values["dataset"] == "mtg_jamendo"
        return jamendo == (values["jamendo_repo"] is not None)
    return bool(csv_mode) and values["jamendo_repo"] is None


@flags.multi_flags_validator(
    ["features", "sample_rate"],
    message="--features pase needs --sample_rate 16000: the PASE targets "
    "and encoder are defined at 16 kHz (hop 160 = 10 ms).",
)
def _check_pase_rate(values):
    return values["features"] != "pase" or values["sample_rate"] == 16000


def make_layout(
    dataset,
    root,
    jamendo_repo=None,
    jamendo_subset="top50tags",
    jamendo_split=0,
):
    """The `DatasetLayout` the flags name."""
    options = {}
    if dataset == "mtg_jamendo":
        options = dict(
            repo=jamendo_repo, subset=jamendo_subset, split_index=jamendo_split
        )
    return get_dataset_layout(dataset, root, **options)


def make_frontend(name, sample_rate):
    # Imported here: only the chosen frontend needs to exist. Default
    # settings except the rate, which must be the stored audio's.
    if name == "mel":
        from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram

        return LogMelSpectrogram(sample_rate=sample_rate)
    if name == "cqt":
        from keras_music.layers.cqt import CQT

        return CQT(sample_rate=sample_rate)
    return None


def make_targets(name):
    """The frame targets `--features` asks to store, or None."""
    if name == "pase":
        from keras_music.features.pase_targets import frame_targets

        return frame_targets()
    return None


def write(layout, output, sample_rate, targets=None, **writer_kwargs):
    """Writes `layout`; returns `{folder: manifest}`.

    With `targets`, the training split is written first and the other
    splits take its target statistics (`target_statistics_from`).
    """
    if isinstance(layout, FolderCSV) and not layout.has_splits:
        folders = {"all": output}
        write_tfrecords(
            layout.checked_items(None),
            functools.partial(DatasetLayout.load_item, sample_rate=sample_rate),
            output,
            tasks=layout.tasks,
            sample_rate=sample_rate,
            targets=targets,
            **writer_kwargs,
        )
    elif targets is None:
        folders = layout.write_tfrecords(
            output, sample_rate=sample_rate, **writer_kwargs
        )
    else:
        # Listed before any audio is decoded: a malformed row stops at once.
        for split in SPLITS:
            layout.checked_items(split)
        folders = layout.write_tfrecords(
            output,
            sample_rate=sample_rate,
            splits=("train",),
            targets=targets,
            **writer_kwargs,
        )
        folders.update(
            layout.write_tfrecords(
                output,
                sample_rate=sample_rate,
                splits=("valid", "test"),
                targets=targets,
                target_statistics_from=folders["train"],
                **writer_kwargs,
            )
        )
    return {folder: read_manifest(folder) for folder in folders.values()}


def main(_):
    if FLAGS.dataset is not None:
        layout = make_layout(
            FLAGS.dataset,
            FLAGS.root,
            FLAGS.jamendo_repo,
            FLAGS.jamendo_subset,
            FLAGS.jamendo_split,
        )
    else:
        layout = FolderCSV(FLAGS.audio_dir, FLAGS.labels)
    manifests = write(
        layout,
        FLAGS.output,
        FLAGS.sample_rate,
        num_shards=FLAGS.num_shards,
        audio_format=FLAGS.audio_format,
        frontend=make_frontend(FLAGS.features, FLAGS.sample_rate),
        num_workers=FLAGS.num_workers,
        targets=make_targets(FLAGS.features),
    )
    for folder, manifest in manifests.items():
        print(
            f"Wrote {manifest['num_examples']} tracks in "
            f"{len(manifest['shards'])} shards to {folder} "
            f"({len(manifest['skipped'])} skipped)."
        )


if __name__ == "__main__":
    app.run(main)
