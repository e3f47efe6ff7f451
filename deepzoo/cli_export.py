"""`deepzoo export`: export a run's model to SavedModel / ONNX / TFLite and verify each artifact."""


def register(subparsers):
    """Adds this area's sub-commands to the CLI."""
    p = subparsers.add_parser("export", help="export a run to savedmodel|onnx|tflite|all, each verified in its runtime")
    p.add_argument("run", help="run directory (from deepzoo train)")
    p.add_argument("--format", default="all", help="savedmodel, onnx, tflite or all (comma-separated allowed)")
    p.add_argument("--out", help="export directory (default RUN/export)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset")
    p.add_argument("--samples", type=int, default=64, help="held-out inputs used for verification")
    p.set_defaults(handler=_run)


def _run(args):
    from export.run_export import export_run

    formats = args.format.split(",") if "," in args.format else args.format
    options = {"opset": args.opset} if args.opset else {}
    report = export_run(args.run, formats=formats, out_dir=args.out, options=options, num_samples=args.samples)
    failed = 0
    for result in report["results"]:
        status = "verified" if result.verified else "FAILED"
        diff = f"max|diff|={result.max_abs_diff:.2e}" if result.max_abs_diff is not None else ""
        print(f"{result.format:<11} {status:<8} {diff:<20} {result.size_bytes / 1e6:7.2f} MB  {result.path or result.error}")
        failed += not result.verified
    print(f"export directory: {report['out_dir']}")
    return 1 if failed else 0
