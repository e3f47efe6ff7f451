"""Prometheus metrics (served at /metrics) and the ASGI middleware that records each request.

Labels never come from request text: routes are the matched route template and models/versions
are the loaded ones, so a flood of unknown URLs cannot grow the metric set.
"""

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger("deepzoo.serving.access")

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
UNMATCHED = "<unmatched>"


class Metrics:
    """The server's metrics in a registry of its own (several apps in one process never collide)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        model = ["model", "version"]
        self.requests = Counter("deepzoo_http_requests", "HTTP requests by route template, method and status code.", ["route", "method", "code"], registry=self.registry)
        self.request_seconds = Histogram("deepzoo_http_request_duration_seconds", "HTTP request latency.", ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.inferences = Counter("deepzoo_inference_requests", "Inference requests by model, version and outcome.", [*model, "outcome"], registry=self.registry)
        self.batch_size = Histogram("deepzoo_batch_size", "Rows per executed batch.", model, buckets=BATCH_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("deepzoo_queue_depth", "Requests waiting to be batched.", model, registry=self.registry)
        self.queue_wait_seconds = Histogram("deepzoo_queue_wait_seconds", "Time from queueing to batch start.", model, buckets=LATENCY_BUCKETS, registry=self.registry)
        self.compute_seconds = Histogram("deepzoo_inference_duration_seconds", "Runtime execution time per batch.", model, buckets=LATENCY_BUCKETS, registry=self.registry)
        self._children = {}

    def child(self, metric, *labels):
        """`metric.labels(*labels)`, looked up once: prometheus_client validates and locks on every
        `labels()` call, which cost more per request than the updates themselves. The cache holds no
        more entries than the metrics' own label sets."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child


class ObservabilityMiddleware:
    """Pure ASGI middleware: request count and latency per route, and one JSON access-log line."""

    def __init__(self, app, metrics, access_log=True):
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def send_and_record(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope.get("method", "")
            self.metrics.child(self.metrics.requests, route, method, str(status)).inc()
            self.metrics.child(self.metrics.request_seconds, route, method).observe(elapsed)
            if self.access_log:
                client = scope.get("client") or ("", 0)
                log.info(
                    "request",
                    extra={
                        "event": "request",
                        "method": method,
                        "path": scope.get("path", "")[:200],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "client": f"{client[0]}:{client[1]}",
                    },
                )
