"""Verification of an artifact against the Keras model, in the artifact's own runtime.

Float formats (SavedModel, ONNX, TFLite fp32 and fp16) must match element-wise, once on the whole
verification batch and once at batch size 1 (the batch dimension is free). Quantised formats
(dynamic-range and full-integer int8) must keep the task metric: the artifact's value on the
held-out inputs may fall short of the Keras model's by at most the tolerance below. The metric of
both is recorded for every format.

Tolerance for a quantised format, unless `options["metric_tolerance"]` sets it:
- a score where higher is better (accuracy): max(2 points, 2 examples' worth);
- an error where lower is better (MAE, MSE): 5% of the larger of the Keras error and the mean
  absolute output.
"""

import dataclasses

import numpy as np

EVAL_CHUNK = 256

# task -> (metric key of the task's evaluator, higher is better)
TASK_METRICS = {
    "classification": ("accuracy", True),
    "regression": ("mae", False),
    "unsupervised": ("mse", False),
}


@dataclasses.dataclass
class Check:
    verified: bool
    max_abs_diff: float | None
    error: str | None
    metric: dict | None
    details: dict


def predict_in_chunks(predict, inputs, chunk=EVAL_CHUNK):
    parts = [np.asarray(predict(inputs[start : start + chunk])) for start in range(0, len(inputs), chunk)]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0,))


def verify_artifact(fmt, path, inputs, reference, targets, task, labels, options):
    """Loads `path` in `fmt`'s runtime and checks it against `reference` (the Keras outputs)."""
    predictor = fmt.load(path)
    details = dict(predictor.info)
    outputs = predict_in_chunks(predictor, inputs)
    if outputs.shape != reference.shape:
        return Check(False, None, f"output shape {outputs.shape} differs from Keras {reference.shape}", None, details)
    if not np.all(np.isfinite(outputs)):
        return Check(False, None, "non-finite outputs", None, details)
    diff = float(np.max(np.abs(outputs.astype(np.float64) - reference))) if outputs.size else 0.0
    metric = compare_metric(task, targets, reference, outputs, labels, options.get("metric_tolerance"))
    errors = []
    if fmt.check == "elementwise":
        if not np.allclose(outputs, reference, rtol=fmt.rtol, atol=fmt.atol):
            errors.append(f"outputs differ from Keras: max |diff| = {diff:.3g} (atol {fmt.atol:g}, rtol {fmt.rtol:g})")
        single = np.asarray(predictor(inputs[:1]))
        if single.shape != reference[:1].shape or not np.allclose(single, reference[:1], rtol=fmt.rtol, atol=fmt.atol):
            errors.append(f"batch size 1 differs from Keras (shape {single.shape})")
    elif not metric["within_tolerance"]:
        errors.append(
            f"{metric['name']} {metric['artifact']:.4g} vs Keras {metric['keras']:.4g} "
            f"(worse by {abs(metric['delta']):.4g}, tolerance {metric['tolerance']:.4g})"
        )
    if fmt.name == "savedmodel":
        details["signatures"] = _verify_xla_signature(fmt, path, inputs, reference, details.get("signatures"))
        xla = details["signatures"].get("serving_xla", {})
        if xla.get("status") == "failed":
            errors.append(f"serving_xla: {xla['error']}")
    return Check(not errors, diff, "; ".join(errors) or None, metric, details)


def _verify_xla_signature(fmt, path, inputs, reference, written):
    """The `serving_xla` signature is checked like the default one where XLA compiles here."""
    from export.formats import load_savedmodel

    signatures = {"serving_default": {"status": "verified"}}
    if written is not None and "serving_xla" not in written:
        return signatures
    try:
        outputs = predict_in_chunks(load_savedmodel(path, "serving_xla"), inputs)
    except Exception as exc:  # XLA cannot compile some graph on some device: declared, not fatal
        signatures["serving_xla"] = {"status": "unavailable", "reason": f"{type(exc).__name__}: {str(exc).strip()[:300]}"}
        return signatures
    diff = float(np.max(np.abs(outputs.astype(np.float64) - reference))) if outputs.size else 0.0
    if outputs.shape == reference.shape and np.allclose(outputs, reference, rtol=fmt.rtol, atol=fmt.atol):
        signatures["serving_xla"] = {"status": "verified", "max_abs_diff": diff}
    else:
        signatures["serving_xla"] = {"status": "failed", "max_abs_diff": diff, "error": f"outputs differ from Keras: max |diff| = {diff:.3g}"}
    return signatures


def compare_metric(task, targets, reference, outputs, labels=None, tolerance=None):
    """The task metric of the Keras outputs and of the artifact's on the same targets.

    Without targets the Keras predictions are the targets (for classification: its classes), so the
    metric says how often the artifact agrees with Keras.
    """
    from pipelines.tasks import predicted_classes

    name, higher_is_better = TASK_METRICS.get(task, (None, False))
    n = len(reference)
    if name is None:
        # A task without a scalar metric here: relative RMS error of the outputs.
        scale = float(np.sqrt(np.mean(np.square(reference)))) or 1.0
        value = float(np.sqrt(np.mean(np.square(outputs.astype(np.float64) - reference)))) / scale
        limit = 0.05 if tolerance is None else float(tolerance)
        return _metric_record("relative_rmse_vs_keras", 0.0, value, False, limit, "keras outputs", n)
    if targets is None:
        targets = predicted_classes(reference) if task == "classification" else reference
        target_source = "keras predictions"
    else:
        target_source = "ground truth"
    keras_value = _task_metric(task, name, targets, reference, labels)
    artifact_value = _task_metric(task, name, targets, outputs, labels)
    if tolerance is None:
        if higher_is_better:
            tolerance = max(0.02, 2.0 / max(n, 1))
        else:
            tolerance = 0.05 * max(abs(keras_value), float(np.mean(np.abs(reference))) if reference.size else 0.0, 1e-6)
    return _metric_record(name, keras_value, artifact_value, higher_is_better, float(tolerance), target_source, n)


def _task_metric(task, name, targets, predictions, labels):
    from pipelines.tasks import get_task

    return float(get_task(task).evaluate(targets, predictions, labels)[name])


def _metric_record(name, keras_value, artifact_value, higher_is_better, tolerance, target_source, n):
    delta = artifact_value - keras_value
    worse_by = -delta if higher_is_better else delta
    return {
        "name": name,
        "keras": keras_value,
        "artifact": artifact_value,
        "delta": delta,
        "higher_is_better": higher_is_better,
        "tolerance": tolerance,
        "within_tolerance": bool(worse_by <= tolerance + 1e-12),
        "targets": target_source,
        "num_examples": int(n),
    }
