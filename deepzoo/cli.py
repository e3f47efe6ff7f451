"""`deepzoo`: the command line. Each sub-command is a thin face over a Python API function.

Bad input (unknown model, bad option value, missing folder, ...) prints one line
`deepzoo CMD: error: ...` and exits with status 2, before anything is written; `--debug` shows the
traceback instead. Every option's value is declared and checked in `deepzoo.cli_options`.

`--help`, `list`, `info` and argument errors do not import TensorFlow: they read the registry
index (`deepzoo.cli_registry`). Commands that need TensorFlow import it after their arguments
have been checked.
"""

import argparse
import dataclasses
import json
import re
import shutil
import sys
import textwrap
from pathlib import Path

from deepzoo import cli_registry
from deepzoo.cli_options import (
    JIT_CHOICES,
    TRAIN_OPTIONS,
    Augment,
    Choice,
    ChoiceList,
    DataName,
    Int,
    KeyValue,
    LazyChoice,
    ModelList,
    OutputPath,
    Text,
    UsageError,
    add_option,
    check_arguments,
    check_train_options,
    did_you_mean,
    parse_augment,
    parse_data_options,
    parse_key_json_values,
    parse_model_overrides,
)

EXIT_USAGE = 2


class CommandParser(argparse.ArgumentParser):
    """argparse, with its errors as one line (`deepzoo CMD: error: ...`) and a hint instead of the
    usage block."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {self.one_line(message)}\n")

    def one_line(self, message):
        message = " ".join(str(message).split())
        # A Value's message ("argument --epochs: must be ...") reads better as "--epochs must be ...".
        message = re.sub(r"^argument ([^ :]+(?:/[^ :]+)?): must ", lambda m: f"{m.group(1).split('/')[0]} must ", message)
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = [c.strip().strip("'\"") for c in choice.group(2).split(",")]
            message += did_you_mean(choice.group(1), options)
        elif message.startswith("the following arguments are required"):
            message += f" (see {self.prog} --help)"
        return message

    def option_strings(self):
        return [s for action in self._actions for s in action.option_strings]


def _command_parser(parser, command):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    return parser


def _tensorflow():
    """Imports TensorFlow quietly; on a terminal says so meanwhile (it takes seconds)."""
    from common.tensorflow_import import import_tensorflow

    interactive = sys.stderr.isatty() and "tensorflow" not in sys.modules
    if interactive:
        sys.stderr.write("loading TensorFlow…")
        sys.stderr.flush()
    try:
        return import_tensorflow()
    finally:
        if interactive:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


# --- list / info / check ---------------------------------------------------------------------------


def _reference(entry):
    return f"{entry['reference_params']:,} ({entry['reference_source'][:1]})" if entry["reference_params"] else "-"


def cmd_list(args):
    names = cli_registry.list_models(task=args.task, family=args.family, pattern=args.pattern)
    if not names:
        raise ValueError(f"No registered model matches family={args.family!r} task={args.task!r} pattern={args.pattern!r}.")
    rows = []
    for name in names:
        entry = cli_registry.get_model(name)
        status = "ok" if not entry["limitations"] else "limits: " + ",".join(sorted(entry["limitations"]))
        rows.append((name, entry["family"], entry["task"], _reference(entry), entry["paper"].split(",")[0][:40], status))
    if args.json:
        print(json.dumps([dict(zip(("name", "family", "task", "params", "paper", "status"), r)) for r in rows], indent=2))
        return 0
    headers = ("model", "family", "task", "params (ref)", "paper", "status")
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    print(f"{len(rows)} models")
    return 0


INFO_KEYS = (
    "name", "family", "task", "paper", "seeds", "canonical_config", "tiny_config", "reference_params", "reference_source",
    "default_dataset", "limitations", "train_recipe", "notes", "builder", "inputs", "outputs",
)  # fmt: skip


def _settings(mapping):
    return "  ".join(f"{k}={json.dumps(v)}" for k, v in mapping.items()) if mapping else "-"


def _tensors(specs):
    return ", ".join(f"{s['name']} {list(s['shape'])} {s['dtype']}" for s in specs) or "-"


def _task_settings_text(settings):
    """`--task-setting` choices: "name = default (one of a, b)" per setting."""
    parts = []
    for key, setting in settings.items():
        allowed = setting["allowed"]
        choices = ", ".join("none" if value is None else str(value) for value in allowed) if isinstance(allowed, list) else allowed
        parts.append(f"{key} = {setting['default']} ({choices})")
    return "; ".join(parts) or "none"


def format_info(entry, param_sources, width=100):
    """The readable `deepzoo info` page."""
    reference = "-"
    if entry["reference_params"]:
        source = entry["reference_source"]
        reference = f"{entry['reference_params']:,} parameters, source {source} ({source[:1]}: {param_sources.get(source[:1], '')})"
    defaults = {name: argument["default"] for name, argument in entry["arguments"].items() if name not in ("name", "trainable", "dtype")}
    rows = [
        ("paper", entry["paper"] or "-"),
        ("reference", reference),
        ("default data", entry["default_dataset"] or f"the {entry['task']} task's"),
        ("inputs", _tensors(entry["inputs"])),
        ("outputs", _tensors(entry["outputs"])),
        ("canonical", _settings(entry["canonical_config"])),
        ("tiny", _settings(entry["tiny_config"])),
        ("arguments", _settings(defaults)),
        ("recipe", _settings(entry["train_recipe"] or {})),
        ("task settings", _task_settings_text(cli_registry.task_settings(entry["task"]))),
        ("limitations", "; ".join(f"{k}: {v}" for k, v in entry["limitations"].items()) or "none"),
        ("seeds", ", ".join(entry["seeds"]) or "-"),
        ("builder", entry["builder"]),
        ("notes", entry["notes"] or "-"),
    ]
    label = max(len(name) for name, _ in rows) + 2
    lines = [f"{entry['name']}: a {entry['task']} model of the {entry['family']} family"]
    for name, text in rows:
        wrapped = textwrap.wrap(str(text), width=width - label, break_long_words=False, break_on_hyphens=False) or ["-"]
        lines.append(name.ljust(label) + wrapped[0])
        lines.extend(" " * label + more for more in wrapped[1:])
    lines.append(f"train it with: deepzoo train {entry['name']} [--tiny] [--recipe] [--set KEY=VALUE] [--task-setting KEY=VALUE]   (--json: the raw entry)")
    return "\n".join(lines)


def cmd_info(args):
    entry = cli_registry.get_model(args.name)
    if args.json:
        print(json.dumps({key: entry[key] for key in INFO_KEYS}, indent=2, default=str))
    else:
        print(format_info(entry, cli_registry.load_index()["param_sources"]))
    return 0


def cmd_check(args):
    columns = tuple(args.columns.split(",")) if args.columns else cli_registry.capabilities()
    names = [name.strip() for name in args.models.split(",")] if args.models else None
    _tensorflow()
    from deepzoo.conformance import run_conformance

    cli_registry.refresh_if_stale()
    rows = run_conformance(family=args.family, names=names, columns=columns, out_dir=args.out)
    failed = [n for n, r in rows.items() if any(c.status == "fail" for c in r.values())]
    print(f"report: {args.out}/report.md and report.json — {len(rows) - len(failed)}/{len(rows)} models without failures")
    return 1 if failed else 0


# --- train / eval ----------------------------------------------------------------------------------


def training_options(args, entry):
    """The TrainConfig options of `deepzoo train` (checked; the registry's recipe first with --recipe)."""
    given = {field: getattr(args, field) for _, field, _, _ in TRAIN_OPTIONS if getattr(args, field, None) is not None}
    config = "tiny" if args.tiny else "canonical"
    if args.tiny:
        given["model_config"] = "tiny"
    if args.augment is not None:
        given["augment"] = parse_augment(args.augment)
    given["model_overrides"] = parse_model_overrides(args.set, entry, config)
    data = args.data or cli_registry.default_dataset(entry["name"])
    given["data_options"] = parse_data_options(args.data_option, data)
    if args.optimizer_option:
        given["optimizer_options"] = parse_key_json_values(args.optimizer_option, "--optimizer-option")
    if args.task_setting:
        given["task_settings"] = parse_key_json_values(args.task_setting, "--task-setting")
    recipe = dict(entry["train_recipe"] or {}) if args.recipe else {}
    options = {**recipe, **given}
    for merged in ("optimizer_options", "task_settings"):
        options[merged] = {**recipe.get(merged, {}), **given.get(merged, {})}
    check_train_options(options)
    if options.get("pretrain_epochs") and not entry.get("pretrain"):
        able = ", ".join(name for name, model in cli_registry.load_index()["models"].items() if model.get("pretrain"))
        raise UsageError(f"Model '{entry['name']}' has no pre-training stage; --pretrain-epochs applies to {able}. Received: --pretrain-epochs {options['pretrain_epochs']}")
    return options


def check_training_values(options, task):
    """What only the training modules know (they import TensorFlow): augmentation names and the
    optimiser's own arguments. Runs before any folder is made."""
    from pipelines import augment as augment_lib
    from pipelines import optim
    from tasks import get_task

    augment = options.get("augment")
    if getattr(get_task(task), "augmentation", "image_label") != "image_label":
        augment = None  # the task builds its own augmentations and checks their names
    if isinstance(augment, str) and augment not in augment_lib.PRESETS:
        raise UsageError(
            f"--augment {augment!r} is neither a preset nor JSON. Expected one of {', '.join(augment_lib.PRESETS)} "
            f"or a JSON object{did_you_mean(augment, augment_lib.PRESETS)}"
        )
    if isinstance(augment, dict):
        unknown = sorted(set(augment) - set(augment_lib.AUGMENTATIONS))
        if unknown:
            raise UsageError(f"--augment has unknown augmentation(s) {unknown}. Expected some of {', '.join(augment_lib.AUGMENTATIONS)}{did_you_mean(unknown[0], augment_lib.AUGMENTATIONS)}")
    optim.check_optimizer(options.get("optimizer", "adam"), options.get("optimizer_options") or {})
    get_task(task, options.get("task_settings"))  # unknown settings and values: one line, exit 2


def _missing_ancestors(path):
    missing = []
    for folder in [path, *path.parents]:
        if folder.exists():
            break
        missing.append(folder)
    return missing


def _remove_debris(missing_before):
    """After a failed new run: the folders it made, if they hold nothing worth keeping (no finished
    epoch in backup/, no model.keras)."""
    run_dir = missing_before[0] if missing_before else None
    if run_dir is None or not run_dir.is_dir():
        return
    if (run_dir / "backup").exists() or (run_dir / "model.keras").exists():
        return
    shutil.rmtree(run_dir, ignore_errors=True)
    for folder in missing_before[1:]:
        try:
            folder.rmdir()
        except OSError:
            break


def cmd_train(args):
    entry = cli_registry.get_model(args.model)
    options = training_options(args, entry)
    _tensorflow()
    from pipelines.runs import default_dataset, describe_run_dir, resolve_run_dir
    from pipelines.train import TrainConfig, train

    cli_registry.refresh_if_stale()
    check_training_values(options, entry["task"])
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    options = {key: value for key, value in options.items() if key in fields}
    # Named here, so that the run's identity and train() see the same dataset.
    data = args.data or default_dataset(args.model)
    run_dir, resumed = resolve_run_dir(TrainConfig(model=args.model, data=data, **options), run_dir=args.run_dir, new_run=args.new_run)
    print(f"deepzoo train: {describe_run_dir(run_dir, resumed, options.get('epochs') or TrainConfig.epochs)}", flush=True)
    missing_before = _missing_ancestors(Path(run_dir))
    try:
        result = train(args.model, data, run_dir=run_dir, **options)
    except BaseException:
        _remove_debris(missing_before)
        raise
    _print_metrics(result.metrics)
    print(f"run directory: {result.run_dir}")
    return 0


def _print_metrics(metrics):
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    print("hold-out: " + "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))
    if "confusion_matrix" in metrics:
        print("confusion matrix (rows true, columns predicted):")
        for row in metrics["confusion_matrix"]:
            print("  " + " ".join(f"{v:4d}" for v in row))


def check_run_dir(path):
    """A finished run directory (config.json and model.keras), checked without TensorFlow."""
    path = Path(path)
    if not (path / "config.json").is_file() or not (path / "model.keras").is_file():
        raise ValueError(f"Not a run directory (needs config.json and model.keras). Received: {path}")
    return path


def cmd_eval(args):
    check_run_dir(args.run)
    _tensorflow()
    from pipelines.runs import evaluate_run

    metrics = evaluate_run(args.run)
    _print_metrics(metrics)
    return 0


def cmd_demo(args):
    _tensorflow()
    from deepzoo.demo import run_demo

    report = run_demo(out_root=args.out, epochs=args.epochs, max_examples=args.max_examples, jit=args.jit)
    return 0 if report["ok"] else 1


# --- parser ----------------------------------------------------------------------------------------


def build_parser():
    parser = CommandParser(prog="deepzoo", description="Keras 3 architecture zoo: train, check, export, tune, serve.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="table of registered models")
    add_option(p, "--family", LazyChoice(cli_registry.families, "family"))
    add_option(p, "--task", LazyChoice(cli_registry.task_names, "task"))
    add_option(p, "--pattern", Text("a glob pattern"), default="*")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("info", help="everything the registry knows about one model")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="the raw registry entry as JSON")
    p.set_defaults(handler=cmd_info)

    p = sub.add_parser("check", help="conformance report (Markdown + JSON) over the registry")
    add_option(p, "--family", LazyChoice(cli_registry.families, "family"))
    add_option(p, "--models", ModelList(), help="comma-separated model names")
    add_option(p, "--columns", ChoiceList(cli_registry.capabilities, "check column"), help="comma-separated subset of the report's columns")
    add_option(p, "--out", OutputPath(), default="runs/conformance")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("train", help="train a registered model on a dataset; writes (or resumes) a run directory")
    p.add_argument("model")
    add_option(p, "--data", DataName(), help="dataset: digits, shapes10, iris, ..., numpy:F.npz, folder:DIR, tfds:NAME")
    add_option(p, "--data-option", KeyValue(), action="append", help="dataset option, e.g. image_size=32")
    add_option(p, "--optimizer-option", KeyValue(), action="append", help="Keras optimizer argument, e.g. epsilon=1.0 (adds to --recipe's)")
    add_option(p, "--task-setting", KeyValue(), action="append", help="the task's own setting, e.g. class_balance=median_frequency (`deepzoo info MODEL` lists them)")
    add_option(p, "--set", KeyValue(), action="append", help="model constructor override, e.g. width_multiplier=0.5")
    p.add_argument("--tiny", action="store_true", help="start from the model's tiny config instead of the canonical one")
    p.add_argument("--recipe", action="store_true", help="use the paper's training recipe from the registry")
    add_option(p, "--augment", Augment(), help="augmentation preset (none, digits, light, standard, ...) or a JSON object")
    add_option(p, "--run-dir", OutputPath(), help="run directory (default: runs/MODEL-DATA-ID, found again by the same command)")
    p.add_argument("--new-run", action="store_true", help="start a new run even if an unfinished run of the same command exists")
    for flag, field, value, help_text in TRAIN_OPTIONS:
        add_option(p, flag, value, dest=field, help=help_text, **({"default": "auto"} if field == "jit" else {}))
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("eval", help="re-evaluate a run on its hold-out test split")
    p.add_argument("run")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser("demo", help="LeNet-5 on digits: train, evaluate, export, verify, report")
    add_option(p, "--out", OutputPath(), default="runs")
    add_option(p, "--epochs", Int(1))
    add_option(p, "--max-examples", Int(1))
    add_option(p, "--jit", Choice(JIT_CHOICES), default="auto")
    p.set_defaults(handler=cmd_demo)

    from deepzoo import cli_enroll, cli_explain, cli_export, cli_generate, cli_sample, cli_serve, cli_tune

    for area in (cli_export, cli_serve, cli_tune, cli_enroll, cli_explain, cli_sample, cli_generate):
        area.register(sub)
    return parser


def _one_line(exc):
    text = str(exc).strip()
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    return " ".join(text.split()) if text else type(exc).__name__


# Top-level modules of the `train` extra (pyproject.toml): missing in a serving-only install.
TRAINING_PACKAGES = frozenset(
    {"tensorflow", "keras", "tensorflow_datasets", "keras_tuner", "tf2onnx", "onnx", "sklearn", "scipy", "faster_coco_eval", "cv2", "matplotlib", "skimage", "sacrebleu", "yaml", "tensorboard"}
)


def main(argv=None):
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)  # one-line errors, exit status 2 (SystemExit)
    command_parser = _command_parser(parser, args.command)
    if extras:
        hint = did_you_mean(extras[0].split("=")[0], command_parser.option_strings()) if extras[0].startswith("-") else ""
        command_parser.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
    try:
        check_arguments(command_parser, args)
        return args.handler(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, KeyError) as exc:
        if args.debug:
            raise
        print(f"deepzoo {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as exc:
        if args.debug or exc.name not in TRAINING_PACKAGES:
            raise
        print(
            f"deepzoo {args.command}: error: {exc.name} is not installed; this command needs the training install "
            "(pip install \"deepzoo[train]\"). A serving-only install runs `deepzoo serve`.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"deepzoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
