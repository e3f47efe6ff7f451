"""Training runs: the run directory, statistics from the training split only, resume after SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipelines.train import Run, TrainConfig, evaluate_run, normalization_statistics, prepare_data, resolve_jit, train


def test_splits_are_disjoint_stratified_and_reproducible():
    a = prepare_data(TrainConfig(model="lenet5", data="digits", seed=3))
    b = prepare_data(TrainConfig(model="lenet5", data="digits", seed=3))
    parts = [a.train_idx, a.val_idx, a.test_idx]
    assert sum(len(p) for p in parts) == len(a.dataset)
    assert len(np.unique(np.concatenate(parts))) == len(a.dataset)
    for x, y in zip(parts, [b.train_idx, b.val_idx, b.test_idx]):
        np.testing.assert_array_equal(x, y)
    test_classes = np.bincount(a.dataset.y[a.test_idx], minlength=10)
    assert test_classes.max() - test_classes.min() <= 2  # stratified


def test_normalisation_comes_from_the_training_split_only(tmp_path):
    result = train("lenet5", "digits", run_dir=tmp_path / "run", model_config="tiny", epochs=1, max_examples=300, jit="off", progress=None)
    run = Run.load(tmp_path / "run")
    x_train, _ = run.arrays("train")
    x_test, _ = run.arrays("test")
    mean, std = normalization_statistics(x_train)
    recorded = run.config["model_overrides"]["preprocessing"]
    np.testing.assert_allclose(recorded["mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(recorded["std"], std, rtol=1e-6)
    everything = normalization_statistics(np.concatenate([x_train, x_test]))[0]
    assert not np.allclose(everything, mean, rtol=1e-6)
    layer = result.model.get_layer("normalize")
    np.testing.assert_allclose(layer.mean, mean, rtol=1e-6)


def test_eval_reproduces_the_saved_metrics(tmp_path):
    result = train("lenet5", "digits", run_dir=tmp_path / "run", model_config="tiny", epochs=2, max_examples=300, jit="off", progress=None)
    again = evaluate_run(tmp_path / "run")
    assert again["accuracy"] == pytest.approx(result.metrics["accuracy"])
    assert np.array(again["confusion_matrix"]).sum() == again["num_examples"]


def test_jit_choices():
    assert resolve_jit("on") is True and resolve_jit("off") is False
    assert resolve_jit("auto") is False  # no GPU on the test machine: graph mode, as measured
    with pytest.raises(ValueError, match="jit must be one of"):
        resolve_jit("sometimes")


def test_jit_on_trains(tmp_path):
    result = train("lenet5", "digits", run_dir=tmp_path / "run", model_config="tiny", epochs=1, max_examples=200, jit="on", progress=None)
    assert np.isfinite(result.history["loss"][0])


def test_init_from_copies_and_freezes_the_backbone(tmp_path):
    train("lenet5", "digits", run_dir=tmp_path / "source", model_config="tiny", epochs=1, max_examples=200, jit="off", progress=None)
    result = train(
        "lenet5", "digits", run_dir=tmp_path / "target", model_config="tiny", epochs=1, max_examples=200, jit="off",
        init_from=str(tmp_path / "source"), freeze="backbone", progress=None,
    )
    import keras

    source = keras.saving.load_model(tmp_path / "source" / "model.keras")
    np.testing.assert_array_equal(result.model.get_layer("c1").get_weights()[0], source.get_layer("c1").get_weights()[0])
    assert not result.model.get_layer("c1").trainable


def test_killed_run_resumes_from_backup(tmp_path):
    """SIGKILL a training process mid-run; the same command resumes and finishes every epoch once."""
    run_dir = tmp_path / "run"
    command = [
        str(Path(sys.executable).parent / "deepzoo"), "train", "lenet5", "--tiny", "--data", "digits",
        "--epochs", "40", "--max-examples", "400", "--patience", "0", "--run-dir", str(run_dir), "--jit", "off",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = run_dir / "history.csv"
    deadline = time.time() + 240
    while time.time() < deadline and (not history.is_file() or len(history.read_text().splitlines()) < 4):
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (run_dir / "backup").is_dir(), "BackupAndRestore left no state"
    epochs_before = len(history.read_text().splitlines()) - 1
    assert 3 <= epochs_before < 40
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr[-2000:]
    epochs = [int(line.split(",")[0]) for line in history.read_text().splitlines()[1:]]
    assert epochs[-1] == 39
    # The resumed run starts at most one epoch before the kill point (the one in flight).
    assert epochs.index(39) == len(epochs) - 1 and len(epochs) <= 41
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_run"] == 40


def test_batchnorm_momentum_adapts_to_short_runs():
    import keras

    from pipelines.train import adapt_batchnorm_momentum

    def model():
        return keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(momentum=0.999)])

    short = model()
    assert adapt_batchnorm_momentum(short, "auto", total_steps=200) == 0.9
    assert short.layers[0].momentum == 0.9
    medium = model()  # the average spans ~1 % of the run
    assert adapt_batchnorm_momentum(medium, "auto", total_steps=10_000) == pytest.approx(0.99)
    long = model()
    assert adapt_batchnorm_momentum(long, "auto", total_steps=100_000) is None and long.layers[0].momentum == 0.999
    kept = model()
    assert adapt_batchnorm_momentum(kept, "keep", 10) is None and kept.layers[0].momentum == 0.999
    assert adapt_batchnorm_momentum(model(), 0.8, 10) == 0.8
