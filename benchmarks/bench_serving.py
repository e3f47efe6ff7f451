"""Serving, measured side by side in one run: latency overhead, dynamic batching, fuzzing, soak.

    python benchmarks/bench_serving.py [--only latency,batching,fuzz,soak] [--size 224]
        [--latency-requests 200] [--batching-requests 256] [--fuzz-requests 1200] [--soak-seconds 120]

1. latency: p50 of one batch-1 inference served over loopback (Open Inference Protocol with binary
   tensors, one keep-alive connection) vs ONNX Runtime `session.run` on the same `model.onnx` in
   this process, interleaved so machine noise hits both alike. Goal: ratio <= 1.15. Interleaved
   with them, two references: the same client sends the same bytes to a bare uvicorn app that
   only reads them (raw + that round trip is the floor any server on this HTTP stack could reach),
   and to the leanest inference server the stack allows (parse, run in a thread, answer).
2. batching: requests/s with 32 concurrent clients, dynamic batching on (max batch 32) vs off
   (max batch 1), same server code and artifact. Goal: ratio >= 3. Three models, because what
   batching can gain depends on where a batch-1 call spends its time, and each is printed beside
   its runtime ceiling (raw session.run images/s at batch 32 over batch 1):
   - the conv model (compute-bound: on a CPU one image already keeps the cores busy);
   - LeNet-5 (tiny: the HTTP request, not the model, is the cost);
   - a memory-bound model, the registry's mlp at the size of AlexNet's classifier head
     (3072-4096-4096-1000, 33.6 M weights): a batch-1 call streams all weights from memory for one
     row, a batch of 32 streams them once for 32 rows. This is where batching pays on a CPU.
3. fuzz: schemathesis generates requests from the server's own /openapi.json (valid and invalid,
   random and real model names); counts 5xx answers. Goal: >= 1,000 requests, no 5xx.
4. soak: mixed valid and invalid traffic from 8 clients for a bounded time and count; server RSS
   sampled throughout. Goal: no unexpected status, flat memory.

The conv model is a registered MobileNet when the registry has one, else Keras' MobileNetV2
(random weights: speed does not depend on them). Everything stays on 127.0.0.1 and every loop is
bounded in count and time. Prints ratios; asserts nothing.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from serving.process import ServerProcess  # noqa: E402

HOST = "127.0.0.1"
DENSE_INPUT = 3072  # a flattened 32×32×3 image


# --- fixtures: exported models laid out as a repository ------------------------------------------


def build_repository(root, size):
    """root/<conv model>/1, root/trivial/1 and root/mlp/1 (ONNX), root/lenet5/1 (tiny, all formats); root/bench.json names the conv model."""
    import keras

    import architectures
    import export

    name, model = "mobilenet_v2", None
    if name in architectures.list_models():
        try:
            model = architectures.create_model(name, input_shape=(size, size, 3))
            source = f"registry '{name}' (canonical config)"
        except Exception as exc:  # a registry entry that cannot take this size: fall back
            print(f"registry '{name}' unusable here ({type(exc).__name__}: {exc}); using Keras' MobileNetV2")
    if model is None:
        model = keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3), classes=1000)
        source = "keras.applications.MobileNetV2 (random weights)"
    export.export_model(model, root / name / "1", formats=["onnx"], metadata={"task": "classification"}, strict=True)
    # The memory-bound case: 134 MB of fp32 weights, all read for every call whatever its batch.
    dense = architectures.create_model("mlp", input_shape=(DENSE_INPUT,), hidden_units=[4096, 4096], num_classes=1000)
    export.export_model(dense, root / "mlp" / "1", formats=["onnx"], metadata={"task": "classification"}, strict=True)
    # Same input and output bytes as the conv model, almost no compute: what serving itself costs.
    inputs = keras.Input(model.inputs[0].shape[1:], name="input")
    trivial = keras.Model(inputs, keras.layers.Dense(1000)(keras.layers.GlobalAveragePooling2D()(inputs)), name="trivial")
    export.export_model(trivial, root / "trivial" / "1", formats=["onnx"], metadata={"task": "classification"}, strict=True)
    tiny = architectures.create_model("lenet5", config="tiny")
    export.export_model(tiny, root / "lenet5" / "1", formats="all", metadata={"task": "classification", "labels": ["a", "b", "c", "d"]}, strict=True)
    shape = [int(d) for d in model.inputs[0].shape[1:]]
    (root / "bench.json").write_text(json.dumps({"model": name, "shape": shape, "source": source, "params": model.count_params()}))


def prepare(root, size):
    """Exports in a child process: this process never imports TensorFlow, so the raw ONNX Runtime
    baseline runs as cleanly as the server does (TensorFlow's own threads skew it otherwise)."""
    subprocess.run([sys.executable, __file__, "--build", str(root), "--size", str(size)], check=True)
    info = json.loads((root / "bench.json").read_text())
    print(f"conv model: {info['source']}, input {tuple(info['shape'])}, {info['params']:,} parameters")
    return info["model"], tuple(info["shape"])


# --- a lean Open Inference Protocol client (binary tensors, what tritonclient sends) ------------


def infer_body(x, name="input"):
    header = json.dumps(
        {
            "inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32", "parameters": {"binary_data_size": x.nbytes}}],
            "outputs": [{"name": "output", "parameters": {"binary_data": True}}],
        }
    ).encode()
    return header + x.tobytes(), {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"}


class Client:
    """One keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, port, timeout=120):
        self.connection = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def post(self, path, body, headers):
        self.connection.request("POST", path, body=body, headers=headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, response.getheader("Inference-Header-Content-Length"), data

    def infer(self, model, body, headers):
        status, header_length, data = self.post(f"/v2/models/{model}/infer", body, headers)
        if status != 200:
            raise RuntimeError(f"{status}: {data[:200]!r}")
        header = json.loads(data[: int(header_length)])
        return np.frombuffer(data[int(header_length) :], np.float32).reshape(header["outputs"][0]["shape"])

    def close(self):
        self.connection.close()


# --- 1. latency --------------------------------------------------------------------------------


def _raw_session(path, server_options=False):
    """A plain ONNX Runtime session on `path`: the library's defaults (what a user would time), or
    with the server's one change to them (`serving.runtimes.INTRA_OP_SPIN_US`)."""
    import onnxruntime as ort

    from serving.runtimes import INTRA_OP_SPIN_US, onnx_providers

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if server_options:
        options.add_session_config_entry("session.intra_op.spin_duration_us", str(INTRA_OP_SPIN_US))
    return ort.InferenceSession(str(path), sess_options=options, providers=onnx_providers())


def _blocks(calls, rounds, block):
    """Timed calls in short alternating blocks; returns all times per call and per-round medians."""
    times, rounds_medians = {name: [] for name in calls}, []
    for _ in range(rounds):
        medians = {}
        for name, call in calls.items():
            call()  # the first call of a block is not timed
            block_times = []
            for _ in range(block):
                started = time.perf_counter()
                call()
                block_times.append(time.perf_counter() - started)
            times[name].extend(block_times)
            medians[name] = statistics.median(block_times)
        rounds_medians.append(medians)
    return times, rounds_medians


def serve_bare_asgi(port, reply_bytes):
    """The HTTP stack's own floor: the same uvicorn setup as `deepzoo serve` with an app that only
    reads the request body and answers a fixed reply of the served reply's size."""
    import uvicorn

    reply = b"\0" * reply_bytes

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(reply)).encode())]})
        await send({"type": "http.response.body", "body": reply})

    uvicorn.run(app, host=HOST, port=port, log_config=None, access_log=False, server_header=False)


def serve_lean_asgi(port, model_path):
    """The leanest inference server this stack allows, as a reference: one bare ASGI app that takes
    the same binary-tensor request, runs the same session (server options) in a thread, answers
    the same binary reply. No routing, validation, batching, metrics or error handling."""
    import asyncio

    import uvicorn

    session = _raw_session(model_path, server_options=True)

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        split = int(dict(scope["headers"])[b"inference-header-content-length"])
        shape = json.loads(body[:split])["inputs"][0]["shape"]
        x = np.frombuffer(memoryview(body)[split:], np.float32).reshape(shape)
        y = (await asyncio.to_thread(session.run, ["output"], {"input": x}))[0]
        header = json.dumps({"outputs": [{"name": "output", "datatype": "FP32", "shape": list(y.shape), "parameters": {"binary_data_size": y.nbytes}}]}).encode()
        headers = [(b"content-length", str(len(header) + y.nbytes).encode()), (b"inference-header-content-length", str(len(header)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": header + y.tobytes()})

    uvicorn.run(app, host=HOST, port=port, log_config=None, access_log=False, server_header=False)


class ReferenceServer:
    """A reference server (`--bare-server PORT:BYTES` or `--lean-server PORT:MODEL`) in a child
    process, for as long as the `with` block lasts."""

    def __init__(self, flag, argument):
        import socket

        with socket.socket() as probe:  # a free port; the child binds it a moment later
            probe.bind((HOST, 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen([sys.executable, __file__, flag, f"{self.port}:{argument}"])

    def __enter__(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            connection = http.client.HTTPConnection(HOST, self.port, timeout=1)
            try:
                connection.connect()
                return self
            except OSError:
                time.sleep(0.1)
            finally:
                connection.close()
        self.process.kill()
        raise RuntimeError(f"the reference server did not start on port {self.port}")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=30)


def bench_latency(repo, model, shape, requests, block=10):
    """Served vs raw `session.run`, in alternating blocks so that each round's ratio compares calls
    made moments apart on a host whose load drifts.

    Raw runs with the server's session options (ONNX Runtime's defaults, except that idle workers
    spin for INTRA_OP_SPIN_US after a run, not tens of ms). With the defaults, the workers left
    spinning would slow whatever runs after them, so the defaults are timed afterwards on their own
    and printed beside it: back to back, the two run equally fast."""
    x = np.random.default_rng(0).uniform(0, 1, (1, *shape)).astype(np.float32)
    path = repo / model / "1" / "model.onnx"
    raw = _raw_session(path, server_options=True)
    raw_trivial = _raw_session(repo / "trivial" / "1" / "model.onnx", server_options=True)
    body, headers = infer_body(x)
    rounds = max(1, requests // block)
    with ServerProcess(repo, "--no-access-log", "--grpc-port", "0") as server:
        client = Client(server.port)
        np.testing.assert_allclose(client.infer(model, body, headers), raw.run(["output"], {"input": x})[0], rtol=1e-4, atol=1e-5)
        grpc_call, grpc_close = _grpc_caller(server.grpc_port, model, x)
        np.testing.assert_allclose(grpc_call(), raw.run(["output"], {"input": x})[0], rtol=1e-4, atol=1e-5)
        reply_bytes = len(client.post(f"/v2/models/{model}/infer", body, headers)[2])
        with ReferenceServer("--bare-server", reply_bytes) as bare, ReferenceServer("--lean-server", path) as lean:
            bare_client, lean_client = Client(bare.port), Client(lean.port)
            np.testing.assert_allclose(lean_client.infer(model, body, headers), raw.run(["output"], {"input": x})[0], rtol=1e-4, atol=1e-5)
            calls = {
                "raw session.run": lambda: raw.run(["output"], {"input": x}),
                "served": lambda: client.infer(model, body, headers),
                "served over gRPC": grpc_call,
                "bare uvicorn, same bytes": lambda: bare_client.post("/", body, headers),
                "leanest uvicorn inference server": lambda: lean_client.infer(model, body, headers),
                "raw session.run, trivial model": lambda: raw_trivial.run(["output"], {"input": x}),
                "served, trivial model": lambda: client.infer("trivial", body, headers),
            }
            times, per_round = _blocks(calls, rounds, block)
            bare_client.close()
            lean_client.close()
        client.close()
        grpc_close()
        triton = _tritonclient_latency(server.port, model, x, requests // 2)
    default = _raw_session(path)
    default_times, _ = _blocks({"raw (ONNX Runtime defaults)": lambda: default.run(["output"], {"input": x})}, rounds, block)
    ratios = sorted(m["served"] / m["raw session.run"] for m in per_round)
    ratio = statistics.median(ratios)
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratio, ratio, ratio]
    print(f"\n[latency] {model}, batch 1, {len(times['served'])} timed calls per side in {rounds} alternating rounds, providers {raw.get_providers()}")
    for name, values in {**times, **default_times}.items():
        print(f"  {name + ' p50':36s} {statistics.median(values) * 1e3:8.3f} ms")
    if triton is not None:
        print(f"  {'served via tritonclient p50':36s} {triton * 1e3:8.3f} ms")
    print(f"  RATIO served/raw = {ratio:.3f} (median of per-round ratios, quartiles {quartiles[0]:.2f}-{quartiles[2]:.2f}; the earlier goal 1.15 is out of reach for any server on this stack, see the leanest-server ratio)")
    floor = statistics.median((m["raw session.run"] + m["bare uvicorn, same bytes"]) / m["raw session.run"] for m in per_round)
    print(f"  floor (raw + bare uvicorn round trip of the same bytes)/raw = {floor:.3f}: no server on this HTTP stack can do better here")
    lean = statistics.median(m["leanest uvicorn inference server"] / m["raw session.run"] for m in per_round)
    print(f"  leanest uvicorn inference server/raw = {lean:.3f}: parse, run in a thread, answer; nothing else")
    versus_lean = statistics.median(m["served"] / m["leanest uvicorn inference server"] for m in per_round)
    print(f"  RATIO served/leanest uvicorn inference server = {versus_lean:.3f} (median of per-round ratios; goal <= 1.05)")
    grpc_vs_rest = statistics.median(m["served over gRPC"] / m["served"] for m in per_round)
    print(f"  RATIO served over gRPC/served over REST = {grpc_vs_rest:.3f} (same server, raw_input_contents vs the binary extension; goal <= 1.0)")
    p50 = {name: statistics.median(values) * 1e3 for name, values in times.items()}
    transport = p50["bare uvicorn, same bytes"]
    server = p50["served, trivial model"] - p50["raw session.run, trivial model"] - transport
    rest = p50["served"] - p50["raw session.run"] - transport - server
    print(f"  where served - raw = {p50['served'] - p50['raw session.run']:.3f} ms goes: HTTP transport {transport:.3f} (bare uvicorn), "
          f"server code {server:.3f} (trivial model served - its raw run - transport), the rest {rest:.3f} (only with the real model)")
    return ratio


def _grpc_caller(port, model, x):
    """One batch-1 ModelInfer over one gRPC channel with a request built once (tritonclient's own
    generated messages, raw_input_contents): the gRPC counterpart of `Client.infer`."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    channel = grpc.insecure_channel(f"{HOST}:{port}")
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name="input", datatype="FP32", shape=list(x.shape))
    request.raw_input_contents.append(x.tobytes())

    def call():
        response = stub.ModelInfer(request, timeout=120)
        return np.frombuffer(response.raw_output_contents[0], np.float32).reshape(list(response.outputs[0].shape))

    return call, channel.close


def _tritonclient_latency(port, model, x, requests):
    try:
        import tritonclient.http as triton
    except ImportError:
        return None
    client = triton.InferenceServerClient(f"{HOST}:{port}")
    tensor = triton.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    times = []
    for index in range(requests + 5):
        started = time.perf_counter()
        client.infer(model, [tensor])
        if index >= 5:
            times.append(time.perf_counter() - started)
    client.close()
    return statistics.median(times)


# --- 2. dynamic batching -----------------------------------------------------------------------


def _window(port, model, bodies, per_client):
    """Requests/s of len(bodies) clients each sending `per_client` requests at once."""
    barrier = threading.Barrier(len(bodies))

    def run(body_headers):
        client = Client(port)
        client.infer(model, *body_headers)  # connect and warm up, untimed
        barrier.wait(120)
        started = time.perf_counter()
        for _ in range(per_client):
            client.infer(model, *body_headers)
        client.close()
        return started, time.perf_counter()

    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        spans = list(pool.map(run, bodies))
    return per_client * len(bodies) / (max(e for _, e in spans) - min(s for s, _ in spans))


def _mean_batch(port, model):
    from prometheus_client.parser import text_string_to_metric_families

    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if s.labels.get("model") == model and "le" not in s.labels}
    count = samples.get("deepzoo_batch_size_count", 0)
    return samples.get("deepzoo_batch_size_sum", 0) / count if count else 0.0


def bench_batching(repo, model, shape, clients, total, rounds=4):
    x = np.random.default_rng(1).uniform(0, 1, (clients, 1, *shape)).astype(np.float32)
    bodies = [infer_body(x[i]) for i in range(clients)]
    per_client = max(1, total // (clients * rounds))
    modes = {"dynamic batching (max 32)": ["--max-batch-size", "32"], "unbatched (max batch 1)": ["--max-batch-size", "1"]}
    servers = {name: ServerProcess(repo, "--no-access-log", *flags).start() for name, flags in modes.items()}
    throughput = {name: [] for name in modes}
    try:
        for _ in range(rounds):  # alternate windows so that load drift on the host hits both modes
            for name, server in servers.items():
                throughput[name].append(_window(server.port, model, bodies, per_client))
        mean_batch = _mean_batch(servers["dynamic batching (max 32)"].port, model)
    finally:
        for server in servers.values():
            server.stop()
    batched, unbatched = throughput["dynamic batching (max 32)"], throughput["unbatched (max batch 1)"]
    ratios = [b / u for b, u in zip(batched, unbatched)]
    ceiling = _runtime_ceiling(repo / model / "1" / "model.onnx", x[:, 0], rounds)
    print(f"\n[batching] {model}, {clients} concurrent clients, {rounds} alternating rounds of {per_client * clients} requests per mode")
    print(f"  {'unbatched (max batch 1)':32s} {statistics.median(unbatched):8.1f} req/s (median of rounds)")
    print(f"  {'dynamic batching (max 32)':32s} {statistics.median(batched):8.1f} req/s   mean batch {mean_batch:.1f}")
    print(
        f"  runtime ceiling: raw session.run {ceiling['b1']:.1f} images/s at batch 1, {ceiling['bN']:.1f} at batch {len(x)}: "
        f"batching can gain at most {ceiling['bN'] / ceiling['b1']:.2f}x on this hardware"
    )
    print(f"  RATIO batched/unbatched = {statistics.median(ratios):.2f} (median of per-round ratios {[round(r, 2) for r in ratios]}; goal >= 3)")
    return statistics.median(ratios)


def _runtime_ceiling(path, x, rounds):
    """Images/s of raw ONNX Runtime at batch 1 and at batch len(x), alternating: the most any batching
    server could gain on this machine is their ratio (on a CPU a convnet's batch-1 call already keeps
    the cores busy; on a GPU it does not, which is where batching pays)."""
    session = _raw_session(path, server_options=True)
    single, batch = x[:1], x
    _, per_round = _blocks({"b1": lambda: session.run(None, {"input": single}), "bN": lambda: session.run(None, {"input": batch})}, rounds, 5)
    return {"b1": statistics.median(1 / r["b1"] for r in per_round), "bN": statistics.median(len(x) / r["bN"] for r in per_round)}


# --- 3. fuzzing from the OpenAPI document ------------------------------------------------------


def bench_fuzz(repo, target):
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation.modes import GenerationMode

    with ServerProcess(repo, "--no-access-log", "--max-request-bytes", 1 << 20) as server:
        schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        # A third of the cases use real model names and versions so that bodies reach validation.
        fixed = [None, {"model_name": "lenet5"}, {"model_name": "lenet5", "model_version": "1"}]
        plans = [(op, mode, params) for op in operations for mode in GenerationMode for params in fixed]
        per_plan = max(1, -(-target // len(plans)))
        counts = {"requests": 0, "5xx": 0, "4xx": 0, "2xx": 0}
        failures = []
        started = time.monotonic()
        for round_seed in range(20):  # operations without inputs run out of distinct cases: more rounds
            if counts["requests"] >= target or time.monotonic() - started > 600:
                break
            for operation, mode, params in plans:
                path_params = {k: v for k, v in (params or {}).items() if "{" + k + "}" in operation.path}
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_params or None)

                @seed(round_seed)
                @settings(max_examples=per_plan, deadline=None, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
                @given(case=strategy)
                def run(case):
                    if time.monotonic() - started > 600:
                        return
                    response = case.call(base_url=server.url, timeout=30)
                    counts["requests"] += 1
                    bucket = f"{response.status_code // 100}xx"
                    counts[bucket] = counts.get(bucket, 0) + 1
                    if response.status_code >= 500:
                        failures.append(f"{case.method} {case.formatted_path} -> {response.status_code} {response.text[:200]}")

                try:
                    run()
                except Unsatisfiable:
                    pass  # e.g. no invalid request exists for an operation without parameters
                except Exception as exc:  # report, go on with the other operations
                    failures.append(f"generation for {operation.method.upper()} {operation.path} ({mode}): {type(exc).__name__}: {str(exc)[:120]}")
        alive = server.process.poll() is None
    generation_failures = [f for f in failures if f.startswith("generation")]
    print(f"\n[fuzz] schemathesis {schemathesis.__version__ if hasattr(schemathesis, '__version__') else ''} over {len(operations)} operations x {{positive, negative}} x {{random, real}} names")
    print(f"  requests {counts['requests']}: 2xx {counts.get('2xx', 0)}, 4xx {counts.get('4xx', 0)}, 5xx {counts['5xx']}; server alive after: {alive}")
    for failure in [f for f in failures if not f.startswith("generation")][:10]:
        print("  5xx:", failure)
    for failure in generation_failures[:5]:
        print("  note:", failure)
    print(f"  RESULT {counts['5xx']} server errors in {counts['requests']} generated requests   (goal: >= 1000 requests, 0 5xx)")
    return counts


# --- 4. soak -----------------------------------------------------------------------------------


def _rss_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def bench_soak(repo, seconds, max_requests, clients=8):
    x = np.random.default_rng(2).uniform(0, 1, (2, 32, 32, 1)).astype(np.float32)
    binary_body, binary_headers = infer_body(x)
    json_headers = {"Content-Type": "application/json"}
    traffic = [  # (path, body, headers, expected status)
        ("/v2/models/lenet5/infer", binary_body, binary_headers, 200),
        ("/v2/models/lenet5/infer", json.dumps({"inputs": [{"name": "input", "shape": [2, 32, 32, 1], "datatype": "FP32", "data": x.ravel().tolist()}]}).encode(), json_headers, 200),
        ("/v1/models/lenet5:predict", json.dumps({"instances": x.tolist()}).encode(), json_headers, 200),
        ("/v1/models/lenet5:classify", json.dumps({"examples": [{"input": x[0].ravel().tolist()}]}).encode(), json_headers, 200),
        ("/v2/models/lenet5/infer", b'{"inputs": [', json_headers, 400),
        ("/v1/models/lenet5:predict", json.dumps({"instances": [[1.0, 2.0]]}).encode(), json_headers, 400),
        ("/v2/models/missing/infer", binary_body, binary_headers, 404),
    ]
    with ServerProcess(repo, "--no-access-log") as server:
        deadline = time.monotonic() + seconds
        sent = [0] * clients
        unexpected = []
        lock = threading.Lock()

        def run(index):
            client = Client(server.port, timeout=30)
            position = index
            while time.monotonic() < deadline and sum(sent) < max_requests:
                path, body, headers, expected = traffic[position % len(traffic)]
                position += 1
                try:
                    status, _, data = client.post(path, body, headers)
                except (OSError, http.client.HTTPException) as exc:
                    status, data = type(exc).__name__, b""
                    client.close()
                    client = Client(server.port, timeout=30)
                sent[index] += 1
                if status != expected:
                    with lock:
                        unexpected.append((path, expected, status, data[:120]))
            client.close()

        samples = [(0.0, _rss_bytes(server.pid))]
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            futures = [pool.submit(run, i) for i in range(clients)]
            while not all(f.done() for f in futures):
                time.sleep(min(5.0, max(0.1, seconds / 24)))
                samples.append((time.monotonic() - started, _rss_bytes(server.pid)))
            for future in futures:
                future.result()
        alive = server.process.poll() is None
    total = sum(sent)
    elapsed = samples[-1][0]
    rss = [value / 2**20 for _, value in samples]
    half = len(rss) // 2
    early, late = statistics.mean(rss[1 : max(2, half)]), statistics.mean(rss[half:])
    print(f"\n[soak] {total} requests in {elapsed:.0f} s from {clients} clients ({total / max(elapsed, 1e-9):.0f} req/s), valid and invalid mixed")
    print(f"  unexpected statuses: {len(unexpected)}; server alive after: {alive}")
    for item in unexpected[:5]:
        print("  unexpected:", item)
    print(f"  RSS MiB: start {rss[0]:.1f}, first half mean {early:.1f}, second half mean {late:.1f}, max {max(rss):.1f} ({len(rss)} samples)")
    print(f"  RESULT errors {len(unexpected)}, RSS growth second/first half {100 * (late - early) / early:+.1f}%   (goal: 0 errors, flat memory)")
    return len(unexpected), (late - early) / early


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="latency,batching,fuzz,soak")
    parser.add_argument("--size", type=int, default=224, help="conv model input size")
    parser.add_argument("--latency-requests", type=int, default=200)
    parser.add_argument("--batching-requests", type=int, default=256)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--fuzz-requests", type=int, default=1200)
    parser.add_argument("--soak-seconds", type=float, default=120.0)
    parser.add_argument("--soak-max-requests", type=int, default=200_000)
    parser.add_argument("--build", metavar="DIR", help=argparse.SUPPRESS)  # internal: export step
    parser.add_argument("--bare-server", metavar="PORT:BYTES", help=argparse.SUPPRESS)  # internal: latency floor
    parser.add_argument("--lean-server", metavar="PORT:MODEL", help=argparse.SUPPRESS)  # internal: latency reference
    args = parser.parse_args()
    if args.bare_server:
        port, reply_bytes = map(int, args.bare_server.split(":"))
        return serve_bare_asgi(port, reply_bytes)
    if args.lean_server:
        port, model_path = args.lean_server.split(":", 1)
        return serve_lean_asgi(int(port), model_path)
    if args.build:
        return build_repository(Path(args.build), args.size)
    only = set(args.only.split(","))
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start (ratios are only as quiet as the host)")
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        repo = Path(tmp)
        model, shape = prepare(repo, args.size)
        if "latency" in only:
            bench_latency(repo, model, shape, args.latency_requests)
        if "batching" in only:
            bench_batching(repo, model, shape, args.clients, args.batching_requests)
            bench_batching(repo, "lenet5", (32, 32, 1), args.clients, 16 * args.batching_requests)  # a small model too
            bench_batching(repo, "mlp", (DENSE_INPUT,), args.clients, 4 * args.batching_requests)  # memory-bound
        if "fuzz" in only:
            bench_fuzz(repo, args.fuzz_requests)
        if "soak" in only:
            bench_soak(repo, args.soak_seconds, args.soak_max_requests)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
