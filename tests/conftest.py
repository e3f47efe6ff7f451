"""Shared test setup: quiet TensorFlow, CPU only, deterministic seeds, a registry that is loaded."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The sweep's XLA column checks that programs lower and compute the same numbers; LLVM's
# optimisation passes would only make the CPU code faster and cost most of the compile time.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    import keras

    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session(free_memory=False)  # a full gc per test costs ~0.5 s
