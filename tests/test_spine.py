"""The spine end to end, once per task kind, generated from the registry: the first model of each
task trains from its task's default dataset through `pipelines.train.train`, writes its task's
report and pictures, exports to the first format its registry entry allows (verified in its own
runtime with the task's comparison; every format of every row is verified by the export sweep)
into a serving repository, with the declared limitations reported, and is served: one held-out example
goes through KServe v2 and TF Serving REST with its real named, typed inputs, and every output comes
back equal to the artifact's own. A task added to `tasks.TASKS` with a model is covered here
without editing this file."""

import base64
import json

import numpy as np
import pytest
import requests

import architectures
from tasks import TASKS, get_task

# One model per task kind that exports (a method row of family C exports nothing: it runs in the CLI):
# the first registered, or the kind's lightest representative where the first is one of its
# heaviest (the spine is about the task's path, not the model; every row is swept on its own).
LIGHTEST = {
    "classification": "lenet5", "pose": "cpm", "image_to_image": "pix2pix", "segmentation": "conv_only_segmenter",
    "text_classification": "conv1d_sequence", "diffusion": "diffusion_ddpm",
}
PROOF_MODELS = {
    task: ([LIGHTEST[task]] if task in LIGHTEST else [n for n in architectures.list_models(task=task) if architectures.get_spec(n).supports("savedmodel")])[:1]
    for task in TASKS
}
CASES = [(task, names[0]) for task, names in sorted(PROOF_MODELS.items()) if names]
V2_DATATYPES = {"float32": "FP32", "int32": "INT32", "int64": "INT64", "string": "BYTES", "uint8": "UINT8"}


def test_every_task_kind_has_a_model():
    assert [task for task, names in PROOF_MODELS.items() if not names] == []


def _json_values(array):
    if array.dtype == object or array.dtype.kind in "SU":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]
    return array.tolist()


def _decoded(values, dtype):
    array = np.asarray(values)
    if dtype == "string":
        return np.asarray([v.encode() if isinstance(v, str) else v for v in array.reshape(-1)], dtype=object).reshape(array.shape)
    return array


def _same(name, expected, received, dtype):
    expected = np.asarray(expected)
    received = _decoded(received, dtype).reshape(expected.shape)
    if dtype == "string" or expected.dtype.kind in "iub":
        assert np.array_equal(expected.astype(object) if dtype == "string" else expected, received), name
    else:
        assert np.allclose(expected, received.astype(np.float64), rtol=1e-4, atol=1e-4), name


@pytest.mark.slow
@pytest.mark.parametrize("task_name,model", CASES)
def test_train_export_serve_per_task(task_name, model, tmp_path):
    import keras

    from export.formats import load_artifact
    from export.repository import export_to_repository
    from pipelines.runs import Run
    from pipelines.train import train
    from serving.process import ServerThread

    spec = architectures.get_spec(model)
    result = train(model, run_dir=tmp_path / "run", progress=None, model_config="tiny", epochs=1, batch_size=16, max_examples=96)
    report = json.loads((result.run_dir / "metrics.json").read_text())
    key = TASKS[task_name].objective[0]
    assert key in report, (key, sorted(report))
    assert (result.run_dir / "curves.png").is_file()

    # Asked for the format that is served below and every format the registry declares the model
    # cannot offer: those are reported with their reasons and not exported; the served one
    # verifies. Every format of every row is verified by tests/test_export_sweep.py (the same
    # `export_model`, the task's endpoints per format); exporting them all again here cost the
    # suite minutes.
    offered = [f for f in ("savedmodel", "onnx", "tflite") if spec.supports(f)]
    asked = list(dict.fromkeys([*offered[:1], *spec.limitations]))
    asked = [f for f in asked if f not in architectures.CHECKS]
    placed = export_to_repository(result.run_dir, tmp_path / "repository", formats=asked, name=model, num_samples=8)
    failures = {r.format: r.error for r in placed["results"] if not r.verified}
    assert not failures, failures
    assert placed["limited"] == {f: spec.limitations[f] for f in asked if not spec.supports(f)}
    assert {r.format for r in placed["results"]} == {f for f in asked if spec.supports(f)}
    formats = [f for f in asked if spec.supports(f)]
    version_dir = placed["version_dir"]
    metadata = json.loads((version_dir / "deepzoo.json").read_text())
    assert metadata["inputs"] and metadata["outputs"]
    assert all({"name", "shape", "dtype"} <= set(t) for t in metadata["inputs"] + metadata["outputs"])

    # One held-out example, as the deployed endpoint takes it.
    run = Run.load(result.run_dir)
    task = get_task(task_name)
    x_test, y_test = run.arrays("test")
    endpoint = task.export_endpoint(keras.saving.load_model(run.model_path))
    inputs, _ = task.export_samples(endpoint, x_test, y_test)
    one = {spec_["name"]: np.asarray(inputs[spec_["name"]] if isinstance(inputs, dict) else inputs)[:1] for spec_ in metadata["inputs"]}
    served_format = formats[0]
    expected = load_artifact(version_dir, served_format)(one if len(one) > 1 or isinstance(inputs, dict) else next(iter(one.values())))
    dtypes = {o["name"]: o["dtype"] for o in metadata["outputs"]}

    with ServerThread(tmp_path / "repository", grpc=True) as server:
        body = {"inputs": [
            {"name": n, "datatype": V2_DATATYPES[str(v.dtype) if v.dtype != object else "string"], "shape": list(v.shape), "data": _json_values(v)}
            for n, v in one.items()
        ]}
        reply = requests.post(f"{server.url}/v2/models/{model}/infer", json=body, timeout=60)
        assert reply.status_code == 200, reply.text
        outputs = {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in reply.json()["outputs"]}
        assert set(outputs) == set(expected)
        for name, value in expected.items():
            _same(name, value, outputs[name], dtypes[name])

        # The same request over gRPC (tritonclient.grpc, raw contents): same outputs.
        import tritonclient.grpc as triton_grpc

        client = triton_grpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
        tensors = []
        for n, v in one.items():
            tensor = triton_grpc.InferInput(n, list(v.shape), V2_DATATYPES[str(v.dtype) if v.dtype != object else "string"])
            tensor.set_data_from_numpy(v if v.dtype != object else np.asarray([x if isinstance(x, bytes) else str(x).encode() for x in v.reshape(-1)], dtype=object).reshape(v.shape))
            tensors.append(tensor)
        result = client.infer(model, tensors)
        for name, value in expected.items():
            _same(name, value, result.as_numpy(name), dtypes[name])
        client.close()

        instance = {n: _json_values(v[:1])[0] if v.dtype == object or v.dtype.kind in "SU" else v[0].tolist() for n, v in one.items()}
        reply = requests.post(f"{server.url}/v1/models/{model}:predict", json={"instances": [instance]}, timeout=60)
        assert reply.status_code == 200, reply.text
        prediction = reply.json()["predictions"][0]
        prediction = prediction if isinstance(prediction, dict) else {next(iter(expected)): prediction}
        for name, value in expected.items():
            got = prediction[name]
            if isinstance(got, dict) and "b64" in got:
                got = base64.b64decode(got["b64"])
            _same(name, value[:1], [got], dtypes[name])
