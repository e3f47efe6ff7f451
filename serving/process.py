"""`deepzoo serve` in a child process, for tests, benchmarks and notebooks.

    with ServerProcess("models/", "--max-batch-size", "16") as server:
        requests.get(server.url + "/v2/health/ready")

It listens on a free loopback port (read back from the server's "listening" log line), is waited
for until its models are loaded, and is stopped with SIGTERM (a graceful shutdown).
"""

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request


class ServerProcess:
    def __init__(self, repository, *flags, host="127.0.0.1", start_timeout=120.0, env=None, python=None):
        self.command = [python or sys.executable, "-m", "deepzoo.cli_serve", str(repository), "--host", host, "--port", "0", *map(str, flags)]
        self.host = host
        self.start_timeout = start_timeout
        self.env = {**os.environ, **(env or {})}
        self.process = None
        self.port = None
        self.grpc_port = None  # set when the flags include --grpc-port
        self.lines = collections.deque(maxlen=100_000)
        self._ready = threading.Event()
        self._reader = None

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self):
        return self.process.pid

    def logs(self):
        """The server's log lines so far, each parsed from JSON (a line that is not JSON stays a string)."""
        parsed = []
        for line in list(self.lines):
            try:
                parsed.append(json.loads(line))
            except ValueError:
                parsed.append(line)
        return parsed

    def start(self):
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self.env)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(self.start_timeout) or self.port is None:
            self.stop()
            raise RuntimeError(f"Server did not start within {self.start_timeout:.0f} s. Log tail:\n" + "\n".join(list(self.lines)[-20:]))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/v2/health/live", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("Server started but /v2/health/live never answered.")

    def _read(self):
        for line in self.process.stderr:
            line = line.rstrip("\n")
            self.lines.append(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("event") == "listening":
                self.port = entry["port"]
            elif isinstance(entry, dict) and entry.get("event") == "grpc_listening":
                self.grpc_port = entry["port"]
            elif isinstance(entry, dict) and entry.get("event") == "ready":
                self._ready.set()
        self._ready.set()  # the process ended: stop waiting

    def signal(self, sig=signal.SIGTERM):
        self.process.send_signal(sig)

    def stop(self, timeout=60.0):
        """SIGTERM, wait up to `timeout` for the graceful shutdown, then kill. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._reader is not None:
            self._reader.join(5)
        return self.process.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class ServerThread:
    """The same server inside this process, on a thread (no signal handling: `stop()` ends it).

    Useful where the calling process already imported a heavy runtime (TensorFlow) that a child
    process would have to import again.
    """

    def __init__(self, repository, config=None, settings=None, host="127.0.0.1", start_timeout=60.0, grpc=False):
        self.repository_path = repository
        self.grpc = grpc
        self.grpc_port = None
        self.config = config
        self.settings = settings
        self.host = host
        self.start_timeout = start_timeout
        self.port = None
        self.server = None
        self.thread = None

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def start(self):
        import uvicorn

        from serving.app import create_app
        from serving.repository import load_repository
        from serving.server import bind_socket

        repository = load_repository(self.repository_path, self.config)
        sock = bind_socket(self.host, 0)
        self.port = sock.getsockname()[1]
        app = create_app(repository, self.settings)
        if self.grpc:
            from serving.grpc_server import GrpcServer

            app.state.serving.grpc = GrpcServer(app.state.serving, self.host, 0)
            self.grpc_port = app.state.serving.grpc.port
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, name="deepzoo-serve", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            self.stop()
            raise RuntimeError("In-process server did not start.")
        return self

    def stop(self, timeout=30.0):
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
