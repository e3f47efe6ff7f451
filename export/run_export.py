"""Export a training run: its `.keras` model, verified on its own held-out test split, int8
calibrated on its own training pipeline, with the run's task, labels and preprocessing recorded
in the metadata."""

from pathlib import Path

import numpy as np

from export.formats import export_model, resolve_formats, validate_options
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


def held_out(run, num_samples=None, prepared=None):
    """The run's test split (inputs, targets), at most `num_samples` (default 2000) examples."""
    x_test, y_test = (prepared or run.prepared_data()).arrays("test")
    if len(x_test) == 0:
        raise ValueError(f"Run has an empty test split; nothing to verify against. Received: {run.run_dir}")
    limit = int(num_samples or MAX_VERIFICATION_SAMPLES)
    return np.asarray(x_test[:limit], np.float32), np.asarray(y_test[:limit])


def calibration_inputs(run, count=DEFAULT_CALIBRATION_SAMPLES, seed=None, prepared=None):
    """Representative inputs from the run's own training pipeline: `count` examples of its train
    split drawn with `seed` (default: the run's seed) and read through the tf.data pipeline it was
    trained with, without random augmentation (an exported model meets real inputs).

    The draw uses numpy, not the pipeline's shuffle, so that it does not depend on TensorFlow's
    global seed: the same run and seed always give the same int8 model."""
    from pipelines.input_pipeline import make_tf_dataset

    x_train, y_train = (prepared or run.prepared_data()).arrays("train")
    if len(x_train) == 0:
        raise ValueError(f"Run has an empty train split; nothing to calibrate int8 on. Received: {run.run_dir}")
    seed = int(run.config.get("seed", 0)) if seed is None else int(seed)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(x_train))[:count])
    dataset = make_tf_dataset(x_train[chosen], y_train[chosen], batch_size=256, cache=False)
    return np.concatenate([np.asarray(x, np.float32) for x, _ in dataset])


def export_run(run_dir, formats="all", out_dir=None, options=None, num_samples=None, *, strict=False, progress=None):
    """Exports `RUN/model.keras` to `out_dir` (default `RUN/export`). Returns {"out_dir", "results"}.

    Verification uses the run's held-out test split (at most `num_samples`, default 2000) with its
    labels; full-integer int8 is calibrated on `options["calibration_samples"]` (default 256)
    inputs of its training pipeline, drawn with `options["calibration_seed"]` (default: the run's seed).
    """
    from pipelines.train import Run

    run = Run.load(run_dir)
    options = dict(options or {})
    validate_options(options)
    prepared = run.prepared_data()
    x_test, y_test = held_out(run, num_samples, prepared)
    count = int(options.get("calibration_samples") or DEFAULT_CALIBRATION_SAMPLES)
    seed = options.pop("calibration_seed", None)
    out_dir = Path(out_dir) if out_dir else run.run_dir / "export"
    calibration, source = None, None
    if "tflite_int8" in resolve_formats(formats):
        calibration = calibration_inputs(run, count, seed, prepared)
        seed = int(run.config.get("seed", 0)) if seed is None else seed
        source = f"{len(calibration)} examples of the train split of {run.run_dir.name} (seed {seed}) through its tf.data pipeline, no augmentation"
    results = export_model(
        run.model_path,
        out_dir,
        formats=formats,
        sample_inputs=x_test,
        options=options,
        metadata=run_metadata(run),
        strict=strict,
        targets=y_test,
        calibration_inputs=calibration,
        calibration_source=source,
        progress=progress,
    )
    return {"out_dir": out_dir, "results": results}
