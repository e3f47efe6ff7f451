"""Quality evidence for metric learning: verification on identities never seen in training.

    nice -n 10 python benchmarks/bench_metric_learning.py [--models siamese_contrastive,facenet_triplet]
        [--config tiny] [--epochs 15] [--out runs/bench-metric-learning]

Each model trains through `pipelines.train.train` (what `deepzoo train MODEL --tiny` does) on the
embedded synthetic identities: the split is by identity (20 % of the identities held out for the
test report, 10 % for validation, where τ is chosen on the ROC after every epoch), so the report's
identities were never seen in training. One model at a time; each run is a few minutes at most
on a 2-core CPU.

Prints per model: ROC AUC over every pair of held-out images, verification accuracy at the
validation τ on balanced pairs, TAR at FAR 1 %, rank-1 recognition (first image of each held-out
identity enrolled), recall@1, epochs and training seconds (fit, all sessions), beside two baselines on the same held-out
images: raw pixels (standardised, L2-normalised) and the same network untrained. The goal is a
ROC AUC of at least 0.95 for the Siamese and FaceNet tiny configurations. Writes OUT/report.json,
OUT/report.md and each run directory (with roc.png).
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

KEYS = ("roc_auc", "verification_accuracy", "tar_at_far_0.01", "rank1_accuracy", "recall_at_1", "threshold")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="siamese_contrastive,facenet_triplet")
    parser.add_argument("--config", default="tiny", choices=("tiny", "canonical"))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=5, help="early stopping on val_roc_auc (0: off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-metric-learning")
    args = parser.parse_args()

    import keras
    import numpy as np

    from common.io import write_json_atomic, write_text_atomic
    from pipelines.runs import Run
    from pipelines.train import train
    from tasks import get_task

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    task = get_task("metric_learning")
    report = {}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        started = time.perf_counter()
        run_dir = out / name
        if (run_dir / "model.keras").exists():  # a finished run of an earlier call: measured again, not retrained
            model, metrics = Run.load(run_dir).load_model(), Run.load(run_dir).metrics
            seconds = metrics.get("train_seconds", float("nan"))  # fit time, as for a new run
        else:
            result = train(
                name, "identities", run_dir=run_dir, progress=print, runs_root=tempfile.mkdtemp(),
                model_config=args.config, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                early_stopping_patience=args.patience or None, seed=args.seed,
            )
            model, metrics = result.model, result.metrics
            seconds = metrics.get("train_seconds", time.perf_counter() - started)
        x_test, y_test = Run.load(run_dir).arrays("test")
        pixels = np.asarray(x_test, "float32").reshape(len(x_test), -1)
        pixels = (pixels - pixels.mean(axis=0)) / (pixels.std(axis=0) + 1e-6)
        pixels /= np.linalg.norm(pixels, axis=1, keepdims=True)
        keras.utils.set_random_seed(args.seed + 1)  # initialisers without their own seed (LocallyConnected2D)
        untrained = type(model).from_config(model.get_config() | {"seed": args.seed + 1})
        report[name] = {
            "trained": {k: metrics.get(k) for k in KEYS},
            "untrained": {k: v for k, v in task.score(y_test, task.predict(untrained, x_test)).items() if k in KEYS},
            "raw_pixels": {k: v for k, v in task.score(y_test, {"embedding": pixels}).items() if k in KEYS},
            "epochs_run": metrics.get("epochs_run"),
            "seconds": round(seconds, 1),
            "held_out_identities": len(np.unique(y_test)),
            "held_out_images": len(y_test),
            "roc_png": str(run_dir / "roc.png"),
        }
        print(json.dumps({name: report[name]}, indent=2))

    lines = [
        f"| model ({args.config}) | ROC AUC | verif. acc @ τ | TAR@FAR 1 % | rank-1 | recall@1 | AUC untrained | AUC raw pixels | epochs | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in report.items():
        t = row["trained"]
        lines.append(
            f"| `{name}` | {t['roc_auc']:.4f} | {t['verification_accuracy']:.4f} | {t['tar_at_far_0.01']:.4f} | "
            f"{t['rank1_accuracy']:.4f} | {t['recall_at_1']:.4f} | {row['untrained']['roc_auc']:.4f} | "
            f"{row['raw_pixels']['roc_auc']:.4f} | {row['epochs_run']} | {row['seconds']} |"
        )
    write_json_atomic(out / "report.json", report)
    write_text_atomic(out / "report.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
