"""Search spaces: what a tuning run may change, where each value goes, and the KerasTuner HyperModel.

A space is an ordered mapping `name -> entry`. An entry is a dict with a `kind` and KerasTuner's own
arguments for that kind:

    {"kind": "choice", "values": [16, 32, 64], "default": 32}
    {"kind": "float", "min_value": 1e-4, "max_value": 1e-2, "sampling": "log"}      (step optional)
    {"kind": "int", "min_value": 1, "max_value": 4, "step": 1}
    {"kind": "boolean", "default": false}
    {"kind": "fixed", "value": "adam"}

`min`/`max` are accepted for `min_value`/`max_value`. Conditional entries add `parent` and
`parent_values` and are active only while the parent takes one of those values (KerasTuner
`conditional_scope`), e.g. momentum only for SGD:

    {"kind": "choice", "values": [0.0, 0.5, 0.9], "parent": "optimizer", "parent_values": ["sgd"]}

Where a value goes: a constructor argument of the architecture (`width_multiplier`, `dropout`, ...)
becomes a model override; a field of `pipelines.train.TrainConfig` (`learning_rate`, `batch_size`,
`optimizer`, `momentum`, `l2`, ...) becomes a training option; `augment_strength` becomes an
augmentation dict (translate/rotate/zoom of that size) for image data. "sgd" with a momentum above 0
trains as the "momentum" optimiser.

The space of a run is built in three layers: the generic space (below, only entries the model and
data support), then the registry's `ModelSpec.search_space` (same format; it replaces generic entries
of the same name and adds its own), then an optional file (`--space FILE`, JSON or YAML):

    replace: false          # true: search only the entries of this file
    space:
      learning_rate: {kind: float, min_value: 3.0e-4, max_value: 3.0e-3, sampling: log}
      batch_size: {values: [32, 64]}     # no kind: narrows the existing entry, keeps its kind
      dropout: null                      # removes an entry (its default training value is used)
      optimizer: adam                    # a bare value fixes it; a bare list is a choice

A flat mapping (without `space:`) is read as the `space:` part.
"""

import contextlib
import dataclasses
import inspect
import json
from pathlib import Path

KINDS = ("choice", "float", "int", "boolean", "fixed")
# TrainConfig fields a search may set. `epochs` is the search's budget (`--epochs`, Hyperband's
# max_epochs) and data/seed/split fields define the experiment, so they are not tunable.
TUNABLE_TRAIN_FIELDS = (
    "optimizer",
    "learning_rate",
    "momentum",
    "weight_decay",
    "l1",
    "l2",
    "clipnorm",
    "schedule",
    "label_smoothing",
    "initializer",
    "batch_size",
    "augment",
)
SPECIAL_NAMES = ("augment_strength",)
# Builder arguments that the data decides (training fills them), never searched.
_DATA_DEFINED = ("input_shape", "num_classes", "preprocessing", "name", "self")
_ARGUMENT_KEYS = {
    "choice": ("values", "default", "ordered"),
    "float": ("min_value", "max_value", "step", "sampling", "default"),
    "int": ("min_value", "max_value", "step", "sampling", "default"),
    "boolean": ("default",),
    "fixed": ("value",),
}
_CONDITION_KEYS = ("parent", "parent_values")


def builder_arguments(spec):
    """Constructor arguments of a registry entry's builder (those a search may set)."""
    target = spec.builder.__init__ if inspect.isclass(spec.builder) else spec.builder
    parameters = inspect.signature(target).parameters
    return [
        name
        for name, p in parameters.items()
        if name not in _DATA_DEFINED and p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    ]


def generic_space(spec, dataset, tuner="random"):
    """The generic space: only entries this architecture and dataset support.

    Width/depth multipliers and dropout when the builder takes them; L2, optimiser (momentum only
    for SGD), learning rate and batch size always; augmentation strength for image data.
    """
    arguments = builder_arguments(spec)
    base = dict(spec.canonical_config)
    space = {}

    def multiplier(name, values):
        default = base.get(name, 1.0)
        values = sorted(set(values) | ({float(default)} if isinstance(default, (int, float)) else set()))
        return {"kind": "choice", "values": values, "default": float(default) if default in values else values[0], "ordered": True}

    if "width_multiplier" in arguments:
        space["width_multiplier"] = multiplier("width_multiplier", [0.5, 1.0, 2.0])
    if "depth_multiplier" in arguments:
        space["depth_multiplier"] = multiplier("depth_multiplier", [0.5, 1.0])
    if "dropout" in arguments:
        space["dropout"] = {"kind": "choice", "values": [0.0, 0.25, 0.5], "default": 0.0, "ordered": True}
    space["l2"] = {"kind": "choice", "values": [0.0, 1e-5, 1e-4, 1e-3], "default": 0.0, "ordered": True}
    space["optimizer"] = {"kind": "choice", "values": ["adam", "sgd"], "default": "adam"}
    space["momentum"] = {
        "kind": "choice",
        "values": [0.0, 0.5, 0.9],
        "default": 0.9,
        "ordered": True,
        "parent": "optimizer",
        "parent_values": ["sgd"],
    }
    learning_rate = {"kind": "float", "min_value": 1e-4, "max_value": 1e-2, "sampling": "log", "default": 1e-3}
    if tuner == "grid":  # a grid needs a finite set: 1e-4, 1e-3, 1e-2
        learning_rate["step"] = 10.0
    space["learning_rate"] = learning_rate
    space["batch_size"] = {"kind": "choice", "values": [16, 32, 64], "default": 32, "ordered": True}
    from tasks import get_task

    # Augmentation strength scales the image-label presets; tasks with spatial targets or their own
    # training step (detectors, GANs) bring their own augmentation, searched through their spec.
    image_label = getattr(get_task(spec.task), "augmentation", None) == "image_label"
    if image_label and dataset.value_range is not None and dataset.input_shape is not None and len(dataset.input_shape) == 3:
        space["augment_strength"] = {"kind": "choice", "values": [0.0, 0.05, 0.1], "default": 0.0, "ordered": True}
    return space


def load_space_file(path):
    """Reads a JSON or YAML space file; returns `(entries, replace)`."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Space file not found. Received: --space {path}")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        try:
            content = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Space file {path} is not valid JSON: {exc}") from None
    else:
        import yaml

        try:
            content = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"Space file {path} is not valid YAML/JSON: {first}") from None
    return parse_space_document(content, source=str(path))


def parse_space_document(content, source="space"):
    """`{"space": {...}, "replace": bool}` or a flat mapping -> `(entries, replace)`."""
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise ValueError(f"{source} must be a mapping of hyperparameter names to entries. Received: {type(content).__name__}")
    if "space" in content:
        unknown = set(content) - {"space", "replace"}
        if unknown:
            raise ValueError(f"{source}: unknown top-level keys {sorted(unknown)}. Expected 'space' and 'replace'.")
        entries, replace = content["space"] or {}, content.get("replace", False)
    else:
        entries = dict(content)
        replace = entries.pop("replace", False)
    if not isinstance(entries, dict):
        raise ValueError(f"{source}: 'space' must be a mapping. Received: {type(entries).__name__}")
    if not isinstance(replace, bool):
        raise ValueError(f"{source}: 'replace' must be true or false. Received: {replace!r}")
    return entries, replace


def _number(value, name, key):
    if isinstance(value, bool):
        raise ValueError(f"Hyperparameter '{name}': {key} must be a number. Received: {value!r}")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
        try:
            return float(value) if any(c in value.lower() for c in ".e") else int(value)
        except ValueError:
            pass
    raise ValueError(f"Hyperparameter '{name}': {key} must be a number. Received: {value!r}")


def _maybe_numbers(values):
    """Choice values: numeric strings become numbers when all of them are; ints become floats when mixed."""
    if all(isinstance(v, str) for v in values):
        try:
            values = [float(v) if any(c in v.lower() for c in ".e") else int(v) for v in values]
        except ValueError:
            return list(values)
    if any(isinstance(v, float) for v in values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        values = [float(v) for v in values]
    return list(values)


def normalize_entry(name, entry, existing=None):
    """A checked, canonical entry (`kind` plus KerasTuner arguments, plus optional condition)."""
    if isinstance(entry, list):
        entry = {"kind": "choice", "values": entry}
    elif not isinstance(entry, dict):
        entry = {"kind": "fixed", "value": entry}
    entry = dict(entry)
    for alias, key in (("min", "min_value"), ("max", "max_value")):
        if alias in entry:
            entry[key] = entry.pop(alias)
    if "kind" not in entry:
        if existing is None:
            raise ValueError(f"Hyperparameter '{name}' needs a 'kind' (one of {KINDS}). Received: {entry}")
        merged = {k: v for k, v in existing.items() if k not in ("default",) or "values" not in entry}
        merged.update(entry)
        entry = merged
    kind = str(entry["kind"]).lower()
    if kind not in KINDS:
        raise ValueError(f"Hyperparameter '{name}': unknown kind {entry['kind']!r}. Expected one of {KINDS}.")
    allowed = set(_ARGUMENT_KEYS[kind]) | set(_CONDITION_KEYS) | {"kind"}
    unknown = set(entry) - allowed
    if unknown:
        raise ValueError(f"Hyperparameter '{name}' ({kind}): unknown keys {sorted(unknown)}. Expected some of {sorted(allowed - {'kind'})}.")
    out = {"kind": kind}
    if kind == "choice":
        values = entry.get("values")
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(f"Hyperparameter '{name}': a choice needs a non-empty list 'values'. Received: {values!r}")
        values = _maybe_numbers(list(values))
        if any(isinstance(v, (list, dict, tuple)) or v is None for v in values):
            raise ValueError(f"Hyperparameter '{name}': choice values must be numbers, strings or booleans. Received: {values}")
        if len({type(v) for v in values}) > 1:
            raise ValueError(f"Hyperparameter '{name}': choice values must all have one type. Received: {values}")
        out["values"] = values
        if "default" in entry and entry["default"] is not None:
            default = _maybe_numbers([entry["default"]] + values)[0] if isinstance(values[0], (int, float)) else entry["default"]
            if default not in values:
                raise ValueError(f"Hyperparameter '{name}': default {entry['default']!r} is not one of {values}.")
            out["default"] = default
        if "ordered" in entry:
            out["ordered"] = bool(entry["ordered"])
    elif kind in ("float", "int"):
        for key in ("min_value", "max_value"):
            if key not in entry:
                raise ValueError(f"Hyperparameter '{name}': a {kind} needs '{key}'. Received: {entry}")
        cast = float if kind == "float" else int
        out["min_value"] = cast(_number(entry["min_value"], name, "min_value"))
        out["max_value"] = cast(_number(entry["max_value"], name, "max_value"))
        if out["min_value"] >= out["max_value"]:
            raise ValueError(f"Hyperparameter '{name}': min_value must be below max_value. Received: {out['min_value']} >= {out['max_value']}")
        sampling = str(entry.get("sampling", "linear")).lower()
        if sampling not in ("linear", "log", "reverse_log"):
            raise ValueError(f"Hyperparameter '{name}': sampling must be linear, log or reverse_log. Received: {sampling!r}")
        if sampling != "linear" and out["min_value"] <= 0:
            raise ValueError(f"Hyperparameter '{name}': {sampling} sampling needs min_value > 0. Received: {out['min_value']}")
        out["sampling"] = sampling
        if entry.get("step") is not None:
            step = cast(_number(entry["step"], name, "step"))
            if step <= 0 or (sampling != "linear" and step <= 1):
                raise ValueError(f"Hyperparameter '{name}': step must be > 0 (> 1 with {sampling} sampling). Received: {step}")
            out["step"] = step
        if entry.get("default") is not None:
            default = cast(_number(entry["default"], name, "default"))
            if not out["min_value"] <= default <= out["max_value"]:
                raise ValueError(f"Hyperparameter '{name}': default {default} is outside [{out['min_value']}, {out['max_value']}].")
            out["default"] = default
    elif kind == "boolean":
        if "default" in entry:
            if not isinstance(entry["default"], bool):
                raise ValueError(f"Hyperparameter '{name}': a boolean default must be true or false. Received: {entry['default']!r}")
            out["default"] = entry["default"]
    else:  # fixed
        if "value" not in entry or isinstance(entry["value"], (list, dict)):
            raise ValueError(f"Hyperparameter '{name}': 'fixed' needs a scalar 'value'. Received: {entry}")
        out["value"] = entry["value"]
    if "parent" in entry or "parent_values" in entry:
        parent_values = entry.get("parent_values")
        if not entry.get("parent") or not isinstance(parent_values, (list, tuple)) or not parent_values:
            raise ValueError(f"Hyperparameter '{name}': a condition needs 'parent' and a non-empty list 'parent_values'. Received: {entry}")
        out["parent"] = str(entry["parent"])
        out["parent_values"] = list(parent_values)
    return out


def known_names(spec):
    return sorted(set(builder_arguments(spec)) | set(TUNABLE_TRAIN_FIELDS) | set(SPECIAL_NAMES))


def resolve_space(spec, dataset, tuner="random", override=None, fixed=None):
    """The run's space: generic, then the registry's `search_space`, then `override`, then `fixed`.

    `override` is None, a path to a JSON/YAML file, or an already-read mapping (the file's format).
    `fixed` maps names the caller set outright (e.g. `--set dropout=0.1`) to values; those entries
    become fixed. Returns an ordered dict with parents before their children.
    """
    space = generic_space(spec, dataset, tuner)
    for name, entry in (spec.search_space or {}).items():
        space[name] = normalize_entry(name, entry)
    removed = set()
    if override is not None:
        entries, replace = load_space_file(override) if isinstance(override, (str, Path)) else parse_space_document(override)
        if replace:
            removed |= set(space)
            space = {}
        for name, entry in entries.items():
            if entry is None:
                if space.pop(name, None) is not None:
                    removed.add(name)
                continue
            removed.discard(name)
            space[name] = normalize_entry(name, entry, existing=space.get(name))
    for name, value in (fixed or {}).items():
        if name in space:
            space[name] = {"kind": "fixed", "value": value}
    space = {name: normalize_entry(name, entry) for name, entry in space.items()}
    # A child whose parent was removed goes with it (momentum when the optimizer is no longer
    # searched); a child of a fixed parent is either always or never active.
    changed = True
    while changed:
        changed = False
        for name, entry in list(space.items()):
            parent = entry.get("parent")
            if parent is None:
                continue
            if parent not in space and parent in removed:
                del space[name]
                removed.add(name)
                changed = True
            elif parent in space and space[parent]["kind"] == "fixed":
                if space[parent]["value"] in entry["parent_values"]:
                    space[name] = {k: v for k, v in entry.items() if k not in _CONDITION_KEYS}
                else:
                    del space[name]
                changed = True
    validate_space(space, spec)
    return _parents_first(space)


def validate_space(space, spec):
    known = set(known_names(spec))
    for name, entry in space.items():
        if name not in known:
            raise ValueError(
                f"Unknown hyperparameter '{name}' for model '{spec.name}'. Expected a constructor argument or training option: "
                f"{', '.join(sorted(known))}."
            )
        if name == "epochs":
            raise ValueError("epochs is the search budget (--epochs), not a hyperparameter.")
        parent = entry.get("parent")
        if parent is not None:
            if parent not in space:
                raise ValueError(f"Hyperparameter '{name}' depends on unknown parent '{parent}'.")
            parent_entry = space[parent]
            if parent_entry["kind"] not in ("choice", "boolean"):
                raise ValueError(f"Hyperparameter '{name}': a parent must be a choice or boolean. Received: '{parent}' is {parent_entry['kind']}")
            possible = parent_entry["values"] if parent_entry["kind"] == "choice" else [True, False]
            missing = [v for v in entry["parent_values"] if v not in possible]
            if missing:
                raise ValueError(f"Hyperparameter '{name}': parent_values {missing} are not values of '{parent}' ({possible}).")


def _parents_first(space):
    ordered, seen = {}, set()

    def visit(name, chain=()):
        if name in seen:
            return
        if name in chain:
            raise ValueError(f"Hyperparameter conditions form a cycle: {' -> '.join(chain + (name,))}")
        parent = space[name].get("parent")
        if parent:
            visit(parent, chain + (name,))
        seen.add(name)
        ordered[name] = space[name]

    for name in space:
        visit(name)
    return ordered


def _declare(hp, name, entry):
    kind = entry["kind"]
    if kind == "choice":
        return hp.Choice(name, entry["values"], ordered=entry.get("ordered"), default=entry.get("default"))
    if kind == "float":
        return hp.Float(name, entry["min_value"], entry["max_value"], step=entry.get("step"), sampling=entry["sampling"], default=entry.get("default"))
    if kind == "int":
        return hp.Int(name, entry["min_value"], entry["max_value"], step=entry.get("step"), sampling=entry["sampling"], default=entry.get("default"))
    if kind == "boolean":
        return hp.Boolean(name, default=entry.get("default", False))
    return hp.Fixed(name, entry["value"])


def declare_space(hp, space):
    """Declares every entry on a KerasTuner `HyperParameters`; returns the active values by name."""
    values = {}
    for name, entry in space.items():
        chain, parent = [], entry.get("parent")
        current = entry
        while parent is not None:  # outermost condition first
            chain.insert(0, (parent, current["parent_values"]))
            current = space[parent]
            parent = current.get("parent")
        with contextlib.ExitStack() as stack:
            for parent_name, parent_values in chain:
                stack.enter_context(hp.conditional_scope(parent_name, parent_values))
            value = _declare(hp, name, entry)
        if value is not None:
            values[name] = value
    return values


def make_hypermodel(space):
    """A KerasTuner HyperModel whose `build(hp)` declares the space and returns the chosen values.

    The Keras model itself is built per trial by the cross-validating tuner, not here: KerasTuner
    calls `build` several times just to discover conditional entries, which must stay cheap.
    """
    import keras_tuner

    class SpaceHyperModel(keras_tuner.HyperModel):
        def __init__(self):
            super().__init__(name="deepzoo_space")
            self.space = space

        def build(self, hp):
            return declare_space(hp, self.space)

    return SpaceHyperModel()


def augment_for_strength(strength):
    """Label-preserving geometric augmentation of the given size (0 = none)."""
    strength = float(strength)
    if strength <= 0:
        return "none"
    return {"translate": strength, "rotate": round(strength / 2, 6), "zoom": strength}


@dataclasses.dataclass
class Options:
    """Where the values of one configuration go."""

    train: dict
    model_overrides: dict


def split_values(values, spec):
    """Hyperparameter values -> training options and model overrides (see module docstring)."""
    arguments = set(builder_arguments(spec))
    train, overrides = {}, {}
    for name, value in values.items():
        if name.startswith("tuner/"):
            continue
        if name in arguments:
            overrides[name] = value
        elif name == "augment_strength":
            train["augment"] = augment_for_strength(value)
        elif name in TUNABLE_TRAIN_FIELDS:
            train[name] = value
    if train.get("optimizer") == "sgd" and train.get("momentum"):
        train["optimizer"] = "momentum"
    return Options(train, overrides)
