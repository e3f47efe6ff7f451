"""Open Inference Protocol (KServe v2) over HTTP/REST, as Triton and KServe speak it.

Health, server and model metadata, model readiness and inference, with the two Triton extensions
tritonclient uses by default: binary tensor data (the JSON header, then raw little-endian tensor
bytes, its length in `Inference-Header-Content-Length`; BYTES elements each a 4-byte length, then
the bytes) and classification (top-k of an output as "score:index:label" strings).
`GET /v2/models/{name}/config` answers Triton's model configuration.

A request carries every input of the model by name, each with its datatype (FP32, INT32, INT64,
BYTES as JSON strings, ...); the response carries every output (or those the request names) with
its own datatype. JSON responses are strict: non-finite floats are the strings "NaN", "Infinity",
"-Infinity".
"""

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

import deepzoo
from serving.app import (
    add_model_routes,
    json_body,
    json_bytes,
    json_response,
    offload,
    parse_json_object,
    read_body,
    record_inference,
    state_of,
)
from serving.errors import BadRequest
from serving.tensors import (
    ALL_DATATYPES,
    array_from_bytes,
    array_from_json,
    bytes_to_buffer,
    check_inputs,
    json_values,
    parse_shape,
)

SERVER_NAME = "deepzoo"
EXTENSIONS = ["binary_tensor_data", "classification", "model_configuration"]
HEADER_LENGTH = "Inference-Header-Content-Length"

router = APIRouter(tags=["Open Inference Protocol (KServe v2)"])

_PARAMETERS = {"type": "object", "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}}
INFER_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": _PARAMETERS,
        "inputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "shape", "datatype"],
                "properties": {
                    "name": {"type": "string"},
                    "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                    "datatype": {"type": "string", "enum": list(ALL_DATATYPES)},
                    "parameters": _PARAMETERS,
                    "data": {"description": "Tensor elements, flat or nested, in row-major order."},
                },
            },
        },
        "outputs": {
            "type": "array",
            "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "parameters": _PARAMETERS}},
        },
    },
}


# --- health and metadata ------------------------------------------------------------------------


async def server_live():
    return Response(status_code=200)


async def server_ready(request: Request):
    return Response(status_code=200 if state_of(request).ready else 400)


async def server_metadata():
    return json_response({"name": SERVER_NAME, "version": deepzoo.__version__, "extensions": EXTENSIONS})


async def _model_ready(request, model_name, model_version):
    state = state_of(request)
    served = state.repository.resolve(model_name, model_version, require_ready=False)
    return Response(status_code=200 if served.ready and state.started and not state.shutting_down else 400)


async def _model_metadata(request, model_name, model_version):
    repository = state_of(request).repository
    served = repository.resolve(model_name, model_version)
    return json_response({**model_metadata(repository, served), "parameters": description(served)})


def model_metadata(repository, served):
    """The protocol's model metadata (REST adds the description as parameters)."""
    return {
        "name": served.model,
        "versions": repository.version_names(served.model),
        "platform": served.runtime.platform,
        "inputs": [spec.as_v2() for spec in served.inputs],
        "outputs": [spec.as_v2() for spec in served.outputs],
    }


def description(served):
    info = {key: value for key, value in served.describe().items() if key not in ("path", "model")}
    info.update(task=served.task, labels=served.labels)
    return {key: value for key, value in info.items() if value is not None}


async def _model_config(request, model_name, model_version):
    return json_response(model_config(state_of(request).repository.resolve(model_name, model_version)))


def model_config(served):
    """Triton's model configuration of a served version (the REST and gRPC answers share it)."""
    kind = "KIND_GPU" if served.runtime.accelerated else "KIND_CPU"

    def tensors(specs):
        return [{"name": s.name, "data_type": f"TYPE_{s.datatype.replace('BYTES', 'STRING')}", "dims": list(s.shape[1:])} for s in specs]

    return {
        "name": served.model,
        "platform": served.runtime.platform,
        "max_batch_size": served.max_batch_size,
        "input": tensors(served.inputs),
        "output": tensors(served.outputs),
        "dynamic_batching": {"max_queue_delay_microseconds": int(served.config.max_queue_delay_ms * 1000)},
        "instance_group": [{"count": served.config.instances, "kind": kind}],
    }


# --- inference ----------------------------------------------------------------------------------


async def _infer(request, model_name, model_version):
    state = state_of(request)
    served = state.repository.resolve(model_name, model_version)
    body = await read_body(request, state.settings.max_request_bytes, binary=True)
    header_length = request.headers.get(HEADER_LENGTH)
    # Only JSON is costly to decode; binary tensor bytes are used in place.
    json_size = int(header_length) if header_length is not None and header_length.strip().isdigit() else len(body)
    parsed = await offload(json_size, _decode_request, body, header_length, served)
    try:
        outputs = await served.infer(parsed["feeds"], parsed["rows"])
    except Exception:
        record_inference(state, served, "error")
        raise
    record_inference(state, served, "success")
    binary = parsed["binary_output"] or any(p.get("binary_data") for _, p in parsed["outputs"])
    size = 0 if binary else sum(value.nbytes for value in outputs.values())
    return await offload(size, _encode_response, served, parsed, outputs)


def _decode_request(body, header_length, served):
    """Request body -> {"feeds", "rows", "id", "outputs", "binary_output"}; every problem is a BadRequest."""
    if header_length is not None:
        if not header_length.strip().isdigit() or int(header_length) > len(body):
            raise BadRequest(f"{HEADER_LENGTH} must be an integer no larger than the body ({len(body)} bytes). Received: {header_length[:40]!r}")
        split = int(header_length)
        header, binary = body[:split], memoryview(body)[split:]
    else:
        header, binary = body, memoryview(b"")
    payload = parse_json_object(header, "Inference request")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest(f"'id' must be a string. Received: {type(request_id).__name__}")
    parameters = _parameters(payload, "request")
    inputs = payload.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("'inputs' must be a non-empty list of input tensors.")
    specs = {spec.name: spec for spec in served.inputs}
    feeds, offset = {}, 0
    for index, entry in enumerate(inputs):
        if not isinstance(entry, dict):
            raise BadRequest(f"inputs[{index}] must be an object with name, shape, datatype and data.")
        name = entry.get("name")
        if not isinstance(name, str):
            raise BadRequest(f"inputs[{index}] needs a string 'name'.")
        if name in feeds:
            raise BadRequest(f"Input '{name[:80]}' is given twice.")
        spec = specs.get(name)
        if spec is None:
            raise BadRequest(f"Unknown input {name[:80]!r}. Expected inputs: {sorted(specs)}.")
        what = f"input '{name}'"
        datatype = entry.get("datatype")
        if datatype not in ALL_DATATYPES:
            raise BadRequest(f"{what}: unknown datatype. Expected one of {list(ALL_DATATYPES)}. Received: {str(datatype)[:40]!r}")
        if datatype != spec.datatype:
            raise BadRequest(f"{what}: wrong datatype. Expected: {spec.datatype}. Received: {datatype}.")
        if "shape" not in entry:
            raise BadRequest(f"{what}: 'shape' is missing.")
        shape = parse_shape(entry["shape"], what)
        size = _parameters(entry, what).get("binary_data_size")
        if size is not None:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise BadRequest(f"{what}: binary_data_size must be a non-negative integer within the {len(binary)} binary bytes sent. Received: {size!r}")
            array = array_from_bytes(binary[offset : offset + size], spec, what, shape)
            if not array.flags.aligned:
                array = array.copy()
            offset += size
        elif "data" in entry:
            array = array_from_json(entry["data"], spec, what, shape)
        else:
            raise BadRequest(f"{what}: 'data' is missing (or parameters.binary_data_size for binary data).")
        feeds[name] = array
    if offset != len(binary):
        raise BadRequest(f"{len(binary) - offset} bytes of binary data were not claimed by any input's binary_data_size.")
    rows = check_inputs(feeds, served.inputs, served.config.allow_non_finite)
    return {
        "feeds": feeds,
        "rows": rows,
        "id": request_id,
        "outputs": requested_outputs(payload, served),
        "binary_output": _flag(parameters, "binary_data_output", "request"),
    }


def _parameters(entry, what):
    parameters = entry.get("parameters", {})
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise BadRequest(f"{what}: 'parameters' must be an object.")
    return parameters


def _flag(parameters, key, what, default=False):
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise BadRequest(f"{what}: parameter '{key}' must be true or false. Received: {str(value)[:40]!r}")
    return value


def requested_outputs(payload, served):
    """[(name, parameters)] of the outputs to return; all outputs when the request names none."""
    names = [spec.name for spec in served.outputs]
    requested = payload.get("outputs")
    if requested is None:
        return [(name, {}) for name in names]
    if not isinstance(requested, list):
        raise BadRequest("'outputs' must be a list of {\"name\": ...} objects.")
    result, seen = [], set()
    for index, entry in enumerate(requested):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise BadRequest(f"outputs[{index}] must be an object with a string 'name'.")
        name = entry["name"]
        if name not in names:
            raise BadRequest(f"Unknown output {name[:80]!r}. Model outputs: {names}.")
        if name in seen:
            raise BadRequest(f"Output '{name}' is requested twice.")
        seen.add(name)
        parameters = _parameters(entry, f"output '{name}'")
        if "binary_data" in parameters:
            _flag(parameters, "binary_data", f"output '{name}'")
        classes = parameters.get("classification", 0)
        if isinstance(classes, bool) or not isinstance(classes, int) or classes < 0:
            raise BadRequest(f"output '{name}': 'classification' must be a non-negative integer. Received: {str(classes)[:40]!r}")
        if classes:
            shape = next(s.shape for s in served.outputs if s.name == name)
            if len(shape) != 2:
                raise BadRequest(f"output '{name}': classification needs a [batch, classes] output. Model output shape: {list(shape)}.")
        result.append((name, parameters))
    return result


def classify(scores, top_k, labels):
    """[batch, classes] scores -> [batch, k] BYTES "score:index[:label]", best first (Triton's format)."""
    k = min(top_k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rows = []
    for row, indices in zip(scores, order):
        entries = []
        for index in indices:
            text = f"{float(row[index])}:{int(index)}"
            if labels and int(index) < len(labels):
                text += f":{labels[int(index)]}"
            entries.append(text.encode())
        rows.append(entries)
    return np.array(rows, dtype=np.object_).reshape(len(rows), k)


def _encode_response(served, parsed, outputs):
    entries, blobs = [], []
    for name, parameters in parsed["outputs"]:
        array = outputs[name]
        datatype = next(s.datatype for s in served.outputs if s.name == name)
        if parameters.get("classification"):
            array, datatype = classify(array, parameters["classification"], served.labels), "BYTES"
        entry = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if parameters.get("binary_data", parsed["binary_output"]):
            raw = bytes_to_buffer(array) if datatype == "BYTES" else np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            entry["data"] = json_values(array.ravel(), f"output '{name}'")
        entries.append(entry)
    response = {"model_name": served.model, "model_version": served.version, "outputs": entries}
    if parsed["id"] is not None:
        response["id"] = parsed["id"]
    header = json_bytes(response)
    if not blobs:
        return Response(header, media_type="application/json")
    return Response(header + b"".join(blobs), media_type="application/octet-stream", headers={HEADER_LENGTH: str(len(header))})


# Routes are tried in registration order, so inference, nearly every request, is registered first.
add_model_routes(router, "/v2/models", "/infer", _infer, "POST", "Inference", openapi_extra=json_body(INFER_REQUEST_SCHEMA))
router.add_api_route("/v2/health/live", server_live, methods=["GET"], summary="Server live", operation_id="v2_live")
router.add_api_route("/v2/health/ready", server_ready, methods=["GET"], summary="Server ready (every model loaded, not shutting down)", operation_id="v2_ready")
router.add_api_route("/v2", server_metadata, methods=["GET"], summary="Server metadata", operation_id="v2_server_metadata")
add_model_routes(router, "/v2/models", "", _model_metadata, "GET", "Model metadata")
add_model_routes(router, "/v2/models", "/ready", _model_ready, "GET", "Model ready")
add_model_routes(router, "/v2/models", "/config", _model_config, "GET", "Model configuration (Triton extension)")
