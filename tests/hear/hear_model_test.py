import importlib
import inspect
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_music.hear import hear_model
from keras_music.hear.hear_model import HEARModel
from keras_music.hear.hear_model import window_centres
from tests.hear import hear_contract

RATE = 16000
WINDOW = 400  # 25 ms


def _dense_encoder(window=WINDOW, dim=8, seed=0):
    """A linear segment encoder whose output NumPy computes exactly."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((window,))
    return keras.Model(inputs, keras.layers.Dense(dim)(inputs))


def _numpy_embedding(encoder, windows):
    kernel, bias = (w.numpy() for w in encoder.layers[-1].weights)
    return windows.astype("float64") @ kernel + bias


def _module(model):
    """A HEAR module whose functions are this package's."""
    module = types.ModuleType("dense_hear")
    module.load_model = lambda model_file_path="": model
    module.get_scene_embeddings = hear_model.scene_embeddings
    module.get_timestamp_embeddings = hear_model.timestamp_embeddings
    return module


def _noise(n, samples, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, samples)).astype("float32")


def test_passes_the_validator_checks():
    model = HEARModel(_dense_encoder(), RATE, segment_samples=WINDOW)
    hear_contract.check_module(_module(model), model)


def test_timestamp_embeddings_are_the_centred_windows():
    encoder = _dense_encoder()
    model = HEARModel(
        encoder, RATE, segment_samples=WINDOW, hop_seconds=0.01, batch_size=3
    )
    audio = _noise(2, 1234)
    embeddings, timestamps = hear_model.timestamp_embeddings(audio, model)
    # Centres every 160 samples from 0 to 1234: 0, 160, ..., 1120.
    np.testing.assert_array_equal(
        timestamps.numpy(), np.tile(np.arange(8) * 10.0, (2, 1))
    )
    # The window on centre c: samples [c - 200, c + 200), zeros outside.
    padded = np.pad(audio, ((0, 0), (200, 200)))
    windows = np.stack(
        [padded[:, c : c + WINDOW] for c in range(0, 1121, 160)], axis=1
    )
    expected = _numpy_embedding(encoder, windows)
    # float32 dot products of 400 terms of size ~1: ~1e-6 relative.
    np.testing.assert_allclose(embeddings.numpy(), expected, atol=1e-5)


def test_scene_embedding_is_the_mean_over_segments():
    encoder = _dense_encoder()
    model = HEARModel(encoder, RATE, segment_samples=WINDOW)
    audio = _noise(3, 1000)
    scene = hear_model.scene_embeddings(audio, model).numpy()
    # Segments [0, 400), [400, 800) and the last aligned with the end.
    segments = np.stack([audio[:, s : s + 400] for s in (0, 400, 600)], 1)
    expected = _numpy_embedding(encoder, segments).mean(axis=1)
    np.testing.assert_allclose(scene, expected, atol=1e-5)


def test_short_sound_is_zero_padded_to_a_fixed_window():
    encoder = _dense_encoder()
    model = HEARModel(encoder, RATE, segment_samples=WINDOW)
    audio = _noise(2, 100)
    scene = hear_model.scene_embeddings(audio, model).numpy()
    expected = _numpy_embedding(encoder, np.pad(audio, ((0, 0), (0, 300))))
    np.testing.assert_allclose(scene, expected, atol=1e-5)
    embeddings, timestamps = hear_model.timestamp_embeddings(audio, model)
    # 100 samples = 6.25 ms < one 50 ms hop: one timestamp, at 0 ms.
    assert embeddings.shape == (2, 1, 8)
    np.testing.assert_array_equal(timestamps.numpy(), [[0.0], [0.0]])


def test_centres_do_not_drift_over_long_audio():
    # hear-validator's warning: 25 ms at 44.1 kHz is 1102.5 samples; a
    # hop rounded once drifts 25 ms in 37 minutes.
    length = 37 * 60 * 44100
    centres = window_centres(length, 44100, 0.025)
    k = np.arange(len(centres))
    assert len(centres) == 37 * 60 * 40 + 1
    assert np.max(np.abs(centres - k * 1102.5)) <= 0.5
    assert centres[-1] == length


def test_long_audio_is_embedded_in_batches():
    encoder = _dense_encoder()
    model = HEARModel(encoder, RATE, segment_samples=WINDOW, batch_size=32)
    sizes = []
    call = model._call
    model._call = lambda x: (sizes.append(int(x.shape[0])), call(x))[1]
    # 10 minutes: 12,001 windows of 400 samples.
    audio = _noise(2, 10 * 60 * RATE)
    embeddings, timestamps = hear_model.timestamp_embeddings(audio, model)
    assert embeddings.shape == (2, 12001, 8)
    assert timestamps.numpy()[0, -1] == 600000.0
    assert max(sizes) <= 32 and sum(sizes) == 2 * 12001
    # Spot checks against NumPy at the start, middle and end.
    padded = np.pad(audio, ((0, 0), (200, 200)))
    for k in (0, 6000, 12000):
        c = k * 800
        expected = _numpy_embedding(encoder, padded[:, c : c + WINDOW])
        np.testing.assert_allclose(embeddings[:, k], expected, atol=1e-5)


def test_outputs_are_deterministic_and_independent_of_the_batch():
    model = HEARModel(_dense_encoder(), RATE, segment_samples=WINDOW)
    audio = _noise(3, 3000)
    first = hear_model.timestamp_embeddings(audio, model)[0].numpy()
    again = hear_model.timestamp_embeddings(audio, model)[0].numpy()
    np.testing.assert_array_equal(first, again)
    alone = hear_model.timestamp_embeddings(audio[1:2], model)[0].numpy()
    np.testing.assert_allclose(alone[0], first[1], atol=1e-6)


def test_takes_tensors_and_float64():
    model = HEARModel(_dense_encoder(), RATE, segment_samples=WINDOW)
    audio = _noise(2, 800)
    from_tensor = hear_model.scene_embeddings(tf.constant(audio), model)
    from_float64 = hear_model.scene_embeddings(audio.astype("float64"), model)
    assert from_tensor.dtype == tf.float32
    np.testing.assert_allclose(from_tensor, from_float64, atol=1e-6)


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.zeros(800, "float32"), r"\(n_sounds, n_samples\).*shape=\(800,\)"),
        (np.zeros((2, 0), "float32"), r"n_samples.*shape=\(2, 0\)"),
        (np.zeros((2, 800), "int16"), r"float audio.*dtype=int16"),
        (np.full((2, 800), np.nan, "float32"), r"finite.*sound\(s\) \[0, 1\]"),
    ],
)
def test_bad_audio_raises(audio, message):
    model = HEARModel(_dense_encoder(), RATE, segment_samples=WINDOW)
    with pytest.raises(ValueError, match=message):
        hear_model.timestamp_embeddings(audio, model)
    with pytest.raises(ValueError, match=message):
        hear_model.scene_embeddings(audio, model)


def test_other_model_raises():
    with pytest.raises(ValueError, match="`model` must be what.*Functional"):
        hear_model.scene_embeddings(_noise(1, 800), _dense_encoder())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sample_rate": 8000}, r"one of HEAR's.*sample_rate=8000"),
        ({"segment_samples": None}, r"exactly one of .*segment_samples=None"),
        ({"frame_hop": 160}, r"exactly one of .*frame_hop=160"),
        ({"hop_seconds": 0}, r"`hop_seconds` must be a positive.*=0"),
        ({"batch_size": 0}, r"`batch_size` must be a positive.*=0"),
        ({"segment_samples": 800}, r"input length \(400\).*=800"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    arguments = {"sample_rate": RATE, "segment_samples": WINDOW, **kwargs}
    with pytest.raises(ValueError, match=message):
        HEARModel(_dense_encoder(), **arguments)


def test_frame_chunks_must_be_whole_frames():
    inputs = keras.Input((None,))
    frames = keras.layers.Reshape((-1, 160))(inputs)
    encoder = keras.Model(inputs, frames)
    with pytest.raises(ValueError, match=r"multiple of.*chunk_samples=1000"):
        HEARModel(encoder, RATE, frame_hop=160, chunk_samples=1000)


@pytest.mark.parametrize("name", ["maest", "s3t", "clmr", "pase_plus"])
def test_modules_have_the_hear_signatures(name):
    # HEAR imports the module by name and calls these three functions
    # with these arguments (hear-validator: `load_model()` or
    # `load_model(path)`, then `f(audio, model)`).
    module = importlib.import_module(f"keras_music.hear.{name}")
    load = inspect.signature(module.load_model).parameters
    first = next(iter(load.values()))
    assert first.name == "model_file_path" and first.default == ""
    assert all(p.default is not p.empty for p in load.values())
    for function in ("get_scene_embeddings", "get_timestamp_embeddings"):
        parameters = inspect.signature(getattr(module, function)).parameters
        assert list(parameters) == ["audio", "model"]
