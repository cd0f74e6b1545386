"""The checks hear-validator makes of a HEAR 2021 module, as assertions.

hear-validator (hearbenchmark/hear-validator, `hearvalidator/validate.py`)
calls `load_model`, reads `sample_rate`, `scene_embedding_size` and
`timestamp_embedding_size`, then passes white noise in [-1, 1] as a
float32 tensor `(n_sounds, int(seconds * sample_rate))`:
`get_timestamp_embeddings` for 2 sounds of 1.07, 1.98 and 4.0 s, and
`get_scene_embeddings` for 4 sounds of 2.74 s. It raises on a wrong
dtype, rank, batch or embedding size, on timestamps that deviate from a
regular grid by more than 1 ms, that end after the sound or more than two
hops before its end; it warns on a hop over 50 ms, timestamps that begin
after the first hop or end more than a hop (or 50 ms) before the end.
`check_module` turns every warning into a failure too, and adds what the
validator cannot see with white noise of one batch: timestamps strictly
increasing and equal for every sound.
"""

import numpy as np
import tensorflow as tf

HEAR_SAMPLE_RATES = (16000, 22050, 44100, 48000)
TIMESTAMP_LENGTHS = (1.07, 1.98, 4.0)
SCENE_LENGTH = 2.74


def white_noise(model, num_audio, seconds, seed=0):
    """The validator's input: `tf.float32` noise in [-1, 1]."""
    tf.random.set_seed(seed)
    samples = int(seconds * model.sample_rate)
    return tf.random.uniform((num_audio, samples)) * 2 - 1


def check_attributes(model):
    assert isinstance(model, tf.Module)
    assert model.sample_rate in HEAR_SAMPLE_RATES
    assert type(model.scene_embedding_size) is int
    assert type(model.timestamp_embedding_size) is int


def check_timestamps(timestamps, seconds, max_hop_ms=50.0):
    """Regular, increasing, the same for every sound, covering the sound."""
    timestamps = np.asarray(timestamps)
    assert timestamps.dtype == np.float32
    np.testing.assert_array_equal(
        timestamps, timestamps[:1].repeat(len(timestamps), 0)
    )
    if timestamps.shape[1] < 2:
        return
    diff = np.diff(timestamps, axis=1)
    assert np.all(diff > 0), "timestamps must increase"
    hop = float(np.mean(diff))
    assert np.max(np.abs(diff - hop)) <= 1.0, "irregular timestamps"
    assert np.max(diff) <= max_hop_ms
    duration = 1000.0 * seconds
    assert np.min(timestamps) <= hop
    assert np.max(timestamps) <= duration
    assert np.max(timestamps) >= duration - min(hop, 50.0)


def check_timestamp_embeddings(module, model, num_audio, seconds):
    audio = white_noise(model, num_audio, seconds)
    embeddings, timestamps = module.get_timestamp_embeddings(audio, model)
    assert embeddings.dtype == tf.float32
    assert timestamps.dtype == tf.float32
    assert embeddings.shape.rank == 3 and timestamps.shape.rank == 2
    assert embeddings.shape[0] == num_audio
    assert tuple(embeddings.shape[:2]) == tuple(timestamps.shape)
    assert embeddings.shape[2] == model.timestamp_embedding_size
    assert np.all(np.isfinite(embeddings.numpy()))
    check_timestamps(timestamps.numpy(), audio.shape[1] / model.sample_rate)
    return embeddings.numpy(), timestamps.numpy()


def check_scene_embeddings(module, model, num_audio=4, seconds=SCENE_LENGTH):
    audio = white_noise(model, num_audio, seconds)
    embeddings = module.get_scene_embeddings(audio, model)
    assert embeddings.dtype == tf.float32
    assert tuple(embeddings.shape) == (num_audio, model.scene_embedding_size)
    assert np.all(np.isfinite(embeddings.numpy()))
    return embeddings.numpy()


def check_module(module, model):
    """Every check of hear-validator, as the validator runs them."""
    check_attributes(model)
    for seconds in TIMESTAMP_LENGTHS:
        check_timestamp_embeddings(module, model, 2, seconds)
    check_scene_embeddings(module, model)
