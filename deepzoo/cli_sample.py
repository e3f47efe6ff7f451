"""`deepzoo sample RUN`: a PNG of samples from a trained generator (any run of the "generative"
task: DCGAN, the GAN family, VAEs, ...): an image grid, or a scatter plot for 2-D point data."""

from pathlib import Path

from deepzoo.cli_options import AN_EXISTING_FILE, AN_EXISTING_FOLDER, SEED, Int, Text, UsageError, Value, add_option


class PngFile(Value):
    """A .png file to write: its folder may not exist yet; never an existing folder or a path below a file."""

    metavar = "FILE.png"

    def check(self, value, flag):
        path = Path(value)
        if path.suffix.lower() != ".png" or path.is_dir():
            raise UsageError(f"{flag} must be a .png file path. Received: {value!r}")
        for parent in path.parents:
            if parent.exists() and not parent.is_dir():
                raise UsageError(f"{flag} is inside a file ({parent}); expected a folder. Received: {value}")

    def malformed(self):
        return ["", "samples.jpg", AN_EXISTING_FOLDER, str(Path(AN_EXISTING_FILE) / "below-a-file.png")]


def register(subparsers):
    """Adds this area's sub-commands to the CLI."""
    p = subparsers.add_parser("sample", help="write a PNG of samples from a trained generator run (image grid or 2-D scatter)")
    p.add_argument("run", help="run directory of a generative model (from deepzoo train)")
    add_option(p, "--n", Int(1, 1024), default=64, help="number of samples")
    add_option(p, "--seed", SEED, default=0, help="noise seed (the same seed gives the same samples)")
    add_option(p, "--class", Text("a class id or name"), dest="label", help="class to generate (conditional generators only)")
    add_option(p, "--out", PngFile(), help="PNG to write (default: RUN/samples_seed<S>[_class<C>].png)")
    p.set_defaults(handler=_sample)


def _class_id(label, class_names):
    """A class given by id or by name, as the generator's class id."""
    if class_names and label in class_names:
        return class_names.index(label)
    if label.lstrip("-").isdigit():
        return int(label)
    names = f" ({', '.join(map(str, class_names))})" if class_names else ""
    raise ValueError(f"--class must be a class id or one of the run's class names{names}. Received: {label!r}")


def _sample(args):
    import json

    from deepzoo.cli import _tensorflow, check_run_dir

    run = check_run_dir(args.run)
    config = json.loads((run / "config.json").read_text())
    from tasks import get_task

    task = get_task(config.get("task", ""))
    if not hasattr(task, "save_samples"):
        raise ValueError(f"Run {run} is a {config.get('task')!r} run, not a generator; `deepzoo sample` needs a generative model's run.")
    class_names = config.get("class_names")
    label = _class_id(args.label, class_names) if args.label is not None else None
    suffix = f"_class{label}" if label is not None else ""
    out = Path(args.out) if args.out else run / f"samples_seed{args.seed}{suffix}.png"
    _tensorflow()
    import architectures  # noqa: F401  (registers the model classes for load_model)
    from pipelines.runs import Run

    model = Run.load(run).load_model()
    path = task.save_samples(model, out, n=args.n, seed=args.seed, label=label, class_names=class_names)
    print(f"wrote {args.n} samples of {config.get('model', model.name)} to {path}")
    return 0
