"""Validation splits: disjoint, complete, reproducible by seed, stratified where asked."""

import numpy as np
import pytest

from pipelines import splits


def _labels():
    # 1000/100/10 as in the notes' stratification example, shuffled.
    labels = np.repeat([0, 1, 2], [1000, 100, 10])
    return np.random.default_rng(0).permutation(labels)


def test_holdout_is_disjoint_complete_and_reproducible():
    train, test = splits.holdout_split(100, test_fraction=0.2, seed=4)
    assert len(test) == 20 and len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(100))
    again = splits.holdout_split(100, test_fraction=0.2, seed=4)
    np.testing.assert_array_equal(again[1], test)
    assert not np.array_equal(splits.holdout_split(100, 0.2, seed=5)[1], test)
    with pytest.raises(ValueError, match="test_fraction"):
        splits.holdout_split(10, test_fraction=1.5)


def test_stratified_holdout_keeps_class_ratios():
    labels = _labels()
    train, test = splits.holdout_split(len(labels), 0.2, seed=0, stratify=labels)
    # 1000/100/10 -> 800/200, 80/20, 8/2.
    assert np.bincount(labels[test]).tolist() == [200, 20, 2]
    assert np.bincount(labels[train]).tolist() == [800, 80, 8]


@pytest.mark.parametrize("stratified", [False, True])
def test_kfold_folds_partition_the_data(stratified):
    labels = _labels()
    folds = splits.kfold_splits(len(labels), folds=5, seed=1, stratify=labels if stratified else None)
    assert len(folds) == 5
    validation = np.concatenate([val for _, val in folds])
    np.testing.assert_array_equal(np.sort(validation), np.arange(len(labels)))
    for train, val in folds:
        assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(labels)
    again = splits.kfold_splits(len(labels), folds=5, seed=1, stratify=labels if stratified else None)
    for (_, a), (_, b) in zip(folds, again):
        np.testing.assert_array_equal(a, b)
    if stratified:
        for _, val in folds:
            assert np.bincount(labels[val], minlength=3).tolist() == [200, 20, 2]


def test_repeated_kfold_and_leave_one_out():
    repeated = splits.make_splits("repeated:3x2", 30, seed=0)
    assert len(repeated) == 6
    assert not np.array_equal(repeated[0][1], repeated[3][1])  # each repeat reshuffles
    loo = splits.leave_one_out_splits(7)
    assert len(loo) == 7
    for i, (train, test) in enumerate(loo):
        assert test.tolist() == [i] and len(train) == 6 and i not in train


def test_bootstrap_out_of_bag_is_disjoint_from_the_sample():
    resamples = splits.bootstrap_splits(200, resamples=3, seed=2)
    assert len(resamples) == 3
    for train, out_of_bag in resamples:
        assert len(train) == 200 and len(np.unique(train)) < 200  # drawn with replacement
        assert len(np.intersect1d(train, out_of_bag)) == 0
        np.testing.assert_array_equal(np.union1d(train, out_of_bag), np.arange(200))
        assert 0.25 < len(out_of_bag) / 200 < 0.5  # about 36.8 %
    np.testing.assert_array_equal(splits.bootstrap_splits(200, 3, seed=2)[1][1], resamples[1][1])


def test_parse_and_make_splits():
    assert splits.parse_validation("holdout:0.1") == {"kind": "holdout", "fraction": 0.1}
    assert splits.parse_validation("stratified:4") == {"kind": "stratified", "folds": 4}
    assert splits.parse_validation("bootstrap:5") == {"kind": "bootstrap", "resamples": 5}
    assert len(splits.make_splits("loo", 5)) == 5
    assert len(splits.make_splits("kfold:3", 12)) == 3
    labels = _labels()
    (train, test), = splits.make_splits("holdout:0.2", len(labels), labels=labels)
    assert np.bincount(labels[test]).tolist() == [200, 20, 2]
    with pytest.raises(ValueError, match="needs class labels"):
        splits.make_splits("stratified:5", 10)
    with pytest.raises(ValueError, match="Unknown validation scheme"):
        splits.parse_validation("kfold:many")
    with pytest.raises(ValueError, match="folds must be at least 2"):
        splits.kfold_splits(10, folds=1)


@pytest.mark.parametrize("scheme", ["kfold:3", "stratified:3", "loo", "holdout:0.25"])
def test_grouped_folds_keep_every_group_on_one_side(scheme):
    """Identities (metric learning's `split_groups`) never appear in a fold's train and validation
    parts at once, and the partitioning schemes still cover the development set exactly once."""
    from tuning.folds import check_plan, make_fold_plan

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(12), 5)  # 12 identities, 5 images each
    labels = groups % 2
    dev = rng.permutation(len(groups))[:50]
    test = np.setdiff1d(np.arange(len(groups)), dev)
    plan = make_fold_plan(scheme, len(groups), test, dev, labels=labels if scheme.startswith("strat") else None, seed=3, groups=groups)
    assert check_plan(plan, len(groups))
    for train, val in plan.folds:
        assert not set(groups[train]) & set(groups[val])
    if scheme == "loo":
        assert plan.num_folds == len(np.unique(groups[dev]))


def test_grouped_schemes_without_a_group_form_are_refused():
    from pipelines.splits import make_splits

    groups = np.repeat(np.arange(6), 3)
    for scheme in ("repeated:3x2", "bootstrap:4"):
        with pytest.raises(ValueError, match="cannot keep groups"):
            make_splits(scheme, len(groups), groups=groups)
    with pytest.raises(ValueError, match="needs at least 8 groups"):
        make_splits("kfold:8", len(groups), groups=groups)
