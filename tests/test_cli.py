"""Each CLI command, in process (fast) and once through the installed console script (exit codes)."""

import json
import subprocess
import sys
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
    code, out, _ = run_cli(capsys, "info", "lenet5")
    assert code == 0 and json.loads(out)["reference_params"] == 61_706


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
        (("eval", "/nonexistent/run"), "Not a run directory"),
        (("export", "/nonexistent/run"), "Not a run directory"),
        (("check", "--family", "nope"), "Unknown family 'nope'"),
        (("check", "--columns", "build,speed"), "Unknown check columns"),
        (("list", "--family", "nope"), "No registered model matches"),
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
    assert usage.returncode == 2 and "usage:" in usage.stderr
