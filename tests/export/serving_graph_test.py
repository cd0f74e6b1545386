import pytest

from keras_music.export.serving_graph import ServingGraph
from keras_music.layers.log_mel_spectrogram import LogMelSpectrogram
from keras_music.models.maest.maest_backbone import MAESTBackbone
from keras_music.models.maest.maest_tagger import MAESTTagger
from tests.test_case import TestCase


def _tiny_tagger():
    return MAESTTagger(MAESTBackbone.from_preset("maest_tiny"), num_tags=3)


class ServingGraphTest(TestCase):
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
