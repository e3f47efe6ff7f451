"""Export a training run: its `.keras` model, verified on its own held-out test inputs, with the
run's task, labels and preprocessing recorded in the metadata."""

from pathlib import Path

from export.formats import export_model


def export_run(run_dir, formats="all", out_dir=None, options=None, num_samples=64):
    """Exports `RUN/model.keras` to `out_dir` (default `RUN/export`). Returns {"out_dir", "results"}."""
    from pipelines.train import Run

    run = Run.load(run_dir)
    x_test, _ = run.arrays("test")
    if len(x_test) == 0:
        raise ValueError(f"Run has an empty test split; nothing to verify against. Received: {run_dir}")
    out_dir = Path(out_dir) if out_dir else run.run_dir / "export"
    config = run.config
    metadata = {
        "task": config.get("task"),
        "labels": config.get("class_names"),
        "preprocessing": {
            "inside_model": config.get("model_overrides", {}).get("preprocessing"),
            "raw_input_range": config.get("value_range"),
            "note": "inputs are raw values; deterministic preprocessing is part of the exported graph",
        },
        "source_run": str(run.run_dir.resolve()),
        "architecture": config.get("model"),
        "dataset": config.get("data"),
    }
    results = export_model(run.model_path, out_dir, formats=formats, sample_inputs=x_test[:num_samples], options=options, metadata=metadata)
    return {"out_dir": out_dir, "results": results}
