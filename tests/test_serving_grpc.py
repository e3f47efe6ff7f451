"""Both protocols over gRPC (`deepzoo serve DIR --grpc-port PORT`), tested with the real clients:
`tritonclient.grpc` for the Open Inference Protocol (raw and typed contents, BYTES, classification,
model config), a `tensorflow-serving-api` stub for Predict / GetModelMetadata / Classify / Regress,
and `grpc.health.v1`. Our `.proto` declarations are checked field by field against the published
ones (tritonclient's and TensorFlow's generated descriptors), and bad input gets the right status
code while the server stays up."""

import concurrent.futures
import json
import shutil
import socket
import subprocess
import sys
import threading

import grpc
import keras
import numpy as np
import pytest
import requests

from export.formats import export_model
from serving.app import ServerSettings
from serving.grpc_server import messages
from serving.process import ServerThread
from test_export_named_io import string_model, two_input_data, two_input_model

TIMEOUT = 30
MAX_REQUEST_BYTES = 1 << 20
LABELS = ["circle", "square", "triangle"]

tritongrpc = pytest.importorskip("tritonclient.grpc")
prediction_service_pb2_grpc = pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Overrides the suite's per-test Keras reset: the models live for the whole module."""
    yield


def _place(export_dir, root, name, config=None):
    shutil.copytree(export_dir, root / name / "1")
    if config is not None:
        (root / name / "serving.json").write_text(json.dumps(config))


def _classifier():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4, 4, 1), name="image")
    scores = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inputs)))
    return keras.Model(inputs, scores, name="tiny_classifier")


def _regressor():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((3,), name="features")
    return keras.Model(inputs, keras.layers.Dense(1)(inputs), name="tiny_regressor")


@pytest.fixture(scope="module")
def models():
    return {"pair": two_input_model(), "classifier": _classifier(), "regressor": _regressor()}


@pytest.fixture(scope="module")
def repository(models, tmp_path_factory):
    exports = tmp_path_factory.mktemp("exports")
    root = tmp_path_factory.mktemp("repository")
    export_model(models["pair"], exports / "pair", ["onnx"], sample_inputs=two_input_data(8, 1), strict=True)
    _place(exports / "pair", root, "pair")
    _place(exports / "pair", root, "pair_batched", {"max_batch_size": 8, "max_queue_delay_ms": 300})
    sample = np.random.default_rng(0).uniform(size=(4, 4, 4, 1)).astype("float32")
    metadata = {"task": "classification", "labels": LABELS}
    export_model(models["classifier"], exports / "classifier", ["onnx"], sample_inputs=sample, metadata=metadata, strict=True)
    _place(exports / "classifier", root, "classifier")
    features = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    export_model(models["regressor"], exports / "regressor", ["onnx"], sample_inputs=features, metadata={"task": "regression"}, strict=True)
    _place(exports / "regressor", root, "regressor")
    text = np.array([b"cat", b"dog"], dtype=object)
    export_model(string_model(), exports / "words", ["savedmodel"], sample_inputs={"text": text}, strict=True)
    _place(exports / "words", root, "words")
    return root


@pytest.fixture(scope="module")
def server(repository):
    settings = ServerSettings(max_request_bytes=MAX_REQUEST_BYTES, shutdown_timeout=10.0)
    with ServerThread(repository, settings=settings, grpc=True) as running:
        yield running


@pytest.fixture(scope="module")
def triton(server):
    client = tritongrpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def tf_stub(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


# --- our declarations are the published ones ----------------------------------------------------


def _field_signature(field):
    nested = field.message_type or field.enum_type
    return field.number, field.type, field.label, nested.full_name if nested else None


def _check_against(ours, theirs):
    """Every field we declare exists in the published message with the same number and type."""
    for field in ours.fields:
        reference = theirs.fields_by_name.get(field.name)
        assert reference is not None, f"{ours.full_name}.{field.name} is not in the published {theirs.full_name}"
        assert _field_signature(field) == _field_signature(reference), f"{ours.full_name}.{field.name}"
        if field.message_type is not None and not field.message_type.GetOptions().map_entry:
            _check_against(field.message_type, reference.message_type)
        elif field.enum_type is not None:
            published = {value.name: value.number for value in reference.enum_type.values}
            assert {v.name: v.number for v in field.enum_type.values}.items() <= published.items(), field.enum_type.full_name
        elif field.message_type is not None:  # a map entry: check the value type
            _check_against(field.message_type, reference.message_type)


def test_proto_declarations_match_the_published_definitions():
    from tensorflow_serving.apis import prediction_service_pb2
    from tritonclient.grpc import service_pb2

    pool = messages().pool
    published = {
        "inference.GRPCInferenceService": service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"],
        "tensorflow.serving.PredictionService": prediction_service_pb2.DESCRIPTOR.services_by_name["PredictionService"],
    }
    for name, reference in published.items():
        ours = pool.FindServiceByName(name)
        for method in ours.methods:
            theirs = reference.methods_by_name[method.name]
            assert method.input_type.full_name == theirs.input_type.full_name
            assert method.output_type.full_name == theirs.output_type.full_name
            _check_against(method.input_type, theirs.input_type)
            _check_against(method.output_type, theirs.output_type)
    from tensorflow_serving.apis import get_model_metadata_pb2

    _check_against(pool.FindMessageTypeByName("tensorflow.serving.SignatureDefMap"), get_model_metadata_pb2.SignatureDefMap.DESCRIPTOR)


# --- Open Inference Protocol ---------------------------------------------------------------------


def test_kserve_health_metadata_and_config_with_tritonclient(triton):
    assert triton.is_server_live() and triton.is_server_ready()
    assert triton.is_model_ready("pair") and triton.is_model_ready("words")
    assert set(triton.get_server_metadata(as_json=True)["extensions"]) >= {"binary_tensor_data", "classification", "model_configuration"}
    metadata = triton.get_model_metadata("pair", as_json=True)
    assert metadata["versions"] == ["1"] and metadata["platform"] == "onnxruntime_onnx"
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [("image", "FP32", ["-1", "8", "8", "1"]), ("token_ids", "INT32", ["-1", "6"])]
    config = triton.get_model_config("pair_batched", as_json=True)["config"]
    assert config["max_batch_size"] == 8 and config["input"][1] == {"name": "token_ids", "data_type": "TYPE_INT32", "dims": ["6"]}
    assert config["dynamic_batching"]["max_queue_delay_microseconds"] == "300000"
    words = triton.get_model_config("words", as_json=True)["config"]
    assert words["input"][0]["data_type"] == "TYPE_STRING"


def test_kserve_infer_raw_contents_two_inputs_two_outputs(triton, models):
    x = two_input_data(3, seed=7)
    expected = {name: np.asarray(value) for name, value in models["pair"](x).items()}
    image = tritongrpc.InferInput("image", list(x["image"].shape), "FP32")
    image.set_data_from_numpy(x["image"])
    tokens = tritongrpc.InferInput("token_ids", list(x["token_ids"].shape), "INT32")
    tokens.set_data_from_numpy(x["token_ids"])
    result = triton.infer("pair", [tokens, image], request_id="r7")
    assert result.get_response().id == "r7"
    for name in ("scores", "embedding"):
        np.testing.assert_allclose(result.as_numpy(name), expected[name], rtol=1e-4, atol=1e-5)
    one = triton.infer("pair", [image, tokens], outputs=[tritongrpc.InferRequestedOutput("embedding")])
    assert [o.name for o in one.get_response().outputs] == ["embedding"]


def test_kserve_infer_typed_contents_and_classification(server, models):
    """Typed contents (fp32_contents / int_contents), as other clients than tritonclient send them,
    through a stub built on tritonclient's own generated messages."""
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    x = two_input_data(2, seed=8)
    expected = np.asarray(models["pair"](x)["scores"])
    request = service_pb2.ModelInferRequest(model_name="pair")
    image = request.inputs.add(name="image", datatype="FP32", shape=[2, 8, 8, 1])
    image.contents.fp32_contents.extend(x["image"].ravel().tolist())
    tokens = request.inputs.add(name="token_ids", datatype="INT32", shape=[2, 6])
    tokens.contents.int_contents.extend(x["token_ids"].ravel().tolist())
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        response = stub.ModelInfer(request, timeout=TIMEOUT)
        scores = dict(zip([o.name for o in response.outputs], response.raw_output_contents))["scores"]
        np.testing.assert_allclose(np.frombuffer(scores, np.float32).reshape(2, 3), expected, rtol=1e-4, atol=1e-5)

        classify = service_pb2.ModelInferRequest(model_name="classifier")
        images = np.random.default_rng(2).uniform(size=(2, 4, 4, 1)).astype("float32")
        classify.inputs.add(name="input", datatype="FP32", shape=[2, 4, 4, 1]).contents.fp32_contents.extend(images.ravel().tolist())
        classify.outputs.add(name="output").parameters["classification"].int64_param = 2
        answer = stub.ModelInfer(classify, timeout=TIMEOUT)
        assert answer.outputs[0].datatype == "BYTES" and list(answer.outputs[0].shape) == [2, 2]
        reference = np.asarray(models["classifier"](images))
        first = answer.raw_output_contents[0]
        top = first[4 : 4 + int.from_bytes(first[:4], "little")].decode().split(":")
        assert int(top[1]) == int(np.argmax(reference[0])) and top[2] == LABELS[int(np.argmax(reference[0]))]
        assert abs(float(top[0]) - reference[0].max()) < 1e-5


def test_kserve_strings_in_and_out(triton):
    text = tritongrpc.InferInput("text", [3], "BYTES")
    text.set_data_from_numpy(np.array([b"cat", b"zebra", b"dog"], dtype=object))
    result = triton.infer("words", [text])
    assert result.as_numpy("label").tolist() == [b"cat", b"[UNK]", b"dog"]
    assert result.as_numpy("index").dtype == np.int64


def test_kserve_bad_requests_get_status_codes_and_the_server_stays_up(triton):
    error = tritongrpc.InferenceServerException
    x = two_input_data(1, seed=9)
    image = tritongrpc.InferInput("image", [1, 8, 8, 1], "FP32")
    image.set_data_from_numpy(x["image"])
    tokens = tritongrpc.InferInput("token_ids", [1, 6], "INT32")
    tokens.set_data_from_numpy(x["token_ids"])
    with pytest.raises(error) as unknown:
        triton.infer("no_such_model", [image, tokens])
    assert unknown.value.status() == "StatusCode.NOT_FOUND"
    wrong = tritongrpc.InferInput("image", [1, 4, 4, 1], "FP32")
    wrong.set_data_from_numpy(np.zeros((1, 4, 4, 1), np.float32))
    with pytest.raises(error) as shape:
        triton.infer("pair", [wrong, tokens])
    assert shape.value.status() == "StatusCode.INVALID_ARGUMENT" and "expected shape [-1, 8, 8, 1]" in shape.value.message()
    with pytest.raises(error) as missing:
        triton.infer("pair", [image])
    assert missing.value.status() == "StatusCode.INVALID_ARGUMENT" and "Missing input(s) ['token_ids']" in missing.value.message()
    big = tritongrpc.InferInput("image", [5000, 8, 8, 1], "FP32")
    big.set_data_from_numpy(np.zeros((5000, 8, 8, 1), np.float32))  # 1.3 MB > the 1 MiB limit
    with pytest.raises(error) as large:
        triton.infer("pair", [big, tokens])
    assert large.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
    nan = tritongrpc.InferInput("image", [1, 8, 8, 1], "FP32")
    nan.set_data_from_numpy(np.full((1, 8, 8, 1), np.nan, np.float32))
    with pytest.raises(error) as non_finite:
        triton.infer("pair", [nan, tokens])
    assert non_finite.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert triton.is_server_live() and triton.infer("pair", [image, tokens]).as_numpy("scores").shape == (1, 3)


def test_grpc_requests_join_the_rest_batches_and_metrics(server, triton):
    """gRPC and REST callers land in the same dynamic batches of one model."""
    callers = 8
    x = two_input_data(callers, seed=10)
    barrier = threading.Barrier(callers)

    def grpc_call(index):
        image = tritongrpc.InferInput("image", [1, 8, 8, 1], "FP32")
        image.set_data_from_numpy(x["image"][index : index + 1])
        tokens = tritongrpc.InferInput("token_ids", [1, 6], "INT32")
        tokens.set_data_from_numpy(x["token_ids"][index : index + 1])
        barrier.wait(TIMEOUT)
        return triton.infer("pair_batched", [image, tokens]).as_numpy("scores")

    def rest_call(index):
        body = {
            "inputs": [
                {"name": "image", "shape": [1, 8, 8, 1], "datatype": "FP32", "data": x["image"][index].ravel().tolist()},
                {"name": "token_ids", "shape": [1, 6], "datatype": "INT32", "data": x["token_ids"][index].tolist()},
            ]
        }
        barrier.wait(TIMEOUT)
        return requests.post(f"{server.url}/v2/models/pair_batched/infer", json=body, timeout=TIMEOUT).status_code

    with concurrent.futures.ThreadPoolExecutor(callers) as pool:
        answers = [pool.submit(grpc_call if i % 2 else rest_call, i) for i in range(callers)]
        results = [a.result() for a in answers]
    assert all(r == 200 for r in results[0::2]) and all(r.shape == (1, 3) for r in results[1::2])
    from prometheus_client.parser import text_string_to_metric_families

    samples = [s for f in text_string_to_metric_families(requests.get(server.url + "/metrics", timeout=TIMEOUT).text) for s in f.samples]

    def metric(name):
        return sum(s.value for s in samples if s.name == name and s.labels.get("model") == "pair_batched")

    assert metric("deepzoo_batch_size_sum") == callers and metric("deepzoo_batch_size_count") < callers / 2


# --- TensorFlow Serving --------------------------------------------------------------------------


def test_tfserving_predict_and_metadata_with_the_tensorflow_serving_api_stub(tf_stub, models):
    import tensorflow as tf
    from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2

    x = two_input_data(2, seed=11)
    expected = {name: np.asarray(value) for name, value in models["pair"](x).items()}
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "pair"
    request.model_spec.signature_name = "serving_default"
    for name, value in x.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    response = tf_stub.Predict(request, TIMEOUT)
    assert response.model_spec.name == "pair" and response.model_spec.version.value == 1
    for name in ("scores", "embedding"):
        np.testing.assert_allclose(tf.make_ndarray(response.outputs[name]), expected[name], rtol=1e-4, atol=1e-5)
    request.output_filter.append("embedding")
    assert list(tf_stub.Predict(request, TIMEOUT).outputs) == ["embedding"]

    strings = predict_pb2.PredictRequest()
    strings.model_spec.name = "words"
    strings.inputs["text"].CopyFrom(tf.make_tensor_proto(np.array([b"dog", b"emu"], dtype=object)))
    assert tf.make_ndarray(tf_stub.Predict(strings, TIMEOUT).outputs["label"]).tolist() == [b"dog", b"[UNK]"]

    metadata_request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    metadata_request.model_spec.name = "pair"
    metadata = tf_stub.GetModelMetadata(metadata_request, TIMEOUT)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signatures)
    signature = signatures.signature_def["serving_default"]
    assert {name: info.dtype for name, info in signature.inputs.items()} == {"image": tf.float32.as_datatype_enum, "token_ids": tf.int32.as_datatype_enum}
    assert [d.size for d in signature.outputs["scores"].tensor_shape.dim] == [-1, 3]


def test_tfserving_classify_and_regress(tf_stub, models):
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    images = np.random.default_rng(5).uniform(size=(2, 4, 4, 1)).astype("float32")
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "classifier"
    for row in images:
        request.input.example_list.examples.add().features.feature["input"].float_list.value.extend(row.ravel().tolist())
    result = tf_stub.Classify(request, TIMEOUT).result
    expected = np.asarray(models["classifier"](images))
    assert [[c.label for c in r.classes] for r in result.classifications] == [LABELS, LABELS]
    np.testing.assert_allclose([[c.score for c in r.classes] for r in result.classifications], expected, rtol=1e-4, atol=1e-6)

    features = np.random.default_rng(6).normal(size=(3, 3)).astype("float32")
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "regressor"
    for row in features[1:]:
        regress.input.example_list_with_context.examples.add().features.feature["input"].float_list.value.extend(row.tolist())
    regress.input.example_list_with_context.context.SetInParent()
    values = [r.value for r in tf_stub.Regress(regress, TIMEOUT).result.regressions]
    np.testing.assert_allclose(values, np.asarray(models["regressor"](features[1:]))[:, 0], rtol=1e-4, atol=1e-5)

    wrong = classification_pb2.ClassificationRequest()
    wrong.model_spec.name = "regressor"
    wrong.input.example_list.examples.add().features.feature["input"].float_list.value.extend([0.0, 1.0, 2.0])
    with pytest.raises(grpc.RpcError) as refused:
        tf_stub.Classify(wrong, TIMEOUT)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "does not support Classify" in refused.value.details()


def test_tfserving_bad_requests(tf_stub):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "absent"
    with pytest.raises(grpc.RpcError) as unknown:
        tf_stub.Predict(request, TIMEOUT)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    request.model_spec.name = "pair"
    request.model_spec.signature_name = "other"
    with pytest.raises(grpc.RpcError) as signature:
        tf_stub.Predict(request, TIMEOUT)
    assert signature.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "signature" in signature.value.details()
    request.model_spec.signature_name = ""
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 8, 8, 1), np.float32)))
    request.inputs["token_ids"].CopyFrom(tf.make_tensor_proto(np.array([["a"] * 6])))
    with pytest.raises(grpc.RpcError) as dtype:
        tf_stub.Predict(request, TIMEOUT)
    assert dtype.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "token_ids" in dtype.value.details()


# --- health and shutdown -------------------------------------------------------------------------


def test_health_serving_then_graceful_shutdown_drains_in_flight_calls(repository):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    x = two_input_data(1, seed=12)
    running = ServerThread(repository, settings=ServerSettings(shutdown_timeout=10.0), grpc=True).start()
    client = tritongrpc.InferenceServerClient(f"127.0.0.1:{running.grpc_port}")
    with grpc.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "inference.GRPCInferenceService", "tensorflow.serving.PredictionService"):
            assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT).status == health_pb2.HealthCheckResponse.SERVING
        image = tritongrpc.InferInput("image", [1, 8, 8, 1], "FP32")
        image.set_data_from_numpy(x["image"])
        tokens = tritongrpc.InferInput("token_ids", [1, 6], "INT32")
        tokens.set_data_from_numpy(x["token_ids"])
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(client.infer, "pair_batched", [image, tokens])  # waits up to 300 ms for a batch
            threading.Event().wait(0.1)
            running.stop()
            assert in_flight.result(TIMEOUT).as_numpy("scores").shape == (1, 3)
        with pytest.raises(grpc.RpcError) as after:
            health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert after.value.code() == grpc.StatusCode.UNAVAILABLE
    client.close()


def test_cli_grpc_port_in_use_is_a_one_line_error(repository):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "deepzoo.cli", "serve", str(repository), "--port", "0", "--grpc-port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if "error" in line.lower()]
    assert lines and "Cannot listen for gRPC" in lines[-1] and "Traceback" not in result.stderr


def test_committed_descriptor_set_is_compiled_from_the_proto_files(tmp_path):
    """`make protos` was rerun after the last .proto edit: the committed set equals a fresh compile."""
    from pathlib import Path

    from google.protobuf import descriptor_pb2
    protos = Path(__file__).resolve().parents[1] / "serving" / "protos"
    fresh = tmp_path / "descriptors.binpb"
    # In a child process: protoc's native module and TensorFlow's protobuf do not share one process.
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{protos}", "--include_imports", f"--descriptor_set_out={fresh}"]
    compiled = subprocess.run([*command, str(protos / "inference.proto"), str(protos / "tensorflow_serving.proto")], capture_output=True, text=True, timeout=120)
    assert compiled.returncode == 0, compiled.stderr
    committed = descriptor_pb2.FileDescriptorSet.FromString((protos / "descriptors.binpb").read_bytes())
    assert descriptor_pb2.FileDescriptorSet.FromString(fresh.read_bytes()) == committed
