"""EfficientNet-B0 tagging baseline on log-mel input."""

from keras_music.models.efficientnet.efficientnet_tagger import (
    EfficientNetTagger,
)
