"""Tensor specs, the datatype names of both protocols, and the checks that turn a request's data into
an array the runtime can take without failing: right dtype, right rank, right fixed dimensions,
finite values (unless the model allows non-finite inputs).

String tensors (KServe `BYTES`, TensorFlow `DT_STRING`) are numpy object arrays of `bytes`: JSON
strings arrive UTF-8 encoded, TF Serving's `{"b64": ...}` objects decoded, and the binary extension's
elements length-prefixed (4-byte little-endian length, then the bytes).
"""

import base64
import binascii
import dataclasses
import math
import struct

import numpy as np

from serving.errors import BadRequest

# Open Inference Protocol datatype <-> numpy <-> TensorFlow DataType enum name.
_DATATYPES = (
    ("BOOL", np.bool_, "DT_BOOL"),
    ("UINT8", np.uint8, "DT_UINT8"),
    ("UINT16", np.uint16, "DT_UINT16"),
    ("UINT32", np.uint32, "DT_UINT32"),
    ("UINT64", np.uint64, "DT_UINT64"),
    ("INT8", np.int8, "DT_INT8"),
    ("INT16", np.int16, "DT_INT16"),
    ("INT32", np.int32, "DT_INT32"),
    ("INT64", np.int64, "DT_INT64"),
    ("FP16", np.float16, "DT_HALF"),
    ("FP32", np.float32, "DT_FLOAT"),
    ("FP64", np.float64, "DT_DOUBLE"),
)
NUMPY_BY_DATATYPE = {name: np.dtype(np_type) for name, np_type, _ in _DATATYPES}
DATATYPE_BY_NUMPY = {np.dtype(np_type): name for name, np_type, _ in _DATATYPES}
TF_BY_NUMPY = {np.dtype(np_type): tf_name for _, np_type, tf_name in _DATATYPES}
ALL_DATATYPES = tuple(name for name, _, _ in _DATATYPES) + ("BYTES",)

BYTES_DTYPE = np.dtype(object)
MAX_RANK = 32
# numpy dtype kinds a JSON value of each target kind may arrive as ('b' bool, 'i'/'u' int, 'f' float).
_ACCEPTED_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A named tensor: `shape` uses -1 for a dimension of any size (dimension 0 is the batch)."""

    name: str
    shape: tuple
    dtype: np.dtype

    @property
    def datatype(self):
        return DATATYPE_BY_NUMPY.get(self.dtype, "BYTES")

    @property
    def tf_dtype(self):
        return TF_BY_NUMPY.get(self.dtype, "DT_STRING")

    def as_v2(self):
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def format_shape(shape):
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def parse_shape(value, what):
    """A request's declared shape: a list of non-negative integers."""
    if not isinstance(value, list) or len(value) > MAX_RANK:
        raise BadRequest(f"{what}: 'shape' must be a list of at most {MAX_RANK} non-negative integers. Received: {_short(value)}")
    for dim in value:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 0:
            raise BadRequest(f"{what}: 'shape' must be a list of non-negative integers. Received: {_short(value)}")
    return tuple(value)


def array_from_json(data, spec, what, declared_shape=None, b64=False):
    """JSON data (nested lists, flat list or scalar) -> array of `spec.dtype`, reshaped to `declared_shape`.

    The dtype is inferred first so that strings, nulls, objects and out-of-range integers are refused
    rather than coerced. A BYTES tensor takes strings (and, with `b64`, TF Serving's
    `{"b64": "..."}` objects for binary values).
    """
    if spec.dtype == BYTES_DTYPE:
        return _reshape(bytes_from_json(data, what, b64), declared_shape, what)
    try:
        raw = np.asarray(data)
    except (ValueError, TypeError, RecursionError, OverflowError):
        raise BadRequest(f"{what}: data must be a rectangular (nested) list of numbers.") from None
    accepted = _ACCEPTED_KINDS.get(spec.dtype.kind)
    if accepted is None:
        raise BadRequest(f"{what}: datatype {spec.datatype} cannot be sent as JSON data; use binary data.")
    if raw.dtype.kind not in accepted:
        received = {"U": "strings", "S": "strings", "O": "nulls, objects or out-of-range numbers", "b": "booleans", "f": "floats"}.get(raw.dtype.kind, raw.dtype.name)
        raise BadRequest(f"{what}: expected {spec.datatype} values. Received: {received}.")
    if spec.dtype.kind in "iu" and raw.size:
        info = np.iinfo(spec.dtype)
        if raw.min() < info.min or raw.max() > info.max:
            raise BadRequest(f"{what}: values out of range for {spec.datatype}.")
    return _reshape(raw.astype(spec.dtype, copy=False), declared_shape, what)


def _reshape(array, declared_shape, what):
    if declared_shape is not None:
        if math.prod(declared_shape) != array.size:
            raise BadRequest(
                f"{what}: shape {format_shape(declared_shape)} holds {math.prod(declared_shape)} elements but data has {array.size}."
            )
        array = array.reshape(declared_shape)
    return array


def bytes_from_json(data, what, b64=False):
    """Nested lists of JSON strings (or `{"b64": ...}` objects with `b64`) -> object array of bytes."""
    shape = []
    level = data
    while isinstance(level, list):
        shape.append(len(level))
        if len(shape) > MAX_RANK:
            raise BadRequest(f"{what}: data nests deeper than {MAX_RANK} levels.")
        if not level:
            break
        level = level[0]
    flat = []

    def walk(value, depth):
        if depth < len(shape):
            if not isinstance(value, list) or len(value) != shape[depth]:
                raise BadRequest(f"{what}: data must be a rectangular (nested) list of strings.")
            for item in value:
                walk(item, depth + 1)
        else:
            flat.append(_bytes_element(value, what, b64))

    walk(data, 0)
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(shape)


def _bytes_element(value, what, b64):
    if isinstance(value, str):
        return value.encode()
    if b64 and isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"{what}: 'b64' must hold base64 data.") from None
    expected = 'strings or {"b64": ...} objects' if b64 else "strings"
    received = "nested lists of uneven depth" if isinstance(value, list) else type(value).__name__.replace("NoneType", "null")
    raise BadRequest(f"{what}: expected BYTES values as {expected}. Received: {received}.")


def array_from_bytes(buffer, spec, what, declared_shape):
    if spec.dtype == BYTES_DTYPE:
        return bytes_from_buffer(buffer, what, declared_shape)
    itemsize = spec.dtype.itemsize
    expected = math.prod(declared_shape) * itemsize
    if len(buffer) != expected:
        raise BadRequest(f"{what}: shape {format_shape(declared_shape)} of {spec.datatype} needs {expected} bytes but binary data has {len(buffer)}.")
    return np.frombuffer(buffer, dtype=spec.dtype).reshape(declared_shape)


def bytes_from_buffer(buffer, what, declared_shape):
    """The binary extension's BYTES tensor: each element a 4-byte little-endian length, then its bytes."""
    buffer = memoryview(buffer)
    count = math.prod(declared_shape)
    elements, offset = [], 0
    for _ in range(count):
        if offset + 4 > len(buffer):
            raise BadRequest(f"{what}: binary BYTES data ends inside element {len(elements)} of {count} (each is a 4-byte length, then the bytes).")
        (size,) = struct.unpack_from("<I", buffer, offset)
        offset += 4
        if offset + size > len(buffer):
            raise BadRequest(f"{what}: binary BYTES element {len(elements)} claims {size} bytes; {len(buffer) - offset} remain.")
        elements.append(bytes(buffer[offset : offset + size]))
        offset += size
    if offset != len(buffer):
        raise BadRequest(f"{what}: shape {format_shape(declared_shape)} holds {count} BYTES elements; {len(buffer) - offset} bytes are left over.")
    array = np.empty(count, dtype=object)
    array[:] = elements
    return array.reshape(declared_shape)


def bytes_to_buffer(array):
    """BYTES elements as the binary extension lays them out (see `bytes_from_buffer`)."""
    return b"".join(struct.pack("<I", len(item)) + item for item in (_as_bytes(v) for v in array.ravel()))


def _as_bytes(value):
    return value.encode() if isinstance(value, str) else bytes(value)


def check_finite(array, what):
    """NaN and ±Infinity (also `1e999`, which JSON parsers read as Infinity) are refused."""
    if array.dtype.kind in "fc" and array.size and not np.isfinite(array).all():
        raise BadRequest(f"{what}: NaN and Infinity are not accepted (serving.json \"allow_non_finite\": true allows them for this model).")
    return array


def json_values(array, what="output", b64=False):
    """An output array as JSON-ready nested lists. Strict JSON (RFC 8259) has no NaN or Infinity:
    they become the strings "NaN", "Infinity" and "-Infinity", as TF Serving writes them. BYTES
    become strings (UTF-8), or with `b64` TF Serving's `{"b64": ...}` objects."""
    if array.dtype == BYTES_DTYPE or array.dtype.kind in "SU":
        return np.vectorize(lambda item: _bytes_json(item, what, b64), otypes=[object])(array).tolist() if array.size else array.tolist()
    if array.dtype.kind in "fc" and array.size and not np.isfinite(array).all():
        values = array.astype(object)
        values[np.isnan(array)] = "NaN"
        values[np.isposinf(array)] = "Infinity"
        values[np.isneginf(array)] = "-Infinity"
        return values.tolist()
    return array.tolist()


def _bytes_json(item, what, b64):
    data = _as_bytes(item)
    if b64:
        return {"b64": base64.b64encode(data).decode("ascii")}
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise NonTextBytes(what) from None


class NonTextBytes(BadRequest):
    """A BYTES output that is not UTF-8 text cannot be a JSON string; the caller picks another encoding."""

    def __init__(self, what):
        super().__init__(f"{what} holds bytes that are not UTF-8 text; request it as binary data.")


def check_batch(array, spec, what):
    """Refuses anything the runtime would fail on: wrong rank, wrong fixed dimension, empty batch."""
    expected = format_shape(spec.shape)
    if array.ndim != len(spec.shape):
        raise BadRequest(f"{what}: expected shape {expected} (rank {len(spec.shape)}, -1 = any size). Received: shape {format_shape(array.shape)}.")
    for got, want in zip(array.shape, spec.shape):
        if want != -1 and got != want:
            raise BadRequest(f"{what}: expected shape {expected} (-1 = any size). Received: shape {format_shape(array.shape)}.")
    if array.shape[0] < 1:
        raise BadRequest(f"{what}: the batch dimension must be at least 1. Received: shape {format_shape(array.shape)}.")
    if array.size == 0:
        raise BadRequest(f"{what}: the tensor is empty. Received: shape {format_shape(array.shape)}.")
    return array


def check_inputs(arrays, specs, allow_non_finite=False):
    """Every input present, none unknown, each valid (finite, unless `allow_non_finite`), all with the
    same batch size. Returns the batch size."""
    names = [spec.name for spec in specs]
    missing = [name for name in names if name not in arrays]
    if missing:
        raise BadRequest(f"Missing input(s) {missing}. Expected inputs: {names}.")
    unknown = [name for name in arrays if name not in names]
    if unknown:
        raise BadRequest(f"Unknown input(s) {unknown}. Expected inputs: {names}.")
    for spec in specs:
        check_batch(arrays[spec.name], spec, f"input '{spec.name}'")
        if not allow_non_finite:
            check_finite(arrays[spec.name], f"input '{spec.name}'")
    batch_sizes = {arrays[name].shape[0] for name in names}
    if len(batch_sizes) != 1:
        raise BadRequest(f"All inputs must have the same batch size. Received: {sorted(batch_sizes)}.")
    return batch_sizes.pop()


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
