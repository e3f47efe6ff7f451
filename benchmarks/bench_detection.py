"""Detection quality and speed: every registered detector's tiny config on the shapes scenes, and our
RetinaNet against KerasHub's.

    python benchmarks/bench_detection.py [--models yolo_v1,ssd] [--epochs 40] [--minutes M] [--n 1600]
                                         [--pretrain-epochs yolo_v1=N] [--out runs/bench-detection]
    python benchmarks/bench_detection.py --speed [--speed-size 256] [--speed-batch 4] [--speed-steps 5] [--speed-rounds 3]

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
ssd, retinanet (and the two-stage fast_rcnn, faster_rcnn). `--pretrain-epochs yolo_v1=N` follows
YOLO v1's recipe (§2.2: conv layers pretrained as a classifier before detection training) with a
grid-cell classifier on the training split (`YoloV1.pretraining_stage`, also `deepzoo train yolo_v1 --pretrain-epochs N`).

Speed (--speed): our `retinanet` and KerasHub's `RetinaNetObjectDetector` with the same ResNet-50
backbone layout, FPN P3–P7, 9 anchors, the same image size and classes, side by side in one process:
training-step throughput (images/s, after warm-up) and predict-with-NMS throughput, as ratios
ours / KerasHub's; then our endpoint (decoding + NMS inside) exported to ONNX by the project's own
exporter (`export.formats`, what `deepzoo export` writes) and run in the session `deepzoo serve`
opens, against keras `predict` and the SavedModel's serving tf.function at batch 1. Every
comparison is timed in interleaved rounds (ours, theirs, ours, ...) and reports the median rate and
the median of the per-round ratios, so that the shared machine's drifting load hits both sides
alike. keras-hub is a benchmark extra: it is imported here only.
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
    from pipelines.optim import TimeBudgetCosine
    from pipelines.splits import holdout_split
    from pipelines.train import adapt_batchnorm_momentum, normalization_statistics
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
        pretrain_epochs = epochs_for(args.pretrain_epochs, name, default=0)
        if pretrain_epochs and hasattr(model, "pretraining_stage"):  # YOLO v1's §2.2 recipe
            steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
            pretrain_loss = model.pretraining_stage(data, pretrain_epochs, keras.optimizers.Adam(args.learning_rate, clipnorm=10.0),
                                           callbacks=[epoch_cosine(pretrain_epochs, steps_per_epoch, args.learning_rate)])
            print(f"{name}: conv layers pretrained as a grid-cell classifier for {pretrain_epochs} epochs (loss {pretrain_loss:.4f})", flush=True)
        else:
            pretrain_epochs = 0
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
            "pretrain_epochs": pretrain_epochs,
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


def _interleaved_rates(contenders, images_per_call, rounds):
    """Images/s of each `name: call` (warmed up once each), timed in alternating rounds so that the
    shared machine's drifting load hits every contender alike; the order flips every round (A B, B A,
    ...) so that neither side always runs first. Returns {name: [rate per round]}."""
    for call in contenders.values():
        call()
    rates = {name: [] for name in contenders}
    for round_index in range(rounds):
        order = list(contenders.items())
        for name, call in order[::-1] if round_index % 2 else order:
            started = time.perf_counter()
            call()
            rates[name].append(images_per_call / (time.perf_counter() - started))
    return rates


def _ratio_summary(rates, ours, theirs):
    """Median images/s per contender and the median of the per-round ratios ours / theirs (with its
    range): a round's two measurements share that round's load. Also the ratio of each side's best
    round (timeit's rule: intermittent slow-downs of a shared machine only ever add time)."""
    import numpy as np

    per_round = np.asarray(rates[ours]) / np.asarray(rates[theirs])
    return {
        "best_round_ratio": round(float(np.max(rates[ours]) / np.max(rates[theirs])), 3),
        "per_round_rates": {name: [round(float(r), 3) for r in rates[name]] for name in (ours, theirs)},
        ours: round(float(np.median(rates[ours])), 3),
        theirs: round(float(np.median(rates[theirs])), 3),
        "ratio": round(float(np.median(per_round)), 3),
        "ratio_range": [round(float(per_round.min()), 3), round(float(per_round.max()), 3)],
        "rounds": len(per_round),
        "per_round_ratios": [round(float(r), 3) for r in per_round],
    }


def _repeated_fit(model, images, targets, batch, steps):
    """A call that trains `model` with `fit` over `steps` batches (KerasHub's PipelineModel cannot
    take a dict of targets in train_on_batch, so `fit` for both)."""
    import numpy as np

    repeated_x = np.concatenate([images] * steps)
    repeated_y = {k: np.concatenate([v] * steps) for k, v in targets.items()}
    return lambda: model.fit(repeated_x, repeated_y, batch_size=batch, epochs=1, shuffle=False, verbose=0)


def _onnx_endpoint_session(endpoint, directory):
    """Our endpoint through the project's ONNX export (export.formats: frozen graph → tf2onnx, the
    file `deepzoo export` writes) and the session `deepzoo serve` opens, with its settings."""
    from types import SimpleNamespace

    from export.context import Endpoint
    from export.formats import onnx_session, write_onnx

    path, _ = write_onnx(SimpleNamespace(endpoint=Endpoint(endpoint), options={}), directory)
    session = onnx_session(path, providers=["CPUExecutionProvider"])
    options = session.get_session_options()
    settings = {
        "intra_op_num_threads": options.intra_op_num_threads,  # 0 = one per physical core
        "graph_optimization_level": str(options.graph_optimization_level).split(".")[-1],
        "execution_mode": str(options.execution_mode).split(".")[-1],
    }
    return session, settings


def speed(args):
    import tempfile

    import keras
    import keras_hub
    import numpy as np
    import tensorflow as tf

    import architectures
    from export.context import Endpoint
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
    print(f"retinanet ResNet-50 at {size}×{size}, batch {batch}, {classes} classes, {args.speed_steps} steps × "
          f"{args.speed_rounds} interleaved rounds, jit_compile={args.jit}: ours {ours.count_params():,} params, "
          f"KerasHub {theirs.count_params():,} params, {tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()} "
          f"intra-op threads on {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", flush=True)

    steps = args.speed_steps
    training = _interleaved_rates(
        {"ours": _repeated_fit(ours, images, targets, batch, steps), "keras_hub": _repeated_fit(theirs, images, their_targets, batch, steps)},
        batch * steps, args.speed_rounds,
    )
    train = _ratio_summary(training, "ours", "keras_hub")
    print(f"training step: ours {train['ours']:.2f} img/s, KerasHub {train['keras_hub']:.2f} img/s, "
          f"ratio {train['ratio']:.2f} (rounds {train['ratio_range'][0]:.2f}–{train['ratio_range'][1]:.2f}; best rounds {train['best_round_ratio']:.2f})", flush=True)

    endpoint = task.export_endpoint(ours)
    # `predict` over (images, dummy) batches for both: KerasHub's decode_predictions unpacks (x, y).
    stream = tf.data.Dataset.from_tensor_slices((np.concatenate([images] * steps), np.zeros(batch * steps))).batch(batch)
    predicting = _interleaved_rates(
        {"ours": lambda: endpoint.predict(stream, verbose=0), "keras_hub": lambda: theirs.predict(stream, verbose=0)},
        batch * steps, args.speed_rounds,
    )
    predict = _ratio_summary(predicting, "ours", "keras_hub")
    print(f"predict with NMS: ours {predict['ours']:.2f} img/s, KerasHub {predict['keras_hub']:.2f} img/s, "
          f"ratio {predict['ratio']:.2f} (rounds {predict['ratio_range'][0]:.2f}–{predict['ratio_range'][1]:.2f}; best rounds {predict['best_round_ratio']:.2f})", flush=True)

    with tempfile.TemporaryDirectory() as directory:
        session, onnx_settings = _onnx_endpoint_session(endpoint, directory)
        serving = Endpoint(endpoint).function()  # the SavedModel's serving function, without predict's per-call set-up
        one = images[:1]
        # Batch 1, one image per call, `steps × 2` calls per round; keras `predict` is the baseline.
        calls = steps * 2
        single = _interleaved_rates(
            {
                "onnx": lambda: [session.run(None, {"images": one}) for _ in range(calls)],
                "keras_predict": lambda: [endpoint.predict(one, verbose=0) for _ in range(calls)],
                "tf_function": lambda: [serving({"images": one}) for _ in range(calls)],
            },
            calls, args.speed_rounds,
        )
    batch1 = _ratio_summary(single, "onnx", "keras_predict")
    batch1["tf_function"] = round(float(np.median(single["tf_function"])), 3)
    print(f"batch 1 ({onnx_settings}): ONNX Runtime {batch1['onnx']:.2f} img/s, keras predict {batch1['keras_predict']:.2f} img/s, "
          f"ratio {batch1['ratio']:.2f} (rounds {batch1['ratio_range'][0]:.2f}–{batch1['ratio_range'][1]:.2f}); "
          f"serving tf.function {batch1['tf_function']:.2f} img/s", flush=True)
    result = {
        "image_size": size, "batch": batch, "steps": steps, "rounds": args.speed_rounds, "jit_compile": args.jit,
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "ours_params": int(ours.count_params()), "keras_hub_params": int(theirs.count_params()),
        "train_images_per_s": train, "predict_nms_images_per_s": predict,
        "batch1_images_per_s": batch1, "onnx_session": onnx_settings,
    }
    from common.io import write_json_atomic

    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(args.out) / "speed.json", result)
    print(f"wrote {Path(args.out) / 'speed.json'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="", help="comma-separated detection models (default: every registered one)")
    parser.add_argument("--n", type=int, default=1600, help="scenes generated (80 %% train, 20 %% hold-out)")
    parser.add_argument("--epochs", default="40", help="epoch budget (cosine over it): N for every model, or name=N,... pairs (others 40)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget per model instead of --epochs (load-dependent)")
    parser.add_argument("--pretrain-epochs", default="0", help="YOLO v1's recipe: first train the conv layers as a grid-cell classifier for N epochs (N, or name=N,...; FC-headed detectors only)")
    parser.add_argument("--augment", default="light", help="detection augmentation: a preset (none, light, standard) or a JSON dict of flip, translate, zoom, brightness, contrast")
    parser.add_argument("--set", action="append", default=[], help="model.key=value (JSON value): change one setting of a model's tiny config for this run")
    parser.add_argument("--train-map", action="store_true", help="also print mAP on training scenes (an overfitting diagnostic, not the score)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench-detection")
    parser.add_argument("--speed", action="store_true", help="run the speed comparison with KerasHub instead")
    parser.add_argument("--speed-size", type=int, default=256)
    parser.add_argument("--speed-batch", type=int, default=4)
    parser.add_argument("--speed-steps", type=int, default=5, help="training / predict batches per timed call")
    parser.add_argument("--speed-rounds", type=int, default=3, help="interleaved timing rounds (ours, KerasHub, ours, ...); medians are reported")
    parser.add_argument("--jit", action="store_true", help="compile the training steps with XLA (quality: rows without an 'xla' limitation; speed: both models)")
    args = parser.parse_args()
    if args.speed:
        speed(args)
    else:
        quality(args)


if __name__ == "__main__":
    main()
