"""Helpers shared by every part of keras_music: atomic writes, checks,
nested Keras objects in configs."""

from keras_music.utils.atomic_write import atomic_path
from keras_music.utils.atomic_write import finish_directory_swap
from keras_music.utils.atomic_write import open_atomic
from keras_music.utils.atomic_write import remove_stale_temporaries
from keras_music.utils.atomic_write import swap_directory
from keras_music.utils.atomic_write import temporary_path
from keras_music.utils.atomic_write import write_json_atomic
from keras_music.utils.atomic_write import write_text_atomic
from keras_music.utils.serialization import deserialize_objects
from keras_music.utils.serialization import serialize_objects
