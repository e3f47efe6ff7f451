"""`deepzoo tune`: a KerasTuner search scored under cross-validation (see `tuning`).

    deepzoo tune lenet5 --data digits --tuner bayesian --cv stratified:5 --max-trials 20 --epochs 10
    deepzoo tune lenet5 --data digits --tuner hyperband --cv kfold:3 --epochs 9 --space space.yaml
    deepzoo tune mlp --data iris --cv repeated:5x3 --nested 5 --max-trials 10
    deepzoo tune lenet5 --data digits --cv kfold:5 --workers 2          # chief + 2 local workers
    deepzoo tune lenet5 --data digits --cv kfold:5 --distributed        # role from KERASTUNER_* variables

Running the same command again resumes an interrupted search (`--overwrite` starts afresh).
"""

EXIT_FAILED = 1


def register(subparsers):
    """Adds this area's sub-commands to the CLI."""
    p = subparsers.add_parser(
        "tune",
        help="KerasTuner search scored under hold-out / k-fold / nested validation; retrains and tests the best",
        description="Every trial is scored as the mean of its folds (spread and per-fold metrics recorded); the best "
        "configuration is retrained on the whole training split and evaluated once on a held-out test split.",
    )
    p.add_argument("model", help="registered architecture (deepzoo list)")
    p.add_argument("--data", default="", help="dataset name (default: the model's default dataset)")
    p.add_argument("--tuner", default="random", choices=("random", "grid", "bayesian", "hyperband"))
    p.add_argument("--cv", default="kfold:5", help="holdout:F | kfold:K | stratified:K | loo | repeated:KxR | bootstrap:R (default kfold:5)")
    p.add_argument("--max-trials", type=int, help="trials to run (random/bayesian default 10; grid: whole grid; hyperband: a cap)")
    p.add_argument("--epochs", type=int, default=10, help="epochs per trial (Hyperband: max epochs per model)")
    p.add_argument("--space", metavar="FILE", help="JSON/YAML file narrowing or replacing the search space")
    p.add_argument("--objective", help="val_accuracy, val_loss, ... optionally :max or :min (default by task)")
    p.add_argument("--nested", type=int, metavar="K", help="K outer folds around the whole search: an unbiased estimate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-fraction", type=float, default=0.2, help="held-out test fraction no trial sees")
    p.add_argument("--max-examples", type=int, help="use at most this many examples")
    p.add_argument("--data-option", action="append", metavar="KEY=VALUE", help="dataset option, e.g. image_size=32")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="fixed model constructor argument")
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="fixed training option, e.g. schedule=cosine")
    p.add_argument("--tiny", action="store_true", help="start from the model's tiny config")
    p.add_argument("--patience", type=int, help="early stopping inside each fold (not with hyperband)")
    p.add_argument("--factor", type=int, default=3, help="Hyperband reduction factor")
    p.add_argument("--hyperband-iterations", type=int, default=1)
    p.add_argument("--out", help="output directory (default runs/tune/MODEL-DATA-TUNER-CV)")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    p.add_argument("--distributed", action="store_true", help="KerasTuner chief/worker mode; role from KERASTUNER_* variables")
    p.add_argument("--workers", type=int, default=0, help="run as chief with N local worker processes (127.0.0.1)")
    p.add_argument("--timeout", type=float, help="chief: give up waiting for workers after this many seconds")
    p.add_argument("--no-retrain", action="store_true", help="skip retraining the best configuration")
    p.add_argument("--jit", default="auto", help="XLA: auto (on with a GPU), on, off")
    p.add_argument("--verbose", type=int, default=1, help="0 quiet, 1 one line per trial, 2 one line per fold")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_tune)


def _positive(value, flag, allow_zero=False):
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise ValueError(f"{flag} must be a positive integer. Received: {value}")


def cmd_tune(args):
    import contextlib
    import functools
    import json
    import sys

    from deepzoo.cli import _key_values
    from pipelines.train import JIT_CHOICES

    _positive(args.max_trials, "--max-trials")
    _positive(args.epochs, "--epochs")
    _positive(args.workers, "--workers", allow_zero=True)
    if args.jit not in JIT_CHOICES:
        raise ValueError(f"--jit must be one of {JIT_CHOICES}. Received: {args.jit!r}")
    if args.space:
        from pathlib import Path

        if not Path(args.space).is_file():
            raise ValueError(f"--space file not found. Received: {args.space}")
    import architectures

    architectures.get_spec(args.model)  # an unknown model fails before TensorFlow work
    from tuning import tune

    options = dict(
        tuner=args.tuner,
        cv=args.cv,
        max_trials=args.max_trials,
        epochs=args.epochs,
        space=args.space,
        objective=args.objective,
        nested=args.nested,
        seed=args.seed,
        test_fraction=args.test_fraction,
        max_examples=args.max_examples,
        data_options=_key_values(args.data_option, "--data-option"),
        model_config="tiny" if args.tiny else "canonical",
        model_overrides=_key_values(args.set, "--set"),
        train_options=_key_values(args.option, "--option"),
        patience=args.patience,
        hyperband_factor=args.factor,
        hyperband_iterations=args.hyperband_iterations,
        out_dir=args.out,
        overwrite=args.overwrite,
        distributed=args.distributed,
        workers=args.workers,
        retrain=not args.no_retrain,
        jit=args.jit,
        timeout=args.timeout,
        verbose=args.verbose,
    )
    progress = functools.partial(print, flush=True) if args.verbose else None
    try:
        # With --json, stdout carries only the JSON document: progress (and KerasTuner's prints) go to stderr.
        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
            result = tune(args.model, args.data, progress=progress, **options)
    except (RuntimeError, TimeoutError) as exc:
        if args.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"deepzoo tune: failed: {message}", file=sys.stderr)
        return EXIT_FAILED
    if result.role == "worker":
        return 0
    if args.json:
        shown = {
            "out_dir": str(result.out_dir),
            "objective": result.objective,
            "best_trial_id": result.best_trial_id,
            "best_score": result.best_score,
            "best_std": result.best_std,
            "best_hyperparameters": result.best_hyperparameters,
            "run_dir": str(result.run_dir) if result.run_dir else None,
            "test_metrics": result.test_metrics,
            "nested": {k: v for k, v in result.nested.items() if k != "folds"} if result.nested else None,
            "summary": str(result.summary_path),
        }
        print(json.dumps(shown, indent=2, default=str))
    else:
        print(result.summary_path.read_text())
        if result.run_dir:
            print(f"run directory (deepzoo export takes it): {result.run_dir}")
    return 0
