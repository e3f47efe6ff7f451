"""`deepzoo`: the command line. Each sub-command is a thin face over a Python API function.

Bad input (unknown model, bad option, missing folder, ...) prints one line and exits with status 2;
`--debug` shows the traceback instead.
"""

import argparse
import json
import os
import sys

from deepzoo.tensorflow_import import import_tensorflow

EXIT_USAGE = 2


def _parse_value(text):
    """`key=value` option values: JSON where it parses (numbers, lists, true), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _key_values(pairs, what):
    result = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{what} must be KEY=VALUE. Received: {pair!r}")
        result[key.replace("-", "_")] = _parse_value(value)
    return result


# --- list / info / check ---------------------------------------------------------------------------


def cmd_list(args):
    import architectures

    names = architectures.list_models(task=args.task, family=args.family, pattern=args.pattern)
    if not names:
        raise ValueError(f"No registered model matches family={args.family!r} task={args.task!r} pattern={args.pattern!r}.")
    rows = []
    for name in names:
        spec = architectures.get_spec(name)
        reference = f"{spec.reference_params:,} ({spec.reference_source[:1]})" if spec.reference_params else "-"
        status = "ok" if not spec.limitations else "limits: " + ",".join(sorted(spec.limitations))
        rows.append((name, spec.family, spec.task, reference, spec.paper.split(",")[0][:40], status))
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


def cmd_info(args):
    import architectures

    spec = architectures.get_spec(args.name)
    info = {
        "name": spec.name,
        "family": spec.family,
        "task": spec.task,
        "paper": spec.paper,
        "seeds": list(spec.seeds),
        "canonical_config": spec.canonical_config,
        "tiny_config": spec.tiny_config,
        "reference_params": spec.reference_params,
        "reference_source": spec.reference_source,
        "default_dataset": spec.default_dataset,
        "limitations": spec.limitations,
        "train_recipe": spec.train_recipe,
        "notes": spec.notes,
        "builder": f"{spec.builder.__module__}.{spec.builder.__qualname__}",
    }
    print(json.dumps(info, indent=2, default=str))
    return 0


def cmd_check(args):
    import architectures
    from architectures.registry import CAPABILITIES
    from deepzoo.conformance import run_conformance

    columns = tuple(args.columns.split(",")) if args.columns else CAPABILITIES
    unknown = set(columns) - set(CAPABILITIES)
    if unknown:
        raise ValueError(f"Unknown check columns {sorted(unknown)}. Expected a subset of {CAPABILITIES}.")
    if args.family and args.family not in architectures.list_families():
        raise ValueError(f"Unknown family '{args.family}'. Expected one of {architectures.list_families()}.")
    names = args.models.split(",") if args.models else None
    for name in names or []:
        architectures.get_spec(name)
    rows = run_conformance(family=args.family, names=names, columns=columns, out_dir=args.out)
    failed = [n for n, r in rows.items() if any(c.status == "fail" for c in r.values())]
    print(f"report: {args.out}/report.md and report.json — {len(rows) - len(failed)}/{len(rows)} models without failures")
    return 1 if failed else 0


# --- train / eval ----------------------------------------------------------------------------------


TRAIN_OPTIONS = (
    # (flag, dest, type, help)
    ("--epochs", "epochs", int, "training epochs"),
    ("--batch-size", "batch_size", int, "batch size"),
    ("--optimizer", "optimizer", str, "sgd|momentum|nesterov|adagrad|rmsprop|adadelta|adam|adamw|nadam|rprop"),
    ("--lr", "learning_rate", float, "learning rate"),
    ("--momentum", "momentum", float, "momentum for SGD variants"),
    ("--weight-decay", "weight_decay", float, "decoupled weight decay"),
    ("--l1", "l1", float, "L1 penalty on kernels"),
    ("--l2", "l2", float, "L2 penalty on kernels"),
    ("--clipnorm", "clipnorm", float, "global gradient-norm clipping"),
    ("--schedule", "schedule", str, "constant|exponential|step|plateau|linear|cosine|warmup"),
    ("--label-smoothing", "label_smoothing", float, "label smoothing"),
    ("--initializer", "initializer", str, "re-initialise kernels: glorot_uniform|he_normal|lecun_normal|..."),
    ("--test-fraction", "test_fraction", float, "hold-out test fraction"),
    ("--validation-fraction", "validation_fraction", float, "validation fraction (from the training portion)"),
    ("--patience", "early_stopping_patience", int, "early-stopping patience (0 disables)"),
    ("--seed", "seed", int, "random seed"),
    ("--max-examples", "max_examples", int, "use at most this many examples"),
    ("--init-from", "init_from", str, "RUN directory whose matching layers initialise this model"),
    ("--freeze", "freeze", str, "with --init-from: 'backbone' keeps copied layers frozen"),
)


def _train_options(args):
    from pipelines.train import JIT_CHOICES

    options = {dest: getattr(args, dest) for _, dest, _, _ in TRAIN_OPTIONS if getattr(args, dest) is not None}
    if args.jit not in JIT_CHOICES:
        raise ValueError(f"--jit must be one of {JIT_CHOICES}. Received: {args.jit!r}")
    options["jit"] = args.jit
    if args.augment is not None:
        options["augment"] = _parse_value(args.augment)
    if args.tiny:
        options["model_config"] = "tiny"
    options["model_overrides"] = _key_values(args.set, "--set")
    options["data_options"] = _key_values(args.data_option, "--data-option")
    if args.optimizer_option:
        options["optimizer_options"] = _key_values(args.optimizer_option, "--optimizer-option")
    if args.distribute:
        options["distribute"] = args.distribute
    if args.bn_momentum is not None:
        options["bn_momentum"] = args.bn_momentum if args.bn_momentum in ("auto", "keep") else float(args.bn_momentum)
    return options


def cmd_train(args):
    import architectures
    from pipelines.train import train

    spec = architectures.get_spec(args.model)
    given = _train_options(args)
    recipe = (spec.train_recipe or {}) if args.recipe else {}
    options = {**recipe, **given}
    options["optimizer_options"] = {**recipe.get("optimizer_options", {}), **given.get("optimizer_options", {})}
    options = {k: v for k, v in options.items() if k in _train_fields()}
    if args.init_from and not os.path.isdir(args.init_from):
        raise ValueError(f"--init-from must be a run directory. Received: {args.init_from}")
    result = train(args.model, args.data or "", run_dir=args.run_dir, **options)
    _print_metrics(result.metrics)
    print(f"run directory: {result.run_dir}")
    return 0


def _train_fields():
    import dataclasses

    from pipelines.train import TrainConfig

    return {f.name for f in dataclasses.fields(TrainConfig)}


def _print_metrics(metrics):
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    print("hold-out: " + "  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))
    if "confusion_matrix" in metrics:
        print("confusion matrix (rows true, columns predicted):")
        for row in metrics["confusion_matrix"]:
            print("  " + " ".join(f"{v:4d}" for v in row))


def cmd_eval(args):
    from pipelines.train import evaluate_run

    metrics = evaluate_run(args.run)
    _print_metrics(metrics)
    return 0


def cmd_demo(args):
    from deepzoo.demo import run_demo

    report = run_demo(out_root=args.out, epochs=args.epochs, max_examples=args.max_examples, jit=args.jit)
    return 0 if report["ok"] else 1


# --- parser ----------------------------------------------------------------------------------------


def build_parser():
    parser = argparse.ArgumentParser(prog="deepzoo", description="Keras 3 architecture zoo: train, check, export, tune, serve.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    # Every command but `serve` builds or loads Keras models; serving ONNX or TFLite never needs TF.
    parser.set_defaults(needs_tensorflow=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="table of registered models")
    p.add_argument("--family")
    p.add_argument("--task")
    p.add_argument("--pattern", default="*")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("info", help="everything the registry knows about one model")
    p.add_argument("name")
    p.set_defaults(handler=cmd_info)

    p = sub.add_parser("check", help="conformance report (Markdown + JSON) over the registry")
    p.add_argument("--family")
    p.add_argument("--models", help="comma-separated model names")
    p.add_argument("--columns", help="comma-separated subset of the report's columns")
    p.add_argument("--out", default="runs/conformance")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("train", help="train a registered model on a dataset; writes a run directory")
    p.add_argument("model")
    p.add_argument("--data", help="dataset: digits, shapes10, iris, ..., numpy:F.npz, folder:DIR, tfds:NAME")
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE", help="dataset option, e.g. image_size=32")
    p.add_argument("--optimizer-option", action="append", metavar="KEY=VALUE", help="Keras optimizer argument, e.g. epsilon=1.0 (adds to --recipe's)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model constructor override, e.g. width_multiplier=0.5")
    p.add_argument("--tiny", action="store_true", help="start from the model's tiny config instead of the canonical one")
    p.add_argument("--recipe", action="store_true", help="use the paper's training recipe from the registry")
    p.add_argument("--augment", help="augmentation preset (none, digits, light, standard) or a JSON dict")
    p.add_argument("--jit", default="auto", help="XLA: auto (on with a GPU), on, off")
    p.add_argument("--distribute", choices=("mirrored", "multiworker"), help="tf.distribute strategy")
    p.add_argument("--run-dir")
    p.add_argument("--bn-momentum", help="BatchNorm momentum while training: auto (default; lowered for short runs), keep, or a float")
    for flag, dest, kind, help_text in TRAIN_OPTIONS:
        p.add_argument(flag, dest=dest, type=kind, help=help_text)
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("eval", help="re-evaluate a run on its hold-out test split")
    p.add_argument("run")
    p.set_defaults(handler=cmd_eval)

    p = sub.add_parser("demo", help="LeNet-5 on digits: train, evaluate, export, verify, report")
    p.add_argument("--out", default="runs")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--max-examples", type=int, default=None)
    p.add_argument("--jit", default="auto")
    p.set_defaults(handler=cmd_demo)

    from deepzoo import cli_export, cli_serve, cli_tune

    for area in (cli_export, cli_serve, cli_tune):
        area.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 on unknown flags
    if args.needs_tensorflow:
        import_tensorflow()  # now, quietly, rather than noisily on the command's first Keras import
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, KeyError) as exc:
        if args.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"deepzoo {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"deepzoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
