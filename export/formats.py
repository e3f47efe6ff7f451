"""One table of export formats; one function per format to write it and one to load it in its own
runtime. Every artifact is verified against the Keras model on held-out inputs before it is
published, and published atomically (see `export/staging.py`).

Layout of an export directory (the same as one version folder of a TF Serving / Triton model
repository, so `export/repository.py` only has to place it):

    saved_model.pb, variables/   SavedModel: signature `serving_default` (named inputs -> named
                                 outputs) and `serving_xla`, the same function compiled with XLA
    model.onnx                   ONNX (tf2onnx), dynamic batch dimension `batch`, same tensor names
    model.tflite                 TFLite / LiteRT fp32, signature `serving_default`, same names
    model_fp16.tflite            fp16 weights
    model_dynamic_int8.tflite    dynamic-range int8 weights, float activations
    model_int8.tflite            full-integer int8, calibrated on the run's training pipeline;
                                 int8 inputs and outputs with `int8_io` (microcontroller targets)
    deepzoo.json                 metadata: every input and output (name, shape with -1 for a free
                                 dimension, dtype), task, labels, preprocessing, source run, tool
                                 versions and, per artifact, its verification result

The model exported is the endpoint (`Task.export_endpoint`): named inputs of any dtype, a dict of
named outputs; see `export/context.py` for how tensors are named. Every output is verified: float
formats by the task's `compare_outputs` (element-wise by default, fp16 looser), quantised formats by
the task's objective metric of the artifact against the Keras model's (`export/verify.py`). ONNX and
TFLite carry no string tensors: an endpoint with one fails those formats with a one-line reason.
"""

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from export import tflite as tflite_formats
from export.context import INPUT_NAME, OUTPUT_NAME, Endpoint, ExportContext, as_feeds, export_archive, random_inputs, refuse_strings
from export.staging import ExportStaging
from export.verify import resolve_task, verify_artifact
from tasks.base import TensorSpec, length

METADATA_FILE = "deepzoo.json"
DEFAULT_OPSET = 17

__all__ = [
    "DEFAULT_OPSET",
    "FORMATS",
    "INPUT_NAME",
    "METADATA_FILE",
    "OUTPUT_NAME",
    "SWEEP_FORMATS",
    "ExportFormat",
    "ExportResult",
    "export_model",
    "load_artifact",
    "onnx_providers",
    "read_metadata",
    "resolve_formats",
]


@dataclasses.dataclass
class ExportResult:
    format: str
    path: str
    verified: bool
    max_abs_diff: float | None = None
    runtime: str = ""
    seconds: float = 0.0
    error: str | None = None
    size_bytes: int = 0
    metric: dict | None = None  # {"name", "keras", "artifact", "delta", "tolerance"}
    details: dict = dataclasses.field(default_factory=dict)  # providers, quantisation, signatures, ...

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    """One artifact kind.

    Attributes:
        name: format id (`--format`).
        filename: the artifact's main file inside an export directory.
        runtime: where it is verified and served ("tensorflow", "onnxruntime", "litert").
        write: `fn(context, out_dir) -> (path, details)` writes the artifact into `out_dir`.
        load: `fn(path) -> Predictor` loads it in its runtime: a callable on named inputs.
        companions: other entries of the artifact (published before `filename`).
        check: "elementwise" (float formats) or "metric" (quantised formats).
        atol, rtol: element-wise tolerance.
    """

    name: str
    filename: str
    runtime: str
    write: Callable
    load: Callable
    companions: tuple = ()
    check: str = "elementwise"
    atol: float = 1e-4
    rtol: float = 1e-3
    description: str = ""


class Predictor:
    """A loaded artifact: `predictor(inputs)` runs a dict of named inputs (or one array, for a
    one-input model) and returns a dict of named output arrays.

    Args:
        fn: `fn(feeds) -> {name: array}` on checked, typed feeds.
        info: what the runtime reports (provider, quantisation, ...), recorded in the metadata.
        keep_alive: the runtime object the closure needs.
        inputs: the artifact's input `TensorSpec`s (names and dtypes the feeds are cast to).
    """

    def __init__(self, fn, info, keep_alive=None, inputs=None):
        self._fn = fn
        self.info = info  # e.g. {"provider": "CPUExecutionProvider"}
        self._keep_alive = keep_alive
        self.inputs = list(inputs) if inputs is not None else [TensorSpec(INPUT_NAME, (), "float32")]

    def __call__(self, inputs):
        outputs = self._fn(as_feeds(inputs, self.inputs))
        return {name: np.asarray(value) for name, value in outputs.items()}


# --- SavedModel ---------------------------------------------------------------------------------


def write_savedmodel(context, out_dir):
    # String tensors have no XLA kernels, and compiling a graph of string ops aborts the process
    # (a TensorFlow CHECK failure, not an exception): such an endpoint gets serving_default only.
    strings = [spec.name for spec in context.endpoint.inputs if spec.dtype == "string"]
    with_xla = context.options.get("xla_endpoint", True) and not strings
    archive = export_archive(context.endpoint, xla_endpoint=with_xla)
    archive.write_out(str(out_dir), verbose=False)
    context.reuse_as_tflite_source(out_dir)  # one SavedModel write per export, not two
    details = {"signatures": ["serving_default"] + (["serving_xla"] if with_xla else [])}
    if strings and context.options.get("xla_endpoint", True):
        details["serving_xla_skipped"] = f"string inputs {strings} have no XLA kernels"
    return Path(out_dir) / "saved_model.pb", details


def load_savedmodel(path, signature="serving_default"):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(Path(path).parent))
    if signature not in loaded.signatures:
        raise ValueError(f"SavedModel has no signature '{signature}'. Available: {sorted(loaded.signatures)}")
    fn = loaded.signatures[signature]
    inputs = [
        TensorSpec(name, tuple(spec.shape.as_list()[1:]) if spec.shape.rank else (), spec.dtype.name)
        for name, spec in fn.structured_input_signature[1].items()
    ]

    def run(feeds):
        return {name: value.numpy() for name, value in fn(**{name: tf.constant(value) for name, value in feeds.items()}).items()}

    return Predictor(run, {}, loaded, inputs)


# --- ONNX ---------------------------------------------------------------------------------------


MIN_OPSET = 13  # tf2onnx converts Keras 3 graphs (Reshape with computed shapes, ...) from opset 13 on


def supported_opsets():
    from tf2onnx.constants import OPSET_TO_IR_VERSION

    return MIN_OPSET, max(OPSET_TO_IR_VERSION)


def write_onnx(context, out_dir):
    import onnx
    import tf2onnx

    refuse_strings(context.endpoint, "ONNX")
    opset = int(context.options.get("opset") or DEFAULT_OPSET)
    graph_def, input_names, output_names = _frozen_serving_graph(context.endpoint)
    with _quiet_loggers("tf2onnx", "tensorflow"):
        model_proto, _ = tf2onnx.convert.from_graph_def(
            graph_def, input_names=list(input_names), output_names=list(output_names), opset=opset,
            tensors_to_rename={**input_names, **output_names},
        )
    # tf2onnx names a free dimension `unk__N`; one shared name for the batch dimension tells
    # runtimes (and Triton) that every input and output has the same batch size. Other free
    # dimensions (sequence length, number of detections) stay free.
    for value in (*model_proto.graph.input, *model_proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
    onnx.checker.check_model(model_proto, full_check=True)
    path = Path(out_dir) / "model.onnx"
    onnx.save(model_proto, str(path))
    return path, {"opset": opset, "dynamic_batch": True, "onnx_checker": "passed (full_check)"}


def _frozen_serving_graph(endpoint):
    """The serving function as a GraphDef with every capture frozen into a constant, and
    {graph tensor name: public name} of its inputs and of its outputs.

    `tf2onnx.convert.from_function` turns captured tensors that are not variables (the mean and
    variance `keras.layers.Normalization` keeps as constants) into extra graph inputs that no caller
    feeds; freezing first makes them constants.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = endpoint.function().get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False, aggressive_inlining=True)
    # Placeholders are named after the signature's TensorSpecs; outputs come in the flattening
    # order of the returned dict.
    input_names = {tensor.name: tensor.name.split(":")[0] for tensor in frozen.inputs}
    wanted = set(endpoint.input_names)
    if set(input_names.values()) != wanted:
        raise ValueError(f"Frozen graph inputs {sorted(input_names.values())} differ from the endpoint's {sorted(wanted)} (a capture that is not a variable?)")
    flat_keys = tf.nest.flatten({key: key for key in concrete.structured_outputs})
    if len(frozen.outputs) != len(flat_keys):
        raise ValueError(f"Frozen graph has {len(frozen.outputs)} outputs; the endpoint has {len(flat_keys)}: {flat_keys}")
    output_names = {tensor.name: key for tensor, key in zip(frozen.outputs, flat_keys)}
    return frozen.graph.as_graph_def(), input_names, output_names


@contextlib.contextmanager
def _quiet_loggers(*names):
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def onnx_providers():
    """The best ONNX Runtime providers that actually work here, best first, CPU always last.

    A CUDA-enabled wheel lists CUDA even without a driver; asking for it then prints errors, so CUDA
    and TensorRT are offered only when a device is visible.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    chosen = []
    if _cuda_device_visible():
        chosen += [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available]
    return chosen + ["CPUExecutionProvider"]


def _cuda_device_visible():
    return any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/nvidiactl")) and os.environ.get("CUDA_VISIBLE_DEVICES", "0") != ""


def _provider_options(provider, cache_dir=None):
    if provider == "TensorrtExecutionProvider" and cache_dir:
        # Engines take seconds to build: cache them. fp32 engines only: verification compares
        # element-wise with the Keras model.
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        return {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache_dir)}
    return {}


def onnx_session(path, providers=None, cache_dir=None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    providers = list(providers or onnx_providers())
    with_options = [(p, _provider_options(p, cache_dir)) for p in providers]
    return ort.InferenceSession(str(path), sess_options=options, providers=with_options)


_ONNX_DTYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16", "tensor(int8)": "int8",
    "tensor(int16)": "int16", "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(uint8)": "uint8",
    "tensor(bool)": "bool", "tensor(string)": "string",
}


def load_onnx(path, providers=None, cache_dir=None):
    session = onnx_session(path, providers, cache_dir)
    info = {"provider": session.get_providers()[0], "providers": session.get_providers()}
    inputs = [
        TensorSpec(node.name, tuple(d if isinstance(d, int) else None for d in node.shape[1:]), _ONNX_DTYPES.get(node.type, "float32"))
        for node in session.get_inputs()
    ]
    output_names = [node.name for node in session.get_outputs()]
    return Predictor(lambda feeds: dict(zip(output_names, session.run(output_names, feeds))), info, session, inputs)


# --- TFLite (export/tflite.py holds the converters and the interpreter) ------------------------------


def load_tflite(path):
    runner = tflite_formats.SignatureRunner(path)
    return Predictor(runner, runner.info, runner, runner.inputs)


def _tflite_format(name, quantization, check, atol=1e-4, rtol=1e-3, description=""):
    return ExportFormat(
        name,
        tflite_formats.FILENAMES[quantization],
        "litert",
        lambda context, out_dir: tflite_formats.write_tflite(context, out_dir, quantization),
        load_tflite,
        check=check,
        atol=atol,
        rtol=rtol,
        description=description,
    )


FORMATS = {
    "savedmodel": ExportFormat(
        "savedmodel", "saved_model.pb", "tensorflow", write_savedmodel, load_savedmodel,
        companions=("variables", "assets", "fingerprint.pb"),
        description="SavedModel, signatures serving_default and serving_xla (jit_compile)",
    ),
    "onnx": ExportFormat("onnx", "model.onnx", "onnxruntime", write_onnx, load_onnx, description="ONNX via tf2onnx, dynamic batch"),
    "tflite": _tflite_format("tflite", "fp32", "elementwise", description="TFLite fp32"),
    # fp16 weights are dequantised once at load; outputs move by the weights' rounding.
    "tflite_fp16": _tflite_format("tflite_fp16", "fp16", "elementwise", atol=2e-2, rtol=5e-2, description="TFLite fp16 weights"),
    "tflite_dynamic": _tflite_format("tflite_dynamic", "dynamic", "metric", description="TFLite dynamic-range int8 weights"),
    "tflite_int8": _tflite_format("tflite_int8", "int8", "metric", description="TFLite full-integer int8, calibrated"),
}


# The base formats, one per runtime: what the registry-wide conformance sweep exports.
SWEEP_FORMATS = ("savedmodel", "onnx", "tflite")


def resolve_formats(formats):
    if formats in (None, "all"):
        return list(FORMATS)
    names = [formats] if isinstance(formats, str) else list(formats)
    if not names:
        raise ValueError(f"No export format given. Expected one or more of {sorted(FORMATS)} or 'all'.")
    for name in names:
        if name not in FORMATS:
            raise ValueError(f"Unknown export format '{name}'. Expected one of {sorted(FORMATS)} or 'all'.")
    return list(dict.fromkeys(names))


OPTION_KEYS = ("opset", "xla_endpoint", "int8_io", "int8_per_tensor", "calibration_samples", "calibration_seed", "metric_tolerance")


def validate_options(options):
    """Rejects unknown keys and bad values before any work starts."""
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise ValueError(f"Unknown export option(s) {unknown}. Expected a subset of {list(OPTION_KEYS)}.")
    if options.get("opset") is not None:
        low, high = supported_opsets()
        opset = options["opset"]
        if isinstance(opset, bool) or not isinstance(opset, int) or not low <= opset <= high:
            raise ValueError(f"ONNX opset must be an integer in [{low}, {high}]. Received: opset={opset!r}")
    count = options.get("calibration_samples")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ValueError(f"calibration_samples must be a positive integer. Received: {count!r}")
    seed = options.get("calibration_seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"calibration_seed must be a non-negative integer. Received: {seed!r}")
    tolerance = options.get("metric_tolerance")
    if tolerance is not None and (not isinstance(tolerance, (int, float)) or tolerance < 0):
        raise ValueError(f"metric_tolerance must be a number >= 0. Received: {tolerance!r}")


def load_artifact(export_dir, name, **kwargs):
    """Loads artifact `name` of an export directory in its runtime; returns a `Predictor`."""
    if name not in FORMATS:
        raise ValueError(f"Unknown export format '{name}'. Expected one of {sorted(FORMATS)}.")
    path = Path(export_dir) / FORMATS[name].filename
    if not path.is_file():
        raise ValueError(f"No {name} artifact in {export_dir} (expected {FORMATS[name].filename}).")
    return FORMATS[name].load(path, **kwargs)


def tool_versions():
    versions = {}
    for module in ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai_edge_litert", "numpy"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # a missing optional runtime is reported, not fatal
            versions[module] = None
    return versions


def export_model(
    model,
    out_dir,
    formats="all",
    sample_inputs=None,
    options=None,
    metadata=None,
    strict=False,
    *,
    targets=None,
    calibration_inputs=None,
    calibration_source=None,
    progress=None,
    task=None,
    assets=None,
):
    """Exports the endpoint `model` to `formats` under `out_dir` and verifies each artifact.

    Each artifact is written into a staging folder beside `out_dir`, loaded in its own runtime and
    compared with the Keras model on every output; only then is it published under its final name.
    A format that fails is not published (an older artifact of that format is removed so that the
    folder and `deepzoo.json` agree) and is reported with its reason.

    Args:
        model: the export endpoint (`Task.export_endpoint(model)`; `export_run` obtains it for a
            run), a keras.Model with named `keras.Input`s returning a tensor or a dict of named
            outputs; or the path of a `.keras` file holding such a model.
        out_dir: export directory.
        formats: "all", a name, or a list of names from `FORMATS`.
        sample_inputs: held-out inputs (raw, as the endpoint takes them) for verification: a dict
            of named arrays, or one array for a one-input endpoint; a random batch in the
            endpoint's input specs is used when None.
        options: export options: `opset` (ONNX), `xla_endpoint` (SavedModel, default True),
            `int8_io`, `int8_per_tensor`, `calibration_samples` (TFLite int8; `calibration_seed`
            is read by `export_run`, which draws the calibration inputs),
            `metric_tolerance` (quantised formats).
        metadata: extra metadata (task, labels, preprocessing, source_run) for `deepzoo.json`.
        strict: raise RuntimeError, publishing nothing, if any artifact fails to export or verify.
        targets: ground truth for `sample_inputs`; the task's objective metric of each artifact is
            compared with the Keras model's. Without targets, `task.quantized_reference` of the
            Keras outputs serves as targets.
        calibration_inputs: representative inputs for full-integer quantisation (default:
            `sample_inputs`, recorded as such in the metadata).
        calibration_source: a description of `calibration_inputs` for the metadata.
        progress: optional `fn(str)` told about each format as it starts.
        task: the `tasks.Task` (or its name) whose `compare_outputs`, `score` and `objective`
            verify the artifacts; default `metadata["task"]`, else the generic base task.
        assets: {file name: text} written beside the artifacts (`Task.export_assets`, e.g. the
            vocabularies of a token-id endpoint) and listed with each artifact in `deepzoo.json`.

    Several calls may export different endpoints of one model into one folder (`export_run` does
    for a text model: strings in for SavedModel, token ids for ONNX and TFLite). Each artifact's
    entry in `deepzoo.json` records its own `signature` (`inputs`, `outputs`); the top-level
    `inputs` and `outputs` are those of the latest call.

    Returns:
        list of `ExportResult`, in the order of `formats`.
    """
    import keras

    if isinstance(model, (str, Path)):
        if not Path(model).is_file():
            raise ValueError(f"Model file not found. Received: {model}")
        model = keras.saving.load_model(str(model))
    names = resolve_formats(formats)
    assets = _checked_assets(assets)
    out_dir = Path(out_dir)
    options = dict(options or {})
    validate_options(options)
    metadata = dict(metadata or {})
    if task is not None and metadata.get("task") is None:
        metadata["task"] = task if isinstance(task, str) else task.name
    task = resolve_task(metadata.get("task") if task is None else task)
    endpoint = Endpoint(model)
    sample_inputs = endpoint.feeds(random_inputs(endpoint.inputs, 4) if sample_inputs is None else sample_inputs)
    if targets is not None and length(targets) != length(sample_inputs):
        raise ValueError(f"targets must align with sample_inputs. Received: {length(targets)} targets for {length(sample_inputs)} inputs")
    if calibration_inputs is None:
        calibration_inputs, calibration_source = sample_inputs, f"the verification inputs ({length(sample_inputs)})"
    calibration_inputs = endpoint.feeds(calibration_inputs)
    reference = endpoint.predict(sample_inputs)
    outputs = endpoint.outputs  # traced once here: a bad output name or structure fails before any format

    results = []
    with ExportStaging(out_dir) as staging:
        context = ExportContext(endpoint, staging.workdir, options, calibration_inputs, calibration_source)
        for name in names:
            fmt = FORMATS[name]
            if progress:
                progress(f"exporting {name} ({fmt.description or fmt.runtime}) ...")
            started = time.perf_counter()
            try:
                format_dir = staging.format_dir(name)
                path, details = fmt.write(context, format_dir)
                check = verify_artifact(fmt, path, sample_inputs, reference, targets, task, metadata.get("labels"), options)
                details.update(check.details)
                result = ExportResult(
                    name, "", check.verified, check.max_abs_diff, fmt.runtime, 0.0, check.error,
                    _artifact_size(fmt, path), check.metric, details,
                )
                if result.verified:
                    staging.add(fmt, format_dir)
                    result.path = str(out_dir / fmt.filename)
            except Exception as exc:  # reported per format; the others still export
                result = ExportResult(name, "", False, None, fmt.runtime, 0.0, _one_line(exc))
            result.seconds = time.perf_counter() - started
            if not result.verified:
                staging.remove(fmt)
            results.append(result)
        failed = [r for r in results if not r.verified]
        if strict and failed:
            raise RuntimeError("; ".join(f"{r.format}: {r.error}" for r in failed) + f" (nothing was written to {out_dir})")
        staging.publish(
            lambda existing: _metadata(model, endpoint.inputs, outputs, results, sample_inputs, metadata, context, existing, assets),
            assets,
        )
    return results


def _one_line(exc):
    text = str(exc).strip()
    # Converter errors put the useful line (the op that failed) after a generic first line.
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = next((line for line in lines if "error:" in line.lower() and "loc(" in line), lines[0] if lines else "")
    return f"{type(exc).__name__}: {useful}"[:500]


def _artifact_size(fmt, path):
    path = Path(path)
    size = path.stat().st_size
    for companion in fmt.companions:
        entry = path.parent / companion
        if entry.is_file():
            size += entry.stat().st_size
        elif entry.is_dir():
            size += sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
    return size


def _checked_assets(assets):
    assets = {str(name): str(text) for name, text in (assets or {}).items()}
    taken = {METADATA_FILE} | {entry for fmt in FORMATS.values() for entry in (fmt.filename, *fmt.companions)}
    for name in assets:
        if "/" in name or "\\" in name or name.startswith(".") or name in taken:
            raise ValueError(f"An asset is a plain file name beside the artifacts, not one of {sorted(taken)}. Received: {name!r}")
    return assets


def _metadata(model, inputs, outputs, results, sample_inputs, extra, context, existing, assets=None):
    artifacts = {}
    for name, info in (existing or {}).get("artifacts", {}).items():
        if name in FORMATS and name not in {r.format for r in results}:
            artifacts[name] = info  # still published: ExportStaging keeps only what exists
    for result in results:
        artifacts[result.format] = {
            "path": FORMATS[result.format].filename if result.verified else None,
            "runtime": result.runtime,
            "verified": result.verified,
            "max_abs_diff": result.max_abs_diff,
            "metric": result.metric,
            "size_bytes": result.size_bytes,
            "seconds": round(result.seconds, 3),
            "error": result.error,
            **result.details,
            # This artifact's own signature: one export folder may hold several endpoints.
            "signature": {"inputs": [spec.as_dict() for spec in inputs], "outputs": [spec.as_dict() for spec in outputs]},
            **({"assets": sorted(assets)} if assets else {}),
        }
    artifacts = {name: artifacts[name] for name in FORMATS if name in artifacts}
    return {
        **(existing or {}),
        "model_name": model.name,
        "inputs": [spec.as_dict() for spec in inputs],
        "outputs": [spec.as_dict() for spec in outputs],
        **extra,
        "verification": {
            "num_inputs": length(sample_inputs),
            "float_formats": "every output against the Keras model's by the task's compare_outputs (element-wise allclose by default, fp16 looser)",
            "quantised_formats": "the task's objective metric of the artifact against the Keras model's on the same inputs",
        },
        **({"calibration": {"source": context.calibration_source, "num_examples": context.calibration_count}} if "tflite_int8" in {r.format for r in results} else {}),
        "tool_versions": tool_versions(),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "artifacts": artifacts,
    }


def read_metadata(export_dir):
    path = Path(export_dir) / METADATA_FILE
    if not path.is_file():
        raise ValueError(f"No {METADATA_FILE} in export directory. Received: {export_dir}")
    return json.loads(path.read_text())

