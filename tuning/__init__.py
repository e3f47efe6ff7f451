"""KerasTuner search under hold-out, k-fold, stratified, leave-one-out, repeated and nested validation.

    from tuning import tune
    result = tune("lenet5", "digits", tuner="hyperband", cv="stratified:5", epochs=9)
    result.best_hyperparameters, result.best_score, result.test_metrics, result.run_dir

Every KerasTuner tuner (random, grid, bayesian, hyperband) scores each trial as the mean of its
folds; the spread and every fold's metrics are recorded; the best configuration is retrained on the
whole training split and tested once on a held-out split no trial saw (an ordinary run directory).
See `tuning.search` (the run and its directory), `tuning.space` (search spaces), `tuning.folds`
(fold plans), `tuning.tuners` (the cross-validating tuners), `tuning.distributed` (chief/worker
search and multi-worker training) and `tuning.report` (summary table and plots).
"""

from tuning.folds import FoldPlan, check_plan, make_fold_plan  # noqa: F401
from tuning.search import TuneResult, TuneSettings, default_out_dir, parse_objective, tune  # noqa: F401
from tuning.space import generic_space, load_space_file, resolve_space, split_values  # noqa: F401
from tuning.tuners import TUNER_NAMES, CrossValidator, make_tuner, tuner_class  # noqa: F401

__all__ = [
    "tune",
    "TuneResult",
    "TuneSettings",
    "TUNER_NAMES",
    "default_out_dir",
    "parse_objective",
    "FoldPlan",
    "make_fold_plan",
    "check_plan",
    "generic_space",
    "resolve_space",
    "load_space_file",
    "split_values",
    "CrossValidator",
    "make_tuner",
    "tuner_class",
]
