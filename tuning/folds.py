"""Fold plans: the held-out test split and the validation folds of a search, as dataset indices.

The test split is made exactly as `pipelines.train.prepare_data` makes it (same seed, fraction,
stratification and `max_examples` subset), so the final retrain through `pipelines.train.train`
holds out the very same examples. Every fold is carved from the remaining "development" examples
with `pipelines.splits.make_splits`; no fold ever contains a test example.
"""

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from common.io import atomic_path
from pipelines.splits import make_splits, parse_validation


@dataclasses.dataclass
class FoldPlan:
    """`dev` and `test` index the (subset) dataset; each fold is `(train, validation)` indices into it."""

    scheme: dict
    dev: np.ndarray
    test: np.ndarray
    folds: list
    stratified: bool = False

    @property
    def num_folds(self):
        return len(self.folds)

    def fingerprint(self):
        digest = hashlib.sha256()
        for array in [self.dev, self.test] + [a for fold in self.folds for a in fold]:
            digest.update(np.asarray(array, dtype=np.int64).tobytes())
            digest.update(b"|")
        return digest.hexdigest()[:16]

    def save(self, path):
        arrays = {"dev": self.dev, "test": self.test}
        for k, (train, val) in enumerate(self.folds):
            arrays[f"fold{k}_train"], arrays[f"fold{k}_val"] = train, val
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)

    @classmethod
    def load(cls, path, scheme, stratified=False):
        with np.load(path) as arrays:
            count = sum(1 for key in arrays.files if key.endswith("_train"))
            folds = [(arrays[f"fold{k}_train"], arrays[f"fold{k}_val"]) for k in range(count)]
            return cls(scheme, arrays["dev"], arrays["test"], folds, stratified)

    def describe(self):
        kind = self.scheme["kind"]
        if kind == "holdout":
            what = f"hold-out {self.scheme['fraction']:g}"
        elif kind == "repeated":
            what = f"{self.scheme['folds']}-fold × {self.scheme['repeats']} repeats"
        elif kind == "loo":
            what = "leave-one-out"
        elif kind == "bootstrap":
            what = f"{self.num_folds} bootstrap resamples"
        else:
            what = f"{self.num_folds}-fold" + (" stratified" if kind == "stratified" else "")
        return f"{what} over {len(self.dev):,} examples ({len(self.test):,} test examples held out)"


def stratify_labels(task, y):
    """Class labels for stratification where the task stratifies (its `stratify_labels`)."""
    return task.stratify_labels(y) if task.stratify else None


def cv_splits(scheme, indices, labels, seed, groups=None):
    """`make_splits` over a subset of examples: returns folds as indices into the dataset. With
    `groups` (the task's `split_groups`, e.g. identities), no group is split across a fold."""
    scheme = parse_validation(scheme) if isinstance(scheme, str) else scheme
    indices = np.asarray(indices)
    if scheme["kind"] in ("kfold", "stratified", "repeated") and scheme["folds"] > len(indices):
        raise ValueError(f"{scheme['kind']} with {scheme['folds']} folds needs at least that many examples. Received: {len(indices)}")
    local_labels = labels[indices] if labels is not None else None
    if scheme["kind"] == "stratified" and local_labels is not None:
        present = np.bincount(local_labels.astype(np.int64))
        smallest = int(present[present > 0].min()) if present.any() else 0
        if smallest < scheme["folds"]:
            raise ValueError(
                f"stratified:{scheme['folds']} needs at least {scheme['folds']} examples of every class; the rarest has {smallest}. "
                "Use fewer folds or kfold:K."
            )
    local_groups = np.asarray(groups)[indices] if groups is not None else None
    splits = make_splits(scheme, len(indices), seed=seed, labels=local_labels, groups=local_groups)
    return [(indices[train], indices[val]) for train, val in splits]


def make_fold_plan(scheme, dataset_size, test_idx, dev_idx, labels=None, seed=0, groups=None):
    """A plan over the development examples `dev_idx` (test examples `test_idx` stay out)."""
    scheme = parse_validation(scheme) if isinstance(scheme, str) else scheme
    folds = cv_splits(scheme, dev_idx, labels, seed, groups)
    stratified = labels is not None and scheme["kind"] in ("stratified", "repeated", "holdout")
    plan = FoldPlan(scheme, np.asarray(dev_idx), np.asarray(test_idx), folds, stratified)
    check_plan(plan, dataset_size)
    return plan


def check_plan(plan, dataset_size=None):
    """Raises if a fold leaks: validation ∩ train, anything ∩ test, or examples outside the dev set.

    For partitioning schemes (k-fold, stratified, leave-one-out, and each repeat of repeated k-fold)
    also checks that the validation sets cover the development examples exactly once.
    """
    dev, test = set(plan.dev.tolist()), set(plan.test.tolist())
    if dev & test:
        raise AssertionError(f"{len(dev & test)} examples are both development and test examples")
    if dataset_size is not None and (max(dev | test, default=-1) >= dataset_size):
        raise AssertionError("fold indices point past the dataset")
    for k, (train, val) in enumerate(plan.folds):
        train_set, val_set = set(train.tolist()), set(val.tolist())
        if not val_set:
            raise AssertionError(f"fold {k} has no validation examples")
        if train_set & val_set:
            raise AssertionError(f"fold {k}: {len(train_set & val_set)} examples are in both train and validation")
        if (train_set | val_set) - dev:
            raise AssertionError(f"fold {k} uses examples outside the development set")
        if plan.scheme["kind"] != "bootstrap" and (train_set | val_set) != dev:
            raise AssertionError(f"fold {k} does not use every development example")
    kind = plan.scheme["kind"]
    if kind in ("kfold", "stratified", "loo", "repeated"):
        # Leave-one-out: one partition of all folds (one per example, or one per group).
        per_repeat = plan.num_folds if kind == "loo" else plan.scheme["folds"]
        for start in range(0, plan.num_folds, per_repeat):
            vals = np.concatenate([val for _, val in plan.folds[start : start + per_repeat]])
            if len(vals) != len(plan.dev) or set(vals.tolist()) != dev:
                raise AssertionError(f"validation sets of folds {start}..{start + per_repeat - 1} do not partition the development set")
    return True


def plan_path(out_dir):
    return Path(out_dir) / "splits.npz"
