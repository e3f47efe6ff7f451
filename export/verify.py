"""Verification of an artifact against the Keras endpoint, in the artifact's own runtime.

Every output is checked. The task decides how (`tasks.base.Task`):

- Float formats (SavedModel, ONNX, TFLite fp32 and fp16): `task.compare_outputs(name, keras,
  artifact, atol, rtol)` for each output, once on the whole verification batch and once at batch
  size 1 (the batch dimension is free). The default is element-wise; detection tasks, whose boxes
  may come out in another order, override it with box matching.
- Quantised formats (dynamic-range and full-integer int8): the task's `objective` metric (a key of
  `task.score(targets, outputs)`, with its direction) of the artifact may fall short of the Keras
  model's by at most the tolerance below. Targets are the ground truth when given, else
  `task.quantized_reference(keras_outputs)` (for classification: Keras' classes, so the metric says
  how often the artifact agrees with Keras). The metric of both is recorded for every format.

Tolerance for a quantised format, unless `options["metric_tolerance"]` sets it:
- `task.quantized_tolerance` (relative headroom) times the Keras value, when the task sets it;
- a score where higher is better (accuracy): max(2 points, 2 examples' worth);
- an error where lower is better (MAE, MSE): 5% of the larger of the Keras error and the mean
  absolute output.

A task whose `score` has no `objective` key (the generic base task, an export without a task) is
checked on the relative RMS error of its numeric outputs against Keras', at most 5%.
"""

import dataclasses

import numpy as np

from tasks.base import length, take

EVAL_CHUNK = 256


@dataclasses.dataclass
class Check:
    verified: bool
    max_abs_diff: float | None
    error: str | None
    metric: dict | None
    details: dict


def resolve_task(task):
    """A `Task` instance for a Task, a registered task name, or None (the generic base task)."""
    from tasks import Task, get_task

    if task is None:
        return Task()
    if isinstance(task, str):
        return get_task(task)
    if isinstance(task, Task):
        return task
    raise ValueError(f"task must be a tasks.Task, a task name or None. Received: {type(task).__name__}")


def predict_in_chunks(predict, inputs, chunk=EVAL_CHUNK):
    """`predict` (named inputs -> dict of named outputs) over `inputs` in chunks of `chunk` rows."""
    parts = [predict(take(inputs, slice(start, start + chunk))) for start in range(0, length(inputs), chunk)]
    if not parts:
        return {}
    return {name: np.concatenate([np.asarray(part[name]) for part in parts], axis=0) for name in parts[0]}


def max_abs_diff(reference, outputs):
    """The largest |artifact - Keras| over every numeric output of equal shape, where both are
    finite (0.0 when no output is numeric: strings are compared exactly)."""
    largest = 0.0
    for name, expected in reference.items():
        actual = outputs.get(name)
        if actual is None or expected.dtype.kind not in "fiub" or actual.shape != expected.shape or not expected.size:
            continue
        expected64, actual64 = expected.astype(np.float64), np.asarray(actual).astype(np.float64)
        finite = np.isfinite(expected64) & np.isfinite(actual64)
        if finite.any():
            largest = max(largest, float(np.max(np.abs(actual64[finite] - expected64[finite]))))
    return largest


def _structure_errors(reference, outputs, rows):
    """What no comparison can excuse: missing or extra outputs, a wrong batch size, non-finite
    values where Keras has finite ones."""
    errors = []
    missing, extra = sorted(set(reference) - set(outputs)), sorted(set(outputs) - set(reference))
    if missing or extra:
        errors.append(f"outputs {sorted(outputs)} differ from Keras' {sorted(reference)}")
        return errors
    for name, expected in reference.items():
        actual = np.asarray(outputs[name])
        if actual.ndim == 0 or actual.shape[0] != rows:
            errors.append(f"output '{name}' has shape {actual.shape}, expected a batch of {rows}")
        elif actual.dtype.kind == "f" and actual.shape == expected.shape and np.any(~np.isfinite(actual) & np.isfinite(expected)):
            errors.append(f"non-finite values in output '{name}'")
    return errors


def verify_artifact(fmt, path, inputs, reference, targets, task, labels, options):
    """Loads `path` in `fmt`'s runtime and checks every output against `reference` (the Keras outputs)."""
    task = resolve_task(task)
    predictor = fmt.load(path)
    details = dict(predictor.info)
    outputs = predict_in_chunks(predictor, inputs)
    errors = _structure_errors(reference, outputs, length(inputs))
    if errors:
        return Check(False, None, "; ".join(errors), None, details)
    diff = max_abs_diff(reference, outputs)
    if fmt.check == "elementwise":
        try:
            metric = compare_metric(task, targets, reference, outputs, labels, options.get("metric_tolerance"))
        except Exception as exc:  # the metric is informative for float formats; the comparison decides
            metric, details["metric_error"] = None, f"{type(exc).__name__}: {str(exc).strip()[:200]}"
        compared = _compare(task, reference, outputs, fmt)
        details["outputs"] = {name: outcome.detail for name, outcome in compared.items()}
        errors += [f"outputs differ from Keras: {outcome.detail}" for outcome in compared.values() if not outcome.ok]
        single = predictor(take(inputs, slice(0, 1)))
        single_errors = _structure_errors(take(reference, slice(0, 1)), single, 1)
        if not single_errors:
            compared = _compare(task, take(reference, slice(0, 1)), single, fmt)
            single_errors = [outcome.detail for outcome in compared.values() if not outcome.ok]
        errors += [f"batch size 1 differs from Keras: {error}" for error in single_errors]
    else:
        try:
            metric = compare_metric(task, targets, reference, outputs, labels, options.get("metric_tolerance"))
        except Exception as exc:  # a quantised format is judged by its metric alone: no metric, no pass
            return Check(False, diff, f"{task.objective[0]} could not be computed: {type(exc).__name__}: {str(exc).strip()[:200]}", None, details)
        if not metric["within_tolerance"]:
            errors.append(
                f"{metric['name']} {metric['artifact']:.4g} vs Keras {metric['keras']:.4g} "
                f"(worse by {abs(metric['delta']):.4g}, tolerance {metric['tolerance']:.4g})"
            )
    if fmt.name == "savedmodel":
        details["signatures"] = _verify_xla_signature(fmt, path, inputs, reference, task, details.get("signatures"))
        xla = details["signatures"].get("serving_xla", {})
        if xla.get("status") == "failed":
            errors.append(f"serving_xla: {xla['error']}")
    return Check(not errors, diff, "; ".join(errors) or None, metric, details)


def _compare(task, reference, outputs, fmt):
    return task.compare_all(reference, outputs, fmt.atol, fmt.rtol)


def _verify_xla_signature(fmt, path, inputs, reference, task, written):
    """The `serving_xla` signature is checked like the default one where XLA compiles here."""
    from export.formats import load_savedmodel

    signatures = {"serving_default": {"status": "verified"}}
    if written is not None and "serving_xla" not in written:
        return signatures
    try:
        outputs = predict_in_chunks(load_savedmodel(path, "serving_xla"), inputs)
    except Exception as exc:  # XLA cannot compile some graph (string ops) on some device: declared, not fatal
        signatures["serving_xla"] = {"status": "unavailable", "reason": f"{type(exc).__name__}: {str(exc).strip()[:300]}"}
        return signatures
    diff = max_abs_diff(reference, outputs)
    problems = _structure_errors(reference, outputs, length(inputs))
    if not problems:
        problems = [outcome.detail for outcome in _compare(task, reference, outputs, fmt).values() if not outcome.ok]
    if problems:
        signatures["serving_xla"] = {"status": "failed", "max_abs_diff": diff, "error": f"outputs differ from Keras: {'; '.join(problems)}"}
    else:
        signatures["serving_xla"] = {"status": "verified", "max_abs_diff": diff}
    return signatures


def compare_metric(task, targets, reference, outputs, labels=None, tolerance=None):
    """The task's objective metric of the Keras outputs and of the artifact's on the same targets.

    `reference` and `outputs` are dicts of named outputs. Without targets,
    `task.quantized_reference(reference)` is the target, so the metric says how well the artifact
    agrees with Keras.
    """
    task = resolve_task(task)
    name, direction = task.objective
    higher_is_better = direction == "max"
    n = length(reference) if reference else 0
    if targets is None:
        targets, target_source = task.quantized_reference(reference), "keras predictions"
    else:
        target_source = "ground truth"
    try:
        keras_report = task.score(targets, reference, labels)
        artifact_report = task.score(targets, outputs, labels)
    except NotImplementedError:
        keras_report = artifact_report = {}
    if name not in keras_report or name not in artifact_report:
        return _relative_error(reference, outputs, tolerance, n)
    keras_value, artifact_value = float(keras_report[name]), float(artifact_report[name])
    if tolerance is None:
        if task.quantized_tolerance is not None:
            tolerance = float(task.quantized_tolerance) * max(abs(keras_value), 1e-6)
        elif higher_is_better:
            tolerance = max(0.02, 2.0 / max(n, 1))
        else:
            tolerance = 0.05 * max(abs(keras_value), _mean_abs(reference), 1e-6)
    return _metric_record(name, keras_value, artifact_value, higher_is_better, float(tolerance), target_source, n)


def _numeric(structure, names=None):
    """The numeric outputs of `structure`, flattened and concatenated in the order of `names`."""
    names = list(structure) if names is None else names
    arrays = [np.asarray(structure[n], np.float64).ravel() for n in names if np.asarray(structure[n]).dtype.kind in "fiub"]
    return np.concatenate(arrays) if arrays else np.zeros((0,))


def _mean_abs(structure):
    values = _numeric(structure)
    values = values[np.isfinite(values)]
    return float(np.mean(np.abs(values))) if values.size else 0.0


def _relative_error(reference, outputs, tolerance, n):
    """No task metric here: relative RMS error of the numeric outputs (the share of differing
    elements where every output is a string)."""
    limit = 0.05 if tolerance is None else float(tolerance)
    if all(np.asarray(v).shape == np.asarray(outputs[k]).shape for k, v in reference.items()):
        expected, actual = _numeric(reference), _numeric(outputs, list(reference))
        if expected.size:
            finite = np.isfinite(expected) & np.isfinite(actual)
            scale = float(np.sqrt(np.mean(np.square(expected[finite])))) if finite.any() else 0.0
            value = float(np.sqrt(np.mean(np.square(actual[finite] - expected[finite])))) / (scale or 1.0) if finite.any() else 0.0
            return _metric_record("relative_rmse_vs_keras", 0.0, value, False, limit, "keras outputs", n)
        unequal = [np.asarray(outputs[k]) != np.asarray(v) for k, v in reference.items()]
        value = float(np.mean(np.concatenate([u.ravel() for u in unequal]))) if unequal else 0.0
        return _metric_record("mismatch_rate_vs_keras", 0.0, value, False, limit, "keras outputs", n)
    different = {k: (np.asarray(outputs[k]).shape, np.asarray(v).shape) for k, v in reference.items() if np.asarray(outputs[k]).shape != np.asarray(v).shape}
    raise ValueError(f"output shapes differ from Keras' (artifact, keras): {different}")


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
