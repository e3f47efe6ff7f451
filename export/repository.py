"""Model repositories laid out the way TF Serving and Triton load them:

    DIR/NAME/config.pbtxt          Triton: platform onnxruntime_onnx, batch-free dims, dynamic batching
    DIR/NAME/N/saved_model.pb      TF Serving: a numbered version folder holding a SavedModel
    DIR/NAME/N/variables/
    DIR/NAME/N/model.onnx          Triton's default file name for the ONNX Runtime backend
    DIR/NAME/N/model*.tflite       LiteRT variants
    DIR/NAME/N/deepzoo.json        metadata (deepzoo's own server reads it)

`tensorflow_model_server --model_base_path=DIR/NAME` and `tritonserver --model-repository=DIR`
both read this tree, and so does `deepzoo serve DIR`.

A version folder appears complete or not at all: every artifact is written and verified in a
staging folder beside it, and the folder is renamed into place only if all of them verify.
"""

import re
from pathlib import Path

from common.io import write_text_atomic

TRITON_CONFIG = "config.pbtxt"
DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_QUEUE_DELAY_US = 100
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_TRITON_TYPES = {
    "bool": "TYPE_BOOL", "float16": "TYPE_FP16", "float32": "TYPE_FP32", "float64": "TYPE_FP64", "int8": "TYPE_INT8",
    "int16": "TYPE_INT16", "int32": "TYPE_INT32", "int64": "TYPE_INT64", "uint8": "TYPE_UINT8", "string": "TYPE_STRING",
}


def versions(model_dir):
    """The numbered version folders of `model_dir`, as ints."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit() and not p.name.startswith("0"))


def export_to_repository(
    run_dir,
    repository,
    name=None,
    version=None,
    formats="all",
    options=None,
    num_samples=None,
    max_batch_size=DEFAULT_MAX_BATCH_SIZE,
    progress=None,
):
    """Exports a run as version `version` (default: the next one) of model `name` (default: the
    run's architecture) under `repository`. Returns {"version_dir", "config", "results"}.

    Raises ValueError for a bad name or version or an existing version folder, and RuntimeError
    (with nothing written) if any artifact fails verification.
    """
    from export.run_export import export_run
    from pipelines.train import Run

    run = Run.load(run_dir)
    name = name or run.config.get("model") or run.run_dir.name
    if not _NAME.match(str(name)):
        raise ValueError(f"Model name must be letters, digits, '_', '.', '-' (not starting with '.' or '-'). Received: name={name!r}")
    if not isinstance(max_batch_size, int) or max_batch_size < 1:
        raise ValueError(f"max_batch_size must be a positive integer. Received: {max_batch_size!r}")
    model_dir = Path(repository) / name
    if model_dir.exists() and not model_dir.is_dir():
        raise ValueError(f"Repository entry is not a directory. Received: {model_dir}")
    if version is None:
        version = (versions(model_dir) or [0])[-1] + 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"Version must be a positive integer (TF Serving and Triton read numbered folders). Received: version={version!r}")
    version_dir = model_dir / str(version)
    if version_dir.exists():
        raise ValueError(f"Version {version} of '{name}' already exists; versions are immutable. Received: {version_dir}")
    report = export_run(run_dir, formats=formats, out_dir=version_dir, options=options, num_samples=num_samples, strict=True, progress=progress)
    config_path = None
    if (version_dir / "model.onnx").is_file():
        from export.formats import read_metadata

        config_path = model_dir / TRITON_CONFIG
        write_text_atomic(config_path, triton_config(name, read_metadata(version_dir), max_batch_size))
    return {"version_dir": version_dir, "config": config_path, "results": report["results"], "limited": report["limited"]}


def triton_config(name, metadata, max_batch_size=DEFAULT_MAX_BATCH_SIZE, queue_delay_us=DEFAULT_QUEUE_DELAY_US):
    """Triton's `config.pbtxt` (protobuf text format of `inference.ModelConfig`) for the ONNX artifact."""

    def tensors(kind):
        blocks = []
        for tensor in metadata[kind]:
            dtype = _TRITON_TYPES.get(tensor["dtype"])
            if dtype is None:
                raise ValueError(f"No Triton data type for {tensor['dtype']!r}. Expected one of {sorted(_TRITON_TYPES)}")
            dims = ", ".join(str(int(d)) for d in tensor["shape"][1:])  # batch dimension left to max_batch_size
            blocks.append(f'  {{\n    name: "{tensor["name"]}"\n    data_type: {dtype}\n    dims: [ {dims} ]\n  }}')
        return ",\n".join(blocks)

    return (
        f'name: "{name}"\n'
        'platform: "onnxruntime_onnx"\n'
        f"max_batch_size: {int(max_batch_size)}\n"
        f"input [\n{tensors('inputs')}\n]\n"
        f"output [\n{tensors('outputs')}\n]\n"
        "dynamic_batching {\n"
        f"  max_queue_delay_microseconds: {int(queue_delay_us)}\n"
        "}\n"
    )
