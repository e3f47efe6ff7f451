"""Detection quality: the tiny RetinaNet trained on the shapes scenes on this machine's CPU.

    python benchmarks/bench_detection.py [--n 2400] [--epochs 30] [--minutes 8] [--out runs/bench-detection]

Goes through the detection task's methods in the order training uses them (load → hold-out split →
`build_augmentation` → `create_model` with input shape, classes and train-split statistics →
`compile` → `make_dataset(x, fit_targets(y))` → `model.fit` → `evaluate` → `plots`), stopping
training when the wall-clock budget is spent. Prints hold-out COCO mAP@0.5 and mAP@[.5:.95] (from
faster-coco-eval), the training and total time, and writes detections.png and detection.json under
--out. The goal the project set: mAP@0.5 ≥ 0.6 within 10 minutes on 2 CPU cores.
"""

import argparse
import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _TimeBudget:
    """A wall-clock budget for `fit`: the learning rate follows a cosine from `peak` to zero over
    the budget (after a short linear warm-up), and training stops when the budget is spent. The
    schedule therefore anneals completely however fast the machine is."""

    def __new__(cls, seconds, peak, warmup=0.03):
        import keras

        class Budget(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.started = time.perf_counter()

            def on_train_batch_begin(self, batch, logs=None):
                fraction = min(1.0, (time.perf_counter() - self.started) / seconds)
                if fraction >= 1.0:
                    self.model.stop_training = True
                rate = peak * (fraction / warmup if fraction < warmup else 0.5 * (1 + math.cos(math.pi * (fraction - warmup) / (1 - warmup))))
                self.model.optimizer.learning_rate.assign(max(rate, 1e-3 * peak))

            def on_epoch_end(self, epoch, logs=None):
                shown = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items() if isinstance(v, float) and k != "learning_rate")
                print(f"epoch {epoch + 1}: {shown} ({time.perf_counter() - self.started:.0f}s)", flush=True)

        return Budget()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2400, help="scenes generated (80 %% train, 20 %% hold-out)")
    parser.add_argument("--epochs", type=int, default=200, help="upper bound; the time budget usually ends training first")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget (wall clock): cosine learning rate over it, then stop")
    parser.add_argument("--augment", default="light", help="detection augmentation preset or 'none'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-detection")
    args = parser.parse_args()

    started = time.perf_counter()
    import keras

    import architectures
    from common.io import write_json_atomic
    from pipelines.datasets import load_dataset
    from pipelines.splits import holdout_split
    from pipelines.train import adapt_batchnorm_momentum, normalization_statistics
    from tasks import get_task
    from tasks.base import take

    keras.utils.set_random_seed(args.seed)
    task = get_task("detection")
    dataset = load_dataset("shapes_scenes", seed=args.seed, n=args.n)
    train_idx, test_idx = holdout_split(len(dataset), 0.2, args.seed, task.stratify_labels(dataset.y))
    x_train, y_train = dataset.x[train_idx], take(dataset.y, train_idx)
    x_test, y_test = dataset.x[test_idx], take(dataset.y, test_idx)
    augment = task.build_augmentation(args.augment, dataset, args.seed)
    mean, std = normalization_statistics(x_train)
    model = architectures.create_model(
        "retinanet", config="tiny", input_shape=list(dataset.input_shape), num_classes=len(dataset.class_names),
        preprocessing={"mean": mean, "std": std},
    )
    # As pipelines.train does: BatchNorm statistics averaged over ~1 % of the run (≈ 2,000 steps here).
    adapt_batchnorm_momentum(model, "auto", 2000)
    task.compile(model, keras.optimizers.Adam(args.learning_rate, clipnorm=10.0), jit_compile=False)
    data = task.make_dataset(x_train, task.fit_targets(model, y_train), args.batch_size, shuffle=True, augment=augment, seed=args.seed)
    print(
        f"shapes_scenes: {len(train_idx)} train / {len(test_idx)} hold-out scenes, {len(dataset.class_names)} classes; "
        f"retinanet tiny {model.count_params():,} params; data ready in {time.perf_counter() - started:.1f}s",
        flush=True,
    )
    fit_started, fit_cpu = time.perf_counter(), time.process_time()
    budget = _TimeBudget(args.minutes * 60, args.learning_rate)
    history = model.fit(data, epochs=args.epochs, shuffle=False, verbose=0, callbacks=[budget])
    train_seconds, train_cpu = time.perf_counter() - fit_started, time.process_time() - fit_cpu
    eval_started = time.perf_counter()
    report = task.evaluate(model, x_test, y_test, dataset.class_names)
    eval_seconds = time.perf_counter() - eval_started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    picture = task.plots(out, model, x_test, y_test, report, dataset.class_names)
    total = time.perf_counter() - started
    result = {
        "model": "retinanet (tiny)",
        "params": int(model.count_params()),
        "train_scenes": len(train_idx),
        "holdout_scenes": len(test_idx),
        "epochs_run": len(history.history["loss"]),
        "final_loss": float(history.history["loss"][-1]),
        "map50": report["map50"],
        "map": report["map"],
        "map75": report["map75"],
        "ap50_per_class": report["ap50_per_class"],
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(train_cpu, 1),
        "total_cpu_seconds": round(time.process_time(), 1),
        "eval_seconds": round(eval_seconds, 1),
        "total_seconds": round(total, 1),
        "settings": vars(args),
    }
    write_json_atomic(out / "detection.json", result)
    print(
        f"hold-out mAP@0.5 {report['map50']:.3f}  mAP@[.5:.95] {report['map']:.3f}  mAP@0.75 {report['map75']:.3f}  "
        f"per class {json.dumps({k: round(v, 3) for k, v in report['ap50_per_class'].items()})}"
    )
    print(
        f"epochs {result['epochs_run']}, training {train_seconds:.0f}s, evaluation {eval_seconds:.1f}s, total {total:.0f}s wall; "
        f"process CPU {time.process_time():.0f}s (÷2 cores = {time.process_time() / 2:.0f}s: the wall time on 2 idle cores)"
    )
    print(f"wrote {picture} and {out / 'detection.json'}")


if __name__ == "__main__":
    main()
