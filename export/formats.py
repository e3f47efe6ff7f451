"""One table of export formats; one function per format to write it and one to run it in its own
runtime. Every artifact is written atomically (temporary name, then rename) and verified against
the Keras model on real inputs before it is reported as exported.

Layout of an export directory (the same as one version folder of a TF Serving / Triton model
repository, so `export/repository.py` only has to place it):

    saved_model.pb, variables/   SavedModel with signature `serving_default` (input -> output)
    model.onnx                   ONNX (tf2onnx), dynamic batch, same tensor names
    model.tflite                 TFLite fp32 with signature `serving_default`
    deepzoo.json                 metadata: inputs, outputs, task, labels, preprocessing, sources,
                                 tool versions and, per artifact, its verification result
"""

import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from deepzoo.io import atomic_path, write_json_atomic

INPUT_NAME = "input"
OUTPUT_NAME = "output"
METADATA_FILE = "deepzoo.json"
DEFAULT_OPSET = 17


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

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ExportFormat:
    name: str
    filename: str
    runtime: str
    write: Callable  # (model, out_dir, options) -> artifact path
    run: Callable  # (artifact path, inputs) -> outputs
    atol: float = 1e-4
    rtol: float = 1e-3


def _input_spec(model):
    import tensorflow as tf

    shape = (None, *model.inputs[0].shape[1:])
    return tf.TensorSpec(shape, tf.float32, name=INPUT_NAME)


def _serving_fn(model):
    import tensorflow as tf

    def serve(input):  # the argument name becomes the signature's input key
        outputs = model(input, training=False)
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0]
        return {OUTPUT_NAME: outputs}

    return tf.function(serve, input_signature=[_input_spec(model)], autograph=False)


# --- SavedModel ---------------------------------------------------------------------------------


def _export_archive(model, xla_endpoint):
    """A Keras ExportArchive with the `serving_default` signature (and `serving_xla` if asked).

    ExportArchive tracks the model's variables properly; a plain `tf.saved_model.save` of a Keras 3
    model leaves them unfrozen and the TFLite converter then emits uninitialised READ_VARIABLEs.
    """
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", _serving_fn(model))
    if xla_endpoint:
        # Same function compiled with XLA: the GPU hot path (`serving_xla` signature).
        spec = _input_spec(model)
        archive.add_endpoint(
            "serving_xla",
            tf.function(lambda input: {OUTPUT_NAME: model(input, training=False)}, input_signature=[spec], jit_compile=True),
        )
    return archive


def write_savedmodel(model, out_dir, options):
    archive = _export_archive(model, xla_endpoint=options.get("xla_endpoint", True))
    out_dir = Path(out_dir)
    staging = Path(tempfile.mkdtemp(prefix=".savedmodel.", dir=out_dir))
    try:
        archive.write_out(str(staging / "sm"), verbose=False)
        # Move saved_model.pb last so a reader never sees a .pb without its variables.
        for entry in ("variables", "assets", "fingerprint.pb"):
            source = staging / "sm" / entry
            if source.exists():
                target = out_dir / entry
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(source, target)
        os.replace(staging / "sm" / "saved_model.pb", out_dir / "saved_model.pb")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir / "saved_model.pb"


def run_savedmodel(path, inputs, signature="serving_default"):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(Path(path).parent))
    fn = loaded.signatures[signature]
    return fn(**{INPUT_NAME: tf.constant(inputs, tf.float32)})[OUTPUT_NAME].numpy()


# --- ONNX ---------------------------------------------------------------------------------------


def write_onnx(model, out_dir, options):
    import onnx
    import tf2onnx

    opset = int(options.get("opset", DEFAULT_OPSET))
    model_proto, _ = tf2onnx.convert.from_function(_serving_fn(model), input_signature=[_input_spec(model)], opset=opset)
    onnx.checker.check_model(model_proto)
    final = Path(out_dir) / "model.onnx"
    with atomic_path(final) as tmp:
        onnx.save(model_proto, str(tmp))
    return final


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


def onnx_session(path, providers=None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=providers or onnx_providers())


def run_onnx(path, inputs):
    return onnx_session(path).run([OUTPUT_NAME], {INPUT_NAME: np.asarray(inputs, np.float32)})[0]


# --- TFLite -------------------------------------------------------------------------------------


def write_tflite(model, out_dir, options):
    import tensorflow as tf

    quantization = options.get("quantization", "fp32")
    if quantization != "fp32":
        raise ValueError(f"The first-cut exporter writes fp32 TFLite only. Received: quantization={quantization!r}")
    # Converting from a SavedModel keeps the dynamic batch dimension working in LiteRT's signature
    # runner (a converted concrete function gave NaNs after resizing the batch).
    with tempfile.TemporaryDirectory(prefix=".tflite-src.", dir=out_dir) as staging:
        _export_archive(model, xla_endpoint=False).write_out(staging, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(staging, signature_keys=["serving_default"])
        flatbuffer = converter.convert()
    final = Path(out_dir) / "model.tflite"
    with atomic_path(final) as tmp:
        Path(tmp).write_bytes(flatbuffer)
    return final


def run_tflite(path, inputs):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())
    runner = interpreter.get_signature_runner("serving_default")
    return runner(**{INPUT_NAME: np.asarray(inputs, np.float32)})[OUTPUT_NAME]


FORMATS = {
    "savedmodel": ExportFormat("savedmodel", "saved_model.pb", "tensorflow", write_savedmodel, run_savedmodel),
    "onnx": ExportFormat("onnx", "model.onnx", "onnxruntime", write_onnx, run_onnx),
    "tflite": ExportFormat("tflite", "model.tflite", "litert", write_tflite, run_tflite),
}


def resolve_formats(formats):
    if formats in (None, "all"):
        return list(FORMATS)
    names = [formats] if isinstance(formats, str) else list(formats)
    for name in names:
        if name not in FORMATS:
            raise ValueError(f"Unknown export format '{name}'. Expected one of {sorted(FORMATS)} or 'all'.")
    return names


def _tool_versions():
    versions = {}
    for module in ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai_edge_litert"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # a missing optional runtime is reported, not fatal
            versions[module] = None
    return versions


def export_model(model, out_dir, formats="all", sample_inputs=None, options=None, metadata=None, strict=False):
    """Exports `model` (a keras.Model or a .keras path) to `formats` under `out_dir` and verifies each.

    Args:
        model: keras.Model or path to a `.keras` file.
        out_dir: export directory (created).
        formats: "all", a name, or a list of names from `FORMATS`.
        sample_inputs: real inputs (raw, as the model takes them) for verification; a random batch
            in the model's input shape is used when None.
        options: per-format options, e.g. {"opset": 17}.
        metadata: extra metadata (task, labels, preprocessing, source_run) for `deepzoo.json`.
        strict: raise if any artifact fails to export or verify.

    Returns:
        list of `ExportResult`.
    """
    import keras

    if isinstance(model, (str, Path)):
        if not Path(model).is_file():
            raise ValueError(f"Model file not found. Received: {model}")
        model = keras.saving.load_model(str(model))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = dict(options or {})
    if sample_inputs is None:
        rng = np.random.default_rng(0)
        sample_inputs = rng.uniform(0, 1, size=(4, *model.inputs[0].shape[1:])).astype("float32")
    sample_inputs = np.asarray(sample_inputs, np.float32)
    reference = np.asarray(model(sample_inputs, training=False))
    results = []
    for name in resolve_formats(formats):
        fmt = FORMATS[name]
        started = time.perf_counter()
        try:
            path = fmt.write(model, out_dir, options)
            outputs = np.asarray(fmt.run(path, sample_inputs))
            diff = float(np.max(np.abs(outputs.astype(np.float64) - reference))) if outputs.shape == reference.shape else float("inf")
            verified = outputs.shape == reference.shape and bool(np.allclose(outputs, reference, rtol=fmt.rtol, atol=fmt.atol))
            error = None if verified else f"outputs differ from Keras: max |diff| = {diff:.3g} (shape {outputs.shape} vs {reference.shape})"
            size = _artifact_size(path, name)
            results.append(ExportResult(name, str(path), verified, diff, fmt.runtime, time.perf_counter() - started, error, size))
        except Exception as exc:  # reported per format; the others still export
            message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:500]
            results.append(ExportResult(name, "", False, None, fmt.runtime, time.perf_counter() - started, message))
    _write_metadata(model, out_dir, results, sample_inputs, reference, metadata)
    if strict:
        failed = [r for r in results if not r.verified]
        if failed:
            raise RuntimeError("; ".join(f"{r.format}: {r.error}" for r in failed))
    return results


def _artifact_size(path, name):
    path = Path(path)
    if name == "savedmodel":
        return sum(p.stat().st_size for p in path.parent.rglob("*") if p.is_file() and not p.name.endswith((".onnx", ".tflite", ".json")))
    return path.stat().st_size


def _write_metadata(model, out_dir, results, sample_inputs, reference, extra):
    metadata_path = out_dir / METADATA_FILE
    existing = read_metadata(out_dir) if metadata_path.exists() else {}
    artifacts = dict(existing.get("artifacts", {}))
    for result in results:
        artifacts[result.format] = {
            "path": os.path.relpath(result.path, out_dir) if result.path else None,
            "runtime": result.runtime,
            "verified": result.verified,
            "max_abs_diff": result.max_abs_diff,
            "size_bytes": result.size_bytes,
            "error": result.error,
        }
    data = {
        **existing,
        "model_name": model.name,
        "inputs": [{"name": INPUT_NAME, "shape": [-1, *[int(d) for d in model.inputs[0].shape[1:]]], "dtype": "float32"}],
        "outputs": [{"name": OUTPUT_NAME, "shape": [-1, *[int(d) for d in reference.shape[1:]]], "dtype": "float32"}],
        **(extra or {}),
        "verification": {"num_inputs": int(len(sample_inputs))},
        "tool_versions": _tool_versions(),
        "artifacts": artifacts,
    }
    write_json_atomic(metadata_path, data)


def read_metadata(export_dir):
    path = Path(export_dir) / METADATA_FILE
    if not path.is_file():
        raise ValueError(f"No {METADATA_FILE} in export directory. Received: {export_dir}")
    return json.loads(path.read_text())
