"""Keras objects held by a model, in its config and back.

A task model keeps the layers and models it is built from (a backbone, a
preprocessor) in its `get_config` as nested configs, and rebuilds them in
`from_config`; an optional one (`preprocessor=None`) stays `None`. These
two helpers are that round trip, written once.
"""

import keras


def serialize_objects(**objects):
    """The configs of Keras objects, by name; `None` stays `None`.

    Args:
        **objects: name -> a Keras layer or model (or `None`).

    Returns:
        dict, name -> its serialised config (`None` for `None`), ready to
        be merged into a `get_config()` dict.

    Example:

    >>> config = serialize_objects(
    ...     layer=keras.layers.Dense(2, name="head"), preprocessor=None
    ... )
    >>> config["layer"]["class_name"], config["preprocessor"]
    ('Dense', None)
    """
    return {
        name: None
        if value is None
        else keras.saving.serialize_keras_object(value)
        for name, value in objects.items()
    }


def deserialize_objects(config, *names):
    """A copy of `config` with the entries `names` rebuilt from configs.

    An entry that is not a config dict (`None`, or an object already
    built) is kept as it is.

    Args:
        config: dict. A `get_config()` dict.
        *names: str. The keys holding serialised Keras objects.

    Returns:
        dict, the copy, ready for `cls(**config)`.

    Example:

    >>> config = {
    ...     "layer": keras.saving.serialize_keras_object(keras.layers.Dense(2)),
    ...     "preprocessor": None,
    ...     "units": 3,
    ... }
    >>> rebuilt = deserialize_objects(config, "layer", "preprocessor")
    >>> type(rebuilt["layer"]).__name__, rebuilt["preprocessor"]
    ('Dense', None)
    >>> rebuilt["units"]
    3
    """
    config = dict(config)
    for name in names:
        if isinstance(config.get(name), dict):
            config[name] = keras.saving.deserialize_keras_object(config[name])
    return config
