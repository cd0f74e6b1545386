"""`track_tag_scores`: per-track ROC-AUC / PR-AUC of a tagger over the
half-overlapped segments of each track, against scikit-learn on the same
per-track averages computed here with NumPy."""

import keras
import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from sklearn.metrics import roc_auc_score

from keras_music.data.tfrecord_writer import write_tfrecords
from keras_music.data.track import Track
from keras_music.evaluation.tagger_scores import track_tag_outputs
from keras_music.evaluation.tagger_scores import track_tag_scores
from keras_music.models.audio_preprocessor import AudioPreprocessor

RATE = 8000
SEGMENT = 4000  # 0.5 s
# Lengths: shorter than a segment (zero-padded to one), exactly one, and
# longer (the last segment aligned with the end).
LENGTHS = [2500, 4000, 7000, 9100, 12000, 5000, 16000]
TAGS = [[0], [1], [0, 1], [1], [0], [1], [0]]
GENRES = [0, 2, 1, None, 2, 0, 1]  # one track without a genre
TASKS = {
    "tags": {"vocabulary": ["loud", "soft"], "multi_label": True},
    "genre": {"vocabulary": ["a", "b", "c"], "multi_label": False},
}


def audio_of(index):
    # Multiples of 1/32768: stored exactly as int16.
    rng = np.random.default_rng(index)
    scale = rng.integers(1000, 30000)
    values = rng.integers(-scale, scale, LENGTHS[index])
    return (values / 32768.0).astype("float32")


def load(item):
    index = int(item[1:])
    labels = {"tags": [TASKS["tags"]["vocabulary"][t] for t in TAGS[index]]}
    if GENRES[index] is not None:
        labels["genre"] = [TASKS["genre"]["vocabulary"][GENRES[index]]]
    return Track(item, audio_of(index), RATE, labels=labels)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("scores"))
    items = [f"t{i}" for i in range(len(LENGTHS))]
    write_tfrecords(
        items, load, folder, tasks=TASKS, sample_rate=RATE, progress=False
    )
    return folder


class MeanAbs(keras.layers.Layer):
    """A stand-in frontend: the mean magnitude of each segment."""

    sample_rate = RATE

    def call(self, audio):
        return keras.ops.mean(keras.ops.abs(audio), axis=-1, keepdims=True)


def genre_tagger(x, training=False):
    """Three outputs from the segment's level, one per genre."""
    return keras.ops.concatenate([x, 1.0 - 2 * x, x * x], axis=-1)


def tagger(x, training=False):
    """Two outputs, loud and soft."""
    return genre_tagger(x)[:, :2]


def expected_track_scores():
    """Per-track means of `genre_tagger(MeanAbs(segment))`, segments cut
    here."""
    rows = []
    for index, length in enumerate(LENGTHS):
        audio = audio_of(index).astype("float64")
        if length <= SEGMENT:
            segments = [np.pad(audio, (0, SEGMENT - length))]
        else:
            starts = list(range(0, length - SEGMENT + 1, SEGMENT // 2))
            if starts[-1] != length - SEGMENT:
                starts.append(length - SEGMENT)
            segments = [audio[s : s + SEGMENT] for s in starts]
        level = np.mean([np.abs(s).mean() for s in segments])
        rows.append([level, 1 - 2 * level, level**2])
    return np.asarray(rows)


def test_multi_label_scores_are_sklearns_on_track_means(folder):
    scores = track_tag_scores(
        tagger, folder, "tags", SEGMENT / RATE, frontend=MeanAbs(), batch_size=3
    )
    truth = np.zeros((len(TAGS), 2))
    for row, tags in enumerate(TAGS):
        truth[row, tags] = 1
    expected = expected_track_scores()[:, :2]
    assert scores["tracks"] == len(LENGTHS)
    # float32 segment means against float64 ones: the ranking (all the
    # metrics depend on) is the same; 1e-12 is rounding of the averages.
    assert scores["roc_auc"] == pytest.approx(
        roc_auc_score(truth, expected, average="macro"), abs=1e-12
    )
    assert scores["pr_auc"] == pytest.approx(
        average_precision_score(truth, expected, average="macro"), abs=1e-12
    )
    # Not a trivial score: the stand-in tagger ranks some tracks wrongly.
    assert 0.0 < scores["roc_auc"] < 1.0


def test_single_label_is_scored_one_hot_without_unlabelled_tracks(folder):
    scores = track_tag_scores(
        genre_tagger, folder, "genre", SEGMENT / RATE, frontend=MeanAbs()
    )
    keep = [i for i, g in enumerate(GENRES) if g is not None]
    truth = np.eye(3)[[GENRES[i] for i in keep]]
    expected = expected_track_scores()[keep]
    assert scores["tracks"] == len(keep)
    assert scores["roc_auc"] == pytest.approx(
        roc_auc_score(truth, expected, average="macro"), abs=1e-12
    )


def test_segment_and_frontend_default_to_the_models_preprocessor(folder):
    class Tagger:
        preprocessor = AudioPreprocessor(MeanAbs(), segment_seconds=0.5)

        def __call__(self, x, training=False):
            return tagger(x)

    explicit = track_tag_scores(tagger, folder, "tags", 0.5, MeanAbs())
    assert track_tag_scores(Tagger(), folder, "tags") == explicit


def test_outputs_are_the_track_means_and_labels_scored(folder):
    outputs = track_tag_outputs(
        genre_tagger, folder, "genre", SEGMENT / RATE, frontend=MeanAbs()
    )
    keep = [i for i, g in enumerate(GENRES) if g is not None]
    assert outputs["track_ids"].tolist() == [f"t{i}" for i in keep]
    np.testing.assert_array_equal(
        outputs["labels"], np.eye(3)[[GENRES[i] for i in keep]]
    )
    # The two outputs linear in the level (the third averages squares,
    # not the square of the average); float32 segment means against
    # float64 ones.
    np.testing.assert_allclose(
        outputs["scores"][:, :2], expected_track_scores()[keep, :2], atol=1e-6
    )


def test_bad_arguments_are_named(folder):
    with pytest.raises(ValueError, match="`segment_seconds` is required"):
        track_tag_scores(tagger, folder, "tags", frontend=MeanAbs())
    with pytest.raises(ValueError, match="`task` must be one of.*'mood'"):
        track_tag_scores(tagger, folder, "mood", 0.5, frontend=MeanAbs())
