"""Run directories: where a run lives, how the same command finds it again, and reading it back.

A run is identified by what defines it: the model, the data and every training option that is not
at its default (`run_definition`), hashed (`run_identity`). Options that change how fast a run goes
but not what it computes (`COSMETIC_FIELDS`) are left out. Without an explicit directory a run lives
in `ROOT/<model>-<data>-<identity[:8]>`, so the same command finds its unfinished run and resumes it;
a finished run (it has `model.keras`) is never written to again, and the next identical command
starts `...-2`, `...-3`:

    path, resumed = resolve_run_dir(config)                       # writes nothing
    definition = run_definition(config)                           # before anything changes config
    ...                                                           # everything that can reject the input
    totals = RunTotals.begin(path, definition=definition)         # creates the folder, RUN/run.json
    model.fit(..., callbacks=[..., totals.callback()])
    metrics.update(totals.finish())                               # epochs_run, train_seconds over all sessions

`RUN/run.json` holds the identity, the definition and the totals so far; it is rewritten (atomically)
after every epoch, so a run killed and resumed reports the epochs and seconds of all its sessions.

`Run` reads a finished run back (config, model, data splits) for `eval`, `export` and tuning.
"""

import dataclasses
import hashlib
import json
import time
from pathlib import Path

from common.io import write_json_atomic

RUN_FILE = "run.json"
FINISHED_FILE = "model.keras"  # written last by `train` (atomically): its presence means finished
BACKUP_METADATA = Path("backup") / "training_metadata.json"  # Keras BackupAndRestore's epoch counter

# TrainConfig fields that change how a run executes but not what it computes: resuming a run with
# XLA switched on is still the same run.
COSMETIC_FIELDS = ("jit",)
# How often the totals are saved inside an epoch: a kill loses at most this much of `train_seconds`.
TOTALS_SAVE_SECONDS = 10.0


# --- identity --------------------------------------------------------------------------------------


def _canonical(value):
    """A JSON-stable form: tuples as lists, 3.0 as 3 (so 1 and 1.0 give one identity), paths as text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, dict)):  # numpy scalars and arrays
        value = value.tolist()
        if isinstance(value, list):
            return [_canonical(v) for v in value]
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, int):
        return value
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda item: str(item[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def _config_values_and_defaults(config):
    """(values, defaults) of a TrainConfig, or of a dict of its fields (e.g. a run's config.json)."""
    if dataclasses.is_dataclass(config):
        fields = dataclasses.fields(config)
        values = {f.name: getattr(config, f.name) for f in fields}
    else:
        from pipelines.train import TrainConfig

        fields = dataclasses.fields(TrainConfig)
        values = {f.name: config[f.name] for f in fields if f.name in config}
    defaults = {}
    for f in fields:
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            defaults[f.name] = f.default_factory()
    return values, defaults


def default_dataset(model):
    """The dataset `train` uses when none is named: the model's, else its task's."""
    import architectures
    from tasks import get_task

    spec = architectures.get_spec(model)
    return spec.default_dataset or get_task(spec.task).default_dataset


def _normalised_data(name):
    """File sources by absolute path, so the same file named from another folder is the same run."""
    kind, sep, rest = name.partition(":")
    if sep and kind in ("numpy", "folder") and rest:
        return f"{kind}:{Path(rest).expanduser().resolve()}"
    return name


def run_definition(config):
    """What defines a run: model, data and every non-cosmetic option that differs from its default.

    Options at their default are left out, so adding a TrainConfig field (with a default) does not
    change the identity of existing runs, and `--epochs 10` is the same run as the default 10.
    """
    values, defaults = _config_values_and_defaults(config)
    definition = {"model": values["model"], "data": _normalised_data(values.get("data") or default_dataset(values["model"]))}
    for name, value in values.items():
        if name in ("model", "data") or name in COSMETIC_FIELDS:
            continue
        value = _canonical(value)
        if name in defaults and value == _canonical(defaults[name]):
            continue
        if name == "init_from" and value:
            value = str(Path(value).expanduser().resolve())
        definition[name] = value
    return definition


def run_identity(config):
    """SHA-256 (hex) of the run definition of a TrainConfig (or of a dict of its fields)."""
    return _identity_of_definition(run_definition(config))


def _identity_of_definition(definition):
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- the state of a folder -------------------------------------------------------------------------


def read_run_record(run_dir):
    """RUN/run.json as a dict ({} if absent or unreadable)."""
    path = Path(run_dir) / RUN_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def is_finished(run_dir):
    return (Path(run_dir) / FINISHED_FILE).is_file()


def completed_epochs(run_dir):
    """Epochs a killed run had finished (from its backup state, else its totals); 0 if none."""
    run_dir = Path(run_dir)
    try:
        return int(json.loads((run_dir / BACKUP_METADATA).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return int(read_run_record(run_dir).get("totals", {}).get("epochs_run", 0) or 0)


def _difference(recorded, wanted):
    """'epochs 15 -> 20, lr ...': how two definitions differ, for error messages."""
    keys = sorted(set(recorded) | set(wanted))
    parts = [f"{k} {recorded.get(k, 'default')!s} -> {wanted.get(k, 'default')!s}" for k in keys if recorded.get(k) != wanted.get(k)]
    return ", ".join(parts) or "unknown"


def _folder_state(path, identity, definition):
    """One of "absent", "empty", "same" (this run, unfinished), "finished" (this run, finished),
    "other: <difference>" (another run), "foreign" (a folder that is not a run)."""
    if not path.exists():
        return "absent"
    if not path.is_dir():
        raise ValueError(f"The run directory names an existing file, not a folder. Received: run_dir={path}")
    if not any(path.iterdir()):
        return "empty"
    if is_finished(path):
        return "finished"  # whichever run it is, it is never written to again
    record = read_run_record(path)
    if record.get("identity"):
        if record["identity"] != identity:
            return "other: " + _difference(record.get("definition", {}), definition)
        return "same"
    config_path = path / "config.json"
    if config_path.is_file():
        # A run written before run.json existed: same model, data and explicit options, or not ours.
        try:
            recorded = run_definition(json.loads(config_path.read_text()))
        except (ValueError, KeyError, TypeError):
            return "foreign"
        user_overrides = definition.get("model_overrides", {})
        recorded_overrides = recorded.get("model_overrides", {})
        same_overrides = all(recorded_overrides.get(k) == v for k, v in user_overrides.items())
        rest = {k: v for k, v in recorded.items() if k != "model_overrides"}
        wanted = {k: v for k, v in definition.items() if k != "model_overrides"}
        if rest != wanted or not same_overrides:
            return "other: " + _difference(rest, wanted)
        return "same"
    return "foreign"


def _safe(text):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text).strip("_") or "data"


def _data_label(data):
    """digits -> digits; numpy:/a/b/set.npz -> numpy_set.npz; tfds:mnist:test -> tfds_mnist_test."""
    kind, sep, rest = data.partition(":")
    if sep and kind in ("numpy", "folder"):
        return _safe(f"{kind}_{Path(rest).name}")
    return _safe(data)


def resolve_run_dir(config, run_dir=None, root="runs", new_run=False):
    """Where the run of `config` lives, and whether it resumes an unfinished one. Writes nothing.

    Without `run_dir`: the unfinished run of this definition under `root` if there is one (unless
    `new_run`), else a new folder `root/<model>-<data>-<identity[:8]>` (`-2`, `-3`, ... when earlier
    runs of the same definition finished). With `run_dir`: a missing or empty folder starts a new run,
    an unfinished run of this definition resumes; a finished run, another run's folder, a folder
    that is not a run and a file are refused with a one-line ValueError.

    Returns (path, resumed).
    """
    definition = run_definition(config)
    identity = _identity_of_definition(definition)
    if run_dir is not None:
        path = Path(run_dir)
        state = _folder_state(path, identity, definition)
        if state in ("absent", "empty"):
            return path, False
        if state == "same":
            if new_run:
                raise ValueError(
                    f"A new run was asked for, but the run directory holds an unfinished run of this configuration "
                    f"(leave out --new-run to resume it, or choose another directory). Received: run_dir={path}"
                )
            return path, True
        if state == "finished":
            raise ValueError(
                f"The run directory holds a finished run, and a finished run is never overwritten; choose another "
                f"directory or leave --run-dir out for a new one. Received: run_dir={path}"
            )
        if state.startswith("other: "):
            raise ValueError(
                f"The run directory holds a run of another configuration ({state[7:]}); choose another directory. "
                f"Received: run_dir={path}"
            )
        raise ValueError(f"The run directory is not empty and holds no run (no {RUN_FILE} or config.json); choose a new or empty folder. Received: run_dir={path}")

    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"The runs folder names an existing file, not a folder. Received: root={root}")
    base = f"{_safe(definition['model'])}-{_data_label(definition['data'])}-{identity[:8]}"
    index = 1
    while True:
        path = root / (base if index == 1 else f"{base}-{index}")
        index += 1
        state = _folder_state(path, identity, definition)
        if state in ("absent", "empty"):
            return path, False
        if state == "same" and not new_run:
            return path, True


def default_run_dir(model, data, root="runs"):
    """A new timestamped folder `root/<model>-<data>-<YYYYmmdd-HHMMSS>` (never an existing one).

    Kept for callers that want a fresh folder per call (the demo); `resolve_run_dir` is the default
    of `train`, and finds a killed run again."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe_data = data.replace(":", "_").replace("/", "_")
    base = Path(root) / f"{model}-{safe_data}-{stamp}"
    candidate, counter = base, 1
    while candidate.exists():
        candidate, counter = Path(f"{base}-{counter}"), counter + 1
    return candidate


def describe_run_dir(path, resumed, epochs=None):
    """The first line `deepzoo train` prints: which folder, and whether it resumes."""
    if not resumed:
        return f"new run {path}"
    done = completed_epochs(path)
    of = f" of {epochs}" if epochs else ""
    progress = f"{done}{of} epochs done" if done else "no epoch finished yet"
    return f"resuming unfinished run {path} ({progress}; --new-run starts a separate one)"


# --- totals across sessions ------------------------------------------------------------------------


class RunTotals:
    """`epochs_run` and `train_seconds` of a run over all its sessions (a killed run resumed is one
    run), kept in RUN/run.json and saved after every epoch (and every `TOTALS_SAVE_SECONDS` inside one).

        totals = RunTotals.begin(run_dir, config)     # creates run_dir; records the identity
        model.fit(..., callbacks=[totals.callback()])
        metrics.update(totals.finish())               # {"epochs_run": ..., "train_seconds": ...}
    """

    def __init__(self, run_dir, record):
        self.run_dir = Path(run_dir)
        self.record = record
        previous = record.get("totals", {})
        self.previous_seconds = float(previous.get("train_seconds", 0.0))
        self.epochs_run = int(previous.get("epochs_run", 0))
        self.session_started = None  # set when training starts (the callback), else at finish
        self._begun = time.monotonic()
        self._saved = time.monotonic()

    @classmethod
    def begin(cls, run_dir, config=None, definition=None):
        """Creates `run_dir` if needed, records the run's identity and one more session, and returns
        the totals of the sessions before this one.

        The identity comes from `definition` (a `run_definition`) or `config`; pass the definition
        when the config has been changed since `resolve_run_dir` (`build_model` fills in
        `model_overrides`), so that the folder records the identity it was found by.
        """
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        record = read_run_record(run_dir)
        if definition is None and config is not None:
            definition = run_definition(config)
        if definition is not None:
            record.update(identity=_identity_of_definition(definition), definition=definition)
        record.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        record["sessions"] = int(record.get("sessions", 0)) + 1
        record.setdefault("totals", {"epochs_run": 0, "train_seconds": 0.0})
        write_json_atomic(run_dir / RUN_FILE, record)
        return cls(run_dir, record)

    @property
    def sessions(self):
        return int(self.record.get("sessions", 1))

    def train_seconds(self):
        started = self.session_started if self.session_started is not None else self._begun
        return self.previous_seconds + (time.monotonic() - started)

    def totals(self):
        return {"epochs_run": self.epochs_run, "train_seconds": self.train_seconds()}

    def save(self):
        totals = self.totals()
        self.record["totals"] = totals
        write_json_atomic(self.run_dir / RUN_FILE, self.record)
        self._saved = time.monotonic()
        return totals

    def epoch_finished(self, epoch):
        """`epoch` is Keras' 0-based epoch index, counted from the run's start (resumes included)."""
        self.epochs_run = max(self.epochs_run, int(epoch) + 1)
        self.save()

    def callback(self):
        """A Keras callback that starts the session clock and saves the totals as training goes."""
        import keras

        totals = self

        class _RunTotalsCallback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                if totals.session_started is None:
                    totals.session_started = time.monotonic()

            def on_epoch_end(self, epoch, logs=None):
                totals.epoch_finished(epoch)

            def on_train_batch_end(self, batch, logs=None):
                if time.monotonic() - totals._saved >= TOTALS_SAVE_SECONDS:
                    totals.save()

            def on_train_end(self, logs=None):
                totals.save()

        return _RunTotalsCallback()

    def finish(self):
        """Saves and returns {"epochs_run", "train_seconds"} over every session of the run."""
        return dict(self.save())


# --- an existing run -------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """A finished run directory: its config, its model and its data splits, for eval/export/tuning."""

    run_dir: Path
    config: dict

    @classmethod
    def load(cls, run_dir):
        run_dir = Path(run_dir)
        if not (run_dir / "config.json").is_file() or not (run_dir / "model.keras").is_file():
            raise ValueError(f"Not a run directory (needs config.json and model.keras). Received: {run_dir}")
        return cls(run_dir, json.loads((run_dir / "config.json").read_text()))

    @property
    def model_path(self):
        return self.run_dir / "model.keras"

    def load_model(self):
        import keras

        return keras.saving.load_model(str(self.model_path))

    def prepared_data(self):
        import numpy as np

        from pipelines.datasets import load_dataset
        from pipelines.train import PreparedData, TrainConfig

        config = TrainConfig(**{f.name: self.config[f.name] for f in dataclasses.fields(TrainConfig) if f.name in self.config})
        dataset = load_dataset(config.data, seed=config.seed, **config.data_options)
        split = np.load(self.run_dir / "split.npz")
        if config.max_examples and len(dataset) > config.max_examples:
            # The same seeded subset as at training time.
            rng = np.random.default_rng(config.seed)
            dataset = dataset.subset(np.sort(rng.choice(len(dataset), config.max_examples, replace=False)))
        return PreparedData(dataset, split["train"], split["val"], split["test"])

    def arrays(self, part):
        return self.prepared_data().arrays(part)

    @property
    def metrics(self):
        path = self.run_dir / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else {}


def evaluate_run(run_dir):
    """Re-evaluates a run's saved model on its own hold-out test split; returns the metrics."""
    from pipelines.train import evaluate_model
    from tasks import get_task

    run = Run.load(run_dir)
    task = get_task(run.config["task"], run.config.get("task_settings"))
    return evaluate_model(run.load_model(), run.prepared_data(), task)
