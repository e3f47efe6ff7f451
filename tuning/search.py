"""`tune()`: a KerasTuner search scored under hold-out, k-fold or nested validation, then the best
configuration retrained and tested once.

    from tuning import tune
    result = tune("lenet5", "digits", tuner="bayesian", cv="stratified:5", max_trials=20, epochs=10)
    print(result.best_hyperparameters, result.test_metrics["accuracy"], result.run_dir)

Output directory (default `runs/tune/MODEL-DATA-TUNER-CV`; the same command resumes it):

    search.json       the settings (a resumed search must match them) and the fold plan's fingerprint
    splits.npz        the held-out test indices, the development indices and every fold's indices
    search/           the KerasTuner project: oracle.json, trial_<id>/trial.json, and per trial
                      cv.json (mean, std, every fold's metrics) and folds/fold_<k>.json (+ .state.npz
                      for Hyperband); fits.jsonl logs every finished fold fit (trial, fold, worker)
    summary.md/.json  the table of trials, the best configuration, the test metrics, the nested estimate
    trials.png, folds.png, hyperparameters.png
    best/             an ordinary run directory (pipelines.train): the best configuration retrained on
                      the whole training split and evaluated once on the test split no trial saw
    nested/outer_<k>/ with `nested=K`: the search repeated inside each outer fold, and its outer score
    workers/          with `workers=N`: the local workers' logs

Killing the search (even with SIGKILL) and running the same call again resumes it: finished trials are
kept, the trial that was running is re-run (keeping its finished folds), the search completes.
"""

import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np

import architectures
from common.io import write_json_atomic
from pipelines.splits import parse_validation
from tasks import get_task
from pipelines.train import TrainConfig, prepare_data
from tuning import report
from tuning.fitting import FoldTrainer
from tuning.folds import FoldPlan, cv_splits, make_fold_plan, stratify_labels
from tuning.space import make_hypermodel, resolve_space, split_values
from tuning.tuners import TUNER_NAMES, CrossValidator, make_tuner

PROJECT_NAME = "search"
# Settings that may differ when a search is resumed (they do not change what a trial computes).
NOT_IDENTITY = ("max_trials", "distributed", "workers", "overwrite", "retrain", "out_dir", "timeout", "verbose")
# TrainConfig fields that the search itself owns.
RESERVED_OPTIONS = (
    "model", "data", "data_options", "model_config", "model_overrides", "epochs", "seed", "test_fraction",
    "validation_fraction", "max_examples", "distribute", "init_from", "freeze", "early_stopping_patience", "jit",
)  # fmt: skip


@dataclasses.dataclass
class TuneSettings:
    """Every option of `tune()`; saved in `search.json` and handed to distributed workers."""

    model: str
    data: str = ""
    tuner: str = "random"
    cv: str = "kfold:5"
    max_trials: int | None = None  # random/bayesian: 10; grid: the whole grid; hyperband: its schedule (a cap when set)
    epochs: int = 10
    space: object = None  # None, a JSON/YAML path, or a mapping in the file's format
    objective: str | None = None
    nested: int | None = None
    seed: int = 0
    test_fraction: float = 0.2
    max_examples: int | None = None
    data_options: dict = dataclasses.field(default_factory=dict)
    model_config: str = "canonical"
    model_overrides: dict = dataclasses.field(default_factory=dict)
    train_options: dict = dataclasses.field(default_factory=dict)
    patience: int | None = None
    hyperband_factor: int = 3
    hyperband_iterations: int = 1
    out_dir: str | None = None
    overwrite: bool = False
    distributed: bool = False
    workers: int = 0
    retrain: bool = True
    jit: str = "auto"
    timeout: float | None = None
    verbose: int = 1


@dataclasses.dataclass
class TuneResult:
    out_dir: Path
    role: str  # "local", "chief" or "worker"
    objective: str = ""
    direction: str = ""
    best_trial_id: str | None = None
    best_hyperparameters: dict | None = None
    best_score: float | None = None
    best_std: float | None = None
    trials: list = dataclasses.field(default_factory=list)
    run_dir: Path | None = None
    test_metrics: dict | None = None
    nested: dict | None = None
    summary_path: Path | None = None
    plots: list = dataclasses.field(default_factory=list)
    timing: dict = dataclasses.field(default_factory=dict)


def tune(model, data="", *, progress=print, **options):
    """Runs (or resumes) a cross-validated search; see the module docstring. Keyword options are the
    fields of `TuneSettings`. Returns a `TuneResult` (a worker's result carries no summary)."""
    unknown = set(options) - {f.name for f in dataclasses.fields(TuneSettings)}
    if unknown:
        raise ValueError(f"Unknown tune() options {sorted(unknown)}.")
    settings = TuneSettings(model=model, data=data, **options)
    return _Search(settings, progress).run()


def default_out_dir(model, data, tuner, cv, root="runs/tune"):
    def safe(text):
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text))

    return Path(root) / f"{safe(model)}-{safe(data)}-{tuner}-{safe(cv)}"


def parse_objective(objective, task):
    """`name` or `name:max|min` -> (name, direction); the default and the directions come from the
    task (`Task.objectives`: accuracy max, mAP max, BLEU max, Fréchet distance min, ...)."""
    if not objective:
        objective = f"val_{task.objective[0]}"
    name, _, direction = str(objective).partition(":")
    if not name.startswith("val_"):
        name = "val_" + name
    directions = {"val_loss": "min", **{f"val_{key}": way for key, way in task.objectives}}
    if name not in directions:
        raise ValueError(f"Unknown objective '{name}' for a {task.name} model. Expected one of {sorted(directions)} (optionally :max or :min).")
    if direction and direction not in ("max", "min"):
        raise ValueError(f"Objective direction must be max or min. Received: {objective!r}")
    return name, direction or directions[name]


def _check_settings(s):
    from tuning.distributed import role

    if s.tuner not in TUNER_NAMES:
        raise ValueError(f"Unknown tuner '{s.tuner}'. Expected one of {TUNER_NAMES}.")
    scheme = parse_validation(s.cv)
    if scheme["kind"] == "holdout" and not 0.0 < scheme["fraction"] < 1.0:
        raise ValueError(f"holdout fraction must be in (0, 1). Received: {s.cv}")
    for value, name in ((s.max_trials, "max_trials"), (s.epochs, "epochs"), (s.hyperband_iterations, "hyperband_iterations")):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive integer. Received: {value!r}")
    if s.max_trials is None and s.tuner in ("random", "bayesian"):
        s.max_trials = 10  # grid search defaults to the whole grid, Hyperband to its own schedule
    if s.hyperband_factor < 2:
        raise ValueError(f"hyperband_factor must be at least 2. Received: {s.hyperband_factor}")
    if s.nested is not None and (not isinstance(s.nested, int) or s.nested < 2):
        raise ValueError(f"nested must be at least 2 outer folds. Received: {s.nested!r}")
    if s.workers < 0:
        raise ValueError(f"workers must be 0 or more. Received: {s.workers}")
    if s.workers and s.distributed:
        raise ValueError("workers=N starts its own local chief and workers; distributed=True takes the role from KERASTUNER_* variables. Use one.")
    if s.nested and (s.workers or s.distributed):
        raise ValueError("Nested cross-validation runs locally; it cannot be combined with distributed search.")
    if s.distributed and role() is None:
        raise ValueError("distributed search needs KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT (use workers=N for local workers).")
    if not 0.0 < s.test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1). Received: {s.test_fraction}")
    reserved = sorted(set(s.train_options) & set(RESERVED_OPTIONS))
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(s.train_options) - fields)
    if reserved or unknown:
        raise ValueError(f"Training options {reserved + unknown} cannot be fixed here. Expected some of {sorted(fields - set(RESERVED_OPTIONS))}.")
    if s.patience is not None and s.patience < 0:
        raise ValueError(f"patience must be 0 or more. Received: {s.patience}")
    return scheme


class _Search:
    def __init__(self, settings, progress):
        self.s = settings
        self.progress = progress or (lambda *_: None)
        self.scheme = _check_settings(settings)
        self.spec = architectures.get_spec(settings.model)
        self.task = get_task(self.spec.task, settings.train_options.get("task_settings"))  # bad settings fail here
        self.objective, self.direction = parse_objective(settings.objective, self.task)
        self.base = TrainConfig(
            model=settings.model,
            data=settings.data,
            data_options=dict(settings.data_options),
            model_config=settings.model_config,
            model_overrides=dict(settings.model_overrides),
            epochs=settings.epochs,
            seed=settings.seed,
            test_fraction=settings.test_fraction,
            validation_fraction=0.0,
            max_examples=settings.max_examples,
            early_stopping_patience=0,
            jit=settings.jit,
            **settings.train_options,
        )
        prepared = prepare_data(self.base)  # loads the data; the same test split as pipelines.train
        self.dataset = prepared.dataset
        self.dev_idx, self.test_idx = prepared.train_idx, prepared.test_idx
        self.labels = stratify_labels(self.task, self.dataset.y)
        self.groups = self.task.split_groups(self.dataset.y)  # e.g. identities: never in two folds
        fixed = {**settings.train_options, **settings.model_overrides}
        self.space = resolve_space(self.spec, self.dataset, settings.tuner, settings.space, fixed=fixed)
        if not self.space:
            raise ValueError("The search space is empty: nothing to tune.")
        self.out_dir = Path(settings.out_dir or default_out_dir(settings.model, self.base.data, settings.tuner, settings.cv)).resolve()
        self.monitor = (self.objective, self.direction)

    # --- bookkeeping ------------------------------------------------------------------------------

    def identity(self):
        values = {k: v for k, v in dataclasses.asdict(self.s).items() if k not in NOT_IDENTITY}
        values["data"] = self.base.data
        values["space"] = self.space
        values["objective"] = f"{self.objective}:{self.direction}"
        return json.loads(json.dumps(values, sort_keys=True, default=str))

    def worker_settings(self):
        values = dataclasses.asdict(self.s)
        values.update(space={"replace": True, "space": self.space}, out_dir=str(self.out_dir), data=self.base.data)
        values.pop("model")
        return {"model": self.s.model, **json.loads(json.dumps(values, default=str))}

    def _prepare_out_dir(self):
        out = self.out_dir
        if self.s.overwrite and out.exists():
            if any(out.iterdir()) and not (out / "search.json").is_file():
                raise ValueError(f"Refusing to overwrite {out}: it is not a tuning directory (no search.json).")
            _lock(out).close()  # raises while another search runs there
            shutil.rmtree(out)
        if out.exists() and any(out.iterdir()) and not (out / "search.json").is_file():
            raise ValueError(f"Output directory {out} exists and is not a tuning directory. Choose another out_dir.")
        out.mkdir(parents=True, exist_ok=True)
        saved = _read_json(out / "search.json")
        identity = self.identity()
        if saved is not None and saved.get("identity") != identity:
            before = saved.get("identity") or {}
            changed = sorted(k for k in set(before) | set(identity) if before.get(k) != identity.get(k))
            raise ValueError(
                f"{out} holds a search with different settings ({', '.join(changed)}). Use overwrite=True (--overwrite) or another out_dir."
            )
        return saved

    def _plan(self, saved):
        plan = make_fold_plan(self.scheme, len(self.dataset), self.test_idx, self.dev_idx, self.labels, self.s.seed, self.groups)
        path = self.out_dir / "splits.npz"
        if path.is_file():
            stored = FoldPlan.load(path, self.scheme, plan.stratified)
            if stored.fingerprint() != plan.fingerprint():
                raise ValueError(f"The fold plan in {path} differs from the one these settings make (did the dataset change?). Use --overwrite.")
        else:
            plan.save(path)
        if saved is None:
            write_json_atomic(
                self.out_dir / "search.json",
                {"identity": self.identity(), "plan": plan.fingerprint(), "settings": self.worker_settings(), "created": time.time()},
            )
        return plan

    # --- running ------------------------------------------------------------------------------------

    def _validator(self, plan, project_dir, fold_progress=False):
        trainer = FoldTrainer(
            self.s.model, self.dataset, self.base, monitor=self.monitor, patience=None if self.s.tuner == "hyperband" else self.s.patience,
            build_indices=self.dev_idx,
        )
        return CrossValidator(
            trainer,
            plan,
            self.spec,
            self.s.epochs,
            self.objective,
            self.direction,
            project_dir,
            seed=self.s.seed,
            save_states=self.s.tuner == "hyperband",
            progress=self.progress if self.s.verbose else None,
            fold_progress=self.s.verbose >= 2 or fold_progress,
        )

    def _tuner(self, plan, directory, tuner_id=None, serve_options=None, worker=False):
        import os

        import keras_tuner

        project_dir = Path(directory) / PROJECT_NAME
        if not worker:
            _ensure_tuner_state(project_dir, tuner_id or os.environ.get("KERASTUNER_TUNER_ID", "tuner0"))
        validator = self._validator(plan, project_dir)
        tuner = make_tuner(
            self.s.tuner,
            make_hypermodel(self.space),
            keras_tuner.Objective(self.objective, self.direction),
            directory,
            PROJECT_NAME,
            validator,
            seed=self.s.seed,
            max_trials=self.s.max_trials,
            epochs=self.s.epochs,
            factor=self.s.hyperband_factor,
            iterations=self.s.hyperband_iterations,
            tuner_id=tuner_id,
            serve_options=serve_options,
        )
        return tuner, validator

    def run(self):
        from tuning.distributed import role, wait_for_files

        current_role = role() if self.s.distributed else None
        if current_role == "worker":
            wait_for_files([self.out_dir / "search.json"], timeout=self.s.timeout or 600.0)
            saved = _read_json(self.out_dir / "search.json")
            plan = FoldPlan.load(self.out_dir / "splits.npz", self.scheme)
            if plan.fingerprint() != saved.get("plan"):
                raise ValueError(f"{self.out_dir}/splits.npz does not match the chief's fold plan.")
            tuner, _ = self._tuner(plan, self.out_dir, worker=True)
            self.progress(f"worker {tuner.tuner_id}: joining the search in {self.out_dir}")
            tuner.search()
            return TuneResult(self.out_dir, "worker", self.objective, self.direction)

        saved = self._prepare_out_dir()
        lock = _lock(self.out_dir)
        try:
            return self._run_locked(saved, current_role)
        finally:
            lock.close()  # releases the lock (the OS releases it too if the process dies)

    def _run_locked(self, saved, current_role):
        from tuning.distributed import LocalWorkers, chief_environment, free_port

        plan = self._plan(saved)
        mode = "chief" if (current_role == "chief" or self.s.workers) else "local"
        resumed = (self.out_dir / PROJECT_NAME / "oracle.json").is_file()
        self.progress(
            f"tune {self.s.model} on {self.base.data}: {self.s.tuner} search, {plan.describe()}, objective {self.objective} ({self.direction})"
            + (f", up to {self.s.max_trials} trials" if self.s.max_trials else "")
            + (" — resuming" if resumed else "")
            + f" → {self.out_dir}"
        )
        if plan.num_folds > 100:
            self.progress(f"note: {plan.num_folds} folds per trial (each fold is a separate fit); consider kfold:K for large data")
        started, started_cpu = time.perf_counter(), time.process_time()
        if self.s.workers:
            host = "127.0.0.1"
            port = free_port(host)
            with chief_environment(host, port):
                workers = None
                try:
                    tuner, validator = self._tuner(plan, self.out_dir, tuner_id="chief", serve_options={"timeout": self.s.timeout})
                    workers = LocalWorkers(self.s.workers, self.out_dir / "search.json", self.out_dir, host, port)
                    tuner.serve_options["abort_check"] = workers.abort_reason
                    self.progress(f"chief on {host}:{port} with {self.s.workers} local workers (logs in {self.out_dir / 'workers'})")
                    tuner.search()
                finally:
                    codes = workers.finish() if workers is not None else []
            if any(code not in (0, None) for code in codes):
                self.progress(f"note: worker exit codes {codes}; see {self.out_dir / 'workers'}")
        else:
            tuner, validator = self._tuner(plan, self.out_dir, serve_options={"timeout": self.s.timeout})
            tuner.search()
        search_seconds, search_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        rows = report.rank(report.collect_trials(self.out_dir / PROJECT_NAME, tuner.oracle), self.direction)
        result = TuneResult(self.out_dir, mode, self.objective, self.direction, trials=rows)
        result.timing = {
            "search_seconds": round(search_seconds, 3),
            "search_cpu_seconds": round(search_cpu, 3),  # this process's CPU time (all its threads)
            "fit_seconds_this_process": round(validator.fit_seconds, 3),
            "prepare_seconds_this_process": round(validator.prepare_seconds, 3),
            "fit_seconds_all_trials": round(sum(r["fit_seconds"] for r in rows), 3),
            # across every session of a resumed search: the sum of the trials' own durations
            "trial_seconds_all_trials": round(sum((r["finished_at"] or 0) - (r["started_at"] or 0) for r in rows if r["finished_at"]), 3),
        }
        best = next((r for r in rows if r["score"] is not None), None)
        if best is None:
            raise RuntimeError(f"No trial completed; see {self.out_dir / PROJECT_NAME}/trial_*/trial.json for the errors.")
        result.best_trial_id, result.best_hyperparameters = best["trial_id"], best["hyperparameters"]
        result.best_score, result.best_std = best["score"], best["std"]
        self.progress(f"best: trial {best['trial_id']} {self.objective}={best['score']:.4f} ± {best['std'] or 0:.4f} {_short(best['hyperparameters'])}")
        summary = self._summary(plan, rows, best, result.timing)
        result.summary_path = report.write_summary(self.out_dir, summary)
        if self.s.nested:
            result.nested = self._nested(plan)
            summary["nested"] = result.nested
            report.write_summary(self.out_dir, summary)
        if self.s.retrain:
            final = self._retrain(best)
            result.run_dir, result.test_metrics = Path(final["run_dir"]), final["test_metrics"]
            summary["final"] = final
        result.summary_path = report.write_summary(self.out_dir, summary)
        result.plots = report.write_plots(self.out_dir, rows, self.objective, self.direction)
        self.progress(f"summary: {result.summary_path}")
        return result

    def _summary(self, plan, rows, best, timing):
        return {
            "settings": self.identity() | {"max_trials": self.s.max_trials},
            "plan": plan.describe(),
            "objective": self.objective,
            "direction": self.direction,
            "space": self.space,
            "trials": rows,
            "best": {k: best[k] for k in ("trial_id", "score", "std", "hyperparameters", "epochs", "fold_scores")},
            "timing": timing,
        }

    # --- after the search ---------------------------------------------------------------------------

    def _best_options(self, best):
        options = split_values(best["hyperparameters"], self.spec)
        train_options = {**self.s.train_options, **options.train}
        overrides = {**self.s.model_overrides, **options.model_overrides}
        return train_options, overrides, int(best["epochs"] or self.s.epochs)

    def _retrain(self, best):
        """Retrains the best configuration through pipelines.train on the whole training split."""
        from pipelines.train import train

        run_dir = self.out_dir / "best"
        train_options, overrides, epochs = self._best_options(best)
        marker = {"trial_id": best["trial_id"], "hyperparameters": best["hyperparameters"], "epochs": epochs}
        previous = _read_json(run_dir / "tuning.json")
        metrics = _read_json(run_dir / "metrics.json")
        if previous is None or metrics is None or {k: previous.get(k) for k in marker} != json.loads(json.dumps(marker)):
            stale = previous is not None and {k: previous.get(k) for k in marker} != json.loads(json.dumps(marker))
            # A finished retrain whose marker was never written (killed in between) is redone:
            # train() never overwrites a finished run. An unfinished one resumes from its backup.
            unmarked = previous is None and (run_dir / "model.keras").is_file()
            if run_dir.exists() and (stale or unmarked):
                shutil.rmtree(run_dir)  # an older best: start its retrain afresh
            self.progress(f"retraining trial {best['trial_id']} on all {len(self.dev_idx):,} training examples for {epochs} epochs → {run_dir}")
            metrics = _train_tolerating_plot_failure(
                train,
                self.s.model,
                self.base.data,
                run_dir=run_dir,
                progress=self.progress if self.s.verbose >= 2 else None,
                data_options=dict(self.s.data_options),
                model_config=self.s.model_config,
                model_overrides=overrides,
                epochs=epochs,
                seed=self.s.seed,
                test_fraction=self.s.test_fraction,
                validation_fraction=0.0,
                max_examples=self.s.max_examples,
                early_stopping_patience=0,
                jit=self.s.jit,
                **train_options,
            )
            with np.load(run_dir / "split.npz") as split:
                if not np.array_equal(np.sort(split["test"]), np.sort(self.test_idx)):
                    raise RuntimeError("The retrain's test split differs from the search's held-out split.")
            write_json_atomic(
                run_dir / "tuning.json",
                {**marker, "search": str(self.out_dir), "objective": self.objective, "cv_score": best["score"], "cv_std": best["std"]},
            )
        shown = "  ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float) and k != "train_seconds")
        self.progress(f"hold-out test (never seen by the search): {shown}")
        return {
            "run_dir": str(run_dir),
            "trial_id": best["trial_id"],
            "epochs": epochs,
            "train_examples": int(len(self.dev_idx)),
            "test_examples": int(len(self.test_idx)),
            "test_metrics": {k: v for k, v in metrics.items() if k != "confusion_matrix"},
        }

    def _nested(self, plan):
        """Outer folds around the whole procedure (search on the outer training part, retrain, score once
        on the outer test part): an estimate of how well "tune, then retrain" generalises."""
        kind = "stratified" if self.labels is not None else "kfold"
        outer = cv_splits(f"{kind}:{self.s.nested}", plan.dev, self.labels, self.s.seed + 7919, self.groups)
        metric = self.objective[len("val_") :]
        folds = []
        for k, (outer_train, outer_test) in enumerate(outer):
            directory = self.out_dir / "nested" / f"outer_{k}"
            directory.mkdir(parents=True, exist_ok=True)
            done = _read_json(directory / "result.json")
            if done is not None:
                folds.append(done)
                continue
            self.progress(f"nested: outer fold {k + 1}/{len(outer)} ({len(outer_train):,} train / {len(outer_test):,} test)")
            inner = make_fold_plan(self.scheme, len(self.dataset), outer_test, outer_train, self.labels, self.s.seed, self.groups)
            tuner, validator = self._tuner(inner, directory)
            tuner.search()
            rows = report.rank(report.collect_trials(directory / PROJECT_NAME, tuner.oracle), self.direction)
            best = next((r for r in rows if r["score"] is not None), None)
            if best is None:
                raise RuntimeError(f"No trial completed in nested outer fold {k}; see {directory}.")
            train_options, overrides, epochs = self._best_options(best)
            trainer = validator.trainer
            config = trainer.config_for({**train_options, "epochs": epochs}, overrides)
            prepared = trainer.prepare(config, len(outer_train))
            trainer.fit(prepared, outer_train, None, epochs, seed=self.s.seed)
            scores = trainer.evaluate(prepared, outer_train, outer_test)
            record = {
                "outer_fold": k,
                "train_size": int(len(outer_train)),
                "test_size": int(len(outer_test)),
                "best_trial_id": best["trial_id"],
                "hyperparameters": best["hyperparameters"],
                "inner_score": best["score"],
                "inner_std": best["std"],
                "outer_score": float(scores.get(metric, scores.get(f"task_{metric}", float("nan")))),
                "outer_metrics": scores,
            }
            write_json_atomic(directory / "result.json", record)
            self.progress(f"nested: outer fold {k + 1}: inner {self.objective}={best['score']:.4f}, outer {metric}={record['outer_score']:.4f}")
            folds.append(record)
        values = np.array([f["outer_score"] for f in folds], dtype="float64")
        nested = {
            "outer_folds": len(folds),
            "metric": metric,
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "folds": folds,
        }
        self.progress(f"nested estimate: {metric} = {nested['mean']:.4f} ± {nested['std']:.4f} over {len(folds)} outer folds")
        return nested


def _train_tolerating_plot_failure(train, *args, **kwargs):
    """`pipelines.train.train`; returns its metrics. With validation_fraction=0 its curve plot can fail
    on the empty validation columns Keras' CSVLogger writes ("NA") after the run is complete (model,
    metrics.json written); that failure alone is reported and ignored."""
    run_dir = Path(kwargs["run_dir"])
    try:
        return train(*args, **kwargs).metrics
    except ValueError:
        import sys
        import traceback

        frames = [frame.name for frame in traceback.extract_tb(sys.exc_info()[2])]
        metrics = _read_json(run_dir / "metrics.json")
        if "_plots" in frames and metrics is not None and (run_dir / "model.keras").is_file():
            return metrics
        raise


def _lock(out_dir):
    """An exclusive lock on the output directory for this process's lifetime (released by the OS,
    SIGKILL included): two searches must not write one project at once."""
    import fcntl

    handle = open(Path(out_dir) / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ValueError(f"Another search is running in {out_dir} (it holds {out_dir}/.lock).") from None
    return handle


def _ensure_tuner_state(project_dir, tuner_id):
    """KerasTuner reloads a project only when this tuner id's own state file exists; a project made
    under another id (a local search resumed as a distributed chief) is reloaded too."""
    project_dir = Path(project_dir)
    if (project_dir / "oracle.json").is_file() and not (project_dir / f"{tuner_id}.json").is_file():
        (project_dir / f"{tuner_id}.json").write_text("{}")


def _short(values, limit=6):
    items = [f"{k}={report._fmt(v)}" for k, v in values.items()]
    return " ".join(items[:limit]) + (" ..." if len(items) > limit else "")


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
