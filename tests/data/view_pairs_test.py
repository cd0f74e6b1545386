import numpy as np
import pytest

from keras_music.data.view_pairs import clmr_views
from keras_music.data.view_pairs import multiformat_spectrogram_views
from keras_music.data.view_pairs import multiformat_waveform_views
from keras_music.data.view_pairs import view_pairs
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from tests.data.tfrecord_dataset_test import int16_audio
from tests.data.tfrecord_writer_test import SAMPLE_RATE
from tests.data.tfrecord_writer_test import write

# synthetic_track("t<i>") has 600 + 50 i samples at 8 kHz: every track
# holds a 0.06 s (480-sample) window, and a view is 200 samples of it.
TRACKS = 7
SPAN_SECONDS = 0.06
CROP = 200


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("records"))
    write(path, count=TRACKS)
    return path


def _window_of_some_track(view):
    """Whether `view` is a contiguous run of samples of a stored track."""
    for i in range(TRACKS):
        audio = int16_audio(f"t{i}").astype("float32")
        windows = np.lib.stride_tricks.sliding_window_view(audio, len(view))
        if np.any(np.all(windows == view, axis=1)):
            return True
    return False


def test_crop_only_pairs_are_two_crops_of_the_stored_audio(directory):
    views = clmr_views(SAMPLE_RATE, CROP, seed=0, crop_only=True)
    pairs = view_pairs(directory, SPAN_SECONDS, 3, views, seed=0)
    batches = list(pairs.take(4))
    for view_1, view_2 in batches:
        # drop_remainder: every batch is full, so replicas split it evenly.
        assert tuple(view_1.shape) == (3, CROP)
        assert tuple(view_2.shape) == (3, CROP)
        for row in np.concatenate([view_1, view_2]):
            # No augmentation: each view is an exact slice of a track.
            assert _window_of_some_track(row)
    # Two random crops of the same window: not all identical.
    assert any(not np.array_equal(a, b) for a, b in batches)


def test_same_seed_gives_the_same_pairs(directory):
    def first(seed):
        views = clmr_views(SAMPLE_RATE, CROP, seed=seed, crop_only=True)
        pairs = view_pairs(directory, SPAN_SECONDS, 4, views, seed=seed)
        return [np.asarray(v) for v in next(iter(pairs))]

    again = first(1)
    for a, b in zip(first(1), again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first(2)[0], again[0])


def test_full_chain_changes_the_crops(directory):
    views = clmr_views(SAMPLE_RATE, CROP, seed=0)
    pairs = view_pairs(directory, SPAN_SECONDS, 3, views, seed=0)
    rows = np.concatenate([np.asarray(v) for v in next(iter(pairs))])
    # Polarity (p 0.8), filter (0.8), reverb (0.6)...: some view is no
    # longer a plain slice of a track.
    assert not all(_window_of_some_track(row) for row in rows)


def test_make_views_must_be_callable(directory):
    with pytest.raises(ValueError, match="`make_views` must be a callable"):
        view_pairs(directory, SPAN_SECONDS, 3, "crop", seed=0)


def _audio(batch=4, samples=2048):
    rng = np.random.default_rng(0)
    return rng.uniform(-0.5, 0.5, (batch, samples)).astype("float32")


@pytest.mark.parametrize(
    "make", [clmr_views, multiformat_waveform_views], ids=["clmr", "multi"]
)
def test_waveform_views_of_whole_clip_without_augmentation(make):
    audio = _audio()
    # A crop as long as the clip is the clip itself.
    view_1, view_2 = make(SAMPLE_RATE, audio.shape[1], 0, crop_only=True)(audio)
    np.testing.assert_array_equal(view_1, audio)
    np.testing.assert_array_equal(view_2, audio)


def test_multiformat_waveform_gain_stays_in_range():
    # Only gain in [-6, 0] dB, noise, filter and pitch are on: polarity
    # (a sign flip) is off, so no view is the negated clip.
    audio = _audio(batch=16)
    views = multiformat_waveform_views(SAMPLE_RATE, audio.shape[1], seed=0)
    for view in views(audio):
        view = np.asarray(view)
        assert view.shape == audio.shape
        assert np.all(np.isfinite(view))
        assert not np.any(np.all(np.isclose(view, -audio), axis=1))


def test_spectrogram_views():
    audio = _audio(batch=8)
    frontend = LogMelSpectrogram(
        sample_rate=SAMPLE_RATE, n_fft=256, hop_length=64, n_mels=20
    )
    plain = np.asarray(frontend(audio))
    view_1, view_2 = multiformat_spectrogram_views(
        frontend, audio.shape[1], seed=0, crop_only=True
    )(audio)
    # Crop of the whole clip, no noise or masks: the frontend's output.
    np.testing.assert_array_equal(view_1, plain)
    np.testing.assert_array_equal(view_2, plain)
    view_1, view_2 = multiformat_spectrogram_views(
        frontend, audio.shape[1], seed=0
    )(audio)
    assert view_1.shape == plain.shape == view_2.shape
    # Masks (p 0.8 each) and noise (p 0.5) change some of the 8 rows.
    changed = ~np.all(np.isclose(view_1, plain), axis=(1, 2))
    assert changed.sum() >= 1
