"""Tuning bookkeeping overhead: a cross-validated search against the raw training of the same trials.

The search (`tuning.tune`, KerasTuner oracle, per-fold records, JSON state, fits log) is timed from
the first trial to the last (`TuneResult.timing["search_seconds"]`). The raw baseline trains exactly
the same configurations on exactly the same folds with the same code (`tuning.fitting.FoldTrainer`:
build + compile once per configuration, one fit per fold) in a plain loop, with no tuner around it.
Their ratio is the bookkeeping overhead; the goal is at most 1.05. Each round times both, one right
after the other, alternating which goes first (a fresh search directory each round); the headline is
the median of the per-round ratios, which cancels the drift of other load on a shared machine. The
CPU-time ratio (this process's threads only) and the best-of-rounds ratio are printed too.

    python benchmarks/bench_tuning.py                       # lenet5 tiny on 600 digits, kfold:3, 6 trials
    python benchmarks/bench_tuning.py --tuner hyperband --epochs 4 --rounds 3 --json out.json

Also printed: the search against the time spent inside `model.fit` alone, which counts model
building and the optimiser set-up as overhead too (a stricter, not a like-for-like, number).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def raw_training(reference, model, data, settings):
    """The same configurations on the same folds, with no tuner.

    Returns (wall seconds, CPU seconds, seconds inside model.fit).
    """
    import architectures
    from pipelines.splits import parse_validation
    from pipelines.train import TrainConfig, prepare_data
    from tuning.fitting import FoldTrainer
    from tuning.folds import FoldPlan
    from tuning.space import split_values

    spec = architectures.get_spec(model)
    base = TrainConfig(
        model=model, data=data, model_config=settings["model_config"], epochs=settings["epochs"], seed=0,
        test_fraction=0.2, validation_fraction=0.0, max_examples=settings["max_examples"], early_stopping_patience=0, jit=settings["jit"],
    )  # fmt: skip
    dataset = prepare_data(base).dataset
    plan = FoldPlan.load(reference.out_dir / "splits.npz", parse_validation(settings["cv"]))
    trainer = FoldTrainer(model, dataset, base)
    project = reference.out_dir / "search"
    trials = [json.loads((project / f"trial_{row['trial_id']}" / "cv.json").read_text()) for row in reference.trials]
    trials.sort(key=lambda cv: cv["trial_id"])
    fit_only = 0.0
    keep_states = settings["tuner"] == "hyperband"
    states = {}  # (trial, fold) -> model and optimiser state, in memory (Hyperband continues them)
    wall, cpu = time.perf_counter(), time.process_time()
    for cv in trials:
        options = split_values(cv["values"], spec)
        config = trainer.config_for({**options.train, "epochs": cv["epochs"]}, options.model_overrides)
        prepared = trainer.prepare(config, len(plan.folds[0][0]))
        for fold, (train_idx, val_idx) in enumerate(plan.folds):
            state = states.get((cv["continued_from"], fold)) if cv.get("continued_from") else None
            initial = cv["initial_epoch"] if state is not None else 0
            fit = trainer.fit(prepared, train_idx, val_idx, cv["epochs"], initial_epoch=initial, seed=fold, state=state)
            fit_only += fit.fit_seconds
            if keep_states:
                states[(cv["trial_id"], fold)] = trainer.state(prepared)
    return time.perf_counter() - wall, time.process_time() - cpu, fit_only


def timed_search(model, data, settings, out):
    """tune() = set-up + search + summary + plots; the search itself (first trial to last) is timed inside."""
    from tuning import tune

    result = tune(model, data, out_dir=out, progress=None, **settings)
    return result, result.timing["search_seconds"], result.timing["search_cpu_seconds"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--data", default="digits")
    parser.add_argument("--tuner", default="random")
    parser.add_argument("--cv", default="kfold:3")
    parser.add_argument("--max-trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-examples", type=int, default=600)
    parser.add_argument("--canonical", action="store_true", help="the canonical config instead of the tiny one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jit", default="auto")
    parser.add_argument("--json", help="write the measurements here")
    args = parser.parse_args(argv)

    from tuning import tune

    settings = dict(
        tuner=args.tuner, cv=args.cv, max_trials=args.max_trials, epochs=args.epochs, max_examples=args.max_examples,
        model_config="canonical" if args.canonical else "tiny", retrain=False, verbose=0, jit=args.jit, seed=0,
    )  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix="bench-tuning-"))
    rounds = []
    try:
        # Warm-up (TensorFlow's first graph build in a process is slower than every later one); it
        # also fixes the configurations: the same seed makes every search draw the same trials.
        reference = tune(args.model, args.data, out_dir=scratch / "reference", progress=None, **settings)
        for index in range(args.rounds):
            out = scratch / f"round{index}"
            order = ("raw", "search") if index % 2 == 0 else ("search", "raw")
            measured = {}
            for what in order:
                if what == "raw":
                    measured["raw_wall"], measured["raw_cpu"], measured["fit_only"] = raw_training(reference, args.model, args.data, settings)
                else:
                    result, measured["search_wall"], measured["search_cpu"] = timed_search(args.model, args.data, settings, out)
                    assert [r["hyperparameters"] for r in result.trials] == [r["hyperparameters"] for r in reference.trials]
            rounds.append(measured)
            print(
                f"round {index + 1} ({' then '.join(order)}): search {measured['search_wall']:.2f}s wall / raw {measured['raw_wall']:.2f}s wall"
                f" = {measured['search_wall'] / measured['raw_wall']:.3f};  CPU {measured['search_cpu']:.2f}s / {measured['raw_cpu']:.2f}s"
                f" = {measured['search_cpu'] / measured['raw_cpu']:.3f};  inside model.fit {measured['fit_only']:.2f}s",
                flush=True,
            )
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    median = statistics.median(r["search_wall"] / r["raw_wall"] for r in rounds)
    best = min(r["search_wall"] for r in rounds) / min(r["raw_wall"] for r in rounds)
    cpu = statistics.median(r["search_cpu"] / r["raw_cpu"] for r in rounds)
    fit_only = statistics.median(r["search_wall"] / r["fit_only"] for r in rounds)
    trials = len(reference.trials)
    print()
    print(f"{args.model} ({settings['model_config']}) on {args.data}, {args.tuner}, {args.cv}, {trials} trials × {args.epochs} epochs, {len(rounds)} rounds")
    print()
    print("| measure | search / raw | overhead | goal |")
    print("|---|---:|---:|---|")
    print(f"| wall time, search vs the same trials trained without a tuner (median of {len(rounds)} paired rounds) | **{median:.3f}** | {100 * (median - 1):+.1f} % | ≤ +5 % |")
    print(f"| CPU time of the process (median) | {cpu:.3f} | {100 * (cpu - 1):+.1f} % | |")
    print(f"| wall time, best search of {len(rounds)} / best raw of {len(rounds)} | {best:.3f} | {100 * (best - 1):+.1f} % | |")
    print(f"| wall time vs time inside model.fit only (counts model building as overhead) | {fit_only:.3f} | {100 * (fit_only - 1):+.1f} % | |")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"settings": {**settings, "model": args.model, "data": args.data}, "rounds": rounds, "best_ratio": best, "median_ratio": median, "cpu_ratio": cpu}, indent=2)
        )
    return 0 if median <= 1.05 else 1


if __name__ == "__main__":
    sys.exit(main())
