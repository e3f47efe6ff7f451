"""The FastAPI application: both protocols' routes, /metrics, error handling and the lifespan that
starts the batchers and, on shutdown, lets in-flight requests finish before stopping them."""

import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import zlib

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

import deepzoo
from serving.errors import BadRequest, PayloadTooLarge, ServingError, UnsupportedMediaType
from serving.metrics import Metrics, ObservabilityMiddleware

log = logging.getLogger("deepzoo.serving")

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
# Bodies above this are decoded and encoded in a worker thread so the event loop keeps serving.
OFFLOAD_BYTES = 256 * 1024


@dataclasses.dataclass(frozen=True)
class ServerSettings:
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    shutdown_timeout: float = 30.0
    access_log: bool = True


class ServerState:
    """What the routes share: the repository, settings, metrics, and whether we are ready."""

    def __init__(self, repository, settings, metrics):
        self.repository = repository
        self.settings = settings
        self.metrics = metrics
        self.started = False
        self.shutting_down = False
        self.loop = None
        self.grpc = None  # serving.grpc_server.GrpcServer when --grpc-port is given

    @property
    def ready(self):
        return self.started and not self.shutting_down and self.repository.all_ready

    def begin_shutdown(self):
        """Readiness goes false at once and batches stop waiting to fill (called on SIGTERM/SIGINT)."""
        if not self.shutting_down:
            self.shutting_down = True
            self.repository.flush()
            if self.grpc is not None:  # refuse new gRPC calls at once; in-flight ones finish
                self.grpc_stopped = self.grpc.stop(self.settings.shutdown_timeout)
            log.info("shutdown started: finishing in-flight requests", extra={"event": "shutdown_started"})

    def begin_shutdown_threadsafe(self):
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.begin_shutdown)


# --- request and response helpers shared by the protocols ---------------------------------------


JSON_MEDIA_TYPES = ("application/json",)
# The Open Inference Protocol's binary tensor extension: a JSON header, then raw tensor bytes.
BINARY_MEDIA_TYPES = ("application/octet-stream",)
BINARY_MEDIA_PREFIX = "application/vnd.kserve"


def check_media_type(request, binary=False):
    """415 unless the body is JSON (`application/json`, `application/*+json`) or, with `binary`, the
    binary tensor extension (`application/octet-stream`, `application/vnd.kserve...`). A request
    without Content-Type is read as JSON: tritonclient and TF Serving's own examples send none."""
    header = request.headers.get("content-type")
    if header is None or not header.strip():
        return
    media_type = header.split(";", 1)[0].strip().lower()
    if media_type in JSON_MEDIA_TYPES or (media_type.startswith("application/") and media_type.endswith("+json")):
        return
    if binary and (media_type in BINARY_MEDIA_TYPES or media_type.startswith(BINARY_MEDIA_PREFIX)):
        return
    accepted = "application/json" + (", application/octet-stream or application/vnd.kserve-* (binary tensor extension)" if binary else "")
    raise UnsupportedMediaType(f"Unsupported Content-Type. Expected {accepted}. Received: {header[:80]!r}")


async def read_body(request, limit, binary=False):
    """The request body, refused with 415 unless its media type is JSON (or, with `binary`, the binary
    tensor extension), and with 413 as soon as it is known to exceed `limit` bytes.

    gzip/deflate bodies (tritonclient can send them) are inflated with the same limit on the result.
    """
    check_media_type(request, binary)
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BadRequest(f"Invalid Content-Length header. Received: {declared[:40]!r}")
        if int(declared) > limit:
            raise PayloadTooLarge(f"Request body of {int(declared)} bytes exceeds the limit of {limit} bytes (--max-request-bytes).")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes (--max-request-bytes).")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "deflate"):
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise BadRequest(f"Body is not valid {encoding} data: {exc}") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"Decompressed request body exceeds the limit of {limit} bytes (--max-request-bytes).")
    elif encoding not in ("identity", ""):
        raise BadRequest(f"Unsupported Content-Encoding. Expected gzip, deflate or identity. Received: {encoding[:40]!r}")
    return body


def parse_json_object(data, what="Request body"):
    if not data:
        raise BadRequest(f"{what} is empty; expected a JSON object.")
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"{what} is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(payload, dict):
        raise BadRequest(f"{what} must be a JSON object. Received: {type(payload).__name__}")
    return payload


async def offload(size, function, *args):
    """Runs CPU-heavy decoding or encoding inline when small, in a thread when large."""
    if size < OFFLOAD_BYTES:
        return function(*args)
    return await asyncio.to_thread(function, *args)


def json_bytes(content):
    """Strict JSON (RFC 8259): NaN and ±Infinity, which it cannot hold, are written as the strings
    "NaN", "Infinity" and "-Infinity" (TF Serving's encoding). Tensors are converted with
    `serving.tensors.json_values` already; this catches any other float (a classification score)."""
    try:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode()
    except ValueError:
        return json.dumps(_finite(content), allow_nan=False, separators=(",", ":")).encode()


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def json_response(content, status_code=200, headers=None):
    return Response(json_bytes(content), status_code=status_code, media_type="application/json", headers=headers)


def error_response(status_code, message):
    return json_response({"error": message}, status_code=status_code)


def record_inference(state, served, outcome):
    state.metrics.child(state.metrics.inferences, served.model, served.version, outcome).inc()


def state_of(request):
    return request.app.state.serving


def json_body(schema):
    """OpenAPI `requestBody` for a route that reads its body itself (so it can bound and stream it)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def add_model_routes(router, prefix, suffix, handler, method, summary, **extra):
    """Registers `handler(request, model_name, model_version)` at `{prefix}/{model_name}{suffix}`
    (model_version None: the server picks the latest ready version) and at
    `{prefix}/{model_name}/versions/{model_version}{suffix}`."""

    async def latest(request: Request, model_name: str):
        return await handler(request, model_name, None)

    async def versioned(request: Request, model_name: str, model_version: str):
        return await handler(request, model_name, model_version)

    operation = f"{prefix.strip('/').split('/')[0]}_{handler.__name__.strip('_')}"
    router.add_api_route(f"{prefix}/{{model_name}}{suffix}", latest, methods=[method], summary=summary, operation_id=operation, **extra)
    router.add_api_route(
        f"{prefix}/{{model_name}}/versions/{{model_version}}{suffix}",
        versioned,
        methods=[method],
        summary=f"{summary} (one version)",
        operation_id=f"{operation}_version",
        **extra,
    )


# --- application --------------------------------------------------------------------------------


def create_app(repository, settings=None):
    """The ASGI app serving `repository` (a `serving.repository.Repository`)."""
    from serving import kserve, tfserving

    settings = settings or ServerSettings()
    metrics = Metrics()
    state = ServerState(repository, settings, metrics)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        state.loop = asyncio.get_running_loop()
        repository.start(metrics)
        state.started = True
        if state.grpc is not None:
            state.grpc.start()
        log.info("ready", extra={"event": "ready", "models": {v.model + "/" + v.version: v.ready for v in repository.versions()}})
        try:
            yield
        finally:
            state.begin_shutdown()
            if state.grpc is not None:
                await asyncio.to_thread(state.grpc_stopped.wait)
            await repository.close(settings.shutdown_timeout)
            log.info("stopped", extra={"event": "stopped"})

    app = FastAPI(
        title="deepzoo serving",
        version=deepzoo.__version__,
        description="Exported deepzoo models over the Open Inference Protocol (KServe v2) and the TensorFlow Serving REST API.",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.serving = state
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, access_log=settings.access_log)

    @app.exception_handler(ServingError)
    async def _serving_error(request, exc):
        return error_response(exc.status_code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc):
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return error_response(exc.status_code, f"{detail}: {request.method} {request.url.path[:200]}")

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()[:5])
        return error_response(400, f"Invalid request: {problems}")

    @app.exception_handler(Exception)
    async def _unexpected(request, exc):
        log.exception("unexpected error", extra={"path": request.url.path[:200]})
        return error_response(500, f"Internal error: {type(exc).__name__}")

    app.include_router(kserve.router)
    app.include_router(tfserving.router)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    async def prometheus_metrics():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
