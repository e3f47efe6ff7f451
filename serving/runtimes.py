"""The runtimes that execute an exported artifact: ONNX Runtime, LiteRT (TFLite) and TensorFlow
(SavedModel). Each is imported only when a model uses it, so a repository of ONNX models never
imports TensorFlow.

A runtime describes its own inputs and outputs from the artifact (what the server validates
requests against) and runs a dict of batched numpy arrays, fed by name, to a dict of every output's
batched numpy array. String tensors are numpy object arrays of bytes.
"""

import logging
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

from serving.tensors import TensorSpec

log = logging.getLogger("deepzoo.serving")

RUNTIME_KINDS = ("onnx", "tflite", "savedmodel")
AUTO_ORDER = RUNTIME_KINDS  # `auto` prefers ONNX Runtime, then LiteRT, then TensorFlow
DEFAULT_FILES = {"onnx": "model.onnx", "tflite": "model.tflite", "savedmodel": "saved_model.pb"}
# How long (µs) idle ONNX Runtime workers spin before sleeping; see OnnxRuntime.__init__.
INTRA_OP_SPIN_US = 50
SIGNATURE = "serving_default"
XLA_SIGNATURE = "serving_xla"


def runtime_kind(artifact_key):
    """'onnx', 'tflite' or 'savedmodel' for an artifact key of the metadata ('tflite_int8' -> 'tflite')."""
    for kind in RUNTIME_KINDS:
        if artifact_key == kind or artifact_key.startswith(kind + "_"):
            return kind
    return None


def _placeholder(shape, dtype):
    """Zeros of `dtype`; empty strings for a string (object) tensor."""
    if dtype == np.dtype(object):
        array = np.empty(shape, dtype=object)
        array.fill(b"")
        return array
    return np.zeros(shape, dtype)


def _dim(value):
    return int(value) if isinstance(value, (int, np.integer)) and int(value) >= 0 else -1


class Runtime:
    """Base class: `inputs`/`outputs` are lists of `TensorSpec`; `run(feeds) -> outputs`."""

    kind = ""
    platform = ""
    thread_safe = True
    accelerated = False  # runs on a GPU (or another accelerator)

    def __init__(self, path, options):
        self.path = Path(path)
        self.options = options
        self.inputs = []
        self.outputs = []

    def run(self, feeds):
        raise NotImplementedError

    def warm_up(self):
        """One batch-1 run of zeros, so lazy initialisation (delegates, allocation, XLA compilation,
        TensorRT engines) happens at load time instead of in the first request."""
        if all(d > 0 for spec in self.inputs for d in spec.shape[1:]):
            self.run({spec.name: _placeholder((1, *spec.shape[1:]), spec.dtype) for spec in self.inputs})

    def describe(self):
        return {"runtime": self.kind, "artifact": self.path.name, "accelerated": self.accelerated}


# --- ONNX Runtime -------------------------------------------------------------------------------


def cuda_device_visible():
    return any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/nvidiactl")) and os.environ.get("CUDA_VISIBLE_DEVICES", "0") != ""


def onnx_providers(input_specs=(), max_batch_size=1):
    """Best ONNX Runtime providers that can work here, best first, CPU always last.

    CUDA and TensorRT are offered only when a GPU is visible (a CUDA wheel lists them regardless).
    TensorRT gets one optimisation profile covering batch 1..max_batch_size, so dynamic batching
    does not rebuild an engine for every new batch size; it is left out when a non-batch dimension
    is unknown.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    chosen = []
    if cuda_device_visible():
        fixed = input_specs and all(d > 0 for spec in input_specs for d in spec.shape[1:])
        if "TensorrtExecutionProvider" in available and fixed:

            def profile(batch):
                return ",".join(f"{s.name}:{'x'.join(str(d) for d in (batch, *s.shape[1:]))}" for s in input_specs)

            chosen.append(
                (
                    "TensorrtExecutionProvider",
                    {
                        "trt_engine_cache_enable": True,
                        "trt_engine_cache_path": str(Path(tempfile.gettempdir()) / "deepzoo-trt-cache"),
                        "trt_profile_min_shapes": profile(1),
                        "trt_profile_opt_shapes": profile(max_batch_size),
                        "trt_profile_max_shapes": profile(max_batch_size),
                    },
                )
            )
        if "CUDAExecutionProvider" in available:
            chosen.append("CUDAExecutionProvider")
    return chosen + ["CPUExecutionProvider"]


_ONNX_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


class OnnxRuntime(Runtime):
    kind = "onnx"
    platform = "onnxruntime_onnx"

    def __init__(self, path, options):
        import onnxruntime as ort

        super().__init__(path, options)
        session_options = ort.SessionOptions()
        session_options.log_severity_level = 3
        # ONNX Runtime's idle workers spin instead of sleeping. Inside a run that is what makes it
        # fast (MobileNetV2, batch 1, 2 cores: 5.3 ms, 6.8 ms with spinning off). By default they
        # also keep spinning after the run (~40 ms of CPU), on the cores the event loop needs to
        # answer and parse requests. A bounded spin keeps the first and drops the second: served
        # 9.6 ms vs 11.5 ms with spinning off, side by side.
        session_options.add_session_config_entry("session.intra_op.spin_duration_us", str(INTRA_OP_SPIN_US))
        # The artifact's own I/O description comes from a CPU session (cheap), so the GPU providers
        # can be given the input shapes they need.
        probe = ort.InferenceSession(str(path), sess_options=session_options, providers=["CPUExecutionProvider"])
        self.inputs = [self._spec(i) for i in probe.get_inputs()]
        self.outputs = [self._spec(o) for o in probe.get_outputs()]
        providers = onnx_providers(self.inputs, options.get("max_batch_size", 1))
        if providers == ["CPUExecutionProvider"]:
            self.session = probe
        else:
            try:
                self.session = ort.InferenceSession(str(path), sess_options=session_options, providers=providers)
            except Exception as exc:  # a GPU provider that cannot start here: CPU still serves
                log.warning("GPU providers failed, using CPU", extra={"artifact": str(path), "error": str(exc)[:300]})
                self.session = probe
        self.output_names = [o.name for o in self.outputs]
        self.accelerated = self.session.get_providers()[0] != "CPUExecutionProvider"

    @staticmethod
    def _spec(node):
        return TensorSpec(node.name, tuple(_dim(d) for d in node.shape), np.dtype(_ONNX_TYPES.get(node.type, np.object_)))

    def run(self, feeds):
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))

    def describe(self):
        return {**super().describe(), "providers": self.session.get_providers()}


# --- LiteRT -------------------------------------------------------------------------------------


class LiteRTRuntime(Runtime):
    """A TFLite flatbuffer run by LiteRT's signature runner; one interpreter per instance (not thread-safe).

    Integer-quantised inputs and outputs (full-int8 exports) are (de)quantised here, so clients
    always send and receive the float tensors the model was trained on.
    """

    kind = "tflite"
    platform = "litert_tflite"
    thread_safe = False

    def __init__(self, path, options):
        from ai_edge_litert.interpreter import Interpreter

        super().__init__(path, options)
        self.interpreter = Interpreter(model_path=str(path), num_threads=options.get("num_threads") or os.cpu_count())
        signatures = self.interpreter.get_signature_list()
        signature = SIGNATURE if SIGNATURE in signatures else next(iter(signatures), None)
        if signature is None:
            raise ValueError(f"TFLite model has no signature. Received: {path}")
        self.runner = self.interpreter.get_signature_runner(signature)
        self._input_details = self.runner.get_input_details()
        self._output_details = self.runner.get_output_details()
        self.inputs = [self._spec(name, d) for name, d in self._input_details.items()]
        self.outputs = [self._spec(name, d) for name, d in self._output_details.items()]
        self._lock = threading.Lock()

    @staticmethod
    def _quantization(details):
        scale, zero_point = details.get("quantization", (0.0, 0))
        return (float(scale), int(zero_point)) if scale else None

    def _spec(self, name, details):
        dtype = np.dtype(details["dtype"])
        if self._quantization(details) is not None:
            dtype = np.dtype(np.float32)
        return TensorSpec(name, tuple(_dim(d) for d in details["shape_signature"]), dtype)

    def run(self, feeds):
        prepared = {}
        for name, value in feeds.items():
            details = self._input_details[name]
            quantization = self._quantization(details)
            if quantization is not None:
                scale, zero_point = quantization
                info = np.iinfo(details["dtype"])
                value = np.clip(np.round(value / scale) + zero_point, info.min, info.max).astype(details["dtype"])
            prepared[name] = value
        with self._lock:
            results = self.runner(**prepared)
            outputs = {}
            for name, value in results.items():
                quantization = self._quantization(self._output_details[name])
                if quantization is not None:
                    scale, zero_point = quantization
                    value = (value.astype(np.float32) - zero_point) * scale
                outputs[name] = np.array(value, copy=True)  # the interpreter reuses its buffers
        return outputs


# --- TensorFlow SavedModel ----------------------------------------------------------------------


class SavedModelRuntime(Runtime):
    """The SavedModel's `serving_default` signature, or its XLA-compiled `serving_xla` with `xla=True`.

    XLA compiles once per input shape, so with XLA the batch is padded up to a power of two: dynamic
    batching then meets a handful of shapes instead of one per batch size.
    """

    kind = "savedmodel"
    platform = "tensorflow_savedmodel"

    def __init__(self, path, options):
        from common.tensorflow_import import import_tensorflow

        tf = import_tensorflow()
        super().__init__(path, options)
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)  # share the GPU with ONNX Runtime
            except RuntimeError:
                pass  # already initialised: the setting only applies before first use
        self._tf = tf
        self.loaded = tf.saved_model.load(str(self.path.parent))
        self.xla = bool(options.get("xla"))
        name = XLA_SIGNATURE if self.xla else SIGNATURE
        if name not in self.loaded.signatures:
            raise ValueError(f"SavedModel has no '{name}' signature. Available: {sorted(self.loaded.signatures)}")
        self.signature_name = name
        self.accelerated = bool(tf.config.list_logical_devices("GPU"))
        self.function = self.loaded.signatures[name]
        input_specs = self.function.structured_input_signature[1]
        self.inputs = [self._spec(key, spec) for key, spec in sorted(input_specs.items())]
        self.outputs = [self._spec(key, spec) for key, spec in sorted(self.function.structured_outputs.items())]

    @staticmethod
    def _spec(key, spec):
        dims = spec.shape.as_list() if spec.shape.rank is not None else [-1]
        return TensorSpec(key, tuple(-1 if d is None else int(d) for d in dims), np.dtype(spec.dtype.as_numpy_dtype))

    def run(self, feeds):
        tf = self._tf
        batch = next(iter(feeds.values())).shape[0]
        padded = 1 << (batch - 1).bit_length() if self.xla else batch
        tensors = {}
        for name, value in feeds.items():
            if padded != batch:
                value = np.concatenate([value, np.repeat(value[-1:], padded - batch, axis=0)])
            tensors[name] = tf.constant(value)
        results = self.function(**tensors)
        return {name: value.numpy()[:batch] for name, value in results.items()}

    def describe(self):
        return {**super().describe(), "signature": self.signature_name, "devices": [d.name for d in self._tf.config.list_logical_devices()]}


RUNTIMES = {"onnx": OnnxRuntime, "tflite": LiteRTRuntime, "savedmodel": SavedModelRuntime}
