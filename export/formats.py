"""One table of export formats; one function per format to write it and one to load it in its own
runtime. Every artifact is verified against the Keras model on held-out inputs before it is
published, and published atomically (see `export/staging.py`).

Layout of an export directory (the same as one version folder of a TF Serving / Triton model
repository, so `export/repository.py` only has to place it):

    saved_model.pb, variables/   SavedModel: signature `serving_default` (input -> output) and
                                 `serving_xla`, the same function compiled with XLA (GPU hot path)
    model.onnx                   ONNX (tf2onnx), dynamic batch dimension `batch`, same tensor names
    model.tflite                 TFLite / LiteRT fp32, signature `serving_default`
    model_fp16.tflite            fp16 weights
    model_dynamic_int8.tflite    dynamic-range int8 weights, float activations
    model_int8.tflite            full-integer int8, calibrated on the run's training pipeline;
                                 int8 inputs and outputs with `int8_io` (microcontroller targets)
    deepzoo.json                 metadata: inputs, outputs, task, labels, preprocessing, source run,
                                 tool versions and, per artifact, its verification result

Float formats are checked element-wise (fp16 with a looser tolerance); quantised formats by the
task metric of the artifact against the Keras model's on the same inputs (`export/verify.py`).
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
from export.context import INPUT_NAME, OUTPUT_NAME, ExportContext, export_archive, serving_function
from export.staging import ExportStaging
from export.verify import predict_in_chunks, verify_artifact

METADATA_FILE = "deepzoo.json"
DEFAULT_OPSET = 17

__all__ = [
    "DEFAULT_OPSET",
    "FORMATS",
    "INPUT_NAME",
    "METADATA_FILE",
    "OUTPUT_NAME",
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
        load: `fn(path) -> Predictor` loads it in its runtime: a callable on float32 inputs.
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
    """A loaded artifact: `predictor(x)` runs float32 inputs `x` and returns float32 outputs."""

    def __init__(self, fn, info, keep_alive=None):
        self._fn = fn
        self.info = info  # e.g. {"provider": "CPUExecutionProvider"}
        self._keep_alive = keep_alive  # the runtime object the closure needs

    def __call__(self, inputs):
        return np.asarray(self._fn(np.asarray(inputs, np.float32)))


# --- SavedModel ---------------------------------------------------------------------------------


def write_savedmodel(context, out_dir):
    archive = export_archive(context.model, xla_endpoint=context.options.get("xla_endpoint", True))
    archive.write_out(str(out_dir), verbose=False)
    signatures = ["serving_default"] + (["serving_xla"] if context.options.get("xla_endpoint", True) else [])
    return Path(out_dir) / "saved_model.pb", {"signatures": signatures}


def load_savedmodel(path, signature="serving_default"):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(Path(path).parent))
    if signature not in loaded.signatures:
        raise ValueError(f"SavedModel has no signature '{signature}'. Available: {sorted(loaded.signatures)}")
    fn = loaded.signatures[signature]
    return Predictor(lambda x: fn(**{INPUT_NAME: tf.constant(x)})[OUTPUT_NAME].numpy(), {}, loaded)


# --- ONNX ---------------------------------------------------------------------------------------


MIN_OPSET = 13  # tf2onnx converts Keras 3 graphs (Reshape with computed shapes, ...) from opset 13 on


def supported_opsets():
    from tf2onnx.constants import OPSET_TO_IR_VERSION

    return MIN_OPSET, max(OPSET_TO_IR_VERSION)


def write_onnx(context, out_dir):
    import onnx
    import tf2onnx

    opset = int(context.options.get("opset") or DEFAULT_OPSET)
    graph_def, input_name, output_name = _frozen_serving_graph(context.model)
    with _quiet_loggers("tf2onnx", "tensorflow"):
        model_proto, _ = tf2onnx.convert.from_graph_def(
            graph_def, input_names=[input_name], output_names=[output_name], opset=opset,
            tensors_to_rename={input_name: INPUT_NAME, output_name: OUTPUT_NAME},
        )
    # tf2onnx names the free batch dimension `unk__N`; one shared name tells runtimes (and Triton)
    # that input and output batch sizes are the same.
    for value in (*model_proto.graph.input, *model_proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
    onnx.checker.check_model(model_proto, full_check=True)
    path = Path(out_dir) / "model.onnx"
    onnx.save(model_proto, str(path))
    return path, {"opset": opset, "dynamic_batch": True, "onnx_checker": "passed (full_check)"}


def _frozen_serving_graph(model):
    """The serving function as a GraphDef with every capture frozen into a constant.

    `tf2onnx.convert.from_function` turns captured tensors that are not variables (the mean and
    variance `keras.layers.Normalization` keeps as constants) into extra graph inputs that no caller
    feeds; freezing first makes them constants.
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(serving_function(model).get_concrete_function(), lower_control_flow=False, aggressive_inlining=True)
    if len(frozen.inputs) != 1 or len(frozen.outputs) != 1:
        raise ValueError(f"Expected one input and one output after freezing. Received: {len(frozen.inputs)} inputs, {len(frozen.outputs)} outputs")
    return frozen.graph.as_graph_def(), frozen.inputs[0].name, frozen.outputs[0].name


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


def load_onnx(path, providers=None, cache_dir=None):
    session = onnx_session(path, providers, cache_dir)
    info = {"provider": session.get_providers()[0], "providers": session.get_providers()}
    return Predictor(lambda x: session.run([OUTPUT_NAME], {INPUT_NAME: x})[0], info, session)


# --- TFLite (export/tflite.py holds the converters and the interpreter) ------------------------------


def load_tflite(path):
    runner = tflite_formats.SignatureRunner(path)
    return Predictor(runner, runner.info, runner)


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
):
    """Exports `model` (a keras.Model or a .keras path) to `formats` under `out_dir` and verifies each.

    Each artifact is written into a staging folder beside `out_dir`, loaded in its own runtime and
    compared with the Keras model; only then is it published under its final name. A format that
    fails is not published (an older artifact of that format is removed so that the folder and
    `deepzoo.json` agree) and is reported with its reason.

    Args:
        model: keras.Model or path to a `.keras` file.
        out_dir: export directory.
        formats: "all", a name, or a list of names from `FORMATS`.
        sample_inputs: held-out inputs (raw, as the model takes them) for verification; a random
            batch in the model's input shape is used when None.
        options: export options: `opset` (ONNX), `xla_endpoint` (SavedModel, default True),
            `int8_io`, `int8_per_tensor`, `calibration_samples` (TFLite int8; `calibration_seed`
            is read by `export_run`, which draws the calibration inputs),
            `metric_tolerance` (quantised formats).
        metadata: extra metadata (task, labels, preprocessing, source_run) for `deepzoo.json`;
            its `task` and `labels` also choose the verification metric.
        strict: raise RuntimeError, publishing nothing, if any artifact fails to export or verify.
        targets: ground truth for `sample_inputs`; the task metric of each artifact is compared
            with the Keras model's. Without targets, the Keras predictions serve as targets.
        calibration_inputs: representative inputs for full-integer quantisation (default:
            `sample_inputs`, recorded as such in the metadata).
        calibration_source: a description of `calibration_inputs` for the metadata.
        progress: optional `fn(str)` told about each format as it starts.

    Returns:
        list of `ExportResult`, in the order of `formats`.
    """
    import keras

    if isinstance(model, (str, Path)):
        if not Path(model).is_file():
            raise ValueError(f"Model file not found. Received: {model}")
        model = keras.saving.load_model(str(model))
    names = resolve_formats(formats)
    out_dir = Path(out_dir)
    options = dict(options or {})
    validate_options(options)
    metadata = dict(metadata or {})
    if sample_inputs is None:
        rng = np.random.default_rng(0)
        sample_inputs = rng.uniform(0, 1, size=(4, *model.inputs[0].shape[1:])).astype("float32")
    sample_inputs = np.asarray(sample_inputs, np.float32)
    if targets is not None and len(targets) != len(sample_inputs):
        raise ValueError(f"targets must align with sample_inputs. Received: {len(targets)} targets for {len(sample_inputs)} inputs")
    if calibration_inputs is None:
        calibration_inputs, calibration_source = sample_inputs, f"the verification inputs ({len(sample_inputs)})"
    reference = predict_in_chunks(lambda x: _first_output(model(x, training=False)), sample_inputs)

    results = []
    with ExportStaging(out_dir) as staging:
        context = ExportContext(model, staging.workdir, options, np.asarray(calibration_inputs, np.float32), calibration_source)
        for name in names:
            fmt = FORMATS[name]
            if progress:
                progress(f"exporting {name} ({fmt.description or fmt.runtime}) ...")
            started = time.perf_counter()
            try:
                format_dir = staging.format_dir(name)
                path, details = fmt.write(context, format_dir)
                check = verify_artifact(fmt, path, sample_inputs, reference, targets, metadata.get("task"), metadata.get("labels"), options)
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
        staging.publish(lambda existing: _metadata(model, results, sample_inputs, reference, metadata, context, existing))
    return results


def _first_output(outputs):
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    return np.asarray(outputs)


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


def _metadata(model, results, sample_inputs, reference, extra, context, existing):
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
        }
    artifacts = {name: artifacts[name] for name in FORMATS if name in artifacts}
    return {
        **(existing or {}),
        "model_name": model.name,
        "inputs": [{"name": INPUT_NAME, "shape": [-1, *[_dim(d) for d in model.inputs[0].shape[1:]]], "dtype": "float32"}],
        "outputs": [{"name": OUTPUT_NAME, "shape": [-1, *[int(d) for d in reference.shape[1:]]], "dtype": "float32"}],
        **extra,
        "verification": {
            "num_inputs": len(sample_inputs),
            "float_formats": "element-wise allclose against the Keras model (fp16 looser)",
            "quantised_formats": "task metric of the artifact against the Keras model's on the same inputs",
        },
        **({"calibration": {"source": context.calibration_source, "num_examples": context.calibration_count}} if "tflite_int8" in {r.format for r in results} else {}),
        "tool_versions": tool_versions(),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "artifacts": artifacts,
    }


def _dim(d):
    return -1 if d is None else int(d)


def read_metadata(export_dir):
    path = Path(export_dir) / METADATA_FILE
    if not path.is_file():
        raise ValueError(f"No {METADATA_FILE} in export directory. Received: {export_dir}")
    return json.loads(path.read_text())

