"""Writes a folder of audio files with a labels CSV as keras_music TFRecords.

```
python tfrecords/make_tfrecords.py --audio_dir DIR --labels labels.csv \
    --output tfrecords/mydata --sample_rate 16000 \
    [--features none|mel|cqt] [--num_shards N] [--num_workers N]
```

The CSV has a header and a `path` column (relative to `--audio_dir`), and a
`label` column (one class per file: task "label"), a `tags` column (names
separated by `;`: multi-label task "tags"), or both. Vocabularies are the
sorted distinct names. It prints a progress bar, then the skipped files
with the reason and the manifest summary. See tfrecords/README.md.
"""

import csv
import functools
import os
import sys

from absl import app
from absl import flags

# Run as `python tfrecords/make_tfrecords.py` from a checkout: make the
# repository's keras_music importable without installing it.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_music.data.audio import load_audio  # noqa: E402
from keras_music.data.tfrecord_writer import write_tfrecords  # noqa: E402
from keras_music.data.track import Track  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("audio_dir", None, "Folder the CSV paths are under.")
flags.DEFINE_string("labels", None, "CSV: path,label and/or path,tags.")
flags.DEFINE_string("output", None, "Output folder for shards + manifest.")
flags.DEFINE_integer("sample_rate", 16000, "Sample rate of stored audio.")
flags.DEFINE_enum(
    "features", "none", ["none", "mel", "cqt"], "Store audio or features."
)
flags.DEFINE_enum("audio_format", "int16", ["int16", "float16"], "Storage.")
flags.DEFINE_integer("num_shards", None, "Shards (default: 256 files each).")
flags.DEFINE_integer("num_workers", 1, "Processes decoding audio.")
flags.mark_flags_as_required(["audio_dir", "labels", "output"])


def read_labels_csv(path):
    """`(items, tasks)`: items are `(relative path, {task: [names]})`."""
    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    columns = set(rows[0]) if rows else set()
    if "path" not in columns or not columns & {"label", "tags"}:
        raise ValueError(
            f"{path} must have a header with `path` and `label` and/or "
            f"`tags` columns. Received columns: {sorted(columns)}"
        )
    items, names = [], {"label": set(), "tags": set()}
    for row in rows:
        labels = {}
        if "label" in columns:
            labels["label"] = [row["label"].strip()] if row["label"] else []
        if "tags" in columns:
            tags = (row["tags"] or "").split(";")
            labels["tags"] = sorted({t.strip() for t in tags if t.strip()})
        for task, values in labels.items():
            names[task].update(values)
        items.append((row["path"], labels))
    tasks = {
        task: {"vocabulary": sorted(names[task]), "multi_label": task == "tags"}
        for task in ("label", "tags")
        if task in columns
    }
    return items, tasks


def load_track(item, audio_dir, sample_rate):
    relative_path, labels = item
    audio = load_audio(os.path.join(audio_dir, relative_path), sample_rate)
    return Track(
        track_id=relative_path,
        audio=audio,
        sample_rate=sample_rate,
        labels=labels,
        metadata={"path": relative_path},
    )


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


def main(_):
    items, tasks = read_labels_csv(FLAGS.labels)
    manifest = write_tfrecords(
        items,
        functools.partial(
            load_track,
            audio_dir=FLAGS.audio_dir,
            sample_rate=FLAGS.sample_rate,
        ),
        FLAGS.output,
        tasks=tasks,
        sample_rate=FLAGS.sample_rate,
        num_shards=FLAGS.num_shards,
        audio_format=FLAGS.audio_format,
        frontend=make_frontend(FLAGS.features, FLAGS.sample_rate),
        num_workers=FLAGS.num_workers,
    )
    print(
        f"Wrote {manifest['num_examples']} tracks in "
        f"{len(manifest['shards'])} shards to {FLAGS.output} "
        f"({len(manifest['skipped'])} skipped)."
    )


if __name__ == "__main__":
    app.run(main)
