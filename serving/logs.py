"""Structured logs: one JSON object per line on stderr, for the server's own events and uvicorn's."""

import contextlib
import datetime
import json
import logging
import os
import sys
import tempfile

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message", "taskName"}


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", ...extra fields}`; `extra={...}` keys become fields."""

    def format(self, record):
        entry = {
            "ts": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((key, value) for key, value in vars(record).items() if key not in _RESERVED)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level="info", stream=None):
    """Routes the `deepzoo` and `uvicorn` loggers to one JSON handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("deepzoo", "uvicorn", "uvicorn.error", "py.warnings"):
        logger = logging.getLogger(name)
        logger.handlers = [handler] if name != "uvicorn.error" else []
        logger.setLevel(level.upper())
        logger.propagate = name == "uvicorn.error"  # to "uvicorn"'s handler
    logging.captureWarnings(True)  # Python warnings become JSON lines too
    access = logging.getLogger("uvicorn.access")  # the server writes its own access lines
    access.handlers, access.propagate = [], False


@contextlib.contextmanager
def native_output_as_logs(logger_name="deepzoo.serving.native"):
    """Routes what native libraries write straight to file descriptor 2 (LiteRT's delegate notice,
    TensorFlow's start-up lines) into JSON log lines, so the server's stderr stays one JSON object
    per line. Meant for model loading, before the server handles requests."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded): nothing to redirect
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            logger = logging.getLogger(logger_name)
            for line in capture.read().decode(errors="replace").splitlines():
                if line.strip():
                    logger.info(line.strip()[:2000], extra={"event": "native_output"})
