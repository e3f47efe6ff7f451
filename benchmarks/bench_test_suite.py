"""The test suite's time budget, measured: where the minutes of `make test` go and whether the suite
still fits 30 minutes on 2 cores once the registry holds every row of the spec.

    make test                                   # writes runs/test-report.xml (JUnit, per-test times)
    python benchmarks/bench_test_suite.py [runs/test-report.xml] [--workers 2] [--rows 186]

Prints, from the report of one run:
- the registry sweep's columns (tiny sweep, XLA column, export sweep): tests, total and mean
  worker-seconds, and the rows over the per-model budget (CONTRIBUTING.md);
- everything else by test file, largest first;
- a projection: today's non-sweep time plus, for every spec row not yet registered, the mean
  per-model cost of each column today (the XLA and export columns run once per distinct tiny
  build, so they are scaled by today's share of distinct builds), divided over the workers. Once every row is
  registered the projection is today's figure.

The figures are worker-seconds as pytest measured them (setup + call + teardown); wall time is
about their sum over the workers, plus start-up. Nothing here asserts a time: it reports.
"""

import argparse
import collections
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

SUITE_LIMIT_S = 30 * 60
# The per-model budget of CONTRIBUTING.md, in worker-seconds per test.
SWEEP_COLUMNS = {
    "test_tiny_config_sweep": ("tiny sweep (build, forward, train check, round trip)", 3.0),
    "test_xla_column": ("XLA column (train check XLA-compiled + endpoint, in a child process)", 6.0),
    "test_export_parity": ("export sweep (SavedModel, ONNX, TFLite)", 6.0),
}
PARAMETER = re.compile(r"\[(.*)\]$")


def read_report(path):
    """[(file, test function, parameter or "", seconds)] of a JUnit XML report."""
    cases = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        match = PARAMETER.search(name)
        function = name[: match.start()] if match else name
        module = case.get("classname", "").split(".")[-1]
        cases.append((module, function, match.group(1) if match else "", float(case.get("time", 0.0))))
    return cases


def summarise(cases, workers, rows):
    by_column = collections.defaultdict(list)
    other = collections.Counter()
    for module, function, parameter, seconds in cases:
        if function in SWEEP_COLUMNS:
            by_column[function].append((seconds, parameter))
        else:
            other[module] += seconds
    lines = [f"{len(cases)} tests, {sum(c[3] for c in cases) / 60:.1f} worker-minutes in all", ""]
    lines.append("| column | tests | worker-s | mean s | budget s | rows over budget (s) |")
    lines.append("|---|---|---|---|---|---|")
    sweep_total = 0.0
    models = max(len(by_column.get("test_tiny_config_sweep", [])), 1)
    projected = 0.0
    for function, (label, budget) in SWEEP_COLUMNS.items():
        timings = sorted(by_column.get(function, []), reverse=True)
        total = sum(seconds for seconds, _ in timings)
        sweep_total += total
        mean = total / len(timings) if timings else 0.0
        over = ", ".join(f"{name} {seconds:.0f}" for seconds, name in timings if seconds > budget) or "none"
        lines.append(f"| {label} | {len(timings)} | {total:.0f} | {mean:.1f} | {budget:.0f} | {over} |")
        # Distinct tiny builds per model today, carried over to the full registry.
        projected += mean * max(rows, models) * (len(timings) / models)
    non_sweep = sum(other.values())
    lines += ["", f"outside the sweep: {non_sweep:.0f} worker-s; largest files:"]
    lines += [f"  {module}: {seconds:.0f} s" for module, seconds in other.most_common(12)]
    total_now = (sweep_total + non_sweep) / workers
    total_then = (projected + non_sweep) / workers
    lines += [
        "",
        f"today: {models} models, ~{total_now / 60:.1f} min on {workers} workers (sum of test times / workers)",
        f"projected at {rows} rows with today's per-model means: ~{total_then / 60:.1f} min "
        f"({'within' if total_then <= SUITE_LIMIT_S else 'OVER'} the {SUITE_LIMIT_S // 60}-minute limit)",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", nargs="?", default="runs/test-report.xml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rows", type=int, default=186, help="registry size to project to (the spec's rows; never below today's)")
    args = parser.parse_args(argv)
    if not Path(args.report).is_file():
        parser.exit(2, f"bench_test_suite.py: error: no report at {args.report}; run `make test` first\n")
    print(summarise(read_report(args.report), args.workers, args.rows))


if __name__ == "__main__":
    sys.exit(main())
