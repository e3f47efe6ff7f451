"""Scale-out on existing engines: KerasTuner's chief/worker search and tf.distribute training.

Distributed search uses KerasTuner's own mode. Every process runs the same search; the environment
says which role it plays:

    KERASTUNER_TUNER_ID     "chief" for the process that serves the oracle, "tuner0", "tuner1", ... for workers
    KERASTUNER_ORACLE_IP    address the chief listens on (gRPC)
    KERASTUNER_ORACLE_PORT  its port

    deepzoo tune lenet5 --data digits --cv kfold:5 --distributed          # on every host, roles from the env
    deepzoo tune lenet5 --data digits --cv kfold:5 --workers 2            # chief here + 2 local workers on 127.0.0.1

The chief writes the fold plan and settings, serves the oracle until every trial is done, then
writes the summary and retrains the best configuration; workers only run trials. All processes must
share the output directory (one machine, or a shared file system): the fold records and the
Hyperband fold states live there.

Multi-worker training: `pipelines.train.train(..., distribute="multiworker")` under
`tf.distribute.MultiWorkerMirroredStrategy` (cluster from `TF_CONFIG`). Two things make that work
with Keras 3.15 / TF 2.21, both done by `multiworker_strategy()`:

* the strategy must exist before the first TensorFlow op of the process ("Collective ops must be
  configured at program startup"), so it is created before the data is loaded;
* Keras' TF trainer fails under more than one worker (keras-team/keras#20585): `_maybe_symbolic_build`
  reduces a *tuple* of per-replica batches, and `reduce_per_replica` reduces scalar logs along axis 0.
  `fix_keras_multiworker()` patches both for multi-worker strategies only.

    python -m tuning.distributed train lenet5 --data digits --tiny --epochs 2     # TF_CONFIG set per process

This entry calls `pipelines.train.train` itself (`train_arguments` reads the TrainConfig fields as
flags); nothing below the CLI imports the `deepzoo` package.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from pipelines.distribute import fix_keras_multiworker

REPO_ROOT = Path(__file__).resolve().parent.parent


def role():
    """"chief", "worker" or None (not distributed), from KerasTuner's environment variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    missing = [name for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if not os.environ.get(name)]
    if missing:
        raise ValueError(f"KERASTUNER_ORACLE_IP is set but {', '.join(missing)} is not. Set all three for distributed tuning.")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def serve_oracle(oracle, poll_seconds=0.2, timeout=None, abort_check=None):
    """KerasTuner's chief server (`oracle_chief.start_server`) with a short poll instead of 20 s
    sleeps, a clean shutdown, an optional timeout and an abort hook (e.g. all local workers died)."""
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer, exit_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    if server.add_insecure_port(address) == 0:
        raise RuntimeError(f"The oracle cannot listen on {address} (port in use?).")
    server.start()
    deadline = time.monotonic() + timeout if timeout else None
    try:
        while True:
            time.sleep(poll_seconds)
            if servicer.stop_triggered and exit_chief(oracle):
                return
            if abort_check is not None:
                reason = abort_check()
                if reason:
                    raise RuntimeError(reason)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Distributed search did not finish within {timeout:.0f} s.")
    finally:
        server.stop(grace=1.0)


class LocalWorkers:
    """Worker processes on this machine (loopback), each running the same search as a KerasTuner worker."""

    def __init__(self, count, settings_path, out_dir, host, port):
        self.processes, self.logs = [], []
        log_dir = Path(out_dir) / "workers"
        log_dir.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            env = dict(os.environ)
            env.update(
                KERASTUNER_TUNER_ID=f"tuner{index}",
                KERASTUNER_ORACLE_IP=host,
                KERASTUNER_ORACLE_PORT=str(port),
                PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
            )
            log_path = log_dir / f"tuner{index}.log"
            log = open(log_path, "w")
            self.logs.append(log_path)
            process = subprocess.Popen(
                [sys.executable, "-m", "tuning.distributed", "worker", str(settings_path)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            self.processes.append(process)

    def abort_reason(self):
        """Set when every worker has exited although the search is not finished."""
        codes = [p.poll() for p in self.processes]
        if all(code is not None for code in codes):
            return f"All {len(codes)} workers exited (codes {codes}) before the search finished; see {self.logs[0].parent}/"
        return None

    def finish(self, timeout=60.0):
        """Waits for the workers (they stop once the oracle says so); stops any that hang. Returns exit codes."""
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        return [p.returncode for p in self.processes]


class chief_environment:
    """Context: this process is the KerasTuner chief on host:port (restores the environment after)."""

    def __init__(self, host, port):
        self.values = {"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": host, "KERASTUNER_ORACLE_PORT": str(port)}

    def __enter__(self):
        self.saved = {name: os.environ.get(name) for name in self.values}
        os.environ.update(self.values)
        return self

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        return False


def wait_for_files(paths, timeout=600.0, poll=0.2):
    deadline = time.monotonic() + timeout
    while not all(Path(p).is_file() for p in paths):
        if time.monotonic() > deadline:
            raise TimeoutError(f"Waited {timeout:.0f} s for the chief to write {', '.join(str(p) for p in paths)}.")
        time.sleep(poll)


# --- multi-worker training -------------------------------------------------------------------------


def multiworker_strategy():
    """Creates the process's MultiWorkerMirroredStrategy from TF_CONFIG, before any TensorFlow op.

    Later `tf.distribute.MultiWorkerMirroredStrategy()` calls (as in `pipelines.train`) find the
    collective ops already configured the same way and work.
    """
    if not os.environ.get("TF_CONFIG"):
        raise ValueError("Multi-worker training needs TF_CONFIG (cluster and this task's index).")
    try:
        json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from None
    import tensorflow as tf

    fix_keras_multiworker()
    return tf.distribute.MultiWorkerMirroredStrategy()


def tf_config(hosts, index):
    """TF_CONFIG for worker `index` of a cluster of `hosts` ("host:port")."""
    return json.dumps({"cluster": {"worker": list(hosts)}, "task": {"type": "worker", "index": int(index)}})


# --- entry points ----------------------------------------------------------------------------------


def _worker_main(settings_path):
    from tuning.search import tune

    settings = json.loads(Path(settings_path).read_text())["settings"]
    settings.update(distributed=True, workers=0, overwrite=False)
    tune(**settings)
    return 0


# `deepzoo train`'s spellings of TrainConfig fields that are not the field name itself.
TRAIN_FLAG_FIELDS = {"lr": "learning_rate", "patience": "early_stopping_patience"}
TRAIN_KEY_VALUE_FLAGS = {"set": "model_overrides", "data_option": "data_options", "optimizer_option": "optimizer_options"}
TRAIN_USAGE = (
    "python -m tuning.distributed train MODEL [--data D] [--tiny] [--run-dir DIR] [--set K=V] [--data-option K=V] "
    "[--optimizer-option K=V] [--FIELD VALUE ...]  (FIELD: a pipelines.train.TrainConfig field, as deepzoo train spells it)"
)


def _json_or_text(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def train_arguments(argv):
    """(model, data, run_dir, options) of this entry's `train` arguments: `--FIELD VALUE` for every
    TrainConfig field (values are JSON where they parse), `--tiny`, and repeatable KEY=VALUE flags.
    Values are checked by `pipelines.train.train` itself; this entry imports nothing of the CLI."""
    if not argv or argv[0].startswith("-"):
        raise ValueError(f"a model name comes first. Usage: {TRAIN_USAGE}")
    model, rest = argv[0], list(argv[1:])
    data, run_dir, options = "", None, {}
    while rest:
        flag = rest.pop(0)
        name = flag[2:].replace("-", "_") if flag.startswith("--") else ""
        if not name:
            raise ValueError(f"expected a --flag. Received: {flag!r}")
        if name == "tiny":
            options["model_config"] = "tiny"
            continue
        if not rest:
            raise ValueError(f"{flag} needs a value.")
        value = rest.pop(0)
        if name == "data":
            data = value
        elif name == "run_dir":
            run_dir = value
        elif name in TRAIN_KEY_VALUE_FLAGS:
            key, sep, text = value.partition("=")
            if not sep or not key:
                raise ValueError(f"{flag} must be KEY=VALUE. Received: {value!r}")
            options.setdefault(TRAIN_KEY_VALUE_FLAGS[name], {})[key.replace("-", "_")] = _json_or_text(text)
        else:
            options[TRAIN_FLAG_FIELDS.get(name, name)] = _json_or_text(value)
    options.setdefault("distribute", "multiworker")
    return model, data, run_dir, options


def _train_main(argv):
    """One worker of a multi-worker training run: the strategy first, then `pipelines.train.train`."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        model, data, run_dir, options = train_arguments(argv)
        multiworker_strategy()  # before any other TensorFlow op of the process
        from pipelines.train import train

        result = train(model, data, run_dir=run_dir, **options)
    except (ValueError, TypeError) as exc:  # TypeError: a --FIELD that TrainConfig does not have
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"tuning.distributed train: error: {message}", file=sys.stderr)
        return 2
    print(f"run directory: {result.run_dir}")
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m tuning.distributed worker SETTINGS.json | train MODEL [--data D] [--tiny] [--FIELD VALUE ...]"
    if not argv or argv[0] not in ("worker", "train"):
        print(usage, file=sys.stderr)
        return 2
    if argv[0] == "worker":
        if len(argv) != 2:
            print(usage, file=sys.stderr)
            return 2
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        return _worker_main(argv[1])
    return _train_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
