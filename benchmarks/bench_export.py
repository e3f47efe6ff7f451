"""Export benchmark: every format against Keras `model.predict`, side by side in one process, and
the export goals as measured ratios.

    python benchmarks/bench_export.py [--root runs/bench-export] [--models lenet5,mobilenet_v2] [--run MODEL=RUN_DIR]

Trains (once; later calls reuse the run) the demo model, LeNet-5 on digits with the demo recipe,
and MobileNet-V2 (canonical width 1.0) on shapes-10 at 32×32; exports every format with
verification; runs `deepzoo bench` on each; and prints:

- the best exported runtime's speed-up over `model.predict` at batch 1 (goal ≥ 15× on MobileNet);
- full-integer int8 TFLite: size as a fraction of fp32 (goal ≤ 0.27), accuracy drop against the
  Keras model on the held-out test split (goal ≤ 1 point), latency ratio to fp32 TFLite;
  for the default per-channel weights and for `int8_per_tensor`, each over three calibration draws.

Writes ROOT/summary.md and ROOT/summary.json beside each run's bench/ folder.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = {
    "lenet5": ("digits", None),  # the demo recipe (deepzoo/demo.py)
    # The canonical width (alpha 1.0, 2.2 M parameters) at shapes-10's 32×32: a real MobileNet-V2's
    # weights, trained for minutes on a CPU, with bench_quality.py's optimiser settings (1,000 images per class,
    # batch 64, Adam 1e-3 with cosine decay; BatchNorm momentum adapted to the run's length by train()).
    # `--run mobilenet_v2=DIR` uses a run trained elsewhere instead (e.g. bench_quality.py's α = 0.5).
    # Early stopping is off so every run trains the same number of epochs; the statistics are
    # re-estimated on one large training batch afterwards ("precise BN") all the same.
    "mobilenet_v2": (
        "shapes10",
        dict(data_options={"num_per_class": 1000}, augment={"translate": 0.1, "zoom": 0.1}, epochs=30, batch_size=64,
             optimizer="adam", learning_rate=1e-3, schedule="cosine", early_stopping_patience=0),
    ),
}
GOALS = {"speedup_b1": 15.0, "int8_size_ratio": 0.27, "int8_metric_drop_points": 1.0}


def ensure_run(model, root, progress=print, run_dir=None):
    """The run to export: `run_dir` when given (trained elsewhere), else ROOT/<model>-<data>,
    trained here once with the recipe above."""
    from deepzoo.demo import DEMO_RECIPE
    from pipelines.train import train

    if run_dir is not None:
        if not (Path(run_dir) / "model.keras").is_file():
            raise SystemExit(f"--run {model}={run_dir}: no model.keras there (a finished training run is expected)")
        progress(f"{model}: using the run {run_dir}")
        return Path(run_dir)
    data, recipe = MODELS[model]
    run_dir = Path(root) / f"{model}-{data}"
    if (run_dir / "model.keras").is_file():
        progress(f"{model}: reusing {run_dir}")
        return run_dir
    progress(f"{model}: training on {data} ...")
    result = train(model, data, run_dir=run_dir, progress=None, **(recipe or {**DEMO_RECIPE, "jit": "auto"}))
    progress(f"{model}: hold-out {result.metrics}")
    if any("BatchNormalization" in type(layer).__name__ for layer in result.model.layers):
        reestimate_batchnorm(run_dir, progress)
    return run_dir


def reestimate_batchnorm(run_dir, progress=print, num_examples=1024):
    """Sets every BatchNormalization layer's moving statistics to the statistics of one large batch
    of the training split ("precise BN"), saves the model and re-evaluates the run.

    A short run cannot move statistics with momentum 0.999 far from their initial values."""
    import keras

    from common.io import atomic_path, write_json_atomic
    from pipelines.train import Run, evaluate_run

    run = Run.load(run_dir)
    model = run.load_model()
    x_train, _ = run.arrays("train")
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0  # moving statistics := this batch's statistics
    model(x_train[:num_examples], training=True)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
    with atomic_path(run.model_path, suffix=".keras") as tmp:
        model.save(tmp)
    metrics = evaluate_run(run_dir)
    write_json_atomic(run.run_dir / "metrics.json", {**run.metrics, **metrics, "batchnorm_reestimated_on": num_examples})
    progress(f"re-estimated BatchNorm statistics on {num_examples} training examples: hold-out {metrics}")


CALIBRATION_SEEDS = (0, 1, 2)


def int8_variants(run_dir, per_tensor, seeds=CALIBRATION_SEEDS):
    """[(export folder, deepzoo.json entry)] of full-integer int8, per-channel (the default) or
    per-tensor weights, one per calibration draw: which training examples calibrate moves the
    metric by about a point on a small test split, so one draw proves little."""
    from export.formats import read_metadata
    from export.run_export import export_run

    variants = []
    for seed in seeds:
        out = Path(run_dir) / f"export-int8-{'per-tensor' if per_tensor else 'per-channel'}-seed{seed}"
        export_run(run_dir, formats=["tflite_int8"], out_dir=out, options={"int8_per_tensor": per_tensor, "calibration_seed": seed})
        variants.append((out, read_metadata(out)["artifacts"]["tflite_int8"]))
    return variants


def measure(model, root, batch_size, progress=print, run_dir=None):
    from export.bench import bench_run, print_table
    from export.formats import load_artifact
    from export.tflite import size_breakdown
    from export.run_export import held_out
    from pipelines.train import Run

    run_dir = ensure_run(model, root, progress, run_dir)
    report = bench_run(run_dir, formats="all", batch_size=batch_size, progress=None)
    print_table(report, progress)
    rows = {row["name"]: row for row in report["rows"]}
    exported = [row for row in report["rows"] if row["format"] and not row["error"]]
    best = max(exported, key=lambda row: row["speedup"]["1"])
    fp32 = rows["tflite"]
    summary = {
        "fp32_size_breakdown": size_breakdown(Path(run_dir) / "export" / "model.tflite"),
        "model": model,
        "run": str(run_dir),
        "keras_metric": rows["keras predict"]["metric"],
        "metric": report["metric"],
        "best_b1": {"name": best["name"], "speedup": best["speedup"]["1"], "p50_ms": best["latency_ms"]["1"]["p50"]},
        "keras_predict_b1_ms": rows["keras predict"]["latency_ms"]["1"]["p50"],
        "bench": report["files"],
        "int8": {},
    }
    # Latency of the per-tensor variant is measured here, beside fp32 TFLite, interleaved.
    x, _ = held_out(Run.load(run_dir))
    for label, per_tensor in (("per-channel", False), ("per-tensor", True)):
        variants = int8_variants(run_dir, per_tensor)
        drops = [100 * (info["metric"]["keras"] - info["metric"]["artifact"]) for _, info in variants]
        entry = {
            "verified": all(info["verified"] for _, info in variants),
            "size_bytes": [info["size_bytes"] for _, info in variants],
            "size_ratio": max(info["size_bytes"] for _, info in variants) / fp32["size_bytes"],
            "metric_keras": variants[0][1]["metric"]["keras"],
            "metric_int8": [info["metric"]["artifact"] for _, info in variants],
            "metric_drop_points": drops,
            "mean_drop_points": sum(drops) / len(drops),
            "worst_drop_points": max(drops),
            "calibration_seeds": list(CALIBRATION_SEEDS),
            "num_examples": variants[0][1]["metric"]["num_examples"],
        }
        out = variants[0][0]
        entry["size_breakdown"] = size_breakdown(out / "model_int8.tflite")
        entry["latency_ratio_to_fp32"] = _latency_ratio(load_artifact(out, "tflite_int8"), load_artifact(Path(run_dir) / "export", "tflite"), x, batch_size)
        summary["int8"][label] = entry
    return summary


def _latency_ratio(int8, fp32, x, batch_size):
    """p50 latency int8 / fp32 at batch 1 and batch N, interleaved rounds (< 1 means int8 is faster)."""
    import numpy as np

    from export.bench import time_predictors

    batches = {"1": x[:1], "N": x[np.arange(batch_size) % len(x)]}
    times = time_predictors({"int8": int8, "fp32": fp32}, batches, rounds=5, seconds_per_round=0.3)
    return {key: float(np.median(times["int8"][key]) / np.median(times["fp32"][key])) for key in batches}


def render_summary(summaries):
    lines = [
        "# Export goals, measured",
        "",
        "| model | keras metric | best exported b1 | speed-up vs keras predict b1 (goal ≥ 15×) |",
        "|---|---:|---|---:|",
    ]
    for s in summaries:
        lines.append(f"| {s['model']} | {s['keras_metric']:.4f} | {s['best_b1']['name']} ({s['best_b1']['p50_ms']:.3f} ms vs {s['keras_predict_b1_ms']:.1f} ms) | {s['best_b1']['speedup']:.0f}× |")
    lines += [
        "",
        (
            f"| model | int8 weights | verified | size / fp32 (goal ≤ 0.27) | Keras → int8 metric, calibration seeds {list(CALIBRATION_SEEDS)} | "
            "drop, points: mean / worst (goal ≤ 1) | latency / fp32 b1 | latency / fp32 bN |"
        ),
        "|---|---|---|---:|---|---:|---:|---:|",
    ]
    for s in summaries:
        for label, e in s["int8"].items():
            int8 = ", ".join(f"{v:.4f}" for v in e["metric_int8"])
            lines.append(
                f"| {s['model']} | {label} | {e['verified']} | {e['size_ratio']:.3f} | {e['metric_keras']:.4f} → {int8} (n={e['num_examples']}) | "
                f"{e['mean_drop_points']:+.2f} / {e['worst_drop_points']:+.2f} | {e['latency_ratio_to_fp32']['1']:.2f} | {e['latency_ratio_to_fp32']['N']:.2f} |"
            )
    lines += [
        "",
        "Where the bytes go (`export.tflite.size_breakdown`), KiB:",
        "",
        "| model | artifact | total | float32 weights | int8 weights | int32 (biases) | quantization parameters | other |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        for label, sizes in (("fp32", s["fp32_size_breakdown"]), *((f"int8 {k}", e["size_breakdown"]) for k, e in s["int8"].items())):
            cells = [sizes.get(key, 0) / 1024 for key in ("total", "weights_float32", "weights_int8", "weights_int32", "quantization_parameters", "other")]
            lines.append(f"| {s['model']} | {label} | " + " | ".join(f"{c:,.1f}" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    import architectures
    from common.io import write_json_atomic, write_text_atomic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="runs/bench-export")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--run", action="append", default=[], metavar="MODEL=RUN_DIR", help="export this finished run instead of training MODEL here")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    runs = dict(item.split("=", 1) for item in args.run if "=" in item)
    if len(runs) != len(args.run) or not set(runs) <= set(models):
        parser.error(f"--run: expected MODEL=RUN_DIR with MODEL among --models {models}. Received: {args.run}")
    for model in models:
        if model not in MODELS:
            parser.error(f"--models: {model!r} has no recipe here. Expected some of {sorted(MODELS)}")
        if model not in architectures.list_models():
            parser.error(f"--models: {model!r} is not registered")
    summaries = [measure(model, args.root, args.batch, run_dir=runs.get(model)) for model in models]
    markdown = render_summary(summaries)
    print(markdown)
    root = Path(args.root)
    write_text_atomic(root / "summary.md", markdown)
    write_json_atomic(root / "summary.json", summaries)
    print(f"saved {root / 'summary.md'} and {root / 'summary.json'}")


if __name__ == "__main__":
    main()
