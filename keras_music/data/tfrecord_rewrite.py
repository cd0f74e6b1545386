"""Writing a TFRecord folder again, track for track, with frame targets."""

import json
import os

import tensorflow as tf

from keras_music.data import tfrecord_format as fmt
from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track


class _RecordReader:
    """`load_fn` for `write_tfrecords` that reads the tracks of another
    TFRecord folder, one shard at a time (items come in shard order)."""

    def __init__(self, manifest):
        self.manifest = manifest
        self.path, self.records = None, []

    def __call__(self, item):
        path, index, track_id = item
        if path != self.path:
            self.records = list(
                tf.data.TFRecordDataset(path).as_numpy_iterator()
            )
            self.path = path
        parsed = fmt.parse_example(self.records[index], self.manifest)
        labels = {}
        for task, spec in self.manifest["tasks"].items():
            indices = parsed[fmt.label_key(task)].numpy().tolist()
            labels[task] = [spec["vocabulary"][i] for i in indices]
        audio = parsed["data"].numpy()
        return Track(track_id, audio, self.manifest["sample_rate"], labels)


def rewrite_with_targets(source, output, targets, target_statistics_from=None):
    """`source` written again to `output` with frame targets.

    The same tracks, labels, tasks, rate and number of shards, with the
    `targets` computed by `write_tfrecords` (its `targets` argument) and
    normalised with the statistics of this copy or of
    `target_statistics_from`. Like every write, it is atomic per shard and
    resumable; a finished copy is reused.

    Args:
        source: str. A TFRecord folder of audio.
        output: str. The folder to write.
        targets: `FrameTargets` or callable. As `write_tfrecords`'s
            `targets`, e.g. `keras_music.features.pase_targets.
            frame_targets()`.
        target_statistics_from: optional str. A folder written with the
            same targets whose statistics normalise these (the training
            split's, for the validation copy). Defaults to `None`.

    Returns:
        str, `output`.

    Example:

    >>> import tempfile
    >>> from keras_music.data import build_tune_corpus, read_manifest
    >>> root = tempfile.mkdtemp()
    >>> splits = build_tune_corpus(
    ...     num_clips=10, clip_seconds=1.0, cache_dir=root, progress=False
    ... )
    >>> from keras_music.features.pase_targets import frame_targets
    >>> copy = rewrite_with_targets(
    ...     splits["train"], root + "/with_mfcc", frame_targets(["mfcc"])
    ... )
    >>> read_manifest(copy)["targets"]["names"]
    ['mfcc']
    """
    manifest = fmt.read_manifest(source)
    if manifest["data_kind"] != "audio":
        raise ValueError(
            f"`source` must be a TFRecord folder of audio; {source} holds "
            f"{manifest['data_kind']!r}. Received: source={source!r}"
        )
    items = []
    for shard in manifest["shards"]:
        with open(os.path.join(source, shard["index"])) as stream:
            tracks = json.load(stream)["tracks"]
        path = os.path.join(source, shard["file"])
        items += [(path, i, t["track_id"]) for i, t in enumerate(tracks)]
    write_tfrecords(
        items,
        _RecordReader(manifest),
        output,
        tasks=manifest["tasks"],
        sample_rate=manifest["sample_rate"],
        num_shards=len(manifest["shards"]),
        targets=targets,
        target_statistics_from=target_statistics_from,
    )
    return output
