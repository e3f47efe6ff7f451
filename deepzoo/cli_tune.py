"""`deepzoo tune`: a KerasTuner search scored under cross-validation (see `tuning`).

    deepzoo tune lenet5 --data digits --tuner bayesian --cv stratified:5 --max-trials 20 --epochs 10
    deepzoo tune lenet5 --data digits --tuner hyperband --cv kfold:3 --epochs 9 --space space.yaml
    deepzoo tune mlp --data iris --cv repeated:5x3 --nested 5 --max-trials 10
    deepzoo tune lenet5 --data digits --cv kfold:5 --workers 2          # chief + 2 local workers
    deepzoo tune lenet5 --data digits --cv kfold:5 --distributed        # role from KERASTUNER_* variables

Running the same command again resumes an interrupted search (`--overwrite` starts afresh).
"""

from deepzoo.cli_options import (
    FRACTION,
    JIT_CHOICES,
    SEED,
    Choice,
    CvScheme,
    DataName,
    ExistingFile,
    Float,
    Int,
    KeyValue,
    Objective,
    OutputPath,
    add_option,
)

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
    add_option(p, "--data", DataName(), help="dataset name (default: the model's default dataset)")
    p.add_argument("--tuner", default="random", choices=("random", "grid", "bayesian", "hyperband"))
    add_option(p, "--cv", CvScheme(), default="kfold:5", help="holdout:F | kfold:K | stratified:K | loo | repeated:KxR | bootstrap:R (default kfold:5)")
    add_option(p, "--max-trials", Int(1), help="trials to run (random/bayesian default 10; grid: whole grid; hyperband: a cap)")
    add_option(p, "--epochs", Int(1), default=10, help="epochs per trial (Hyperband: max epochs per model)")
    add_option(p, "--space", ExistingFile(), help="JSON/YAML file narrowing or replacing the search space")
    add_option(p, "--objective", Objective(), help="val_accuracy, val_loss, ... optionally :max or :min (default by task)")
    add_option(p, "--nested", Int(2), metavar="K", help="K outer folds around the whole search: an unbiased estimate")
    add_option(p, "--seed", SEED, default=0)
    add_option(p, "--test-fraction", FRACTION, default=0.2, help="held-out test fraction no trial sees")
    add_option(p, "--max-examples", Int(1), help="use at most this many examples")
    add_option(p, "--data-option", KeyValue(), action="append", help="dataset option, e.g. image_size=32")
    add_option(p, "--set", KeyValue(), action="append", help="fixed model constructor argument")
    add_option(p, "--option", KeyValue(), action="append", help="fixed training option, e.g. schedule=cosine")
    add_option(p, "--task-setting", KeyValue(), action="append", help="the task's own setting, e.g. loss_kind=dice_cross_entropy (`deepzoo info MODEL`)")
    p.add_argument("--tiny", action="store_true", help="start from the model's tiny config")
    add_option(p, "--patience", Int(0), help="early stopping inside each fold (not with hyperband)")
    add_option(p, "--factor", Int(2), default=3, help="Hyperband reduction factor")
    add_option(p, "--hyperband-iterations", Int(1), default=1)
    add_option(p, "--out", OutputPath(), help="output directory (default runs/tune/MODEL-DATA-TUNER-CV)")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    p.add_argument("--distributed", action="store_true", help="KerasTuner chief/worker mode; role from KERASTUNER_* variables")
    add_option(p, "--workers", Int(0), default=0, help="run as chief with N local worker processes (127.0.0.1)")
    add_option(p, "--timeout", Float(0.0, open_low=True), help="chief: give up waiting for workers after this many seconds")
    p.add_argument("--no-retrain", action="store_true", help="skip retraining the best configuration")
    add_option(p, "--jit", Choice(JIT_CHOICES), default="auto", help="XLA (auto: on with a GPU)")
    add_option(p, "--verbose", Int(0, 2), default=1, help="0 quiet, 1 one line per trial, 2 one line per fold")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_tune)


def cmd_tune(args):
    import contextlib
    import functools
    import json
    import sys

    from deepzoo import cli_registry
    from deepzoo.cli import _tensorflow
    from deepzoo.cli_options import (
        parse_data_options,
        parse_key_json_values,
        parse_model_overrides,
        parse_train_option_pairs,
    )

    entry = cli_registry.get_model(args.model)  # an unknown model fails before TensorFlow is imported
    model_config = "tiny" if args.tiny else "canonical"
    model_overrides = parse_model_overrides(args.set, entry, model_config)
    data_options = parse_data_options(args.data_option, args.data or cli_registry.default_dataset(args.model))
    train_options = parse_train_option_pairs(args.option)
    if args.task_setting:
        train_options["task_settings"] = parse_key_json_values(args.task_setting, "--task-setting")
    _tensorflow()
    from tuning import tune

    cli_registry.refresh_if_stale()
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
        data_options=data_options,
        model_config=model_config,
        model_overrides=model_overrides,
        train_options=train_options,
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
            result = tune(args.model, args.data or "", progress=progress, **options)
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
