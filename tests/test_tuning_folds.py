"""Fold bookkeeping of every validation scheme: disjoint, complete, stratified where asked, and never
touching the held-out test split that `pipelines.train` holds out."""

import numpy as np
import pytest

from pipelines.splits import parse_validation
from tasks import get_task
from pipelines.train import TrainConfig, prepare_data
from tuning.folds import FoldPlan, check_plan, cv_splits, make_fold_plan, stratify_labels

N = 120


def _labels(n=N, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    # Unbalanced on purpose: 50 % / 30 % / 20 %.
    return rng.permutation(np.repeat(np.arange(classes), [int(n * 0.5), int(n * 0.3), n - int(n * 0.5) - int(n * 0.3)]))


def _plan(scheme, labels=None, n=N, test_fraction=0.2, seed=0):
    indices = np.arange(n)
    rng = np.random.default_rng(seed + 1)
    test = np.sort(rng.choice(n, int(n * test_fraction), replace=False))
    dev = np.setdiff1d(indices, test)
    return make_fold_plan(scheme, n, test, dev, labels, seed)


@pytest.mark.parametrize(
    "scheme, folds",
    [("holdout:0.25", 1), ("kfold:4", 4), ("stratified:4", 4), ("loo", 96), ("repeated:3x2", 6)],
)
def test_each_scheme_is_disjoint_complete_and_leaves_test_alone(scheme, folds):
    labels = _labels()
    plan = _plan(scheme, labels)
    assert plan.num_folds == folds
    dev, test = set(plan.dev.tolist()), set(plan.test.tolist())
    assert not dev & test and len(dev | test) == N
    for train, val in plan.folds:
        assert not set(train.tolist()) & set(val.tolist())
        assert set(train.tolist()) | set(val.tolist()) == dev  # every development example is used
        assert not (set(train.tolist()) | set(val.tolist())) & test  # the test split stays out
    kind = parse_validation(scheme)["kind"]
    if kind in ("kfold", "stratified", "loo"):
        validation = np.concatenate([val for _, val in plan.folds])
        assert sorted(validation.tolist()) == sorted(dev)  # each example validated exactly once
    if kind == "repeated":
        for repeat in range(2):
            validation = np.concatenate([val for _, val in plan.folds[repeat * 3 : (repeat + 1) * 3]])
            assert sorted(validation.tolist()) == sorted(dev)
        # the repeats shuffle differently
        assert not all(np.array_equal(a[1], b[1]) for a, b in zip(plan.folds[:3], plan.folds[3:]))
    if kind == "holdout":
        assert len(plan.folds[0][1]) == pytest.approx(0.25 * len(dev), abs=1)
    assert check_plan(plan, N)


@pytest.mark.parametrize("scheme", ["stratified:4", "repeated:4x2", "holdout:0.25"])
def test_stratified_schemes_keep_class_proportions(scheme):
    labels = _labels()
    plan = _plan(scheme, labels)
    overall = np.bincount(labels[plan.dev], minlength=3) / len(plan.dev)
    for _, val in plan.folds:
        share = np.bincount(labels[val], minlength=3) / len(val)
        assert np.abs(share - overall).max() <= 1.0 / len(val) + 1e-9


def test_plain_kfold_does_not_stratify_and_stratified_needs_labels():
    labels = _labels()
    plan = _plan("kfold:4", labels)
    assert not plan.stratified
    with pytest.raises(ValueError, match="class labels"):
        _plan("stratified:4", None)


def test_too_few_examples_for_the_folds_is_a_clear_error():
    labels = np.array([0] * 30 + [1] * 3)
    with pytest.raises(ValueError, match="rarest has 3"):
        cv_splits("stratified:5", np.arange(33), labels, seed=0)
    with pytest.raises(ValueError, match="needs at least"):
        cv_splits("kfold:10", np.arange(5), None, seed=0)


def test_bootstrap_resamples_keep_out_of_bag_validation_when_available():
    plan = _plan("bootstrap:3")
    assert plan.num_folds == 3
    for train, val in plan.folds:
        assert not set(train.tolist()) & set(val.tolist())
        assert len(train) == len(plan.dev)  # drawn with replacement: duplicates kept


def test_check_plan_catches_a_leak():
    plan = _plan("kfold:3")
    train, val = plan.folds[0]
    leaky = FoldPlan(plan.scheme, plan.dev, plan.test, [(np.concatenate([train, val[:1]]), val)] + plan.folds[1:])
    with pytest.raises(AssertionError, match="both train and validation"):
        check_plan(leaky)
    touching_test = FoldPlan(plan.scheme, plan.dev, plan.test, [(np.concatenate([train, plan.test[:1]]), val)] + plan.folds[1:])
    with pytest.raises(AssertionError, match="outside the development set"):
        check_plan(touching_test)


def test_plan_round_trips_and_fingerprints(tmp_path):
    plan = _plan("stratified:3", _labels())
    plan.save(tmp_path / "splits.npz")
    loaded = FoldPlan.load(tmp_path / "splits.npz", plan.scheme)
    assert loaded.fingerprint() == plan.fingerprint()
    assert _plan("stratified:3", _labels(), seed=1).fingerprint() != plan.fingerprint()


def test_the_test_split_is_the_one_pipelines_train_holds_out():
    config = TrainConfig(model="lenet5", data="digits", validation_fraction=0.0, test_fraction=0.2, seed=3, max_examples=300)
    prepared = prepare_data(config)
    labels = stratify_labels(get_task("classification"), prepared.dataset.y)
    plan = make_fold_plan("stratified:3", len(prepared.dataset), prepared.test_idx, prepared.train_idx, labels, seed=3)
    # pipelines.train.train(..., validation_fraction=0) trains on exactly the development examples.
    again = prepare_data(TrainConfig(model="lenet5", data="digits", validation_fraction=0.0, test_fraction=0.2, seed=3, max_examples=300))
    assert np.array_equal(plan.test, again.test_idx) and np.array_equal(plan.dev, again.train_idx)
    assert plan.stratified and check_plan(plan, len(prepared.dataset))
