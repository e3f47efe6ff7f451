"""deepzoo serve vs Triton Inference Server on the same ONNX model, side by side in one run: batch-1
latency over REST (binary tensors) and gRPC, and throughput under concurrent clients.

    python benchmarks/bench_serving_triton.py [--triton-python PY] [--size 224] [--requests 200] [--clients 32]

Triton comes from the `nvidia-pytriton` wheel (tritonserver with its Python backend; see
benchmarks/triton_reference.py for how the model runs there and the one patch it needs on a
pyenv 3.11). `--triton-python` is the interpreter of a venv holding nvidia-pytriton and
onnxruntime; without it, one is created in runs/bench-serving-triton/venv. Both servers get the
same `model.onnx` (the conv model of bench_serving.py, and its "trivial" model with the same input
and output bytes and almost no compute, where the servers' own costs dominate), dynamic batching
up to 32 with no queue delay, one instance. Calls alternate between the servers in short blocks
so host load drift hits both alike. Prints ratios ours / Triton (< 1: ours is faster); asserts
nothing.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from bench_serving import Client, _blocks, _grpc_caller, _window, infer_body, prepare  # noqa: E402

from serving.process import ServerProcess  # noqa: E402

HOST = "127.0.0.1"


def triton_python(given):
    if given:
        return given
    venv = HERE.parent / "runs" / "bench-serving-triton" / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} with nvidia-pytriton and onnxruntime …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "nvidia-pytriton", "onnxruntime"], check=True)
    subprocess.run([str(python), str(HERE / "triton_reference.py"), "--patch"], check=True)
    return str(python)


def _free_port():
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class TritonServer:
    def __init__(self, python, model_path, max_batch=32):
        self.http, self.grpc, metrics = _free_port(), _free_port(), _free_port()
        command = [python, str(HERE / "triton_reference.py"), str(model_path), str(self.http), str(self.grpc), str(metrics), str(max_batch)]
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def __enter__(self):
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.http}/v2/models/model/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.5)
        self.__exit__()
        self.log.seek(0)
        raise RuntimeError("Triton did not become ready:\n" + self.log.read().decode(errors="replace")[-3000:])

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def compare(repo, model, shape, python, requests, clients, block=10, rounds=4):
    path = repo / model / "1" / "model.onnx"
    x = np.random.default_rng(0).uniform(0, 1, (1, *shape)).astype(np.float32)
    body, headers = infer_body(x)
    with ServerProcess(repo, "--no-access-log", "--grpc-port", "0", "--max-batch-size", "32") as ours, TritonServer(python, path) as triton:
        ours_rest, triton_rest = Client(ours.port), Client(triton.http)
        ours_grpc, close_ours = _grpc_caller(ours.grpc_port, model, x)
        triton_grpc, close_triton = _grpc_caller(triton.grpc, "model", x)
        np.testing.assert_allclose(ours_rest.infer(model, body, headers), triton_rest.infer("model", body, headers), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ours_grpc(), triton_grpc(), rtol=1e-4, atol=1e-5)
        calls = {
            "deepzoo REST": lambda: ours_rest.infer(model, body, headers),
            "Triton REST": lambda: triton_rest.infer("model", body, headers),
            "deepzoo gRPC": ours_grpc,
            "Triton gRPC": triton_grpc,
        }
        times, per_round = _blocks(calls, max(1, requests // block), block)
        for client in (ours_rest, triton_rest):
            client.close()
        close_ours()
        close_triton()
        bodies = [infer_body(np.random.default_rng(i).uniform(0, 1, (1, *shape)).astype(np.float32)) for i in range(clients)]
        per_client = max(2, requests // clients)
        throughput = {"deepzoo": [], "Triton": []}
        for _ in range(rounds):
            throughput["deepzoo"].append(_window(ours.port, model, bodies, per_client))
            throughput["Triton"].append(_window(triton.http, "model", bodies, per_client))
    print(f"\n[{model}] input {tuple(shape)}, batch 1: {len(times['deepzoo REST'])} timed calls per server and protocol")
    for name, values in times.items():
        print(f"  {name + ' p50':20s} {statistics.median(values) * 1e3:8.3f} ms")
    for protocol in ("REST", "gRPC"):
        ratio = statistics.median(m[f"deepzoo {protocol}"] / m[f"Triton {protocol}"] for m in per_round)
        print(f"  RATIO deepzoo/Triton, {protocol}, batch 1 = {ratio:.3f} (median of per-round ratios)")
    for name, values in throughput.items():
        print(f"  {name + ', ' + str(clients) + ' clients':24s} {statistics.median(values):8.1f} req/s (median of {rounds} alternating windows)")
    ratio = statistics.median(o / t for o, t in zip(throughput["deepzoo"], throughput["Triton"]))
    print(f"  RATIO deepzoo/Triton throughput, {clients} concurrent clients = {ratio:.3f} (> 1: ours serves more)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triton-python")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    python = triton_python(args.triton_python)
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-triton-") as tmp:
        repo = Path(tmp)
        model, shape = prepare(repo, args.size)
        compare(repo, model, shape, python, args.requests, args.clients)
        compare(repo, "trivial", shape, python, args.requests, args.clients)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
