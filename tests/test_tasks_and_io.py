"""The task contract and atomic writes."""

import numpy as np
import pytest

from deepzoo.io import atomic_path, write_json_atomic
from pipelines.tasks import TASKS, get_task


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_contract_is_complete(name):
    task = get_task(name)
    x, y = task.synthetic_batch((6, 6, 1), (3,), 8, seed=0)
    assert x.shape == (8, 6, 6, 1) and len(y) == 8
    assert task.loss((3,)) is not None and isinstance(task.metrics((3,)), list)
    assert task.monitor[1] in ("min", "max") and task.element and task.export_outputs


def test_classification_report():
    y_true = np.array([0, 1, 2, 2])
    y_pred = np.eye(3)[[0, 1, 2, 1]]
    report = get_task("classification").evaluate(y_true, y_pred, ["a", "b", "c"])
    assert report["accuracy"] == 0.75
    assert report["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert 0 < report["macro_f1"] < 1


def test_regression_report():
    report = get_task("regression").evaluate(np.array([[1.0], [2.0]]), np.array([[1.0], [4.0]]))
    assert report["mae"] == 1.0 and report["rmse"] == pytest.approx(np.sqrt(2.0))


def test_unknown_task():
    with pytest.raises(ValueError, match="Unknown task"):
        get_task("telepathy")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "artifact.bin"
    target.write_text("previous")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["artifact.bin"]
    write_json_atomic(target, {"a": np.float32(1.5)})
    assert target.read_text().strip().startswith("{")
