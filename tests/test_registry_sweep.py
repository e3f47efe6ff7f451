"""One sweep over every registered model (DESIGN.md), generated from the registry: the tiny config
builds and matches its declared input contract, gives finite outputs, passes its task's training
check (the loss falls on a fixed batch, or the task's own check), and round-trips through .keras
and get_config; the canonical config matches its reference parameter count. Exclusions are the
registry entries' own declared limitations, never lists here.

The XLA column (training step and export endpoint under `jit_compile=True`, agreeing with graph
mode) runs once per distinct tiny build (`conformance.distinct_tiny_configs`: variants whose tiny
networks are identical are the same XLA program). XLA's CPU back end compiles at optimisation
level 0 here (tests/conftest.py): the column checks that every op lowers and computes the same
numbers, not how fast the code is.
"""

import pytest

import architectures
from deepzoo import conformance

ALL_MODELS = architectures.list_models()
SWEEP_COLUMNS = ("build", "forward", "train", "roundtrip")


def _assert_columns(results):
    failures = {c: r.detail for c, r in results.items() if r.status == "fail"}
    assert not failures, failures


@pytest.mark.parametrize("name", ALL_MODELS)
def test_tiny_config_sweep(name, tmp_path):
    _assert_columns(conformance.check_model(name, SWEEP_COLUMNS, workdir=tmp_path))


@pytest.mark.parametrize("name", conformance.distinct_tiny_configs())
def test_xla_column(name, tmp_path):
    results = conformance.check_model(name, ("build", "xla"), workdir=tmp_path)
    _assert_columns(results)
    spec = architectures.get_spec(name)
    # Either it compiled, or the registry says why it cannot (and training falls back to graph mode).
    assert results["xla"].status == ("limited" if "xla" in spec.limitations else "pass"), results["xla"]


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
