"""Export a training run: its `.keras` model, verified on its own held-out test split, int8
calibrated on its own training pipeline, with the run's task, labels and preprocessing recorded
in the metadata."""

from pathlib import Path

import numpy as np

from export.formats import export_model, validate_options
from export.tflite import DEFAULT_CALIBRATION_SAMPLES

MAX_VERIFICATION_SAMPLES = 2000


def run_metadata(run):
    config = run.config
    return {
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


def held_out(run, num_samples=None):
    """The run's test split (inputs, targets), at most `num_samples` (default 2000) examples."""
    x_test, y_test = run.arrays("test")
    if len(x_test) == 0:
        raise ValueError(f"Run has an empty test split; nothing to verify against. Received: {run.run_dir}")
    limit = int(num_samples or MAX_VERIFICATION_SAMPLES)
    return np.asarray(x_test[:limit], np.float32), np.asarray(y_test[:limit])


def calibration_inputs(run, count=DEFAULT_CALIBRATION_SAMPLES):
    """Representative inputs from the run's own training pipeline: its train split through the
    same tf.data pipeline it was trained with, shuffled with its seed, without random augmentation
    (an exported model meets real, not augmented, inputs)."""
    from pipelines.input_pipeline import make_tf_dataset

    x_train, y_train = run.arrays("train")
    if len(x_train) == 0:
        raise ValueError(f"Run has an empty train split; nothing to calibrate int8 on. Received: {run.run_dir}")
    dataset = make_tf_dataset(x_train, y_train, batch_size=min(count, 256), shuffle=True, seed=int(run.config.get("seed", 0)), cache=False)
    batches, total = [], 0
    for x, _ in dataset:
        batches.append(np.asarray(x, np.float32))
        total += len(batches[-1])
        if total >= count:
            break
    return np.concatenate(batches)[:count]


def export_run(run_dir, formats="all", out_dir=None, options=None, num_samples=None, *, strict=False, progress=None):
    """Exports `RUN/model.keras` to `out_dir` (default `RUN/export`). Returns {"out_dir", "results"}.

    Verification uses the run's held-out test split (at most `num_samples`, default 2000) with its
    labels; full-integer int8 is calibrated on `options["calibration_samples"]` (default 256)
    inputs of its training pipeline.
    """
    from pipelines.train import Run

    run = Run.load(run_dir)
    options = dict(options or {})
    validate_options(options)
    x_test, y_test = held_out(run, num_samples)
    count = int(options.get("calibration_samples") or DEFAULT_CALIBRATION_SAMPLES)
    out_dir = Path(out_dir) if out_dir else run.run_dir / "export"
    results = export_model(
        run.model_path,
        out_dir,
        formats=formats,
        sample_inputs=x_test,
        options=options,
        metadata=run_metadata(run),
        strict=strict,
        targets=y_test,
        calibration_inputs=calibration_inputs(run, count),
        calibration_source=f"train split of {run.run_dir.name} through its tf.data pipeline (shuffled, no augmentation)",
        progress=progress,
    )
    return {"out_dir": out_dir, "results": results}
