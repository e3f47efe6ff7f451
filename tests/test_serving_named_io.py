"""Serving named, typed, multiple inputs and outputs: a two-input (float image + int32 token ids)
two-output model on each runtime and a string-in string-out SavedModel, over the Open Inference
Protocol (tritonclient, and `requests` for BYTES as JSON) and the TF Serving REST API (`requests`);
dynamic batching of multi-input requests; NaN/Infinity inputs refused unless a model allows them;
strict JSON out; 415 for bodies that are not JSON; staging folders never served."""

import base64
import concurrent.futures
import json
import shutil
import struct
import threading

import keras
import numpy as np
import pytest
import requests

from export.formats import export_model
from serving.process import ServerThread
from test_export_named_io import string_model, two_input_data, two_input_model

TIMEOUT = 30
NON_FINITE = "NaN and Infinity are not accepted"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Overrides the suite's per-test Keras reset: the models live for the whole module."""
    yield


def _strict_json(text):
    """RFC 8259 JSON only: the NaN/Infinity tokens Python's parser would accept raise here."""

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def _place(export_dir, root, name, config=None, version=1):
    shutil.copytree(export_dir, root / name / str(version))
    if config is not None:
        (root / name / "serving.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def pair():
    return two_input_model()


@pytest.fixture(scope="module")
def repository(pair, tmp_path_factory):
    exports = tmp_path_factory.mktemp("exports")
    root = tmp_path_factory.mktemp("repository")
    results = export_model(pair, exports / "pair", ["savedmodel", "onnx", "tflite"], sample_inputs=two_input_data(16, 1), strict=True)
    assert all(r.verified for r in results)
    _place(exports / "pair", root, "pair")
    _place(exports / "pair", root, "pair_tflite", {"runtime": "tflite"})
    _place(exports / "pair", root, "pair_savedmodel", {"runtime": "savedmodel"})
    _place(exports / "pair", root, "pair_batched", {"max_batch_size": 8, "max_queue_delay_ms": 200})
    # A killed export's staging folder, complete enough to look like a version: never served.
    shutil.copytree(exports / "pair", root / "pair" / ".2.staging-999999-x1y2z3" / "assembled")
    shutil.copytree(exports / "pair", root / ".pair.staging-999999-x1y2z3")

    words = string_model()
    text = np.array([b"cat", b"dog", b"zebra"], dtype=object)
    results = export_model(words, exports / "words", ["savedmodel", "onnx"], sample_inputs={"text": text})
    assert results[0].verified and not results[1].verified  # ONNX cannot carry strings
    _place(exports / "words", root, "words")

    inputs = keras.Input((3,), name="values")
    scale = keras.Model(inputs, keras.layers.Rescaling(2.0)(inputs))  # NaN and ±Infinity pass through
    assert export_model(scale, exports / "scale", ["onnx"], sample_inputs=np.ones((2, 3), np.float32))[0].verified
    _place(exports / "scale", root, "scale")
    _place(exports / "scale", root, "scale_non_finite", {"allow_non_finite": True})
    return root


@pytest.fixture(scope="module")
def server(repository):
    # In process: this process has TensorFlow already (the SavedModel runtimes need it).
    with ServerThread(repository) as running:
        yield running


@pytest.fixture(scope="module")
def triton():
    return pytest.importorskip("tritonclient.http")


def _expected(pair, x):
    return {name: np.asarray(value) for name, value in pair(x).items()}


# --- metadata -------------------------------------------------------------------------------------


def test_metadata_lists_every_named_typed_tensor_and_no_staging_folder(server, triton):
    client = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
    for model in ("pair", "pair_tflite", "pair_savedmodel"):
        metadata = client.get_model_metadata(model)
        assert metadata["inputs"] == [
            {"name": "image", "datatype": "FP32", "shape": [-1, 8, 8, 1]},
            {"name": "token_ids", "datatype": "INT32", "shape": [-1, 6]},
        ], model
        assert metadata["outputs"] == [
            {"name": "scores", "datatype": "FP32", "shape": [-1, 3]},
            {"name": "embedding", "datatype": "FP32", "shape": [-1, 2]},
        ], model
    assert client.get_model_metadata("pair")["versions"] == ["1"]
    models = {entry for entry in ("pair", ".pair.staging-999999-x1y2z3") if client.is_model_ready(entry)}
    assert models == {"pair"}
    words = client.get_model_metadata("words")
    assert words["platform"] == "tensorflow_savedmodel"
    assert words["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert words["outputs"] == [{"name": "label", "datatype": "BYTES", "shape": [-1]}, {"name": "index", "datatype": "INT64", "shape": [-1]}]
    assert client.get_model_config("words")["input"] == [{"name": "text", "data_type": "TYPE_STRING", "dims": []}]
    signature = requests.get(f"{server.url}/v1/models/pair/metadata", timeout=TIMEOUT).json()["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert {name: info["dtype"] for name, info in signature["inputs"].items()} == {"image": "DT_FLOAT", "token_ids": "DT_INT32"}
    text = requests.get(f"{server.url}/v1/models/words/metadata", timeout=TIMEOUT).json()["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert text["inputs"]["text"]["dtype"] == "DT_STRING" and text["outputs"]["index"]["dtype"] == "DT_INT64"


# --- two inputs, two outputs --------------------------------------------------------------------


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_kserve_two_inputs_two_outputs_with_tritonclient(server, triton, pair, binary):
    client = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
    x = two_input_data(3, seed=4)
    expected = _expected(pair, x)
    image = triton.InferInput("image", list(x["image"].shape), "FP32")
    image.set_data_from_numpy(x["image"], binary_data=binary)
    tokens = triton.InferInput("token_ids", list(x["token_ids"].shape), "INT32")
    tokens.set_data_from_numpy(x["token_ids"], binary_data=binary)
    for model in ("pair", "pair_tflite", "pair_savedmodel"):
        requested = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("scores", "embedding")]
        result = client.infer(model, [image, tokens], outputs=requested)
        for name in ("scores", "embedding"):
            np.testing.assert_allclose(result.as_numpy(name), expected[name], rtol=1e-4, atol=1e-5, err_msg=f"{model} {name}")
        every = client.infer(model, [tokens, image])  # any input order; no outputs named: all of them
        assert {o["name"] for o in every.get_response()["outputs"]} == {"scores", "embedding"}
        one = client.infer(model, [image, tokens], outputs=[triton.InferRequestedOutput("embedding", binary_data=binary)])
        assert [o["name"] for o in one.get_response()["outputs"]] == ["embedding"]
        np.testing.assert_allclose(one.as_numpy("embedding"), expected["embedding"], rtol=1e-4, atol=1e-5)


def test_tfserving_two_inputs_as_rows_and_as_columns(server, pair):
    x = two_input_data(2, seed=5)
    expected = _expected(pair, x)
    for model in ("pair", "pair_tflite", "pair_savedmodel"):
        instances = [{"image": x["image"][i].tolist(), "token_ids": x["token_ids"][i].tolist()} for i in range(2)]
        rows = requests.post(f"{server.url}/v1/models/{model}:predict", json={"instances": instances}, timeout=TIMEOUT)
        assert rows.status_code == 200, rows.text
        predictions = _strict_json(rows.text)["predictions"]
        assert [sorted(p) for p in predictions] == [["embedding", "scores"]] * 2
        for name in ("scores", "embedding"):
            np.testing.assert_allclose([p[name] for p in predictions], expected[name], rtol=1e-4, atol=1e-5)
        columns = requests.post(
            f"{server.url}/v1/models/{model}:predict", json={"inputs": {name: value.tolist() for name, value in x.items()}}, timeout=TIMEOUT
        )
        outputs = _strict_json(columns.text)["outputs"]
        for name in ("scores", "embedding"):
            np.testing.assert_allclose(outputs[name], expected[name], rtol=1e-4, atol=1e-5)
    missing = requests.post(f"{server.url}/v1/models/pair:predict", json={"instances": [{"image": x["image"][0].tolist()}]}, timeout=TIMEOUT)
    assert missing.status_code == 400 and "must hold exactly the inputs ['image', 'token_ids']" in missing.json()["error"]
    wrong = requests.post(f"{server.url}/v1/models/pair:predict", json={"inputs": {"image": x["image"].tolist(), "token_ids": [[0.5] * 6] * 2}}, timeout=TIMEOUT)
    assert wrong.status_code == 400 and "expected INT32 values. Received: floats" in wrong.json()["error"]


def _metric(server, name, model):
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(server.url + "/metrics", timeout=TIMEOUT).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name and s.labels.get("model") == model)


def test_dynamic_batching_concatenates_every_input(server, pair):
    callers = 16
    x = two_input_data(callers, seed=6)
    expected = _expected(pair, x)
    barrier = threading.Barrier(callers)

    def call(index):
        barrier.wait(TIMEOUT)
        body = {
            "id": str(index),
            "inputs": [
                {"name": "token_ids", "shape": [1, 6], "datatype": "INT32", "data": x["token_ids"][index].tolist()},
                {"name": "image", "shape": [1, 8, 8, 1], "datatype": "FP32", "data": x["image"][index].ravel().tolist()},
            ],
        }
        response = requests.post(f"{server.url}/v2/models/pair_batched/infer", json=body, timeout=TIMEOUT)
        return response.status_code, response.json()

    with concurrent.futures.ThreadPoolExecutor(callers) as pool:
        answers = list(pool.map(call, range(callers)))
    for index, (status, body) in enumerate(answers):
        assert status == 200 and body["id"] == str(index), body
        outputs = {o["name"]: np.reshape(o["data"], o["shape"]) for o in body["outputs"]}
        for name in ("scores", "embedding"):
            np.testing.assert_allclose(outputs[name][0], expected[name][index], rtol=1e-4, atol=1e-5)
    batches = _metric(server, "deepzoo_batch_size_count", "pair_batched")
    assert _metric(server, "deepzoo_batch_size_sum", "pair_batched") == callers and batches < callers / 2, batches


# --- strings ------------------------------------------------------------------------------------


def test_strings_over_kserve_as_json_and_as_binary(server, triton):
    body = {"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["cat", "zebra", "bird"]}]}
    response = requests.post(f"{server.url}/v2/models/words/infer", json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in _strict_json(response.text)["outputs"]}
    assert outputs["label"] == {"name": "label", "datatype": "BYTES", "shape": [3], "data": ["cat", "[UNK]", "bird"]}
    assert outputs["index"] == {"name": "index", "datatype": "INT64", "shape": [3], "data": [1, 0, 3]}

    client = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
    text = np.array([b"dog", "sm\u00f8rrebr\u00f8d".encode()], dtype=object)
    for binary in (True, False):
        tensor = triton.InferInput("text", [2], "BYTES")
        tensor.set_data_from_numpy(text, binary_data=binary)
        result = client.infer("words", [tensor], outputs=[triton.InferRequestedOutput(n, binary_data=binary) for n in ("label", "index")])
        labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label").tolist()]
        assert labels == ["dog", "[UNK]"] and result.as_numpy("index").tolist() == [2, 0]

    # The binary extension by hand: each element a 4-byte little-endian length, then its bytes.
    raw = b"".join(struct.pack("<I", len(w)) + w for w in (b"bird", b"cat"))
    header = json.dumps({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": len(raw)}}]}).encode()
    response = requests.post(
        f"{server.url}/v2/models/words/infer", data=header + raw, timeout=TIMEOUT,
        headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert {o["name"]: o["data"] for o in response.json()["outputs"]} == {"label": ["bird", "cat"], "index": [3, 1]}
    short = requests.post(
        f"{server.url}/v2/models/words/infer", data=header + raw[:-2], timeout=TIMEOUT,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert short.status_code == 400 and "binary_data_size" in short.json()["error"]


def test_strings_over_tfserving_rest(server):
    url = f"{server.url}/v1/models/words:predict"
    rows = requests.post(url, json={"instances": ["cat", {"b64": base64.b64encode(b"dog").decode()}, "fish"]}, timeout=TIMEOUT)
    assert rows.status_code == 200, rows.text
    assert _strict_json(rows.text)["predictions"] == [{"label": "cat", "index": 1}, {"label": "dog", "index": 2}, {"label": "[UNK]", "index": 0}]
    named = requests.post(url, json={"instances": [{"text": "bird"}]}, timeout=TIMEOUT).json()
    assert named["predictions"] == [{"label": "bird", "index": 3}]
    columns = requests.post(url, json={"inputs": {"text": ["dog", "cat"]}}, timeout=TIMEOUT).json()
    assert columns["outputs"] == {"label": ["dog", "cat"], "index": [2, 1]}
    for bad, message in (([1, 2], "expected BYTES values"), ([{"b64": "%%%"}], "base64"), ([["cat"], "dog"], "rectangular")):
        response = requests.post(url, json={"instances": bad}, timeout=TIMEOUT)
        assert response.status_code == 400 and message in response.json()["error"], response.text


# --- non-finite inputs, strict JSON out ---------------------------------------------------------


def _v2_body(model_values):
    return '{"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [%s]}]}' % model_values


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_inputs_get_400_on_both_protocols(server, token):
    headers = {"Content-Type": "application/json"}
    v2 = requests.post(f"{server.url}/v2/models/scale/infer", data=_v2_body(f"1.0, {token}, 2.0"), headers=headers, timeout=TIMEOUT)
    assert v2.status_code == 400 and NON_FINITE in v2.json()["error"], v2.text
    v1 = requests.post(f"{server.url}/v1/models/scale:predict", data='{"instances": [[1.0, %s, 2.0]]}' % token, headers=headers, timeout=TIMEOUT)
    assert v1.status_code == 400 and NON_FINITE in v1.json()["error"], v1.text
    image = np.zeros((1, 8, 8, 1), np.float32)
    image[0, 3, 3, 0] = float(token)
    named = {"instances": [{"image": image[0].tolist(), "token_ids": [1] * 6}]}
    v1 = requests.post(f"{server.url}/v1/models/pair:predict", data=json.dumps(named), headers=headers, timeout=TIMEOUT)
    assert v1.status_code == 400 and "input 'image'" in v1.json()["error"] and NON_FINITE in v1.json()["error"]


def test_non_finite_binary_inputs_get_400(server):
    raw = np.array([[1.0, np.nan, 2.0]], np.float32).tobytes()
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": len(raw)}}]}).encode()
    response = requests.post(
        f"{server.url}/v2/models/scale/infer", data=header + raw, headers={"Inference-Header-Content-Length": str(len(header))}, timeout=TIMEOUT
    )
    assert response.status_code == 400 and NON_FINITE in response.json()["error"]


def test_a_model_that_allows_non_finite_inputs_answers_in_strict_json(server, triton):
    headers = {"Content-Type": "application/json"}
    v2 = requests.post(f"{server.url}/v2/models/scale_non_finite/infer", data=_v2_body("NaN, Infinity, -1e999"), headers=headers, timeout=TIMEOUT)
    assert v2.status_code == 200, v2.text
    assert _strict_json(v2.text)["outputs"][0]["data"] == ["NaN", "Infinity", "-Infinity"]
    v1 = requests.post(f"{server.url}/v1/models/scale_non_finite:predict", data='{"instances": [[NaN, 1.5, Infinity]]}', headers=headers, timeout=TIMEOUT)
    assert v1.status_code == 200, v1.text
    assert _strict_json(v1.text)["predictions"] == [["NaN", 3.0, "Infinity"]]
    client = triton.InferenceServerClient(f"127.0.0.1:{server.port}")
    tensor = triton.InferInput("input", [1, 3], "FP32")
    tensor.set_data_from_numpy(np.array([[np.nan, np.inf, 1.0]], np.float32), binary_data=True)
    result = client.infer("scale_non_finite", [tensor], outputs=[triton.InferRequestedOutput("output", binary_data=True)])
    np.testing.assert_array_equal(result.as_numpy("output"), [[np.nan, np.inf, 2.0]])


# --- media types --------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/xml"])
def test_a_body_that_is_not_json_gets_415(server, content_type):
    body = json.dumps({"instances": [[1.0, 2.0, 3.0]]})
    for path in ("/v1/models/scale:predict", "/v2/models/scale/infer"):
        response = requests.post(server.url + path, data=body, headers={"Content-Type": content_type}, timeout=TIMEOUT)
        assert response.status_code == 415, (path, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert "Unsupported Content-Type" in _strict_json(response.text)["error"]
    octet = requests.post(server.url + "/v1/models/scale:predict", data=body, headers={"Content-Type": "application/octet-stream"}, timeout=TIMEOUT)
    assert octet.status_code == 415  # the binary extension is the Open Inference Protocol's, not TF Serving's


def test_json_with_parameters_and_the_binary_media_types_are_accepted(server):
    body = json.dumps({"instances": [[1.0, 2.0, 3.0]]})
    ok = requests.post(server.url + "/v1/models/scale:predict", data=body, headers={"Content-Type": "application/json; charset=utf-8"}, timeout=TIMEOUT)
    assert ok.status_code == 200 and ok.json()["predictions"] == [[2.0, 4.0, 6.0]]
    v2 = _v2_body("1.0, 2.0, 3.0")
    for media_type in ("application/json", "application/octet-stream", "application/vnd.kserve.infer+json"):
        response = requests.post(server.url + "/v2/models/scale/infer", data=v2, headers={"Content-Type": media_type}, timeout=TIMEOUT)
        assert response.status_code == 200, (media_type, response.text)
