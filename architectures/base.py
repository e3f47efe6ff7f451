"""The base class of every deepzoo model: a functional `keras.Model` whose config is exactly its
constructor arguments.

Keras serialises a functional subclass through `get_config`/`from_config`. Writing both by hand in
186 models invites drift, so `ZooModel` records the arguments each subclass's `__init__` was called
with (defaults filled in) and returns them. `from_config` then calls the constructor again, which
rebuilds the same graph; `keras.saving.load_model` restores the weights into it.
"""

import inspect

import keras

# Keys keras.Model itself understands; everything else recorded comes from the subclass signature.
_BASE_KEYS = ("name", "trainable", "dtype")


class ZooModel(keras.Model):
    """Functional model whose `get_config()` returns its constructor arguments.

    Subclasses build their graph in `__init__` and finish with
    `super().__init__(inputs=..., outputs=..., name=name, **kwargs)`. Constructor arguments must be
    JSON-friendly (numbers, strings, lists, dicts, None).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        user_init = cls.__dict__["__init__"]
        signature = inspect.signature(user_init)

        def recording_init(self, *args, **init_kwargs):
            # Only the outermost constructor records: a subclass of a subclass records its own args.
            if not getattr(self, "_zoo_recording", False):
                bound = signature.bind(self, *args, **init_kwargs)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                arguments.pop("self")
                extra = arguments.pop("kwargs", {}) or {}
                object.__setattr__(self, "_zoo_recording", True)
                object.__setattr__(self, "_zoo_config", {**arguments, **extra})
            user_init(self, *args, **init_kwargs)

        recording_init.__signature__ = signature
        recording_init.__doc__ = user_init.__doc__
        recording_init.__wrapped__ = user_init
        cls.__init__ = recording_init

    def get_config(self):
        config = {key: _to_plain(value) for key, value in self._zoo_config.items()}
        config["name"] = self.name
        config["trainable"] = self.trainable
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config.pop("dtype", None)  # dtype policies are global in deepzoo; see keras.config.
        return cls(**config)


def _to_plain(value):
    """Tuples become lists so that a config survives JSON and compares equal after a round trip."""
    if isinstance(value, (tuple, list)):
        return [_to_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_plain(item) for key, item in value.items()}
    return value
