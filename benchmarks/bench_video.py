"""Quality of the video family's tiny configs on moving_shapes: hold-out per-clip and per-video
accuracy (spec §2 I; the issue's goal: ≥ 0.9 for c3d, i3d, two_stream and tsn tiny, and the
single-frame baseline below the fusion models).

Each video is 12 frames cut into 3 overlapping 8-frame clips; the split is by video (no clip of a
test video is trained on), and a video's prediction is the average of its clips' probabilities
(`tasks.video.video_average`). One model per run keeps each run within a few CPU minutes:

    nice -n 10 .venv/bin/python benchmarks/bench_video.py --models c3d --epochs 40 --augment motion
    nice -n 10 .venv/bin/python benchmarks/bench_video.py --models single_frame_cnn,slow_fusion_cnn
    nice -n 10 .venv/bin/python benchmarks/bench_video.py --models cnn_rnn_video --epochs 20 --learning-rate 2e-3
    nice -n 10 .venv/bin/python benchmarks/bench_video.py --models lrcn --epochs 20 --learning-rate 2e-3 --set dropout=0.5

`--augment motion` trains on the task's label-mapping augmentation (`tasks.video`: flips and time
reversal with the label mapped, one random shift per clip); `--schedule cosine` decays the learning
rate to zero over the run.

Results are printed and written to runs/bench_video/<model>.json, with the hold-out clips' confusion
matrix in runs/bench_video/<model>_confusion.png.
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

TWO_STREAM_INPUTS = ("rgb_shape", "flow_shape")


def split_by_video(labels, video_ids, test_fraction, seed):
    """Clip indices (train, test), stratified on the videos' labels, every clip of a video together."""
    from sklearn.model_selection import train_test_split

    videos = np.unique(video_ids)
    video_labels = np.array([labels[video_ids == v][0] for v in videos])
    train_videos, test_videos = train_test_split(videos, test_size=test_fraction, random_state=seed, stratify=video_labels)
    return np.flatnonzero(np.isin(video_ids, train_videos)), np.flatnonzero(np.isin(video_ids, test_videos))


def run(name, data, epochs, batch_size, learning_rate, seed, settings=None, augment=None, schedule="constant", out=None):
    import keras

    import architectures
    from architectures.registry import constructor_arguments
    from pipelines.train import adapt_batchnorm_momentum, normalization_statistics
    from pipelines.datasets import Dataset
    from pipelines.sources_video import MOTIONS
    from tasks import get_task
    from tasks.video import video_accuracy

    clips, flows, labels, video_ids = data
    train_idx, test_idx = split_by_video(labels, video_ids, 0.25, seed)
    spec = architectures.get_spec(name)
    accepted = constructor_arguments(spec)
    two_stream = "rgb_shape" in accepted
    keras.utils.set_random_seed(seed)
    overrides = {"num_classes": 9, **(settings or {})}
    if two_stream:
        x = {"rgb": clips, "flow": flows}
        overrides.update(rgb_shape=list(clips.shape[1:]), flow_shape=list(flows.shape[1:]))
    else:
        x = clips
        overrides["input_shape"] = list(clips.shape[1:])
        mean, std = normalization_statistics(clips[train_idx])
        overrides["preprocessing"] = {"mean": mean, "std": std}
    model = architectures.create_model(name, config="tiny", **overrides)
    take = lambda idx: {k: v[idx] for k, v in x.items()} if two_stream else x[idx]
    # As `deepzoo train` does: BatchNorm's moving averages span ~1 % of this short run (with the
    # default 0.99 the tiny I3D scored 1.0 on training clips and 0.28 on held-out ones).
    steps = int(np.ceil(len(train_idx) / batch_size)) * epochs
    adapt_batchnorm_momentum(model, "auto", steps)
    if schedule == "cosine":  # per step, to zero at the end of the run
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    # The task's label-mapping motion augmentation (tasks.video), on the training clips only.
    task = get_task("video")
    train_data = Dataset(name="moving_shapes", task="video", x=take(train_idx), y=labels[train_idx], class_names=list(MOTIONS))
    augment_fn = task.build_augmentation(augment, train_data, seed)
    train_ds = task.make_dataset(train_data.x, train_data.y, batch_size, shuffle=True, augment=augment_fn, seed=seed)
    started = time.perf_counter()
    history = model.fit(train_ds, epochs=epochs, verbose=0)
    seconds = time.perf_counter() - started
    probabilities = model.predict(take(test_idx), batch_size=128, verbose=0)
    clip_accuracy = float(np.mean(np.argmax(probabilities, -1) == labels[test_idx]))
    if out is not None:  # the hold-out clips' confusion matrix, a picture per model
        from sklearn.metrics import confusion_matrix

        from tasks import plots

        matrix = confusion_matrix(labels[test_idx], np.argmax(probabilities, -1), labels=range(len(MOTIONS)))
        plots.confusion_matrix(matrix, list(MOTIONS), Path(out) / f"{name}_confusion.png")
    return {
        "model": name,
        "params": int(model.count_params()),
        "epochs": epochs,
        "settings": settings or {},
        "augment": augment or "none",
        "schedule": schedule,
        "learning_rate": float(learning_rate if isinstance(learning_rate, float) else learning_rate.initial_learning_rate),
        "train_videos": int(len(np.unique(video_ids[train_idx]))),
        "train_seconds": round(seconds, 1),
        "train_accuracy_last_epoch": round(float(history.history["accuracy"][-1]), 4),
        "test_clips": int(len(test_idx)),
        "test_videos": int(len(np.unique(video_ids[test_idx]))),
        "clip_accuracy": round(clip_accuracy, 4),
        "video_accuracy": round(video_accuracy(probabilities, labels[test_idx], video_ids[test_idx]), 4),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="c3d", help="comma-separated registry names")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--num-per-class", type=int, default=80, help="videos per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="tiny-config override, e.g. dropout=0.5")
    parser.add_argument("--augment", default="none", help="'none', 'motion' or a JSON dict (tasks.video.MOTION_AUGMENTATION keys)")
    parser.add_argument("--schedule", choices=("constant", "cosine"), default="constant")
    parser.add_argument("--out", default="runs/bench_video")
    args = parser.parse_args(argv)

    from pipelines.sources_video import generate_moving_shapes

    data = generate_moving_shapes(seed=args.seed, num_per_class=args.num_per_class, clips_per_video=3)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {key: json.loads(value) for key, value in (item.split("=", 1) for item in args.set)}
    augment = args.augment if args.augment in ("none", "motion") else json.loads(args.augment)
    for name in args.models.split(","):
        result = run(name.strip(), data, args.epochs, args.batch_size, args.learning_rate, args.seed, settings, augment, args.schedule, out)
        print(json.dumps(result), flush=True)
        (out / f"{result['model']}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
