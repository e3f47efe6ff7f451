"""Validation splits as index arrays, reproducible by seed, built on scikit-learn's splitters.

Every function returns plain numpy index arrays so that a split can be saved next to a run and
replayed exactly (`deepzoo eval`, tuning folds, nested CV).
"""

import numpy as np
from sklearn import model_selection


def holdout_split(num_examples, test_fraction=0.2, seed=0, stratify=None, groups=None):
    """(train_indices, test_indices) with `test_fraction` of the examples held out; with `groups`
    (a group id per example), `test_fraction` of the groups, every group on one side only."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1). Received: test_fraction={test_fraction}")
    indices = np.arange(num_examples)
    if groups is not None:
        splitter = model_selection.GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
        train, test = next(splitter.split(indices, groups=groups))
        return np.sort(train), np.sort(test)
    train, test = model_selection.train_test_split(
        indices, test_size=test_fraction, random_state=seed, shuffle=True, stratify=stratify
    )
    return np.sort(train), np.sort(test)


def kfold_splits(num_examples, folds=5, seed=0, stratify=None, repeats=1):
    """List of (train_indices, validation_indices), one per fold (× repeats).

    Stratified when `stratify` (the class labels) is given; repeated with a different shuffle per
    repeat when `repeats > 1`.
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2. Received: folds={folds}")
    indices = np.arange(num_examples)
    if stratify is not None:
        splitter = (
            model_selection.RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
            if repeats > 1
            else model_selection.StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        )
        return [(np.sort(a), np.sort(b)) for a, b in splitter.split(indices, stratify)]
    splitter = (
        model_selection.RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        if repeats > 1
        else model_selection.KFold(n_splits=folds, shuffle=True, random_state=seed)
    )
    return [(np.sort(a), np.sort(b)) for a, b in splitter.split(indices)]


def leave_one_out_splits(num_examples):
    """One split per example, each holding that example out."""
    return [(a, b) for a, b in model_selection.LeaveOneOut().split(np.arange(num_examples))]


def bootstrap_splits(num_examples, resamples=1, seed=0):
    """(train_indices drawn with replacement, out-of-bag indices) per resample (spec §6.1, bagging).

    Train indices keep their duplicates (a bootstrap sample is a multiset); the out-of-bag
    examples, about 36.8 % of them, serve as that resample's validation set.
    """
    if num_examples < 2:
        raise ValueError(f"bootstrap needs at least 2 examples. Received: num_examples={num_examples}")
    from sklearn.utils import resample

    random_state = np.random.RandomState(seed)
    splits = []
    while len(splits) < resamples:
        train = np.sort(resample(np.arange(num_examples), replace=True, random_state=random_state))
        out_of_bag = np.setdiff1d(np.arange(num_examples), train)
        if len(out_of_bag):  # an all-covering resample has no validation set: draw again
            splits.append((train, out_of_bag))
    return splits


def parse_validation(spec):
    """Parses a validation scheme string: holdout:0.2, kfold:5, stratified:5, loo, repeated:5x3, bootstrap:10."""
    kind, _, arg = spec.partition(":")
    try:
        if kind == "holdout":
            return {"kind": "holdout", "fraction": float(arg or 0.2)}
        if kind in ("kfold", "stratified"):
            return {"kind": kind, "folds": int(arg or 5)}
        if kind == "loo":
            return {"kind": "loo"}
        if kind == "bootstrap":
            return {"kind": "bootstrap", "resamples": int(arg or 10)}
        if kind == "repeated":
            folds, _, repeats = (arg or "5x3").partition("x")
            return {"kind": "repeated", "folds": int(folds), "repeats": int(repeats or 3)}
    except ValueError:
        pass
    raise ValueError(
        "Unknown validation scheme. Expected holdout:F, kfold:K, stratified:K, loo, repeated:KxR or bootstrap:R. "
        f"Received: {spec!r}"
    )


def make_splits(scheme, num_examples, seed=0, labels=None, groups=None):
    """Index splits for a parsed (or string) validation scheme. With `groups` (a group id per
    example, e.g. identities) every group stays on one side of every split."""
    scheme = parse_validation(scheme) if isinstance(scheme, str) else scheme
    kind = scheme["kind"]
    if groups is not None:
        return group_splits(scheme, np.asarray(groups), seed, labels)
    if kind == "holdout":
        stratify = labels if labels is not None else None
        return [holdout_split(num_examples, scheme["fraction"], seed, stratify)]
    if kind == "kfold":
        return kfold_splits(num_examples, scheme["folds"], seed)
    if kind == "stratified":
        if labels is None:
            raise ValueError("stratified k-fold needs class labels; use kfold:K for regression data.")
        return kfold_splits(num_examples, scheme["folds"], seed, stratify=labels)
    if kind == "repeated":
        return kfold_splits(num_examples, scheme["folds"], seed, stratify=labels, repeats=scheme["repeats"])
    if kind == "bootstrap":
        return bootstrap_splits(num_examples, scheme["resamples"], seed)
    return leave_one_out_splits(num_examples)


def group_splits(scheme, groups, seed=0, labels=None):
    """`make_splits` for grouped examples, with scikit-learn's group-aware splitters: k-fold as
    GroupKFold (shuffled), stratified as StratifiedGroupKFold, leave-one-out as leave-one-group-out,
    hold-out as GroupShuffleSplit. Repeated k-fold and bootstrap have no group form here."""
    kind = scheme["kind"]
    indices = np.arange(len(groups))
    distinct = len(np.unique(groups))
    if kind == "holdout":
        return [holdout_split(len(groups), scheme["fraction"], seed, groups=groups)]
    if kind in ("kfold", "stratified") and scheme["folds"] > distinct:
        raise ValueError(f"{kind}:{scheme['folds']} needs at least {scheme['folds']} groups. Received: {distinct} groups")
    if kind == "kfold":
        splitter = model_selection.GroupKFold(n_splits=scheme["folds"], shuffle=True, random_state=seed)
    elif kind == "stratified":
        if labels is None:
            raise ValueError("stratified k-fold needs class labels; use kfold:K for regression data.")
        splitter = model_selection.StratifiedGroupKFold(n_splits=scheme["folds"], shuffle=True, random_state=seed)
    elif kind == "loo":
        splitter = model_selection.LeaveOneGroupOut()
    else:
        raise ValueError(f"{kind} validation cannot keep groups (identities) apart; use kfold:K, stratified:K, loo or holdout:F.")
    return [(np.sort(train), np.sort(val)) for train, val in splitter.split(indices, labels, groups=groups)]
