"""One sweep over every registered model (DESIGN.md), generated from the registry: the tiny config
builds and matches its declared input contract, gives finite outputs, passes its task's training
check (the loss falls on a fixed batch, or the task's own check), and round-trips through .keras
and get_config; the canonical config matches its reference parameter count. Exclusions are the
registry entries' own declared limitations, never lists here.

The XLA column runs once per distinct tiny network (`conformance.distinct_tiny_configs`; a row's
`tiny_twin_of` claim is verified below), in a child process (tests/xla_child.py) replaced once its memory
passes a limit: TensorFlow never frees its XLA compilation cache within a process, and 200 rows of
compiled programs would fill the machine's memory. There the training check's steps run
XLA-compiled (`jit_compile=True`, the GPU hot path) and the export endpoint is compiled and
compared with graph mode; such a row's tiny sweep then skips its graph-mode training check (one
trace and compile of the train step per row, not two: the suite's budget). Graph-mode training is
still swept on every twin, every row sharing a tiny build and every row without XLA, and is what
the CLI, spine and family tests run. A row that declares an "xla" limitation shows its reason. XLA's CPU back
end compiles at optimisation level 0 (tests/conftest.py): the column checks that every op lowers
and computes the same numbers, not how fast the code is.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import architectures
from deepzoo import conformance

ALL_MODELS = architectures.list_models()
SWEEP_COLUMNS = ("build", "forward", "train", "roundtrip")
DISTINCT = set(conformance.distinct_tiny_configs())


def _assert_columns(results):
    failures = {c: r.detail for c, r in results.items() if r.status == "fail"}
    assert not failures, failures


def _trains_in_the_xla_column(name):
    spec = architectures.get_spec(name)
    return name in DISTINCT and spec.supports("xla") and spec.supports("train")


@pytest.mark.parametrize("name", ALL_MODELS)
def test_tiny_config_sweep(name, tmp_path):
    # A row whose XLA column runs its training check (XLA-compiled steps, the same traced train
    # step) is not trained a second time here, in graph mode: the merge `deepzoo check` makes when
    # asked for both columns. Every other row (twins, shared tiny builds, rows without XLA) trains
    # here in graph mode.
    columns = [c for c in SWEEP_COLUMNS if not (c == "train" and _trains_in_the_xla_column(name))]
    _assert_columns(conformance.check_model(name, columns, workdir=tmp_path))


class XlaChild:
    """One tests/xla_child.py process at a time, replaced once its resident memory passes
    `memory_limit` (its XLA cache grows 0.1–0.4 GB per row), after `max_rows`, or if it died.
    Each start costs ~5 CPU-seconds of imports, so light rows share a child."""

    def __init__(self, memory_limit=2.5e9, max_rows=24):
        self.memory_limit, self.max_rows = memory_limit, max_rows
        self.process, self.rows, self.resident = None, 0, 0

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait(timeout=60)
            self.process = None

    def check(self, name):
        spent = self.rows >= self.max_rows or self.resident >= self.memory_limit
        if self.process is None or spent or self.process.poll() is not None:
            self.close()
            script = Path(__file__).with_name("xla_child.py")
            self.process = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            self.rows, self.resident = 0, 0
        self.rows += 1
        self.process.stdin.write(name + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:  # a model may print; the answer is the marked line
            if line.startswith("XLA-RESULT "):
                answer = json.loads(line[len("XLA-RESULT "):])
                self.resident = answer.get("resident_bytes", 0)
                return {column: conformance.CheckResult(*result) for column, result in answer["results"].items()}
        self.process = None
        raise RuntimeError(f"the XLA child process died while checking '{name}'")


@pytest.fixture(scope="session")
def xla_child():
    child = XlaChild()
    yield child
    child.close()


@pytest.mark.parametrize("name", sorted(DISTINCT))
def test_xla_column(name, xla_child):
    results = xla_child.check(name)
    _assert_columns(results)
    spec = architectures.get_spec(name)
    # Either it compiled, or the registry says why it cannot (and training falls back to graph mode).
    assert results["xla"].status == ("limited" if "xla" in spec.limitations else "pass"), results["xla"]
    if spec.supports("xla") and spec.supports("train"):
        assert "XLA-compiled" in results["train"].detail, results["train"]


def _structure(model):
    """Layer kinds, configs without names, and weight shapes, in order: what makes two builds one network."""
    def config(layer):
        return {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable", "dtype")}

    return [(type(layer).__name__, repr(config(layer)), [tuple(w.shape) for w in layer.weights]) for layer in model.layers]


@pytest.mark.parametrize("name", [n for n in ALL_MODELS if architectures.get_spec(n).tiny_twin_of])
def test_declared_tiny_twins_are_one_network(name):
    twin = architectures.get_spec(name).tiny_twin_of
    assert _structure(architectures.create_model(name, config="tiny")) == _structure(architectures.create_model(twin, config="tiny"))


@pytest.mark.large
@pytest.mark.parametrize("name", [n for n in ALL_MODELS if architectures.get_spec(n).reference_params])
def test_canonical_parameter_count(name):
    _assert_columns(conformance.check_model(name, ("params",)))


def test_every_limitation_names_a_known_check_or_format_and_a_reason():
    from export.formats import FORMATS

    known = set(architectures.CHECKS) | set(FORMATS)
    for name in ALL_MODELS:
        for capability, reason in architectures.get_spec(name).limitations.items():
            assert capability in known, (name, capability, sorted(known))
            assert isinstance(reason, str) and len(reason) > 15, (name, capability, reason)


def test_contract_check_catches_a_wrong_declaration():
    import dataclasses

    from tasks import TensorSpec

    spec = architectures.get_spec("lenet5")
    wrong = dataclasses.replace(spec, inputs=(TensorSpec("tokens", (None,), "int32"),))
    model = architectures.create_model("lenet5", config="tiny")
    assert conformance.contract_problems(wrong, model)
    assert not conformance.contract_problems(spec, model)


def test_registry_lookup_errors_suggest_close_names():
    with pytest.raises(ValueError, match="Did you mean: lenet5"):
        architectures.get_spec("lenet")


def test_list_models_filters():
    assert "lenet5" in architectures.list_models(family="classification")
    assert "lenet5" not in architectures.list_models(task="regression")
    assert architectures.list_models(pattern="lenet*") == ["lenet5"]
