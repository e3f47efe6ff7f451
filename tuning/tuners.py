"""KerasTuner tuners whose trials are scored under cross-validation.

`CrossValidationMixin` sits in front of each KerasTuner tuner (RandomSearch, GridSearch,
BayesianOptimization, Hyperband) and overrides `run_trial`: for every fold of the plan it fits the
trial's configuration afresh (see `tuning.fitting`) and returns the mean validation metrics across
folds, which KerasTuner records as the trial's score. The spread and every fold's metrics are written
next to KerasTuner's own `trial.json` (`trial_<id>/cv.json`, `trial_<id>/folds/fold_<k>.json`).

Hyperband: a trial that continues a previous one (`tuner/trial_id` set) loads each fold's OWN model
and optimiser state from the parent trial's `folds/fold_<k>.state.npz` and trains it on the same fold
from `tuner/initial_epoch` to `tuner/epochs`; every trial saves the state of each fold it trained.

Resuming (`overwrite=False`, the same project directory): KerasTuner reloads its oracle and queues
the trial that was running for a retry. A retried trial keeps the folds it had finished (their record
holds the same configuration and budget) and re-runs the others from scratch, so no fold is counted
twice and nothing finished runs again. Three gaps of KerasTuner 1.4 are closed here (see also `install_keras_tuner_fixes`): JSON state is
written atomically (a kill mid-write cannot corrupt `oracle.json`), a finished trial that was still
listed as running is not re-run, and GridSearch's iteration order (not part of its saved state) is
rebuilt on reload.

Distributed search (KerasTuner's chief/worker mode, `KERASTUNER_*` environment variables): the chief
serves the oracle (`tuning.distributed.serve_oracle`) until every trial is done; workers run trials.
Folds are saved in the shared project directory, so any worker can continue any parent trial.
"""

import functools
import itertools
import json
import os
import time
import zlib
from pathlib import Path

import numpy as np

STATE_SUFFIX = ".state.npz"
IDLE_SLEEP_SECONDS = 0.5


# --- small atomic writes ------------------------------------------------------------------------------

_counter = itertools.count()


def write_text_atomic(path, text):
    """Writes a new file beside `path` and renames it into place: a reader (or a resumed search after
    SIGKILL) sees the old or the new content, never half of it. Cheaper than `common.io.atomic_path`
    (no temporary directory), which matters for the many small records of a search."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_counter)}.tmp")
    try:
        with open(tmp, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path, data):
    write_text_atomic(path, json.dumps(data, indent=1, default=_json_default) + "\n")


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot serialise {type(value).__name__} to JSON. Received: {value!r}")


# --- KerasTuner fixes ------------------------------------------------------------------------------


def install_keras_tuner_fixes():
    """Makes KerasTuner write its JSON state atomically (tmp file + rename) on local paths, and drops
    the stray debug `print` in KerasTuner 1.4.8's `Parent.to_proto` (every conditional hyperparameter
    sent over gRPC printed its first parent value)."""
    from keras_tuner.src import utils as kt_utils
    from keras_tuner.src.engine import conditions

    if getattr(kt_utils.save_json, "_deepzoo_atomic", False):
        return

    def to_proto(self):
        from keras_tuner.src import protos

        proto = protos.get_proto()
        first = self.values[0]
        if isinstance(first, str):
            values = [proto.Value(string_value=v) for v in self.values]
        elif isinstance(first, bool):
            values = [proto.Value(boolean_value=v) for v in self.values]
        elif isinstance(first, int):
            values = [proto.Value(int_value=v) for v in self.values]
        else:
            values = [proto.Value(float_value=v) for v in self.values]
        return proto.Condition(parent=proto.Condition.Parent(name=self.name, values=values))

    conditions.Parent.to_proto = to_proto
    original = kt_utils.save_json

    def save_json(path, obj):
        if "://" in str(path):
            return original(path, obj)
        text = json.dumps(obj)
        write_text_atomic(path, text)
        return text

    save_json._deepzoo_atomic = True
    kt_utils.save_json = save_json


def _rebuild_grid_order(oracle):
    """GridSearchOracle keeps its iteration order (`_ordered_ids`, `_populate_next`) out of its saved
    state, so a reloaded grid search would stop at once. Rebuild both from the recorded trials."""
    from keras_tuner.src.tuners.gridsearch import LinkedList

    ids = sorted(trial_id for trial_id, trial in oracle.trials.items() if trial.hyperparameters.values)
    if not ids:
        return

    def compare(a, b):
        return oracle._compare(oracle.trials[a].hyperparameters.values, oracle.trials[b].hyperparameters.values)

    ordered = LinkedList()
    for trial_id in sorted(ids, key=functools.cmp_to_key(compare)):
        ordered.insert(trial_id)
    oracle._ordered_ids = ordered
    oracle._populate_next = list(ids)


def _fix_queues_after_reload(oracle):
    """KerasTuner re-queues every trial that was running when the search stopped. Drop those that
    actually finished (killed between writing the trial and the oracle), and queue trials recorded as
    running that the oracle never listed (killed between those two writes the other way round)."""
    from keras_tuner.src.engine.trial import TrialStatus

    finished = (TrialStatus.COMPLETED, TrialStatus.FAILED)
    queue = [t for t in oracle._retry_queue if t in oracle.trials and oracle.trials[t].status not in finished]
    for trial_id, trial in oracle.trials.items():
        if trial.status in (TrialStatus.RUNNING, TrialStatus.INVALID) and trial_id not in queue and trial_id not in oracle.end_order:
            queue.append(trial_id)
    oracle._retry_queue = list(dict.fromkeys(queue))


# --- the cross-validation of one trial ----------------------------------------------------------


def _normalized(value):
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _checksum(arrays):
    crc = 0
    for array in arrays:
        crc = zlib.crc32(np.ascontiguousarray(array).tobytes(), crc)
    return f"{crc:08x}"


class CrossValidator:
    """Runs one configuration on every fold of a plan and aggregates the scores."""

    def __init__(self, trainer, plan, spec, epochs, objective, direction, project_dir, seed=0, save_states=False, progress=None, fold_progress=False):
        self.trainer = trainer
        self.plan = plan
        self.spec = spec
        self.epochs = epochs
        self.objective = objective
        self.direction = direction
        self.project_dir = Path(project_dir)
        self.seed = seed
        self.save_states = save_states
        self.progress = progress
        self.fold_progress = fold_progress
        self.plan_fingerprint = plan.fingerprint()
        self.fit_seconds = 0.0  # fitting time of this process, for the overhead benchmark
        self.prepare_seconds = 0.0

    def trial_dir(self, trial_id):
        return self.project_dir / f"trial_{trial_id}"

    def fold_path(self, trial_id, fold, suffix=".json"):
        return self.trial_dir(trial_id) / "folds" / f"fold_{fold:03d}{suffix}"

    def run(self, trial_id, values, epochs=None, initial_epoch=0, parent=None, tuner_id="tuner0"):
        """Fits every fold (or reuses a finished fold record of this very configuration); returns
        the mean metrics for the oracle and writes `cv.json`."""
        from tuning.space import split_values

        epochs = int(epochs or self.epochs)
        options = split_values(values, self.spec)
        config = self.trainer.config_for({**options.train, "epochs": epochs}, options.model_overrides)
        signature = _normalized({"values": values, "epochs": epochs, "initial_epoch": initial_epoch, "parent": parent, "plan": self.plan_fingerprint})
        started = time.time()
        records, prepared = [], None
        for fold, (train_idx, val_idx) in enumerate(self.plan.folds):
            record_path = self.fold_path(trial_id, fold)
            record = _read_json(record_path)
            if record is not None and record.get("signature") == signature:
                if not self.save_states or self.fold_path(trial_id, fold, STATE_SUFFIX).is_file():
                    records.append({**record, "reused": True})
                    continue
            if prepared is None:
                prepared = self.trainer.prepare(config, len(self.plan.folds[0][0]))
                self.prepare_seconds += prepared.seconds
            state, fold_initial, note = None, initial_epoch, None
            if parent is not None:
                state = _load_state(self.fold_path(parent, fold, STATE_SUFFIX))
                if state is None:
                    fold_initial, note = 0, f"parent trial {parent} has no saved state for this fold: trained from scratch"
            start_sum = _checksum(state) if state is not None else None
            fit = self.trainer.fit(prepared, train_idx, val_idx, epochs, initial_epoch=fold_initial, seed=self.seed + fold, state=state)
            self.fit_seconds += fit.fit_seconds
            end_state = self.trainer.state(prepared) if self.save_states else None
            if end_state is not None:
                _save_state(self.fold_path(trial_id, fold, STATE_SUFFIX), end_state)
            record = {
                "trial_id": trial_id,
                "fold": fold,
                "signature": signature,
                "train_size": int(len(train_idx)),
                "val_size": int(len(val_idx)),
                "metrics": fit.metrics,
                "history": fit.history,
                "epochs_run": fit.epochs_run,
                "initial_epoch": fold_initial,
                "epochs": epochs,
                "early_stopped": fit.early_stopped,
                "continued_from": parent if state is not None else None,
                "state_checksum_start": start_sum,
                "state_checksum_end": _checksum(end_state) if end_state is not None else None,
                "fit_seconds": fit.fit_seconds,
                "tuner_id": tuner_id,
                "note": note,
            }
            write_json(record_path, record)
            _append_line(
                self.project_dir / "fits.jsonl",
                {"trial_id": trial_id, "fold": fold, "tuner_id": tuner_id, "pid": os.getpid(), "seconds": round(fit.fit_seconds, 4)},
            )
            records.append(record)
            if self.progress and self.fold_progress:
                score = fit.metrics.get(self.objective, float("nan"))
                self.progress(f"  trial {trial_id} fold {fold + 1}/{self.plan.num_folds}: {self.objective}={score:.4f} ({fit.epochs_run} epochs, {fit.fit_seconds:.1f}s)")
        summary = aggregate(records, self.objective)
        result = {
            "trial_id": trial_id,
            "values": values,
            "epochs": epochs,
            "initial_epoch": initial_epoch,
            "continued_from": parent,
            "objective": self.objective,
            "direction": self.direction,
            "score": summary["mean"].get(self.objective),
            "std": summary["std"].get(self.objective),
            "mean": summary["mean"],
            "std_all": summary["std"],
            "folds": [
                {k: r.get(k) for k in ("fold", "train_size", "val_size", "metrics", "epochs_run", "initial_epoch", "continued_from", "fit_seconds", "reused", "note")}
                for r in records
            ],
            "started_at": started,
            "finished_at": time.time(),
            "tuner_id": tuner_id,
        }
        write_json(self.trial_dir(trial_id) / "cv.json", result)
        if self.progress:
            reused = sum(1 for r in records if r.get("reused"))
            shown = " ".join(f"{k}={_short(v)}" for k, v in values.items())
            budget = f"epochs {initial_epoch}→{epochs}" if initial_epoch else f"{epochs} epoch{'s' if epochs != 1 else ''}"
            self.progress(
                f"trial {trial_id}: {self.objective} {result['score']:.4f} ± {result['std']:.4f} over {len(records)} folds "
                f"({budget}, {result['finished_at'] - started:.1f}s{', ' + str(reused) + ' folds kept from before' if reused else ''}) {shown}"
            )
        metrics = {name: value for name, value in summary["mean"].items() if name.startswith("val_")}
        metrics[self.objective] = summary["mean"].get(self.objective, float("nan"))
        metrics[f"{self.objective}_std"] = summary["std"].get(self.objective, float("nan"))
        return metrics


def _short(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def aggregate(records, objective):
    names = sorted({name for r in records for name in r["metrics"]})
    mean, std = {}, {}
    for name in names:
        values = np.array([r["metrics"].get(name, np.nan) for r in records], dtype="float64")
        mean[name] = float(np.mean(values))
        std[name] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    if objective not in mean:
        mean[objective], std[objective] = float("nan"), float("nan")
    return {"mean": mean, "std": std}


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _save_state(path, arrays):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{next(_counter)}.tmp.npz")
    try:
        np.savez(tmp, *arrays)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _load_state(path):
    try:
        with np.load(path) as arrays:
            return [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    except (FileNotFoundError, OSError, ValueError):
        return None


def _append_line(path, record):
    line = json.dumps(record) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


# --- the tuners -------------------------------------------------------------------------------------


class CrossValidationMixin:
    """Put in front of a KerasTuner tuner class: trials are scored by `CrossValidator.run`."""

    def __init__(self, *args, cross_validator=None, serve_options=None, **kwargs):
        install_keras_tuner_fixes()
        self.cross_validator = cross_validator
        self.serve_options = serve_options or {}
        super().__init__(*args, **kwargs)

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        values = self.hypermodel.build(hp)
        extra = hp.values
        try:
            return self.cross_validator.run(
                trial.trial_id,
                values,
                epochs=extra.get("tuner/epochs"),
                initial_epoch=int(extra.get("tuner/initial_epoch", 0) or 0),
                parent=extra.get("tuner/trial_id"),
                tuner_id=self.tuner_id,
            )
        except Exception as exc:
            if self.cross_validator.progress:
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self.cross_validator.progress(f"  trial {trial.trial_id} failed: {type(exc).__name__}: {message}")
            raise

    def load_model(self, trial):
        raise NotImplementedError(
            "Cross-validated trials keep one model per fold; retrain the best configuration instead (tuning.tune does)."
        )

    def save_model(self, trial_id, model, step=0):
        pass

    def reload(self):
        super().reload()
        if self._is_worker():
            return
        _fix_queues_after_reload(self.oracle)
        from keras_tuner.src.tuners.gridsearch import GridSearchOracle

        if isinstance(self.oracle, GridSearchOracle):
            _rebuild_grid_order(self.oracle)

    def search(self, *fit_args, **fit_kwargs):
        """KerasTuner's search loop, with a pause when the oracle is busy (IDLE) instead of a busy
        loop over gRPC, and the chief serving through `tuning.distributed.serve_oracle`."""
        from keras_tuner.src.distribute import utils as dist_utils
        from keras_tuner.src.engine.trial import TrialStatus

        if hasattr(self.oracle, "_display"):  # a real oracle (not a worker's gRPC client): deepzoo prints its own progress
            self.oracle.verbose = 0
        if dist_utils.is_chief_oracle():
            from tuning.distributed import serve_oracle

            self.save()
            serve_oracle(self.oracle, **self.serve_options)
            return
        self.on_search_begin()
        while True:
            self.pre_create_trial()
            trial = self.oracle.create_trial(self.tuner_id)
            if trial.status == TrialStatus.STOPPED:
                break
            if trial.status == TrialStatus.IDLE:
                time.sleep(IDLE_SLEEP_SECONDS)
                continue
            self.on_trial_begin(trial)
            self._try_run_and_update_trial(trial, *fit_args, **fit_kwargs)
            self.on_trial_end(trial)
        self.on_search_end()


def _tuner_classes():
    import keras_tuner

    class CVRandomSearch(CrossValidationMixin, keras_tuner.RandomSearch):
        """RandomSearch scored under cross-validation."""

    class CVGridSearch(CrossValidationMixin, keras_tuner.GridSearch):
        """GridSearch scored under cross-validation."""

    class CVBayesianOptimization(CrossValidationMixin, keras_tuner.BayesianOptimization):
        """BayesianOptimization scored under cross-validation."""

    class CVHyperband(CrossValidationMixin, keras_tuner.Hyperband):
        """Hyperband scored under cross-validation; continued trials resume each fold's own model."""

    return {"random": CVRandomSearch, "grid": CVGridSearch, "bayesian": CVBayesianOptimization, "hyperband": CVHyperband}


TUNER_NAMES = ("random", "grid", "bayesian", "hyperband")


@functools.lru_cache(maxsize=None)
def tuner_class(name):
    classes = _tuner_classes()
    if name not in classes:
        raise ValueError(f"Unknown tuner '{name}'. Expected one of {TUNER_NAMES}.")
    return classes[name]


def make_tuner(name, hypermodel, objective, directory, project_name, cross_validator, seed=0, max_trials=None, epochs=10, factor=3, iterations=1, tuner_id=None, serve_options=None):
    """A cross-validating KerasTuner tuner; `objective` is a `keras_tuner.Objective`."""
    cls = tuner_class(name)
    common = dict(
        hypermodel=hypermodel,
        objective=objective,
        directory=str(directory),
        project_name=project_name,
        overwrite=False,
        seed=seed + 1,  # KerasTuner draws a random seed for 0
        max_consecutive_failed_trials=3,
        cross_validator=cross_validator,
        serve_options=serve_options,
    )
    if tuner_id:
        common["tuner_id"] = tuner_id
    if name == "hyperband":
        tuner = cls(max_epochs=epochs, factor=factor, hyperband_iterations=iterations, **common)
        if max_trials:
            tuner.oracle.max_trials = max_trials  # a cap on Hyperband's own schedule
        return tuner
    return cls(max_trials=max_trials, **common)
