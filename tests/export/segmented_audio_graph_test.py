import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from keras_music.data.tfrecord_dataset import _all_segments
from keras_music.export.segmented_audio_graph import SegmentedAudioGraph
from keras_music.export.segmented_audio_graph import fourier_resample
from tests.test_case import TestCase


class SegmentedAudioGraphTest(TestCase):
    def test_segments_follow_the_dataset_rule(self):
        # 0.1 s segments: 1600 samples, hop 800.
        graph = SegmentedAudioGraph(sample_rate=16000, segment_seconds=0.1)
        self.assertEqual((graph.segment, graph.hop), (1600, 800))
        lengths = [1, 1599, 1600, 1601, 2400, 2401, 5000]
        audio = np.random.default_rng(0).normal(size=(7, 5000))
        audio = audio.astype("float32")
        # Checked first: that is where padding past a length is zeroed.
        request = graph._check_request(tf.constant(audio), tf.constant(lengths))
        segments, track = graph._segments(*request)
        for i, length in enumerate(lengths):
            # The reader's own rule (tfrecord_dataset mode "all").
            expected = _all_segments(
                tf.constant(audio[i, :length]), 1600, 0
            ).numpy()
            self.assertAllEqual(segments.numpy()[track.numpy() == i], expected)

    def test_fourier_resample_matches_scipy(self):
        x = np.random.default_rng(1).normal(size=4411).astype("float32")
        for rate, target in ((44100, 16000), (8000, 16000), (22050, 16000)):
            y = fourier_resample(tf.constant(x), tf.constant(rate), target)
            n_out = round(len(x) * target / rate)
            # Same Fourier method in float32 FFTs vs float64.
            self.assertAllClose(
                y, scipy.signal.resample(x, n_out), atol=2e-5, rtol=0
            )

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="`sample_rate` must be"):
            SegmentedAudioGraph(sample_rate=0, segment_seconds=1.0)
        with pytest.raises(ValueError, match="`segment_seconds` must be"):
            SegmentedAudioGraph(sample_rate=16000, segment_seconds=0.0)
        with pytest.raises(ValueError, match="`batch_size` must be"):
            SegmentedAudioGraph(16000, 1.0, batch_size=0)


def test_fourier_resample_is_deprecated():
    x = tf.constant(np.ones(441, "float32"))
    with pytest.warns(DeprecationWarning, match="layers.resample"):
        y = fourier_resample(x, tf.constant(44100), 16000)
    assert y.shape == (160,)
