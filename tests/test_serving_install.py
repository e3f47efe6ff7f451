"""The serving-only install (`pip install deepzoo`, without the `train` extra): `deepzoo serve`
runs ONNX and TFLite models over REST and gRPC with every training package unimportable, and a
command that needs training says which install it needs (exit 2, one line).

A `sitecustomize.py` on the child's PYTHONPATH makes TensorFlow, Keras, scikit-learn and the rest of
the `train` extra fail to import, as on a machine that never installed them.
`benchmarks/bench_serving_install.py` measures the real thing: a fresh venv with the base install."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import requests

from deepzoo.cli import TRAINING_PACKAGES
from export.formats import export_model
from serving.process import ServerProcess

TIMEOUT = 30


@pytest.fixture(scope="module")
def without_training_packages(tmp_path_factory):
    """An environment whose Python cannot import any package of the `train` extra."""
    folder = tmp_path_factory.mktemp("no_training")
    (folder / "sitecustomize.py").write_text(
        textwrap.dedent(
            f"""
            import sys

            BLOCKED = {sorted(TRAINING_PACKAGES)!r}


            class _NotInstalled:
                def find_spec(self, name, path=None, target=None):
                    if name.split(".")[0] in BLOCKED:
                        raise ModuleNotFoundError(f"No module named {{name!r}}", name=name.split(".")[0])
                    return None


            sys.meta_path.insert(0, _NotInstalled())
            """
        )
    )
    return {"PYTHONPATH": str(folder)}


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    keras.utils.set_random_seed(1)
    inputs = keras.Input((6,), name="features")
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    root = tmp_path_factory.mktemp("repository")
    sample = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    results = export_model(model, root / "scores" / "1", ["onnx", "tflite"], sample_inputs=sample, metadata={"task": "classification"})
    assert all(result.verified for result in results)
    (root / "scores_tflite").mkdir()
    (root / "scores_tflite" / "serving.json").write_text('{"runtime": "tflite"}')
    export_model(model, root / "scores_tflite" / "1", ["tflite"], sample_inputs=sample, metadata={"task": "classification"})
    return root, model, sample


def test_the_blocker_really_blocks(without_training_packages):
    probe = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, env=without_training_packages, timeout=60)
    assert probe.returncode != 0 and "No module named 'tensorflow'" in probe.stderr


def test_serving_only_install_serves_onnx_and_tflite_over_rest_and_grpc(repository, without_training_packages):
    import tritonclient.grpc as triton_grpc

    root, model, sample = repository
    expected = np.asarray(model(sample))
    with ServerProcess(root, "--grpc-port", "0", env=without_training_packages) as server:
        for name in ("scores", "scores_tflite"):
            body = {"inputs": [{"name": "input", "shape": [4, 6], "datatype": "FP32", "data": sample.ravel().tolist()}]}
            answer = requests.post(f"{server.url}/v2/models/{name}/infer", json=body, timeout=TIMEOUT).json()
            np.testing.assert_allclose(np.reshape(answer["outputs"][0]["data"], (4, 3)), expected, rtol=1e-4, atol=1e-5)
        client = triton_grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
        tensor = triton_grpc.InferInput("input", [4, 6], "FP32")
        tensor.set_data_from_numpy(sample)
        np.testing.assert_allclose(client.infer("scores", [tensor]).as_numpy("output"), expected, rtol=1e-4, atol=1e-5)
        client.close()
        loaded = [line for line in server.logs() if isinstance(line, dict) and line.get("event") == "model_loaded"]
        assert {line["model"] for line in loaded} == {"scores", "scores_tflite"}


def test_training_commands_name_the_install_they_need(without_training_packages):
    result = subprocess.run(
        [sys.executable, "-m", "deepzoo.cli", "train", "lenet5", "--tiny"], capture_output=True, text=True, env=without_training_packages, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("deepzoo train: error: tensorflow is not installed")
    assert 'pip install "deepzoo[train]"' in result.stderr and "Traceback" not in result.stderr
