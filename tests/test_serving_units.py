"""Serving parts without a server: the dynamic batcher, request validation, repository config and
artifact choice, the CLI's bad-input errors, and the rule that serving never imports training code."""

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from serving.batching import DynamicBatcher
from serving.errors import BadRequest, Unavailable
from serving.repository import ModelConfig, _select_artifact, load_repository
from serving.tensors import TensorSpec, array_from_json, check_inputs


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Overrides the suite's per-test Keras reset: nothing here touches Keras."""
    yield


SPEC = TensorSpec("input", (-1, 3), np.dtype(np.float32))


class RecordingRuntime:
    """Doubles its input; records the batch sizes it was called with."""

    thread_safe = True

    def __init__(self, delay=0.0):
        self.delay = delay
        self.batches = []
        self.lock = threading.Lock()

    def run(self, feeds):
        with self.lock:
            self.batches.append(len(feeds["input"]))
        time.sleep(self.delay)
        return {"output": feeds["input"] * 2}


def _run_requests(runtime, payloads, **batcher_args):
    async def main():
        batcher = DynamicBatcher([runtime], **batcher_args)
        batcher.start()
        results = await asyncio.gather(*(batcher.infer({"input": p}, len(p)) for p in payloads))
        await batcher.close(5)
        return results

    return asyncio.run(main())


def test_batcher_groups_concurrent_requests_and_returns_each_its_own_rows():
    runtime = RecordingRuntime(delay=0.01)
    payloads = [np.full((1 + i % 3, 3), i, np.float32) for i in range(40)]
    results = _run_requests(runtime, payloads, max_batch_size=16, max_queue_delay_s=0.02)
    for payload, result in zip(payloads, results):
        np.testing.assert_array_equal(result["output"], payload * 2)
    assert sum(runtime.batches) == sum(len(p) for p in payloads)
    assert max(runtime.batches) <= 16
    assert len(runtime.batches) < len(payloads)  # requests really were grouped


def test_batcher_chunks_an_oversized_request_and_never_mixes_shapes():
    runtime = RecordingRuntime()
    big = np.ones((10, 3), np.float32)
    wide = np.ones((1, 5), np.float32)
    results = _run_requests(runtime, [np.ones((1, 3), np.float32), big, wide], max_batch_size=4, max_queue_delay_s=0.01)
    np.testing.assert_array_equal(results[1]["output"], big * 2)
    assert results[2]["output"].shape == (1, 5)
    assert max(runtime.batches) <= 4  # the 10-row request ran alone, in chunks of 4, 4 and 2


def test_batcher_zero_delay_does_not_wait_and_runtime_errors_reach_callers():
    class Failing(RecordingRuntime):
        def run(self, feeds):
            raise RuntimeError("boom")

    started = time.monotonic()
    _run_requests(RecordingRuntime(), [np.ones((1, 3), np.float32)], max_batch_size=8, max_queue_delay_s=0.0)
    assert time.monotonic() - started < 2
    with pytest.raises(RuntimeError, match="boom"):
        _run_requests(Failing(), [np.ones((1, 3), np.float32)], max_batch_size=8, max_queue_delay_s=0.0)


def test_batcher_flush_cuts_the_queueing_delay():
    async def main():
        batcher = DynamicBatcher([RecordingRuntime()], max_batch_size=8, max_queue_delay_s=30.0)
        batcher.start()
        task = asyncio.ensure_future(batcher.infer({"input": np.ones((1, 3), np.float32)}, 1))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        batcher.flush()
        await asyncio.wait_for(task, 5)
        await batcher.close(5)
        return time.monotonic() - started

    assert asyncio.run(main()) < 2


def test_batcher_close_never_leaves_a_caller_hanging():
    async def main():
        batcher = DynamicBatcher([RecordingRuntime(delay=1.0)], max_batch_size=8, max_queue_delay_s=30.0)
        batcher.start()
        tasks = [asyncio.ensure_future(batcher.infer({"input": np.ones((1, 3), np.float32)}, 1)) for _ in range(3)]
        await asyncio.sleep(0.05)
        await batcher.close(timeout=0.0)  # no grace: the running batch is cut off
        done, pending = await asyncio.wait(tasks, timeout=5)
        with pytest.raises(Unavailable):
            await batcher.infer({"input": np.ones((1, 3), np.float32)}, 1)
        return done, pending

    done, pending = asyncio.run(main())
    assert not pending and all(isinstance(t.exception(), Unavailable) for t in done)


@pytest.mark.parametrize(
    "data, message",
    [
        ([[1, 2, 3], [4, 5]], "rectangular"),
        ([["a", "b", "c"]], "strings"),
        ([[None, 1, 2]], "nulls"),
        ([[10**40, 1, 2]], "out-of-range"),
        ([[True, False, True]], "booleans"),
    ],
)
def test_json_data_is_refused_not_coerced(data, message):
    with pytest.raises(BadRequest, match=message):
        array_from_json(data, SPEC, "input 'input'")


def test_input_checks_name_the_problem():
    ok = {"input": np.zeros((2, 3), np.float32)}
    assert check_inputs(ok, [SPEC]) == 2
    for feeds, message in [
        ({}, "Missing input"),
        ({**ok, "other": ok["input"]}, "Unknown input"),
        ({"input": np.zeros((2, 4), np.float32)}, "expected shape"),
        ({"input": np.zeros((0, 3), np.float32)}, "at least 1"),
    ]:
        with pytest.raises(BadRequest, match=message):
            check_inputs(feeds, [SPEC])


def test_model_config_validation_and_precedence():
    defaults = ModelConfig().updated({"max_batch_size": 8}, "flags")
    assert defaults.updated({"max_queue_delay_ms": 2}, "serving.json") == ModelConfig(max_batch_size=8, max_queue_delay_ms=2)
    assert ModelConfig().max_batch_size is None  # 32 on an accelerator, 1 on CPU: decided per runtime
    with pytest.raises(ValueError, match="max_batch_size"):
        ModelConfig(max_batch_size=0)
    with pytest.raises(ValueError, match="Unknown serving config key"):
        defaults.updated({"batch": 3}, "serving.json")


def _touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_artifact_choice_prefers_verified_onnx_then_tflite(tmp_path):
    _touch(tmp_path, "model.onnx", "model.tflite", "saved_model.pb", "model_int8.tflite")
    artifacts = {
        "onnx": {"path": "model.onnx", "verified": False},
        "tflite": {"path": "model.tflite", "verified": True},
        "savedmodel": {"path": "saved_model.pb", "verified": True},
        "tflite_int8": {"path": "model_int8.tflite", "verified": True},
        "evil": {"path": "../../etc/passwd"},
    }
    assert _select_artifact(tmp_path, {"artifacts": artifacts}, "auto")[0] == "tflite"
    assert _select_artifact(tmp_path, {"artifacts": artifacts}, "tflite_int8")[1].name == "model_int8.tflite"
    assert _select_artifact(tmp_path, {}, "auto")[0] == "onnx"  # bare folder: files alone
    with pytest.raises(ValueError, match="No 'onnx_fp16' artifact"):
        _select_artifact(tmp_path, {"artifacts": artifacts}, "onnx_fp16")


def test_repository_errors_and_a_broken_version_does_not_stop_the_others(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        load_repository(tmp_path / "missing")
    with pytest.raises(ValueError, match="No models"):
        load_repository(tmp_path)
    _touch(tmp_path / "broken" / "1", "model.onnx")  # garbage bytes
    with pytest.raises(ValueError, match="could be loaded"):
        load_repository(tmp_path)
    (tmp_path / "broken" / "serving.json").write_text(json.dumps({"max_batch": 3}))
    with pytest.raises(ValueError, match="Unknown serving config key"):
        load_repository(tmp_path)


def test_listening_socket_is_tcp_so_responses_are_not_delayed():
    import socket

    from serving.server import bind_socket

    # asyncio turns on TCP_NODELAY only for sockets created with IPPROTO_TCP; without it each
    # response waited ~40 ms for the client's delayed ACK.
    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP and sock.getsockname()[1] > 0
        sock.listen()
        with pytest.raises(ValueError, match="Cannot listen on 127.0.0.1"):
            bind_socket("127.0.0.1", sock.getsockname()[1])  # port in use: one-line error, exit 2
    finally:
        sock.close()


def _serve_args(*argv):
    import argparse

    from deepzoo import cli_serve

    parser = argparse.ArgumentParser()
    cli_serve.register(parser.add_subparsers())
    return parser.parse_args(["serve", *argv])


def test_cli_bad_input_is_a_one_line_value_error(tmp_path):
    from deepzoo import cli_serve

    for argv, message in [
        ([str(tmp_path / "missing")], "not found"),
        ([str(tmp_path)], "No models"),
        ([str(tmp_path), "--port", "70000"], "--port"),
        ([str(tmp_path), "--max-batch-size", "0"], "max_batch_size"),
        ([str(tmp_path), "--max-request-bytes", "0"], "--max-request-bytes"),
    ]:
        args = _serve_args(*argv)
        with pytest.raises(ValueError, match=message) as info:
            args.handler(args)
        assert "\n" not in str(info.value)
    assert cli_serve.main([str(tmp_path / "missing")]) == 2


def test_serving_never_imports_training_or_export_code():
    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "serving").glob("*.py")) + [root / "deepzoo" / "cli_serve.py"]:
        for line in path.read_text().splitlines():
            stripped = line.strip()
            assert not stripped.startswith(("import architectures", "import pipelines", "import export", "from architectures", "from pipelines", "from export")), f"{path.name}: {line}"
    code = (
        "import sys, serving, serving.kserve, serving.tfserving, serving.process, deepzoo.cli_serve;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('architectures', 'pipelines', 'export', 'tensorflow', 'keras'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# --- named, typed tensors -------------------------------------------------------------------------


def test_batcher_concatenates_every_named_input_of_each_request():
    class TwoInputs:
        thread_safe = True
        batches = []

        def run(self, feeds):
            self.batches.append({name: value.shape for name, value in feeds.items()})
            return {"sum": feeds["image"].sum(axis=1) + feeds["ids"].sum(axis=1), "words": feeds["text"]}

    async def main():
        batcher = DynamicBatcher([TwoInputs()], max_batch_size=8, max_queue_delay_s=0.05)
        batcher.start()
        requests = [
            {"image": np.full((1, 2), i, np.float32), "ids": np.full((1, 3), i, np.int64), "text": np.array([f"w{i}".encode()], dtype=object)}
            for i in range(6)
        ]
        results = await asyncio.gather(*(batcher.infer(r, 1) for r in requests))
        await batcher.close(5)
        return results

    results = asyncio.run(main())
    for index, result in enumerate(results):
        assert result["sum"].tolist() == [5.0 * index] and result["words"].tolist() == [f"w{index}".encode()]
    assert max(batch["ids"][0] for batch in TwoInputs.batches) > 1  # requests were grouped, every input concatenated


def test_bytes_tensors_from_json_base64_and_the_binary_extension():
    from serving.tensors import BYTES_DTYPE, array_from_bytes, bytes_to_buffer

    spec = TensorSpec("text", (-1,), BYTES_DTYPE)
    assert spec.datatype == "BYTES" and spec.tf_dtype == "DT_STRING"
    assert array_from_json(["a", "\u00e9"], spec, "t").tolist() == [b"a", "\u00e9".encode()]
    assert array_from_json([["a"], [{"b64": "/wA="}]], TensorSpec("t", (-1, 1), BYTES_DTYPE), "t", b64=True).tolist() == [[b"a"], [b"\xff\x00"]]
    for data, message, b64 in (([1], "expected BYTES values as strings", False), ([{"b64": "AA=="}], "expected BYTES", False), ([["a"], "b"], "rectangular", True)):
        with pytest.raises(BadRequest, match=message):
            array_from_json(data, spec, "t", b64=b64)
    values = np.array([b"", b"cat", b"\xff" * 300], dtype=object)
    raw = bytes_to_buffer(values)
    assert array_from_bytes(raw, spec, "t", (3,)).tolist() == values.tolist()
    for buffer, shape, message in ((raw[:-1], (3,), "claims 300 bytes"), (raw, (2,), "left over"), (raw[:2], (1,), "ends inside element 0")):
        with pytest.raises(BadRequest, match=message):
            array_from_bytes(buffer, spec, "t", shape)


def test_non_finite_values_are_refused_unless_allowed_and_written_as_strings():
    from serving.app import json_bytes
    from serving.tensors import json_values

    feeds = {"input": np.array([[1.0, np.nan, 2.0]], np.float32)}
    with pytest.raises(BadRequest, match="NaN and Infinity are not accepted"):
        check_inputs(feeds, [SPEC])
    assert check_inputs(feeds, [SPEC], allow_non_finite=True) == 1
    assert json_values(np.array([np.nan, np.inf, -np.inf, 1.5])) == ["NaN", "Infinity", "-Infinity", 1.5]
    assert json_values(np.array([b"\xff"], dtype=object), b64=True) == [{"b64": "/w=="}]
    body = json_bytes({"scores": [[float("nan"), 0.5]], "x": float("-inf")})

    def refuse(token):
        raise ValueError(token)

    assert json.loads(body, parse_constant=refuse) == {"scores": [["NaN", 0.5]], "x": "-Infinity"}
    with pytest.raises(ValueError, match="allow_non_finite must be true or false"):
        ModelConfig(allow_non_finite="yes")


def test_served_tensors_follow_the_metadata_order_and_must_match_the_artifact():
    from serving.repository import _ordered_specs

    artifact = [TensorSpec("b", (-1, -1), np.dtype(np.int32)), TensorSpec("a", (-1, 3), np.dtype(np.float32))]
    described = [{"name": "a", "shape": [-1, 3], "dtype": "float32"}, {"name": "b", "shape": [-1, 6], "dtype": "int32"}]
    ordered = _ordered_specs(artifact, described, "inputs")
    assert [(s.name, s.shape) for s in ordered] == [("a", (-1, 3)), ("b", (-1, 6))]
    with pytest.raises(ValueError, match="differ from those deepzoo.json lists"):
        _ordered_specs(artifact, described[:1], "inputs")
    assert _ordered_specs(artifact, None, "inputs") == artifact
