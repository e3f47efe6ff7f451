"""Each CLI command, in process (fast) and once through the installed console script (exit codes);
a killed `deepzoo train` without --run-dir resumes with the same command."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deepzoo.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_shows_registered_models(capsys):
    code, out, _ = run_cli(capsys, "list", "--family", "classification")
    assert code == 0 and "lenet5" in out and "61,706 (B)" in out


def test_list_json(capsys):
    code, out, _ = run_cli(capsys, "list", "--json", "--pattern", "lenet*")
    assert code == 0 and json.loads(out)[0]["name"] == "lenet5"


def test_info(capsys):
    code, out, _ = run_cli(capsys, "info", "lenet5", "--json")
    assert code == 0 and json.loads(out)["reference_params"] == 61_706
    code, out, _ = run_cli(capsys, "info", "lenet5")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "lenet5: a classification model of the classification family"
    assert any(line.startswith("reference") and "61,706 parameters" in line for line in lines)
    assert any(line.startswith("tiny") and "width_multiplier=0.5" in line for line in lines)
    assert any(line.startswith("task settings") and "none" in line for line in lines)
    _, out, _ = run_cli(capsys, "info", "segnet")
    assert "class_balance = inverse_sqrt_frequency (inverse_sqrt_frequency, median_frequency, unet_border, none)" in " ".join(out.split())


@pytest.mark.parametrize(
    "argv, message",
    [
        (("info", "lenett5"), "Did you mean: lenet5"),
        (("train", "lenet5", "--data", "no_such_data"), "Unknown dataset 'no_such_data'"),
        (("train", "lenet5", "--data", "numpy:/nonexistent/file.npz"), "not found"),
        (("train", "lenet5", "--set", "widht_multiplier=0.5"), "has no argument(s) ['widht_multiplier']"),
        (("train", "lenet5", "--set", "nonsense"), "--set must be KEY=VALUE"),
        (("train", "lenet5", "--jit", "maybe"), "--jit must be one of"),
        (("train", "lenet5", "--data", "digits", "--max-examples", "60", "--optimizer-option", "epslion=1.0"), "Unknown option(s) ['epslion'] for optimizer 'adam'"),
        (("train", "lenet5", "--data", "diabetes", "--epochs", "1"), "is a classification model but dataset 'diabetes' is regression"),
        (("train", "segnet", "--tiny", "--task-setting", "class_balanse=none"), "has no setting 'class_balanse'. Its settings: class_balance"),
        (("train", "segnet", "--tiny", "--task-setting", "loss_kind=dice"), "Task setting loss_kind must be one of cross_entropy, dice_cross_entropy"),
        (("train", "segnet", "--tiny", "--task-setting", "dice_weight=heavy"), "Task setting dice_weight expects a number"),
        (("train", "segnet", "--tiny", "--task-setting", "dice_weight=-1"), "Task setting dice_weight must be float ≥ 0.0"),
        (("train", "lenet5", "--task-setting", "class_balance=none"), "The classification task has no setting 'class_balance'"),
        (("train", "lenet5", "--pretrain-epochs", "2"), "Model 'lenet5' has no pre-training stage; --pretrain-epochs applies to yolo_v1"),
        (("train", "yolo_v1", "--pretrain-epochs", "-1"), "--pretrain-epochs"),
        (("train", "facenet_triplet", "--tiny", "--batch-size", "4", "--epochs", "1", "--max-examples", "200"), "need at least two identities per batch"),
        (("tune", "segnet", "--tiny", "--task-setting", "loss_kind=dice"), "Task setting loss_kind must be one of"),
        (("eval", "/nonexistent/run"), "Not a run directory"),
        (("export", "/nonexistent/run"), "Not a run directory"),
        (("check", "--family", "nope"), "Unknown family 'nope'"),
        (("check", "--columns", "build,speed"), "Unknown check columns"),
        (("list", "--family", "nope"), "Unknown family 'nope'"),
        (("list", "--pattern", "zzz*"), "No registered model matches"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_check_writes_markdown_and_json(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "check", "--models", "lenet5", "--columns", "build,forward,roundtrip", "--out", str(tmp_path))
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["lenet5"]["build"]["status"] == "pass"
    assert "| `lenet5` |" in (tmp_path / "report.md").read_text()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    code = main(
        ["train", "lenet5", "--tiny", "--data", "digits", "--epochs", "2", "--max-examples", "300", "--run-dir", str(run_dir), "--jit", "off",
         "--optimizer", "rmsprop", "--lr", "0.003", "--optimizer-option", "epsilon=0.5", "--optimizer-option", "momentum=0.25"]
    )  # fmt: skip
    assert code == 0
    return run_dir


def test_train_eval_export_chain(capsys, tiny_run):
    for name in ("model.keras", "config.json", "split.npz", "history.csv", "metrics.json", "curves.png", "confusion_matrix.png"):
        assert (tiny_run / name).is_file(), name
    code, out, _ = run_cli(capsys, "eval", str(tiny_run))
    saved = json.loads((tiny_run / "metrics.json").read_text())
    assert code == 0 and f"accuracy={saved['accuracy']:.4f}" in out
    code, out, _ = run_cli(capsys, "export", str(tiny_run), "--format", "onnx")
    assert code == 0 and "onnx" in out and "verified" in out
    assert (tiny_run / "export" / "model.onnx").is_file()


def test_optimizer_options_reach_the_trained_optimizer(tiny_run):
    import keras

    assert json.loads((tiny_run / "config.json").read_text())["optimizer_options"] == {"epsilon": 0.5, "momentum": 0.25}
    optimizer = keras.saving.load_model(tiny_run / "model.keras").optimizer
    assert isinstance(optimizer, keras.optimizers.RMSprop)
    assert (optimizer.epsilon, optimizer.momentum, optimizer.rho) == (0.5, 0.25, 0.9)


def test_console_script_exit_codes(tmp_path):
    script = Path(sys.executable).parent / "deepzoo"
    ok = subprocess.run([str(script), "list", "--pattern", "lenet5"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "lenet5" in ok.stdout
    bad = subprocess.run([str(script), "info", "no_such_model"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("deepzoo info: error: Unknown model")
    usage = subprocess.run([str(script), "train"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2
    assert usage.stderr.splitlines() == ["deepzoo train: error: the following arguments are required: model (see deepzoo train --help)"]


def _train_command(*extra):
    return [
        str(Path(sys.executable).parent / "deepzoo"), "train", "lenet5", "--tiny", "--data", "digits",
        "--epochs", "30", "--max-examples", "200", "--patience", "0", "--jit", "off", *extra,
    ]  # fmt: skip


def test_killed_run_without_run_dir_resumes_with_the_same_command(tmp_path):
    """SIGKILL a run started without --run-dir; the same command finds it, says so, and finishes it
    once, with totals over both sessions. Then the finished run is left alone."""
    process = subprocess.Popen(_train_command(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    first_line = process.stdout.readline().strip()
    assert first_line.startswith("deepzoo train: new run runs/lenet5-digits-"), first_line
    run_dir = tmp_path / first_line.split("new run ", 1)[1]
    history = run_dir / "history.csv"
    deadline = time.time() + 300
    while time.time() < deadline and (not history.is_file() or len(history.read_text().splitlines()) < 4):
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    done = len(history.read_text().splitlines()) - 1
    assert 3 <= done < 30 and (run_dir / "backup").is_dir() and not (run_dir / "model.keras").exists()
    assert (run_dir / "run.json").is_file(), "train() did not record the run (pipelines.runs.RunTotals.begin)"
    seconds_before = json.loads((run_dir / "run.json").read_text())["totals"]["train_seconds"]

    resumed = subprocess.run(_train_command(), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.splitlines()[0].startswith(f"deepzoo train: resuming unfinished run {run_dir.relative_to(tmp_path)} ("), resumed.stdout[:500]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [run_dir.name]
    epochs = [int(line.split(",")[0]) for line in history.read_text().splitlines()[1:]]
    assert epochs[-1] == 29 and epochs.count(29) == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 30  # the whole run, not the resumed session's part
    assert metrics["train_seconds"] > seconds_before > 0

    # Once finished, the same command starts a new folder beside it (resolve_run_dir is what train calls).
    from pipelines.runs import resolve_run_dir
    from pipelines.train import TrainConfig

    config = TrainConfig(model="lenet5", data="digits", model_config="tiny", epochs=30, max_examples=200, early_stopping_patience=0)
    assert resolve_run_dir(config, root=tmp_path / "runs") == (run_dir.parent / f"{run_dir.name}-2", False)


def test_a_finished_run_directory_is_refused(capsys, tiny_run):
    code, _, err = run_cli(capsys, "train", "lenet5", "--tiny", "--data", "digits", "--epochs", "2", "--run-dir", str(tiny_run))
    assert code == 2 and "holds a finished run" in err and len(err.strip().splitlines()) == 1
