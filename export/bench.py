"""`deepzoo bench RUN`: every exported format of a run against Keras `model.predict`, side by side
in one process, on the run's held-out test split.

Per row: file size, parity (max |diff| against the Keras outputs), the task metric, latency p50 and
p95 at batch 1 and at batch N, throughput at batch N, and the speed ratio to `model.predict` (the
baseline a user would otherwise call). The TensorFlow paths are measured with and without XLA:
SavedModel `serving_default` vs `serving_xla`, and `predict` of the model compiled with
`jit_compile=False` vs `True`. On a GPU, ONNX Runtime gets one row per available provider
(TensorRT, CUDA, CPU). Rows are timed in interleaved rounds so that drift in the machine's speed
hits all of them alike.

Writes bench.md, bench.json and bench.png (matplotlib) to `RUN/bench` (or `out_dir`).
"""

import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from common.io import atomic_path, write_json_atomic, write_text_atomic
from export.verify import max_abs_diff, predict_in_chunks, resolve_task
from tasks.base import take

BASELINE = "keras predict"


@dataclasses.dataclass
class BenchRow:
    name: str
    format: str | None
    runtime: str
    size_bytes: int | None = None
    max_abs_diff: float | None = None
    metric: float | None = None
    latency_ms: dict = dataclasses.field(default_factory=dict)  # "1" / "N" -> {"p50", "p95", "calls"}
    throughput: float | None = None  # samples per second at batch N
    speedup: dict = dataclasses.field(default_factory=dict)  # "1" / "N" -> keras predict p50 / this p50
    error: str | None = None
    _predict: object = dataclasses.field(default=None, repr=False)


def _percentiles(samples):
    values = np.asarray(samples) * 1e3
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)), "calls": len(values)}


def _keras_rows(model_path, task):
    import keras

    rows = []
    for jit, name in ((False, BASELINE), (True, "keras predict (jit_compile)")):
        endpoint = task.export_endpoint(keras.saving.load_model(str(model_path), compile=False))
        endpoint.compile(jit_compile=jit)
        rows.append(BenchRow(name, None, "keras/tensorflow", _predict=_keras_predict(endpoint)))
    return rows


def _keras_predict(model):
    """`model.predict` (the call a user would otherwise make) on named inputs, named outputs out."""
    from export.context import Endpoint, name_outputs

    endpoint = Endpoint(model)

    def predict(inputs):
        feeds = endpoint.feeds(inputs)
        rows = len(next(iter(feeds.values())))
        outputs = name_outputs(model.predict(endpoint.pack(feeds), batch_size=rows, verbose=0))
        return {name: np.asarray(value) for name, value in outputs.items()}

    predict.endpoint = model
    return predict


def _artifact_rows(export_dir, names, metadata):
    from export.formats import FORMATS, load_artifact, load_onnx, load_savedmodel, onnx_providers

    rows = []
    artifacts = metadata.get("artifacts", {})
    for name in names:
        info = artifacts.get(name, {})
        fmt = FORMATS[name]
        size = info.get("size_bytes")
        path = Path(export_dir) / fmt.filename
        if not info.get("verified") or not path.is_file():
            rows.append(BenchRow(name, name, fmt.runtime, size, error=info.get("error") or "not exported"))
            continue
        try:
            if name == "savedmodel":
                rows.append(BenchRow("savedmodel serving_default", name, "tensorflow", size, _predict=load_savedmodel(path)))
                xla = info.get("signatures", {}).get("serving_xla", {})
                if xla.get("status") == "verified":
                    rows.append(BenchRow("savedmodel serving_xla", name, "tensorflow (XLA)", size, _predict=load_savedmodel(path, "serving_xla")))
                else:
                    rows.append(BenchRow("savedmodel serving_xla", name, "tensorflow (XLA)", size, error=xla.get("reason") or xla.get("error") or "not exported"))
            elif name == "onnx":
                seen = set()
                providers = onnx_providers()
                for index, provider in enumerate(providers):
                    # Each provider with the ones after it as fallbacks for nodes it cannot run.
                    predictor = load_onnx(path, providers[index:], cache_dir=Path(export_dir).parent / ".trt-cache")
                    actual = predictor.info["provider"]
                    if actual in seen:
                        continue  # the provider fell back to one already measured
                    seen.add(actual)
                    rows.append(BenchRow(f"onnx ({actual.replace('ExecutionProvider', '')})", name, f"onnxruntime {actual}", size, _predict=predictor))
            else:
                rows.append(BenchRow(name, name, fmt.runtime, size, _predict=load_artifact(export_dir, name)))
        except Exception as exc:
            rows.append(BenchRow(name, name, fmt.runtime, size, error=f"{type(exc).__name__}: {str(exc).strip()[:200]}"))
    return rows


def time_predictors(predictors, batches, rounds=3, seconds_per_round=0.3, progress=None):
    """Per-call seconds of each predictor at each batch, timed in interleaved rounds.

    Args:
        predictors: name -> callable on a batch.
        batches: key -> input batch.
        rounds: each round runs every predictor at every batch for about `seconds_per_round`, so
            that drift in the machine's speed hits all of them alike.

    Returns:
        {name: {batch key: [seconds per call]}}
    """
    estimates, times = {}, {name: {key: [] for key in batches} for name in predictors}
    for key, batch in batches.items():
        for name, predict in predictors.items():
            for _ in range(2):  # warm-up: graph tracing, XLA compilation, TensorRT engines, allocations
                predict(batch)
            started = time.perf_counter()
            predict(batch)
            estimates[name, key] = time.perf_counter() - started
    for round_index in range(rounds):
        if progress:
            progress(f"timing round {round_index + 1}/{rounds} ...")
        for key, batch in batches.items():
            for name, predict in predictors.items():
                calls = int(np.clip(seconds_per_round / max(estimates[name, key], 1e-6), 3, 2000))
                for _ in range(calls):
                    started = time.perf_counter()
                    predict(batch)
                    times[name][key].append(time.perf_counter() - started)
    return times


def bench_run(
    run_dir,
    formats="all",
    export_dir=None,
    batch_size=32,
    num_samples=None,
    rounds=3,
    seconds_per_round=0.3,
    out_dir=None,
    progress=print,
):
    """Benchmarks a run's exported artifacts; exports (and verifies) missing ones first.

    Returns the report dict that is also saved as `bench.json`.
    """
    from export.formats import FORMATS, read_metadata, resolve_formats
    from export.run_export import export_run, held_out
    from export.verify import compare_metric
    from pipelines.train import Run

    run = Run.load(run_dir)
    if not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2 (batch 1 is always measured). Received: {batch_size!r}")
    names = resolve_formats(formats)
    export_dir = Path(export_dir) if export_dir else run.run_dir / "export"
    out_dir = Path(out_dir) if out_dir else run.run_dir / "bench"
    existing = read_metadata(export_dir) if (export_dir / "deepzoo.json").is_file() else {}
    missing = [n for n in names if not (existing.get("artifacts", {}).get(n, {}).get("verified") and (export_dir / FORMATS[n].filename).is_file())]
    if missing:
        if progress:
            progress(f"exporting {', '.join(missing)} to {export_dir} first")
        export_run(run.run_dir, formats=missing, out_dir=export_dir, num_samples=num_samples)
    metadata = read_metadata(export_dir)

    task, labels = resolve_task(run.config.get("task")), run.config.get("class_names")
    rows = _keras_rows(run.model_path, task) + _artifact_rows(export_dir, names, metadata)
    keras_predict = rows[0]._predict
    x, y = task.export_samples(keras_predict.endpoint, *held_out(run, num_samples))
    reference = predict_in_chunks(keras_predict, x, batch_size)
    metric_name = None
    for row in rows:
        if row._predict is None:
            continue
        outputs = predict_in_chunks(row._predict, x, batch_size)
        row.max_abs_diff = max_abs_diff(reference, outputs)
        metric = compare_metric(task, y, reference, outputs, labels)
        row.metric, metric_name = metric["artifact"], metric["name"]
    rows_available = len(next(iter(reference.values())))
    batch_n = take(x, np.arange(batch_size) % rows_available)
    live = {row.name: row._predict for row in rows if row._predict is not None}
    times = time_predictors(live, {"1": take(x, slice(0, 1)), "N": batch_n}, rounds, seconds_per_round, progress)

    baseline = rows[0]
    for row in rows:
        for key, samples in times.get(row.name, {}).items():
            row.latency_ms[key] = _percentiles(samples)
        if row.latency_ms:
            row.throughput = batch_size / (row.latency_ms["N"]["p50"] / 1e3)
            row.speedup = {key: baseline.latency_ms[key]["p50"] / row.latency_ms[key]["p50"] for key in row.latency_ms}
    report = {
        "run": str(run.run_dir),
        "export_dir": str(export_dir),
        "model": run.config.get("model"),
        "dataset": run.config.get("data"),
        "task": run.config.get("task"),
        "metric": metric_name or task.objective[0],
        "batch_size": batch_size,
        "num_eval_examples": rows_available,
        "baseline": BASELINE,
        "environment": _environment(),
        "rows": [{f.name: getattr(row, f.name) for f in dataclasses.fields(row) if not f.name.startswith("_")} for row in rows],
    }
    report["xla"] = _xla_summary(report["rows"])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "bench.json", report)
    write_text_atomic(out_dir / "bench.md", render_markdown(report))
    plot(report, out_dir / "bench.png")
    report["files"] = {kind: str(out_dir / f"bench.{kind}") for kind in ("md", "json", "png")}
    return report


def _xla_summary(rows):
    by_name = {row["name"]: row for row in rows}
    pairs = (("keras predict (jit_compile)", BASELINE), ("savedmodel serving_xla", "savedmodel serving_default"))
    summary = {}
    for xla, plain in pairs:
        a, b = by_name.get(xla), by_name.get(plain)
        if a and b and a["latency_ms"] and b["latency_ms"]:
            summary[f"{xla} vs {plain}"] = {key: b["latency_ms"][key]["p50"] / a["latency_ms"][key]["p50"] for key in a["latency_ms"]}
    return summary


def _environment():
    import tensorflow as tf

    from export.formats import onnx_providers, tool_versions

    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    return {
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "tensorflow_device": "GPU" if gpus else "CPU",
        "gpus": gpus,
        "onnxruntime_providers": onnx_providers(),
        "versions": tool_versions(),
    }


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def render_markdown(report):
    n = report["batch_size"]
    env = report["environment"]
    lines = [
        f"# Export benchmark: {report['model']} on {report['dataset']}",
        "",
        (
            f"{report['num_eval_examples']} held-out examples; latency per call in ms; throughput in samples/s at batch {n}; "
            f"speed-up = `{report['baseline']}` p50 / row p50, measured in the same process. "
            f"TensorFlow on {env['tensorflow_device']}, {env['cpu_count']} CPUs, ONNX Runtime providers {env['onnxruntime_providers']}."
        ),
        "",
        f"| format | runtime | size KiB | max abs diff | {report['metric']} | b1 p50 | b1 p95 | b{n} p50 | b{n} p95 | samples/s | speed-up b1 | speed-up b{n} |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        if row["error"]:
            lines.append(f"| {row['name']} | {row['runtime']} | {_fmt(row['size_bytes'] and row['size_bytes'] / 1024, '.1f')} | not run: {row['error'][:80]} |" + " |" * 8)
            continue
        b1, bn = row["latency_ms"]["1"], row["latency_ms"]["N"]
        lines.append(
            f"| {row['name']} | {row['runtime']} | {_fmt(row['size_bytes'] and row['size_bytes'] / 1024, '.1f')} | "
            f"{row['max_abs_diff']:.2g} | {_fmt(row['metric'], '.4f')} | {b1['p50']:.3f} | {b1['p95']:.3f} | {bn['p50']:.3f} | {bn['p95']:.3f} | "
            f"{row['throughput']:,.0f} | {row['speedup']['1']:.1f}× | {row['speedup']['N']:.1f}× |"
        )
    if report.get("xla"):
        lines += ["", "XLA vs not (p50 ratio, > 1 means XLA is faster):", ""]
        for pair, ratios in report["xla"].items():
            lines.append(f"- {pair}: batch 1 {ratios['1']:.2f}×, batch {n} {ratios['N']:.2f}×")
    return "\n".join(lines) + "\n"


def print_table(report, print_fn=print):
    for line in render_markdown(report).splitlines():
        print_fn(line)


def plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in report["rows"] if not row["error"]]
    names = [row["name"] for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * len(rows) + 1.8))
    for axis, key, title in ((axes[0], "1", "latency p50, batch 1 (ms, log)"), (axes[1], "N", f"latency p50, batch {report['batch_size']} (ms, log)")):
        values = [row["latency_ms"][key]["p50"] for row in rows]
        colors = ["#888888" if row["format"] is None else "#1f77b4" for row in rows]
        axis.barh(names, values, color=colors)
        axis.set_xscale("log")
        axis.invert_yaxis()
        axis.set_title(title)
        for index, row in enumerate(rows):
            axis.annotate(f" {row['speedup'][key]:.1f}×", (values[index], index), va="center", fontsize=8)
    axes[1].set_yticklabels([])
    fig.suptitle(f"{report['model']} on {report['dataset']}: speed-up vs {report['baseline']}")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def load_report(path):
    return json.loads(Path(path).read_text())
