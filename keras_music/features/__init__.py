"""Hand-crafted targets of the multi-task workers (librosa).

`keras_music.features.pase_targets.pase_targets(audio)` computes them.
"""

from keras_music.features.pase_targets import TARGET_DIMS
from keras_music.features.pase_targets import TARGET_NAMES
