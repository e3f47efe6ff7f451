"""Importing TensorFlow without its start-up chatter on stderr."""

import os
import sys


def import_tensorflow():
    """Imports and returns TensorFlow with file descriptor 2 pointed at /dev/null meanwhile.

    TF's C++ runtime logs (absl "InitializeLog", CUDA stubs, oneDNN notes) go straight to fd 2 at
    import, whatever TF_CPP_MIN_LOG_LEVEL says; they would bury the CLI's one-line errors and break
    the server's one-JSON-object-per-line logs.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    return sys.modules["tensorflow"]
