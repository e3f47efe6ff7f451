"""Two-stage detection quality: the tiny Fast / Faster R-CNN trained on the shapes scenes on this CPU.

    python benchmarks/bench_two_stage.py [--models faster_rcnn,fast_rcnn] [--n 800] [--epochs 12] [--minutes M] [--out runs/bench-two-stage]

Goes through the task's methods in the order training uses them (load → hold-out split → tiny
`create_model` at the scenes' size with train-split statistics → `compile` → `make_dataset(
fit_inputs(x), fit_targets(y))` (Selective Search proposals for fast_rcnn) → `fit` for `--epochs`
epochs with a warm-up and a cosine learning rate over them (an epoch budget, independent of the
machine's load; `--epochs faster_rcnn=20,fast_rcnn=12` per model; `--minutes M` instead stops at M
minutes of wall clock, the older load-dependent budget) (R-CNN: then its SVMs and box regressors, the task's callback) → `evaluate` (endpoint with decoding + NMS, COCO evaluation by
faster-coco-eval) → `plots`). Prints hold-out mAP@0.5 and mAP@[.5:.95] per model; writes
detections.png per model and two_stage.json under --out. The project's goal: mAP@0.5 ≥ 0.5 for
fast_rcnn and faster_rcnn.

The tiny configs are built for the sweep's 32-px scenes; on the 128-px scenes the anchors are scaled
with the image and the proposal count set (SCENE_OVERRIDES, printed and saved with the numbers).
"""

import argparse
import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Per-model overrides of the tiny config for 128-px scenes (the sweep's tiny config is 32 px).
# The tiny configs are sized for the sweep's 32-px scenes; on the 128-px scenes the anchors are
# scaled with the image (16–64 px sides; the objects are 15–55 px) and Fast R-CNN gets 48 proposals.
# Faster R-CNN's bench config: the proposal layer keeps 64 of the 1000 best anchors (the tiny 32 of
# 128 left objects without a proposal), the head samples 64 RoIs per image, and the backbone is
# wider with a second conv at stride 4 (receptive field 34 px instead of 18 px for 15–55 px
# objects: the tiny one's head class loss stalled at 0.67 in 10 epochs).
# The decoder's score threshold goes back to the papers' 0.05 (the tiny configs' 0.3 keeps an
# untrained sweep model silent).
SCENE_OVERRIDES = {
    "faster_rcnn": dict(anchor_scales=[4.0, 8.0, 16.0], score_threshold=0.05, pre_nms_topk=1000, num_proposals=64, head_batch=64,
                        backbone_blocks=[[1, 16], [1, 32], [2, 32]], rpn_channels=32, fc_units=[64, 64]),
    "fast_rcnn": dict(num_proposals=48, score_threshold=0.05, backbone_blocks=[[1, 16], [1, 32], [2, 32]], fc_units=[64, 64], head_batch=64),
    "rcnn": dict(num_proposals=48),
}


def _budget_callback(seconds, peak, warmup=0.05):
    from pipelines.optim import TimeBudgetCosine

    return TimeBudgetCosine(seconds, peak, warmup)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="faster_rcnn,fast_rcnn")
    parser.add_argument("--n", type=int, default=800, help="scenes generated (80 %% train, 20 %% hold-out)")
    parser.add_argument("--epochs", default="12", help="epoch budget (cosine over it): N for every model, or name=N,... pairs (others 12)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget per model instead of --epochs (load-dependent)")
    parser.add_argument("--augment", default="light", help="detection augmentation preset or 'none' (fast_rcnn, rcnn: none, the proposals would not move)")
    parser.add_argument("--set", action="append", metavar="MODEL.KEY=JSON", help="a bench config: override a tiny-config key (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-two-stage")
    args = parser.parse_args()

    import keras

    import architectures
    from common.io import write_json_atomic
    from pipelines.datasets import load_dataset
    from pipelines.splits import holdout_split
    from pipelines.train import normalization_statistics
    from tasks import get_task
    from tasks.base import take
    from tasks.two_stage import proposal_recall

    from bench_detection import config_overrides, epoch_cosine, epochs_for  # this script's folder is on sys.path

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for name in names:
        architectures.get_spec(name)  # unknown names fail here, with close matches
    dataset = load_dataset("shapes_scenes", seed=args.seed, n=args.n)
    train_idx, test_idx = holdout_split(len(dataset), 0.2, args.seed, None)
    x_train, y_train = dataset.x[train_idx], take(dataset.y, train_idx)
    x_test, y_test = dataset.x[test_idx], take(dataset.y, test_idx)
    mean, std = normalization_statistics(x_train)
    out = Path(args.out)
    summary_path = out / "two_stage.json"
    results = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    print(f"shapes_scenes: {len(train_idx)} train / {len(test_idx)} hold-out scenes, {len(dataset.class_names)} classes", flush=True)
    for name in names:
        spec = architectures.get_spec(name)
        task = get_task(spec.task)
        keras.utils.set_random_seed(args.seed)
        started = time.perf_counter()
        overrides = {**SCENE_OVERRIDES.get(name, {}), **config_overrides(args.set, name)}
        model = architectures.create_model(
            name, config="tiny", input_shape=list(dataset.input_shape), num_classes=len(dataset.class_names),
            preprocessing={"mean": mean, "std": std}, **overrides,
        )
        task.compile(model, keras.optimizers.Adam(args.learning_rate, clipnorm=10.0), jit_compile=False)
        inputs = task.fit_inputs(model, x_train, y_train)
        proposal_seconds = time.perf_counter() - started
        # Geometric augmentation moves boxes with the image (faster_rcnn); with external proposals the
        # task turns it off (they would not move).
        augment = task.build_augmentation(args.augment, dataset, args.seed)
        data = task.make_dataset(inputs, task.fit_targets(model, y_train), args.batch_size, shuffle=True, augment=augment, seed=args.seed)
        if args.minutes:
            epochs, budget, schedule = 10_000, f"{args.minutes:g} min budget", _budget_callback(args.minutes * 60, args.learning_rate)
        else:
            epochs = epochs_for(args.epochs, name, default=12)
            budget = f"{epochs} epochs, cosine over them"
            schedule = epoch_cosine(epochs, math.ceil(len(x_train) / args.batch_size), args.learning_rate, warmup=0.05)
        print(f"{name}: tiny config + {overrides}: {model.count_params():,} params, inputs ready in {proposal_seconds:.0f}s, {budget}", flush=True)
        history = model.fit(data, epochs=epochs, shuffle=False, verbose=0, callbacks=[schedule, *task.callbacks(out / name, model)])
        train_seconds = time.perf_counter() - started
        report = task.evaluate(model, x_test, y_test, dataset.class_names)
        recall = proposal_recall(model, x_test, y_test) if model.proposal_source == "rpn" else None
        task.plots(out / name, model, x_test, y_test, report, dataset.class_names)
        results[name] = {
            "params": int(model.count_params()),
            "epochs_run": len(history.history["loss"]),
            "final_loss": float(history.history["loss"][-1]),
            "map50": round(report["map50"], 4),
            "map": round(report["map"], 4),
            "map75": round(report["map75"], 4),
            "ap50_per_class": {k: round(v, 4) for k, v in report["ap50_per_class"].items()},
            "train_seconds": round(train_seconds, 1),
            "proposal_recall50": None if recall is None else round(recall["recall"], 4),
            "overrides": overrides,
            "settings": {**{k: v for k, v in vars(args).items() if k not in ("models", "epochs")}, "epochs": None if args.minutes else epochs},
        }
        print(f"{name}: hold-out mAP@0.5 {report['map50']:.3f}  mAP@[.5:.95] {report['map']:.3f}  "
              f"({results[name]['epochs_run']} epochs, {train_seconds:.0f}s)"
              + ("" if recall is None else f"; RPN recall@0.5 of its {model.num_proposals} proposals {recall['recall']:.3f}")
              + f"; wrote {out / name}/detections.png", flush=True)
        write_json_atomic(summary_path, results)
        del model
        keras.backend.clear_session()
    print("\nmodel                      params   epochs  mAP@0.5  mAP@[.5:.95]")
    for name, row in results.items():
        print(f"{name:24s} {row['params']:>9,}  {row['epochs_run']:>6}  {row['map50']:7.3f}  {row['map']:12.3f}")
    print(f"wrote {summary_path}")


if __name__ == "__main__":
    main()
