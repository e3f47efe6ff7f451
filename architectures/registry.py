"""The model registry: one `ModelSpec` per architecture, the single source every tool reads.

A family module registers its variants at import time with `register(ModelSpec(...))`; the package
`architectures/__init__.py` imports each family module explicitly (never by scanning the disk).

Public API: `create_model`, `list_models`, `get_spec`, plus `CHECKS` (the model columns of the
conformance report; the export columns come from the export format table).
"""

import dataclasses
import fnmatch
from typing import Any, Callable

from common.names import add_unique, lookup

# The model checks of the conformance report. A spec may declare any of them, or any export format
# of `export.formats.FORMATS` (named only there), unsupported in `limitations` with the reason; the
# report then shows the reason, not a pass. Format keys are checked against the format table by
# tests/test_registry_sweep.py, since the registry sits below export/.
CHECKS = (
    "build",       # tiny config builds and matches its declared input contract
    "forward",     # forward pass gives finite outputs
    "train",       # the task's training check (a few steps lower the loss on a fixed batch, or its own)
    "roundtrip",   # .keras save/load gives identical outputs; get_config round-trips
    "params",      # canonical config matches the reference parameter count
    "xla",         # the training step and the export endpoint compile with jit_compile=True and agree with graph mode
)
CAPABILITIES = CHECKS  # the name older callers use

# Where a reference parameter count comes from, and how closely we must match it (spec §1).
PARAM_SOURCES = {
    "K": ("keras.applications count_params(), BN statistics included", 0.0),
    "B": ("faithful Keras build of the canonical config, BN statistics included", 0.0),
    "P": ("the paper or its reference implementation (usually trainable only)", 0.01),
    "N": ("the lecture notes' worked count", 0.0),
}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything the tools need to know about one architecture.

    Attributes:
        name: registry id (spec §2 `id` column).
        family: family slug, e.g. "foundations", "classification".
        task: task kind, a key of `tasks.TASKS` ("classification", "detection", ...); the task owns
            data structure, losses, metrics, decoding, plots, the sweep batch and the endpoint.
        builder: the model class (or function) called with the config as keyword arguments.
        canonical_config: the paper's configuration; `create_model(name)` builds this.
        tiny_config: a reduced configuration that builds and trains in well under a second.
        reference_params: parameter count of the canonical config, or None where the paper has none.
        reference_source: "K", "B", "P" or "N" (see `PARAM_SOURCES`), with an optional note.
        paper: the canonical reference (authors, year, venue).
        seeds: lecture-note prefixes that describe the model ("000".."004").
        limitations: capability -> reason, for every capability the model cannot offer.
        default_dataset: the embedded dataset `deepzoo train NAME` uses when none is given.
        example_batch: optional `fn(config, seed) -> (x, y)` for models whose inputs or targets the
            task's generic synthetic batch cannot describe (Hopfield patterns, SOM points, ...).
        train_recipe: optional training preset (optimizer, lr, schedule, ...) from the paper.
        search_space: optional hyperparameter space for tuning: name -> dict(kind=..., ...).
        notes: fidelity notes, e.g. where the paper and the spec disagree and which one we follow.
        inputs: the model's input contract, a tuple of `tasks.TensorSpec` (name, shape without the
            batch dimension, dtype; `None` = free size). Empty: one float32 input named by the model.
            The sweep checks the built tiny model against it (names, dtypes, ranks).
        outputs: the export endpoint's output contract, same form (empty: one float32 "output").
        train_check: the sweep's training check; empty = the task's (`Task.train_check`).
        export_endpoint: what is exported and served, in words; empty = the task's description.
        tiny_twin_of: the variant whose tiny build is the same network as this one's (ResNet-101's
            and ResNet-50's tiny configs override the depth with one block per stage): the XLA and
            export columns check that network once. tests/test_registry_sweep.py verifies the claim.
    """

    name: str
    family: str
    task: str
    builder: Callable[..., Any]
    canonical_config: dict = dataclasses.field(default_factory=dict)
    tiny_config: dict = dataclasses.field(default_factory=dict)
    reference_params: int | None = None
    reference_source: str = ""
    paper: str = ""
    seeds: tuple = ()
    limitations: dict = dataclasses.field(default_factory=dict)
    default_dataset: str | None = None
    example_batch: Callable | None = None
    train_recipe: dict | None = None
    search_space: dict | None = None
    notes: str = ""
    inputs: tuple = ()
    outputs: tuple = ()
    train_check: str = ""
    export_endpoint: str = ""
    tiny_twin_of: str | None = None

    def __post_init__(self):
        malformed = [key for key in self.limitations if not (isinstance(key, str) and key.isidentifier())]
        if malformed:
            raise ValueError(
                f"Model '{self.name}' declares limitations on {malformed}. Expected checks {CHECKS} or export format names."
            )
        if self.reference_params is not None and self.reference_source[:1] not in PARAM_SOURCES:
            raise ValueError(
                f"Model '{self.name}' needs reference_source starting with one of "
                f"{sorted(PARAM_SOURCES)}. Received: reference_source={self.reference_source!r}"
            )

    @property
    def param_tolerance(self):
        """Relative tolerance of the parameter-count check for this spec's source."""
        return PARAM_SOURCES[self.reference_source[:1]][1] if self.reference_source else 0.0

    def supports(self, capability):
        return capability not in self.limitations


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec):
    """Adds `spec` to the registry. Registering the same name twice is a programming error."""
    return add_unique(_REGISTRY, spec.name, spec, "Model")


def get_spec(name):
    """Returns the `ModelSpec` of `name`; an unknown name raises with close matches."""
    return lookup(_REGISTRY, name, "model", " Run `deepzoo list` to see them.")


def list_models(task=None, family=None, pattern="*"):
    """Names of registered models, sorted, filtered by task, family and a glob pattern."""
    return sorted(
        name
        for name, spec in _REGISTRY.items()
        if (task is None or spec.task == task)
        and (family is None or spec.family == family)
        and fnmatch.fnmatch(name, pattern)
    )


def list_families():
    return sorted({spec.family for spec in _REGISTRY.values()})


def create_model(name, config="canonical", **overrides):
    """Builds model `name`.

    Args:
        name: registry id.
        config: "canonical" (the paper's) or "tiny" (the test configuration) as the base config.
        **overrides: constructor arguments that replace the base config's, e.g. `num_classes=10`.
    """
    spec = get_spec(name)
    if config not in ("canonical", "tiny"):
        raise ValueError(f"config must be 'canonical' or 'tiny'. Received: config={config!r}")
    base = spec.canonical_config if config == "canonical" else spec.tiny_config
    _check_arguments(spec, overrides)
    return spec.builder(**{**base, **overrides})


def constructor_arguments(spec):
    """Names the builder accepts (keras.Model's own name/trainable/dtype included)."""
    import inspect

    target = spec.builder.__init__ if inspect.isclass(spec.builder) else spec.builder
    parameters = inspect.signature(target).parameters
    names = [n for n, p in parameters.items() if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    return names + [n for n in ("name", "trainable", "dtype") if n not in names]


def _check_arguments(spec, overrides):
    accepted = constructor_arguments(spec)
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:
        raise ValueError(
            f"Model '{spec.name}' has no argument(s) {unknown}. Expected some of: {', '.join(accepted)}."
        )


def resolved_config(name, config="canonical", **overrides):
    """The keyword arguments `create_model` would pass to the builder."""
    spec = get_spec(name)
    base = spec.canonical_config if config == "canonical" else spec.tiny_config
    return {**base, **overrides}
