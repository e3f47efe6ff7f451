"""`deepzoo export` and `deepzoo bench` through the CLI: the happy paths write what they say, and
bad input (unknown format, missing run, flags that do not combine) exits 2 with one line."""

import json

import pytest

from deepzoo.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from pipelines.train import train

    out = tmp_path_factory.mktemp("run") / "lenet5-digits"
    train(
        "lenet5", "digits", run_dir=out, model_config="tiny", epochs=4, batch_size=32, learning_rate=3e-3,
        max_examples=300, jit="off", early_stopping_patience=0, progress=None,
    )
    return out


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_quantised_with_int8_io(run_dir, tmp_path, capsys):
    out = tmp_path / "export"
    code, stdout, _ = cli(capsys, "export", run_dir, "--format", "onnx,tflite_int8", "--int8-io", "--calibration-samples", "50", "--out", out)
    assert code == 0, stdout
    assert "tflite_int8     verified" in stdout and "accuracy" in stdout and f"export directory: {out}" in stdout
    meta = json.loads((out / "deepzoo.json").read_text())
    int8 = meta["artifacts"]["tflite_int8"]
    assert int8["io_dtype"] == "int8" and int8["calibration_examples"] == 50
    assert "train split" in int8["calibration_source"] and int8["metric"]["targets"] == "ground truth"
    assert meta["artifacts"]["onnx"]["verified"]


def test_export_run_exports_the_tasks_endpoint(run_dir, tmp_path, monkeypatch):
    """export_run exports `Task.export_endpoint(model)`, not the bare model: names come from it."""
    import keras

    from export import export_run
    from tasks import get_task

    def endpoint(model, format=None):
        image = keras.Input(tuple(model.inputs[0].shape[1:]), name="image")
        return keras.Model(image, {"probabilities": model(image)})

    monkeypatch.setattr(get_task("classification"), "export_endpoint", endpoint)
    (result,) = export_run(run_dir, formats=["onnx"], out_dir=tmp_path / "export")["results"]
    assert result.verified, result.error
    meta = json.loads((tmp_path / "export" / "deepzoo.json").read_text())
    assert [t["name"] for t in meta["inputs"]] == ["image"] and [t["name"] for t in meta["outputs"]] == ["probabilities"]
    assert meta["artifacts"]["onnx"]["metric"]["name"] == "accuracy" and meta["artifacts"]["onnx"]["metric"]["targets"] == "ground truth"


def test_export_to_a_repository(run_dir, tmp_path, capsys):
    code, stdout, _ = cli(capsys, "export", run_dir, "--format", "onnx", "--repository", tmp_path, "--name", "digits", "--version", "7")
    assert code == 0, stdout
    assert (tmp_path / "digits" / "7" / "model.onnx").is_file() and (tmp_path / "digits" / "config.pbtxt").is_file()
    assert "repository version:" in stdout


def test_bench_writes_markdown_json_and_png(run_dir, tmp_path, capsys):
    code, stdout, _ = cli(
        capsys, "bench", run_dir, "--format", "savedmodel,tflite", "--batch", "4", "--rounds", "1", "--seconds", "0.02",
        "--samples", "20", "--export-dir", tmp_path / "export", "--out", tmp_path / "bench",
    )
    assert code == 0, stdout
    report = json.loads((tmp_path / "bench" / "bench.json").read_text())
    rows = {row["name"]: row for row in report["rows"]}
    assert list(rows) == ["keras predict", "keras predict (jit_compile)", "savedmodel serving_default", "savedmodel serving_xla", "tflite"]
    for row in rows.values():
        assert row["error"] is None, row
        assert set(row["latency_ms"]) == {"1", "N"} and row["latency_ms"]["1"]["p95"] >= row["latency_ms"]["1"]["p50"] > 0
        assert row["throughput"] > 0 and row["speedup"]["1"] > 0 and row["metric"] is not None
    assert rows["keras predict"]["speedup"] == {"1": 1.0, "N": 1.0}
    assert rows["tflite"]["max_abs_diff"] < 1e-4 and rows["tflite"]["size_bytes"] > 0
    assert set(report["xla"]) == {"keras predict (jit_compile) vs keras predict", "savedmodel serving_xla vs savedmodel serving_default"}
    assert (tmp_path / "bench" / "bench.png").stat().st_size > 1000
    markdown = (tmp_path / "bench" / "bench.md").read_text()
    assert "| tflite | litert |" in markdown and "speed-up b1" in markdown and "| savedmodel serving_xla |" in stdout


@pytest.mark.parametrize(
    "argv, message",
    [
        (("export", "{run}", "--format", "onnx,coreml"), "Unknown export format 'coreml'"),
        (("export", "{missing}"), "Not a run directory"),
        (("export", "{run}", "--name", "x"), "--name and --version apply to --repository"),
        (("export", "{run}", "--repository", "{tmp}", "--version", "0", "--format", "onnx"), "Version must be a positive integer"),
        (("export", "{run}", "--opset", "3", "--format", "onnx"), "opset must be an integer in"),
        (("bench", "{missing}"), "Not a run directory"),
        (("bench", "{run}", "--batch", "1"), "batch_size must be an integer >= 2"),
        (("bench", "{run}", "--format", "pt"), "Unknown export format 'pt'"),
    ],
)
def test_bad_input_exits_2_with_one_line(run_dir, tmp_path, capsys, argv, message):
    values = {"run": run_dir, "missing": tmp_path / "no-such-run", "tmp": tmp_path / "repo"}
    code, _, stderr = cli(capsys, *(arg.format(**values) for arg in argv))
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1 and message in stderr, stderr
    assert not (tmp_path / "repo").exists() or not any((tmp_path / "repo").rglob("*.onnx"))
