import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from keras_music.data.tfrecord_dataset import _all_segments
from keras_music.export.serving_graph import ServingGraph
from keras_music.export.serving_graph import fourier_resample
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.test_case import TestCase


def _tiny_tagger():
    return MAESTTagger(MAESTBackbone.from_preset("maest_tiny"), num_tags=3)


class ServingGraphTest(TestCase):
    def test_segments_follow_the_dataset_rule(self):
        # 0.1 s segments: 1600 samples, hop 800.
        graph = ServingGraph(_tiny_tagger(), segment_seconds=0.1)
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
        tagger = _tiny_tagger()
        with pytest.raises(ValueError, match="`model` must be a `MAESTTagger`"):
            ServingGraph(tagger.backbone)
        with pytest.raises(ValueError, match="`frontend` must be a"):
            ServingGraph(tagger, frontend="log_mel")
        with pytest.raises(ValueError, match="mel bands"):
            ServingGraph(tagger, frontend=LogMelSpectrogram(n_mels=64))
        with pytest.raises(ValueError, match="`segment_seconds` gives 79"):
            ServingGraph(tagger, segment_seconds=1.25)
        with pytest.raises(ValueError, match="`segment_seconds` must be"):
            ServingGraph(tagger, segment_seconds=-1.0)
        with pytest.raises(ValueError, match="`embed_blocks` must list"):
            ServingGraph(tagger, embed_blocks=[])
        with pytest.raises(ValueError, match="`embedding_token` must be"):
            ServingGraph(tagger, embedding_token="mean")
        with pytest.raises(ValueError, match="`embed_token` must be"):
            ServingGraph(tagger, embed_token="mean")
        with pytest.raises(ValueError, match="`block` must be an integer"):
            ServingGraph(tagger, embedding_block=5)
        with pytest.raises(ValueError, match="`batch_size` must be"):
            ServingGraph(tagger, batch_size=0)
        relu = MAESTTagger(tagger.backbone, num_tags=3, activation="relu")
        with pytest.raises(ValueError, match="activation='relu'"):
            ServingGraph(relu)
