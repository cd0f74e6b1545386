import numpy as np
import pytest

from keras_music.data.s3t_views import s3t_augmentation
from keras_music.data.s3t_views import s3t_view_pairs
from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from keras_music.models.s3t.s3t_backbone import s3t_frontend
from keras_music.models.s3t.s3t_backbone import s3t_square_layer
from tests.test_case import TestCase

SAMPLE_RATE = 22050
# 16 bins, 64 frames: 1 + 32256 // 512 = 64, folded twice to 32 x 32.
CLIP_SAMPLES = 32256
CLIP_SECONDS = CLIP_SAMPLES / SAMPLE_RATE
TRACKS = 5
TASKS = {"genre": {"vocabulary": ["a", "b"], "multi_label": False}}


def _track(item):
    """Noise of exactly one clip (module level: picklable)."""
    index = int(item[1:])
    audio = np.random.default_rng(index).uniform(-0.5, 0.5, CLIP_SAMPLES)
    return Track(
        track_id=item,
        audio=audio.astype("float32"),
        sample_rate=SAMPLE_RATE,
        labels={"genre": ["ab"[index % 2]]},
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("s3t_views"))
    write_tfrecords(
        [f"t{i}" for i in range(TRACKS)],
        _track,
        directory,
        tasks=TASKS,
        sample_rate=SAMPLE_RATE,
        num_shards=2,
        progress=False,
    )
    return directory


def _stored(item):
    """The audio of `item` as its int16 records hold it, as float32."""
    audio = np.round(_track(item).audio * 32768.0)
    return (np.clip(audio, -32768, 32767) / 32768.0).astype("float32")


def _frontend():
    return s3t_frontend(1, SAMPLE_RATE, 512, 16)


class S3TAugmentationTest(TestCase):
    def test_the_three_augmentations(self):
        paper = s3t_augmentation(64, "paper", seed=3)
        self.assertEqual(paper.output_length, 64)
        # The paper's chain (S3TAugment's defaults, Section 2.3).
        self.assertEqual(tuple(paper.crop_ratio_range), (0.1, 0.9))
        self.assertEqual(paper.crop_mode, "resize")
        self.assertEqual(
            (paper.time_warp_p, paper.shift_p),
            (0.4, 0.4),
        )
        self.assertEqual((paper.freq_mask_p, paper.time_mask_p), (0.5, 0.5))
        for name, mode in (("crop_only", "resize"), ("crop_only_pad", "pad")):
            crops = s3t_augmentation(64, name, seed=3)
            self.assertEqual(tuple(crops.crop_ratio_range), (0.5, 0.9))
            self.assertEqual(crops.crop_mode, mode)
            probabilities = (
                crops.time_warp_p,
                crops.shift_p,
                crops.freq_mask_p,
                crops.time_mask_p,
            )
            self.assertEqual(probabilities, (0.0, 0.0, 0.0, 0.0))

    def test_crop_only_pad_keeps_a_window_of_the_clip(self):
        rng = np.random.default_rng(0)
        x = rng.uniform(1, 2, (4, 16, 40)).astype("float32")
        views = s3t_augmentation(64, "crop_only_pad", seed=0)(x, training=True)
        for view, clip in zip(np.concatenate(views), np.concatenate([x, x])):
            # 50-90% of 40 frames, then zeros up to 64.
            length = int(np.sum(np.any(view != 0, axis=0)))
            self.assertTrue(20 <= length <= 36, length)
            np.testing.assert_array_equal(view[:, length:], 0.0)
            start = int(np.argmin(np.abs(clip[0] - view[0, 0])))
            # The same float32 values, moved: equal to 1e-6.
            np.testing.assert_allclose(
                view[:, :length], clip[:, start : start + length], atol=1e-6
            )

    def test_unknown_augmentation_is_named(self):
        with pytest.raises(ValueError, match="Received: augmentation='mix'"):
            s3t_augmentation(64, "mix")


def test_view_pairs_are_augmented_clips(folder):
    frontend = _frontend()
    augment = s3t_augmentation(64, "crop_only_pad", seed=0)
    identity = s3t_view_pairs(
        folder,
        augment,
        frontend,
        lambda view: view,
        CLIP_SECONDS,
        batch_size=2,
        seed=0,
    )
    # Whole batches, endlessly: more batches than the 5 tracks make.
    batches = list(identity.take(4))
    assert len(batches) == 4
    spectrograms = np.asarray(
        frontend(np.stack([_stored(f"t{i}") for i in range(TRACKS)]))
    )
    for view_1, view_2 in batches:
        assert view_1.shape == (2, 16, 64) and view_2.shape == (2, 16, 64)
        for view in np.concatenate([view_1, view_2]):
            # Each view is a crop of one track's standardised CQT, padded:
            # found among the tracks' own spectrograms (the same float32
            # layers on the same audio: 1e-4 of values of unit scale).
            length = int(np.sum(np.any(view != 0, axis=0)))
            assert 32 <= length <= 58, length
            assert any(
                np.allclose(
                    view[:, :length],
                    spectrogram[:, start : start + length],
                    atol=1e-4,
                )
                for spectrogram in spectrograms
                for start in range(64 - length + 1)
            )


def test_view_pairs_are_square_images(folder):
    frontend = _frontend()
    square = s3t_square_layer("time_folding", 2, 32)
    pairs = s3t_view_pairs(
        folder,
        s3t_augmentation(64, "paper", seed=0),
        frontend,
        square,
        CLIP_SECONDS,
        batch_size=4,
        seed=0,
    )
    view_1, view_2 = next(iter(pairs))
    assert view_1.shape == (4, 32, 32) and view_2.shape == (4, 32, 32)
    assert np.all(np.isfinite(view_1)) and np.all(np.isfinite(view_2))
    # Two augmentations of each clip, not one view twice.
    assert not np.allclose(view_1, view_2)
