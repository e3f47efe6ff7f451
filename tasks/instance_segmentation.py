"""Instance segmentation (Mask R-CNN, He, Gkioxari, Dollár & Girshick 2017): per object a box, a
class and a binary mask.

The task is two-stage detection (tasks/two_stage.py: proposals, RoIAlign, the head's sampled
minibatch, class-specific decoding, per-class NMS) plus what masks need:

- `mask_targets`: each sampled foreground RoI's ground-truth mask — the instance mask of the box it
  was matched to — cropped to the RoI and resampled to the mask head's M × M grid by RoIAlign
  (bilinear, no quantisation), thresholded at 0.5 (the paper's "the intersection between an RoI and
  its associated ground-truth mask");
- `mask_loss`: the average per-pixel binary cross-entropy of the ground-truth class's channel only
  (the K masks do not compete, §3), over the foreground RoIs;
- `paste_masks`: the endpoint's M × M mask probabilities of each detection resized into its box
  in the image and thresholded at 0.5 (§3 "Inference");
- scoring: COCO box AP and mask AP (faster-coco-eval's COCOeval with iouType "segm", masks RLE
  encoded by its mask utils);
- export verification: detections matched as sets (IoU ≥ 0.99, same class), then each matched
  pair's thresholded 28 × 28 mask IoU ≥ 0.99 (pixels whose Keras probability is within the
  tolerance of 0.5 left out: a float rounding may flip them).

Data: the detection scenes (`shapes_scenes`) carry "instance_masks" uint8 [N, M, H, W] aligned with
"boxes" and "classes"; augmentation is a horizontal flip that moves image, boxes and masks together
(plus Keras' colour layers, which move nothing).
"""

import math

import numpy as np

from tasks.base import CheckOutcome, length, take
from tasks.detection import AUGMENT_PRESETS, coco_evaluation, coco_summary, match_detections, synthetic_scenes, valid_detections
from tasks.two_stage import TwoStageDetection, roi_align


# --- RoIAlign on a feature pyramid (graph code) --------------------------------------------------


def fpn_levels(rois, num_levels, first_level=2, canonical_box_size=224.0, canonical_level=4):
    """FPN eq. 1: the pyramid level index (0 = the finest, P`first_level`) each RoI [N, R, 4] reads,
    k = ⌊k0 + log2(√(wh) / canonical_box_size)⌋ clipped to the pyramid. Returns int32 [N, R]."""
    from keras import ops

    rois = ops.cast(rois, "float32")
    side = ops.sqrt(ops.maximum((rois[..., 2] - rois[..., 0]) * (rois[..., 3] - rois[..., 1]), 1e-6))
    level = ops.floor(canonical_level + ops.log2(side / canonical_box_size))
    return ops.cast(ops.clip(level, float(first_level), float(first_level + num_levels - 1)) - first_level, "int32")


def pyramid_roi_align(features, rois, strides, levels, output_size, sampling_ratio=2):
    """RoIAlign of each RoI on its own pyramid level in one pass: features [[N, h_l, w_l, C] per
    level], rois [N, R, 4] xyxy pixels, levels int [N, R] (0-based, `fpn_levels`). The levels are
    flattened into one table and each RoI's scale, size and offset looked up, so the cost is one
    RoIAlign whatever the number of levels (same convention as `tasks.two_stage.roi_align`:
    half-pixel aligned, sampling_ratio² bilinear samples per bin, samples over one cell outside
    the map give 0). Returns [N, R, S, S, C]."""
    from keras import ops

    size, s = int(output_size), int(sampling_ratio)
    channels = features[0].shape[-1]
    heights = [int(f.shape[1]) for f in features]
    widths = [int(f.shape[2]) for f in features]
    offsets = [0]
    for h, w in zip(heights, widths):
        offsets.append(offsets[-1] + h * w)
    table = ops.concatenate([ops.reshape(f, (-1, h * w, channels)) for f, h, w in zip(features, heights, widths)], axis=1)
    flat = ops.reshape(table, (-1, channels))  # [N · T, C]
    count = rois.shape[1]
    batch = ops.shape(rois)[0]
    levels = ops.reshape(ops.cast(levels, "int32"), (-1,))
    boxes = ops.reshape(ops.cast(rois, "float32"), (-1, 4))
    batch_index = ops.reshape(ops.repeat(ops.arange(batch)[:, None], count, axis=1), (-1,))
    scale = ops.take(ops.convert_to_tensor([1.0 / float(v) for v in strides], "float32"), levels)
    limit_h = ops.take(ops.convert_to_tensor([float(v) for v in heights], "float32"), levels)[:, None]
    limit_w = ops.take(ops.convert_to_tensor([float(v) for v in widths], "float32"), levels)[:, None]
    row_width = ops.take(ops.convert_to_tensor(widths, "int32"), levels)[:, None, None]
    base = (batch_index * offsets[-1] + ops.take(ops.convert_to_tensor(offsets[:-1], "int32"), levels))[:, None, None]
    x1, y1, x2, y2 = (boxes[:, i] * scale - 0.5 for i in range(4))
    steps = (ops.arange(size * s, dtype="float32") + 0.5) / float(s)
    ys = y1[:, None] + steps[None, :] * ((y2 - y1) / float(size))[:, None]  # [M, S·s]
    xs = x1[:, None] + steps[None, :] * ((x2 - x1) / float(size))[:, None]

    def axis_weights(coord, limit):
        inside = ops.logical_and(coord >= -1.0, coord <= limit)
        coord = ops.minimum(ops.maximum(coord, 0.0), limit - 1.0)
        low = ops.floor(coord)
        high = ops.minimum(low + 1.0, limit - 1.0)
        return ops.cast(low, "int32"), ops.cast(high, "int32"), coord - low, ops.cast(inside, "float32")

    y_lo, y_hi, fy, y_in = axis_weights(ys, limit_h)
    x_lo, x_hi, fx, x_in = axis_weights(xs, limit_w)

    def gather(yi, xi):
        index = base + yi[:, :, None] * row_width + xi[:, None, :]  # [M, S·s, S·s]
        return ops.reshape(ops.take(flat, ops.reshape(index, (-1,)), axis=0), (-1, size * s, size * s, channels))

    wx0, wx1 = (1.0 - fx)[:, None, :, None], fx[:, None, :, None]
    top = gather(y_lo, x_lo) * wx0 + gather(y_lo, x_hi) * wx1
    bottom = gather(y_hi, x_lo) * wx0 + gather(y_hi, x_hi) * wx1
    values = top * (1.0 - fy)[:, :, None, None] + bottom * fy[:, :, None, None]
    values = values * (y_in[:, :, None] * x_in[:, None, :])[..., None]
    values = ops.reshape(values, (-1, size, s, size, s, channels))
    return ops.reshape(ops.mean(values, axis=(2, 4)), (-1, count, size, size, channels))


# --- mask targets and loss (graph code) -----------------------------------------------------------


def mask_targets(rois, matched, instance_masks, mask_size):
    """rois [N, R, 4] xyxy pixels, matched int [N, R] (index of each RoI's ground-truth box),
    instance_masks [N, M, H, W] 0/1 → binary targets float32 [N, R, S, S] (S = mask_size): the
    matched instance's mask inside the RoI, RoIAlign-resampled (2 × 2 samples per cell) and
    thresholded at 0.5."""
    from keras import ops

    masks = ops.cast(instance_masks, "float32")
    height, width = masks.shape[2], masks.shape[3]
    count = rois.shape[1]
    chosen = ops.take_along_axis(masks, ops.cast(matched, "int32")[:, :, None, None], axis=1)  # [N, R, H, W]
    maps = ops.reshape(chosen, (-1, height, width, 1))  # one map per RoI
    boxes = ops.reshape(ops.cast(rois, "float32"), (-1, 1, 4))
    resampled = roi_align(maps, boxes, 1.0, mask_size, sampling_ratio=2)  # [N·R, 1, S, S, 1]
    return ops.cast(ops.reshape(resampled, (-1, count, mask_size, mask_size)) >= 0.5, "float32")


def match_to_boxes(rois, gt_boxes, gt_classes):
    """Index of each RoI's highest-IoU ground-truth box (padding boxes never win): [N, R] int32,
    the assignment `tasks.two_stage.head_targets` labels the RoIs by."""
    from keras import ops

    from tasks import detection as det

    iou = det.box_iou(ops.cast(rois, "float32"), ops.cast(gt_boxes, "float32"))
    iou = ops.where((ops.cast(gt_classes, "int32") >= 0)[:, None, :], iou, -1.0)
    return ops.cast(ops.argmax(iou, axis=-1), "int32")


def mask_loss(mask_logits, labels, targets, weights):
    """Mask R-CNN's L_mask: mask_logits [N, R, S, S, K], labels int [N, R] (0 background, c + 1
    object class c), targets [N, R, S, S], weights [N, R] (1 = sampled). The average binary
    cross-entropy over the S² pixels of the ground-truth class's channel, averaged over the sampled
    foreground RoIs (background RoIs add nothing)."""
    from keras import ops

    num_classes = mask_logits.shape[-1]
    logits = ops.cast(mask_logits, "float32")
    own = ops.sum(logits * ops.one_hot(ops.maximum(labels - 1, 0), num_classes)[:, :, None, None, :], axis=-1)  # [N, R, S, S]
    # log(1 + e^{-|z|}) + max(z, 0) − z·t: the numerically stable sigmoid cross-entropy
    per_pixel = ops.maximum(own, 0.0) - own * targets + ops.log1p(ops.exp(-ops.abs(own)))
    foreground = ops.cast(labels > 0, "float32") * ops.cast(weights, "float32")
    per_roi = ops.mean(per_pixel, axis=(2, 3))
    return ops.sum(per_roi * foreground) / ops.maximum(ops.sum(foreground), 1.0)


# --- pasting and scoring (numpy) ------------------------------------------------------------------


def paste_masks(boxes, masks, image_size, threshold=0.5):
    """Detections' M × M mask probabilities [D, M, M] into the image: each resized (bilinear, at the
    box's pixel centres) into its xyxy box and thresholded. Returns uint8 [D, H, W]."""
    height, width = int(image_size[0]), int(image_size[1])
    boxes, masks = np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(masks, np.float32)
    out = np.zeros((len(boxes), height, width), np.uint8)
    if not len(boxes):
        return out
    size = masks.shape[-1]
    ys, xs = np.arange(height) + 0.5, np.arange(width) + 0.5
    for index, (box, mask) in enumerate(zip(boxes, masks)):
        x1, y1, x2, y2 = box
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            continue
        # pixel centre → continuous mask coordinate (cell centres at i + 0.5)
        u = (xs - x1) / (x2 - x1) * size - 0.5
        v = (ys - y1) / (y2 - y1) * size - 0.5
        inside_x, inside_y = (xs >= x1) & (xs < x2), (ys >= y1) & (ys < y2)
        u, v = np.clip(u, 0.0, size - 1.0), np.clip(v, 0.0, size - 1.0)
        u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
        u1, v1 = np.minimum(u0 + 1, size - 1), np.minimum(v0 + 1, size - 1)
        fu, fv = (u - u0)[None, :], (v - v0)[:, None]
        value = (mask[v0][:, u0] * (1 - fu) * (1 - fv) + mask[v0][:, u1] * fu * (1 - fv)
                 + mask[v1][:, u0] * (1 - fu) * fv + mask[v1][:, u1] * fu * fv)
        out[index] = (value >= threshold) & inside_y[:, None] & inside_x[None, :]
    return out


def mask_coco_evaluation(y_true, outputs, class_names=None):
    """COCO mask AP (faster-coco-eval COCOeval, iouType "segm") of the endpoint's outputs (boxes,
    scores, classes, num_detections, masks [N, D, M, M]) against y_true's instance_masks.
    Returns {"mask_map", "mask_map50", "mask_map75", "mask_ap50_per_class"}."""
    from faster_coco_eval import COCO, COCOeval_faster
    from faster_coco_eval.core import mask as mask_utils

    truth_masks = np.asarray(y_true["instance_masks"])
    classes_true = np.asarray(y_true["classes"])
    n, image_size = len(classes_true), truth_masks.shape[2:4]
    names = list(class_names) if class_names else [str(i) for i in range(int(max(classes_true.max(initial=-1), np.max(outputs["classes"], initial=-1)) + 1))]

    def rle(binary):
        encoded = mask_utils.encode(np.asfortranarray(binary.astype(np.uint8)))
        encoded["counts"] = encoded["counts"].decode() if isinstance(encoded["counts"], bytes) else encoded["counts"]
        return encoded

    images, annotations, results = [], [], []
    for index in range(n):
        images.append({"id": index + 1, "width": int(image_size[1]), "height": int(image_size[0])})
        for slot in np.flatnonzero(classes_true[index] >= 0):
            binary = truth_masks[index, slot] > 0
            if not binary.any():
                continue
            encoded = rle(binary)
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1, "category_id": int(classes_true[index, slot]) + 1,
                                "segmentation": encoded, "area": float(binary.sum()),
                                "bbox": [float(v) for v in mask_utils.toBbox(encoded)], "iscrowd": 0})
        boxes, scores, classes = valid_detections(outputs, index)
        pasted = paste_masks(boxes, np.asarray(outputs["masks"][index])[: len(boxes)], image_size)
        for binary, score, cls in zip(pasted, scores, classes):
            results.append({"image_id": index + 1, "category_id": int(cls) + 1, "score": float(score), "segmentation": rle(binary)})
    empty = {"mask_map": 0.0, "mask_map50": 0.0, "mask_map75": 0.0, "mask_ap50_per_class": {}}
    if not annotations:
        return empty
    ground_truth = COCO({"images": images, "annotations": annotations, "categories": [{"id": i + 1, "name": nm} for i, nm in enumerate(names)]})
    if not results:
        return empty
    evaluator = COCOeval_faster(ground_truth, ground_truth.loadRes(results), iouType="segm", print_function=lambda *a, **k: None)
    evaluator.run()
    stats, per_class = coco_summary(evaluator, names)
    return {"mask_map": stats[0], "mask_map50": stats[1], "mask_map75": stats[2], "mask_ap50_per_class": per_class}


def _mask_iou(reference, actual, tolerance):
    """IoU of two thresholded M × M probability masks, pixels within `tolerance` of 0.5 in the
    reference left out (1.0 where both are empty)."""
    certain = np.abs(reference - 0.5) > tolerance
    a, b = (reference >= 0.5) & certain, (actual >= 0.5) & certain
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


# --- the task -------------------------------------------------------------------------------------


class InstanceSegmentation(TwoStageDetection):
    """Boxes, classes and masks per object (mask_rcnn). Two-stage detection plus masks: targets add
    "instance_masks", the endpoint adds "masks" [N, D, M, M] (each detection's mask probabilities in
    its box), `score` adds COCO mask AP, plots show the masks."""

    name = "instance_segmentation"
    data_tasks = ("detection",)  # the detection scenes carry instance masks
    element = (
        "(x float32 [N, H, W, 3] pixels 0..255, y {boxes float32 [N, M, 4] xyxy pixels, -1 rows pad; "
        "classes int32 [N, M], -1 pad; instance_masks uint8 [N, M, H, W] 0/1})"
    )
    objective = ("mask_map50", "max")
    export_outputs = (
        "boxes float32 [N, D, 4] xyxy pixels, scores float32 [N, D], classes int32 [N, D] (-1 pad), num_detections "
        "int32 [N], masks float32 [N, D, 28, 28] (each detection's mask probabilities inside its box; paste and "
        "threshold at 0.5); decoding, NMS and the mask head inside the graph"
    )

    def fit_targets(self, model, y, **_):
        targets = super().fit_targets(model, y)
        if "instance_masks" not in y:
            raise ValueError(f"Instance segmentation targets need 'instance_masks' [N, M, H, W]. Received: {sorted(y)}")
        masks = np.asarray(y["instance_masks"])
        if masks.ndim != 4 or masks.shape[:2] != targets["classes"].shape:
            raise ValueError(f"instance_masks must be [N, M, H, W] with the classes' [N, M] = {targets['classes'].shape}. Received: {masks.shape}")
        image_size = tuple(int(v) for v in getattr(model, "image_size", masks.shape[2:]))
        if tuple(masks.shape[2:]) != image_size:
            raise ValueError(f"instance_masks must match the image size {image_size}. Received: mask size {tuple(masks.shape[2:])}")
        num_classes = int(getattr(model, "num_classes", 0) or 0)
        if num_classes and targets["classes"].max(initial=-1) >= num_classes:
            raise ValueError(f"class ids must be in 0..{num_classes - 1}. Received: max class id {int(targets['classes'].max())}")
        return {**targets, "instance_masks": (masks > 0).astype(np.uint8)}

    def build_augmentation(self, config, dataset=None, seed=0):
        """A random horizontal flip of image, boxes and instance masks together, plus Keras' colour
        layers (brightness, contrast). Presets and keys as detection; translate and zoom are left
        out (the masks would need the same warp: not written)."""
        import keras
        import tensorflow as tf

        if config in (None, False, "none", {}):
            return None
        if isinstance(config, str):
            if config not in AUGMENT_PRESETS:
                raise ValueError(f"Unknown augmentation preset '{config}'. Expected one of {sorted(AUGMENT_PRESETS)} or a dict.")
            config = AUGMENT_PRESETS[config]
        allowed = ("flip", "translate", "zoom", "brightness", "contrast")
        if not isinstance(config, dict) or set(config) - set(allowed):
            raise ValueError(f"Instance segmentation augmentation takes keys {allowed}. Received: {config}")
        value_range = tuple(getattr(dataset, "value_range", None) or (0.0, 255.0))
        colour = []
        if config.get("brightness"):
            colour.append(keras.layers.RandomBrightness(float(config["brightness"]), value_range=value_range, seed=seed + 3))
        if config.get("contrast"):
            colour.append(keras.layers.RandomContrast(float(config["contrast"]), value_range=value_range, seed=seed + 4))
        flip = bool(config.get("flip"))
        generator = tf.random.Generator.from_seed(int(seed or 0))

        def augment(x, y):
            images = tf.cast(x, tf.float32)
            out = dict(y)
            if flip:
                width = tf.cast(tf.shape(images)[2], tf.float32)
                chosen = generator.uniform([tf.shape(images)[0]]) < 0.5
                images = tf.where(chosen[:, None, None, None], images[:, :, ::-1, :], images)
                boxes = tf.cast(y["boxes"], tf.float32)
                flipped = tf.stack([width - boxes[..., 2], boxes[..., 1], width - boxes[..., 0], boxes[..., 3]], axis=-1)
                keep = (tf.cast(y["classes"], tf.int32) >= 0)[..., None]
                out["boxes"] = tf.where(chosen[:, None, None] & keep, flipped, boxes)
                masks = y["instance_masks"]
                out["instance_masks"] = tf.where(chosen[:, None, None, None], masks[:, :, :, ::-1], masks)
            for layer in colour:
                images = layer(images, training=True)
            return tf.clip_by_value(images, value_range[0], value_range[1]), out

        return augment

    def score(self, y_true, outputs, class_names=None):
        report = coco_evaluation(y_true, outputs, class_names)
        if "instance_masks" in y_true and "masks" in outputs:
            report.update(mask_coco_evaluation(y_true, outputs, class_names))
        return report

    def example_batch(self, model, n, seed):
        """The sweep's rectangles scenes; each instance mask is the ellipse inscribed in its box
        (a mask that is not its box, so the mask branch has something to learn)."""
        size = tuple(int(d) for d in model.image_size)
        images, y = synthetic_scenes(n, size, int(model.num_classes), seed)
        rows, cols = np.arange(size[0])[:, None] + 0.5, np.arange(size[1])[None, :] + 0.5
        masks = np.zeros((*y["classes"].shape, *size), np.uint8)
        for i, j in zip(*np.nonzero(y["classes"] >= 0)):
            x1, y1, x2, y2 = y["boxes"][i, j]
            cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
            masks[i, j] = ((cols - cx) / rx) ** 2 + ((rows - cy) / ry) ** 2 <= 1.0
        # later rectangles cover earlier ones in the image: their masks do too
        covered = np.zeros((n, *size), bool)
        for j in range(masks.shape[1] - 1, -1, -1):
            masks[:, j] &= ~covered
            covered |= (y["classes"][:, j] >= 0)[:, None, None] & self._box_area(y["boxes"][:, j], size)
        return images, {**y, "instance_masks": masks}

    @staticmethod
    def _box_area(boxes, size):
        rows, cols = np.arange(size[0])[None, :, None] + 0.5, np.arange(size[1])[None, None, :] + 0.5
        x1, y1, x2, y2 = (boxes[:, k][:, None, None] for k in range(4))
        return (cols >= x1) & (cols < x2) & (rows >= y1) & (rows < y2)

    def compare_outputs(self, name, reference, actual, atol, rtol):
        """Detections as `Detection` compares them; then each matched pair's 28 × 28 mask, thresholded
        at 0.5, must reach IoU ≥ 0.99 (pixels within max(atol, 1e-3) of 0.5 left out)."""
        if not isinstance(reference, dict):
            return super().compare_outputs(name, reference, actual, atol, rtol)
        detections = {k: v for k, v in reference.items() if k != "masks"}
        outcome = super().compare_outputs(name, detections, {k: v for k, v in actual.items() if k != "masks"}, atol, rtol)
        if not outcome.ok or "masks" not in reference:
            return outcome
        if "masks" not in actual:
            return CheckOutcome(False, "masks output missing")
        tolerance, worst, pairs_seen = max(atol, 1e-3), 1.0, 0
        min_iou = 0.99 if atol <= 1e-3 else 0.95
        for index in range(len(np.asarray(reference["num_detections"]))):
            sides = (valid_detections(reference, index), valid_detections(actual, index))
            pairs, _, _ = match_detections(*sides, min_iou)
            for i, j in pairs:
                iou = _mask_iou(np.asarray(reference["masks"][index, i]), np.asarray(actual["masks"][index, j]), tolerance)
                worst, pairs_seen = min(worst, iou), pairs_seen + 1
        ok = worst >= 0.99 if atol <= 1e-3 else worst >= 0.95
        return CheckOutcome(ok, f"{outcome.detail}; {pairs_seen} masks matched, min mask IoU {worst:.4f}")

    def plots(self, run_dir, model, x, y, report, class_names=None, count=8, min_score=0.5):
        """masks.png: held-out images with each detection (score ≥ min_score) as a coloured mask
        and box, true masks outlined; the title carries box and mask AP@0.5."""
        from pathlib import Path

        from tasks import plots as plot_lib

        count = min(count, length(x))
        if count == 0:
            return None
        images = np.asarray(take(x, slice(0, count)), np.float32)
        outputs = self.predict(model, images)
        plt = plot_lib._pyplot()
        columns = min(4, count)
        rows = math.ceil(count / columns)
        figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.3 * rows), squeeze=False)
        palette = np.array([[230, 40, 40], [40, 200, 60], [50, 80, 230], [230, 200, 40], [200, 60, 220], [40, 200, 220]], np.float32)
        for axis in axes.ravel():
            axis.axis("off")
        for index in range(count):
            boxes, scores, classes = valid_detections(outputs, index)
            shown = scores >= min_score
            pasted = paste_masks(boxes[shown], np.asarray(outputs["masks"][index])[: len(boxes)][shown], images.shape[1:3])
            picture = np.clip(images[index], 0, 255).copy()
            for binary, cls in zip(pasted, classes[shown]):
                picture[binary > 0] = 0.45 * picture[binary > 0] + 0.55 * palette[int(cls) % len(palette)]
            axis = axes.ravel()[index]
            axis.imshow(picture.astype("uint8"))
            if "instance_masks" in y:
                for slot in np.flatnonzero(np.asarray(y["classes"][index]) >= 0):
                    axis.contour(np.asarray(y["instance_masks"][index, slot]), levels=[0.5], colors="white", linewidths=0.6)
            for box, cls, score in zip(boxes[shown], classes[shown], scores[shown]):
                x1, y1, x2, y2 = box
                axis.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=palette[int(cls) % len(palette)] / 255.0, linewidth=0.8))
                label = class_names[int(cls)] if class_names and int(cls) < len(class_names) else str(int(cls))
                axis.text(x1, y1 - 1, f"{label} {score:.2f}", fontsize=5, color="white", backgroundcolor=(0, 0, 0, 0.4))
            axis.set_title(f"{int(shown.sum())} predicted / {int((np.asarray(y['classes'][index]) >= 0).sum())} true", fontsize=8)
        title = "masks: predicted (filled), true (white outline)"
        if "mask_map50" in report:
            title += f"  hold-out mask AP@0.5 {report['mask_map50']:.3f}, box AP@0.5 {report.get('map50', 0.0):.3f}"
        figure.suptitle(title, fontsize=9)
        path = Path(run_dir) / "masks.png"
        plot_lib._save(figure, path)
        return path
