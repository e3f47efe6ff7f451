"""The search's summary: a table (Markdown and JSON) and PNG plots.

    summary.md / summary.json   every trial: mean ± std of the objective across folds, every fold's
                                value, its hyperparameters; the best configuration; the final
                                hold-out test metrics; the nested-CV estimate when asked
    trials.png                  trial scores over time, with the best so far
    folds.png                   per-fold spread of the best trials
    hyperparameters.png         the score against each searched hyperparameter
"""

import json
import math
from pathlib import Path

import numpy as np

from common.io import atomic_path, write_json_atomic, write_text_atomic


def collect_trials(project_dir, oracle):
    """One row per oracle trial, joined with its `cv.json` (fold scores, timings)."""
    rows = []
    for trial_id, trial in sorted(oracle.trials.items()):
        cv = _read_json(Path(project_dir) / f"trial_{trial_id}" / "cv.json") or {}
        values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
        if cv.get("values") is not None:
            values = cv["values"]
        folds = cv.get("folds", [])
        objective = cv.get("objective")
        status = str(trial.status)
        score = trial.score if status == "COMPLETED" else None
        rows.append(
            {
                "trial_id": trial_id,
                "status": status,
                "score": _finite(score if score is not None else cv.get("score") if status == "COMPLETED" else None),
                "std": _finite(cv.get("std")),
                "fold_scores": [_finite(f["metrics"].get(objective)) for f in folds] if objective else [],
                "hyperparameters": values,
                "epochs": cv.get("epochs"),
                "initial_epoch": cv.get("initial_epoch"),
                "continued_from": cv.get("continued_from"),
                "mean_metrics": cv.get("mean", {}),
                "fit_seconds": round(sum(f.get("fit_seconds") or 0.0 for f in folds if not f.get("reused")), 3),
                "started_at": cv.get("started_at"),
                "finished_at": cv.get("finished_at"),
                "tuner_id": cv.get("tuner_id"),
                "message": (trial.message or "").strip().splitlines()[-1] if trial.message else None,
            }
        )
    return rows


def rank(rows, direction):
    done = [r for r in rows if r["score"] is not None]
    done.sort(key=lambda r: r["score"], reverse=direction == "max")
    return done + [r for r in rows if r["score"] is None]


def searched_names(rows):
    """Hyperparameters that took more than one value across the trials."""
    names = []
    for row in rows:
        for name in row["hyperparameters"]:
            if name not in names:
                names.append(name)
    return [n for n in names if len({json.dumps(r["hyperparameters"].get(n)) for r in rows if n in r["hyperparameters"]}) > 1]


def _fmt(value, digits=4):
    if value is None:
        return "—"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) < 1e-3 or abs(value) >= 1e4:
            return f"{value:.2g}"
        return f"{value:.{digits}g}"
    return str(value)


def markdown(summary):
    settings, objective = summary["settings"], summary["objective"]
    rows = summary["trials"]
    names = searched_names(rows) or sorted({n for r in rows for n in r["hyperparameters"]})
    order = list(summary.get("space") or {})
    names.sort(key=lambda n: order.index(n) if n in order else len(order))
    lines = [
        f"# Tuning {settings['model']} on {settings['data']}",
        "",
        f"- tuner: **{settings['tuner']}**, validation: **{summary['plan']}**",
        f"- objective: **{objective}** ({summary['direction']}), mean across folds; ± is the standard deviation across folds",
        f"- trials: {sum(1 for r in rows if r['status'] == 'COMPLETED')} completed, {sum(1 for r in rows if r['status'] != 'COMPLETED')} other; "
        f"{summary['timing'].get('trial_seconds_all_trials', 0.0):.0f} s in trials (this session's search: {summary['timing']['search_seconds']:.0f} s)",
        "",
        "| rank | trial | " + f"{objective} (mean ± std) | folds | " + " | ".join(names) + " | epochs |",
        "|---:|---|---|---|" + "---|" * len(names) + "---:|",
    ]
    for position, row in enumerate(rows, 1):
        if row["score"] is None:
            score = row["status"].lower()
        else:
            score = f"{row['score']:.4f} ± {row['std']:.4f}" if row["std"] is not None else f"{row['score']:.4f}"
        folds = [s for s in row["fold_scores"] if s is not None]
        if len(folds) > 10:
            fold_text = f"{len(folds)} folds, {min(folds):.3f}–{max(folds):.3f}"
        else:
            fold_text = " ".join(f"{s:.3f}" for s in folds) or "—"
        hps = " | ".join(_fmt(row["hyperparameters"].get(n)) for n in names)
        epochs = row["epochs"] if row.get("initial_epoch") in (None, 0) else f"{row['initial_epoch']}→{row['epochs']}"
        lines.append(f"| {position} | {row['trial_id']} | {score} | {fold_text} | {hps} | {epochs or '—'} |")
    best = summary.get("best")
    if best:
        lines += ["", "## Best configuration", "", f"trial {best['trial_id']}: {objective} = {best['score']:.4f} ± {best['std']:.4f}", ""]
        lines += ["```json", json.dumps(best["hyperparameters"], indent=2, default=str), "```"]
    final = summary.get("final")
    if final:
        shown = {k: v for k, v in final["test_metrics"].items() if isinstance(v, float) and k != "train_seconds"}
        lines += [
            "",
            "## Retrained on the whole training split, evaluated once on the held-out test split",
            "",
            f"run directory: `{final['run_dir']}` ({final['epochs']} epochs, {final['train_examples']:,} training / {final['test_examples']:,} test examples)",
            "",
            "| " + " | ".join(shown) + " |",
            "|" + "---|" * len(shown),
            "| " + " | ".join(_fmt(v) for v in shown.values()) + " |",
        ]
    nested = summary.get("nested")
    if nested:
        lines += [
            "",
            f"## Nested cross-validation ({nested['outer_folds']} outer folds)",
            "",
            f"estimate of the whole procedure (search + retrain): **{nested['metric']} = {nested['mean']:.4f} ± {nested['std']:.4f}**",
            "",
            "| outer fold | inner best (" + objective + ") | outer " + nested["metric"] + " | best hyperparameters |",
            "|---:|---|---|---|",
        ]
        for fold in nested["folds"]:
            hps = ", ".join(f"{k}={_fmt(v)}" for k, v in fold["hyperparameters"].items())
            lines.append(f"| {fold['outer_fold']} | {fold['inner_score']:.4f} | {fold['outer_score']:.4f} | {hps} |")
    lines += ["", "Plots: `trials.png` (scores over time), `folds.png` (per-fold spread of the best trials), `hyperparameters.png`.", ""]
    return "\n".join(lines)


def write_summary(out_dir, summary):
    out_dir = Path(out_dir)
    write_json_atomic(out_dir / "summary.json", summary)
    write_text_atomic(out_dir / "summary.md", markdown(summary))
    return out_dir / "summary.md"


# --- plots ------------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path):
    plt = _pyplot()
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return path


def plot_trials(rows, objective, direction, path):
    plt = _pyplot()
    done = [r for r in rows if r["score"] is not None and r.get("finished_at")]
    figure, axis = plt.subplots(figsize=(6.4, 3.8))
    if done:
        done = sorted(done, key=lambda r: r["finished_at"])
        start = min(r["started_at"] or r["finished_at"] for r in done)
        times = [r["finished_at"] - start for r in done]
        scores = [r["score"] for r in done]
        errors = [r["std"] or 0.0 for r in done]
        axis.errorbar(times, scores, yerr=errors, fmt="o", alpha=0.75, capsize=3, label="trial (mean ± std over folds)")
        best = np.maximum.accumulate(scores) if direction == "max" else np.minimum.accumulate(scores)
        axis.step(times, best, where="post", color="tab:red", label="best so far")
        axis.legend(loc="best", fontsize=8)
    axis.set_xlabel("seconds since the first trial started")
    axis.set_ylabel(objective)
    axis.set_title("trial scores over time")
    axis.grid(alpha=0.3)
    return _save(figure, path)


def plot_folds(rows, objective, direction, path, top=10):
    plt = _pyplot()
    best = [r for r in rank(rows, direction) if r["score"] is not None][:top]
    figure, axis = plt.subplots(figsize=(max(4.8, 0.7 * len(best) + 2), 3.8))
    if best:
        data = [[s for s in r["fold_scores"] if s is not None] for r in best]
        axis.boxplot(data, showfliers=False)
        for position, values in enumerate(data, 1):
            jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
            axis.scatter(position + np.asarray(jitter), values, s=14, alpha=0.8, zorder=3)
        axis.set_xticks(range(1, len(best) + 1))
        axis.set_xticklabels([r["trial_id"] for r in best], rotation=45 if len(best) > 6 else 0)
    axis.set_xlabel("trial (best first)")
    axis.set_ylabel(f"{objective} per fold")
    axis.set_title("per-fold spread of the best trials")
    axis.grid(alpha=0.3, axis="y")
    return _save(figure, path)


def plot_hyperparameters(rows, objective, path):
    plt = _pyplot()
    done = [r for r in rows if r["score"] is not None]
    names = searched_names(done) or sorted({n for r in done for n in r["hyperparameters"]})[:1]
    columns = min(3, max(1, len(names)))
    lines = max(1, math.ceil(len(names) / columns))
    figure, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.2 * lines), squeeze=False)
    for axis in axes.flat[len(names) :]:
        axis.set_visible(False)
    for axis, name in zip(axes.flat, names):
        points = [(r["hyperparameters"][name], r["score"]) for r in done if name in r["hyperparameters"]]
        values = [p[0] for p in points]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric and len(set(values)) > 1:
            axis.scatter(values, [p[1] for p in points], alpha=0.8)
            positive = [v for v in values if v > 0]
            if len(positive) == len(values) and max(values) / min(values) >= 50:
                axis.set_xscale("log")
        else:
            categories = sorted({json.dumps(v) for v in values})
            for position, category in enumerate(categories):
                scores = [p[1] for p in points if json.dumps(p[0]) == category]
                axis.scatter(np.full(len(scores), position) + np.linspace(-0.08, 0.08, len(scores)), scores, alpha=0.8)
            axis.set_xticks(range(len(categories)))
            axis.set_xticklabels([json.loads(c) if isinstance(json.loads(c), str) else c for c in categories])
        axis.set_title(name)
        axis.set_ylabel(objective)
        axis.grid(alpha=0.3)
    figure.suptitle("score against each hyperparameter")
    figure.tight_layout()
    return _save(figure, path)


def write_plots(out_dir, rows, objective, direction):
    out_dir = Path(out_dir)
    return [
        plot_trials(rows, objective, direction, out_dir / "trials.png"),
        plot_folds(rows, objective, direction, out_dir / "folds.png"),
        plot_hyperparameters(rows, objective, out_dir / "hyperparameters.png"),
    ]


def _finite(value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
