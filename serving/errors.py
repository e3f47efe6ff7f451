"""The errors a request can end in. Every one becomes a JSON `{"error": message}` with its status code,
the error object both protocols (Open Inference Protocol and TF Serving REST) define."""


class ServingError(Exception):
    """An error with an HTTP status and a one-line message for the caller."""

    status_code = 500

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class BadRequest(ServingError):
    status_code = 400


class NotFound(ServingError):
    status_code = 404


class PayloadTooLarge(ServingError):
    status_code = 413


class UnsupportedMediaType(ServingError):
    """A request body that is neither JSON nor the binary tensor extension."""

    status_code = 415


class Unavailable(ServingError):
    """The server cannot serve this now (a version that failed to load, or shutting down)."""

    status_code = 503
