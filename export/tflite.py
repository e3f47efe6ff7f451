"""TFLite / LiteRT variants: fp32, fp16 weights, dynamic-range int8 and full-integer int8.

All four convert the same SavedModel (`ExportContext.tflite_source`) with TensorFlow's converter and
run in LiteRT (`ai_edge_litert`) through the `serving_default` signature.

Full-integer int8 is calibrated on representative inputs (for a run: its training split, see
`export/run_export.py`) and keeps only int8 builtin ops, so a model that cannot be fully quantised
fails with the converter's reason instead of silently falling back to float. Options:

- `int8_io`: int8 input and output tensors as well (microcontroller-class targets); the runner here
  quantises float inputs and dequantises outputs with the tensors' own scale and zero point.
- `int8_per_tensor`: one scale per weight tensor instead of one per output channel. Smaller (the
  per-channel scales and zero points are 12 bytes a channel) and what some MCU kernels expect, but
  depthwise convolutions usually lose accuracy with it.
- `calibration_samples`: how many representative inputs to use (default 256).

The int8 artifact carries no intermediate tensor names (the signature's names stay), as TFLite
Micro's `strip_strings` does: they are debug strings, about 2% of a small model.
"""

import os
import warnings
from pathlib import Path

import numpy as np

from export.context import refuse_strings
from tasks.base import TensorSpec, take

FILENAMES = {
    "fp32": "model.tflite",
    "fp16": "model_fp16.tflite",
    "dynamic": "model_dynamic_int8.tflite",
    "int8": "model_int8.tflite",
}
DEFAULT_CALIBRATION_SAMPLES = 256


def write_tflite(context, out_dir, quantization):
    import tensorflow as tf

    if quantization not in FILENAMES:
        raise ValueError(f"Unknown TFLite quantization {quantization!r}. Expected one of {sorted(FILENAMES)}.")
    refuse_strings(context.endpoint, "TFLite")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(context.tflite_source()), signature_keys=["serving_default"])
    details = {"quantization": quantization}
    if quantization != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        details.update(_configure_full_integer(converter, context))
    with warnings.catch_warnings():
        # The converter calibrates with tf.lite.Interpreter, which warns about its own deprecation.
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        flatbuffer = converter.convert()
    if quantization == "int8":
        flatbuffer = strip_intermediate_names(flatbuffer)
    path = Path(out_dir) / FILENAMES[quantization]
    path.write_bytes(flatbuffer)
    return path, details


def _configure_full_integer(converter, context):
    import tensorflow as tf

    options = context.options
    calibration = context.calibration_inputs
    count = min(int(options.get("calibration_samples") or DEFAULT_CALIBRATION_SAMPLES), context.calibration_count)
    if count < 1:
        raise ValueError("Full-integer quantisation needs representative inputs. Received: 0 calibration inputs")

    def representative_dataset():
        for index in range(count):
            yield take(calibration, slice(index, index + 1))  # one example of every named input

    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    int8_io = bool(options.get("int8_io"))
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    per_tensor = bool(options.get("int8_per_tensor"))
    if per_tensor:
        if not hasattr(converter, "_experimental_disable_per_channel"):
            raise ValueError("This TensorFlow's TFLite converter cannot disable per-channel quantisation (int8_per_tensor).")
        converter._experimental_disable_per_channel = True
    return {
        "io_dtype": "int8" if int8_io else "float32",
        "weights": "per-tensor" if per_tensor else "per-channel",
        "calibration_examples": count,
        "calibration_source": context.calibration_source,
    }


def strip_intermediate_names(flatbuffer):
    """Clears the names of tensors that no signature refers to; the signatures keep theirs."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    kept = set()
    for signature in model.signatureDefs or []:
        for tensor_map in (*(signature.inputs or []), *(signature.outputs or [])):
            kept.add((signature.subgraphIndex, tensor_map.tensorIndex))
    for index, subgraph in enumerate(model.subgraphs):
        for tensor_index, tensor in enumerate(subgraph.tensors):
            if (index, tensor_index) not in kept:
                tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def size_breakdown(path):
    """Where a `.tflite` file's bytes go: {"weights_<dtype>": bytes of constant tensors of that type,
    "quantization_parameters": bytes of the scales (float32) and zero points (int64) the schema
    stores per tensor or per channel, "other": operators, shapes, names, flatbuffer framing}.

    Per-channel int8 pays 12 bytes of parameters per output channel of every weight tensor, and as
    many again on a conv's int32 bias: for a net of many narrow layers (MobileNet-V2) that keeps its
    size above 0.25× of fp32 whatever the weights.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    type_names = {value: name.lower() for name, value in vars(_tensor_types()).items() if not name.startswith("_")}
    sizes, counted = {}, set()
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            buffer = model.buffers[tensor.buffer] if tensor.buffer is not None else None
            if buffer is not None and buffer.data is not None and tensor.buffer not in counted:
                counted.add(tensor.buffer)
                key = f"weights_{type_names.get(tensor.type, tensor.type)}"
                sizes[key] = sizes.get(key, 0) + len(buffer.data)
            quantization = tensor.quantization
            if quantization is not None:
                parameters = 4 * len(quantization.scale if quantization.scale is not None else ()) + 8 * len(quantization.zeroPoint if quantization.zeroPoint is not None else ())
                sizes["quantization_parameters"] = sizes.get("quantization_parameters", 0) + parameters
    total = Path(path).stat().st_size
    sizes["other"] = total - sum(sizes.values())
    return {"total": total, **sizes}


def _tensor_types():
    from tensorflow.lite.python import schema_py_generated

    return schema_py_generated.TensorType


class SignatureRunner:
    """Runs a `.tflite` file's `serving_default` signature on named inputs, in LiteRT.

    Integer-quantised input and output tensors (full-integer models with `int8_io`) are quantised
    and dequantised here with each tensor's scale and zero point, so every variant is called with
    the float tensors the model was trained on. Tensors without quantisation parameters (token ids,
    int32/int64 outputs) pass through unchanged.
    """

    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = str(path)
        self.interpreter = Interpreter(model_path=self.path, num_threads=num_threads or os.cpu_count())
        self.runner = self.interpreter.get_signature_runner("serving_default")
        self.input_details = self.runner.get_input_details()
        self.output_details = self.runner.get_output_details()
        self.inputs = [_spec(name, detail) for name, detail in self.input_details.items()]
        self.outputs = [_spec(name, detail) for name, detail in self.output_details.items()]
        quantized_io = [d for d in (*self.input_details.values(), *self.output_details.values()) if is_quantized(d)]
        self.info = {"io_dtype": "int8" if quantized_io else "float32", "threads": num_threads or os.cpu_count()}
        for key, details in (("input_quantization", self.input_details), ("output_quantization", self.output_details)):
            quantized = {name: _quantization(d) for name, d in details.items() if is_quantized(d)}
            if quantized:
                self.info[key] = quantized

    def __call__(self, feeds):
        prepared = {name: quantize(np.asarray(value), self.input_details[name]) for name, value in feeds.items()}
        results = self.runner(**prepared)
        return {name: dequantize(value, self.output_details[name]) for name, value in results.items()}


def is_quantized(detail):
    """Whether a signature tensor is an integer tensor standing for floats (it has a scale)."""
    scale = (detail.get("quantization") or (0.0, 0))[0]
    return np.dtype(detail["dtype"]).kind in "iu" and bool(scale)


def _quantization(detail):
    scale, zero_point = detail["quantization"]
    return {"scale": float(scale), "zero_point": int(zero_point)}


def _spec(name, detail):
    """The tensor as a caller sees it: quantised tensors take and give float32."""
    dtype = "float32" if is_quantized(detail) else np.dtype(detail["dtype"]).name
    shape = tuple(None if int(d) < 0 else int(d) for d in detail["shape_signature"][1:])
    return TensorSpec(name, shape, dtype)


def quantize(values, detail):
    dtype = np.dtype(detail["dtype"])
    if not is_quantized(detail):
        return values.astype(dtype, copy=False)
    scale, zero_point = detail["quantization"]
    limits = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), limits.min, limits.max).astype(dtype)


def dequantize(values, detail):
    values = np.asarray(values)
    if not is_quantized(detail):
        return np.array(values, copy=True)  # the interpreter reuses its output buffers
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)
