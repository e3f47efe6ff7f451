"""Quality evidence for `motion_style_transfer` (Aberman et al. 2020) on the walk_cycle_styles data,
trained briefly on this machine's CPU.

    nice -n 10 python benchmarks/bench_motion_style.py [--epochs 25] [--out runs/bench_motion_style]

What it measures on held-out (content, style) pairs of a different seed than training:
    - a style classifier (scikit-learn logistic regression on each channel's mean, standard
      deviation and frame-to-frame standard deviation), trained on real walk cycles, labels the
      transferred clips: how often it says the style clip's style (target) and how often the content
      clip's own style (source), over pairs whose two styles differ; the classifier's accuracy on
      real held-out clips is printed beside it;
    - the MSE of the transfer against the true stylised clip (the content gait walked in the target
      style, known for synthetic data) next to two baselines: the content clip unchanged and the
      style clip itself;
    - the self-reconstruction L1 (a clip as its own style).
Picture: motion_style.png (stick figures at four frames: content, style, transfer, true target).
Numbers go to --out/report.json.
"""

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

OVERRIDES = dict(content_filters=(32, 64), style_filters=(32, 32), decoder_filters=(32,), mlp_units=64, discriminator_filters=(32, 32))


def style_features(clips):
    """[N, T, F] → per channel mean, std and std of the frame differences: posture, amplitude, tempo."""
    clips = np.asarray(clips, "float64")
    return np.concatenate([clips.mean(axis=1), clips.std(axis=1), np.diff(clips, axis=1).std(axis=1)], axis=1)


def style_classifier(seed):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from pipelines.sources_motion import walk_cycles

    x, y = walk_cycles(800, 32, seed=seed + 101)
    x_test, y_test = walk_cycles(400, 32, seed=seed + 202)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(style_features(x), y)
    return classifier, float(np.mean(classifier.predict(style_features(x_test)) == y_test))


def stick_figures(rows, path, frames=(0, 8, 16, 24)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.io import atomic_path
    from pipelines.sources_motion import BONES, JOINTS

    figure, axes = plt.subplots(len(rows), len(frames), figsize=(2.6 * len(frames), 2.8 * len(rows)))
    for r, (title, clip, colour) in enumerate(rows):
        for c, frame in enumerate(frames):
            axis = axes[r, c]
            points = clip[frame].reshape(len(JOINTS), 2)
            for joint, (parent, _) in BONES.items():
                a, b = points[JOINTS.index(joint)], points[JOINTS.index(parent)]
                axis.plot([a[0], b[0]], [a[1], b[1]], color=colour, lw=2)
            axis.set_xlim(-0.6, 0.6)
            axis.set_ylim(-0.6, 0.7)
            axis.set_aspect("equal")
            axis.axis("off")
            axis.set_title(f"{title}, frame {frame}", fontsize=8)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=80, bbox_inches="tight")
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/bench_motion_style")
    args = parser.parse_args(argv)

    from common.io import write_json_atomic
    from pipelines.sources_motion import STYLES, walk_style_pairs
    from pipelines.train import train

    run_dir = Path(args.out) / "motion_style_transfer"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    started = time.perf_counter()
    result = train("motion_style_transfer", model_config="tiny", run_dir=run_dir, progress=None, seed=args.seed, epochs=args.epochs,
                   batch_size=32, learning_rate=2e-3, model_overrides=OVERRIDES, early_stopping_patience=None)
    seconds = time.perf_counter() - started
    model = result.model

    content, style, target, content_label, style_label = walk_style_pairs(400, 32, seed=args.seed + 303)
    generated = np.asarray(model.predict({"content": content, "style": style}, verbose=0)["generated"])
    itself = np.asarray(model.predict({"content": content, "style": content}, verbose=0)["generated"])
    classifier, real_accuracy = style_classifier(args.seed)
    predicted = classifier.predict(style_features(generated))
    differ = content_label != style_label
    mse = lambda a: float(np.mean(np.square(a - target)))
    report = {
        "epochs": args.epochs, "train_seconds": round(seconds, 1), "held_out_pairs": len(content), "pairs_of_two_styles": int(differ.sum()),
        "classifier_accuracy_real": real_accuracy,
        "transfer_says_target_style": float(np.mean(predicted[differ] == style_label[differ])),
        "transfer_says_source_style": float(np.mean(predicted[differ] == content_label[differ])),
        "content_unchanged_says_target_style": float(np.mean(classifier.predict(style_features(content))[differ] == style_label[differ])),
        "mse_transfer_vs_true": mse(generated), "mse_content_unchanged_vs_true": mse(content), "mse_style_clip_vs_true": mse(style),
        "self_reconstruction_l1": float(np.mean(np.abs(itself - content))),
        "run": str(run_dir),
    }
    index = int(np.flatnonzero(differ)[0])
    names = list(STYLES)
    stick_figures(
        [(f"content ({names[content_label[index]]})", content[index], "black"), (f"style ({names[style_label[index]]})", style[index], "tab:blue"),
         ("transfer", generated[index], "tab:red"), ("true target", target[index], "tab:green")],
        Path(args.out) / "motion_style.png",
    )
    write_json_atomic(Path(args.out) / "report.json", report)
    for key, value in report.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    print(f"picture: {Path(args.out) / 'motion_style.png'}")


if __name__ == "__main__":
    main()
