"""What every format writer shares: the endpoint's named, typed inputs and outputs, its serving
function, the Keras export archive, and an `ExportContext` that carries one export's endpoint,
options and calibration data.

The model given to export is the *endpoint* (`Task.export_endpoint`): a Keras model whose inputs
are named `keras.Input`s of any dtype (float32, int32, int64, string) and whose call returns a tensor
or a dict of named outputs. Names, everywhere an artifact shows them (SavedModel signature keys,
ONNX graph inputs/outputs, TFLite signature tensors, `deepzoo.json`, served tensors):

- inputs take their `keras.Input` names (the keys, for a model called with a dict);
- outputs take the keys of the returned dict; a bare tensor is "output", a list "output_0", ...
- a model with one input and a bare-tensor output keeps "input" -> "output", the names every
  artifact had before named inputs existed, so existing clients keep working.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np

from tasks.base import TensorSpec, length, take

INPUT_NAME = "input"
OUTPUT_NAME = "output"
# A tensor name that is a valid TensorFlow op name, Python keyword argument and ONNX value name.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool", "string")


def numpy_dtype(dtype):
    """The numpy dtype that carries a tensor of `dtype` ("string" -> object arrays of bytes)."""
    return np.dtype(object) if str(dtype) == "string" else np.dtype(str(dtype))


def as_array(value, dtype):
    """`value` as a numpy array of `dtype`; strings become an object array of bytes (UTF-8)."""
    if str(dtype) != "string":
        return np.asarray(value, numpy_dtype(dtype))
    array = np.asarray(value, dtype=object)
    return np.vectorize(_utf8, otypes=[object])(array) if array.size else array


def _utf8(item):
    if isinstance(item, str):
        return item.encode()
    if isinstance(item, (bytes, np.bytes_)):
        return bytes(item)
    raise ValueError(f"A string tensor takes str or bytes elements. Received: {type(item).__name__}")


def as_feeds(inputs, specs, aliases=None):
    """`inputs` (a dict of named arrays, or one array for a one-input model) as {name: array of the
    spec's dtype}, in the order of `specs`. `aliases` maps other accepted keys to spec names."""
    names = [spec.name for spec in specs]
    if not isinstance(inputs, dict):
        if len(specs) != 1:
            raise ValueError(f"The model has {len(specs)} inputs {names}: pass a dict of named arrays. Received: one {type(inputs).__name__}")
        inputs = {names[0]: inputs}
    aliases = aliases or {}
    renamed = {}
    for key, value in inputs.items():
        name = key if key in names else aliases.get(key, key)
        if name in renamed:
            raise ValueError(f"Input '{name}' is given twice (as '{key}' too). Expected inputs: {names}")
        renamed[name] = value
    missing = [name for name in names if name not in renamed]
    unknown = [key for key in renamed if key not in names]
    if missing or unknown:
        raise ValueError(f"Inputs must be exactly {names}. Received: {sorted(inputs)}")
    feeds = {spec.name: as_array(renamed[spec.name], spec.dtype) for spec in specs}
    if any(value.ndim == 0 for value in feeds.values()) or len({len(value) for value in feeds.values()}) != 1:
        raise ValueError(f"Every input needs the same batch size along axis 0. Received: { {k: v.shape for k, v in feeds.items()} }")
    return feeds


def name_outputs(outputs, names=None):
    """A call's result as {name: value}: dict keys, "output" for a bare tensor, "output_i" for a list."""
    if isinstance(outputs, dict):
        return {str(key): value for key, value in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return {f"{OUTPUT_NAME}_{index}": value for index, value in enumerate(outputs)}
    return {OUTPUT_NAME: outputs}


def _check_name(name, what):
    if not _NAME.match(name):
        raise ValueError(f"{what} name must be letters, digits and '_' (not starting with a digit), at most 128. Received: {name!r}")


def _dtype_name(dtype):
    name = getattr(dtype, "name", None) or str(dtype)
    name = name.replace("tf.", "")
    if name not in _DTYPES:
        raise ValueError(f"Export supports tensors of {list(_DTYPES)}. Received: dtype {name!r}")
    return name


class Endpoint:
    """A Keras endpoint model seen as named, typed tensors in and a dict of named tensors out.

    `inputs` / `outputs` are `tasks.TensorSpec`s (batch dimension excluded, `None` = free).
    `function()` is the serving function, a tf.function of one dict argument whose keys become the
    signature's input names; it returns the dict of named outputs.
    """

    def __init__(self, model):
        model_inputs = list(getattr(model, "inputs", None) or [])
        if not model_inputs:
            raise ValueError(f"The export endpoint must be a Keras model built on named keras.Input layers. Received: {type(model).__name__} without inputs")
        self.model = model
        structure = getattr(model, "_inputs_struct", None)
        self._input_keys = list(structure) if isinstance(structure, dict) else None
        if self._input_keys is not None:
            tensors = [structure[key] for key in self._input_keys]
            keras_names = [str(key) for key in self._input_keys]
        else:
            tensors = model_inputs
            keras_names = [t.name.split(":")[0] for t in tensors]
        legacy = len(tensors) == 1 and not isinstance(getattr(model, "_outputs_struct", None), dict)
        names = [INPUT_NAME] if legacy else keras_names
        if len(set(names)) != len(names):
            raise ValueError(f"The endpoint's inputs need distinct names. Received: {names}")
        for name in names:
            _check_name(name, "Input")
        self.inputs = [
            TensorSpec(name, tuple(None if d is None else int(d) for d in t.shape[1:]), _dtype_name(t.dtype)) for name, t in zip(names, tensors)
        ]
        self.aliases = {keras: name for keras, name in zip(keras_names, names) if keras != name}
        self._outputs = None
        self._functions = {}

    @property
    def input_names(self):
        return [spec.name for spec in self.inputs]

    def feeds(self, inputs):
        """Checked, typed feeds for `inputs` (dict by export or keras input names, or one array)."""
        return as_feeds(inputs, self.inputs, self.aliases)

    def pack(self, feeds):
        """Named feeds in the structure the Keras model is called with."""
        values = [feeds[name] for name in self.input_names]
        if self._input_keys is not None:
            return dict(zip(self._input_keys, values))
        return values[0] if len(values) == 1 else values

    def call(self, feeds, training=False):
        """The model on named feeds (tensors or arrays): {output name: tensor}."""
        return name_outputs(self.model(self.pack(feeds), training=training))

    def predict(self, inputs, chunk=256):
        """Keras outputs for `inputs`: {output name: numpy array}, run in chunks of `chunk` rows."""
        feeds = self.feeds(inputs)
        parts = []
        for start in range(0, length(feeds), chunk):
            part = self.call(take(feeds, slice(start, start + chunk)))
            parts.append({name: _numpy(value) for name, value in part.items()})
        return {name: np.concatenate([p[name] for p in parts], axis=0) for name in parts[0]} if parts else {}

    def tf_input_signature(self):
        import tensorflow as tf

        return {spec.name: tf.TensorSpec((None, *spec.shape), tf.as_dtype(spec.dtype), name=spec.name) for spec in self.inputs}

    def function(self, jit_compile=False):
        """The serving function: `{output name: tensor}` of a dict of named inputs, free batch
        dimension. One per `jit_compile`, so that every format shares its trace."""
        import tensorflow as tf

        key = bool(jit_compile)
        if key not in self._functions:

            def serve(inputs):
                return self.call(inputs)

            self._functions[key] = tf.function(serve, input_signature=[self.tf_input_signature()], autograph=False, jit_compile=key or None)
        return self._functions[key]

    @property
    def outputs(self):
        """Output specs, read from one trace of the serving function (batch dimension excluded)."""
        if self._outputs is None:
            traced = self.function().get_concrete_function().structured_outputs
            specs = []
            for name, tensor in traced.items():
                _check_name(name, "Output")
                if tensor.shape.rank is None or tensor.shape.rank < 1:
                    raise ValueError(f"Every endpoint output needs a batch dimension. Received: output '{name}' of shape {tensor.shape}")
                specs.append(TensorSpec(name, tuple(d for d in tensor.shape.as_list()[1:]), _dtype_name(tensor.dtype)))
            self._outputs = specs
        return self._outputs

    def string_tensors(self):
        """Names of the string inputs and outputs (formats without string tensors refuse them)."""
        return [f"input '{s.name}'" for s in self.inputs if s.dtype == "string"] + [f"output '{s.name}'" for s in self.outputs if s.dtype == "string"]


def _numpy(value):
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def random_inputs(specs, n, seed=0):
    """A random batch for `specs`: floats in [0, 1), small non-negative integers, short words."""
    rng = np.random.default_rng(seed)
    batch = {}
    for spec in specs:
        shape = (n, *[8 if d is None else int(d) for d in spec.shape])
        if spec.dtype == "string":
            words = np.array([b"alpha", b"beta", b"gamma", b"delta"], dtype=object)
            batch[spec.name] = words[rng.integers(0, len(words), size=shape)]
        elif spec.dtype == "bool":
            batch[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
        elif np.dtype(spec.dtype).kind in "iu":
            batch[spec.name] = rng.integers(0, 2, size=shape).astype(spec.dtype)
        else:
            batch[spec.name] = rng.uniform(0, 1, size=shape).astype(spec.dtype)
    return batch


def refuse_strings(endpoint, format_name):
    """A format whose converter has no string tensors fails with one line naming them."""
    strings = endpoint.string_tensors()
    if strings:
        raise ValueError(
            f"{format_name} cannot carry string tensors ({', '.join(strings)}); serve this endpoint as a SavedModel "
            f"and declare '{format_name.lower()}' as a limitation of the model."
        )


def export_archive(endpoint, xla_endpoint):
    """A Keras ExportArchive with the `serving_default` signature (and `serving_xla` if asked).

    ExportArchive tracks the model's variables properly; a plain `tf.saved_model.save` of a Keras 3
    model leaves them unfrozen and the TFLite converter then emits uninitialised READ_VARIABLEs.
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.track(endpoint.model)
    archive.add_endpoint("serving_default", endpoint.function())
    if xla_endpoint:
        # The same function compiled with XLA: the GPU hot path.
        archive.add_endpoint("serving_xla", endpoint.function(jit_compile=True))
    return archive


@dataclasses.dataclass
class ExportContext:
    """One export: the endpoint, its options, representative inputs, and a private work folder."""

    endpoint: Endpoint
    workdir: Path
    options: dict
    calibration_inputs: dict
    calibration_source: str | None = None
    _tflite_source: Path | None = None

    @property
    def model(self):
        return self.endpoint.model

    @property
    def calibration_count(self):
        available = length(self.calibration_inputs)
        limit = int(self.options.get("calibration_samples") or available)
        return min(limit, available)

    def tflite_source(self):
        """A SavedModel with a `serving_default` signature, written once per export for every TFLite
        variant: the `savedmodel` format's own folder when that format was written first (the
        converter reads only the signature it is given), else a private one.

        Converting from a SavedModel keeps the dynamic batch dimension working in LiteRT's signature
        runner (a converted concrete function gave NaNs after resizing the batch).
        """
        if self._tflite_source is None:
            path = Path(self.workdir) / "tflite-source"
            export_archive(self.endpoint, xla_endpoint=False).write_out(str(path), verbose=False)
            self._tflite_source = path
        return self._tflite_source

    def reuse_as_tflite_source(self, savedmodel_dir):
        if self._tflite_source is None:
            self._tflite_source = Path(savedmodel_dir)
