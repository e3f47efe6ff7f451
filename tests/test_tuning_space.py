"""Search spaces: the generic space, the registry's entries, `--space` files (narrow, replace, remove,
fix), conditional entries (momentum only for SGD) and where each value goes."""

import json

import keras_tuner
import pytest

import architectures
from architectures.registry import ModelSpec
from pipelines.datasets import load_dataset
from tuning.space import declare_space, make_hypermodel, resolve_space, split_values


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def iris():
    return load_dataset("iris")


def _builder(input_shape=(4,), num_classes=3, units=8, dropout=0.0, width_multiplier=1.0, preprocessing=None, name="fake"):
    raise AssertionError("never built in these tests")


def _fake_spec(search_space=None):
    return ModelSpec(name="fake_for_space_tests", family="test", task="classification", builder=_builder, search_space=search_space)


def test_generic_space_follows_the_model_and_the_data(digits, iris):
    lenet = resolve_space(architectures.get_spec("lenet5"), digits)
    assert {"width_multiplier", "dropout", "l2", "optimizer", "momentum", "learning_rate", "batch_size", "augment_strength"} <= set(lenet)
    assert lenet["momentum"]["parent"] == "optimizer" and lenet["momentum"]["parent_values"] == ["sgd"]
    assert list(lenet).index("optimizer") < list(lenet).index("momentum")  # parents first
    tabular = resolve_space(_fake_spec(), iris)
    assert "augment_strength" not in tabular  # no image data, no augmentation
    assert "depth_multiplier" not in tabular  # the builder has no such argument
    assert resolve_space(_fake_spec(), iris, tuner="grid")["learning_rate"]["step"] == 10.0


def test_registry_entries_replace_and_extend_the_generic_space(iris):
    spec = _fake_spec({"units": {"kind": "int", "min_value": 4, "max_value": 16, "step": 4}, "dropout": {"kind": "choice", "values": [0.1, 0.2]}})
    space = resolve_space(spec, iris)
    assert space["units"] == {"kind": "int", "min_value": 4, "max_value": 16, "sampling": "linear", "step": 4}
    assert space["dropout"]["values"] == [0.1, 0.2]


def test_space_file_narrows_removes_fixes_and_replaces(tmp_path, iris):
    spec = _fake_spec()
    path = tmp_path / "space.yaml"
    path.write_text(
        "space:\n"
        "  batch_size: {values: [32]}\n"  # narrows, keeps the kind
        "  learning_rate: {kind: float, min: 1e-3, max: 1e-2, sampling: log}\n"  # YAML reads 1e-3 as a string
        "  dropout: null\n"
        "  optimizer: sgd\n"  # fixed: momentum becomes unconditional
    )
    space = resolve_space(spec, iris, override=path)
    assert space["batch_size"] == {"kind": "choice", "values": [32], "ordered": True}
    assert space["learning_rate"]["min_value"] == pytest.approx(1e-3)
    assert "dropout" not in space
    assert space["optimizer"] == {"kind": "fixed", "value": "sgd"}
    assert "parent" not in space["momentum"]

    (tmp_path / "adam.json").write_text(json.dumps({"optimizer": "adam"}))
    assert "momentum" not in resolve_space(spec, iris, override=tmp_path / "adam.json")  # never active: dropped
    (tmp_path / "no_optimizer.json").write_text(json.dumps({"optimizer": None}))
    assert "momentum" not in resolve_space(spec, iris, override=tmp_path / "no_optimizer.json")

    only = resolve_space(spec, iris, override={"replace": True, "space": {"units": [4, 8]}})
    assert list(only) == ["units"] and only["units"]["values"] == [4, 8]
    fixed = resolve_space(spec, iris, fixed={"batch_size": 64})
    assert fixed["batch_size"] == {"kind": "fixed", "value": 64}


@pytest.mark.parametrize(
    "override, message",
    [
        ({"nonsense": [1, 2]}, "Unknown hyperparameter 'nonsense'"),
        ({"units": {"kind": "gaussian"}}, "unknown kind"),
        ({"units": {"kind": "int", "min_value": 8, "max_value": 4}}, "min_value must be below"),
        ({"units": {"values": [4]}}, "needs a 'kind'"),
        ({"dropout": {"kind": "choice", "values": [0.1, "x"]}}, "one type"),
        ({"dropout": {"kind": "choice", "values": [0.1], "parent": "optimiser", "parent_values": ["sgd"]}}, "unknown parent"),
        ({"dropout": {"kind": "choice", "values": [0.1], "parent": "optimizer", "parent_values": ["lbfgs"]}}, "not values of"),
        ({"learning_rate": {"kind": "float", "min_value": 0.0, "max_value": 1.0, "sampling": "log"}}, "needs min_value > 0"),
        ({"space": {}, "extra": 1}, "unknown top-level keys"),
    ],
)
def test_bad_spaces_are_one_line_value_errors(override, message, iris):
    with pytest.raises(ValueError, match=message):
        resolve_space(_fake_spec(), iris, override=override)


def test_bad_space_files_are_value_errors(tmp_path, iris):
    with pytest.raises(ValueError, match="not found"):
        resolve_space(_fake_spec(), iris, override=tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        resolve_space(_fake_spec(), iris, override=broken)


def test_conditional_momentum_is_active_only_for_sgd(iris):
    space = resolve_space(_fake_spec(), iris)
    hp = keras_tuner.HyperParameters()
    values = declare_space(hp, space)
    assert values["optimizer"] == "adam" and "momentum" not in values
    hp.values["optimizer"] = "sgd"
    hp.ensure_active_values()  # as KerasTuner does after choosing values
    values = declare_space(hp, space)
    assert values["momentum"] in (0.0, 0.5, 0.9)
    # KerasTuner's own sampling respects the condition.
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="val_loss", max_trials=30, seed=3)
    declared = keras_tuner.HyperParameters()
    make_hypermodel(space).build(declared)
    oracle.update_space(declared)
    seen = set()
    for _ in range(30):
        sampled = oracle._random_values()
        seen.add(sampled["optimizer"])
        assert ("momentum" in sampled) == (sampled["optimizer"] == "sgd")
    assert seen == {"adam", "sgd"}


def test_values_go_to_the_model_or_to_training(digits):
    spec = architectures.get_spec("lenet5")
    options = split_values(
        {"width_multiplier": 0.5, "dropout": 0.25, "optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.01, "augment_strength": 0.1, "tuner/epochs": 3},
        spec,
    )
    assert options.model_overrides == {"width_multiplier": 0.5, "dropout": 0.25}
    assert options.train["optimizer"] == "momentum" and options.train["momentum"] == 0.9
    assert options.train["augment"] == {"translate": 0.1, "rotate": 0.05, "zoom": 0.1}
    assert "tuner/epochs" not in options.train
    assert split_values({"optimizer": "sgd", "momentum": 0.0}, spec).train["optimizer"] == "sgd"
    assert split_values({"augment_strength": 0.0}, spec).train["augment"] == "none"
