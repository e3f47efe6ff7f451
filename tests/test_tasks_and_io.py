"""The task contract and atomic writes."""

import numpy as np
import pytest

from common.io import atomic_path, write_json_atomic
from tasks import TASKS, get_task
from tasks.base import Task


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_contract_is_complete(name):
    task = get_task(name)
    assert isinstance(task, Task) and task.name == name
    assert task.monitor[1] in ("min", "max") and task.element and task.export_outputs
    key, direction = task.objective
    assert direction in ("min", "max") and (key, direction) == task.objectives[0]


def test_classification_report():
    y_true = np.array([0, 1, 2, 2])
    y_pred = np.eye(3)[[0, 1, 2, 1]]
    report = get_task("classification").score(y_true, {"output": y_pred}, ["a", "b", "c"])
    assert report["accuracy"] == 0.75
    assert report["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert report["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_regression_report():
    report = get_task("regression").score(np.array([[1.0], [2.0]]), {"output": np.array([[1.0], [4.0]])})
    assert report["mae"] == 1.0 and report["rmse"] == pytest.approx(np.sqrt(2.0))


def test_unknown_task_suggests_close_names():
    with pytest.raises(ValueError, match="Unknown task 'clasification'. Did you mean: classification"):
        get_task("clasification")


def test_task_settings_make_a_checked_copy():
    shared = get_task("segmentation")
    task = get_task("segmentation", {"class_balance": "none", "loss_kind": "dice_cross_entropy", "dice_weight": 2})
    assert task is not shared and shared.class_balance == "inverse_sqrt_frequency" and shared.loss_kind == "cross_entropy"
    assert task.class_balance is None and task.loss_kind == "dice_cross_entropy" and task.dice_weight == 2.0
    assert get_task("segmentation", {}) is shared
    # The setting reaches the data: without class balancing the batches carry no pixel weights.
    x, y = np.zeros((4, 8, 8, 3), np.float32), np.zeros((4, 8, 8), np.int32)
    assert len(next(iter(shared.make_dataset(x, y, 2)))) == 3 and len(next(iter(task.make_dataset(x, y, 2)))) == 2
    assert get_task("translation", {"evaluation_beam_size": 1}).evaluation_beam_size == 1  # greedy BLEU only
    for beam in (0, -2, 2.5):
        with pytest.raises(ValueError, match="evaluation_beam_size"):
            get_task("translation", {"evaluation_beam_size": beam})
    for bad, message in (({"clas_balance": None}, "no setting 'clas_balance'"), ({"loss_kind": "dice"}, "must be one of"), ({"dice_weight": "x"}, "expects a number")):
        with pytest.raises(ValueError, match=message):
            get_task("segmentation", bad)


def test_tasks_sit_below_every_other_layer():
    """tasks/ imports nothing of the project but common/ (DESIGN.md: nothing reaches up)."""
    import ast
    from pathlib import Path

    upper = {"architectures", "pipelines", "tuning", "export", "serving", "deepzoo"}
    for path in Path(__file__).resolve().parents[1].joinpath("tasks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] in upper for n in names), (path.name, names)


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
