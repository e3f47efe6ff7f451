"""Quality evidence for the generative task: a DCGAN trained on the embedded digits on this CPU.

    nice -n 10 python benchmarks/bench_generative.py [--model dcgan] [--config tiny] [--epochs 30]

The run follows the trainer's order of Task calls (load_dataset -> split -> create_model with
input_shape and the task's model_overrides -> task.compile -> task.make_dataset -> fit with
task.callbacks -> task.evaluate -> task.plots), so what it measures is what `deepzoo train` does.
Split: 20 % held-out test images (stratified by digit), 10 % of the rest for the per-epoch
`val_frechet_distance` the task's callback logs; the rest trains.

Prints the Fréchet distance (features of the project's own digits CNN, `tasks.generative`) of:
the trained generator vs the held-out images; the same architecture freshly initialised (the
ceiling); the held-out images vs the training images (the floor); and the wall time. The goal is a
trained distance at most half the untrained one. Writes OUT/report.json, OUT/samples.png (real
beside generated), OUT/samples/epoch_NNNN.png (the same noise every epoch), OUT/history.csv and
OUT/model.keras (generator, discriminator and both optimisers).
"""

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--config", default="tiny", choices=("tiny", "canonical"))
    parser.add_argument("--data", default="digits")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--beta-1", type=float, default=0.5, help="Adam β1 (0.5 in the paper)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-generative")
    args = parser.parse_args()

    import keras
    import numpy as np

    import architectures
    from architectures.registry import constructor_arguments
    from common.io import atomic_path, write_json_atomic
    from pipelines.datasets import load_dataset
    from pipelines.splits import holdout_split
    from tasks import get_task
    from tasks.base import take

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = architectures.get_spec(args.model)
    task = get_task(spec.task)
    keras.utils.set_random_seed(args.seed)

    dataset = load_dataset(args.data, seed=args.seed)
    labels = task.stratify_labels(dataset.y) if task.stratify else None
    rest, test_idx = holdout_split(len(dataset), 0.2, args.seed, labels)
    inner_train, inner_val = holdout_split(len(rest), 0.1 / 0.8, args.seed + 1, labels[rest] if labels is not None else None)
    train_idx, val_idx = rest[inner_train], rest[inner_val]
    x_train, y_train = take(dataset.x, train_idx), take(dataset.y, train_idx)
    x_val, y_val = take(dataset.x, val_idx), take(dataset.y, val_idx)
    x_test, y_test = take(dataset.x, test_idx), take(dataset.y, test_idx)

    accepted = constructor_arguments(spec)
    overrides = {"input_shape": list(dataset.input_shape)} if "input_shape" in accepted else {}
    overrides.update(task.model_overrides(dataset, x_train, accepted))
    model = architectures.create_model(args.model, config=args.config, **overrides)
    task.compile(model, keras.optimizers.Adam(args.learning_rate, beta_1=args.beta_1), jit_compile=False)
    train_ds = task.make_dataset(x_train, task.fit_targets(model, y_train), args.batch_size, shuffle=True, seed=args.seed)

    started = time.perf_counter()
    callbacks = [
        *task.callbacks(out, model, x_val, y_val),  # first: later callbacks read the FD they log
        keras.callbacks.CSVLogger(str(out / "history.csv")),
        keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: print(
                f"epoch {epoch + 1:>3}/{args.epochs} " + " ".join(f"{k}={v:.3f}" for k, v in logs.items() if isinstance(v, float)),
                flush=True,
            )
        ),
    ]
    model.fit(train_ds, epochs=args.epochs, callbacks=callbacks, verbose=0, shuffle=False)
    train_seconds = time.perf_counter() - started

    with atomic_path(out / "model.keras", suffix=".keras") as tmp:
        model.save(tmp)
    report = task.evaluate(model, x_test, y_test, dataset.class_names, x_reference=x_train)
    task.plots(out, model, x_test, y_test, report, dataset.class_names)
    total_seconds = time.perf_counter() - started
    ratio = report["frechet_distance"] / report["frechet_distance_untrained"]
    summary = {
        "model": args.model,
        "config": args.config,
        "params": model.count_params(),
        "data": args.data,
        "train_images": int(len(x_train)),
        "test_images": int(len(x_test)),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "beta_1": args.beta_1,
        **report,
        "trained_over_untrained": ratio,
        "goal_met": bool(ratio <= 0.5),
        "train_seconds": train_seconds,
        "total_seconds": total_seconds,
    }
    write_json_atomic(out / "report.json", summary)
    print(f"Fréchet distance, {len(x_test)} held-out digits ({report['feature_network']}):")
    print(f"  trained generator     {report['frechet_distance']:9.2f}")
    print(f"  untrained generator   {report['frechet_distance_untrained']:9.2f}")
    print(f"  real vs real          {report['frechet_distance_real']:9.2f}  (held-out vs {report['real_reference']})")
    print(f"  trained / untrained   {ratio:9.3f}  (goal <= 0.5: {'met' if ratio <= 0.5 else 'NOT met'})")
    print(f"  {args.model} ({args.config}, {model.count_params():,} params), {args.epochs} epochs: "
          f"train {train_seconds:.0f}s, total {total_seconds:.0f}s; grids in {out}")
    print(json.dumps({k: summary[k] for k in ("frechet_distance", "frechet_distance_untrained", "frechet_distance_real")}))


if __name__ == "__main__":
    main()
