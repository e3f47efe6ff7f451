"""A child process for the sweep's XLA column (tests/test_registry_sweep.py).

TensorFlow keeps every XLA-compiled program in a per-process cache that nothing frees (neither
`keras.backend.clear_session` nor the eager context's kernel cache), ~0.1–0.4 GB per tiny model:
compiled in the pytest workers themselves, 200 rows would fill the machine's memory. This child
checks the rows it is sent on stdin, one name per line, and answers each with one JSON line that
includes its resident memory; the parent replaces it once that passes a limit, which frees the
cache with the process.

The row's training check runs its steps XLA-compiled and the export endpoint is compiled and
compared with graph mode (`conformance.check_model(name, ("build", "train", "xla"))`).
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")  # as tests/conftest.py

MARK = "XLA-RESULT "


def resident_bytes():
    """This process's resident memory now (Linux /proc; 0 where that is unavailable)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def main():
    import tempfile

    import keras

    from deepzoo import conformance

    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        keras.utils.set_random_seed(0)
        with tempfile.TemporaryDirectory() as workdir:
            results = conformance.check_model(name, ("build", "train", "xla"), workdir=workdir)
        keras.backend.clear_session(free_memory=False)
        answer = {column: [result.status, result.detail] for column, result in results.items()}
        print(MARK + json.dumps({"name": name, "results": answer, "resident_bytes": resident_bytes()}), flush=True)


if __name__ == "__main__":
    main()
