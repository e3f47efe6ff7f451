"""Export a training run: the export endpoint of its `.keras` model (`Task.export_endpoint`: the
detector with NMS inside, the generator, the decoder loop, or the model itself), verified on its own
held-out test split, int8 calibrated on its own training pipeline, with the run's task, labels and
preprocessing recorded in the metadata."""

from pathlib import Path

import numpy as np

from export.formats import export_model, resolve_formats, validate_options
from export.tflite import DEFAULT_CALIBRATION_SAMPLES
from export.verify import resolve_task
from tasks.base import concatenate, length, take

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
    if length(x_test) == 0:
        raise ValueError(f"Run has an empty test split; nothing to verify against. Received: {run.run_dir}")
    limit = int(num_samples or MAX_VERIFICATION_SAMPLES)
    return take(x_test, slice(0, limit)), take(y_test, slice(0, limit))


def calibration_inputs(run, count=DEFAULT_CALIBRATION_SAMPLES, seed=None, prepared=None, task=None):
    """Representative inputs from the run's own training pipeline: `count` examples of its train
    split drawn with `seed` (default: the run's seed) and read through the task's tf.data pipeline
    (`Task.make_dataset`), without random augmentation (an exported model meets real inputs).
    Returns the inputs `x` (an array or a dict of arrays) as the dataset holds them.

    The draw uses numpy, not the pipeline's shuffle, so that it does not depend on TensorFlow's
    global seed: the same run and seed always give the same int8 model."""
    task = resolve_task(run.config.get("task") if task is None else task)
    x_train, y_train = (prepared or run.prepared_data()).arrays("train")
    if length(x_train) == 0:
        raise ValueError(f"Run has an empty train split; nothing to calibrate int8 on. Received: {run.run_dir}")
    seed = int(run.config.get("seed", 0)) if seed is None else int(seed)
    chosen = np.sort(np.random.default_rng(seed).permutation(length(x_train))[:count])
    dataset = task.make_dataset(take(x_train, chosen), take(y_train, chosen), batch_size=256)
    # A task may yield (x, y) or (x, y, sample weights): the inputs come first either way.
    return concatenate([_numpy(batch[0]) for batch in dataset])


def _numpy(structure):
    if isinstance(structure, dict):
        return {key: value.numpy() for key, value in structure.items()}
    return structure.numpy()


def export_run(run_dir, formats="all", out_dir=None, options=None, num_samples=None, *, strict=False, progress=None):
    """Exports the endpoint of `RUN/model.keras` to `out_dir` (default `RUN/export`).
    Returns {"out_dir", "results"}.

    The endpoint is `tasks.get_task(run task).export_endpoint(model, format)`, one per group of
    formats that share it (`Task.export_endpoints`; with `strict`, a failing group publishes
    nothing of its own, groups exported before it stay), with the task's `export_assets` written
    beside it. Verification uses the run's
    held-out test split (at most `num_samples`, default 2000) with its labels, fed to the endpoint
    through `Task.export_samples`; full-integer int8 is calibrated on
    `options["calibration_samples"]` (default 256) inputs of its training pipeline, drawn with
    `options["calibration_seed"]` (default: the run's seed).
    """
    import keras

    from pipelines.train import Run

    import architectures

    run = Run.load(run_dir)
    options = dict(options or {})
    validate_options(options)
    formats = resolve_formats(formats)
    # A format the model's registry entry declares it cannot offer is not exported (an artifact
    # whose check passes only vacuously, e.g. int8 NMS offsets on an untrained detector, would be
    # worse than none); it is reported with the declared reason.
    limitations = architectures.get_spec(run.config["model"]).limitations
    limited = {name: limitations[name] for name in formats if name in limitations}
    formats = [name for name in formats if name not in limited]
    if not formats:
        return {"out_dir": Path(out_dir) if out_dir else run.run_dir / "export", "results": [], "limited": limited}
    task = resolve_task(run.config.get("task"))
    model = keras.saving.load_model(str(run.model_path))
    prepared = run.prepared_data()
    held_x, held_y = held_out(run, num_samples, prepared)
    count = int(options.get("calibration_samples") or DEFAULT_CALIBRATION_SAMPLES)
    seed = options.pop("calibration_seed", None)
    out_dir = Path(out_dir) if out_dir else run.run_dir / "export"
    results = []
    # One endpoint per group of formats that can share it (a text model: strings in for
    # SavedModel, token ids and vocabulary files for ONNX and TFLite); the group holding the
    # first requested format goes last, so the top-level signature in deepzoo.json is its.
    for endpoint, group in reversed(task.export_endpoints(model, formats)):
        x_test, y_test = task.export_samples(endpoint, held_x, held_y)
        calibration, source = None, None
        if "tflite_int8" in group:
            calibration, _ = task.export_samples(endpoint, calibration_inputs(run, count, seed, prepared, task), None)
            used_seed = int(run.config.get("seed", 0)) if seed is None else seed
            source = f"{length(calibration)} examples of the train split of {run.run_dir.name} (seed {used_seed}) through its tf.data pipeline, no augmentation"
        results += export_model(
            endpoint,
            out_dir,
            formats=group,
            sample_inputs=x_test,
            options=options,
            metadata=run_metadata(run),
            strict=strict,
            targets=y_test,
            calibration_inputs=calibration,
            calibration_source=source,
            progress=progress,
            task=task,
            assets=task.export_assets(model, format=group[0]),
        )
    results.sort(key=lambda result: formats.index(result.format))
    return {"out_dir": out_dir, "results": results, "limited": limited}
