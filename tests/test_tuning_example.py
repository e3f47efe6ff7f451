"""examples/tune_shapes10.py (the README's worked example) runs, on a tiny budget."""

import importlib.util
from pathlib import Path

import pytest


@pytest.mark.slow
def test_tune_shapes10_example(tmp_path):
    path = Path(__file__).parents[1] / "examples" / "tune_shapes10.py"
    spec = importlib.util.spec_from_file_location("tune_shapes10", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    space = {"replace": True, "space": {"learning_rate": [0.003], "width_multiplier": [0.25], "batch_size": [32]}}
    result = module.main(cv="stratified:2", max_trials=1, epochs=1, max_examples=200, out=str(tmp_path), space=space, verbose=0)
    assert (Path(result.run_dir) / "model.keras").is_file()
    # The reported test metrics are the saved model's own on the untouched test split.
    from pipelines.train import evaluate_run

    assert evaluate_run(result.run_dir)["accuracy"] == pytest.approx(result.test_metrics["accuracy"])
    assert (tmp_path / "summary.md").is_file()
