"""The real server (`deepzoo serve` in a child process on a free loopback port) against independent
clients: tritonclient for the Open Inference Protocol (KServe v2), plain `requests` for the
TensorFlow Serving REST API. Also: each runtime, batching under concurrency, every class of bad
input, metrics, OpenAPI, JSON logs and a graceful shutdown with a request in flight."""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import requests

from serving.process import ServerProcess, ServerThread

LABELS = ["zero", "one", "two", "three"]
MAX_REQUEST_BYTES = 256 * 1024
TIMEOUT = 30


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Overrides the suite's per-test Keras reset: these tests build no Keras state per test."""
    yield


@pytest.fixture(scope="module")
def triton():
    """tritonclient's HTTP client: an independent Open Inference Protocol implementation."""
    return pytest.importorskip("tritonclient.http")


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    import architectures
    import export

    out = tmp_path_factory.mktemp("export") / "lenet5"
    model = architectures.create_model("lenet5", config="tiny")
    export.export_model(model, out, formats="all", metadata={"task": "classification", "labels": LABELS}, strict=True)
    return out


def _place(export_dir, root, name, version=1, config=None):
    shutil.copytree(export_dir, root / name / str(version))
    if config is not None:
        (root / name / "serving.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def repository(export_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    _place(export_dir, root, "lenet", 1)
    _place(export_dir, root, "lenet", 2)
    _place(export_dir, root, "lenet_tflite", config={"runtime": "tflite"})
    _place(export_dir, root, "lenet_batched", config={"max_batch_size": 8, "max_queue_delay_ms": 300})
    return root


@pytest.fixture(scope="module")
def server(repository):
    with ServerProcess(repository, "--max-request-bytes", MAX_REQUEST_BYTES) as process:
        yield process


@pytest.fixture(scope="module")
def reference(export_dir):
    """Raw ONNX Runtime on the same artifact: what every served answer must match."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(export_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    return lambda x: session.run(["output"], {"input": x})[0]


def _images(n, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=(n, 32, 32, 1)).astype(np.float32)


# --- Open Inference Protocol with tritonclient ------------------------------------------------


def test_kserve_health_and_metadata_with_tritonclient(server, triton):
    client = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("lenet") and client.is_model_ready("lenet", "1")
    assert not client.is_model_ready("lenet", "9")
    assert client.get_server_metadata()["name"] == "deepzoo"
    metadata = client.get_model_metadata("lenet")
    assert metadata["versions"] == ["1", "2"] and metadata["platform"] == "onnxruntime_onnx"
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 32, 32, 1]}]
    assert metadata["outputs"] == [{"name": "output", "datatype": "FP32", "shape": [-1, 4]}]
    assert metadata["parameters"]["runtime"] == "onnx" and metadata["parameters"]["labels"] == LABELS
    assert client.get_model_config("lenet_batched")["max_batch_size"] == 8
    assert client.get_model_config("lenet")["max_batch_size"] == 1  # CPU default: no batching
    with pytest.raises(triton.InferenceServerException, match="Unknown model"):
        client.get_model_metadata("nope")


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_kserve_infer_with_tritonclient_matches_onnxruntime(server, triton, reference, binary):
    client = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
    x = _images(3)
    tensor = triton.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    for version in ("", "1", "2"):
        result = client.infer(
            "lenet", [tensor], model_version=version, request_id="r-7", outputs=[triton.InferRequestedOutput("output", binary_data=binary)]
        )
        np.testing.assert_allclose(result.as_numpy("output"), reference(x), rtol=1e-5, atol=1e-6)
        response = result.get_response()
        assert response["id"] == "r-7" and response["model_name"] == "lenet" and response["model_version"] == (version or "2")
    top = client.infer("lenet", [tensor], outputs=[triton.InferRequestedOutput("output", binary_data=binary, class_count=2)])
    best = [entry.decode() if isinstance(entry, bytes) else entry for entry in top.as_numpy("output")[:, 0]]  # bytes if binary
    expected = reference(x).argmax(axis=1)
    assert [int(entry.split(":")[1]) for entry in best] == expected.tolist()
    assert [entry.split(":")[2] for entry in best] == [LABELS[i] for i in expected]


def test_every_runtime_serves_the_same_answers(server, export_dir, tmp_path, reference):
    # The SavedModel runtimes run in an in-process server: this process has TensorFlow imported
    # already (for the export), a child process would spend its start importing it again.
    _place(export_dir, tmp_path, "lenet_savedmodel", config={"runtime": "savedmodel"})
    _place(export_dir, tmp_path, "lenet_xla", config={"runtime": "savedmodel", "xla": True})
    _place(export_dir, tmp_path, "lenet_int8", config={"runtime": "tflite_int8"})
    _add_int8_tflite(tmp_path / "lenet_int8" / "1")
    x = _images(5, seed=1)
    with ServerThread(tmp_path) as tf_server:
        for url, model, platform in [
            (server.url, "lenet_tflite", "litert_tflite"),
            (server.url, "lenet", "onnxruntime_onnx"),
            (tf_server.url, "lenet_savedmodel", "tensorflow_savedmodel"),
            (tf_server.url, "lenet_xla", "tensorflow_savedmodel"),
            (tf_server.url, "lenet_int8", "litert_tflite"),
        ]:
            atol = 0.02 if model == "lenet_int8" else 1e-5  # int8 quantisation error
            metadata = requests.get(f"{url}/v2/models/{model}", timeout=TIMEOUT).json()
            assert metadata["platform"] == platform, metadata
            v2 = requests.post(f"{url}/v2/models/{model}/infer", json=_v2(x.shape, data=x.tolist()), timeout=TIMEOUT).json()
            np.testing.assert_allclose(np.reshape(v2["outputs"][0]["data"], v2["outputs"][0]["shape"]), reference(x), rtol=1e-4, atol=atol)
            rows = requests.post(f"{url}/v1/models/{model}:predict", json={"instances": x[:3].tolist()}, timeout=TIMEOUT).json()
            np.testing.assert_allclose(rows["predictions"], reference(x[:3]), rtol=1e-4, atol=atol)
        assert metadata["parameters"]["artifact_key"] == "tflite_int8"
        xla = requests.get(f"{tf_server.url}/v2/models/lenet_xla", timeout=TIMEOUT).json()
        assert xla["parameters"]["signature"] == "serving_xla"


def _add_int8_tflite(version_dir):
    """A full-integer TFLite (int8 input and output) registered in deepzoo.json as 'tflite_int8'."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(version_dir), signature_keys=["serving_default"])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image[None]] for image in _images(32, seed=9))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    (version_dir / "model_int8.tflite").write_bytes(converter.convert())
    metadata = json.loads((version_dir / "deepzoo.json").read_text())
    metadata["artifacts"]["tflite_int8"] = {"path": "model_int8.tflite", "verified": True}
    (version_dir / "deepzoo.json").write_text(json.dumps(metadata))


# --- TensorFlow Serving REST with requests ----------------------------------------------------


def test_tfserving_status_metadata_predict_and_classify(server, reference):
    base = server.url + "/v1/models/lenet"
    status = requests.get(base, timeout=TIMEOUT).json()
    assert {s["version"] for s in status["model_version_status"]} == {"1", "2"}
    assert all(s["state"] == "AVAILABLE" and s["status"]["error_code"] == "OK" for s in status["model_version_status"])
    one = requests.get(base + "/versions/1", timeout=TIMEOUT).json()["model_version_status"]
    assert [s["version"] for s in one] == ["1"]

    metadata = requests.get(base + "/metadata", timeout=TIMEOUT).json()
    assert metadata["model_spec"] == {"name": "lenet", "signature_name": "", "version": "2"}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["input"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in signature["inputs"]["input"]["tensor_shape"]["dim"]] == ["-1", "32", "32", "1"]

    x = _images(2, seed=2)
    rows = requests.post(base + ":predict", json={"instances": x.tolist()}, timeout=TIMEOUT).json()
    np.testing.assert_allclose(rows["predictions"], reference(x), rtol=1e-5, atol=1e-6)
    named = requests.post(base + "/versions/1:predict", json={"signature_name": "serving_default", "instances": [{"input": r} for r in x.tolist()]}, timeout=TIMEOUT)
    np.testing.assert_allclose(named.json()["predictions"], reference(x), rtol=1e-5, atol=1e-6)
    columns = requests.post(base + ":predict", json={"inputs": {"input": x.tolist()}}, timeout=TIMEOUT).json()
    np.testing.assert_allclose(columns["outputs"], reference(x), rtol=1e-5, atol=1e-6)
    bare = requests.post(base + ":predict", json={"inputs": x.tolist()}, timeout=TIMEOUT).json()
    np.testing.assert_allclose(bare["outputs"], reference(x), rtol=1e-5, atol=1e-6)

    examples = [{"input": image.ravel().tolist()} for image in x]  # tf.Example-style flat features
    result = requests.post(base + ":classify", json={"examples": examples}, timeout=TIMEOUT).json()["result"]
    assert [[label for label, _ in pairs] for pairs in result] == [LABELS, LABELS]
    np.testing.assert_allclose([[score for _, score in pairs] for pairs in result], reference(x), rtol=1e-5, atol=1e-6)


# --- dynamic batching -------------------------------------------------------------------------


def _metric_samples(server, name):
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(server.url + "/metrics", timeout=TIMEOUT).text
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def test_concurrent_requests_are_batched_and_each_caller_gets_its_own_result(server, reference):
    callers = 24
    images = _images(callers, seed=3)
    barrier = threading.Barrier(callers)

    def call(index):
        barrier.wait(TIMEOUT)
        response = requests.post(
            server.url + "/v2/models/lenet_batched/infer",
            json={"id": str(index), "inputs": [{"name": "input", "shape": [1, 32, 32, 1], "datatype": "FP32", "data": images[index].ravel().tolist()}]},
            timeout=TIMEOUT,
        )
        return response.status_code, response.json()

    with concurrent.futures.ThreadPoolExecutor(callers) as pool:
        answers = list(pool.map(call, range(callers)))
    expected = reference(images)
    for index, (status, body) in enumerate(answers):
        assert status == 200 and body["id"] == str(index)
        np.testing.assert_allclose(body["outputs"][0]["data"], expected[index], rtol=1e-5, atol=1e-6)
    labels = {"model": "lenet_batched", "version": "1"}
    batches = next(s.value for s in _metric_samples(server, "deepzoo_batch_size_count") if s.labels == labels)
    rows = next(s.value for s in _metric_samples(server, "deepzoo_batch_size_sum") if s.labels == labels)
    assert rows == callers and batches < callers / 2, (rows, batches)
    cumulative = {float(s.labels["le"]): s.value for s in _metric_samples(server, "deepzoo_batch_size_bucket") if s.labels.get("model") == "lenet_batched"}
    assert cumulative[4.0] < batches and cumulative[8.0] == batches  # some batch held over 4 rows, none over max_batch_size 8


# --- bad input --------------------------------------------------------------------------------


def _v2(shape=(1, 32, 32, 1), datatype="FP32", data=None, name="input"):
    count = int(np.prod(shape))
    return {"inputs": [{"name": name, "shape": list(shape), "datatype": datatype, "data": [0.5] * count if data is None else data}]}


def _binary(declared, sent):
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 32, 32, 1], "datatype": "FP32", "parameters": {"binary_data_size": declared}}]}).encode()
    return {"data": header + b"\0" * sent, "headers": {"Inference-Header-Content-Length": str(len(header))}}


BAD_REQUESTS = [
    # (id, method, path, kwargs, expected status, text the error must contain)
    ("v2-malformed-json", "POST", "/v2/models/lenet/infer", {"data": b'{"inputs": [', "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
    ("v2-not-an-object", "POST", "/v2/models/lenet/infer", {"json": [1, 2]}, 400, "JSON object"),
    ("v2-wrong-datatype", "POST", "/v2/models/lenet/infer", {"json": _v2(datatype="INT32")}, 400, "Expected: FP32"),
    ("v2-unknown-datatype", "POST", "/v2/models/lenet/infer", {"json": _v2(datatype="FLOAT")}, 400, "unknown datatype"),
    ("v2-string-data", "POST", "/v2/models/lenet/infer", {"json": _v2(shape=(1, 1, 1, 1), data=["x"])}, 400, "strings"),
    ("v2-wrong-shape", "POST", "/v2/models/lenet/infer", {"json": _v2(shape=(1, 28, 28, 1))}, 400, "expected shape [-1, 32, 32, 1]"),
    ("v2-shape-data-mismatch", "POST", "/v2/models/lenet/infer", {"json": _v2(data=[0.0] * 5)}, 400, "holds 1024 elements but data has 5"),
    ("v2-negative-shape", "POST", "/v2/models/lenet/infer", {"json": _v2(shape=(-1, 32, 32, 1), data=[0.0])}, 400, "non-negative"),
    ("v2-missing-inputs", "POST", "/v2/models/lenet/infer", {"json": {"inputs": []}}, 400, "'inputs' must be a non-empty list"),
    ("v2-missing-data", "POST", "/v2/models/lenet/infer", {"json": {"inputs": [{"name": "input", "shape": [1, 32, 32, 1], "datatype": "FP32"}]}}, 400, "'data' is missing"),
    ("v2-unknown-input", "POST", "/v2/models/lenet/infer", {"json": _v2(name="image")}, 400, "Unknown input 'image'"),
    ("v2-unknown-output", "POST", "/v2/models/lenet/infer", {"json": {**_v2(), "outputs": [{"name": "logits"}]}}, 400, "Unknown output 'logits'"),
    ("v2-empty-batch", "POST", "/v2/models/lenet/infer", {"json": _v2(shape=(0, 32, 32, 1), data=[])}, 400, "at least 1"),
    ("v2-binary-size-mismatch", "POST", "/v2/models/lenet/infer", _binary(declared=4096, sent=10), 400, "binary_data_size"),
    ("v2-binary-wrong-size", "POST", "/v2/models/lenet/infer", _binary(declared=12, sent=12), 400, "needs 4096 bytes"),
    ("v2-unknown-model", "POST", "/v2/models/nope/infer", {"json": _v2()}, 404, "Unknown model 'nope'"),
    ("v2-unknown-version", "POST", "/v2/models/lenet/versions/9/infer", {"json": _v2()}, 404, "Unknown version '9'"),
    ("v2-oversized", "POST", "/v2/models/lenet/infer", {"json": _v2(shape=(64, 32, 32, 1))}, 413, "exceeds the limit"),
    ("v2-bad-gzip", "POST", "/v2/models/lenet/infer", {"data": b"not gzip", "headers": {"Content-Encoding": "gzip"}}, 400, "gzip"),
    ("v1-malformed-json", "POST", "/v1/models/lenet:predict", {"data": b"{instances: 1}"}, 400, "not valid JSON"),
    ("v1-wrong-dtype", "POST", "/v1/models/lenet:predict", {"json": {"instances": [[["a"] * 32] * 32]}}, 400, "expected FP32 values"),
    ("v1-wrong-shape", "POST", "/v1/models/lenet:predict", {"json": {"instances": [[1.0, 2.0]]}}, 400, "expected shape"),
    ("v1-ragged", "POST", "/v1/models/lenet:predict", {"json": {"instances": [[1.0, 2.0], [3.0]]}}, 400, "rectangular"),
    ("v1-missing-inputs", "POST", "/v1/models/lenet:predict", {"json": {"signature_name": "serving_default"}}, 400, "exactly one of 'instances'"),
    ("v1-both-formats", "POST", "/v1/models/lenet:predict", {"json": {"instances": [1], "inputs": [1]}}, 400, "exactly one of 'instances'"),
    ("v1-unknown-signature", "POST", "/v1/models/lenet:predict", {"json": {"signature_name": "train", "instances": [1]}}, 400, "signature"),
    ("v1-unknown-named-input", "POST", "/v1/models/lenet:predict", {"json": {"inputs": {"image": [1]}}}, 400, "unknown input"),
    ("v1-classify-wrong-feature", "POST", "/v1/models/lenet:classify", {"json": {"examples": [{"pixels": [1.0]}]}}, 400, "feature 'input'"),
    ("v1-classify-wrong-size", "POST", "/v1/models/lenet:classify", {"json": {"examples": [{"input": [1.0, 2.0]}]}}, 400, "expected 1024 values"),
    ("v1-unknown-model", "POST", "/v1/models/nope:predict", {"json": {"instances": [1]}}, 404, "Unknown model 'nope'"),
    ("v1-unknown-version", "GET", "/v1/models/lenet/versions/3/metadata", {}, 404, "Unknown version '3'"),
    ("v1-non-numeric-version", "GET", "/v1/models/lenet/versions/latest", {}, 404, "Unknown version 'latest'"),
    ("v1-oversized", "POST", "/v1/models/lenet:predict", {"data": b"[" + b"0.5," * 100_000 + b"0]"}, 413, "exceeds the limit"),
    ("unknown-route", "GET", "/v3/anything", {}, 404, "Not Found"),
    ("wrong-method", "DELETE", "/v2/models/lenet", {}, 405, "Method Not Allowed"),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[case[0] for case in BAD_REQUESTS])
def test_bad_input_gets_a_4xx_json_error_naming_the_problem(server, case):
    _, method, path, kwargs, status, text = case
    response = requests.request(method, server.url + path, timeout=TIMEOUT, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert text in response.json()["error"], response.json()


def test_server_is_unharmed_by_bad_input_and_reports_it(server, reference):
    for _, method, path, kwargs, _, _ in BAD_REQUESTS:
        requests.request(method, server.url + path, timeout=TIMEOUT, **kwargs)
    assert requests.get(server.url + "/v2/health/live", timeout=TIMEOUT).status_code == 200
    assert requests.get(server.url + "/v2/health/ready", timeout=TIMEOUT).status_code == 200
    x = _images(1, seed=4)
    good = requests.post(server.url + "/v1/models/lenet:predict", json={"instances": x.tolist()}, timeout=TIMEOUT)
    np.testing.assert_allclose(good.json()["predictions"], reference(x), rtol=1e-5, atol=1e-6)
    codes = {s.labels["code"] for s in _metric_samples(server, "deepzoo_http_requests_total")}
    assert {"200", "400", "404", "405", "413"} <= codes and not any(code.startswith("5") for code in codes)
    assert server.process.poll() is None


# --- operations -------------------------------------------------------------------------------


def test_metrics_openapi_and_structured_logs(server):
    requests.get(server.url + "/v2/models/lenet/ready", timeout=TIMEOUT)
    names = {s.name for s in _metric_samples(server, "deepzoo_queue_depth")}
    assert names == {"deepzoo_queue_depth"}
    text = requests.get(server.url + "/metrics", timeout=TIMEOUT).text
    for metric in ("deepzoo_http_requests_total", "deepzoo_http_request_duration_seconds_bucket", "deepzoo_batch_size_bucket", "deepzoo_inference_requests_total"):
        assert metric in text
    paths = requests.get(server.url + "/openapi.json", timeout=TIMEOUT).json()["paths"]
    for path in ("/v2/health/live", "/v2/models/{model_name}/infer", "/v2/models/{model_name}/versions/{model_version}/infer", "/v1/models/{model_name}:predict", "/v1/models/{model_name}:classify", "/metrics"):
        assert path in paths
    assert "requestBody" in paths["/v2/models/{model_name}/infer"]["post"]
    time.sleep(0.2)  # the access-log line is written after the response
    logs = server.logs()
    assert logs and all(isinstance(entry, dict) for entry in logs), [e for e in logs if not isinstance(e, dict)][:3]
    assert any(e.get("event") == "request" and e.get("route") == "/v2/models/{model_name}/ready" and e.get("status") == 200 for e in logs)
    assert {e["model"] for e in logs if e.get("event") == "model_loaded"} == {"lenet", "lenet_tflite", "lenet_batched"}


def test_metrics_count_each_request_in_its_own_series(server):
    """The metric children are looked up once and reused: each update must still land in the series
    of its own route, status and model, and in no other."""

    def value(name, **labels):
        return sum(s.value for s in _metric_samples(server, name) if all(s.labels.get(k) == v for k, v in labels.items()))

    ready = {"route": "/v2/models/{model_name}/ready", "method": "GET"}

    def counts():
        return {
            "ready 200": value("deepzoo_http_requests_total", **ready, code="200"),
            "ready 404": value("deepzoo_http_requests_total", **ready, code="404"),
            "lenet 2 success": value("deepzoo_inference_requests_total", model="lenet", version="2", outcome="success"),
            "lenet 1 success": value("deepzoo_inference_requests_total", model="lenet", version="1", outcome="success"),
            "lenet 2 batches": value("deepzoo_batch_size_count", model="lenet", version="2"),
        }

    before = counts()
    for _ in range(3):
        assert requests.get(server.url + "/v2/models/lenet/ready", timeout=TIMEOUT).status_code == 200
    assert requests.get(server.url + "/v2/models/no_such_model/ready", timeout=TIMEOUT).status_code == 404
    for _ in range(2):
        assert requests.post(server.url + "/v2/models/lenet/infer", json=_v2(), timeout=TIMEOUT).status_code == 200
    after = counts()
    assert {k: after[k] - before[k] for k in before} == {"ready 200": 3, "ready 404": 1, "lenet 2 success": 2, "lenet 1 success": 0, "lenet 2 batches": 2}


def test_onnx_runtime_workers_stop_spinning_soon_after_a_run(export_dir):
    # ONNX Runtime's default leaves idle workers spinning for tens of ms after each run, on the
    # cores the event loop needs; the server keeps spinning inside a run and bounds it after.
    from serving.runtimes import INTRA_OP_SPIN_US, OnnxRuntime

    runtime = OnnxRuntime(export_dir / "model.onnx", {})
    assert runtime.session.get_session_options().get_session_config_entry("session.intra_op.spin_duration_us") == str(INTRA_OP_SPIN_US)


# `deepzoo serve` through the console script's `main`, with `serving.serve` replaced by a probe
# that reports whether TensorFlow is loaded once the repository is, and the runtime chosen.
_SERVE_PROBE = """
import json, sys
import serving

def probe(repository, **kwargs):
    print(json.dumps({"tensorflow": "tensorflow" in sys.modules, "runtimes": [v.runtime.kind for v in repository.versions()]}))
    return 0

serving.serve = probe
from deepzoo.cli import main
sys.exit(main(["serve", *sys.argv[1:]]))
"""


@pytest.mark.parametrize("runtime, tensorflow", [("onnx", False), ("tflite", False), ("savedmodel", True)])
def test_deepzoo_serve_loads_tensorflow_only_for_savedmodels(export_dir, tmp_path, runtime, tensorflow):
    # `deepzoo serve` imported TensorFlow before parsing its arguments: 4 s more start-up and
    # ~600 MB more memory for servers whose models never touch it. Whichever runtime loads, stderr
    # stays one JSON object per line (TensorFlow's C++ start-up logs bypass Python's logging).
    _place(export_dir, tmp_path, "lenet")
    user_env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "ABSL_MIN_LOG_LEVEL")}  # as a user runs it, not the suite
    command = [sys.executable, "-c", _SERVE_PROBE, str(tmp_path), "--runtime", runtime]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=user_env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"tensorflow": tensorflow, "runtimes": [runtime]}
    for line in result.stderr.splitlines():
        assert isinstance(json.loads(line), dict), line


def test_graceful_shutdown_finishes_the_request_in_flight(export_dir, tmp_path, reference):
    # A long batching delay holds the request in the server's queue when the stop signal arrives.
    _place(export_dir, tmp_path, "slow", config={"max_queue_delay_ms": 20_000, "max_batch_size": 64})
    server = ServerProcess(tmp_path, "--no-access-log").start()
    try:
        x = _images(1, seed=5)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(requests.post, server.url + "/v1/models/slow:predict", json={"instances": x.tolist()}, timeout=TIMEOUT)
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline and not any(s.value == 1 for s in _metric_samples(server, "deepzoo_queue_depth")):
                time.sleep(0.05)
            started = time.monotonic()
            server.signal()
            response = pending.result(TIMEOUT)
        assert response.status_code == 200
        np.testing.assert_allclose(response.json()["predictions"], reference(x), rtol=1e-5, atol=1e-6)
        assert time.monotonic() - started < 10  # flushed at shutdown, not after the 20 s delay
        assert server.process.wait(TIMEOUT) == 0
        events = [e.get("event") for e in server.logs() if isinstance(e, dict)]
        assert events.index("shutdown_started") < events.index("stopped")
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + "/v2/health/live", timeout=5)
    finally:
        server.stop()
