"""Where the pieces `recipes/clmr.py` and `recipes/multiformat.py` share
now live, under the names `benchmarks/study.py` and
`benchmarks/input_pipeline.py` import from here:

- `view_pairs`: `keras_music.data.view_pairs`;
- `sample_cnn`, `simclr_model`: `keras_music.pretraining.simclr_setup`
  (the demo widths are the `*_demo` presets of SampleCNN and ResNet);
- `linear_protocol`, `concatenated`, `probe_scores`,
  `weighted_fusion_scores`, `describe`, `FUSION_WEIGHTS`,
  `METRIC_NAMES`: `keras_music.evaluation.embedding_fusion`.

New code imports them from the library.
"""

from keras_music.data.view_pairs import view_pairs
from keras_music.evaluation.embedding_fusion import FUSION_WEIGHTS
from keras_music.evaluation.embedding_fusion import METRIC_NAMES
from keras_music.evaluation.embedding_fusion import concatenated
from keras_music.evaluation.embedding_fusion import describe
from keras_music.evaluation.embedding_fusion import linear_protocol
from keras_music.evaluation.embedding_fusion import probe_scores
from keras_music.evaluation.embedding_fusion import weighted_fusion_scores
from keras_music.models.sample_cnn.sample_cnn_presets import (
    CPU_DEMO_WIDTH_DIVISOR,
)
from keras_music.pretraining.simclr_setup import sample_cnn
from keras_music.pretraining.simclr_setup import simclr_model

__all__ = [
    "CPU_DEMO_WIDTH_DIVISOR",
    "FUSION_WEIGHTS",
    "METRIC_NAMES",
    "concatenated",
    "describe",
    "linear_protocol",
    "probe_scores",
    "sample_cnn",
    "simclr_model",
    "view_pairs",
    "weighted_fusion_scores",
]
