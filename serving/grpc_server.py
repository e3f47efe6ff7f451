"""Both protocols over gRPC on one port, beside the REST server and sharing its models, batchers,
metrics and bad-input policy:

- the Open Inference Protocol's `inference.GRPCInferenceService` (ServerLive, ServerReady,
  ModelReady, ServerMetadata, ModelMetadata, ModelInfer with typed or raw contents, and Triton's
  ModelConfig), which `tritonclient.grpc` speaks;
- TensorFlow Serving's `tensorflow.serving.PredictionService` (Predict, GetModelMetadata, Classify,
  Regress), which a `tensorflow-serving-api` stub speaks;
- `grpc.health.v1.Health` for load balancers (SERVING once every model is ready, NOT_SERVING while
  shutting down).

The messages come from our own `.proto` declarations (`serving/protos/`, wire-compatible with the
published ones), compiled into `descriptors.binpb` (`make protos`) and loaded into a private
descriptor pool: no generated code, no TensorFlow, and no clash with a client library's copies of
the same messages in one process.

gRPC handlers run on a thread pool; inference is handed to the REST server's event loop, so a
gRPC request joins the same dynamic batches as a REST one. Errors map to status codes: a malformed
or wrong-shape request is INVALID_ARGUMENT, an unknown model NOT_FOUND, a message over the size
limit RESOURCE_EXHAUSTED (gRPC itself), a version that is not loaded UNAVAILABLE.
"""

import asyncio
import concurrent.futures
import functools
import logging
import math
import types
from pathlib import Path

import grpc
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

import deepzoo
from serving import kserve, tfserving
from serving.app import record_inference
from serving.errors import BadRequest, NotFound, PayloadTooLarge, ServingError, Unavailable
from serving.runtimes import SIGNATURE
from serving.tensors import (
    BYTES_DTYPE,
    NUMPY_BY_DATATYPE,
    array_from_bytes,
    array_from_json,
    bytes_to_buffer,
    check_inputs,
    format_shape,
)

log = logging.getLogger("deepzoo.serving")

DESCRIPTORS = Path(__file__).with_name("protos") / "descriptors.binpb"
KSERVE_SERVICE = "inference.GRPCInferenceService"
TFSERVING_SERVICE = "tensorflow.serving.PredictionService"
DEFAULT_WORKERS = 16

# The typed-contents field of each Open Inference Protocol datatype.
CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
# TensorFlow DataType enum value -> (numpy dtype, the TensorProto field holding typed values).
TF_DTYPES = {
    1: (np.float32, "float_val"),
    2: (np.float64, "double_val"),
    3: (np.int32, "int_val"),
    4: (np.uint8, "int_val"),
    5: (np.int16, "int_val"),
    6: (np.int8, "int_val"),
    7: (BYTES_DTYPE, "string_val"),
    9: (np.int64, "int64_val"),
    10: (np.bool_, "bool_val"),
    17: (np.uint16, "int_val"),
    19: (np.float16, "half_val"),
    22: (np.uint32, "uint32_val"),
    23: (np.uint64, "uint64_val"),
}
TF_ENUM_BY_NUMPY = {np.dtype(dtype): value for value, (dtype, _) in TF_DTYPES.items() if dtype is not BYTES_DTYPE}
STATUS_BY_ERROR = (
    (BadRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (PayloadTooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
)


@functools.lru_cache(maxsize=1)
def messages():
    """The protocol messages as classes, from our descriptor set in a private pool."""
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in files.file:  # dependencies come first in a set written with --include_imports
        pool.Add(file)
    names = {}
    for file in files.file:
        package = file.package
        for message in file.message_type:
            full_name = f"{package}.{message.name}"
            short = ("tf_" if package == "tensorflow" else "") + message.name
            names[short] = message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))
    return types.SimpleNamespace(**names, pool=pool)


class GrpcServer:
    """The gRPC server of one `serving.app.ServerState`: bind (`bind`), then `start()` once the event
    loop runs, `stop(grace)` on shutdown."""

    def __init__(self, state, host, port, workers=DEFAULT_WORKERS):
        self.state = state
        limit = state.settings.max_request_bytes
        options = [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", -1), ("grpc.so_reuseport", 0)]
        self.server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="deepzoo-grpc"), options=options)
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.server.add_generic_rpc_handlers((_kserve_handlers(self), _tfserving_handlers(self)))
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError as exc:
            raise ValueError(f"Cannot listen for gRPC on {address}: {exc}") from None
        if not self.port:
            raise ValueError(f"Cannot listen for gRPC on {address}: the port is taken or the address is not local.")
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)

    def start(self):
        self.server.start()
        self.update_health()

    def update_health(self):
        status = health_pb2.HealthCheckResponse
        self._set_health(status.SERVING if self.state.ready else status.NOT_SERVING)

    def _set_health(self, status):
        for service in ("", KSERVE_SERVICE, TFSERVING_SERVICE):
            self.health.set(service, status)

    def stop(self, grace):
        """Refuses new calls at once, lets in-flight calls finish within `grace` seconds.
        Returns a threading.Event set when the server has stopped."""
        self.health.enter_graceful_shutdown()
        return self.server.stop(grace)

    # -- what handlers share ------------------------------------------------------------------

    def run_on_loop(self, coroutine):
        """Runs a coroutine on the REST server's event loop (the batchers live there) and waits."""
        loop = self.state.loop
        if loop is None or loop.is_closed():
            coroutine.close()
            raise Unavailable("The server is not running.")
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def infer(self, served, feeds, rows):
        try:
            outputs = self.run_on_loop(served.infer(feeds, rows))
        except Exception:
            record_inference(self.state, served, "error")
            raise
        record_inference(self.state, served, "success")
        return outputs


def _rpc(method):
    """Wraps a handler `method(server, request) -> response`: serving errors become status codes
    with their one-line message, anything else INTERNAL (logged), never a dropped connection."""

    @functools.wraps(method)
    def handler(server, request, context):
        try:
            return method(server, request)
        except ServingError as exc:
            code = next((code for kind, code in STATUS_BY_ERROR if isinstance(exc, kind)), grpc.StatusCode.INTERNAL)
            context.abort(code, exc.message)
        except Exception as exc:
            log.exception("unexpected gRPC error", extra={"method": method.__name__})
            context.abort(grpc.StatusCode.INTERNAL, f"Internal error: {type(exc).__name__}")

    return handler


def _service(server, name, methods):
    """A generic handler for `name` from {method: (handler, request class)}."""
    handlers = {
        method: grpc.unary_unary_rpc_method_handler(
            functools.partial(function, server), request_deserializer=request_class.FromString, response_serializer=lambda message: message.SerializeToString()
        )
        for method, (function, request_class) in methods.items()
    }
    return grpc.method_handlers_generic_handler(name, handlers)


# --- Open Inference Protocol ---------------------------------------------------------------------


def _kserve_handlers(server):
    m = messages()
    return _service(
        server,
        KSERVE_SERVICE,
        {
            "ServerLive": (_server_live, m.ServerLiveRequest),
            "ServerReady": (_server_ready, m.ServerReadyRequest),
            "ModelReady": (_model_ready, m.ModelReadyRequest),
            "ServerMetadata": (_server_metadata, m.ServerMetadataRequest),
            "ModelMetadata": (_model_metadata, m.ModelMetadataRequest),
            "ModelInfer": (_model_infer, m.ModelInferRequest),
            "ModelConfig": (_model_config, m.ModelConfigRequest),
        },
    )


@_rpc
def _server_live(server, request):
    return messages().ServerLiveResponse(live=True)


@_rpc
def _server_ready(server, request):
    return messages().ServerReadyResponse(ready=server.state.ready)


@_rpc
def _model_ready(server, request):
    state = server.state
    served = state.repository.resolve(request.name, request.version or None, require_ready=False)
    return messages().ModelReadyResponse(ready=served.ready and state.started and not state.shutting_down)


@_rpc
def _server_metadata(server, request):
    return messages().ServerMetadataResponse(name=kserve.SERVER_NAME, version=deepzoo.__version__, extensions=kserve.EXTENSIONS)


@_rpc
def _model_metadata(server, request):
    repository = server.state.repository
    served = repository.resolve(request.name, request.version or None)
    return messages().ModelMetadataResponse(**kserve.model_metadata(repository, served))


@_rpc
def _model_config(server, request):
    config = kserve.model_config(server.state.repository.resolve(request.name, request.version or None))
    return messages().ModelConfigResponse(config=config)


def _parameter_values(parameters):
    """A map<string, InferParameter> as plain Python values."""
    return {key: getattr(value, value.WhichOneof("parameter_choice")) for key, value in parameters.items() if value.WhichOneof("parameter_choice")}


def _infer_parameter(value):
    m = messages()
    if isinstance(value, bool):
        return m.InferParameter(bool_param=value)
    if isinstance(value, int):
        return m.InferParameter(int64_param=value)
    if isinstance(value, float):
        return m.InferParameter(double_param=value)
    return m.InferParameter(string_param=str(value))


@_rpc
def _model_infer(server, request):
    served = server.state.repository.resolve(request.model_name, request.model_version or None)
    feeds = _infer_inputs(request, served)
    rows = check_inputs(feeds, served.inputs, served.config.allow_non_finite)
    requested = kserve.requested_outputs({"outputs": [{"name": o.name, "parameters": _parameter_values(o.parameters)} for o in request.outputs] or None}, served)
    outputs = server.infer(served, feeds, rows)
    response = messages().ModelInferResponse(model_name=served.model, model_version=served.version, id=request.id)
    for name, parameters in requested:
        array = outputs[name]
        datatype = next(s.datatype for s in served.outputs if s.name == name)
        if parameters.get("classification"):
            array, datatype = kserve.classify(array, parameters["classification"], served.labels), "BYTES"
        response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
        # Raw contents, as Triton answers: one buffer per output, no per-element encoding.
        response.raw_output_contents.append(bytes_to_buffer(array) if datatype == "BYTES" else np.ascontiguousarray(array).tobytes())
    return response


def _infer_inputs(request, served):
    specs = {spec.name: spec for spec in served.inputs}
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise BadRequest(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; give one per input, in order.")
    feeds = {}
    for index, tensor in enumerate(request.inputs):
        spec = specs.get(tensor.name)
        if spec is None:
            raise BadRequest(f"Unknown input {tensor.name[:80]!r}. Expected inputs: {sorted(specs)}.")
        if tensor.name in feeds:
            raise BadRequest(f"Input '{tensor.name[:80]}' is given twice.")
        what = f"input '{tensor.name}'"
        if tensor.datatype != spec.datatype:
            raise BadRequest(f"{what}: wrong datatype. Expected: {spec.datatype}. Received: {tensor.datatype[:40]!r}.")
        shape = tuple(tensor.shape)
        if any(d < 0 for d in shape):
            raise BadRequest(f"{what}: 'shape' must hold non-negative integers. Received: {format_shape(shape)}.")
        if raw:
            if tensor.HasField("contents"):
                raise BadRequest(f"{what}: typed contents and raw_input_contents cannot be mixed.")
            feeds[tensor.name] = array_from_bytes(raw[index], spec, what, shape)
        else:
            field = CONTENTS_FIELD.get(spec.datatype)
            if field is None:
                raise BadRequest(f"{what}: datatype {spec.datatype} has no typed contents field; send raw_input_contents.")
            values = list(getattr(tensor.contents, field))
            if spec.dtype == BYTES_DTYPE:
                array = np.empty(len(values), dtype=object)
                array[:] = values
                feeds[tensor.name] = _reshaped(array, shape, what)
            else:
                feeds[tensor.name] = array_from_json(values, spec, what, shape)
    return feeds


def _reshaped(array, shape, what):
    if math.prod(shape) != array.size:
        raise BadRequest(f"{what}: shape {format_shape(shape)} holds {math.prod(shape)} elements but contents have {array.size}.")
    return array.reshape(shape)


# --- TensorFlow Serving ------------------------------------------------------------------------------


def _tfserving_handlers(server):
    m = messages()
    return _service(
        server,
        TFSERVING_SERVICE,
        {
            "Predict": (_predict, m.PredictRequest),
            "GetModelMetadata": (_get_model_metadata, m.GetModelMetadataRequest),
            "Classify": (_classify, m.ClassificationRequest),
            "Regress": (_regress, m.RegressionRequest),
        },
    )


def _resolve_spec(server, model_spec):
    """ModelSpec -> served version (a version number, a label naming one, or the latest)."""
    if model_spec.signature_name not in ("", SIGNATURE):
        raise BadRequest(f"Serving signature name {model_spec.signature_name[:80]!r} not found. Available: ['{SIGNATURE}'].")
    choice = model_spec.WhichOneof("version_choice")
    version = None
    if choice == "version":
        version = str(model_spec.version.value)
    elif choice == "version_label":
        version = model_spec.version_label
    return server.state.repository.resolve(model_spec.name, version)


def _response_spec(served):
    m = messages()
    spec = m.ModelSpec(name=served.model, signature_name=SIGNATURE)
    spec.version.value = int(served.version)
    return spec


def array_from_tensor_proto(proto, what):
    """A TensorProto -> numpy array (tensor_content or the typed value fields; TF's rules: one value
    fills the whole shape)."""
    if proto.dtype not in TF_DTYPES:
        raise BadRequest(f"{what}: unsupported dtype enum {proto.dtype}. Supported: {sorted(TF_DTYPES)}.")
    dtype, field = TF_DTYPES[proto.dtype]
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise BadRequest(f"{what}: tensor_shape must be fully known. Received: {format_shape(shape)}.")
    count = math.prod(shape)
    if dtype is BYTES_DTYPE:
        values = list(proto.string_val)
        array = np.empty(len(values), dtype=object)
        array[:] = values
    elif proto.tensor_content:
        if len(proto.tensor_content) != count * np.dtype(dtype).itemsize:
            raise BadRequest(f"{what}: tensor_content has {len(proto.tensor_content)} bytes; shape {format_shape(shape)} needs {count * np.dtype(dtype).itemsize}.")
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape)
    elif dtype == np.float16:
        array = np.asarray(list(proto.half_val), dtype=np.uint16).view(np.float16)
    else:
        array = np.asarray(list(getattr(proto, field)), dtype=dtype)
    if array.size == 1 and count > 1:
        array = np.full(count, array[0], dtype=array.dtype)
    return _reshaped(array, shape, what)


def tensor_proto(array):
    """A numpy array -> TensorProto (numeric tensors as tensor_content, strings as string_val)."""
    m = messages()
    proto = m.tf_TensorProto()
    for size in array.shape:
        proto.tensor_shape.dim.add(size=int(size))
    if array.dtype == BYTES_DTYPE or array.dtype.kind in "SU":
        proto.dtype = 7
        proto.string_val.extend(item.encode() if isinstance(item, str) else bytes(item) for item in array.ravel())
    else:
        proto.dtype = TF_ENUM_BY_NUMPY[array.dtype]
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    return proto


@_rpc
def _predict(server, request):
    served = _resolve_spec(server, request.model_spec)
    specs = {spec.name: spec for spec in served.inputs}
    feeds = {}
    for name, proto in request.inputs.items():
        spec = specs.get(name)
        if spec is None:
            raise BadRequest(f"Unknown input {name[:80]!r}. Expected inputs: {sorted(specs)}.")
        array = array_from_tensor_proto(proto, f"input '{name}'")
        if spec.dtype != BYTES_DTYPE and array.dtype != spec.dtype:
            if array.dtype.kind not in {"f": "iuf", "i": "iu", "u": "iu", "b": "b"}.get(spec.dtype.kind, ""):
                raise BadRequest(f"input '{name}': expected {spec.tf_dtype}. Received dtype enum {proto.dtype}.")
            array = array.astype(spec.dtype)
        elif (spec.dtype == BYTES_DTYPE) != (array.dtype == BYTES_DTYPE):
            raise BadRequest(f"input '{name}': expected {spec.tf_dtype}. Received dtype enum {proto.dtype}.")
        feeds[name] = array
    rows = check_inputs(feeds, served.inputs, served.config.allow_non_finite)
    names = [spec.name for spec in served.outputs]
    wanted = list(request.output_filter) or names
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise BadRequest(f"output_filter names unknown output(s) {unknown[:5]}. Model outputs: {names}.")
    outputs = server.infer(served, feeds, rows)
    response = messages().PredictResponse(model_spec=_response_spec(served))
    for name in wanted:
        response.outputs[name].CopyFrom(tensor_proto(outputs[name]))
    return response


@_rpc
def _get_model_metadata(server, request):
    m = messages()
    fields = list(request.metadata_field)
    if fields != ["signature_def"]:
        raise BadRequest(f"metadata_field must be ['signature_def'] (the only metadata served). Received: {fields[:5]}.")
    served = _resolve_spec(server, request.model_spec)
    signature = m.tf_SignatureDef(method_name="tensorflow/serving/predict")
    for specs, target in ((served.inputs, signature.inputs), (served.outputs, signature.outputs)):
        for spec in specs:
            info = target[spec.name]
            info.name = spec.name
            info.dtype = m.pool.FindEnumTypeByName("tensorflow.DataType").values_by_name[spec.tf_dtype].number
            for size in spec.shape:
                info.tensor_shape.dim.add(size=int(size))
    signature_map = m.SignatureDefMap()
    signature_map.signature_def[SIGNATURE].CopyFrom(signature)
    response = m.GetModelMetadataResponse(model_spec=_response_spec(served))
    packed = response.metadata["signature_def"]
    packed.type_url = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    packed.value = signature_map.SerializeToString()
    return response


def _examples_payload(model_input):
    """tensorflow.serving.Input -> the REST API's {"examples": [...], "context": {...}}."""
    kind = model_input.WhichOneof("kind")
    if kind is None:
        raise BadRequest("'input' must hold an example_list or an example_list_with_context.")
    listed = getattr(model_input, kind)
    examples = [_feature_values(example) for example in listed.examples]
    context = _feature_values(listed.context) if kind == "example_list_with_context" else {}
    return {"examples": examples, "context": context}


def _feature_values(example):
    values = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind is None:
            raise BadRequest(f"feature '{name[:80]}' holds no values.")
        values[name] = list(getattr(feature, kind).value)
    return values


def _run_examples(server, request, method, task):
    served = _resolve_spec(server, request.model_spec)
    parsed = tfserving.classify_feeds(_examples_payload(request.input), served, method=method, task=task)
    outputs = server.infer(served, parsed["feeds"], parsed["rows"])
    return served, outputs[served.outputs[0].name]


@_rpc
def _classify(server, request):
    served, scores = _run_examples(server, request, "Classify", "classification")
    labels = served.labels if served.labels and len(served.labels) == scores.shape[1] else [""] * scores.shape[1]
    m = messages()
    response = m.ClassificationResponse(model_spec=_response_spec(served))
    for row in scores.tolist():
        classifications = response.result.classifications.add()
        for label, score in zip(labels, row):
            classifications.classes.add(label=label, score=score)
    return response


@_rpc
def _regress(server, request):
    served, values = _run_examples(server, request, "Regress", "regression")
    m = messages()
    response = m.RegressionResponse(model_spec=_response_spec(served))
    for value in np.asarray(values, dtype=np.float64).reshape(len(values), -1)[:, 0].tolist():
        response.result.regressions.add(value=value)
    return response
