"""Instance segmentation quality: the tiny Mask R-CNN trained on the shapes scenes on this CPU.

    python benchmarks/bench_mask_rcnn.py [--n 800] [--image-size 128] [--epochs 5] [--out runs/bench-mask-rcnn]

Goes through the task's methods in the order training uses them (load → hold-out split → tiny
`create_model` at the scenes' size with train-split statistics → `compile` → `make_dataset(x,
fit_targets(y))` with the task's flip augmentation → `fit` for `--epochs` epochs with a warm-up and a
cosine learning rate over them (an epoch budget: the result does not depend on the machine's load)
→ `evaluate` (the export endpoint: proposals, RoIAlign, decoding, NMS and the mask head
in the graph; masks pasted into their boxes; COCO box and mask AP by faster-coco-eval) → `plots`).
Prints hold-out mask AP@0.5 (COCO `segm`), box AP@0.5 and the RPN's proposal recall at IoU 0.5; writes masks.png and mask_rcnn.json
under --out. The project's goal: mask AP@0.5 ≥ 0.5.

The tiny config is sized for the sweep's 32-px scenes; on the 128-px scenes it is widened
(SCENE_OVERRIDES, printed and saved with the numbers).
"""

import argparse
import math
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The tiny config widened for 128-px scenes of 15–55 px objects: anchors 4 × stride (16 px on P2
# … 256 px on P6), RoIs of 64 px read from P4 (so the objects read P2–P3), wider pyramid and heads,
# the papers' 0.05 score threshold back (the tiny 0.3 keeps an untrained sweep model silent).
SCENE_OVERRIDES = dict(
    backbone_width=0.25, pyramid_channels=32, fc_units=[64, 64], mask_depth=2, mask_channels=32, anchor_size_per_stride=4.0,
    canonical_box_size=64.0, pre_nms_topk=512, num_proposals=64, head_batch=64, rpn_batch=128, score_threshold=0.05,
    max_detections=20, pre_nms_topk_detections=200,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=800, help="scenes generated (80 %% train, 20 %% hold-out)")
    parser.add_argument("--image-size", type=int, default=128, help="scene side (64 trains about 4 × more steps per minute)")
    parser.add_argument("--epochs", type=int, default=5, help="epoch budget (warm-up, then a cosine over it)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--jit", action="store_true", help="XLA-compile the train step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-mask-rcnn")
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

    from bench_detection import epoch_cosine  # this script's folder is on sys.path

    name = "mask_rcnn"
    spec = architectures.get_spec(name)
    task = get_task(spec.task)
    dataset = load_dataset("shapes_scenes", seed=args.seed, n=args.n, image_size=args.image_size)
    train_idx, test_idx = holdout_split(len(dataset), 0.2, args.seed, None)
    x_train, y_train = dataset.x[train_idx], take(dataset.y, train_idx)
    x_test, y_test = dataset.x[test_idx], take(dataset.y, test_idx)
    mean, std = normalization_statistics(x_train)
    out = Path(args.out)
    print(f"shapes_scenes: {len(train_idx)} train / {len(test_idx)} hold-out scenes, {len(dataset.class_names)} classes", flush=True)
    keras.utils.set_random_seed(args.seed)
    started = time.perf_counter()
    model = architectures.create_model(name, config="tiny", input_shape=list(dataset.input_shape), num_classes=len(dataset.class_names),
                                       preprocessing={"mean": mean, "std": std}, **SCENE_OVERRIDES)
    task.compile(model, keras.optimizers.Adam(args.learning_rate, clipnorm=10.0), jit_compile=args.jit)
    augment = task.build_augmentation({"flip": "horizontal"}, dataset, seed=args.seed)
    data = task.make_dataset(x_train, task.fit_targets(model, y_train), args.batch_size, shuffle=True, augment=augment, seed=args.seed)
    print(f"{name}: tiny config + {SCENE_OVERRIDES}: {model.count_params():,} params, {args.epochs} epochs", flush=True)
    schedule = epoch_cosine(args.epochs, math.ceil(len(x_train) / args.batch_size), args.learning_rate, warmup=0.05)
    history = model.fit(data, epochs=args.epochs, verbose=0, callbacks=[schedule])
    train_seconds = time.perf_counter() - started
    report = task.evaluate(model, x_test, y_test, dataset.class_names)
    recall = proposal_recall(model, x_test, y_test)
    task.plots(out, model, x_test, y_test, report, dataset.class_names)
    result = {
        "params": int(model.count_params()),
        "epochs_run": len(history.history["loss"]),
        "final_loss": float(history.history["loss"][-1]),
        "final_mask_loss": float(history.history.get("mask_loss", [float("nan")])[-1]),
        "mask_map50": round(report["mask_map50"], 4),
        "mask_map": round(report["mask_map"], 4),
        "mask_map75": round(report["mask_map75"], 4),
        "box_map50": round(report["map50"], 4),
        "box_map": round(report["map"], 4),
        "proposal_recall50": round(recall["recall"], 4),
        "mask_ap50_per_class": {k: round(v, 4) for k, v in report["mask_ap50_per_class"].items()},
        "train_seconds": round(train_seconds, 1),
        "overrides": SCENE_OVERRIDES,
        "settings": vars(args),
    }
    write_json_atomic(out / "mask_rcnn.json", result)
    print(f"{name}: hold-out mask AP@0.5 {report['mask_map50']:.3f}  mask AP@[.5:.95] {report['mask_map']:.3f}  "
          f"box AP@0.5 {report['map50']:.3f}  box AP@[.5:.95] {report['map']:.3f}  RPN recall@0.5 {recall['recall']:.3f}  "
          f"({result['epochs_run']} epochs, {train_seconds:.0f}s)")
    print(f"per-class mask AP@0.5: {result['mask_ap50_per_class']}")
    print(f"wrote {out / 'mask_rcnn.json'} and {out / 'masks.png'}")


if __name__ == "__main__":
    main()
