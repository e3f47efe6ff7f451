"""A search killed with SIGKILL resumes when the same command runs again: finished trials are kept,
nothing runs twice, the interrupted trial is re-run cleanly and the search completes."""

import collections
import json
import os
import signal
import subprocess
import sys
import time

import pytest


def _fits(path):
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_sigkill_then_the_same_command_resumes_and_completes(tmp_path):
    out = tmp_path / "search-out"
    command = [
        sys.executable, "-m", "deepzoo.cli", "tune", "lenet5", "--data", "digits", "--tiny",
        "--tuner", "random", "--cv", "kfold:3", "--epochs", "1", "--max-trials", "3", "--max-examples", "120",
        "--out", str(out), "--no-retrain", "--jit", "off", "--verbose", "0",
    ]  # fmt: skip
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    fits_path = out / "search" / "fits.jsonl"
    deadline = time.monotonic() + 240
    try:
        # Kill inside the second trial: trial 0 finished (3 folds), trial 1 started.
        while len(_fits(fits_path)) < 4:
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first run made no progress"
            time.sleep(0.05)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        log.close()
    assert first.returncode == -signal.SIGKILL
    before = _fits(fits_path)
    assert 4 <= len(before) < 9  # the search was interrupted

    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]

    fits = _fits(fits_path)
    counts = collections.Counter((f["trial_id"], f["fold"]) for f in fits)
    assert max(counts.values()) == 1  # nothing was fitted twice
    assert fits[: len(before)] == before  # the first run's fits are kept, not redone
    summary = json.loads((out / "summary.json").read_text())
    trials = summary["trials"]
    assert len(trials) == 3 and all(t["status"] == "COMPLETED" for t in trials)
    for trial in trials:
        cv = json.loads((out / "search" / f"trial_{trial['trial_id']}" / "cv.json").read_text())
        assert [f["fold"] for f in cv["folds"]] == [0, 1, 2]  # complete, no fold counted twice
        for fold in cv["folds"]:
            # Each fold either ran in one of the two processes, or (narrow window) its record was
            # written just before the kill and kept.
            assert counts.get((trial["trial_id"], fold["fold"]), 0) <= 1
    assert sum(counts.values()) >= 8
    oracle = json.loads((out / "search" / "oracle.json").read_text())
    assert sorted(oracle["end_order"]) == sorted(t["trial_id"] for t in trials)  # each trial ended once
    assert not oracle["ongoing_trials"] and not oracle["retry_queue"]
