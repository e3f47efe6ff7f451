"""The serving-only install vs the full one, measured side by side: installed size, cold start to
ready, resident memory at idle.

    python benchmarks/bench_serving_install.py [--lean-venv DIR] [--rounds 3]

The serving-only install is `pip install deepzoo` (no `train` extra) into a fresh venv (created in
DIR, default runs/bench-serving-install/lean-venv, unless it already holds one); the full install
is this interpreter's environment (`make install`: the `train` and `test` extras). Both serve the
same repository, exported here: LeNet-5 (tiny) as ONNX and as TFLite, started with
`deepzoo serve --port 0 --grpc-port 0`. Cold start = launching the process until its "ready" log
line (every model loaded and warmed up, both ports listening); memory = VmRSS after two idle
seconds. The full install also serves the SavedModel artifact, which imports TensorFlow: the cost
the serving-only install never pays. Prints a table; asserts nothing.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from serving.process import ServerProcess  # noqa: E402


def site_packages_bytes(python):
    """Bytes of every file under the environment's site-packages (what the install put there)."""
    path = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip()
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            file = os.path.join(folder, name)
            if not os.path.islink(file):
                total += os.path.getsize(file)
    return total


def lean_venv(folder):
    python = folder / "bin" / "python"
    if not python.exists():
        print(f"creating the serving-only venv in {folder} (pip install {ROOT}) …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], check=True)
    probe = subprocess.run([str(python), "-c", "import tensorflow"], capture_output=True)
    if probe.returncode == 0:
        raise SystemExit(f"{folder} has TensorFlow: not a serving-only install")
    return str(python)


def build_repository(root):
    import architectures
    from export.formats import export_model

    model = architectures.create_model("lenet5", config="tiny")
    export_dir = root / "export"
    if not (export_dir / "deepzoo.json").exists():
        export_model(model, export_dir, ["savedmodel", "onnx", "tflite"], metadata={"task": "classification"}, strict=True)
    repositories = {}
    for runtime in ("onnx", "tflite", "savedmodel"):
        repository = root / f"repository-{runtime}"
        if not repository.exists():
            (repository / "lenet5").mkdir(parents=True)
            (repository / "lenet5" / "1").symlink_to(export_dir.resolve(), target_is_directory=True)
            (repository / "lenet5" / "serving.json").write_text(f'{{"runtime": "{runtime}"}}')
        repositories[runtime] = repository
    return repositories


def rss_bytes(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cold_start(python, repository, rounds):
    """(median seconds from launch to ready, median idle RSS bytes)."""
    seconds, memory = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        with ServerProcess(repository, "--grpc-port", "0", "--no-access-log", python=python) as server:
            seconds.append(time.perf_counter() - started)
            time.sleep(2.0)
            memory.append(rss_bytes(server.pid))
    return statistics.median(seconds), statistics.median(memory)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lean-venv", type=Path, default=ROOT / "runs" / "bench-serving-install" / "lean-venv")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = ROOT / "runs" / "bench-serving-install"
    work.mkdir(parents=True, exist_ok=True)
    lean = lean_venv(args.lean_venv.resolve())
    full = sys.executable
    repositories = build_repository(work)
    rows = []
    for label, python, runtimes in (("serving-only (pip install deepzoo)", lean, ("onnx", "tflite")), ("full (deepzoo[train,test])", full, ("onnx", "tflite", "savedmodel"))):
        size = site_packages_bytes(python)
        for runtime in runtimes:
            seconds, memory = cold_start(python, repositories[runtime], args.rounds)
            rows.append((label, size, runtime, seconds, memory))
            print(f"  {label:36s} {runtime:10s} ready in {seconds:5.2f} s, idle RSS {memory / 2**20:6.0f} MiB", flush=True)
    print("\n| install | installed size | runtime | cold start to ready | idle RSS |\n|---|---|---|---|---|")
    for label, size, runtime, seconds, memory in rows:
        print(f"| {label} | {size / 2**20:,.0f} MiB | {runtime} | {seconds:.2f} s | {memory / 2**20:.0f} MiB |")
    lean_size, full_size = rows[0][1], rows[-1][1]
    print(f"\nserving-only / full installed size: {lean_size / full_size:.2f}")


if __name__ == "__main__":
    main()
