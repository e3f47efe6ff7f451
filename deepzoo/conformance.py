"""The conformance report: every registered model checked against every capability.

For each model's tiny config: does it build, is the forward output finite, does a few steps of
training lower the loss on a fixed batch, does the `.keras` round trip match, does each export
format verify in its own runtime; for the canonical config, does the parameter count match the
reference. A capability the model declares unsupported shows its reason instead of a result.

The same functions back `deepzoo check` and the test sweep (tests/test_registry_sweep.py).
"""

import dataclasses
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

import architectures
from architectures.registry import CAPABILITIES
from deepzoo.io import write_json_atomic, write_text_atomic
from pipelines.tasks import get_task

EXPORT_FORMATS = ("savedmodel", "onnx", "tflite")
SWEEP_BATCH = 8
SWEEP_EPOCHS = 8


@dataclasses.dataclass
class CheckResult:
    status: str  # "pass", "fail", "limited" (declared limitation), "n/a" (no reference to check)
    detail: str = ""


def example_batch(spec, model, seed=0, n=SWEEP_BATCH):
    """A fixed (x, y) batch for `model`: the spec's own generator, else the task's synthetic one."""
    config = architectures.resolved_config(spec.name, "tiny")
    if spec.example_batch is not None:
        return spec.example_batch(config, seed)
    input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    output_shape = tuple(int(d) for d in model.outputs[0].shape[1:])
    return get_task(spec.task).synthetic_batch(input_shape, output_shape, n, seed)


def compile_for_sweep(model, spec, learning_rate=1e-3):
    import keras

    task = get_task(spec.task)
    output_shape = tuple(int(d) for d in model.outputs[0].shape[1:])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=task.loss(output_shape),
        jit_compile=False,
    )


def check_build(spec):
    model = architectures.create_model(spec.name, config="tiny")
    return model, CheckResult("pass", f"{model.count_params():,} params (tiny)")


def check_forward(spec, model, x):
    outputs = model(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    for output in outputs:
        values = np.asarray(output)
        if not np.all(np.isfinite(values)):
            return CheckResult("fail", "non-finite output")
        if values.shape[0] != len(x):
            return CheckResult("fail", f"batch dimension {values.shape[0]} != {len(x)}")
    shapes = ", ".join(str(tuple(np.asarray(o).shape)) for o in outputs)
    return CheckResult("pass", f"output {shapes}")


def check_train(spec, model, x, y, epochs=SWEEP_EPOCHS):
    compile_for_sweep(model, spec)
    history = model.fit(x, y, batch_size=len(x), epochs=epochs, shuffle=False, verbose=0).history
    losses = history["loss"]
    if not all(math.isfinite(v) for v in losses):
        return CheckResult("fail", f"non-finite loss {losses}")
    if losses[-1] < losses[0]:
        return CheckResult("pass", f"loss {losses[0]:.4g} -> {losses[-1]:.4g} in {epochs} steps")
    return CheckResult("fail", f"loss did not fall: {losses[0]:.4g} -> {losses[-1]:.4g}")


def check_roundtrip(spec, model, x, workdir):
    import keras

    path = Path(workdir) / f"{spec.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)  # safe mode: only registered classes
    expected = np.asarray(model(x, training=False) if not isinstance(model(x), (list, tuple)) else model(x)[0])
    actual = np.asarray(reloaded(x, training=False) if not isinstance(reloaded(x), (list, tuple)) else reloaded(x)[0])
    if not np.allclose(expected, actual, rtol=1e-5, atol=1e-6):
        return CheckResult("fail", f".keras reload differs by {np.max(np.abs(expected - actual)):.3g}")
    if reloaded.get_config() != model.get_config():
        return CheckResult("fail", "get_config changed across the round trip")
    rebuilt = type(model).from_config(model.get_config())
    if rebuilt.get_config() != model.get_config():
        return CheckResult("fail", "from_config(get_config()) does not reproduce the config")
    return CheckResult("pass", "weights and config identical after .keras reload")


def check_params(spec):
    import keras

    if spec.reference_params is None:
        return CheckResult("n/a", "no reference count")
    model = architectures.create_model(spec.name)
    count = model.count_params()
    del model
    keras.backend.clear_session()
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
        for result in export_model(model, Path(workdir) / "export", formats=wanted, sample_inputs=x, options=options):
            detail = f"max |diff| {result.max_abs_diff:.2g}" if result.verified else (result.error or "not verified")
            results[result.format] = CheckResult("pass" if result.verified else "fail", detail)
    return results


def distinct_tiny_configs(names=None):
    """One name per distinct (builder, tiny config): variants whose tiny builds are identical
    (EfficientNet B0/B1, the CIFAR ResNet depths, ...) differ only in their canonical config, so
    checking one of them checks the same network as all."""
    seen, distinct = set(), []
    for name in names or architectures.list_models():
        spec = architectures.get_spec(name)
        key = (spec.builder, repr(sorted((k, v) for k, v in spec.tiny_config.items() if k != "name")))
        if key not in seen:
            seen.add(key)
            distinct.append(name)
    return distinct


def check_model(name, columns=CAPABILITIES, workdir=None, export_options=None):
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
        steps = [
            ("forward", lambda: check_forward(spec, model, x)),
            ("roundtrip", lambda: check_roundtrip(spec, model, x, workdir)),
            ("train", lambda: check_train(spec, model, x, y)),
            ("params", lambda: check_params(spec)),
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


def run_conformance(family=None, names=None, columns=CAPABILITIES, out_dir="runs/conformance", progress=print):
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


def render_markdown(rows, columns=CAPABILITIES):
    lines = [
        "# deepzoo conformance report",
        "",
        "✅ pass · ❌ fail · ➖ declared limitation (reason below) · `·` no reference",
        "",
        "| model | family | task | " + " | ".join(columns) + " |",
        "|---|---|---|" + "---|" * len(columns),
    ]
    notes = []
    for name, result in rows.items():
        spec = architectures.get_spec(name)
        cells = [SYMBOLS[result[c].status] if c in result else " " for c in columns]
        lines.append(f"| `{name}` | {spec.family} | {spec.task} | " + " | ".join(cells) + " |")
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
