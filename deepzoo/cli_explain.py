"""`deepzoo explain` and `deepzoo attack`: family C's methods over any trained image classifier run.

    deepzoo explain RUN --method grad_cam --images 16      # overlays as PNG + a JSON of scores
    deepzoo attack RUN --method fgsm --epsilon 0.007       # accuracy under attack; --adversarial-epochs N

The methods live in `tasks.interpretability`; this module picks the run's held-out images (or the
image files given), runs a method and writes RUN/explain-METHOD/ (or --out): `overlays.png` and
`scores.json`. Any run whose model maps one image to class probabilities and has a conv layer
works; anything else is a one-line error, exit status 2.
"""

from deepzoo.cli_options import (
    Choice,
    ExistingFile,
    Float,
    Int,
    OutputPath,
    Text,
    add_option,
)

EXPLAIN_METHODS = (
    "cam", "grad_cam", "augmented_grad_cam", "saliency_map", "occlusion_sensitivity",
    "activation_maximization", "deep_dream", "max_activating_patches",
)
ATTACK_METHODS = ("fgsm", "adversarial_sticker")


def register(subparsers):
    """Adds this area's sub-commands to the CLI."""
    p = subparsers.add_parser("explain", help="heat maps, saliency, synthesised images of a trained image classifier run")
    p.add_argument("run", help="run directory of an image classifier (from deepzoo train)")
    add_option(p, "--method", Choice(EXPLAIN_METHODS), default="grad_cam", help="the method")
    add_option(p, "--images", Int(1, 256), default=16, help="how many held-out test images (or classes, for activation_maximization)")
    add_option(p, "--image", ExistingFile(), action="append", help="explain this image file instead (repeatable); it must have the model's input size")
    add_option(p, "--class-index", Int(0), help="explain this class (default: the predicted one)")
    add_option(p, "--layer", Text("a layer name"), help="conv layer (default: the last conv)")
    add_option(p, "--out", OutputPath(), help="output folder (default RUN/explain-METHOD)")
    p.set_defaults(handler=_explain)

    p = subparsers.add_parser("attack", help="accuracy of an image classifier run under FGSM or a sticker; adversarial training")
    p.add_argument("run", help="run directory of an image classifier (from deepzoo train)")
    add_option(p, "--method", Choice(ATTACK_METHODS), default="fgsm", help="the attack")
    add_option(p, "--epsilon", Float(0.0, 1.0, open_low=True), default=0.007, help="FGSM strength as a fraction of the pixel range")
    add_option(p, "--images", Int(1), help="attack the first N held-out test images (default: all)")
    add_option(p, "--sticker-size", Int(1), default=8, help="sticker side in pixels (adversarial_sticker)")
    add_option(p, "--adversarial-epochs", Int(0), default=0, help="then fine-tune with J = aJ(x) + (1-a)J(x_adv) for N epochs on the training split and attack again")
    add_option(p, "--alpha", Float(0.0, 1.0), default=0.5, help="a of the adversarial-training loss")
    add_option(p, "--out", OutputPath(), help="output folder (default RUN/attack-METHOD)")
    p.set_defaults(handler=_attack)


def _load(args):
    """(run, classifier, value_range) of an image classifier run, or a one-line ValueError."""
    from deepzoo.cli import _tensorflow, check_run_dir

    check_run_dir(args.run)
    _tensorflow()
    import architectures  # noqa: F401  (registers the model classes a run's .keras file names)
    from pipelines.runs import Run
    from tasks.interpretability import check_image_classifier

    run = Run.load(args.run)
    model = run.load_model()
    try:
        check_image_classifier(model)
    except ValueError as exc:
        raise ValueError(f"{args.run} is a {run.config.get('task', '?')} run, not an image classifier with a conv layer: {exc}") from None
    return run, model


def _value_range(data):
    value_range = getattr(data.dataset, "value_range", None)
    return tuple(float(v) for v in value_range) if value_range else (float(data.dataset.x.min()), float(data.dataset.x.max()))


def _held_out(run, count):
    """(images, labels, boxes or None, value range) of the run's first `count` test images."""
    import numpy as np

    data = run.prepared_data()
    x, y = data.arrays("test")
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"The run's data is not images (N, H, W, C). Received: {getattr(x, 'shape', type(x).__name__)}")
    count = len(x) if count is None else min(count, len(x))
    boxes = data.dataset.boxes[data.test_idx[:count], 0] if getattr(data.dataset, "boxes", None) is not None else None
    return x[:count].astype("float32"), np.asarray(y[:count]).reshape(-1), boxes, _value_range(data)


def _image_files(paths, model):
    """Image files at exactly the model's input size (no silent resize), float32 0..255."""
    import keras
    import numpy as np

    height, width, channels = (int(d) for d in model.inputs[0].shape[1:])
    mode = {1: "grayscale", 3: "rgb", 4: "rgba"}.get(channels)
    images = []
    for path in paths:
        try:
            image = keras.utils.img_to_array(keras.utils.load_img(path, color_mode=mode), dtype="float32")
        except (OSError, ValueError) as exc:
            raise ValueError(f"Not a readable image: {path} ({type(exc).__name__})") from None
        if image.shape[:2] != (height, width):
            raise ValueError(f"Image {path} is {image.shape[1]}×{image.shape[0]}; the model takes {width}×{height}. Received: {image.shape[1]}×{image.shape[0]}")
        images.append(image)
    return np.stack(images)


def _explain(args):
    from pathlib import Path

    import numpy as np

    run, model = _load(args)
    from common.io import write_json_atomic
    from tasks import interpretability as interp

    out = Path(args.out or Path(args.run) / f"explain-{args.method}")
    if args.layer is not None and args.layer not in interp.conv_layers(model):
        raise ValueError(f"--layer {args.layer!r} is not a conv layer of the model. Expected one of {', '.join(interp.conv_layers(model))}")
    classes = int(model.outputs[0].shape[-1])
    if args.class_index is not None and args.class_index >= classes:
        raise ValueError(f"--class-index must be below the model's {classes} classes. Received: {args.class_index}")
    if args.image:
        images, labels, boxes = _image_files(args.image, model), None, None
        value_range = (0.0, 255.0)
    else:
        images, labels, boxes, value_range = _held_out(run, args.images)
    out.mkdir(parents=True, exist_ok=True)
    report = {"run": str(args.run), "method": args.method, "images": len(images)}
    probabilities = np.asarray(model.predict(images, verbose=0))
    predicted = probabilities.argmax(-1)
    titles = [f"pred {p}" + (f" / true {t}" if labels is not None else "") for p, t in zip(predicted, labels if labels is not None else predicted)]

    if args.method in interp.ATTRIBUTIONS:
        target = args.class_index
        if args.layer and args.method == "grad_cam":
            maps = interp.grad_cam(model, images, target, layer=args.layer)
        else:
            maps = interp.explain(model, images, args.method, target)
        cam_boxes = np.stack([interp.heatmap_box(m) for m in maps])
        peaks = [list(np.unravel_index(int(m.argmax()), m.shape))[::-1] for m in maps]
        report["per_image"] = [
            {"predicted": int(p), "probability": float(probabilities[i, p]), "label": None if labels is None else int(labels[i]),
             "peak_xy": [int(v) for v in peaks[i]], "box_above_20_percent": cam_boxes[i].tolist()}
            for i, p in enumerate(predicted)
        ]
        if boxes is not None:
            report["pointing_game"] = interp.pointing_game(maps, boxes)
        interp.overlay_grid(images, maps, out / "overlays.png", titles=titles, boxes=cam_boxes, value_range=value_range)
    elif args.method == "activation_maximization":
        wanted = [args.class_index] if args.class_index is not None else list(range(min(args.images, classes)))
        pictures, scores = [], []
        for c in wanted:
            image, history = interp.activation_maximization(model, c, value_range=value_range)
            pictures.append(image)
            scores.append({"class": int(c), "score_start": float(history[0]), "score_end": float(history[-1]),
                           "probability": float(np.asarray(model(image[None]))[0, c])})
        report["per_class"] = scores
        interp.overlay_grid(np.stack(pictures), None, out / "overlays.png", titles=[f"class {c}" for c in wanted], value_range=value_range)
    elif args.method == "deep_dream":
        dreams = [interp.deep_dream(model, image, layer=args.layer, value_range=value_range) for image in images]
        report["per_image"] = [{"energy_start": float(losses[0]), "energy_end": float(losses[-1])} for _, losses in dreams]
        both = np.concatenate([images, np.stack([d for d, _ in dreams])])
        interp.overlay_grid(both, None, out / "overlays.png", titles=titles + ["dream"] * len(images), value_range=value_range, columns=len(images))
    else:  # max_activating_patches over the held-out images, for the first channels of the layer
        layer = args.layer or interp.last_conv_layer(model)
        units = range(min(8, int(model.get_layer(layer).output.shape[-1])))
        size, jump, _ = interp.receptive_field(model, layer)
        found = [interp.max_activating_patches(model, images, layer=layer, unit=u, top_k=min(8, len(images))) for u in units]
        report["layer"], report["receptive_field"], report["jump"] = layer, size.tolist(), jump.tolist()
        report["units"] = [{"unit": u, "images": f["indices"].tolist(), "activations": f["activations"].tolist(), "boxes": f["boxes"].tolist()} for u, f in zip(units, found)]
        picks = [(f["indices"][k], f["boxes"][k], f"unit {u}") for u, f in zip(units, found) for k in range(len(f["indices"]))]
        interp.overlay_grid(images[[p[0] for p in picks]], None, out / "overlays.png", titles=[p[2] for p in picks],
                            boxes=[p[1] for p in picks], value_range=value_range, columns=len(found[0]["indices"]))
    write_json_atomic(out / "scores.json", report)
    summary = f"pointing game {report['pointing_game']:.3f}; " if "pointing_game" in report else ""
    print(f"{args.method}: {len(images)} image(s); {summary}wrote {out / 'overlays.png'} and {out / 'scores.json'}")
    return 0


def _attack(args):
    from pathlib import Path

    import numpy as np

    run, model = _load(args)
    from common.io import atomic_path, write_json_atomic
    from tasks import interpretability as interp

    images, labels, _, value_range = _held_out(run, args.images)
    out = Path(args.out or Path(args.run) / f"attack-{args.method}")

    def measure(classifier):
        if args.method == "fgsm":
            clean, attacked = interp.accuracy_under_fgsm(classifier, images, labels, args.epsilon, value_range)
            return {"clean_accuracy": clean, "attacked_accuracy": attacked}
        # Optimised on training images, measured on held-out ones at fresh random placements.
        x_fit, y_fit = run.prepared_data().arrays("train")
        sticker, _ = interp.sticker_attack(classifier, x_fit[:512], np.asarray(y_fit[:512]).reshape(-1), sticker_size=args.sticker_size, value_range=value_range)
        clean = float(np.mean(np.asarray(classifier.predict(images, verbose=0)).argmax(-1) == labels))
        return {"clean_accuracy": clean, "attacked_accuracy": interp.accuracy_with_sticker(classifier, images, labels, sticker, value_range=value_range), "sticker": sticker}

    if args.method == "adversarial_sticker" and not 1 <= args.sticker_size <= images.shape[1]:
        raise ValueError(f"--sticker-size must fit the {images.shape[1]}-pixel image. Received: {args.sticker_size}")
    out.mkdir(parents=True, exist_ok=True)
    before = measure(model)
    report = {"run": str(args.run), "method": args.method, "images": len(images), "before": {k: v for k, v in before.items() if k != "sticker"}}
    if args.method == "fgsm":
        report["epsilon"] = args.epsilon
        adversarial = interp.fgsm(model, images[:16], labels[:16], args.epsilon, value_range)
        shown = np.concatenate([images[:16], adversarial])
        predicted = np.asarray(model.predict(shown, verbose=0)).argmax(-1)
        interp.overlay_grid(shown, None, out / "examples.png", titles=[f"{'adv' if i >= 16 else 'clean'} → {p}" for i, p in enumerate(predicted)],
                            value_range=value_range, columns=min(16, len(images)))
    else:
        transforms, factors = interp.sticker_transforms(min(16, len(images)), images.shape[1], args.sticker_size)
        stuck = np.clip(np.asarray(interp.apply_sticker(images[:16], before["sticker"], transforms, factors)), *value_range)
        predicted = np.asarray(model.predict(stuck, verbose=0)).argmax(-1)
        interp.overlay_grid(stuck, None, out / "examples.png", titles=[f"→ {p}" for p in predicted], value_range=value_range)
    if args.adversarial_epochs:
        x_train, y_train = run.prepared_data().arrays("train")
        interp.adversarial_training(model, x_train, np.asarray(y_train).reshape(-1), args.epsilon, alpha=args.alpha, epochs=args.adversarial_epochs, value_range=value_range)
        after = measure(model)
        report["after_adversarial_training"] = {k: v for k, v in after.items() if k != "sticker"}
        report["adversarial_training"] = {"epochs": args.adversarial_epochs, "alpha": args.alpha, "epsilon": args.epsilon}
        with atomic_path(out / "model_adversarial.keras", suffix=".keras") as tmp:
            model.save(tmp)
    write_json_atomic(out / "scores.json", report)
    line = f"{args.method}: accuracy {before['clean_accuracy']:.3f} clean, {before['attacked_accuracy']:.3f} under attack"
    if "after_adversarial_training" in report:
        after = report["after_adversarial_training"]
        line += f"; after {args.adversarial_epochs} epoch(s) of adversarial training: {after['clean_accuracy']:.3f} clean, {after['attacked_accuracy']:.3f} under attack"
    print(f"{line} ({len(images)} held-out images); wrote {out / 'scores.json'}")
    return 0
