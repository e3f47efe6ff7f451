"""The model repository: `DIR/<name>/<version>/` folders, each an export directory (artifacts plus
`deepzoo.json`), the layout TF Serving and Triton read too. Per model, an optional
`DIR/<name>/serving.json` sets how it is served:

    {"runtime": "onnx", "max_batch_size": 16, "max_queue_delay_ms": 2, "instances": 1, "xla": false,
     "allow_non_finite": false}

Precedence, lowest first: built-in defaults, the `deepzoo serve` flags, the model's `serving.json`.
A version that fails to load is kept, marked not ready with its error, and the others still serve.

A model's inputs and outputs are the artifact's own (names, dtypes: what its runtime accepts), in
the order `deepzoo.json` lists them, which must name the same tensors. Hidden folders (an export's
`.N.staging-*` left by a killed export) are never served.
"""

import dataclasses
import json
import logging
from pathlib import Path

from serving.batching import DynamicBatcher
from serving.errors import NotFound, Unavailable
from serving.logs import native_output_as_logs
from serving.tensors import TensorSpec
from serving.runtimes import (
    AUTO_ORDER,
    DEFAULT_FILES,
    RUNTIME_KINDS,
    RUNTIMES,
    runtime_kind,
)

log = logging.getLogger("deepzoo.serving")

CONFIG_FILE = "serving.json"
METADATA_FILE = "deepzoo.json"
# Dynamic batching by default only where it pays: on this project's 2-core CPU host, batching
# MobileNetV2 (224x224) cut throughput 4-5x (large batches leave the caches), while an accelerator
# gains from every row it can add to a batch.
ACCELERATOR_MAX_BATCH_SIZE = 32
CPU_MAX_BATCH_SIZE = 1


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """How one model is served.

    Args:
        runtime: "auto" (ONNX, then TFLite, then SavedModel, whichever is present and verified),
            "onnx", "tflite", "savedmodel", or an exact artifact key of the metadata ("tflite_int8").
        max_batch_size: most rows one batched execution takes; 1 turns dynamic batching off. None
            (default): 32 when the runtime runs on an accelerator, 1 on a CPU.
        max_queue_delay_ms: how long the first queued request may wait for others to join its
            batch. 0 batches only what queued up while the previous batch ran (Triton's default).
        instances: concurrent executions of the model (each LiteRT instance loads its own copy).
        xla: SavedModel only: run the XLA-compiled `serving_xla` signature.
        allow_non_finite: accept NaN and ±Infinity in float inputs (refused with 400 by default:
            they are nearly always a client's bug, and poison a whole dynamic batch's statistics).
    """

    runtime: str = "auto"
    max_batch_size: int | None = None
    max_queue_delay_ms: float = 0.0
    instances: int = 1
    xla: bool = False
    allow_non_finite: bool = False

    def __post_init__(self):
        checks = (
            (isinstance(self.runtime, str) and bool(self.runtime), "runtime must be a non-empty string"),
            (
                self.max_batch_size is None or (_is_int(self.max_batch_size) and 1 <= self.max_batch_size <= 65536),
                "max_batch_size must be an integer in [1, 65536]",
            ),
            (
                _is_number(self.max_queue_delay_ms) and 0 <= self.max_queue_delay_ms <= 60_000,
                "max_queue_delay_ms must be a number in [0, 60000]",
            ),
            (_is_int(self.instances) and 1 <= self.instances <= 64, "instances must be an integer in [1, 64]"),
            (isinstance(self.xla, bool), "xla must be true or false"),
            (isinstance(self.allow_non_finite, bool), "allow_non_finite must be true or false"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(f"Invalid serving config: {message}. Received: {dataclasses.asdict(self)}")

    def updated(self, overrides, source):
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"Unknown serving config key(s) {unknown} in {source}. Expected: {[f.name for f in dataclasses.fields(self)]}")
        try:
            return dataclasses.replace(self, **overrides)
        except ValueError as exc:
            raise ValueError(f"{exc} (from {source})") from None


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class ServedVersion:
    """One version of one model: its runtime(s), metadata, config and (once started) its batcher."""

    def __init__(self, model, version, path, config):
        self.model = model
        self.version = version
        self.path = Path(path)
        self.config = config
        self.metadata = {}
        self.runtimes = []
        self.artifact_key = None
        self.error = None
        self.batcher = None
        self._inputs = []
        self._outputs = []

    # -- loading ----------------------------------------------------------------------------

    def load(self):
        try:
            self.metadata = _read_metadata(self.path)
            self.artifact_key, artifact = _select_artifact(self.path, self.metadata, self.config.runtime)
            runtime_class = RUNTIMES[runtime_kind(self.artifact_key)]
            if self.config.xla and runtime_class.kind != "savedmodel":
                log.warning("xla applies to the savedmodel runtime only; ignored", extra={"model": self.model, "version": self.version})
            options = {"max_batch_size": self.config.max_batch_size or ACCELERATOR_MAX_BATCH_SIZE, "xla": self.config.xla}
            with native_output_as_logs():
                first = runtime_class(artifact, options)
                copies = 1 if first.thread_safe else self.config.instances
                self.runtimes = [first] + [runtime_class(artifact, options) for _ in range(copies - 1)]
                for runtime in self.runtimes:
                    runtime.warm_up()
            # An artifact's own signature first: one export folder may hold several endpoints
            # (a text model's SavedModel takes strings, its ONNX and TFLite artifacts token ids).
            described = _signature(self.metadata, self.artifact_key) or self.metadata
            self._inputs = _ordered_specs(first.inputs, described.get("inputs"), "inputs")
            self._outputs = _ordered_specs(first.outputs, described.get("outputs"), "outputs")
            log.info("model loaded", extra={"event": "model_loaded", **self.describe()})
        except Exception as exc:  # one broken version must not take the others down
            self.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:500]
            self.runtimes = []
            log.error("model failed to load", extra={"event": "model_failed", "model": self.model, "version": self.version, "error": self.error})
        return self

    # -- what it is --------------------------------------------------------------------------

    @property
    def ready(self):
        return bool(self.runtimes) and self.error is None

    @property
    def runtime(self):
        return self.runtimes[0]

    @property
    def inputs(self):
        return self._inputs

    @property
    def outputs(self):
        return self._outputs

    @property
    def task(self):
        return self.metadata.get("task")

    @property
    def labels(self):
        labels = self.metadata.get("labels")
        return [str(label) for label in labels] if isinstance(labels, list) else None

    @property
    def max_batch_size(self):
        configured = self.config.max_batch_size
        if configured is None:
            configured = ACCELERATOR_MAX_BATCH_SIZE if self.runtime.accelerated else CPU_MAX_BATCH_SIZE
        fixed = {spec.shape[0] for spec in self.inputs if spec.shape and spec.shape[0] > 0}
        return min([configured, *fixed])

    def describe(self):
        info = {"model": self.model, "version": self.version, "path": str(self.path), "ready": self.ready}
        if self.ready:
            info.update(self.runtime.describe())
            info.update(
                artifact_key=self.artifact_key,
                max_batch_size=self.max_batch_size,
                max_queue_delay_ms=self.config.max_queue_delay_ms,
                instances=self.config.instances,
            )
        else:
            info["error"] = self.error
        return info

    # -- serving -----------------------------------------------------------------------------

    def start(self, metrics):
        if self.ready:
            self.batcher = DynamicBatcher(
                self.runtimes * (self.config.instances // len(self.runtimes)),
                max_batch_size=self.max_batch_size,
                max_queue_delay_s=self.config.max_queue_delay_ms / 1000.0,
                metrics=metrics,
                labels=(self.model, self.version),
            )
            self.batcher.start()

    async def infer(self, feeds, rows):
        if self.batcher is None:
            raise Unavailable(f"Model '{self.model}' version {self.version} is not being served.")
        return await self.batcher.infer(feeds, rows)


class Repository:
    """`models[name][version]` -> `ServedVersion`, versions as canonical decimal strings."""

    def __init__(self, root, models):
        self.root = Path(root)
        self.models = models

    def versions(self):
        for versions in self.models.values():
            yield from versions.values()

    @property
    def all_ready(self):
        return all(v.ready for v in self.versions())

    def version_names(self, name):
        return sorted(self.models[name], key=int)

    def resolve(self, name, version=None, require_ready=True):
        """The requested version, or the highest ready one when `version` is None (TF Serving's 'latest')."""
        versions = self.models.get(name)
        if versions is None:
            raise NotFound(f"Unknown model {_quoted(name)}. Available models: {sorted(self.models)[:50]}")
        if version is None:
            ordered = sorted(versions.values(), key=lambda v: int(v.version), reverse=True)
            served = next((v for v in ordered if v.ready), ordered[0])
        else:
            served = versions.get(_canonical_version(version))
            if served is None:
                raise NotFound(f"Unknown version {_quoted(version)} of model '{name}'. Available versions: {self.version_names(name)}")
        if require_ready and not served.ready:
            raise Unavailable(f"Model '{name}' version {served.version} is not ready: {served.error}")
        return served

    def start(self, metrics):
        for served in self.versions():
            served.start(metrics)

    def flush(self):
        """Shutdown began: queued requests run now instead of waiting out their batching delay."""
        for served in self.versions():
            if served.batcher is not None:
                served.batcher.flush()

    async def close(self, timeout):
        for served in self.versions():
            if served.batcher is not None:
                await served.batcher.close(timeout)


def _quoted(value, limit=80):
    text = repr(str(value))
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _canonical_version(text):
    text = str(text)
    return str(int(text)) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _read_metadata(path):
    metadata_path = path / METADATA_FILE
    if not metadata_path.is_file():
        return {}  # a bare artifact folder still serves; its tensors come from the artifact itself
    metadata = json.loads(metadata_path.read_text())
    if not isinstance(metadata, dict):
        raise ValueError(f"{METADATA_FILE} must hold a JSON object. Received: {type(metadata).__name__}")
    return metadata


def _select_artifact(path, metadata, choice):
    """(artifact key, file) for `choice`: a runtime kind, an exact artifact key, or "auto"."""
    artifacts = metadata.get("artifacts") if isinstance(metadata.get("artifacts"), dict) else {}
    root = path.resolve()
    candidates, unverified = {}, set()
    for key, info in artifacts.items():
        if not (isinstance(info, dict) and isinstance(info.get("path"), str) and runtime_kind(key)):
            continue
        file = (path / info["path"]).resolve()
        if root in file.parents and file.is_file():  # never follow a path out of the version folder
            candidates[key] = file
            if info.get("verified") is False:
                unverified.add(key)
    for kind, filename in DEFAULT_FILES.items():
        if kind not in candidates and kind not in artifacts and (path / filename).is_file():
            candidates[kind] = path / filename
    if choice == "auto":
        # The model's default endpoint (deepzoo.json's top-level signature) first: a text model's
        # ONNX and TFLite artifacts take token ids, its SavedModel the strings a user sends.
        default = [key for key in candidates if _signature(metadata, key) in (None, _signature(metadata, None))]
        for kind in [k for k in AUTO_ORDER if k in default] + [k for k in AUTO_ORDER if k not in default]:
            if kind in candidates and kind not in unverified:
                return kind, candidates[kind]
        found = ", ".join(f"{k} (unverified)" if k in unverified else k for k in sorted(candidates)) or "none"
        raise ValueError(f"No verified artifact among {list(AUTO_ORDER)} in {path}. Found: {found}")
    if choice not in candidates:
        expected = "an artifact key of deepzoo.json" if choice not in RUNTIME_KINDS else f"'{DEFAULT_FILES[choice]}'"
        raise ValueError(f"No '{choice}' artifact ({expected}) in {path}. Available: {sorted(candidates)}")
    if choice in unverified:
        log.warning("serving an artifact that failed export verification", extra={"artifact": str(candidates[choice])})
    return choice, candidates[choice]


def _signature(metadata, artifact_key):
    """{"inputs", "outputs"} of one artifact as deepzoo.json records them (None where it does not:
    exports before per-artifact signatures had one endpoint), or the top-level ones for key None."""
    if artifact_key is None:
        return {"inputs": metadata.get("inputs"), "outputs": metadata.get("outputs")}
    artifacts = metadata.get("artifacts")
    artifact = artifacts.get(artifact_key) if isinstance(artifacts, dict) else None
    signature = artifact.get("signature") if isinstance(artifact, dict) else None
    return signature if isinstance(signature, dict) else None


def _ordered_specs(artifact_specs, described, kind):
    """The artifact's tensors in the order `deepzoo.json` lists them, with fixed dimensions that the
    metadata knows and the artifact left free. The metadata must name the same tensors."""
    if not isinstance(described, list) or not all(isinstance(t, dict) and isinstance(t.get("name"), str) for t in described):
        return list(artifact_specs)
    by_name = {spec.name: spec for spec in artifact_specs}
    names = [t["name"] for t in described]
    if sorted(names) != sorted(by_name):
        raise ValueError(f"The artifact's {kind} {sorted(by_name)} differ from those deepzoo.json lists: {names}")
    ordered = []
    for tensor in described:
        spec = by_name[tensor["name"]]
        shape = tensor.get("shape")
        if isinstance(shape, list) and len(shape) == len(spec.shape) and all(isinstance(d, int) for d in shape):
            merged = tuple(d if d >= 0 else m if isinstance(m, int) and m > 0 and i > 0 else d for i, (d, m) in enumerate(zip(spec.shape, shape)))
            spec = TensorSpec(spec.name, merged, spec.dtype)
        ordered.append(spec)
    return ordered


def _looks_like_export_dir(path):
    return (path / METADATA_FILE).is_file() or any((path / name).is_file() for name in DEFAULT_FILES.values())


def _model_config(model_dir, defaults):
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        return defaults
    try:
        overrides = json.loads(config_path.read_text())
    except (ValueError, OSError) as exc:
        raise ValueError(f"Cannot read {config_path}: {exc}") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"{config_path} must hold a JSON object. Received: {type(overrides).__name__}")
    return defaults.updated(overrides, str(config_path))


def load_repository(root, defaults=None):
    """Scans `root` and loads every version of every model.

    `root` is a repository (`root/<name>/<version>/`) or a single export directory, served as model
    `<metadata model_name or folder name>` version 1. Raises ValueError when nothing can be served.
    """
    defaults = defaults or ModelConfig()
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"Model repository not found (expected a directory). Received: {root}")
    layout = {}
    if _looks_like_export_dir(root):
        try:
            name = str(_read_metadata(root).get("model_name") or root.name)
        except ValueError:
            name = root.name
        layout[name] = (root, {"1": root})
    else:
        for model_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            versions = {}
            # Only numbered folders are versions: an export's hidden `.N.staging-*` never is.
            for version_dir in sorted(p for p in model_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                version = _canonical_version(version_dir.name)
                if version is not None:
                    versions.setdefault(version, version_dir)
            if versions:
                layout[model_dir.name] = (model_dir, versions)
    if not layout:
        raise ValueError(f"No models in {root}: expected {root}/<name>/<version>/ folders holding exported artifacts (see `deepzoo export --repository`).")
    models = {}
    for name, (model_dir, versions) in layout.items():
        config = _model_config(model_dir, defaults) if model_dir != root else defaults
        models[name] = {version: ServedVersion(name, version, path, config).load() for version, path in versions.items()}
    repository = Repository(root, models)
    if not any(v.ready for v in repository.versions()):
        errors = "; ".join(f"{v.model}/{v.version}: {v.error}" for v in repository.versions())
        raise ValueError(f"No model in {root} could be loaded: {errors}"[:1000])
    return repository
