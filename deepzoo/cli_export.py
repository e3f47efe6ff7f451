"""`deepzoo export` and `deepzoo bench`: export a run to every format, each verified in its own
runtime (optionally as a TF Serving / Triton model repository version), and benchmark the
artifacts against Keras `model.predict`."""

from deepzoo.cli_options import Float, FormatList, Int, OutputPath, Text, add_option

FORMAT_HELP = "savedmodel, onnx, tflite, tflite_fp16, tflite_dynamic, tflite_int8, or all (comma-separated allowed)"


def register(subparsers):
    """Adds this area's sub-commands to the CLI."""
    p = subparsers.add_parser("export", help="export a run to every format (SavedModel, ONNX, TFLite fp32/fp16/int8), each verified")
    p.add_argument("run", help="run directory (from deepzoo train)")
    add_option(p, "--format", FormatList(), default="all", help=FORMAT_HELP)
    add_option(p, "--out", OutputPath(), help="export directory (default RUN/export)")
    # The supported range depends on the installed converter: export.formats checks it, before any work.
    add_option(p, "--opset", Int(1), default=None, help="ONNX opset (default 17)")
    add_option(p, "--samples", Int(1), default=None, help="held-out test examples used for verification (default: all, at most 2000)")
    p.add_argument("--int8-io", action="store_true", help="tflite_int8: int8 input and output tensors (microcontroller-class targets)")
    p.add_argument("--int8-per-tensor", action="store_true", help="tflite_int8: per-tensor weight scales (smaller; depthwise convs lose accuracy)")
    add_option(p, "--calibration-samples", Int(1), default=None, help="tflite_int8: representative inputs from the run's training pipeline (default 256)")
    p.add_argument("--no-xla", action="store_true", help="SavedModel without the XLA-compiled serving_xla signature")
    add_option(p, "--repository", OutputPath(), help="write DIR/NAME/VERSION/ for TF Serving and Triton (plus DIR/NAME/config.pbtxt)")
    add_option(p, "--name", Text("a model name", forbidden="/\\"), help="with --repository: model name (default: the run's architecture)")
    # 0 passes here and export.repository refuses it ("Version must be a positive integer") before writing.
    add_option(p, "--version", Int(0), default=None, help="with --repository: version number (default: the next one)")
    add_option(p, "--max-batch-size", Int(1), default=64, help="with --repository: Triton max_batch_size")
    p.set_defaults(handler=_export)

    p = subparsers.add_parser("bench", help="benchmark a run's exported formats against keras model.predict (Markdown, JSON, PNG)")
    p.add_argument("run", help="run directory (from deepzoo train); missing artifacts are exported first")
    add_option(p, "--format", FormatList(), default="all", help=FORMAT_HELP)
    add_option(p, "--export-dir", OutputPath(), help="export directory (default RUN/export)")
    # 1 passes here and export.bench refuses it (batch 1 is always measured) before any work.
    add_option(p, "--batch", Int(1), default=32, help="the large batch size (batch 1 is always measured)")
    add_option(p, "--samples", Int(1), default=None, help="held-out examples for parity and metric (default: all, at most 2000)")
    add_option(p, "--rounds", Int(1), default=3, help="interleaved timing rounds")
    add_option(p, "--seconds", Float(0.0, open_low=True), default=0.3, help="seconds per row, batch size and round")
    add_option(p, "--out", OutputPath(), help="report directory (default RUN/bench)")
    p.set_defaults(handler=_bench)


def _formats(text):
    return [name.strip() for name in text.split(",")] if "," in text else text


def _export(args):
    from deepzoo.cli import _tensorflow, check_run_dir
    from export.formats import resolve_formats

    check_run_dir(args.run)
    formats = resolve_formats(_formats(args.format))
    if (args.name or args.version is not None) and not args.repository:
        raise ValueError("--name and --version apply to --repository exports. Received: no --repository")
    if args.repository and args.out:
        raise ValueError("--out and --repository are alternatives. Received: both")
    options = {"opset": args.opset, "int8_io": args.int8_io, "int8_per_tensor": args.int8_per_tensor, "calibration_samples": args.calibration_samples, "xla_endpoint": not args.no_xla}
    options = {key: value for key, value in options.items() if value is not None}
    _tensorflow()
    if args.repository:
        from export.repository import export_to_repository

        try:
            report = export_to_repository(
                args.run, args.repository, name=args.name, version=args.version, formats=formats, options=options,
                num_samples=args.samples, max_batch_size=args.max_batch_size, progress=print,
            )
        except RuntimeError as exc:  # verification failed: nothing was written
            print(f"deepzoo export: FAILED: {str(exc).splitlines()[0]}")
            return 1
        _print_results(report["results"], report["limited"])
        print(f"repository version: {report['version_dir']}" + (f"  (Triton config: {report['config']})" if report["config"] else ""))
        return 0
    from export.run_export import export_run

    report = export_run(args.run, formats=formats, out_dir=args.out, options=options, num_samples=args.samples, progress=print)
    failed = _print_results(report["results"], report["limited"])
    print(f"export directory: {report['out_dir']}")
    return 1 if failed else 0


def _print_results(results, limited=None):
    for name, reason in (limited or {}).items():
        print(f"{name:<15} {'limited':<8} not exported: the registry declares: {reason}")
    failed = 0
    for result in results:
        status = "verified" if result.verified else "FAILED"
        diff = f"max|diff|={result.max_abs_diff:.2e}" if result.max_abs_diff is not None else ""
        metric = ""
        if result.metric:
            metric = f"{result.metric['name']} {result.metric['keras']:.4f}→{result.metric['artifact']:.4f}"
        where = result.path if result.verified else result.error
        print(f"{result.format:<15} {status:<8} {diff:<20} {metric:<28} {result.size_bytes / 1024:9.1f} KiB  {where}")
        failed += not result.verified
    return failed


def _bench(args):
    from deepzoo.cli import _tensorflow, check_run_dir
    from export.formats import resolve_formats

    check_run_dir(args.run)
    formats = resolve_formats(_formats(args.format))
    _tensorflow()
    from export.bench import bench_run, print_table

    report = bench_run(
        args.run, formats=formats, export_dir=args.export_dir, batch_size=args.batch, num_samples=args.samples,
        rounds=args.rounds, seconds_per_round=args.seconds, out_dir=args.out, progress=print,
    )
    print_table(report)
    print(f"saved: {report['files']['md']}, {report['files']['json']}, {report['files']['png']}")
    return 0
