"""KerasTuner's chief/worker mode over loopback: a chief and two worker processes (KERASTUNER_*
environment variables, gRPC oracle); every trial runs exactly once across the workers."""

import collections
import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_chief_and_two_workers_run_every_trial_exactly_once(tmp_path):
    out = tmp_path / "distributed"
    command = [
        sys.executable, "-m", "deepzoo.cli", "tune", "lenet5", "--data", "digits", "--tiny",
        "--tuner", "random", "--cv", "kfold:2", "--epochs", "1", "--max-trials", "4", "--max-examples", "100",
        "--workers", "2", "--timeout", "400", "--out", str(out), "--no-retrain", "--jit", "off", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=480)
    logs = "".join(path.read_text()[-1500:] for path in sorted((out / "workers").glob("*.log"))) if (out / "workers").is_dir() else ""
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:] + logs

    fits = [json.loads(line) for line in (out / "search" / "fits.jsonl").read_text().splitlines()]
    counts = collections.Counter((f["trial_id"], f["fold"]) for f in fits)
    summary = json.loads((out / "summary.json").read_text())
    trial_ids = [t["trial_id"] for t in summary["trials"]]
    assert len(trial_ids) == 4 and all(t["status"] == "COMPLETED" for t in summary["trials"])
    assert set(counts) == {(t, k) for t in trial_ids for k in range(2)}
    assert set(counts.values()) == {1}  # every fold of every trial fitted exactly once, by one worker
    by_trial = collections.defaultdict(set)
    for fit in fits:
        by_trial[fit["trial_id"]].add(fit["tuner_id"])
    assert all(len(workers) == 1 for workers in by_trial.values())  # a trial stays on one worker
    assert set().union(*by_trial.values()) == {"tuner0", "tuner1"}  # both workers took trials
    assert len({f["pid"] for f in fits}) == 2  # and they were separate processes
    assert json.loads(done.stdout)["best_trial_id"] in trial_ids
