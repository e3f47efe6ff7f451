"""Quality evidence for family C on the embedded shapes-10 images (32×32, one shape each), on CPU.

    nice -n 10 python benchmarks/bench_interpretability.py --part attribution   # ≈ 2 min
    nice -n 10 python benchmarks/bench_interpretability.py --part robustness    # ≈ 2 min
    nice -n 10 python benchmarks/bench_interpretability.py --part localizer     # ≈ 3 min
    nice -n 10 python benchmarks/bench_interpretability.py --part decoders      # ≈ 2 min

Every part first trains (or reloads from runs/bench-interpretability/classifier.keras) the shapes
classifier the methods explain: `ExplainedCNN` conv 3×3 ×2 per stage, 16/32/64 channels with BN,
GAP, Dense(10), Adam 2e-3, 15 epochs on 1,600 images; 400 held-out images.

- attribution: the pointing game (does the map's maximum fall inside the shape's box?) of CAM,
  Grad-CAM, saliency, occlusion sensitivity (on all held-out images) and Augmented Grad-CAM (on
  the first 40), for the true class; chance = the mean box area fraction; overlay grids as PNG.
- robustness: accuracy under FGSM (ε = 0.007 and 0.03 of the pixel range) before and after
  adversarial training (J̃ = αJ(x) + (1 − α)J(x_adv), α = 0.5, ε = 0.03, 5 epochs from the trained
  classifier), and under an 8×8 sticker optimised with an expectation over transformations.
- localizer: `two_head_localizer` on `shapes10_localization`: the α sweep (0.1, 0.5, 0.9) and
  joint vs separate training (classification network, then the box head on frozen features),
  with GAP (the spec's form) and once with flatten (position kept for the box head);
  hold-out class accuracy, mean IoU and CorLoc (right class and IoU ≥ 0.5); a box picture.
- decoders: `perception_visualization` and `feature_inversion_net` from the trained classifier's
  frozen encoder, and the same decoder on an untrained frozen encoder (baseline): hold-out PSNR;
  reconstructions beside saliency maps as PNG.

Writes runs/bench-interpretability/<part>.json and PNGs there; prints one line per number.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.io import write_json_atomic

OUT = Path("runs/bench-interpretability")
TRAIN = 1600


def shapes(seed=0):
    from pipelines.datasets import load_dataset

    data = load_dataset("shapes10", seed=seed, num_per_class=200)
    return data.x, data.y, data.boxes[:, 0], data.class_names


def classifier(x, y, epochs, seed=0):
    """The trained shapes classifier (cached: a second part reuses it)."""
    import keras

    import architectures  # noqa: F401  (registers ExplainedCNN for loading)
    from architectures.interpretability.methods import ExplainedCNN

    path = OUT / "classifier.keras"
    if path.is_file():
        return keras.saving.load_model(path)
    keras.utils.set_random_seed(seed)
    mean, std = x[:TRAIN].mean(axis=(0, 1, 2)).tolist(), x[:TRAIN].std(axis=(0, 1, 2)).tolist()
    model = ExplainedCNN(input_shape=(32, 32, 3), num_classes=10, filters=(16, 32, 64), convs_per_stage=2, batch_norm=True, preprocessing={"mean": mean, "std": std})
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.time()
    model.fit(x[:TRAIN], y[:TRAIN], batch_size=32, epochs=epochs, verbose=0)
    print(f"classifier: {epochs} epochs in {time.time() - start:.0f}s, hold-out accuracy {model.evaluate(x[TRAIN:], y[TRAIN:], verbose=0)[1]:.3f}")
    OUT.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return model


def attribution(model, x, y, boxes, args):
    import numpy as np

    from tasks import interpretability as interp

    test, labels, test_boxes = x[TRAIN:], y[TRAIN:], boxes[TRAIN:]
    report = {"accuracy": float(np.mean(model.predict(test, verbose=0).argmax(-1) == labels))}
    report["chance"] = float(np.mean((test_boxes[:, 2] - test_boxes[:, 0]) * (test_boxes[:, 3] - test_boxes[:, 1]) / 32**2))
    grids = {}
    for method in ("cam", "grad_cam", "saliency_map", "occlusion_sensitivity", "augmented_grad_cam"):
        count = 40 if method == "augmented_grad_cam" else len(test)
        start = time.time()
        maps = interp.explain(model, test[:count], method, class_index=labels[:count])
        report[method] = {"pointing_game": interp.pointing_game(maps, test_boxes[:count]), "images": count, "seconds": round(time.time() - start, 1)}
        print(f"pointing game {method:22s} {report[method]['pointing_game']:.3f} on {count} held-out images (chance {report['chance']:.3f})")
        grids[method] = maps[:16]
    cam_boxes = [interp.heatmap_box(m) for m in grids["cam"]]
    for method, maps in grids.items():
        interp.overlay_grid(test[:16], maps, OUT / f"overlay_{method}.png", titles=[f"{method[:10]} c={c}" for c in labels[:16]],
                            boxes=cam_boxes if method == "cam" else test_boxes[:16])
    return report


def robustness(model, x, y, boxes, args):
    import keras
    import numpy as np

    from tasks import interpretability as interp

    test, labels = x[TRAIN:], y[TRAIN:]
    report = {"before": {}, "after": {}}
    for epsilon in (0.007, 0.03):
        report["before"][f"fgsm_{epsilon}"] = interp.accuracy_under_fgsm(model, test, labels, epsilon)[1]
    report["before"]["clean"] = interp.accuracy_under_fgsm(model, test, labels, 0.0)[0]
    sticker, _ = interp.sticker_attack(model, x[:TRAIN], y[:TRAIN], sticker_size=8, steps=150, samples=32)
    report["before"]["sticker_8px"] = interp.accuracy_with_sticker(model, test, labels, sticker)
    rng = np.random.default_rng(0)
    report["before"]["random_sticker_8px"] = interp.accuracy_with_sticker(model, test, labels, rng.uniform(0, 255, (8, 8, 3)).astype("float32"))
    robust = keras.models.clone_model(model)
    robust.set_weights(model.get_weights())
    start = time.time()
    interp.adversarial_training(robust, x[:TRAIN], y[:TRAIN], epsilon=0.03, alpha=0.5, epochs=args.adversarial_epochs, batch_size=32)
    report["adversarial_training"] = {"epsilon": 0.03, "alpha": 0.5, "epochs": args.adversarial_epochs, "seconds": round(time.time() - start, 1)}
    for epsilon in (0.007, 0.03):
        report["after"][f"fgsm_{epsilon}"] = interp.accuracy_under_fgsm(robust, test, labels, epsilon)[1]
    report["after"]["clean"] = interp.accuracy_under_fgsm(robust, test, labels, 0.0)[0]
    for key in report["before"]:
        if key in report["after"]:
            print(f"accuracy {key:12s} before {report['before'][key]:.3f}  after adversarial training {report['after'][key]:.3f}")
    print(f"accuracy with an optimised 8×8 sticker {report['before']['sticker_8px']:.3f} (random 8×8 sticker {report['before']['random_sticker_8px']:.3f})")
    adversarial = interp.fgsm(model, test[:8], labels[:8], 0.03)
    shown = np.concatenate([test[:8], adversarial])
    predicted = model.predict(shown, verbose=0).argmax(-1)
    interp.overlay_grid(shown, None, OUT / "fgsm_examples.png", titles=[f"{'adv' if i >= 8 else 'clean'}→{p}" for i, p in enumerate(predicted)])
    interp.overlay_grid(sticker[None], None, OUT / "sticker.png", titles=["sticker"])
    return report


def localizer(model, x, y, boxes, args):
    import keras

    from architectures import create_model
    from pipelines.datasets import load_dataset
    from tasks import get_task
    from tasks import interpretability as interp

    data = load_dataset("shapes10_localization", num_per_class=100)
    split = int(0.8 * len(data))
    x_train, x_test = data.x[:split], data.x[split:]
    y_train = {k: v[:split] for k, v in data.y.items()}
    y_test = {k: v[split:] for k, v in data.y.items()}
    mean, std = x_train.mean(axis=(0, 1, 2)).tolist(), x_train.std(axis=(0, 1, 2)).tolist()
    task = get_task("localization")
    report = {}

    def run(label, alpha, mode, pooling="gap"):
        keras.utils.set_random_seed(0)
        net = create_model("two_head_localizer", num_classes=10, filters=(16, 32, 64), convs_per_stage=1, alpha=alpha, pooling=pooling, preprocessing={"mean": mean, "std": std})
        start = time.time()
        epochs = args.localizer_epochs if mode == "joint" else (args.localizer_epochs, args.localizer_epochs)
        interp.fit_localizer(net, x_train, y_train, mode=mode, epochs=epochs, batch_size=32, learning_rate=2e-3)
        scores = task.score(y_test, task.predict(net, x_test))
        scores["seconds"] = round(time.time() - start, 1)
        report[label] = scores
        print(f"localizer {label:18s} accuracy {scores['accuracy']:.3f}  mean IoU {scores['mean_iou']:.3f}  CorLoc {scores['corloc']:.3f}  ({scores['seconds']}s)")
        return net

    for alpha in (0.1, 0.5, 0.9):
        net = run(f"joint alpha={alpha}", alpha, "joint")
        if alpha == 0.5:
            outputs = task.predict(net, x_test[:16])
            interp.plots_localization(__import__("tasks.plots", fromlist=["plots"]), x_test[:16], {k: v[:16] for k, v in y_test.items()}, outputs, OUT / "localizer_boxes.png")
    run("separate", 0.5, "separate")
    run("joint 0.5 flatten", 0.5, "joint", pooling="flatten")
    return report


def decoders(model, x, y, boxes, args):
    import keras
    import numpy as np

    from architectures import create_model
    from architectures.interpretability.methods import load_encoder_weights
    from tasks import get_task
    from tasks import interpretability as interp

    task = get_task("reconstruction")
    preprocessing = model.get_config()["preprocessing"]
    report = {}
    test = x[TRAIN:]
    # The baseline: the same decoder on a frozen *untrained* encoder of the same architecture.
    # A trained shape classifier learns to ignore colours and backgrounds (they are random in
    # shapes-10), so less of the image can be decoded from its features: that gap is the point.
    for name, trained in (("perception_visualization", True), ("feature_inversion_net", True), ("perception_visualization", False)):
        keras.utils.set_random_seed(0)
        decoder = create_model(name, filters=(16, 32, 64), convs_per_stage=2, batch_norm=True, decoder_filters=(32, 16), preprocessing=preprocessing)
        if trained:
            load_encoder_weights(decoder, model)  # the trained classifier's encoder, frozen
        else:
            name = f"{name} (untrained encoder)"
        decoder.compile(keras.optimizers.Adam(2e-3), "mse")
        start = time.time()
        decoder.fit(x[:TRAIN], x[:TRAIN], batch_size=32, epochs=args.decoder_epochs, verbose=0)
        scores = task.score(test, task.predict(decoder, test))
        scores["seconds"] = round(time.time() - start, 1)
        report[name] = scores
        print(f"{name:26s} hold-out PSNR {scores['psnr']:.2f} dB  MSE {scores['mse']:.1f}  ({scores['seconds']}s)")
        reconstruction = np.asarray(decoder.predict(test[:8], verbose=0))
        saliency = interp.saliency_map(model, test[:8])
        interp.overlay_grid(np.concatenate([test[:8], reconstruction, test[:8]]), np.concatenate([np.full((16, 32, 32), np.nan), saliency]),
                            OUT / f"{name.split()[0]}{'' if trained else '_untrained_encoder'}.png", titles=["input"] * 8 + ["decoded"] * 8 + ["saliency"] * 8)
    return report


PARTS = {"attribution": attribution, "robustness": robustness, "localizer": localizer, "decoders": decoders}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=sorted(PARTS) + ["all"], default="all")
    parser.add_argument("--epochs", type=int, default=15, help="classifier epochs")
    parser.add_argument("--adversarial-epochs", type=int, default=5)
    parser.add_argument("--localizer-epochs", type=int, default=10)
    parser.add_argument("--decoder-epochs", type=int, default=10)
    args = parser.parse_args()
    x, y, boxes, _ = shapes()
    model = classifier(x, y, args.epochs)
    OUT.mkdir(parents=True, exist_ok=True)
    for part in PARTS if args.part == "all" else [args.part]:
        report = PARTS[part](model, x, y, boxes, args)
        write_json_atomic(OUT / f"{part}.json", report)
    print(f"wrote {OUT}/")


if __name__ == "__main__":
    main()
