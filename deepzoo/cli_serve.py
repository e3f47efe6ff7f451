"""`deepzoo serve DIR`: every model of a repository over the Open Inference Protocol (KServe v2) and
the TensorFlow Serving REST API. `register(subparsers)` adds the sub-command; handlers return an
exit code and raise ValueError (one line) for bad input.

Also runnable alone: `python -m deepzoo.cli_serve DIR [options]`.
"""

import argparse
import sys

from deepzoo.cli_options import (
    Float,
    Int,
    ServingRuntime,
    Text,
    add_option,
    check_arguments,
)

RUNTIME_HELP = "onnx, tflite, savedmodel, auto (ONNX, then TFLite, then SavedModel) or an artifact key such as tflite_int8"


def register(subparsers):
    """Adds this area's sub-commands to the CLI."""
    sub = subparsers.add_parser(
        "serve",
        help="Serve a model repository over KServe v2 (Open Inference Protocol) and TF Serving, REST and gRPC.",
        description=(
            "Serves every model in DIR (DIR/<name>/<version>/ as written by `deepzoo export --repository`), "
            "each with all its versions. Per-model settings in DIR/<name>/serving.json override these flags."
        ),
    )
    sub.add_argument("repository", metavar="DIR", help="model repository (or a single export directory)")
    add_option(sub, "--host", Text("an interface name or address"), default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    add_option(sub, "--port", Int(0, 65535), default=8000, help="TCP port, 0 for any free one (default: 8000)")
    add_option(sub, "--grpc-port", Int(0, 65535), help="also serve both protocols over gRPC on this port, 0 for any free one (default: no gRPC)")
    add_option(sub, "--runtime", ServingRuntime(), help=f"{RUNTIME_HELP} (default: auto)")
    sub.add_argument("--xla", action="store_true", default=None, help="SavedModel runtime: use the XLA-compiled serving_xla signature")
    add_option(sub, "--max-batch-size", Int(1), help="dynamic batching: most rows per batch, 1 disables (default: 32 on a GPU, 1 on CPU)")
    add_option(sub, "--max-queue-delay-ms", Float(0.0), help="dynamic batching: longest wait for a batch to fill (default: 0)")
    add_option(sub, "--instances", Int(1), help="concurrent executions per model version (default: 1)")
    add_option(sub, "--max-request-bytes", Int(1), default=64 * 1024 * 1024, help="largest accepted request body (default: 64 MiB)")
    add_option(sub, "--shutdown-timeout", Float(0.0), default=30.0, help="seconds in-flight requests get to finish on shutdown (default: 30)")
    sub.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"], help="JSON log level (default: info)")
    sub.add_argument("--no-access-log", dest="access_log", action="store_false", help="do not log one line per request")
    sub.set_defaults(handler=_run, needs_tensorflow=False)  # a SavedModel runtime imports it itself
    return sub


def _run(args):
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in [0, 65535]. Received: {args.port}")
    if not args.host:
        raise ValueError("--host must not be empty.")
    if args.max_request_bytes < 1:
        raise ValueError(f"--max-request-bytes must be positive. Received: {args.max_request_bytes}")
    if args.shutdown_timeout < 0:
        raise ValueError(f"--shutdown-timeout must be >= 0. Received: {args.shutdown_timeout}")

    from serving import (
        ModelConfig,
        ServerSettings,
        configure_logging,
        load_repository,
        serve,
    )

    flags = {
        "runtime": args.runtime,
        "xla": args.xla,
        "max_batch_size": args.max_batch_size,
        "max_queue_delay_ms": args.max_queue_delay_ms,
        "instances": args.instances,
    }
    defaults = ModelConfig().updated({key: value for key, value in flags.items() if value is not None}, "command-line flags")
    configure_logging(args.log_level)
    repository = load_repository(args.repository, defaults)
    settings = ServerSettings(max_request_bytes=args.max_request_bytes, shutdown_timeout=args.shutdown_timeout, access_log=args.access_log)
    return serve(repository, host=args.host, port=args.port, settings=settings, grpc_port=args.grpc_port)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="deepzoo")
    serve_parser = register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    try:
        check_arguments(serve_parser, args)
        return args.handler(args)
    except ValueError as exc:
        print(f"deepzoo serve: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
