"""What each command-line value means, in one place: its type, its range or choices, and how it is
checked. Every option of every command is declared with a `Value` from here (`add_option`), and
`check_arguments` checks them all after parsing and before a command does anything, so bad input
is one line and exit status 2 before any folder is made or TensorFlow is imported.

A `Value` does three things:

* `convert(text)`: the argparse `type`; text that is not even the right type (`--epochs three`)
  fails here, as a parse error;
* `check(value, flag)`: the meaning (`--epochs 0`, `--lr -1`, `--jit maybe`); raises `UsageError`;
* `malformed()`: texts it must reject. tests/test_cli_options.py drives every option of every
  command with them, so an option without a `Value`, or a `Value` that lets one through, fails a test.

`KEY=VALUE` options (`--set`, `--data-option`, `--option`) are checked against what they configure:
`--set` against the model's constructor signature (from the registry index: kinds of the defaults)
and `ARGUMENT_MEANINGS` (ranges by argument name), `--data-option` against the dataset loader's
signature, `--option` against `TRAIN_OPTIONS` by field name.

This module imports nothing heavy: the registry is read through `deepzoo.cli_registry`.
"""

import argparse
import difflib
import fnmatch
import json
import math
import zipfile
from pathlib import Path

# Files that exist in every installation: the malformed-value tests use them as "an existing file"
# and "an existing folder that is not a run".
AN_EXISTING_FILE = str(Path(__file__).resolve())
AN_EXISTING_FOLDER = str(Path(__file__).resolve().parent)


class UsageError(ValueError):
    """Bad command-line input: printed as one line, exit status 2."""


def did_you_mean(text, choices):
    close = difflib.get_close_matches(str(text), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _received(text):
    return f"Received: {text!r}"


# --- values ----------------------------------------------------------------------------------------


class Value:
    """Base: any text."""

    metavar = None

    def convert(self, text):
        return text

    def check(self, value, flag):
        pass

    def malformed(self):
        return []

    def describe(self):
        """What the value must be, for --help (None: the help text says it)."""
        return

    def __repr__(self):  # argparse names the type in some messages
        return type(self).__name__


class Int(Value):
    def __init__(self, minimum=None, maximum=None):
        self.minimum, self.maximum = minimum, maximum
        self.metavar = "N"

    def describe(self):
        if self.minimum is not None and self.maximum is not None:
            return f"an integer in [{self.minimum}, {self.maximum}]"
        if self.minimum == 1:
            return "a positive integer"
        if self.minimum == 0:
            return "a non-negative integer"
        if self.minimum is not None:
            return f"at least {self.minimum} (an integer)"
        return "an integer"

    def convert(self, text):
        if isinstance(text, int) and not isinstance(text, bool):
            return text
        try:
            return int(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {self.describe()}. {_received(text)}") from None

    def check(self, value, flag):
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{flag} must be {self.describe()}. {_received(value)}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise UsageError(f"{flag} must be {self.describe()}. Received: {value}")

    def malformed(self):
        bad = ["three", "1.5", ""]
        if self.minimum is not None:
            bad += [str(self.minimum - 1), str(self.minimum - 100)]
        if self.maximum is not None:
            bad.append(str(self.maximum + 1))
        return bad


class Float(Value):
    """A finite number within bounds; `open_low`/`open_high` exclude the bound itself."""

    def __init__(self, low=None, high=None, open_low=False, open_high=False):
        self.low, self.high, self.open_low, self.open_high = low, high, open_low, open_high
        self.metavar = "X"

    def describe(self):
        if self.low is not None and self.high is not None:
            return f"a number in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"
        if self.low == 0:
            return "a positive number" if self.open_low else "a number >= 0"
        if self.low is not None:
            return f"a number {'>' if self.open_low else '>='} {self.low:g}"
        return "a number"

    def convert(self, text):
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            return float(text)
        try:
            return float(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {self.describe()}. {_received(text)}") from None

    def accepts(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.open_high and value == self.high)):
            return False
        return True

    def check(self, value, flag):
        if not self.accepts(value):
            raise UsageError(f"{flag} must be {self.describe()}. Received: {value}")

    def malformed(self):
        bad = ["abc", "", "nan", "inf"]
        if self.low is not None:
            bad.append(f"{self.low:g}" if self.open_low else f"{self.low - 1:g}")
        if self.high is not None:
            bad.append(f"{self.high:g}" if self.open_high else f"{self.high + 1:g}")
        return bad


class Choice(Value):
    """One of a fixed set of words (case-sensitive), with a close-match hint."""

    def __init__(self, choices):
        self.choices = tuple(choices)
        self.metavar = "|".join(self.choices) if len(self.choices) <= 4 else None

    def describe(self):
        return "one of " + ", ".join(self.choices) if len(self.choices) > 1 else None

    def check(self, value, flag):
        if value not in self.choices:
            raise UsageError(f"{flag} must be one of {', '.join(self.choices)}; invalid choice: {value!r}{did_you_mean(value, self.choices)}")

    def malformed(self):
        return ["nonsense", "", self.choices[0][:-1] or "x"]


class LazyChoice(Choice):
    """Choices read when checked (from the registry index): families, tasks, capabilities."""

    def __init__(self, read, what):
        self.read, self.what = read, what
        self.metavar = what.upper()

    @property
    def choices(self):
        return tuple(self.read())

    def describe(self):
        return None  # read when checked, not for --help

    def check(self, value, flag):
        choices = self.choices
        if value not in choices:
            raise UsageError(f"{flag}: Unknown {self.what} {value!r}. Expected one of {', '.join(choices)}{did_you_mean(value, choices)}")

    def malformed(self):
        return ["nonsense", ""]


class ChoiceList(Value):
    """Comma-separated subset of a set of words."""

    def __init__(self, read, what):
        self.read, self.what = read, what
        self.metavar = f"{what.split()[-1].upper()}[,...]"

    def check(self, value, flag):
        known = tuple(self.read())
        items = [item.strip() for item in value.split(",")]
        unknown = [item for item in items if item not in known]
        if not value.strip() or unknown:
            hint = did_you_mean(unknown[0], known) if unknown else ""
            raise UsageError(f"{flag}: Unknown {self.what}s {unknown or [value]}. Expected a comma-separated subset of {', '.join(known)}{hint}")

    def malformed(self):
        return ["nonsense", "", f"{self.read()[0]},nonsense"]


class Text(Value):
    """A non-empty string; `forbidden` characters rejected (e.g. '/' in a model name)."""

    def __init__(self, what="a non-empty text", forbidden=""):
        self.what, self.forbidden = what, forbidden

    def check(self, value, flag):
        if not value.strip() or any(c in value for c in self.forbidden):
            extra = f" without {' '.join(repr(c) for c in self.forbidden)}" if self.forbidden else ""
            raise UsageError(f"{flag} must be {self.what}{extra}. {_received(value)}")

    def malformed(self):
        return ["", " "] + [f"a{c}b" for c in self.forbidden[:1]]


class OutputPath(Value):
    """A folder to write to: missing (it will be made) or an existing folder, never a file."""

    metavar = "DIR"

    def check(self, value, flag):
        if not value.strip():
            raise UsageError(f"{flag} must name a folder. {_received(value)}")
        path = Path(value)
        if path.exists() and not path.is_dir():
            raise UsageError(f"{flag} names an existing file; expected a folder (new or existing). Received: {value}")
        for parent in path.parents:
            if parent.exists() and not parent.is_dir():
                raise UsageError(f"{flag} is inside a file ({parent}); expected a folder. Received: {value}")

    def malformed(self):
        return ["", AN_EXISTING_FILE, str(Path(AN_EXISTING_FILE) / "below-a-file")]


class ExistingFile(Value):
    metavar = "FILE"

    def check(self, value, flag):
        path = Path(value)
        if not path.is_file():
            raise UsageError(f"{flag} file not found{' (it is a folder)' if path.is_dir() else ''}. Received: {value}")

    def malformed(self):
        return ["", "/nonexistent/deepzoo/file.yaml", AN_EXISTING_FOLDER]


class TrainedRun(Value):
    """A finished run directory (holds model.keras), or a .keras file."""

    metavar = "RUN"

    def check(self, value, flag):
        path = Path(value)
        if path.is_dir() and (path / "model.keras").is_file():
            return
        if path.is_file() and path.suffix == ".keras":
            return
        raise UsageError(f"{flag} must be a finished run directory (with model.keras) or a .keras file. Received: {value}")

    def malformed(self):
        return ["", "/nonexistent/deepzoo/run", AN_EXISTING_FOLDER, AN_EXISTING_FILE]


class KeyValue(Value):
    """KEY=VALUE; what the key and value mean is checked by the command (see `parse_key_values`)."""

    metavar = "KEY=VALUE"

    def check(self, value, flag):
        key, sep, _ = value.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} must be KEY=VALUE. {_received(value)}")

    def malformed(self):
        return ["nonsense", "=1", ""]


class BnMomentum(Value):
    """auto, keep, or a momentum in [0, 1)."""

    metavar = "auto|keep|M"
    number = Float(0.0, 1.0, open_high=True)

    def convert(self, text):
        if text in ("auto", "keep"):
            return text
        try:
            return float(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be auto, keep or {self.number.describe()}. {_received(text)}") from None

    def check(self, value, flag):
        if value in ("auto", "keep"):
            return
        if not self.number.accepts(value):
            raise UsageError(f"{flag} must be auto, keep or {self.number.describe()}. Received: {value}")

    def malformed(self):
        return ["5", "1", "-0.1", "nan", "sometimes", ""]


class Augment(Value):
    """A preset name or a JSON object {"name": strength, ...}; names are checked against
    pipelines.augment where that is imported (the training command's second stage)."""

    metavar = "PRESET|JSON"

    def convert(self, text):
        return text

    def check(self, value, flag):
        parse_augment(value, flag)

    def malformed(self):
        return ['{"flip": ', "[1, 2]", '"flip"', "", "{}x"]


def parse_augment(text, flag="--augment"):
    """The --augment value: a preset name (str) or a dict. Broken JSON names the JSON error."""
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    if not stripped:
        raise UsageError(f"{flag} must be a preset name or a JSON object. {_received(text)}")
    if stripped[0] in "{[\"0123456789-" or stripped in ("true", "false", "null"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{flag} is not valid JSON ({exc.msg} at column {exc.colno}). {_received(text)}") from None
        if not isinstance(value, dict):
            raise UsageError(f"{flag} JSON must be an object of augmentation name -> setting. {_received(text)}")
        return value
    return stripped


class DataName(Value):
    """An embedded dataset name, numpy:FILE.npz, folder:DIR or tfds:NAME[:SPLIT]."""

    metavar = "DATA"
    PREFIXES = ("numpy", "folder", "tfds")

    def check(self, value, flag):
        check_data_name(value, flag)

    def malformed(self):
        return ["no_such_data", "digitz", "numpy:/nonexistent/deepzoo.npz", f"numpy:{AN_EXISTING_FILE}", "folder:/nonexistent/deepzoo", f"folder:{AN_EXISTING_FILE}", "tfds:", ""]


def embedded_datasets():
    """{name: (task, description)}: the embedded sources (pipelines.datasets is light)."""
    from pipelines.datasets import list_datasets

    return list_datasets()


def prefixed_sources():
    """The prefixes of file-like sources (numpy:, folder:, tfds:, and any registered since)."""
    from pipelines import datasets

    datasets.list_datasets()  # imports the source modules, which register their prefixes
    return tuple(dict.fromkeys((*DataName.PREFIXES, *getattr(datasets, "_PREFIXED", {}))))


def check_data_name(value, flag="--data"):
    kind, sep, rest = value.partition(":")
    if sep and kind in prefixed_sources():
        if not rest.strip():
            raise UsageError(f"{flag} {kind}: needs a {'name' if kind == 'tfds' else 'path'} after the colon. {_received(value)}")
        if kind == "numpy":
            path = Path(rest)
            if not path.is_file():
                raise UsageError(f"{flag} numpy dataset file not found. Received: {value}")
            if not zipfile.is_zipfile(path):
                raise UsageError(f"{flag} {rest} is not an .npz archive (numpy.savez writes one, with arrays x and y). Received: {value}")
        if kind == "folder" and not Path(rest).is_dir():
            raise UsageError(f"{flag} image folder not found (expected DIR/<class>/<image>). Received: {value}")
        return
    names = embedded_datasets()
    if value not in names:
        close = difflib.get_close_matches(value, list(names), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(
            f"{flag}: Unknown dataset '{value}'.{hint} Expected an embedded name ({', '.join(sorted(names))}) "
            "or numpy:PATH.npz, folder:PATH, tfds:NAME."
        )


class CvScheme(Value):
    """holdout:F | kfold:K | stratified:K | loo | repeated:KxR | bootstrap:R (pipelines.splits parses it)."""

    metavar = "SCHEME"

    def check(self, value, flag):
        from pipelines.splits import parse_validation

        try:
            parse_validation(value)
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from None

    def malformed(self):
        return ["fivefold", "kfold:x", "repeated:5xz", ""]


class Objective(Value):
    """A metric name, optionally :max or :min."""

    metavar = "METRIC[:max|:min]"

    def check(self, value, flag):
        name, sep, direction = value.partition(":")
        if not name.strip() or (sep and direction not in ("max", "min")):
            raise UsageError(f"{flag} must be a metric name, optionally :max or :min. {_received(value)}")

    def malformed(self):
        return ["", "val_accuracy:up", ":max"]


class FormatList(Value):
    """Export formats (export.formats is light): a name, a comma-separated list, or all."""

    metavar = "FORMAT[,...]"

    def check(self, value, flag):
        from export.formats import resolve_formats

        names = [name.strip() for name in value.split(",")] if "," in value else value
        try:
            resolve_formats(names)
        except ValueError as exc:
            raise UsageError(f"{flag}: {str(exc).splitlines()[0]}") from None

    def malformed(self):
        return ["coreml", "onnx,pt", ""]


class ModelList(Value):
    """Comma-separated registered model names."""

    metavar = "MODEL[,...]"

    def check(self, value, flag):
        from deepzoo import cli_registry

        names = [name.strip() for name in value.split(",")]
        if not value.strip() or not all(names):
            raise UsageError(f"{flag} must be comma-separated model names. {_received(value)}")
        for name in names:
            try:
                cli_registry.get_model(name)
            except ValueError as exc:
                raise UsageError(f"{flag}: {exc}") from None

    def malformed(self):
        return ["no_such_model", "lenet5,no_such_model", "", "lenet5,,mlp"]


class ServingRuntime(Value):
    """auto, or an artifact key whose runtime the server has (onnx, tflite_int8, savedmodel, ...):
    `serving.runtimes.runtime_kind` decides, as the server does."""

    metavar = "RUNTIME"

    def check(self, value, flag):
        from serving.runtimes import RUNTIME_KINDS, runtime_kind

        if value != "auto" and runtime_kind(value) is None:
            known = ("auto", *RUNTIME_KINDS)
            raise UsageError(f"{flag} must be auto, {', '.join(RUNTIME_KINDS)} or an artifact key such as tflite_int8; invalid choice: {value!r}{did_you_mean(value, known)}")

    def malformed(self):
        return ["tensorrt", "", "onx"]


# --- the table of training options ----------------------------------------------------------------

# Kept equal to pipelines.optim / pipelines.train by tests/test_cli_options.py (those modules
# import TensorFlow; this table must not).
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "nadam", "rprop")
SCHEDULES = ("constant", "exponential", "step", "plateau", "linear", "cosine", "warmup")
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform", "random_normal", "zeros")
JIT_CHOICES = ("auto", "on", "off")
FRACTION = Float(0.0, 1.0, open_low=True, open_high=True)
SEED = Int(0, 2**32 - 1)

# (flag, TrainConfig field, Value, help): `deepzoo train` flags, and what `tune --option FIELD=V` checks.
TRAIN_OPTIONS = (
    ("--epochs", "epochs", Int(1), "training epochs"),
    ("--batch-size", "batch_size", Int(1), "batch size"),
    ("--optimizer", "optimizer", Choice(OPTIMIZERS), "optimiser"),
    ("--lr", "learning_rate", Float(0.0, open_low=True), "learning rate"),
    ("--momentum", "momentum", Float(0.0, 1.0, open_high=True), "momentum of the SGD variants (and RMSprop)"),
    ("--weight-decay", "weight_decay", Float(0.0), "decoupled weight decay"),
    ("--l1", "l1", Float(0.0), "L1 penalty on kernels"),
    ("--l2", "l2", Float(0.0), "L2 penalty on kernels"),
    ("--clipnorm", "clipnorm", Float(0.0, open_low=True), "global gradient-norm clipping"),
    ("--schedule", "schedule", Choice(SCHEDULES), "learning-rate schedule"),
    ("--label-smoothing", "label_smoothing", Float(0.0, 1.0, open_high=True), "label smoothing"),
    ("--initializer", "initializer", Choice(INITIALIZERS), "re-initialise kernels"),
    ("--test-fraction", "test_fraction", FRACTION, "hold-out test fraction"),
    ("--validation-fraction", "validation_fraction", Float(0.0, 1.0, open_high=True), "validation fraction (of all examples, carved from the training portion)"),
    ("--patience", "early_stopping_patience", Int(0), "early-stopping patience (0 disables)"),
    ("--seed", "seed", SEED, "random seed"),
    ("--max-examples", "max_examples", Int(1), "use at most this many examples"),
    ("--init-from", "init_from", TrainedRun(), "RUN directory whose matching layers initialise this model"),
    ("--freeze", "freeze", Choice(("backbone",)), "with --init-from: 'backbone' keeps copied layers frozen"),
    ("--jit", "jit", Choice(JIT_CHOICES), "XLA (auto: on with a GPU, graph mode on CPU)"),
    ("--distribute", "distribute", Choice(("mirrored", "multiworker")), "tf.distribute strategy"),
    ("--bn-momentum", "bn_momentum", BnMomentum(), "BatchNorm momentum while training: auto (lowered for short runs), keep, or a number in [0, 1)"),
    ("--pretrain-epochs", "pretrain_epochs", Int(0), "epochs of the model's own pre-training stage first (yolo_v1: its convs as a grid-cell classifier, paper §2.2)"),
)
TRAIN_VALUES = {field: value for _, field, value, _ in TRAIN_OPTIONS}


def check_train_options(options, flag_of=None):
    """Checks TrainConfig fields by meaning (and the ones that depend on each other)."""
    flag_of = flag_of or {field: flag for flag, field, _, _ in TRAIN_OPTIONS}
    for field, value in options.items():
        spec = TRAIN_VALUES.get(field)
        if spec is not None and value is not None:
            spec.check(value, flag_of.get(field, field))
    test = options.get("test_fraction")
    validation = options.get("validation_fraction")
    if test is not None and validation is not None and test + validation >= 1:
        raise UsageError(f"--test-fraction + --validation-fraction must be below 1, leaving examples to train on. Received: {test} + {validation}")
    if options.get("freeze") and not options.get("init_from"):
        raise UsageError("--freeze applies to layers copied by --init-from. Received: --freeze without --init-from")


# --- KEY=VALUE -------------------------------------------------------------------------------------


def split_key_values(pairs, flag):
    """[(key, raw_text)] of repeated KEY=VALUE options (keys with '-' as '_')."""
    result = []
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} must be KEY=VALUE. {_received(pair)}")
        result.append((key.strip().replace("-", "_"), value))
    return result


def parse_key_json_values(pairs, flag):
    """{key: value} of repeated KEY=VALUE options whose values are JSON or text (see below)."""
    return {key: parse_json_or_text(text) for key, text in split_key_values(pairs, flag)}


def parse_json_or_text(text):
    """JSON where it parses (numbers, lists, true), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def coerce(text, kind, what):
    """The value of `text` for a parameter whose default (or config value) is of `kind`."""
    if kind == "str":
        return text  # "1.0" stays a string (squeezenet version="1.0")
    value = parse_json_or_text(text)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{what} expects a number. {_received(text)}")
        if not math.isfinite(value):
            raise UsageError(f"{what} expects a finite number. {_received(text)}")
        return float(value) if isinstance(value, float) else value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{what} expects an integer. {_received(text)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise UsageError(f"{what} expects true or false. {_received(text)}")
        return value
    if kind == "list":
        if not isinstance(value, list):
            raise UsageError(f"{what} expects a JSON list such as [1, 2]. {_received(text)}")
        return value
    if kind == "dict":
        if value is not None and not isinstance(value, dict):
            raise UsageError(f"{what} expects a JSON object such as {{\"key\": 1}}. {_received(text)}")
        return value
    return value  # none / object: whatever JSON (or text) says


# Constructor arguments by meaning, matched by name (fnmatch patterns), in order; the first match
# applies. A model with a constraint its name does not say declares it in its constructor (a
# ValueError there is a one-line error too).
POSITIVE = Float(0.0, open_low=True)
PROBABILITY = Float(0.0, 1.0, open_high=True)
COUNT = Int(1)
ARGUMENT_MEANINGS = (
    (("learning_rate", "*_learning_rate"), POSITIVE),
    (("*dropout*", "drop_connect_rate", "*drop_rate", "*drop_path*"), PROBABILITY),
    (("*_multiplier", "*_coefficient", "widen_factor"), POSITIVE),
    (("compression",), Float(0.0, 1.0, open_low=True)),
    (("num_classes", "num_outputs", "num_components", "num_layers", "*_units", "*_layers", "rows", "cols", "cells", "steps", "sweeps", "window", "cardinality", "group_width", "growth_rate", "width_per_group", "max_tokens", "*_bins", "bottleneck", "convs_per_stage", "kernel_size", "depth", "lstm_units"), COUNT),
    (("*_weight", "l1", "l2", "weight_decay"), Float(0.0)),
)


def argument_meaning(name):
    for patterns, value in ARGUMENT_MEANINGS:
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
            return value
    return None


def _check_meaning(name, value, what):
    meaning = argument_meaning(name)
    if meaning is None or value is None:
        return
    if isinstance(meaning, Int) and isinstance(value, list):  # a per-stage list of counts
        for item in value:
            _check_meaning(name, item, what)
        return
    if isinstance(meaning, Int) and isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        meaning.check(value, what)


def _check_shape(value, what):
    if value is None:
        return
    if not isinstance(value, list) or not value or not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in value):
        raise UsageError(f"{what} expects a list of positive sizes such as [32, 32, 3]. Received: {json.dumps(value)}")


def parse_model_overrides(pairs, model_entry, config="canonical", flag="--set"):
    """--set KEY=VALUE for a model (its registry index entry): known arguments, values of the kind
    its config or default has, within the range the argument's name means."""
    arguments = model_entry["arguments"]
    base = model_entry["tiny_config" if config == "tiny" else "canonical_config"]
    overrides = {}
    items = split_key_values(pairs, flag)
    unknown = [key for key, _ in items if key not in arguments]
    if unknown:
        hint = did_you_mean(unknown[0], arguments)
        raise UsageError(
            f"{flag}: Model '{model_entry['name']}' has no argument(s) {unknown}. Expected some of: {', '.join(arguments)}{hint}"
        )
    from deepzoo.cli_registry import value_kind

    for key, text in items:
        what = f"{flag} {key}"
        reference = base.get(key, arguments[key]["default"])
        kind = value_kind(reference) if not (isinstance(reference, dict) and "__repr__" in reference) else "object"
        if kind == "none":
            kind = arguments[key]["kind"]
        if kind == "int" and isinstance(argument_meaning(key), Float):
            kind = "float"  # an int default of a real-valued argument (a multiplier of 1): any number
        value = coerce(text, kind, what)
        if key == "input_shape":
            _check_shape(value, what)
        _check_meaning(key, value, what)
        overrides[key] = value
    return overrides


def dataset_loader(name):
    """The loader function behind a dataset name, to read its options (None if unknown)."""
    from pipelines import datasets

    datasets.list_datasets()  # registers the embedded sources
    kind, sep, rest = name.partition(":")
    prefixed = getattr(datasets, "_PREFIXED", {})
    if sep and rest and kind in prefixed:
        return prefixed[kind]
    source = getattr(datasets, "_SOURCES", {}).get(name)
    return source.loader if source else None


DATA_OPTION_MEANINGS = {"image_size": COUNT, "max_examples": COUNT}


def parse_data_options(pairs, data, flag="--data-option"):
    """--data-option KEY=VALUE for a dataset: the loader's own options, of the kind of their default."""
    import inspect

    items = split_key_values(pairs, flag)
    if not items:
        return {}
    loader = dataset_loader(data) if data else None
    parameters = {}
    open_ended = False
    if loader is not None:
        for parameter in inspect.signature(loader).parameters.values():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                open_ended = True
            elif parameter.default is not inspect.Parameter.empty and parameter.name != "seed":
                parameters[parameter.name] = parameter.default
    unknown = [key for key, _ in items if key not in parameters]
    if loader is not None and unknown and not open_ended:
        raise UsageError(f"{flag}: Unknown option(s) {unknown} for dataset '{data}'. Expected some of {sorted(parameters)}{did_you_mean(unknown[0], parameters)}")
    from deepzoo.cli_registry import value_kind

    options = {}
    for key, text in items:
        what = f"{flag} {key}"
        kind = value_kind(parameters.get(key))
        if key == "image_size":
            value = parse_json_or_text(text)
            sizes = value if isinstance(value, list) else [value]
            if not sizes or len(sizes) > 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
                raise UsageError(f"{what} expects a positive size or [height, width]. {_received(text)}")
        else:
            value = coerce(text, kind, what) if key in parameters else parse_json_or_text(text)
        meaning = DATA_OPTION_MEANINGS.get(key)
        if meaning is not None and not isinstance(value, list):
            meaning.check(value, what)
        options[key] = value
    return options


def parse_train_option_pairs(pairs, flag="--option"):
    """--option FIELD=VALUE (tune's fixed training options): TrainConfig fields by their meaning."""
    options = {}
    for key, text in split_key_values(pairs, flag):
        spec = TRAIN_VALUES.get(key)
        what = f"{flag} {key}"
        if spec is None:
            options[key] = parse_json_or_text(text)
            continue
        try:
            value = spec.convert(text)
        except argparse.ArgumentTypeError as exc:
            raise UsageError(f"{what} {exc}") from None
        spec.check(value, what)
        options[key] = value
    return options


# --- wiring into argparse ---------------------------------------------------------------------------


def add_option(parser, flag, value, help=None, **kwargs):
    """`parser.add_argument(flag, ...)` with `value` as its type and meaning."""
    kwargs.setdefault("metavar", value.metavar)
    if kwargs["metavar"] is None:
        del kwargs["metavar"]
    meaning = value.describe()
    if help and meaning:
        help = f"{help}: {meaning}"
    action = parser.add_argument(flag, type=value.convert, help=help, **kwargs)
    action.value_spec = value
    return action


def check_arguments(parser, args):
    """Checks every option value of the parsed command against its `Value` (post-parse)."""
    for action in parser._actions:
        spec = getattr(action, "value_spec", None)
        if spec is None:
            continue
        value = getattr(args, action.dest, None)
        if value is None:
            continue
        flag = action.option_strings[0] if action.option_strings else action.dest
        for item in value if isinstance(value, list) and action.nargs is None and isinstance(action, argparse._AppendAction) else [value]:
            spec.check(item, flag)
