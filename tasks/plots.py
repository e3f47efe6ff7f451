"""PNG plots of results worth looking at (matplotlib, headless)."""

import csv
from pathlib import Path

from common.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path):
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=110, bbox_inches="tight")
    _pyplot().close(figure)


def training_curves(history_csv, out_path):
    """Loss and every tracked metric per epoch, training vs validation, one panel each."""
    rows = list(csv.DictReader(open(history_csv))) if Path(history_csv).is_file() else []
    if not rows:
        return None
    names = [k for k in rows[0] if k not in ("epoch", "learning_rate") and not k.startswith("val_")]
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.4), squeeze=False)
    epochs = [int(r["epoch"]) + 1 for r in rows]

    def series(key):
        # CSVLogger writes "NA" for metrics an epoch did not produce (no validation split).
        return [float(r[key]) if r.get(key) not in (None, "", "NA") else float("nan") for r in rows]

    for axis, name in zip(axes[0], names):
        axis.plot(epochs, series(name), label="train")
        if f"val_{name}" in rows[0] and any(r[f"val_{name}"] not in ("", "NA") for r in rows):
            axis.plot(epochs, series(f"val_{name}"), label="validation")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    _save(figure, out_path)
    return out_path


def confusion_matrix(matrix, class_names, out_path):
    import numpy as np

    matrix = np.asarray(matrix)
    names = class_names or [str(i) for i in range(len(matrix))]
    plt = _pyplot()
    size = max(4.0, 0.45 * len(names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axis.set_yticks(range(len(names)), names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for (i, j), value in np.ndenumerate(matrix):
        axis.text(j, i, str(value), ha="center", va="center", color="white" if value > matrix.max() / 2 else "black", fontsize=8)
    figure.colorbar(image, ax=axis, fraction=0.046)
    axis.set_title("hold-out confusion matrix")
    _save(figure, out_path)
    return out_path


def frame_strips(clips, titles, out_path, frames_per_strip=6):
    """One row per clip: evenly spaced frames of [T, H, W, 3] pixels (0..255), titled (e.g. true vs
    predicted action)."""
    import numpy as np

    clips = np.asarray(clips)
    plt = _pyplot()
    count = min(frames_per_strip, clips.shape[1])
    picks = np.linspace(0, clips.shape[1] - 1, count).round().astype(int)
    figure, axes = plt.subplots(len(clips), count, figsize=(1.6 * count, 1.8 * len(clips)), squeeze=False)
    for row, (clip, title) in enumerate(zip(clips, titles)):
        for column, frame in enumerate(picks):
            axis = axes[row][column]
            axis.imshow(np.clip(clip[frame], 0, 255).astype("uint8"))
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_xlabel(f"t = {frame}", fontsize=7)
        axes[row][0].set_title(title, fontsize=8, loc="left")
    _save(figure, out_path)
    return out_path

