"""Running the app: bind the socket first (so a bad host or a busy port is a one-line error before
anything starts), then uvicorn with a graceful shutdown: on SIGTERM/SIGINT readiness turns false,
queued batches run at once, no new connection is accepted, and in-flight requests finish (up to
`shutdown_timeout` seconds) before the batchers stop."""

import logging
import socket

import uvicorn

from serving.app import ServerSettings, create_app

log = logging.getLogger("deepzoo.serving")


def bind_socket(host, port):
    """A bound TCP socket for host:port (port 0 picks a free one); ValueError when it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"Cannot resolve host {host!r}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    # The protocol number matters: asyncio sets TCP_NODELAY only on sockets that say IPPROTO_TCP,
    # and without it every response waits out the client's delayed ACK (~40 ms).
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ValueError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class GracefulServer(uvicorn.Server):
    """uvicorn.Server that marks the app as shutting down the moment a stop signal arrives."""

    def __init__(self, config, state):
        super().__init__(config)
        self.state = state

    def handle_exit(self, sig, frame):
        self.state.begin_shutdown_threadsafe()
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets=None):
        await super().shutdown(sockets=sockets)
        # uvicorn re-raises the stop signal after serving; a shutdown that completed is a clean exit.
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


def serve(repository, host="127.0.0.1", port=8000, settings=None, grpc_port=None):
    """Serves `repository` until SIGTERM/SIGINT (REST on `port`, gRPC on `grpc_port` when given).
    Returns 0 after a graceful shutdown of both."""
    settings = settings or ServerSettings()
    sock = bind_socket(host, port)
    app = create_app(repository, settings)
    if grpc_port is not None:
        try:
            from serving.grpc_server import GrpcServer

            app.state.serving.grpc = GrpcServer(app.state.serving, host, grpc_port)
        except BaseException:
            sock.close()
            raise
        log.info("listening", extra={"event": "grpc_listening", "host": host, "port": app.state.serving.grpc.port, "protocol": "grpc"})
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=settings.shutdown_timeout,
        server_header=False,
    )
    server = GracefulServer(config, app.state.serving)
    bound_host, bound_port = sock.getsockname()[:2]
    url_host = f"[{host}]" if ":" in host else host
    log.info("listening", extra={"event": "listening", "host": bound_host, "port": bound_port, "url": f"http://{url_host}:{bound_port}"})
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
