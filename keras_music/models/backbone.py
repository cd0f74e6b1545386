"""`Backbone`: what every keras_music network shares (presets, config)."""

import copy
import inspect

import keras


class _classproperty:
    """A read-only property of the class (`MAESTBackbone.presets`)."""

    def __init__(self, getter):
        self.getter = getter

    def __get__(self, instance, owner):
        return self.getter(owner)


class Backbone(keras.Model):
    """Base class of keras_music backbones: presets, config and dtype.

    A backbone is a functional model built in its `__init__`. This base
    gives every family the same three things:

    - Presets: a subclass names its table of named sizes in the class
      attribute `preset_configs` (the plain dicts of its
      `<family>_presets.py`). The table belongs to that class only: a
      subclass that sets none has no presets, so `PASEPlusBackbone` does
      not offer `PASEBackbone`'s sizes. `presets` lists the names and
      `from_preset(name, **overrides)` builds one, with one error wording
      for an unknown name or an unknown override.
    - Config: `get_config()` gives `name`, `trainable` and `dtype`;
      subclasses add their constructor arguments to it.
    - Dtype: the `dtype` argument, the policy the subclass builds its
      layers with, is saved in the config as given (a policy object
      serialised) and restored by `from_config`, so a `mixed_bfloat16`
      backbone reloads as one. `None` stays `None`: such a backbone is
      built, and reloaded, under the global policy of the moment (a
      model trained under `mixed_bfloat16` exports in float32 when the
      global policy is float32 at export).

    Args:
        dtype: str or `keras.DTypePolicy`. Dtype policy of the model; the
            subclass passes the same value to its layers. Defaults to
            `None` (the global policy when the backbone is built).
        **kwargs: The functional model's arguments (`inputs`, `outputs`,
            `name`), passed on by the subclass.

    Example:

    >>> class TinyBackbone(Backbone):
    ...     preset_configs = {"tiny": {"width": 4}}
    ...
    ...     def __init__(self, width=8, dtype=None, **kwargs):
    ...         inputs = keras.Input((3,))
    ...         outputs = keras.layers.Dense(width, dtype=dtype)(inputs)
    ...         super().__init__(
    ...             inputs=inputs, outputs=outputs, dtype=dtype, **kwargs
    ...         )
    ...         self.width = width
    ...
    ...     def get_config(self):
    ...         return {**super().get_config(), "width": self.width}
    >>> TinyBackbone.presets
    ['tiny']
    >>> TinyBackbone.from_preset("tiny").output_shape
    (None, 4)
    """

    preset_configs = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Per class: a subclass does not inherit its parent's sizes.
        if "preset_configs" not in cls.__dict__:
            cls.preset_configs = {}

    def __init__(self, *args, dtype=None, **kwargs):
        # A functional model does not take a dtype policy of its own: its
        # layers carry it, so the argument is only kept for the config.
        super().__init__(*args, **kwargs)
        self._dtype_arg = dtype

    @_classproperty
    def presets(cls):
        """The names of this class's presets, sorted."""
        return sorted(cls.preset_configs)

    @classmethod
    def from_preset(cls, name, **kwargs):
        """A randomly initialised backbone of the preset `name`; `kwargs`
        override the preset's arguments (`input_size=(84, 256)`)."""
        family = cls.__name__.removesuffix("Backbone")
        if name not in cls.preset_configs:
            raise ValueError(
                f"Unknown {family} preset. Received: name={name!r}; "
                f"available: {cls.presets}"
            )
        arguments = cls.config_arguments()
        unknown = sorted(set(kwargs) - arguments - {"trainable"})
        if unknown:
            raise ValueError(
                f"Unknown {family} argument to override preset {name!r}. "
                f"Received: {', '.join(unknown)}; "
                f"available: {sorted(arguments)}"
            )
        config = copy.deepcopy(cls.preset_configs[name])
        config.update(kwargs)
        return cls(**config)

    @classmethod
    def config_arguments(cls):
        """The names of the constructor's arguments (without `kwargs`)."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        return {
            p.name
            for p in parameters
            if p.name != "self"
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }

    def get_config(self):
        dtype = self._dtype_arg
        if isinstance(dtype, keras.DTypePolicy):
            dtype = keras.dtype_policies.serialize(dtype)
        return {"name": self.name, "trainable": self.trainable, "dtype": dtype}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
