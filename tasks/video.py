"""Video and action recognition (family I): clips in, class scores out, plus the clip → video and
temporal-detection math.

Element structures (batched):
    one stream:   (x float32 [N, T, H, W, 3] clip pixels, y int32 [N] action ids)
    two streams:  (x {"rgb": [N, T, H, W, 3], "flow": [N, T, H, W, 2] (dx, dy) per frame}, y int32 [N])
    untrimmed:    (x float32 [N, C, T, H, W, 3] C consecutive clips, y int32 [N, C] per-clip ids,
                  0 = background): the model outputs per-clip scores [N, C, K].

The loss and metrics are classification's (sparse cross-entropy over the last axis, which Keras
applies per clip for [N, C] targets). Image augmentation presets do not apply: a horizontal flip
turns "left" into "right", and a per-frame random crop breaks the motion; so none by default.
`build_augmentation("motion")` (or a dict of `MOTION_AUGMENTATION`'s keys) is the video kind's own:
transforms of the whole clip that map every motion class onto a known one, with the label mapped
too (`motion_label_maps`): a horizontal flip swaps left and right, a vertical flip up and down,
playing the clip backwards swaps left/right, up/down and zoom in/out (rotation, bounce and static
keep their class), and one random shift of every frame (reflected borders) moves the scene
without changing its motion.
"""

import numpy as np

from tasks.base import random_inputs
from tasks.classification import Classification, predicted_classes

# The "motion" preset: each transform's probability, and the largest shift in pixels.
MOTION_AUGMENTATION = {"flip_horizontal": 0.5, "flip_vertical": 0.5, "reverse": 0.5, "shift": 4}
# Class names each transform swaps; every other class keeps its label (a mirrored or reversed
# rotation is a rotation, a reversed bounce a bounce, a static clip stays static).
MOTION_SWAPS = {
    "flip_horizontal": (("left", "right"),),
    "flip_vertical": (("up", "down"),),
    "reverse": (("left", "right"), ("up", "down"), ("zoom_in", "zoom_out")),
}


def _single_output(outputs):
    if isinstance(outputs, dict):
        return np.asarray(next(iter(outputs.values())))
    return np.asarray(outputs)


class Video(Classification):
    name = "video"
    element = (
        "(x float32 [N, T, H, W, 3] clip pixels 0..255, or {'rgb': ..., 'flow': [N, T, H, W, 2]}, "
        "or [N, C, T, H, W, 3] untrimmed clip sequences; y int32 [N] or [N, C] action ids)"
    )
    default_dataset = "moving_shapes"
    export_outputs = "class probabilities [N, K] (per clip), or [N, C, K] per clip of an untrimmed sequence"
    augmentation = None  # image presets break motion labels (a flip swaps left and right)

    def stratify_labels(self, y):
        y = np.asarray(y)
        return y if y.ndim == 1 else None

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        """Two-stream inputs size their model by name: `rgb_shape`, `flow_shape`."""
        if not isinstance(x_train, dict):
            return {}
        return {f"{key}_shape": list(value.shape[1:]) for key, value in x_train.items() if f"{key}_shape" in accepted}

    def score(self, y_true, outputs, class_names=None):
        probabilities = _single_output(outputs)
        y_true = np.asarray(y_true)
        report = super().score(y_true.reshape(-1), probabilities.reshape(-1, probabilities.shape[-1]), class_names)
        if y_true.ndim == 2:  # untrimmed sequences: per-clip scores → activity segments
            report.update(temporal_detection_report(y_true, probabilities))
        return report

    def plots(self, run_dir, model, x, y, report, class_names=None, count=4):
        """The confusion matrix, and `frame_strips.png`: held-out clips (the RGB stream; the first
        clip of an untrimmed sequence) as strips of frames, titled with the true and predicted action."""
        from tasks import plots

        super().plots(run_dir, model, x, y, report, class_names)
        take = lambda value: np.asarray(value)[:count]  # noqa: E731
        x_few = {k: take(v) for k, v in x.items()} if isinstance(x, dict) else take(x)
        probabilities = _single_output(self.predict(model, x_few))
        clips = np.asarray(x_few["rgb"] if isinstance(x_few, dict) else x_few)
        truth, predicted = np.asarray(y)[:count], probabilities.argmax(-1)
        if clips.ndim == 6:  # untrimmed [N, C, T, H, W, 3]: the first clip of each sequence
            clips, truth, predicted = clips[:, 0], truth[:, 0], predicted[:, 0]
        name = lambda i: class_names[int(i)] if class_names else str(int(i))  # noqa: E731
        titles = [f"true {name(t)} · predicted {name(p)}" for t, p in zip(truth, predicted)]
        plots.frame_strips(clips, titles, run_dir / "frame_strips.png")

    def example_batch(self, model, n, seed):
        from tasks.base import model_input_specs

        specs = model_input_specs(model)
        inputs = random_inputs(specs, n, seed)
        x = inputs if len(specs) > 1 else inputs[specs[0].name]
        output_shape = tuple(model.outputs[0].shape[1:])
        classes = max(2, int(output_shape[-1]))
        per_example = int(np.prod(output_shape[:-1])) if len(output_shape) > 1 else 1
        y = (np.arange(n * per_example) % classes).astype("int32")
        return x, (y.reshape(n, *output_shape[:-1]) if len(output_shape) > 1 else y)

    def quantized_reference(self, reference_outputs):
        return predicted_classes(_single_output(reference_outputs))

    def build_augmentation(self, config, dataset, seed):
        """Label-mapping motion augmentation (see the module docstring): "motion" or a dict with
        keys of `MOTION_AUGMENTATION` (probabilities, and `shift` in pixels); None for "none"."""
        if config in (None, "none", {}):
            return None
        if config == "motion":
            config = dict(MOTION_AUGMENTATION)
        if not isinstance(config, dict) or set(config) - set(MOTION_AUGMENTATION):
            raise ValueError(f"video augmentation is 'motion' or a dict with keys {sorted(MOTION_AUGMENTATION)}. Received: {config!r}")
        if isinstance(dataset.x, dict) and config.get("reverse"):
            # Backwards flow is the inverse warp sampled at the next frame's pixels, not a relabelling.
            config = {**config, "reverse": 0.0}
        return motion_augmentation(config, motion_label_maps(dataset.class_names), seed)


# --- augmentation ---------------------------------------------------------------------------


def motion_label_maps(class_names):
    """{transform: int32 [K] new label of each class} from `MOTION_SWAPS` and the class names."""
    names = list(class_names)
    maps = {}
    for transform, pairs in MOTION_SWAPS.items():
        table = np.arange(len(names), dtype="int32")
        for a, b in pairs:
            if a in names and b in names:
                table[names.index(a)], table[names.index(b)] = names.index(b), names.index(a)
        maps[transform] = table
    return maps


def motion_augmentation(config, label_maps, seed=0):
    """A batch transform `(x, y) -> (x, y)` of clips [B, T, H, W, C] (labels [B]), untrimmed clip
    sequences [B, C, T, H, W, 3] (labels [B, C]) or {"rgb", "flow"} clips.

    Each example is flipped left-right, up-down and played backwards with the probabilities of
    `config` (labels mapped by `label_maps`; a flip also mirrors the flow and negates its x or y
    component), and shifted by one random (dy, dx) in [-shift, shift] pixels for all its frames."""
    import tensorflow as tf

    shift = int(config.get("shift", 0))
    maps = {name: tf.constant(table) for name, table in label_maps.items()}

    def first(x):
        return x["rgb"] if isinstance(x, dict) else x

    def choose(mask, new, old):
        mask = tf.reshape(mask, [-1] + [1] * (len(old.shape) - 1))
        return tf.where(mask, new, old)

    def transform(x, mask, spatial_axis=None, time_axes=None, flow_sign=None):
        def one(name, value):
            axes = [len(value.shape) + spatial_axis] if spatial_axis is not None else list(time_axes)
            new = tf.reverse(value, axes)
            if name == "flow" and flow_sign is not None:
                new = new * tf.constant(flow_sign, new.dtype)
            return choose(mask, new, value)

        if isinstance(x, dict):
            return {name: one(name, value) for name, value in x.items()}
        return one("clip", x)

    def augment(x, y):
        batch = tf.shape(first(x))[0]
        rank = len(first(x).shape)
        draws = tf.random.uniform([3, batch], seed=seed)
        for index, (name, axis, sign) in enumerate(
            (("flip_horizontal", -2, (-1.0, 1.0)), ("flip_vertical", -3, (1.0, -1.0)), ("reverse", None, None))
        ):
            probability = float(config.get(name, 0.0))
            if probability <= 0.0:
                continue
            mask = draws[index] < probability
            time_axes = list(range(1, rank - 3)) if axis is None else None
            x = transform(x, mask, axis, time_axes, sign)
            new_y = tf.gather(maps[name], y)
            if name == "reverse" and len(y.shape) == 2:  # a backwards sequence: its clips' labels too
                new_y = tf.reverse(new_y, [1])
            y = choose(mask, new_y, y)
        if shift > 0:
            offsets = tf.random.uniform([batch, 2], -shift, shift + 1, dtype=tf.int32, seed=seed + 1)

            def move(value):
                height, width = value.shape[-3], value.shape[-2]
                pad = [[0, 0]] * (len(value.shape) - 3) + [[shift, shift], [shift, shift], [0, 0]]
                padded = tf.pad(value, pad, mode="SYMMETRIC")
                rows = tf.range(height)[None] + shift + offsets[:, :1]
                cols = tf.range(width)[None] + shift + offsets[:, 1:]
                padded = tf.gather(padded, rows, axis=len(value.shape) - 3, batch_dims=1)
                return tf.gather(padded, cols, axis=len(value.shape) - 2, batch_dims=1)

            x = {name: move(value) for name, value in x.items()} if isinstance(x, dict) else move(x)
        return x, y

    return augment


# --- clip → video -----------------------------------------------------------------------------


def video_average(clip_scores, video_ids):
    """Averages clip scores [N, K] over the clips of each video: (ids [V], scores [V, K]), ids sorted."""
    clip_scores = np.asarray(clip_scores, dtype=np.float64)
    ids, inverse = np.unique(np.asarray(video_ids), return_inverse=True)
    sums = np.zeros((len(ids), clip_scores.shape[-1]))
    np.add.at(sums, inverse, clip_scores)
    counts = np.bincount(inverse, minlength=len(ids))[:, None]
    return ids, sums / counts


def video_accuracy(clip_scores, labels, video_ids):
    """Per-video accuracy of the averaged clip scores (each video's label is its clips' label)."""
    ids, scores = video_average(clip_scores, video_ids)
    labels = np.asarray(labels)
    video_labels = np.array([labels[np.asarray(video_ids) == i][0] for i in ids])
    return float(np.mean(np.argmax(scores, axis=-1) == video_labels))


# --- temporal detection (C3D + RNN, Montes et al. 2016) ----------------------------------------


def segments_from_labels(labels, background=0):
    """Runs of equal non-background labels: [(start, end_exclusive, label)] in clip units."""
    segments, start = [], 0
    labels = list(np.asarray(labels).reshape(-1))
    for index in range(1, len(labels) + 1):
        if index == len(labels) or labels[index] != labels[start]:
            if labels[start] != background:
                segments.append((start, index, int(labels[start])))
            start = index
    return segments


def detect_segments(probabilities, threshold=0.2, smoothing=1, background=0):
    """Montes et al.'s post-processing of per-clip probabilities [C, K] into activity segments.

    The probabilities are smoothed over `smoothing` clips (a moving mean), each clip takes its most
    likely class, clips whose best activity probability is below γ = `threshold` become background,
    and runs of one class become segments scored by their mean probability: [(start, end, label,
    score)].
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if smoothing > 1:
        kernel = np.ones(smoothing) / smoothing
        pad = smoothing // 2
        padded = np.pad(probabilities, ((pad, smoothing - 1 - pad), (0, 0)), mode="edge")
        probabilities = np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(probabilities.shape[1])], axis=1)
    labels = np.argmax(probabilities, axis=-1)
    labels = np.where(np.max(probabilities, axis=-1) >= threshold, labels, background)
    return [(s, e, c, float(probabilities[s:e, c].mean())) for s, e, c in segments_from_labels(labels, background)]


def segment_iou(a, b):
    """Temporal intersection over union of two segments (start, end_exclusive, ...)."""
    intersection = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - intersection
    return intersection / union if union > 0 else 0.0


def temporal_detection_report(y_true, probabilities, threshold=0.2, iou_threshold=0.5, background=0):
    """Segment-level scores of per-clip probabilities [N, C, K] against per-clip labels [N, C].

    mean_segment_iou: mean over ground-truth segments of the best IoU with a detection of the same
    class (0 when none); segment_precision / segment_recall at IoU ≥ `iou_threshold` with one-to-one
    greedy matching by score.
    """
    ious, matched_true, detections_total, truths_total = [], 0, 0, 0
    for labels, probs in zip(np.asarray(y_true), np.asarray(probabilities)):
        truths = segments_from_labels(labels, background)
        detections = sorted(detect_segments(probs, threshold, background=background), key=lambda d: -d[3])
        truths_total += len(truths)
        detections_total += len(detections)
        for truth in truths:
            ious.append(max([segment_iou(truth, d) for d in detections if d[2] == truth[2]], default=0.0))
        used = set()
        for detection in detections:
            candidates = [
                (segment_iou(truth, detection), i) for i, truth in enumerate(truths) if truth[2] == detection[2] and i not in used
            ]
            best = max(candidates, default=(0.0, None))
            if best[1] is not None and best[0] >= iou_threshold:
                used.add(best[1])
        matched_true += len(used)
    return {
        "mean_segment_iou": float(np.mean(ious)) if ious else 0.0,
        "segment_precision": matched_true / detections_total if detections_total else 0.0,
        "segment_recall": matched_true / truths_total if truths_total else 0.0,
    }
