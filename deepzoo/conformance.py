"""The conformance report: every registered model checked against every capability.

For each model's tiny config: does it build, is the forward output finite, does a few steps of
training lower the loss on a fixed batch, does the `.keras` round trip match, does each export
format verify in its own runtime; for the canonical config, does the parameter count match the
reference. A capability the model declares unsupported shows its reason instead of a result.

The same functions back `deepzoo check` and the test sweep (tests/test_registry_sweep.py).
"""

import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import architectures
from architectures.registry import CHECKS
from common.io import write_json_atomic, write_text_atomic
from tasks import get_task
from tasks.base import as_structure, length, model_input_specs, take



def _sweep_formats():
    """The export columns: the format table's base formats (one per runtime), named only there."""
    from export.formats import SWEEP_FORMATS

    return SWEEP_FORMATS


EXPORT_FORMATS = _sweep_formats()
COLUMNS = CHECKS + EXPORT_FORMATS
SWEEP_BATCH = 8
SWEEP_EPOCHS = 8
XLA_BATCH = 2


@dataclasses.dataclass
class CheckResult:
    status: str  # "pass", "fail", "limited" (declared limitation), "n/a" (no reference to check)
    detail: str = ""


def example_batch(spec, model, seed=0, n=SWEEP_BATCH):
    """A fixed (x, y) batch for `model`: the spec's own generator, else its task's."""
    if spec.example_batch is not None:
        return spec.example_batch(architectures.resolved_config(spec.name, "tiny"), seed)
    return get_task(spec.task).example_batch(model, n, seed)


def check_build(spec):
    model = architectures.create_model(spec.name, config="tiny")
    problems = contract_problems(spec, model)
    if problems:
        return model, CheckResult("fail", "; ".join(problems))
    return model, CheckResult("pass", f"{model.count_params():,} params (tiny)")


def contract_problems(spec, model):
    """Differences between the declared input/output contract and the built tiny model."""
    problems = []
    if spec.inputs:
        built = {s.name: s for s in model_input_specs(model)}
        for declared in spec.inputs:
            actual = built.get(declared.name)
            if actual is None:
                problems.append(f"declared input '{declared.name}' missing (model has {sorted(built)})")
            elif actual.dtype != declared.dtype or len(actual.shape) != len(declared.shape):
                problems.append(f"input '{declared.name}': built {actual.dtype}{list(actual.shape)} vs declared {declared.dtype}{list(declared.shape)}")
    return problems


def check_forward(spec, model, x):
    outputs = as_structure(model(x, training=False))
    n = length(x)
    for name, values in outputs.items():
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            return CheckResult("fail", f"non-finite output '{name}'")
        if values.shape[0] != n:
            return CheckResult("fail", f"output '{name}': batch dimension {values.shape[0]} != {n}")
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in outputs.items())
    return CheckResult("pass", shapes)


def check_train(spec, model, x, y, epochs=SWEEP_EPOCHS, jit_compile=False):
    outcome = get_task(spec.task).check_training(model, x, y, epochs=epochs, jit_compile=jit_compile)
    detail = f"{outcome.detail} (XLA-compiled steps)" if jit_compile else outcome.detail
    return CheckResult("pass" if outcome.ok else "fail", detail)


def check_roundtrip(spec, model, x, workdir):
    import keras

    path = Path(workdir) / f"{spec.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)  # safe mode: only registered classes
    expected, actual = as_structure(model(x, training=False)), as_structure(reloaded(x, training=False))
    for name in expected:
        if name not in actual or not np.allclose(expected[name], actual[name], rtol=1e-5, atol=1e-6):
            difference = np.max(np.abs(expected[name] - actual[name])) if name in actual else "missing"
            return CheckResult("fail", f".keras reload differs in '{name}': {difference}")
    if reloaded.get_config() != model.get_config():
        return CheckResult("fail", "get_config changed across the round trip")
    rebuilt = type(model).from_config(model.get_config())
    if rebuilt.get_config() != model.get_config():
        return CheckResult("fail", "from_config(get_config()) does not reproduce the config")
    return CheckResult("pass", "weights and config identical after .keras reload")


def check_xla(spec, model, x, y, compiled_training=None):
    """The training step and the export endpoint compile with XLA and agree with graph mode.

    The endpoint runs through `tf.function(jit_compile=True)` and is compared with graph mode; the
    training step is compiled through `compile(jit_compile=True)` on the same fixed batch. XLA
    compile time on CPU is what this costs, so the sweep uses a small batch. `compiled_training`:
    the train column's result when that column already ran its steps XLA-compiled (the training
    check under XLA is the training step under XLA; tracing and compiling it twice would double
    the sweep's largest cost).
    """
    import tensorflow as tf

    task = get_task(spec.task)
    endpoint = task.export_endpoint(model, format="xla")  # a text model's token-id endpoint: strings have no XLA kernels
    batch = task.export_samples(endpoint, take(x, slice(0, XLA_BATCH)), None)[0]
    graph = as_structure(tf.function(lambda v: endpoint(v, training=False))(batch))
    compiled = as_structure(tf.function(lambda v: endpoint(v, training=False), jit_compile=True)(batch))
    for outcome in task.compare_all(graph, compiled, atol=1e-4, rtol=1e-3).values():
        if not outcome.ok:
            return CheckResult("fail", f"endpoint under XLA: {outcome.detail}")
    if compiled_training is not None:
        if compiled_training.status != "pass":
            return CheckResult("fail", f"train step under XLA: {compiled_training.detail}")
        return CheckResult("pass", "endpoint compiles and agrees with graph mode; the train column's steps ran XLA-compiled")
    losses = task.fit_example(model, take(x, slice(0, XLA_BATCH)), take(y, slice(0, XLA_BATCH)), epochs=1, jit_compile=True)
    if not all(np.isfinite(v[-1]) for k, v in losses.items() if "loss" in k):
        return CheckResult("fail", f"train step under XLA gave a non-finite loss: {losses}")
    return CheckResult("pass", "endpoint and train step compile; endpoint agrees with graph mode")


def _canonical_param_count(name):
    """The canonical config's parameter count. Counting needs the variables' shapes, not their
    values: built in a `keras.StatelessScope` that does not initialise them on exit, variables never
    run their initialisers (seconds of random numbers and QR decompositions for a 100 M-parameter
    model); `clear_session` then drops them. A model that computes with its weights while it builds
    cannot be built there and is built normally."""
    import keras

    try:
        with keras.StatelessScope(initialize_variables=False):
            return architectures.create_model(name).count_params()
    except Exception:
        keras.backend.clear_session()
        return architectures.create_model(name).count_params()
    finally:
        keras.backend.clear_session()


def check_params(spec):

    if spec.reference_params is None:
        return CheckResult("n/a", "no reference count")
    count = _canonical_param_count(spec.name)
    relative = abs(count - spec.reference_params) / spec.reference_params
    detail = f"{count:,} vs {spec.reference_params:,} ({spec.reference_source[:1]})"
    if relative <= spec.param_tolerance:
        return CheckResult("pass", detail + ("" if count == spec.reference_params else f", {relative:.2%} off"))
    return CheckResult("fail", detail + f", {relative:.2%} off")


def check_exports(spec, model, x, workdir, formats=EXPORT_FORMATS, options=None):
    from export import export_model

    wanted = [f for f in formats if spec.supports(f)]
    results = {f: CheckResult("limited", spec.limitations[f]) for f in formats if not spec.supports(f)}
    if wanted:
        # What users deploy: the task's endpoint (decoding, NMS, a generator, a decoder loop).
        task = get_task(spec.task)
        exported = []
        for endpoint, group in task.export_endpoints(model, wanted):
            exported += export_model(
                endpoint, Path(workdir) / "export", formats=group, sample_inputs=task.export_samples(endpoint, x, None)[0],
                options=options, task=task, metadata={"task": spec.task}, assets=task.export_assets(model, format=group[0]),
            )
        for result in exported:
            detail = f"max |diff| {result.max_abs_diff:.2g}" if result.verified else (result.error or "not verified")
            results[result.format] = CheckResult("pass" if result.verified else "fail", detail)
    return results


def distinct_tiny_configs(names=None):
    """One name per distinct (builder, tiny config): variants whose tiny builds are identical
    (EfficientNet B0/B1, the CIFAR ResNet depths, ...) differ only in their canonical config, so
    checking one of them checks the same network as all. A variant that declares `tiny_twin_of`
    counts as its twin's build."""
    seen, distinct = set(), []
    for name in names or architectures.list_models():
        spec = architectures.get_spec(name)
        if spec.tiny_twin_of:
            spec = architectures.get_spec(spec.tiny_twin_of)
        key = (spec.builder, repr(sorted((k, v) for k, v in spec.tiny_config.items() if k != "name")))
        if key not in seen:
            seen.add(key)
            distinct.append(name)
    return distinct


def check_model(name, columns=COLUMNS, workdir=None, export_options=None):
    """Runs the conformance checks of `columns` for model `name`. Returns {column: CheckResult}."""
    spec = architectures.get_spec(name)
    results = {}
    limited = lambda column: CheckResult("limited", spec.limitations[column])  # noqa: E731
    with tempfile.TemporaryDirectory(prefix=f"check-{name}-") as tmp:
        workdir = workdir or tmp
        try:
            model, results["build"] = check_build(spec)
        except Exception as exc:
            results["build"] = CheckResult("fail", _one_line(exc))
            return {c: results.get(c, CheckResult("fail", "did not build")) for c in columns}
        x, y = example_batch(spec, model)
        # With both columns asked for, the training check runs its steps XLA-compiled and the XLA
        # column adds the endpoint: one trace and one compile of the train step instead of two.
        train_under_xla = "train" in columns and "xla" in columns and spec.supports("xla") and spec.supports("train")
        steps = [
            ("forward", lambda: check_forward(spec, model, x)),
            ("roundtrip", lambda: check_roundtrip(spec, model, x, workdir)),
            ("train", lambda: check_train(spec, model, x, y, jit_compile=train_under_xla)),
            ("params", lambda: check_params(spec)),
            # The endpoint is compared on a fresh build, as without the merge: after eight steps a
            # detector's scores can sit on its thresholds, where XLA and graph mode may cut apart.
            ("xla", lambda: check_xla(spec, architectures.create_model(spec.name, config="tiny"), x, y,
                                      results["train"] if train_under_xla else None)),
        ]
        for column, run in steps:
            if column not in columns:
                continue
            if not spec.supports(column):
                results[column] = limited(column)
                continue
            try:
                results[column] = run()
            except Exception as exc:
                results[column] = CheckResult("fail", _one_line(exc))
        export_columns = [c for c in EXPORT_FORMATS if c in columns]
        if export_columns:
            try:
                results.update(check_exports(spec, model, x, workdir, export_columns, export_options))
            except Exception as exc:
                results.update({c: CheckResult("fail", _one_line(exc)) for c in export_columns})
    return {c: results[c] for c in columns if c in results}


def _one_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


SYMBOLS = {"pass": "✅", "fail": "❌", "limited": "➖", "n/a": "·"}


def run_conformance(family=None, names=None, columns=COLUMNS, out_dir="runs/conformance", progress=print):
    """Checks every model (of `family`, or `names`), writes report.md and report.json, returns rows."""
    import keras

    names = names or architectures.list_models(family=family)
    if not names:
        raise ValueError(f"No registered models for family={family!r}. Families: {architectures.list_families()}")
    rows = {}
    for index, name in enumerate(names, 1):
        started = time.perf_counter()
        rows[name] = check_model(name, columns)
        keras.backend.clear_session()
        if progress:
            summary = " ".join(f"{c}:{SYMBOLS[r.status]}" for c, r in rows[name].items())
            progress(f"[{index}/{len(names)}] {name:<28} {summary}  ({time.perf_counter() - started:.1f}s)")
    out_dir = Path(out_dir)
    write_json_atomic(
        out_dir / "report.json",
        {name: {c: dataclasses.asdict(r) for c, r in result.items()} for name, result in rows.items()},
    )
    write_text_atomic(out_dir / "report.md", render_markdown(rows, columns))
    return rows


def render_markdown(rows, columns=COLUMNS):
    lines = [
        "# deepzoo conformance report",
        "",
        "✅ pass · ❌ fail · ➖ declared limitation (reason below) · `·` no reference",
        "",
        "| model | family | task | objective | " + " | ".join(columns) + " |",
        "|---|---|---|---|" + "---|" * len(columns),
    ]
    notes = []
    for name, result in rows.items():
        spec = architectures.get_spec(name)
        cells = [SYMBOLS[result[c].status] if c in result else " " for c in columns]
        key, direction = get_task(spec.task).objective
        lines.append(f"| `{name}` | {spec.family} | {spec.task} | {key} ({direction}) | " + " | ".join(cells) + " |")
        for column, check in result.items():
            if check.status in ("fail", "limited"):
                notes.append(f"- `{name}` {column} ({check.status}): {check.detail}")
    passed = sum(all(r.status in ("pass", "limited", "n/a") for r in result.values()) for result in rows.values())
    lines += ["", f"**{passed}/{len(rows)} models pass every column or declare the limitation.**", ""]
    if notes:
        lines += ["## Failures and declared limitations", "", *notes, ""]
    return "\n".join(lines)


def load_report(path):
    return json.loads(Path(path).read_text())
