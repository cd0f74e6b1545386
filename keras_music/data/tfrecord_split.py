"""`TFRecordSplit`: one TFRecord folder's manifest as a frozen object."""

import collections.abc
import dataclasses
import os
import types

import tensorflow as tf

from keras_music.data import tfrecord_format as fmt


@dataclasses.dataclass(frozen=True, eq=False)
class TFRecordSplit(collections.abc.Mapping):
    """A TFRecord folder (one split) as its `manifest.json` describes it.

    The manifest is what readers need to know about a folder written by
    `write_tfrecords`: its sample rate, data kind, tasks and vocabularies,
    shards with their counts and checksums, and the frame-level targets it
    stores. This object gives them names (`split.vocabulary("genre")`,
    `split.segment_rate`, `split.target_names`) instead of nested dict
    keys, and keeps the manifest dict's own keys readable
    (`split["tasks"]`, `split.get("targets")`), so that code written
    against `read_manifest`'s dict reads it unchanged.

    Args:
        directory: str. The folder.
        manifest: dict. Its `manifest.json`, as `read_manifest` returns it.

    Example:

    The manifest of a one-shard audio folder (`TFRecordSplit.read(folder)`
    reads a folder's own, as `read_manifest` does):

    >>> manifest = {
    ...     "sample_rate": 8000, "data_kind": "audio", "num_examples": 1,
    ...     "tasks": {
    ...         "genre": {"vocabulary": ["a", "b"], "multi_label": False}
    ...     },
    ...     "shards": [{"file": "shard-00000-of-00001.tfrecord"}],
    ... }
    >>> split = TFRecordSplit("records/train", manifest)
    >>> split.segment_rate, split.time_axis, split.vocabulary("genre")
    (8000, 0, ['a', 'b'])
    >>> split.shard_path(split.shards[0])
    'records/train/shard-00000-of-00001.tfrecord'
    >>> split["tasks"]["genre"]["multi_label"]
    False
    """

    directory: str
    manifest: dict = dataclasses.field(repr=False)

    @classmethod
    def read(cls, directory):
        """The split in `directory`, its manifest read and checked.

        Raises:
            ValueError: as `read_manifest`: no manifest, or another format
                version.
        """
        directory = os.fspath(directory)
        return cls(directory, fmt.read_manifest(directory))

    # Dict-style access: the manifest's own keys, read-only.
    def __getitem__(self, key):
        return self.manifest[key]

    def __iter__(self):
        return iter(self.manifest)

    def __len__(self):
        return len(self.manifest)

    def __repr__(self):
        return (
            f"TFRecordSplit(directory={self.directory!r}, "
            f"num_examples={self.num_examples}, "
            f"shards={len(self.shards)})"
        )

    @property
    def sample_rate(self):
        """int. The rate of the audio the records were made from, in Hz."""
        return self.manifest["sample_rate"]

    @property
    def data_kind(self):
        """str. `"audio"` (waveforms) or `"features"` (a frontend's)."""
        return self.manifest["data_kind"]

    @property
    def is_features(self):
        """bool. Whether the records hold frontend features."""
        return self.data_kind == "features"

    @property
    def audio_format(self):
        """str or None. `"int16"` or `"float16"` audio; None for features."""
        return self.manifest.get("audio_format")

    @property
    def frame_rate(self):
        """float or None. Feature frames per second; None for audio."""
        return self.manifest.get("frame_rate")

    @property
    def segment_rate(self):
        """float. Steps per second along the time axis the reader cuts."""
        return self.frame_rate if self.is_features else self.sample_rate

    @property
    def time_axis(self):
        """int. The time axis of a record's `data`."""
        return 1 if self.is_features else 0

    @property
    def tasks(self):
        """dict. Task name -> `{"vocabulary": [...], "multi_label": bool}`."""
        return types.MappingProxyType(self.manifest["tasks"])

    @property
    def task_names(self):
        """list. The names of the tasks the records are labelled for."""
        return sorted(self.manifest["tasks"])

    def vocabulary(self, task):
        """list. The class names of `task`, in label-index order."""
        return self.manifest["tasks"][task]["vocabulary"]

    def multi_label(self, task):
        """bool. Whether a track may carry several labels of `task`."""
        return self.manifest["tasks"][task]["multi_label"]

    @property
    def shards(self):
        """tuple. The shard entries: file, index, counts, size, sha256."""
        return tuple(self.manifest["shards"])

    @property
    def num_examples(self):
        """int. Records over all shards."""
        return self.manifest["num_examples"]

    @property
    def label_counts(self):
        """dict. Task -> class name -> number of tracks with that label."""
        return self.manifest["label_counts"]

    @property
    def skipped(self):
        """list. The items the writer skipped, with the reason."""
        return self.manifest["skipped"]

    @property
    def targets(self):
        """dict or None. The frame-level targets' spec and statistics."""
        return self.manifest.get("targets")

    @property
    def target_names(self):
        """list. The names of the stored frame-level targets."""
        return list(self.targets["names"]) if self.targets else []

    @property
    def target_hop(self):
        """int or None. Samples per target frame."""
        return self.targets["hop_length"] if self.targets else None

    def target_normalization(self, name):
        """`(mean, scale)` float32 `(dim,)` of target `name`."""
        return fmt.target_normalization(self.manifest, name)

    def shard_path(self, shard):
        """str. The path of a shard entry's TFRecord file."""
        return os.path.join(self.directory, shard["file"])

    def select(self, pattern):
        """The shard entries of the files a glob matches, in path order.

        Raises:
            ValueError: a matched file is not a shard of this split.
        """
        matches = sorted(tf.io.gfile.glob(pattern))
        by_name = {shard["file"]: shard for shard in self.shards}
        unknown = [m for m in matches if os.path.basename(m) not in by_name]
        if unknown:
            raise ValueError(
                f"`pattern_or_dir` matches files that are not shards listed "
                f"in {self.directory}/{fmt.MANIFEST_NAME}: {unknown}. "
                f"Received: pattern_or_dir={pattern!r}"
            )
        return [by_name[os.path.basename(m)] for m in matches]

    def verify(self, shards=None):
        """Checks shards (all by default) against their size and sha256.

        Raises:
            ValueError: naming the shard that is missing or differs.
        """
        fmt.verify_shards(
            self.directory, self.shards if shards is None else shards
        )
