"""The benchmark scripts stay runnable: each parses its arguments, and the serving benchmark's
reference servers (transport floor, leanest inference server) answer like the real one would."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_script_parses_its_arguments(script):
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout


def _bench_serving():
    spec = importlib.util.spec_from_file_location("bench_serving", next(p for p in BENCHMARKS if p.stem == "bench_serving"))
    bench_serving = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_serving)
    return bench_serving


def test_bare_server_reads_the_body_and_replies_with_the_requested_size():
    bench_serving = _bench_serving()
    import numpy as np

    body, headers = bench_serving.infer_body(np.zeros((1, 8, 8, 3), np.float32))
    with bench_serving.ReferenceServer("--bare-server", 4321) as bare:
        client = bench_serving.Client(bare.port, timeout=30)
        status, _, data = client.post("/", body, headers)
        client.close()
    assert status == 200 and len(data) == 4321
    assert bare.process.returncode is not None  # stopped on leaving the block


def test_lean_server_runs_the_model_and_answers_like_the_real_server(tmp_path):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["output"])],
        "relu",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 4, 4, 3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [None, 4, 4, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "model.onnx")
    bench_serving = _bench_serving()
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 3)).astype(np.float32)
    body, headers = bench_serving.infer_body(x)
    with bench_serving.ReferenceServer("--lean-server", tmp_path / "model.onnx") as lean:
        client = bench_serving.Client(lean.port, timeout=30)
        y = client.infer("any", body, headers)
        client.close()
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_suite_budget_sums_the_sweep_columns_and_projects_the_registry(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_test_suite", next(p for p in BENCHMARKS if p.stem == "bench_test_suite"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = tmp_path / "report.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_registry_sweep" name="test_tiny_config_sweep[a]" time="2.0"/>'
        '<testcase classname="tests.test_registry_sweep" name="test_tiny_config_sweep[b]" time="4.0"/>'
        '<testcase classname="tests.test_registry_sweep" name="test_xla_column[a]" time="10.0"/>'
        '<testcase classname="tests.test_export_sweep" name="test_export_parity[a]" time="6.0"/>'
        '<testcase classname="tests.test_cli" name="test_help" time="60.0"/>'
        "</testsuite></testsuites>"
    )
    text = bench.summarise(bench.read_report(report), workers=2, rows=10)
    assert "| tiny sweep (build, forward, train check, round trip) | 2 | 6 | 3.0 | 3 | b 4 |" in text
    assert "| XLA column (train check XLA-compiled + endpoint, in a child process) | 1 | 10 | 10.0 | 6 | a 10 |" in text
    assert "test_cli: 60 s" in text
    # 10 rows: tiny 3.0 x 10 + XLA 10 x 10 x (1 of 2 builds distinct) + export 6 x 10 x 1/2, plus 60, over 2 workers.
    assert f"~{(30 + 50 + 30 + 60) / 2 / 60:.1f} min" in text
    # Never projected below today's registry: 1 row asked, 2 registered.
    assert f"~{(6 + 10 + 6 + 60) / 2 / 60:.1f} min" in bench.summarise(bench.read_report(report), workers=2, rows=1)
