"""One sweep over every registered model (DESIGN.md): tiny config builds, gives finite outputs,
trains (the loss falls on a fixed batch), round-trips through .keras and get_config; the canonical
config matches its reference parameter count. Exclusions are the registry entries' own declared
limitations, never lists here."""

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


@pytest.mark.parametrize("name", [n for n in ALL_MODELS if architectures.get_spec(n).reference_params])
def test_canonical_parameter_count(name):
    _assert_columns(conformance.check_model(name, ("params",)))


def test_every_limitation_names_a_reason():
    for name in ALL_MODELS:
        for capability, reason in architectures.get_spec(name).limitations.items():
            assert isinstance(reason, str) and len(reason) > 15, (name, capability, reason)


def test_registry_lookup_errors_suggest_close_names():
    with pytest.raises(ValueError, match="Did you mean: lenet5"):
        architectures.get_spec("lenet")


def test_list_models_filters():
    assert "lenet5" in architectures.list_models(family="classification")
    assert "lenet5" not in architectures.list_models(task="regression")
    assert architectures.list_models(pattern="lenet*") == ["lenet5"]
