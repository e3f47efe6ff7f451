"""Every option of every command rejects malformed values with one line and exit 2, before anything is
written; metadata commands answer without TensorFlow; run folders are found again by what defines
them; progress shows inside epochs."""

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepzoo import cli_options, cli_registry
from deepzoo.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]

# Positional arguments that are valid in form but name nothing: if a malformed option value were let
# through, the command would stop at them (with an error that does not name the option) instead of
# doing any work.
POSITIONALS = {
    "info": ["lenet5"],
    "train": ["no_such_model_for_options"],
    "tune": ["no_such_model_for_options"],
    "eval": ["/nonexistent/deepzoo-run"],
    "export": ["/nonexistent/deepzoo-run"],
    "bench": ["/nonexistent/deepzoo-run"],
    "serve": ["/nonexistent/deepzoo-repository"],
    "enroll": ["/nonexistent/deepzoo-run", "face.png"],
    "identify": ["/nonexistent/deepzoo-run", "face.png"],
    "generate": ["/nonexistent/deepzoo-run"],
    "sample": ["/nonexistent/deepzoo-run"],
    "explain": ["/nonexistent/deepzoo-run"],
    "attack": ["/nonexistent/deepzoo-run"],
}


def _commands():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices


def _malformed_cases():
    cases = []
    for command, subparser in _commands().items():
        for action in subparser._actions:
            if not action.option_strings or action.nargs == 0 or action.dest == "help":
                continue
            flag = action.option_strings[0]
            spec = getattr(action, "value_spec", None)
            if spec is None and action.choices:
                values = ["nonsense", ""]
            else:
                assert spec is not None, f"deepzoo {command} {flag} takes a value but declares no cli_options.Value"
                values = spec.malformed()
            assert values, f"deepzoo {command} {flag}: its Value names no malformed input"
            cases.extend(pytest.param(command, flag, value, id=f"{command} {flag} {value!r}") for value in values)
    return cases


def run_cli(capsys, argv):
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize("command, flag, value", _malformed_cases())
def test_every_option_rejects_malformed_values(capsys, in_tmp, command, flag, value):
    # "--lr=-1": argparse would read a bare "-1" after a flag as a number anyway, but not "-x".
    option = [f"{flag}={value}"] if value.startswith("-") else [flag, value]
    code, _, err = run_cli(capsys, [command, *POSITIONALS.get(command, []), *option])
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith(f"deepzoo {command}: error: "), err
    assert flag in lines[0], lines[0]
    assert "Traceback" not in err
    assert not any(in_tmp.iterdir()), f"left {list(in_tmp.iterdir())}"  # checked before anything is written


def _set_cases():
    """--set values of the wrong kind for every numeric argument of lenet5 (from the index)."""
    entry = cli_registry.get_model("lenet5")
    cases = []
    for name, argument in entry["arguments"].items():
        kind = cli_registry.value_kind(entry["tiny_config"].get(name, argument["default"]))
        if kind in ("int", "float", "bool", "list"):
            cases.append(f"{name}=abc")
        meaning = cli_options.argument_meaning(name)
        if meaning is not None:
            cases.extend(f"{name}={bad}" for bad in meaning.malformed() if bad not in ("", "abc", "three", "inf", "nan"))
    return cases


@pytest.mark.parametrize("assignment", _set_cases())
def test_set_values_are_checked_against_the_constructor(capsys, in_tmp, assignment):
    code, _, err = run_cli(capsys, ["train", "lenet5", "--tiny", "--data", "digits", "--epochs", "1", "--set", assignment])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and f"--set {assignment.split('=')[0]}" in lines[0], err
    assert not any(in_tmp.iterdir())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "lenet5", "--epochs", "0"], "--epochs must be a positive integer. Received: 0"),
        (["train", "lenet5", "--epochs", "-3"], "--epochs must be a positive integer"),
        (["train", "lenet5", "--lr", "-1"], "--lr must be a positive number"),
        (["train", "lenet5", "--max-examples", "0"], "--max-examples must be a positive integer"),
        (["train", "lenet5", "--set", "width_multiplier=-1"], "--set width_multiplier must be a positive number"),
        (["train", "lenet5", "--bn-momentum", "5"], "--bn-momentum must be auto, keep or a number in [0, 1)"),
        (["train", "lenet5", "--batch-size", "0"], "--batch-size must be a positive integer"),
        (["train", "lenet5", "--set", "width_multiplier=abc"], "--set width_multiplier expects a number. Received: 'abc'"),
        (["train", "lenet5", "--run-dir", cli_options.AN_EXISTING_FILE], "--run-dir names an existing file"),
        (["train", "lenet5", "--epochs", "three"], "--epochs must be a positive integer. Received: 'three'"),
        (["train", "lenet5", "--optimizer", "adamm"], "did you mean 'adam'?"),
        (["train", "lenet5", "--augment", '{"flip": '], "--augment is not valid JSON (Expecting value at column 10)"),
        (["train", "lenet5", "--augment", "digitz"], "did you mean 'digits'?"),
        (["train", "lenet5", "--test-fraction", "0.6", "--validation-fraction", "0.5"], "must be below 1"),
        (["train", "lenet5", "--freeze", "backbone"], "--freeze applies to layers copied by --init-from"),
        (["train", "lenet5", "--data-option", "image_size=0"], "--data-option image_size expects a positive size"),
        (["train", "lenet5", "--data-option", "imagesize=32"], "did you mean 'image_size'?"),
        (["train", "lenet5", "--epoch", "3", "--bogus", "1"], "unrecognized arguments: --bogus 1"),
        (["train", "lenet5", "--epochs"], "--epochs: expected one argument"),
        (["tune", "lenet5", "--tuner", "randm"], "invalid choice: 'randm' (choose from 'random', 'grid', 'bayesian', 'hyperband'); did you mean 'random'?"),
        (["tune", "lenet5", "--option", "schedule=cosin"], "--option schedule must be one of"),
        (["tune", "lenet5", "--option", "learning_rate=-1"], "--option learning_rate must be a positive number"),
        (["trian"], "invalid choice: 'trian'"),
        (["train"], "the following arguments are required: model (see deepzoo train --help)"),
    ],
)
def test_issue_examples_are_one_line_and_exit_2(capsys, in_tmp, argv, message):
    code, _, err = run_cli(capsys, argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert message in lines[0], lines[0]
    assert not any(in_tmp.iterdir())


def test_a_numpy_file_that_is_not_npz_is_named_so(capsys, in_tmp):
    (in_tmp / "data.npy").write_bytes(b"\x93NUMPY not an archive")
    code, _, err = run_cli(capsys, ["train", "lenet5", "--data", f"numpy:{in_tmp / 'data.npy'}"])
    assert code == 2 and "is not an .npz archive" in err
    assert "pickle" not in err.lower()


def test_a_constructor_error_leaves_no_run_folder(capsys, in_tmp):
    # Passes the option table (a string argument) and fails in the model's own constructor, after
    # the data were loaded: still one line, exit 2, and no folder left behind.
    code, _, err = run_cli(capsys, ["train", "lenet5", "--tiny", "--data", "digits", "--max-examples", "200", "--epochs", "1", "--set", "c3_connections=bogus"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "c3_connections must be one of" in err, err
    assert not (in_tmp / "runs").exists() or not any((in_tmp / "runs").iterdir())


def test_option_table_matches_the_training_modules():
    from pipelines import optim
    from pipelines.train import JIT_CHOICES, TrainConfig

    assert cli_options.OPTIMIZERS == optim.OPTIMIZERS
    assert cli_options.SCHEDULES == optim.SCHEDULES
    assert cli_options.INITIALIZERS == optim.INITIALIZERS
    assert cli_options.JIT_CHOICES == JIT_CHOICES
    fields = {f.name for f in __import__("dataclasses").fields(TrainConfig)}
    assert set(cli_options.TRAIN_VALUES) <= fields


# --- the registry index: metadata without TensorFlow -----------------------------------------------


def test_index_matches_the_live_registry():
    import architectures
    from architectures.registry import constructor_arguments

    index = cli_registry.load_index()
    assert sorted(index["models"]) == architectures.list_models()
    for name, entry in index["models"].items():
        spec = architectures.get_spec(name)
        assert (entry["family"], entry["task"], entry["reference_params"]) == (spec.family, spec.task, spec.reference_params)
        assert list(entry["arguments"]) == constructor_arguments(spec)


def test_a_changed_source_file_rebuilds_the_index(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPZOO_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cli_registry, "_loaded", None)
    fresh = cli_registry.load_index()
    path = cli_registry._cache_path()
    stale = dict(fresh, fingerprint="stale", models={})
    path.write_text(json.dumps(stale))
    monkeypatch.setattr(cli_registry, "_loaded", None)
    assert cli_registry.load_index()["models"] == fresh["models"]  # the stale file is not read
    assert json.loads(path.read_text())["fingerprint"] == cli_registry.source_fingerprint()


LIGHT_COMMANDS = [
    ["--help"],
    ["train", "--help"],
    ["list"],
    ["list", "--family", "classification", "--json"],
    ["info", "lenet5"],
    ["info", "lenett5"],
    ["train", "lenett5"],
    ["train", "lenet5", "--epochs", "three"],
    ["train", "lenet5", "--epochs", "0"],
    ["train", "lenet5", "--set", "width_multiplier=abc"],
    ["tune", "lenet5", "--tuner", "randm"],
    ["check", "--family", "nope"],
]

_PROBE = """
import json, sys, time
from deepzoo import cli_registry
from deepzoo.cli import main
# The sources the index was built from (others may be editing them while this runs; the rebuild on a
# change is tested on its own above).
cli_registry.source_fingerprint = lambda: sys.argv[3]
report = []
for argv in json.loads(sys.argv[1]):
    started = time.perf_counter()
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    report.append({"argv": argv, "code": code, "seconds": time.perf_counter() - started,
                   "heavy": sorted(m for m in ("tensorflow", "keras", "architectures") if m in sys.modules)})
open(sys.argv[2], "w").write(json.dumps(report))
"""


def test_metadata_commands_and_argument_errors_do_not_import_tensorflow(tmp_path):
    cache = tmp_path / "cache"
    env = dict(os.environ, DEEPZOO_CACHE_DIR=str(cache))
    # The index of the current sources, as the first (slow) reader leaves it.
    warm = "from deepzoo import cli_registry; print(cli_registry.load_index()['fingerprint'])"
    fingerprint = subprocess.run([sys.executable, "-c", warm], env=env, check=True, timeout=300, capture_output=True, text=True).stdout.strip()
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(LIGHT_COMMANDS), str(report_path), fingerprint], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    report = json.loads(report_path.read_text())
    for row in report:
        assert row["heavy"] == [], row
    assert [row["code"] for row in report] == [0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2], report
    print("seconds per command:", {" ".join(row["argv"]): round(row["seconds"], 3) for row in report})
    assert not (tmp_path / "runs").exists()
    assert "lenet5: a classification model" in result.stdout


# --- run folders -----------------------------------------------------------------------------------


def test_run_identity_ignores_defaults_and_cosmetic_options():
    from pipelines.runs import run_identity
    from pipelines.train import TrainConfig

    base = run_identity(TrainConfig(model="lenet5", data="digits"))
    assert run_identity(TrainConfig(model="lenet5", data="digits", epochs=10, jit="on")) == base  # 10 is the default; jit is how, not what
    assert run_identity(TrainConfig(model="lenet5", data="", learning_rate=0.001)) == base  # digits is lenet5's default data
    assert run_identity(TrainConfig(model="lenet5", data="digits", epochs=11)) != base
    assert run_identity(TrainConfig(model="lenet5", data="digits", learning_rate=1)) == run_identity(TrainConfig(model="lenet5", data="digits", learning_rate=1.0))


def test_resolve_run_dir_finds_unfinished_runs_and_never_reuses_finished_ones(tmp_path):
    from pipelines.runs import RunTotals, resolve_run_dir
    from pipelines.train import TrainConfig

    config = TrainConfig(model="lenet5", data="digits", epochs=3)
    first, resumed = resolve_run_dir(config, root=tmp_path)
    assert not resumed and not first.exists() and first.name.startswith("lenet5-digits-")
    RunTotals.begin(first, config)
    assert resolve_run_dir(config, root=tmp_path) == (first, True)  # unfinished: the same command resumes it
    second, resumed = resolve_run_dir(config, root=tmp_path, new_run=True)
    assert second != first and not resumed
    other, _ = resolve_run_dir(TrainConfig(model="lenet5", data="digits", epochs=4), root=tmp_path)
    assert other.parent == tmp_path and other != first
    (first / "model.keras").write_bytes(b"finished")
    again, resumed = resolve_run_dir(config, root=tmp_path)
    assert again == tmp_path / f"{first.name}-2" and not resumed
    with pytest.raises(ValueError, match="holds a finished run"):
        resolve_run_dir(config, run_dir=first)
    RunTotals.begin(second, config)  # unfinished, of epochs=3
    with pytest.raises(ValueError, match=r"another configuration \(epochs 3 -> 4\)"):
        resolve_run_dir(TrainConfig(model="lenet5", data="digits", epochs=4), run_dir=second)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no run"):
        resolve_run_dir(config, run_dir=tmp_path / "notes")


def test_run_totals_add_up_across_sessions(tmp_path):
    from pipelines.runs import RUN_FILE, RunTotals, read_run_record
    from pipelines.train import TrainConfig

    config = TrainConfig(model="lenet5", data="digits", epochs=5)
    first = RunTotals.begin(tmp_path / "run", config)
    first.epoch_finished(0)
    first.epoch_finished(1)  # then the process is killed
    record = read_run_record(tmp_path / "run")
    assert record["totals"]["epochs_run"] == 2 and record["sessions"] == 1
    record["totals"]["train_seconds"] = 7.0  # as if those two epochs had taken 7 s
    (tmp_path / "run" / RUN_FILE).write_text(json.dumps(record))

    second = RunTotals.begin(tmp_path / "run", config)
    assert second.sessions == 2 and second.epochs_run == 2
    second.epoch_finished(2)  # after a resume Keras numbers epochs from the run's start
    second.epoch_finished(4)
    totals = second.finish()
    assert totals["epochs_run"] == 5 and 7.0 <= totals["train_seconds"] < 60.0
    assert read_run_record(tmp_path / "run")["totals"] == totals


# --- progress --------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _fit_with(progress, epochs=2):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", jit_compile=False)
    x, y = np.ones((64, 3), "float32"), np.zeros((64, 1), "float32")
    model.fit(x, y, batch_size=8, epochs=epochs, callbacks=[progress], verbose=0)


def test_progress_is_one_line_per_epoch_off_a_terminal():
    from pipelines.progress import TrainingProgress

    lines = []
    _fit_with(TrainingProgress(lines.append, epochs=2, sizes={"train": 64, "validation": 0, "test": 16}))
    assert lines[0].startswith("training: 64 train / 0 validation / 16 test examples · 8 steps per epoch · 4 parameters · CPU, XLA off")
    assert [line.split(" ")[0:2] for line in lines[1:]] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert all("loss=" in line and line.endswith("s)") for line in lines[1:])


def test_progress_draws_a_bar_inside_each_epoch_on_a_terminal():
    from pipelines.progress import TrainingProgress

    terminal, lines = _Terminal(), []
    _fit_with(TrainingProgress(lines.append, epochs=2, stream=terminal, min_interval=0.0))
    drawn = terminal.getvalue()
    assert "\r" in drawn and "epoch 1/2 [" in drawn and "8/8" in drawn and "ETA" in drawn
    assert len(lines) == 3  # the start-up line and one line per epoch stay in the log


# --- tuning.distributed has its own entry ------------------------------------------------------------


def test_nothing_below_the_cli_imports_it():
    import ast

    offenders = []
    for folder in ("common", "tasks", "architectures", "pipelines", "tuning", "export", "serving"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "deepzoo" or n.startswith("deepzoo.")]
    assert not [o for o in offenders if not o.startswith("serving/")], offenders  # serving reads only deepzoo.__version__


def test_distributed_train_entry_reads_train_options():
    from tuning.distributed import train_arguments

    model, data, run_dir, options = train_arguments(
        ["lenet5", "--data", "digits", "--tiny", "--max-examples", "240", "--lr", "0.01", "--jit", "off", "--run-dir", "r", "--set", "width_multiplier=0.5"]
    )
    assert (model, data, run_dir) == ("lenet5", "digits", "r")
    assert options == {"model_config": "tiny", "max_examples": 240, "learning_rate": 0.01, "jit": "off", "model_overrides": {"width_multiplier": 0.5}, "distribute": "multiworker"}
    with pytest.raises(ValueError, match="needs a value"):
        train_arguments(["lenet5", "--epochs"])
