"""Cross-validated search with every KerasTuner tuner: fold bookkeeping, scores, Hyperband's per-fold
continuation, the retrained run directory and nested cross-validation. Tiny: LeNet-5's tiny config
on 100 digits, one or two epochs."""

import collections
import json

import numpy as np
import pytest

from pipelines.datasets import load_dataset
from pipelines.train import Run, TrainConfig, evaluate_run
from tuning import tune
from tuning.fitting import FoldTrainer
from tuning.folds import FoldPlan, make_fold_plan

SMALL = dict(model_config="tiny", max_examples=100, epochs=1, seed=0, retrain=False, verbose=0, jit="off")
SPACE = {"replace": True, "space": {"learning_rate": [0.001, 0.003], "batch_size": {"kind": "fixed", "value": 32}}}


def _read(path):
    return json.loads(path.read_text())


def _check_bookkeeping(result, folds, trials):
    project = result.out_dir / "search"
    assert len(result.trials) == trials
    assert all(row["status"] == "COMPLETED" for row in result.trials)
    fits = collections.Counter()
    for line in (project / "fits.jsonl").read_text().splitlines():
        record = json.loads(line)
        fits[(record["trial_id"], record["fold"])] += 1
    expected = {(row["trial_id"], k) for row in result.trials for k in range(folds)}
    assert set(fits) == expected and set(fits.values()) == {1}  # every fold of every trial fitted exactly once
    plan = FoldPlan.load(result.out_dir / "splits.npz", {"kind": "kfold", "folds": folds})
    for row in result.trials:
        cv = _read(project / f"trial_{row['trial_id']}" / "cv.json")
        assert [f["fold"] for f in cv["folds"]] == list(range(folds))
        assert [f["val_size"] for f in cv["folds"]] == [len(v) for _, v in plan.folds]
        scores = [f["metrics"][result.objective] for f in cv["folds"]]
        assert cv["score"] == pytest.approx(np.mean(scores))  # the objective is the mean across folds
        assert cv["std"] == pytest.approx(np.std(scores, ddof=1))
        assert row["score"] == pytest.approx(cv["score"])  # what the oracle ranked on
        assert row["fold_scores"] == pytest.approx(scores)
    ranked = [row["score"] for row in result.trials]
    assert ranked == sorted(ranked, reverse=result.direction == "max")
    assert result.best_trial_id == result.trials[0]["trial_id"]
    assert (result.out_dir / "summary.md").is_file() and (result.out_dir / "summary.json").is_file()
    assert all(path.is_file() for path in result.plots)


@pytest.mark.parametrize(
    "tuner, extra, trials",
    [
        ("random", dict(max_trials=2), 2),
        ("grid", dict(), 2),  # the whole grid: two learning rates
        ("bayesian", dict(max_trials=2), 2),
        ("hyperband", dict(epochs=2, hyperband_factor=2, max_trials=3), 3),  # one bracket: 2 trials, 1 continued
    ],
)
def test_each_tuner_scores_trials_by_the_mean_over_folds(tmp_path, tuner, extra, trials):
    result = tune("lenet5", "digits", tuner=tuner, cv="kfold:2", space=SPACE, out_dir=tmp_path / tuner, progress=None, **{**SMALL, **extra})
    _check_bookkeeping(result, folds=2, trials=trials)
    if tuner == "grid":
        assert sorted(row["hyperparameters"]["learning_rate"] for row in result.trials) == [0.001, 0.003]


def test_hyperband_continues_each_folds_own_model(tmp_path):
    result = tune(
        "lenet5", "digits", tuner="hyperband", cv="kfold:3", space=SPACE, out_dir=tmp_path, progress=None,
        **{**SMALL, "epochs": 2, "hyperband_factor": 2, "max_trials": 3},
    )
    project = tmp_path / "search"
    continued = [row for row in result.trials if row["continued_from"] is not None]
    assert len(continued) == 1
    child, parent = continued[0]["trial_id"], continued[0]["continued_from"]
    child_folds = [_read(project / f"trial_{child}" / "folds" / f"fold_{k:03d}.json") for k in range(3)]
    parent_folds = [_read(project / f"trial_{parent}" / "folds" / f"fold_{k:03d}.json") for k in range(3)]
    parent_ends = [f["state_checksum_end"] for f in parent_folds]
    assert len(set(parent_ends)) == 3  # three fold models, not one shared model
    for k in range(3):
        assert child_folds[k]["continued_from"] == parent
        assert child_folds[k]["state_checksum_start"] == parent_ends[k]  # fold k continues fold k's model
        assert child_folds[k]["initial_epoch"] == 1 and child_folds[k]["epochs"] == 2
        assert len(child_folds[k]["history"]["loss"]) == 1  # only the epochs after the parent's
        assert parent_folds[k]["epochs_run"] == 1
        assert (project / f"trial_{child}" / "folds" / f"fold_{k:03d}.state.npz").is_file()
    # The saved state really is the parent's fold model: restoring it gives the recorded checksum.
    with np.load(project / f"trial_{parent}" / "folds" / "fold_001.state.npz") as arrays:
        import zlib

        crc = 0
        for i in range(len(arrays.files)):
            crc = zlib.crc32(np.ascontiguousarray(arrays[f"arr_{i}"]).tobytes(), crc)
    assert f"{crc:08x}" == parent_ends[1]


def test_a_reset_model_equals_a_freshly_built_one():
    """Folds share one compiled model reset to its initial state: the same result as a new model."""
    dataset = load_dataset("digits")
    dataset = dataset.subset(np.arange(90))
    base = TrainConfig(model="lenet5", data="digits", model_config="tiny", epochs=2, seed=0, jit="off", validation_fraction=0.0)
    plan = make_fold_plan("kfold:3", len(dataset), np.arange(0), np.arange(len(dataset)), None, seed=0)
    trainer = FoldTrainer("lenet5", dataset, base)
    config = trainer.config_for({"learning_rate": 3e-3, "optimizer": "momentum", "batch_size": 16}, {"dropout": 0.25})
    shared = trainer.prepare(config, len(plan.folds[0][0]))
    trainer.fit(shared, *plan.folds[0], epochs=2, seed=0)
    after_other_fold = trainer.fit(shared, *plan.folds[1], epochs=2, seed=1)
    fresh = trainer.prepare(config, len(plan.folds[0][0]))
    first_fold = trainer.fit(fresh, *plan.folds[1], epochs=2, seed=1)
    for name, value in first_fold.metrics.items():
        assert after_other_fold.metrics[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name


@pytest.mark.slow
def test_best_configuration_becomes_an_ordinary_run_and_nested_cv_estimates_the_procedure(tmp_path):
    result = tune(
        "lenet5", "digits", tuner="random", cv="stratified:2", space=SPACE, out_dir=tmp_path, progress=None,
        **{**SMALL, "max_trials": 2, "retrain": True, "nested": 2, "max_examples": 120},
    )
    run = Run.load(result.run_dir)  # config.json + model.keras, what `deepzoo export` needs
    for name in ("config.json", "model.keras", "split.npz", "metrics.json", "history.csv", "tuning.json"):
        assert (result.run_dir / name).is_file(), name
    plan = FoldPlan.load(tmp_path / "splits.npz", {"kind": "stratified", "folds": 2})
    with np.load(result.run_dir / "split.npz") as split:
        assert np.array_equal(np.sort(split["test"]), np.sort(plan.test))  # the test split no trial saw
        assert np.array_equal(np.sort(split["train"]), np.sort(plan.dev))  # retrained on all of the rest
    assert run.config["learning_rate"] == result.best_hyperparameters["learning_rate"]
    assert evaluate_run(result.run_dir)["accuracy"] == pytest.approx(result.test_metrics["accuracy"])
    assert result.nested["outer_folds"] == 2 and len(result.nested["folds"]) == 2
    # The nested estimate is the mean of the outer folds' own scores.
    assert result.nested["mean"] == pytest.approx(np.mean([fold["outer_score"] for fold in result.nested["folds"]]))
    outer_tests = [set() for _ in range(2)]
    for k, fold in enumerate(result.nested["folds"]):
        inner = _read(tmp_path / "nested" / f"outer_{k}" / "result.json")
        assert inner["outer_score"] == pytest.approx(fold["outer_score"])
        outer_tests[k] = fold["test_size"]
    assert sum(outer_tests) == len(plan.dev)
    summary = _read(tmp_path / "summary.json")
    assert summary["best"]["trial_id"] == result.best_trial_id and summary["nested"]["mean"] == pytest.approx(result.nested["mean"])
    assert "Nested cross-validation" in (tmp_path / "summary.md").read_text()


def test_a_finished_search_is_not_run_again_and_other_settings_are_refused(tmp_path):
    first = tune("lenet5", "digits", tuner="random", cv="holdout:0.3", space=SPACE, out_dir=tmp_path, progress=None, **{**SMALL, "max_trials": 2})
    fits = (tmp_path / "search" / "fits.jsonl").read_text()
    again = tune("lenet5", "digits", tuner="random", cv="holdout:0.3", space=SPACE, out_dir=tmp_path, progress=None, **{**SMALL, "max_trials": 2})
    assert (tmp_path / "search" / "fits.jsonl").read_text() == fits  # nothing ran twice
    assert [r["score"] for r in again.trials] == [r["score"] for r in first.trials]
    with pytest.raises(ValueError, match="different settings \\(cv\\)"):
        tune("lenet5", "digits", tuner="random", cv="kfold:2", space=SPACE, out_dir=tmp_path, progress=None, **{**SMALL, "max_trials": 2})


def test_grid_search_resumes_where_it_stopped(tmp_path):
    """KerasTuner keeps GridSearch's iteration order out of its saved state; a resumed grid continues."""
    space = {"replace": True, "space": {"learning_rate": [0.001, 0.003], "batch_size": [16, 32]}}
    options = dict(tuner="grid", cv="holdout:0.3", space=space, out_dir=tmp_path, progress=None, **SMALL)
    first = tune("lenet5", "digits", max_trials=2, **options)
    assert len(first.trials) == 2
    resumed = tune("lenet5", "digits", **options)  # no cap: the whole grid
    combos = [(r["hyperparameters"]["learning_rate"], r["hyperparameters"]["batch_size"]) for r in resumed.trials]
    assert sorted(combos) == [(0.001, 16), (0.001, 32), (0.003, 16), (0.003, 32)]  # all four, none twice


def test_interrupted_hyperband_keeps_finished_folds_and_continues(tmp_path, monkeypatch):
    from tuning.fitting import FoldTrainer as Trainer

    calls = {"n": 0}
    original = Trainer.fit

    def interrupted_fit(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # inside the continued trial: the two first trials (2 folds each) are done
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    options = dict(tuner="hyperband", cv="kfold:2", space=SPACE, out_dir=tmp_path, progress=None, **{**SMALL, "epochs": 2, "hyperband_factor": 2, "max_trials": 3})
    monkeypatch.setattr(Trainer, "fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        tune("lenet5", "digits", **options)
    monkeypatch.setattr(Trainer, "fit", original)
    result = tune("lenet5", "digits", **options)
    _check_bookkeeping(result, folds=2, trials=3)
    continued = [r for r in result.trials if r["continued_from"] is not None]
    assert len(continued) == 1
    cv = _read(tmp_path / "search" / f"trial_{continued[0]['trial_id']}" / "cv.json")
    assert [bool(f.get("reused")) for f in cv["folds"]] == [True, False]  # fold 0 kept, fold 1 re-run
