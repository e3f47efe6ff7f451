"""Detection quality and speed: every registered detector's tiny config on the shapes scenes, and our
RetinaNet against KerasHub's.

    python benchmarks/bench_detection.py [--models yolo_v1,ssd] [--epochs 40] [--minutes M] [--n 1600]
                                         [--out runs/bench-detection]
    python benchmarks/bench_detection.py --speed [--speed-size 256] [--speed-batch 4] [--speed-steps 5]

Quality (default): for each model of family `detection` (every registered one, so the two-stage rows
appear once registered; `--models` picks some), goes through the detection task's methods in the
order training uses them (load → hold-out split → `build_augmentation` → `create_model` with input
shape, classes and train-split statistics → `compile` → `make_dataset(x, fit_targets(y))` →
`model.fit` → `evaluate` → `plots`) for `--epochs` epochs with a linear warm-up and a cosine learning
rate over those epochs (an epoch budget: the result does not depend on the machine's load; per-model
epoch counts with `--epochs yolo_v1=60,ssd=40`). `--minutes M` instead stops at M minutes of wall clock
with the cosine over that time (the older, load-dependent budget). Prints hold-out COCO mAP@0.5
and mAP@[.5:.95] (faster-coco-eval) per model and a summary table; writes detections.png (predicted
vs true boxes on held-out images) and pr_curves.png (precision–recall per class) under
--out/<model>/, and --out/detection.json. The project's goal: mAP@0.5 ≥ 0.5 for yolo_v1, yolo_v2,
ssd, retinanet (and the two-stage fast_rcnn, faster_rcnn).

Speed (--speed): our `retinanet` and KerasHub's `RetinaNetObjectDetector` with the same ResNet-50
backbone layout, FPN P3–P7, 9 anchors, the same image size and classes, side by side in one process:
training-step throughput (images/s, after warm-up) and predict-with-NMS throughput, as ratios
ours / KerasHub's; then our exported ONNX endpoint (decoding + NMS inside) against keras `predict`
at batch 1. keras-hub is a benchmark extra: it is imported here only.
"""

import argparse
import json
import math
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def epoch_cosine(epochs, steps_per_epoch, peak, warmup=0.03, report_every=1):
    """A callback: linear warm-up over the first `warmup` of `epochs` × `steps_per_epoch` steps, then a
    cosine from `peak` to 1e-3 · peak at the last step (the schedule of TimeBudgetCosine, over steps
    instead of seconds); prints the epoch's losses every `report_every` epochs."""
    import math

    import keras

    total = max(1, int(epochs) * int(steps_per_epoch))

    class EpochBudgetCosine(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.step, self.started = 0, time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            fraction = min(1.0, self.step / total)
            rate = peak * (fraction / warmup if fraction < warmup else 0.5 * (1 + math.cos(math.pi * (fraction - warmup) / (1 - warmup))))
            self.model.optimizer.learning_rate.assign(max(rate, 1e-3 * peak))
            self.step += 1

        def on_epoch_end(self, epoch, logs=None):
            if (epoch + 1) % report_every == 0 or epoch + 1 == epochs:
                shown = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items() if isinstance(v, float) and k != "learning_rate")
                print(f"  epoch {epoch + 1}/{epochs}: {shown} ({time.perf_counter() - self.started:.0f}s)", flush=True)

    return EpochBudgetCosine()


def epochs_for(spec, name, default=40):
    """`--epochs` is a number for every model or `name=epochs,...` pairs (others get `default`)."""
    text = str(spec).strip()
    if "=" not in text:
        return int(text)
    pairs = dict(item.split("=") for item in text.split(",") if item.strip())
    return int(pairs.get(name, default))


def config_overrides(settings, name):
    """`--set model.key=value` (value as JSON) → {key: value} for `name`: a declared bench config,
    printed and saved with the numbers; the registered tiny config itself is unchanged."""
    out = {}
    for item in settings or ():
        target, _, assignment = item.partition(".")
        key, _, value = assignment.partition("=")
        if not key or not _:
            raise SystemExit(f"--set takes model.key=value. Received: {item!r}")
        if target == name:
            out[key] = json.loads(value)
    return out


def one_per_cell_recall_bound(boxes, classes, grid_shape, image_size):
    """The recall a detector that finds at most one object per grid cell (YOLO v1: one class
    distribution per cell, the loss trains the first box of a cell) can reach: the share of objects
    that are alone in their centre's cell, or the first of them."""
    import numpy as np

    rows, columns = grid_shape
    found = total = 0
    for image_boxes, image_classes in zip(np.asarray(boxes), np.asarray(classes)):
        kept = image_boxes[image_classes >= 0]
        column = np.clip(((kept[:, 0] + kept[:, 2]) / 2 / image_size[1] * columns).astype(int), 0, columns - 1)
        row = np.clip(((kept[:, 1] + kept[:, 3]) / 2 / image_size[0] * rows).astype(int), 0, rows - 1)
        found += len(np.unique(row * columns + column))
        total += len(kept)
    return found / max(total, 1)


def quality(args):
    import keras

    import architectures
    from common.io import write_json_atomic
    from pipelines.datasets import load_dataset
    from pipelines.splits import holdout_split
    from pipelines.train import adapt_batchnorm_momentum, normalization_statistics
    from pipelines.optim import TimeBudgetCosine
    from tasks import get_task
    from tasks.base import take

    registered = architectures.list_models(family="detection")
    names = [n.strip() for n in args.models.split(",")] if args.models else registered
    unknown = [n for n in names if n not in registered]
    if unknown:
        raise SystemExit(f"Unknown detection model(s) {unknown}. Expected some of: {', '.join(registered)}")
    task = get_task("detection")
    dataset = load_dataset("shapes_scenes", seed=args.seed, n=args.n)
    train_idx, test_idx = holdout_split(len(dataset), 0.2, args.seed, task.stratify_labels(dataset.y))
    x_train, y_train = dataset.x[train_idx], take(dataset.y, train_idx)
    x_test, y_test = dataset.x[test_idx], take(dataset.y, test_idx)
    if str(args.augment).lstrip().startswith("{"):  # a dict of augmentation keys, as JSON
        args.augment = json.loads(args.augment)
    augment = task.build_augmentation(args.augment, dataset, args.seed)
    mean, std = normalization_statistics(x_train)
    out = Path(args.out)
    summary_path = out / "detection.json"
    # Earlier runs' rows are kept (one model per run is fine); anything else in the file is dropped.
    previous = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    results = {k: v for k, v in previous.items() if isinstance(v, dict) and "map50" in v}
    print(f"shapes_scenes: {len(train_idx)} train / {len(test_idx)} hold-out scenes, {len(dataset.class_names)} classes", flush=True)
    for name in names:
        keras.utils.set_random_seed(args.seed)
        started = time.perf_counter()
        # Each row's own task (the two-stage detectors have theirs); every one scores with COCO mAP.
        task = get_task(architectures.get_spec(name).task)
        augment = task.build_augmentation(args.augment, dataset, args.seed)
        overrides = config_overrides(args.set, name)
        model = architectures.create_model(
            name, config="tiny", input_shape=list(dataset.input_shape), num_classes=len(dataset.class_names),
            preprocessing={"mean": mean, "std": std}, **overrides,
        )
        adapt_batchnorm_momentum(model, "auto", 2000)
        # XLA-compiled training steps where the row compiles (registry limitation "xla" otherwise).
        jit = bool(args.jit) and "xla" not in (architectures.get_spec(name).limitations or {})
        task.compile(model, keras.optimizers.Adam(args.learning_rate, clipnorm=10.0), jit_compile=jit)
        data = task.make_dataset(x_train, task.fit_targets(model, y_train), args.batch_size, shuffle=True, augment=augment, seed=args.seed)
        if args.minutes:
            epochs, budget = 10_000, f"{args.minutes:g} min wall-clock budget"
            schedule = TimeBudgetCosine(args.minutes * 60, args.learning_rate, warmup=0.03, report_every=5)
        else:
            epochs = epochs_for(args.epochs, name)
            budget = f"{epochs} epochs, cosine over them"
            schedule = epoch_cosine(epochs, math.ceil(len(x_train) / args.batch_size), args.learning_rate)
        print(f"{name}: tiny config{f' + {overrides}' if overrides else ''} {model.count_params():,} params, {budget}", flush=True)
        settings = getattr(model, "loss_settings", {})
        bound = None
        if "boxes_per_cell" in settings:  # one class distribution per cell: at most one object per cell found
            bound = one_per_cell_recall_bound(y_test["boxes"], y_test["classes"], settings["grid_shape"], dataset.input_shape[:2])
            print(f"{name}: {settings['grid_shape'][0]}×{settings['grid_shape'][1]} grid, one object per cell: hold-out recall ≤ {bound:.3f}", flush=True)
        history = model.fit(data, epochs=epochs, shuffle=False, verbose=0, callbacks=[schedule])
        train_seconds = time.perf_counter() - started
        report = task.evaluate(model, x_test, y_test, dataset.class_names)
        fit_report = None
        if args.train_map:  # overfitting diagnostic only: mAP on as many training scenes as the hold-out has
            count = len(x_test)
            fit_report = task.evaluate(model, x_train[:count], take(y_train, slice(0, count)), dataset.class_names)
            print(f"{name}: mAP@0.5 on {count} training scenes {fit_report['map50']:.3f} (hold-out {report['map50']:.3f})", flush=True)
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
            "overrides": overrides,
            **({"train_map50": round(fit_report["map50"], 4)} if fit_report else {}),
            **({"one_per_cell_recall_bound": round(bound, 4)} if bound is not None else {}),
            "settings": {**{k: v for k, v in vars(args).items() if k not in ("models", "epochs")},
                         "epochs": None if args.minutes else epochs},
        }
        print(
            f"{name}: hold-out mAP@0.5 {report['map50']:.3f}  mAP@[.5:.95] {report['map']:.3f}  "
            f"({results[name]['epochs_run']} epochs, {train_seconds:.0f}s); wrote {out / name}/detections.png, pr_curves.png",
            flush=True,
        )
        write_json_atomic(summary_path, results)
        del model
        keras.backend.clear_session()
    print("\nmodel                      params   epochs  mAP@0.5  mAP@[.5:.95]")
    for name, row in results.items():
        print(f"{name:24s} {row['params']:>9,}  {row['epochs_run']:>6}  {row['map50']:7.3f}  {row['map']:12.3f}")
    print(f"wrote {summary_path}")


# --- speed: ours vs KerasHub ---------------------------------------------------------------------


def _throughput(step, batch, steps, warmup=2):
    for _ in range(warmup):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - started)


def _fit_rate(model, images, targets, batch, steps):
    """Training images/s of `fit` over `steps` batches, after one warm-up batch (tracing)."""
    import numpy as np

    model.fit(images, targets, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    repeated_x = np.concatenate([images] * steps)
    repeated_y = {k: np.concatenate([v] * steps) for k, v in targets.items()}
    started = time.perf_counter()
    model.fit(repeated_x, repeated_y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    return batch * steps / (time.perf_counter() - started)


def speed(args):
    import keras
    import keras_hub
    import numpy as np

    import architectures
    from tasks import detection as det
    from tasks import get_task

    size, batch, classes = args.speed_size, args.speed_batch, 3
    task = get_task("detection")
    keras.utils.set_random_seed(0)
    x, y = det.synthetic_scenes(batch, (size, size), classes, seed=0)
    images = x.astype("float32")

    ours = architectures.create_model("retinanet", input_shape=(size, size, 3), num_classes=classes)
    task.compile(ours, keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=args.jit)
    targets = task.fit_targets(ours, y)

    resnet = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[3, 4, 6, 3], stackwise_num_strides=[1, 2, 2, 2], block_type="bottleneck_block",
        use_pre_activation=False, image_shape=(size, size, 3),
    )
    backbone = keras_hub.models.RetinaNetBackbone(image_encoder=resnet, min_level=3, max_level=7, use_p5=False, image_shape=(size, size, 3))
    theirs = keras_hub.models.RetinaNetObjectDetector(backbone=backbone, num_classes=classes, bounding_box_format="xyxy")
    theirs.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=args.jit)
    their_targets = {"boxes": y["boxes"], "labels": y["classes"]}
    print(f"retinanet ResNet-50 at {size}×{size}, batch {batch}, {classes} classes: ours {ours.count_params():,} params, "
          f"KerasHub {theirs.count_params():,} params", flush=True)

    # `fit` for both (KerasHub's PipelineModel.train_on_batch cannot take a dict of targets).
    ours_train = _fit_rate(ours, images, targets, batch, args.speed_steps)
    theirs_train = _fit_rate(theirs, images, their_targets, batch, args.speed_steps)
    endpoint = task.export_endpoint(ours)
    # `predict` over (images, dummy) batches for both: KerasHub's decode_predictions unpacks (x, y).
    import tensorflow as tf

    stream = tf.data.Dataset.from_tensor_slices((np.concatenate([images] * args.speed_steps), np.zeros(batch * args.speed_steps))).batch(batch)
    ours_predict = _throughput(lambda: endpoint.predict(stream, verbose=0), batch * args.speed_steps, 1, warmup=1)
    theirs_predict = _throughput(lambda: theirs.predict(stream, verbose=0), batch * args.speed_steps, 1, warmup=1)
    print(f"training step: ours {ours_train:.2f} img/s, KerasHub {theirs_train:.2f} img/s, ratio {ours_train / theirs_train:.2f}")
    print(f"predict with NMS: ours {ours_predict:.2f} img/s, KerasHub {theirs_predict:.2f} img/s, ratio {ours_predict / theirs_predict:.2f}")

    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    signature = [tf.TensorSpec((None, size, size, 3), tf.float32, name="images")]
    function = tf.function(lambda t: endpoint(t, training=False), input_signature=signature)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=signature, opset=17)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    one = images[:1]
    onnx_rate = _throughput(lambda: session.run(None, {"images": one}), 1, args.speed_steps * 2)
    keras_rate = _throughput(lambda: endpoint.predict(one, verbose=0), 1, args.speed_steps * 2)
    print(f"batch 1: ONNX Runtime {onnx_rate:.2f} img/s, keras predict {keras_rate:.2f} img/s, ratio {onnx_rate / keras_rate:.2f}")
    result = {
        "image_size": size, "batch": batch, "jit_compile": args.jit,
        "ours_params": int(ours.count_params()), "keras_hub_params": int(theirs.count_params()),
        "train_images_per_s": {"ours": round(ours_train, 3), "keras_hub": round(theirs_train, 3), "ratio": round(ours_train / theirs_train, 3)},
        "predict_nms_images_per_s": {"ours": round(ours_predict, 3), "keras_hub": round(theirs_predict, 3), "ratio": round(ours_predict / theirs_predict, 3)},
        "batch1_images_per_s": {"onnx": round(onnx_rate, 3), "keras_predict": round(keras_rate, 3), "ratio": round(onnx_rate / keras_rate, 3)},
    }
    from common.io import write_json_atomic

    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(args.out) / "speed.json", result)
    print(f"wrote {Path(args.out) / 'speed.json'}")
    return np


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="", help="comma-separated detection models (default: every registered one)")
    parser.add_argument("--n", type=int, default=1600, help="scenes generated (80 %% train, 20 %% hold-out)")
    parser.add_argument("--epochs", default="40", help="epoch budget (cosine over it): N for every model, or name=N,... pairs (others 40)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget per model instead of --epochs (load-dependent)")
    parser.add_argument("--augment", default="light", help="detection augmentation: a preset (none, light, standard) or a JSON dict of flip, translate, zoom, brightness, contrast")
    parser.add_argument("--set", action="append", default=[], help="model.key=value (JSON value): change one setting of a model's tiny config for this run")
    parser.add_argument("--train-map", action="store_true", help="also print mAP on training scenes (an overfitting diagnostic, not the score)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-detection")
    parser.add_argument("--speed", action="store_true", help="run the speed comparison with KerasHub instead")
    parser.add_argument("--speed-size", type=int, default=256)
    parser.add_argument("--speed-batch", type=int, default=4)
    parser.add_argument("--speed-steps", type=int, default=5)
    parser.add_argument("--jit", action="store_true", help="compile the training steps with XLA (quality: rows without an 'xla' limitation; speed: both models)")
    args = parser.parse_args()
    if args.speed:
        speed(args)
    else:
        quality(args)


if __name__ == "__main__":
    main()
