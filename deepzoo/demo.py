"""`deepzoo demo`: LeNet-5 on scikit-learn's digits (up-sampled to 32×32), end to end.

Train through the tf.data pipeline with augmentation → evaluate on the stratified hold-out split
(accuracy, macro F1, confusion matrix) → export to SavedModel, ONNX and TFLite → run each artifact
in its own runtime against the Keras model on held-out inputs → print a short report.
"""

import time

DEMO_RECIPE = dict(
    epochs=30,
    batch_size=64,
    optimizer="adam",
    learning_rate=2e-3,
    augment="digits",
    early_stopping_patience=8,
    test_fraction=0.2,
    validation_fraction=0.1,
    seed=0,
)


def run_demo(out_root="runs", epochs=None, max_examples=None, jit="auto", print_fn=print):
    """Runs the demo; returns a report dict with the run directory, metrics and export results."""
    from export.run_export import export_run
    from pipelines.train import resolve_jit, train

    started = time.perf_counter()
    recipe = dict(DEMO_RECIPE)
    if epochs:
        recipe["epochs"] = epochs
    if max_examples:
        recipe["max_examples"] = max_examples
    print_fn(f"deepzoo demo: lenet5 on digits 32×32, XLA {'on' if resolve_jit(jit) else 'off'} (jit={jit})")
    from pipelines.train import default_run_dir

    result = train("lenet5", "digits", run_dir=default_run_dir("lenet5", "digits", out_root), jit=jit, progress=print_fn, **recipe)
    metrics = result.metrics
    print_fn("exporting and verifying: SavedModel (+XLA) in TensorFlow, ONNX in ONNX Runtime, TFLite fp32/fp16/dynamic/int8 in LiteRT")
    exported = export_run(result.run_dir, formats="all")
    elapsed = time.perf_counter() - started

    print_fn("")
    print_fn("=" * 72)
    print_fn(f"hold-out accuracy {metrics['accuracy']:.4f}   macro F1 {metrics['macro_f1']:.4f}   ({metrics['num_examples']} examples)")
    print_fn("confusion matrix (rows true 0-9, columns predicted):")
    for row in metrics["confusion_matrix"]:
        print_fn("  " + " ".join(f"{v:3d}" for v in row))
    print_fn("exports (each run in its own runtime on held-out digits, compared with Keras):")
    for r in exported["results"]:
        status = f"verified  max|diff| {r.max_abs_diff:.1e}" if r.verified else f"FAILED  {r.error}"
        print_fn(f"  {r.format:<15} {r.runtime:<12} {r.size_bytes / 1024:8.1f} KiB  {status}")
    print_fn(f"run directory: {result.run_dir}")
    print_fn(f"total time: {elapsed:.1f}s (training {result.seconds:.1f}s, {metrics['epochs_run']} epochs)")
    ok = all(r.verified for r in exported["results"])
    print_fn("demo: OK" if ok else "demo: export verification FAILED")
    print_fn("=" * 72)
    return {"ok": ok, "run_dir": result.run_dir, "metrics": metrics, "exports": exported["results"], "seconds": elapsed}
