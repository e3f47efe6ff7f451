"""TensorFlow Serving's REST API: model status, model metadata, `:predict` in row ("instances") and
columnar ("inputs") formats, and `:classify` for classification models.

Shapes follow TF Serving's documented JSON: status is a `GetModelStatusResponse`, metadata a
`GetModelMetadataResponse` with the `serving_default` signature, errors `{"error": message}`.

Several named inputs go as `instances` (a list of objects keyed by input name, one per example) or
as `inputs` (an object keyed by input name, each a batch); strings are JSON strings, binary values
`{"b64": "..."}`. Every output comes back, string outputs as JSON strings (base64 objects for an
output whose name ends in `_bytes`, and for bytes that are not UTF-8 text), non-finite floats as
"NaN", "Infinity", "-Infinity" (strict JSON), as TF Serving writes them.
"""

import math

import numpy as np
from fastapi import APIRouter

from serving.app import (
    add_model_routes,
    json_body,
    json_response,
    offload,
    parse_json_object,
    read_body,
    record_inference,
    state_of,
)
from serving.errors import BadRequest
from serving.runtimes import SIGNATURE
from serving.tensors import NonTextBytes, array_from_json, check_inputs, json_values

router = APIRouter(tags=["TensorFlow Serving REST API"])

_VALUE = {"description": "A tensor value: number, string, boolean or (nested) list."}
PREDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "signature_name": {"type": "string"},
        "instances": {"type": "array", "items": _VALUE},
        "inputs": _VALUE,
    },
}
CLASSIFY_SCHEMA = {
    "type": "object",
    "required": ["examples"],
    "properties": {
        "signature_name": {"type": "string"},
        "context": {"type": "object"},
        "examples": {"type": "array", "items": {"type": "object"}},
    },
}


# --- status and metadata ------------------------------------------------------------------------


async def _status(request, model_name, model_version):
    state = state_of(request)
    repository = state.repository
    if model_version is None:
        repository.resolve(model_name, require_ready=False)  # 404 for an unknown model
        versions = [repository.models[model_name][v] for v in repository.version_names(model_name)]
    else:
        versions = [repository.resolve(model_name, model_version, require_ready=False)]
    return json_response({"model_version_status": [_version_status(state, served) for served in reversed(versions)]})


def _version_status(state, served):
    if not served.ready:
        return {"version": served.version, "state": "END", "status": {"error_code": "UNKNOWN", "error_message": served.error or ""}}
    if state.shutting_down:
        return {"version": served.version, "state": "UNLOADING", "status": {"error_code": "OK", "error_message": ""}}
    return {"version": served.version, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}


def tensor_info(spec):
    return {
        "dtype": spec.tf_dtype,
        "tensor_shape": {"dim": [{"size": str(d), "name": ""} for d in spec.shape], "unknown_rank": False},
        "name": spec.name,
    }


async def _metadata(request, model_name, model_version):
    served = state_of(request).repository.resolve(model_name, model_version)
    signature = {
        "inputs": {spec.name: tensor_info(spec) for spec in served.inputs},
        "outputs": {spec.name: tensor_info(spec) for spec in served.outputs},
        "method_name": "tensorflow/serving/predict",
    }
    return json_response(
        {
            "model_spec": {"name": served.model, "signature_name": "", "version": served.version},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}},
        }
    )


# --- predict ------------------------------------------------------------------------------------


async def _run(request, model_name, model_version, decode, encode):
    state = state_of(request)
    served = state.repository.resolve(model_name, model_version)
    body = await read_body(request, state.settings.max_request_bytes)
    parsed = await offload(len(body), decode, body, served)
    try:
        outputs = await served.infer(parsed["feeds"], parsed["rows"])
    except Exception:
        record_inference(state, served, "error")
        raise
    record_inference(state, served, "success")
    return json_response(await offload(sum(v.nbytes for v in outputs.values()), encode, served, parsed, outputs))


def _check_signature(payload):
    name = payload.get("signature_name", SIGNATURE)
    if name not in (SIGNATURE, ""):
        raise BadRequest(f"Serving signature name {str(name)[:80]!r} not found. Available: ['{SIGNATURE}'].")


def _named_tensors(value, specs, what):
    """An object of input name -> tensor, checked against the model's inputs."""
    names = [spec.name for spec in specs]
    unknown = [key for key in value if key not in names]
    if unknown:
        raise BadRequest(f"{what}: unknown input(s) {[k[:80] for k in unknown[:5]]}. Expected inputs: {names}.")
    return {spec.name: array_from_json(value[spec.name], spec, f"input '{spec.name}'", b64=True) for spec in specs if spec.name in value}


def _named(value, specs):
    """Whether `value` is an object of input name -> tensor (rather than one `{"b64": ...}` value)."""
    return isinstance(value, dict) and not (set(value) == {"b64"} and "b64" not in {spec.name for spec in specs})


def _decode_predict(body, served):
    payload = parse_json_object(body, "Predict request")
    _check_signature(payload)
    specs = served.inputs
    if ("instances" in payload) == ("inputs" in payload):
        raise BadRequest("A predict request needs exactly one of 'instances' (row format) or 'inputs' (columnar format).")
    if "instances" in payload:
        instances = payload["instances"]
        if not isinstance(instances, list) or not instances:
            raise BadRequest("'instances' must be a non-empty list, one entry per example.")
        if all(_named(item, specs) for item in instances):
            names = [spec.name for spec in specs]
            for index, item in enumerate(instances):
                if sorted(item) != sorted(names):
                    raise BadRequest(f"instances[{index}] must hold exactly the inputs {names}. Received keys: {[k[:80] for k in list(item)[:5]]}.")
            feeds = {spec.name: array_from_json([item[spec.name] for item in instances], spec, f"input '{spec.name}'", b64=True) for spec in specs}
        elif any(_named(item, specs) for item in instances):
            raise BadRequest("'instances' must be all tensors or all objects keyed by input name, not a mix.")
        elif len(specs) == 1:
            feeds = {specs[0].name: array_from_json(instances, specs[0], f"input '{specs[0].name}'", b64=True)}
        else:
            raise BadRequest(f"The model has {len(specs)} inputs: each instance must be an object keyed by {[s.name for s in specs]}.")
    else:
        inputs = payload["inputs"]
        if _named(inputs, specs):
            feeds = _named_tensors(inputs, specs, "'inputs'")
        elif len(specs) == 1:
            feeds = {specs[0].name: array_from_json(inputs, specs[0], f"input '{specs[0].name}'", b64=True)}
        else:
            raise BadRequest(f"The model has {len(specs)} inputs: 'inputs' must be an object keyed by {[s.name for s in specs]}.")
    return {"feeds": feeds, "rows": check_inputs(feeds, specs, served.config.allow_non_finite), "row_format": "instances" in payload}


def _output_values(name, array):
    """TF Serving's JSON for one output: strings as JSON strings, base64 objects for outputs named
    `*_bytes` and for bytes that are not text; non-finite floats as "NaN"/"Infinity"/"-Infinity"."""
    try:
        return json_values(array, f"output '{name}'", b64=name.endswith("_bytes"))
    except NonTextBytes:
        return json_values(array, f"output '{name}'", b64=True)


def _encode_predict(served, parsed, outputs):
    names = [spec.name for spec in served.outputs]
    lists = {name: _output_values(name, outputs[name]) for name in names}
    if parsed["row_format"]:
        if len(names) == 1:
            return {"predictions": lists[names[0]]}
        return {"predictions": [{name: lists[name][row] for name in names} for row in range(parsed["rows"])]}
    if len(names) == 1:
        return {"outputs": lists[names[0]]}
    return {"outputs": lists}


# --- classify -----------------------------------------------------------------------------------


def _decode_classify(body, served):
    payload = parse_json_object(body, "Classify request")
    _check_signature(payload)
    return classify_feeds(payload, served)


def classify_feeds(payload, served, method="classify", task="classification"):
    """{"examples": [...], "context": {...}} -> feeds of the model's one input (REST and gRPC)."""
    output = served.outputs[0]
    shape_ok = len(output.shape) == 2 if task == "classification" else len(output.shape) == 1 or (len(output.shape) == 2 and output.shape[1] == 1)
    if served.task != task or len(served.outputs) != 1 or not shape_ok:
        wanted = "one [batch, classes] output" if task == "classification" else "one [batch] or [batch, 1] output"
        raise BadRequest(
            f"Model '{served.model}' does not support {method}: it needs task '{task}' and {wanted} "
            f"(task: {served.task!r}, outputs: {[list(s.shape) for s in served.outputs]}). Use predict."
        )
    if len(served.inputs) != 1:
        raise BadRequest(f"{method} supports single-input models only; use predict.")
    spec = served.inputs[0]
    if any(d < 0 for d in spec.shape[1:]):
        raise BadRequest(f"{method} needs fixed example dimensions; input '{spec.name}' has shape {list(spec.shape)}. Use predict.")
    examples, context = payload.get("examples"), payload.get("context", {})
    if not isinstance(examples, list) or not examples or not all(isinstance(e, dict) for e in examples):
        raise BadRequest("'examples' must be a non-empty list of objects, feature name -> value.")
    if not isinstance(context, dict):
        raise BadRequest("'context' must be an object, feature name -> value.")
    rows = []
    for index, example in enumerate(examples):
        if set(example) & set(context):
            raise BadRequest(f"examples[{index}]: features {sorted(set(example) & set(context))[:5]} also appear in 'context'.")
        features = {**context, **example}
        unknown = [key for key in features if key != spec.name]
        if unknown or spec.name not in features:
            raise BadRequest(f"examples[{index}] must hold exactly the feature '{spec.name}'. Received: {[k[:80] for k in list(features)[:5]]}.")
        value = array_from_json(features[spec.name], spec, f"examples[{index}] '{spec.name}'", b64=True)
        if value.size != math.prod(spec.shape[1:]):
            raise BadRequest(f"examples[{index}] '{spec.name}': expected {math.prod(spec.shape[1:])} values (shape {list(spec.shape[1:])}). Received: {value.size}.")
        rows.append(value.reshape(spec.shape[1:]))
    feeds = {spec.name: np.stack(rows)}
    return {"feeds": feeds, "rows": check_inputs(feeds, served.inputs, served.config.allow_non_finite)}


def _encode_classify(served, parsed, outputs):
    scores = outputs[served.outputs[0].name]
    labels = served.labels if served.labels and len(served.labels) == scores.shape[1] else [""] * scores.shape[1]
    return {"result": [[[label, float(score)] for label, score in zip(labels, row)] for row in scores.tolist()]}


async def _predict(request, model_name, model_version):
    return await _run(request, model_name, model_version, _decode_predict, _encode_predict)


async def _classify(request, model_name, model_version):
    return await _run(request, model_name, model_version, _decode_classify, _encode_classify)


# Routes are tried in registration order: the inference routes first.
add_model_routes(router, "/v1/models", ":predict", _predict, "POST", "Predict", openapi_extra=json_body(PREDICT_SCHEMA))
add_model_routes(router, "/v1/models", ":classify", _classify, "POST", "Classify", openapi_extra=json_body(CLASSIFY_SCHEMA))
add_model_routes(router, "/v1/models", "", _status, "GET", "Model status")
add_model_routes(router, "/v1/models", "/metadata", _metadata, "GET", "Model metadata")
