"""Quality evidence for semantic segmentation: a reduced U-Net trained on the shapes scenes on CPU.

    nice -n 10 python benchmarks/bench_segmentation.py [--epochs 24] [--n 800] [--filters 8] [--depth 3]

The U-Net is the registry's `unet` (valid 3×3 convolutions, 2×2 up-convolutions, centre-cropped
skips) at reduced width and depth, with the paper's overlap-tile mirrored border inside the model
(`tile_padding="reflect"`) so its 128×128 output covers the image. It is trained with `model.fit` on
`tasks.segmentation`'s `make_dataset` (with its flip/translate augmentation that moves the masks)
and scored once on a held-out split with the task's `evaluate` (mIoU from keras.metrics.MeanIoU).
Prints hold-out mIoU, per-class IoU, pixel accuracy and wall time, and writes
runs/bench-segmentation/{segmentation.json, segmentation_overlay.png, per_class_iou.png}.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=800, help="scenes generated (train + hold-out)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--filters", type=int, default=8, help="channels of the first level (64 in the paper)")
    parser.add_argument("--depth", type=int, default=3, help="pooling steps (4 in the paper)")
    parser.add_argument("--no-batch-norm", action="store_true", help="the paper's network has none")
    parser.add_argument("--augment", default="light", help="tasks.segmentation preset or 'none'")
    parser.add_argument("--jit", action="store_true", help="compile the training step with XLA")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-segmentation")
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from architectures import create_model
    from common.io import write_text_atomic
    from pipelines.datasets import load_dataset
    from pipelines.splits import holdout_split
    from tasks import get_task

    keras.utils.set_random_seed(args.seed)
    task = get_task("segmentation")
    started = time.perf_counter()
    dataset = load_dataset("shapes_masks", seed=args.seed, n=args.n)
    train_idx, test_idx = holdout_split(len(dataset), args.test_fraction, args.seed, None)
    train, test = dataset.subset(train_idx), dataset.subset(test_idx)
    data_seconds = time.perf_counter() - started

    model = create_model(
        "unet",
        input_shape=dataset.input_shape,
        num_classes=dataset.num_classes,
        filters=args.filters,
        depth=args.depth,
        tile_padding="reflect",
        dropout=0.0,
        batch_norm=not args.no_batch_norm,
        preprocessing={"scale": 1.0 / 255.0},
    )
    steps = args.epochs * -(-len(train) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, steps)
    task.compile(model, keras.optimizers.Adam(schedule), jit_compile=args.jit)
    augment = task.build_augmentation(args.augment, train, args.seed)
    train_ds = task.make_dataset(train.x, task.fit_targets(model, train.y), args.batch_size, shuffle=True, augment=augment, seed=args.seed)

    print(
        f"unet filters={args.filters} depth={args.depth} params={model.count_params():,} "
        f"train={len(train)} test={len(test)} epochs={args.epochs} (data {data_seconds:.1f} s)",
        flush=True,
    )
    fit_started, fit_cpu_started = time.perf_counter(), time.process_time()
    history = model.fit(train_ds, epochs=args.epochs, verbose=0, shuffle=False, callbacks=[_EpochLine()])
    train_seconds, train_cpu_seconds = time.perf_counter() - fit_started, time.process_time() - fit_cpu_started

    report = task.evaluate(model, test.x, test.y, dataset.class_names)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    task.plots(out, model, test.x, test.y, report, dataset.class_names)
    total_seconds = time.perf_counter() - started
    summary = {
        "model": "unet",
        "config": {k: getattr(args, k) for k in ("n", "epochs", "batch_size", "learning_rate", "filters", "depth", "augment", "jit", "seed")},
        "params": int(model.count_params()),
        "holdout_miou": report["miou"],
        "per_class_iou": report["per_class_iou"],
        "pixel_accuracy": report["pixel_accuracy"],
        "final_train_loss": float(history.history["loss"][-1]),
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(train_cpu_seconds, 1),  # all threads: the load-independent cost
        "total_seconds": round(total_seconds, 1),
        "cpu_count": os.cpu_count(),
    }
    write_text_atomic(out / "segmentation.json", json.dumps(summary, indent=2))
    per_class = ", ".join(f"{name} {value:.3f}" for name, value in report["per_class_iou"].items() if value is not None)
    print(f"hold-out mIoU {report['miou']:.4f} | pixel accuracy {report['pixel_accuracy']:.4f} | {per_class}")
    print(
        f"train {train_seconds:.1f} s wall ({train_cpu_seconds:.1f} CPU s), total {total_seconds:.1f} s; "
        f"overlay: {out / 'segmentation_overlay.png'}"
    )
    return summary


class _EpochLine:
    """Prints one line per epoch (a keras Callback built lazily so --help does not import Keras)."""

    def __new__(cls):
        import keras

        class EpochLine(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                print(
                    f"  epoch {epoch + 1}: loss {logs.get('loss', float('nan')):.4f} miou {logs.get('miou', float('nan')):.4f} "
                    f"({time.perf_counter() - self.started:.0f} s)",
                    flush=True,
                )

        return EpochLine()


if __name__ == "__main__":
    main()
