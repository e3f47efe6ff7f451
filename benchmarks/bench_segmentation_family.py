"""Quality evidence for family E: each row's tiny config trained on the shapes scenes on CPU.

    nice -n 10 python benchmarks/bench_segmentation_family.py [--models fcn8s segnet ...] [--epochs 12] [--n 400]
        [--seconds 150]

Every model is the registry's tiny config (16 channels at most, one block per stage type) with its
input set to the 128×128 scenes of `shapes_masks` (background + 4 shape classes). It is trained
with `model.fit` on `tasks.segmentation`'s `make_dataset` (class-balanced pixel weights), at most
`--seconds` of wall time per model (training stops early at the end of an epoch past it), one
model at a time, and scored once on a held-out split with the task's `evaluate` (mIoU from
keras.metrics.MeanIoU). `fcn_heatmap` outputs the coarse heat map, scored against the centre
crop of the targets (the task's rule for smaller outputs), so its figure is not comparable.
Prints one line per model and writes runs/bench-segmentation-family/results.json.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FAMILY_ROWS = (
    "fcn_heatmap", "heatmap_direct_upsampling", "shift_and_stitch", "sliding_window_segmenter", "conv_only_segmenter",
    "encoder_decoder_segmenter", "fcn32s", "fcn16s", "fcn8s", "deconvnet", "segnet", "enet", "deeplab_v1", "sharpmask",
)


def run_one(name, train, test, class_names, args):
    import keras

    from architectures import create_model
    from tasks import get_task

    keras.utils.set_random_seed(args.seed)
    task = get_task("segmentation")
    model = create_model(name, config="tiny", input_shape=train.input_shape, num_classes=len(class_names))
    steps = args.epochs * -(-len(train) // args.batch_size)
    task.compile(model, keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(args.learning_rate, steps)))
    train_ds = task.make_dataset(train.x, task.fit_targets(model, train.y), args.batch_size, shuffle=True, seed=args.seed)
    deadline = time.perf_counter() + args.seconds

    class TimeLimit(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.epochs = epoch + 1
            if time.perf_counter() > deadline:
                self.model.stop_training = True

    limit = TimeLimit()
    started = time.perf_counter()
    history = model.fit(train_ds, epochs=args.epochs, verbose=0, callbacks=[limit])
    seconds = time.perf_counter() - started
    report = task.evaluate(model, test.x, test.y, class_names)
    return {
        "model": name,
        "params": int(model.count_params()),
        "epochs": int(getattr(limit, "epochs", 0)),
        "train_seconds": round(seconds, 1),
        "final_train_loss": float(history.history["loss"][-1]),
        "holdout_miou": report["miou"],
        "pixel_accuracy": report["pixel_accuracy"],
        "per_class_iou": report["per_class_iou"],
        "output_size": list(model.output_shape[1:3]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(FAMILY_ROWS))
    parser.add_argument("--n", type=int, default=400, help="scenes generated (train + hold-out)")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=150.0, help="wall-time budget per model (checked per epoch)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-segmentation-family")
    args = parser.parse_args(argv)

    from common.io import write_text_atomic
    from pipelines.datasets import load_dataset
    from pipelines.splits import holdout_split

    dataset = load_dataset("shapes_masks", seed=args.seed, n=args.n)
    train_idx, test_idx = holdout_split(len(dataset), args.test_fraction, args.seed, None)
    train, test = dataset.subset(train_idx), dataset.subset(test_idx)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for name in args.models:
        row = run_one(name, train, test, dataset.class_names, args)
        results[name] = {**row, "config": {k: getattr(args, k) for k in ("n", "epochs", "seconds", "batch_size", "learning_rate", "seed")}}
        write_text_atomic(path, json.dumps(results, indent=2))
        print(
            f"{name:28s} params {row['params']:>6,}  epochs {row['epochs']:>2}  {row['train_seconds']:6.1f} s  "
            f"hold-out mIoU {row['holdout_miou']:.3f}  pixel acc {row['pixel_accuracy']:.3f}  output {row['output_size']}",
            flush=True,
        )
    return results


if __name__ == "__main__":
    main()
