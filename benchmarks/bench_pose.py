"""Quality of the pose family (spec §2 J) after brief training on stick figures: PCK@0.2 on
held-out single figures (deeppose, tompson_heatmap, cpm; the issue's goal for cpm: ≥ 0.8) and COCO
keypoint AP@0.5 (OKS with the skeleton's sigmas, faster-coco-eval) on held-out multi-person scenes
(openpose, deepcut, alphapose_rmpe; goal for openpose: ≥ 0.5).

Each model starts from its tiny config at the data's 64 px (with the widths below), trains on
the training split with the task's flip/shift augmentation, and is scored by the task's
`evaluate` (the export endpoint plus `predict`'s decoding: PAF matching, the DeepCut ILP, pose
NMS). Pictures (skeleton overlays, heat maps, PAFs) go to runs/bench_pose/<model>/. Each row
trains for its own number of epochs (RECIPES: epochs, peak learning rate, cosine decay of the
learning rate over the run where marked); --epochs / --learning-rate override every row, --set
KEY=VALUE (a JSON value) overrides a model setting. One or two models per run keeps a run within
a few CPU minutes:

    nice -n 10 .venv/bin/python benchmarks/bench_pose.py --models cpm,deeppose
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

SINGLE = ("deeppose", "tompson_heatmap", "cpm")
MULTI = ("openpose", "deepcut", "alphapose_rmpe")
# Wider than the sweep's tiny widths (8 channels) so that a few CPU minutes of training mean something.
SETTINGS = {
    "deeppose": {"width_scale": 0.125, "crop_size": 24},
    "tompson_heatmap": {"width_scale": 0.25, "refine_size": 8},
    "cpm": {"width_scale": 0.25, "stages": 3, "pools": 2, "kernel_cap": 5},
    "openpose": {"width_scale": 0.25, "stages": 2, "pools": 2},
    "deepcut": {"width_scale": 0.25, "pools": 2},
    "alphapose_rmpe": {"max_people": 4, "crop_size": 32, "filters": 32, "stacks": 1, "depth": 2, "stem_pool": False},
}
# Per-row recipe: epochs, peak learning rate (Adam) and whether it decays along a cosine to 2 % of
# itself over the run (the belief-map rows need the late small steps for sub-cell precision).
RECIPES = {
    "deeppose": {"epochs": 24, "learning_rate": 2e-3, "cosine": True},
    "tompson_heatmap": {"epochs": 12, "learning_rate": 2e-3, "cosine": False},
    "cpm": {"epochs": 24, "learning_rate": 2e-3, "cosine": True},
    "openpose": {"epochs": 20, "learning_rate": 2e-3, "cosine": False},
    "deepcut": {"epochs": 20, "learning_rate": 2e-3, "cosine": False},
    "alphapose_rmpe": {"epochs": 80, "learning_rate": 2e-3, "cosine": True},
}


def run(name, epochs, batch_size, learning_rate, seed, num_examples, cosine=False, setting_overrides=None, save_model=False):
    import keras

    import architectures
    from pipelines.datasets import load_dataset
    from tasks import get_task

    task = get_task("pose")
    data = load_dataset("stick_figures" if name in SINGLE else "stick_figures_multi", seed=seed, num_examples=num_examples)
    n = len(data)
    order = np.random.default_rng(seed).permutation(n)
    train, test = order[: int(0.8 * n)], order[int(0.8 * n):]
    take = lambda x, idx: {k: v[idx] for k, v in x.items()} if isinstance(x, dict) else x[idx]
    x_train, y_train, x_test, y_test = take(data.x, train), data.y[train], take(data.x, test), data.y[test]
    keras.utils.set_random_seed(seed)
    overrides = task.model_overrides(data, x_train, ["image_size", "skeleton"], y_train)
    settings = {**SETTINGS.get(name, {}), **(setting_overrides or {})}
    model = architectures.create_model(name, config="tiny", **overrides, **settings)
    steps = -(-len(train) // batch_size) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.02) if cosine else learning_rate
    task.compile(model, keras.optimizers.Adam(schedule), jit_compile=False)
    augment = task.build_augmentation({"flip": "horizontal", "translate": 0.04}, data, seed)
    dataset = task.make_dataset(task.fit_inputs(model, x_train), y_train, batch_size, shuffle=True, augment=augment, seed=seed)
    started = time.perf_counter()
    history = model.fit(dataset, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - started
    report = task.evaluate(model, x_test, y_test)
    out = Path("runs/bench_pose") / name
    out.mkdir(parents=True, exist_ok=True)
    task.plots(out, model, x_test, y_test, report)
    if save_model:
        model.save(out / "model.keras")
    result = {
        "model": name, "params": int(model.count_params()), "epochs": epochs, "learning_rate": learning_rate, "cosine": bool(cosine),
        "train_examples": int(len(train)), "test_examples": int(len(test)),
        "settings": settings, "train_seconds": round(seconds, 1), "final_loss": round(float(history.history["loss"][-1]), 4),
        **{key: round(value, 4) for key, value in report.items() if key in ("pck@0.2", "oks_ap", "oks_ap50", "oks_ap75")},
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(SINGLE + MULTI))
    parser.add_argument("--epochs", type=int, default=None, help="every row's epochs (default: the row's RECIPES entry)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=None, help="every row's peak learning rate (default: RECIPES)")
    parser.add_argument("--num-examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model setting (JSON value), e.g. --set sigma=4")
    parser.add_argument("--save-model", action="store_true", help="also save the trained model to runs/bench_pose/<model>/model.keras")
    args = parser.parse_args()
    settings = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set takes KEY=VALUE. Received: {item!r}")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    for name in args.models.split(","):
        if name not in RECIPES:
            raise SystemExit(f"Unknown pose row {name!r}. Expected some of {sorted(RECIPES)}.")
        recipe = RECIPES[name]
        epochs = args.epochs or recipe["epochs"]
        learning_rate = args.learning_rate or recipe["learning_rate"]
        result = run(name, epochs, args.batch_size, learning_rate, args.seed, args.num_examples, recipe["cosine"], settings, args.save_model)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
