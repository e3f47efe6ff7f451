"""Hold-out quality of family K's 3-D scene rows (tiny configs, brief training, CPU minutes).

    nice -n 10 .venv/bin/python benchmarks/bench_three_d_scenes.py                 # every row
    nice -n 10 .venv/bin/python benchmarks/bench_three_d_scenes.py --models pointseg,bev_cnn --epochs 20

Each row trains with `pipelines.train.train` (tiny config, its default embedded dataset, hold-out
split 0.2) and reports the hold-out measure its task computes:

    pointseg             lidar_range_images   per-class IoU and mIoU of the range-image cells
    bev_cnn              lidar_bev            per-class IoU and mIoU of the BEV footprint cells
    object_detection_3d  lidar_pillars        BEV AP@0.5 per class (rotated-box IoU) and its mean
    mesh_spectral_cnn    mesh_bumps           per-vertex accuracy and mIoU
    smpl_layer           smpl_standin         vertex MAE / RMSE (metres) after learning the blend shapes
    image_to_3d          rendered_voxels      voxel IoU at 0.4

Pictures under runs/bench_three_d_scenes/: the runs' own plots (segmentation overlays, BEV boxes,
voxel renders) and lidar_points_pointseg.png (the held-out sweeps' points coloured by predicted and
true class). Results are printed and written to runs/bench_three_d_scenes/results.json.
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

OUT = Path("runs/bench_three_d_scenes")
ROWS = {  # row: (epochs, batch size, learning rate, keys of the report to print)
    "pointseg": (8, 16, 3e-3, ("miou", "per_class_iou", "pixel_accuracy")),
    "bev_cnn": (10, 16, 3e-3, ("miou", "per_class_iou", "pixel_accuracy")),
    "object_detection_3d": (40, 16, 3e-3, ("bev_ap50", "per_class_bev_ap50", "bev_ap25")),
    "mesh_spectral_cnn": (40, 16, 1e-2, ("miou", "per_class_iou", "pixel_accuracy")),
    "smpl_layer": (20, 32, 1e-2, ("mae", "rmse", "r2")),
    "image_to_3d": (10, 16, 3e-3, ("voxel_iou", "voxel_accuracy")),
}


# Wider than the tiny config where it has too few weights to learn the task (107 for ChebNet,
# 5,298 for PointPillars).
OVERRIDES = {"mesh_spectral_cnn": {"filters": [16, 16], "order": 6}, "object_detection_3d": {"pillar_features": 16}}


def lidar_points_picture(run, path, count=3):
    """Held-out range images as top-down point plots coloured by predicted and by true class."""
    from pipelines.datasets import load_dataset
    from pipelines.splits import holdout_split
    from tasks import get_task
    from tasks.plots import _pyplot, _save

    dataset = load_dataset("lidar_range_images")
    _, test = holdout_split(len(dataset), 0.2, 0)  # the runs' own test split (seed 0, unstratified)
    x, y = dataset.x[test[:count]], dataset.y[test[:count]]
    predicted = get_task("segmentation").predict(run.model, x)["class_map"]
    plt = _pyplot()
    colours = np.array([[0.7, 0.7, 0.7], [0.85, 0.1, 0.1], [0.1, 0.3, 0.9]])
    figure, axes = plt.subplots(2, count, figsize=(4 * count, 7), squeeze=False)
    for i in range(count):
        hit = x[i, ..., 4] > 0
        for row, (labels, title) in enumerate(((predicted[i], "predicted"), (y[i], "true"))):
            axis = axes[row, i]
            axis.scatter(x[i, ..., 1][hit], x[i, ..., 0][hit], s=1.5, c=colours[labels[hit]])
            axis.set_title(f"sweep {i + 1}: {title} (grey ground, red car, blue pedestrian)", fontsize=7)
            axis.set_xlabel("y (m)")
            axis.set_ylabel("x (m)")
            axis.invert_xaxis()
    _save(figure, path)


def untrained_smpl_mae():
    """Hold-out vertex MAE of the layer as initialised (template, zero blend shapes): the baseline
    that learning the blend shapes improves on."""
    import architectures
    from pipelines.datasets import load_dataset
    from pipelines.splits import holdout_split
    from tasks import get_task
    from tasks.base import take

    dataset = load_dataset("smpl_standin")
    _, test = holdout_split(len(dataset), 0.2, 0)
    model = architectures.create_model("smpl_layer", config="tiny")
    return get_task("regression").evaluate(model, take(dataset.x, test), dataset.y[test])["mae"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(ROWS))
    parser.add_argument("--epochs", type=int, default=None, help="override every row's epochs")
    args = parser.parse_args(argv)

    from pipelines.train import train

    OUT.mkdir(parents=True, exist_ok=True)
    results_path = OUT / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        epochs, batch_size, learning_rate, keys = ROWS[name]
        epochs = args.epochs or epochs
        start = time.time()
        run = train(name, model_config="tiny", epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                    model_overrides=OVERRIDES.get(name, {}), early_stopping_patience=None, runs_root=str(OUT), new_run=True, progress=lambda *a, **k: None)
        report = {key: run.metrics.get(key) for key in keys}
        report.update(epochs=epochs, seconds=round(time.time() - start, 1), run_dir=str(run.run_dir), params=run.model.count_params())
        if name == "pointseg":
            lidar_points_picture(run, OUT / "lidar_points_pointseg.png")
        if name == "smpl_layer":
            report["mae_before_training"] = untrained_smpl_mae()
        results[name] = report
        print(name, json.dumps(report, default=float), flush=True)
        results_path.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()
