"""Records and rendered clips pinned byte for byte.

The checksums were taken from the writer and the tune corpus before they
were split into stages: the same inputs must keep giving the same bytes,
so that finished TFRecord folders and corpus caches stay valid.
"""

import hashlib
import json
import os

import numpy as np
import pytest

from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from keras_music.data.tune_corpus import render_tune_clip
from keras_music.data.tune_corpus import tune_corpus_items
from keras_music.features.pase_targets import frame_targets
from tests.data import tfrecord_writer_test as writer_test

WRITTEN = {
    "plain": "cbc18cb080ed5e48429b04b4eeb68a042c9213b8d983db3fa4f888322c3147d0",
    "ramp": "4cf221a6ef87f6258bcc3c17eb9a325a9ee9079811b0753bd7a9f1cfd99a17c3",
    "pase": "253d76805bacac1765c5b48a45ccee1f913acf0571b80c4dd646211c27321b91",
}
ITEMS = "ea9924b7b2933b46d9d771b90fbc78b678f21a09dbb9d12156e40f0b71135b57"
CLIPS = "803c037e87e3960ac5e6a1b98f9584acc2e159078134055352f9208c17d57288"


def _digest(directory, manifest):
    digest = hashlib.sha256()
    for shard in manifest["shards"]:
        with open(os.path.join(directory, shard["file"]), "rb") as stream:
            digest.update(stream.read())
    digest.update(json.dumps(manifest, sort_keys=True).encode())
    return digest.hexdigest()


def _track_16k(item):
    audio = np.random.default_rng(int(item[1:])).uniform(-0.5, 0.5, 4000)
    return Track(item, audio.astype("float32"), 16000, {})


@pytest.mark.parametrize("kind", sorted(WRITTEN))
def test_written_records_are_unchanged(kind, tmp_path):
    directory = str(tmp_path / kind)
    if kind == "pase":
        manifest = write_tfrecords(
            ["t0", "t1"],
            _track_16k,
            directory,
            tasks={},
            sample_rate=16000,
            targets=frame_targets(["lps", "prosody"]),
            progress=False,
        )
    elif kind == "ramp":
        manifest = writer_test.write(
            directory, targets=writer_test.ramp_targets
        )
    else:
        manifest = writer_test.write(directory)
    assert _digest(directory, manifest) == WRITTEN[kind]


def test_rendered_clips_are_unchanged(tmp_path):
    items = tune_corpus_items(num_clips=8, seed=3)
    encoded = json.dumps(items, sort_keys=True, default=str).encode()
    assert hashlib.sha256(encoded).hexdigest() == ITEMS
    digest = hashlib.sha256()
    for split in ("train", "valid", "test"):
        for item in items[split]:
            track = render_tune_clip(item, 8000, 2.0, cache_dir=str(tmp_path))
            digest.update(track.audio.tobytes())
            labels = json.dumps(track.labels, sort_keys=True)
            digest.update(labels.encode())
            digest.update(track.track_id.encode())
    assert digest.hexdigest() == CLIPS
