"""The benchmark scripts stay runnable: each parses its arguments, and the serving benchmark's
transport-floor server answers like the real one would."""

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


def test_bare_server_reads_the_body_and_replies_with_the_requested_size():
    spec = importlib.util.spec_from_file_location("bench_serving", next(p for p in BENCHMARKS if p.stem == "bench_serving"))
    bench_serving = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_serving)
    import numpy as np

    body, headers = bench_serving.infer_body(np.zeros((1, 8, 8, 3), np.float32))
    with bench_serving.BareServer(reply_bytes=4321) as bare:
        client = bench_serving.Client(bare.port, timeout=30)
        status, _, data = client.post("/", body, headers)
        client.close()
    assert status == 200 and len(data) == 4321
    assert bare.process.returncode is not None  # stopped on leaving the block
