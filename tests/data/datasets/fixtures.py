"""Tiny audio files and TFRecord readers for the dataset layout tests."""

import json
import os

import numpy as np
import soundfile

SAMPLE_RATE = 8000


def write_clip(path, seed, seconds=0.2, sample_rate=SAMPLE_RATE):
    """Writes a short noise clip (type from the extension); returns int16."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    pcm = rng.integers(-8000, 8000, int(seconds * sample_rate), dtype="int16")
    soundfile.write(path, pcm, sample_rate)
    return pcm


def written_tracks(folder):
    """`(manifest, {track_id: {task: [label names]}})` of a TFRecord folder."""
    with open(os.path.join(folder, "manifest.json")) as stream:
        manifest = json.load(stream)
    tracks = {}
    for shard in manifest["shards"]:
        with open(os.path.join(folder, shard["index"])) as stream:
            index = json.load(stream)
        for entry in index["tracks"]:
            tracks[entry["track_id"]] = {
                task: [manifest["tasks"][task]["vocabulary"][i] for i in ids]
                for task, ids in entry["labels"].items()
            }
    return manifest, tracks
