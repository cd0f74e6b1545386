"""The checks of `keras_music.utils.validation`, under their first path.

Kept so that `from keras_music.layers import validation` and
`from keras_music.layers.validation import check_...` keep working.
"""

from keras_music.utils.validation import check_audio
from keras_music.utils.validation import check_binary
from keras_music.utils.validation import check_class_indices
from keras_music.utils.validation import check_finite_array
from keras_music.utils.validation import check_float_audio
from keras_music.utils.validation import check_non_negative_int
from keras_music.utils.validation import check_positive
from keras_music.utils.validation import check_positive_int
from keras_music.utils.validation import check_positive_int_tuple
from keras_music.utils.validation import check_probability
from keras_music.utils.validation import check_range
from keras_music.utils.validation import check_rank
from keras_music.utils.validation import check_same_shape

__all__ = [
    "check_positive_int",
    "check_non_negative_int",
    "check_positive_int_tuple",
    "check_positive",
    "check_probability",
    "check_range",
    "check_rank",
    "check_audio",
    "check_finite_array",
    "check_class_indices",
    "check_binary",
    "check_same_shape",
    "check_float_audio",
]
