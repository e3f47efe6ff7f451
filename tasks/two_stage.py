"""Two-stage detection (family D): region proposals, then a per-region classifier and box regressor.

The three proposal-based detectors (architectures/detection/rcnn.py) share this module:

- R-CNN (Girshick et al. 2014): Selective Search proposals (tasks/selective_search.py) are warped
  to a fixed-size crop, a CNN computes each crop's features, per-class linear SVMs score them and a
  class-specific linear regressor refines their boxes.
- Fast R-CNN (Girshick 2015): the image goes once through the convolutions; each proposal is
  projected onto the feature map and RoI max pooled to a fixed grid; two sibling layers give
  softmax class scores (K + 1, background included) and class-specific box deltas, trained with
  the multi-task loss L = L_cls + λ [u ≥ 1] L_loc (smooth L1).
- Faster R-CNN (Ren et al. 2015): a region proposal network (RPN) on the same feature map slides a
  3 × 3 conv over it, with 9 anchors per location (3 scales × 3 aspect ratios), two-class
  objectness and box deltas; its proposals after NMS (~300) feed the Fast R-CNN head. Four losses:
  RPN class and box, head class and box.

What lives here (graph code uses keras.ops, plus TensorFlow's NonMaxSuppressionV4 where NMS is
needed; nothing is imported at module load, so `import tasks` stays free of Keras):

- `rpn_anchor_config` (the 9 anchors per location), `sample_balanced` (the fixed-size minibatches
  with a positive fraction: RPN 256 anchors at 1:1, head 128 RoIs at 25 % foreground),
- `batched_nms`: per-image (and per-class) NMS of a whole batch with one NonMaxSuppressionV4 call
  (the class-offset trick explained in tasks/detection.py), scattered into fixed per-image slots —
  the proposal layer (keep ~300 per image) and the final detection decoder both use it,
- `roi_max_pool` (Fast R-CNN's quantised RoI pooling) and `roi_align` (Mask R-CNN's bilinear RoIAlign,
  no quantisation), written from gathers, masks and bilinear weights so that they convert to ONNX
  and to TFLite builtins (`tf.image.crop_and_resize` is a Flex op in TFLite),
- `rpn_losses`, `head_losses`, `decode_detections`,
- `TwoStageDetection`, the task kind: `Detection`'s data, scoring (COCO mAP), plots and output
  comparison, plus what proposals need: models whose proposals come from outside the graph
  (`model.proposal_source == "selective_search"`) get them in `fit_inputs`, `predict`,
  `example_batch` and `export_samples`; R-CNN's SVM stage runs in `fit_example` and as a callback
  at the end of training; the export endpoint is the model's own (`model.detection_endpoint()`).
"""

import functools
import math

import numpy as np

from tasks.base import CheckOutcome, as_structure, concatenate, length, take
from tasks.detection import Detection, synthetic_scenes

# Faster R-CNN §3.1.1: anchors of box areas 128², 256², 512² (= 16 px × 8, 16, 32 on the stride-16
# VGG-16 map) and aspect ratios 1:2, 1:1, 2:1.
ANCHOR_SCALES = (8.0, 16.0, 32.0)
ANCHOR_RATIOS = (0.5, 1.0, 2.0)
# Box-delta normalisation of the head's targets (Fast R-CNN's code: means 0, stds 0.1, 0.1, 0.2, 0.2).
HEAD_BOX_VARIANCE = (0.1, 0.1, 0.2, 0.2)
_NEGATIVE = -3.0e38  # "minus infinity" that every converter keeps as a finite float32


def rpn_anchor_config(feature_shape, stride, scales=ANCHOR_SCALES, aspect_ratios=ANCHOR_RATIOS, base_size=None):
    """The RPN's anchor set as a tasks.detection anchor config: one level, len(scales) × len(ratios)
    anchors per feature-map location, sides `base_size` (default: the stride) × scale."""
    return {
        "feature_shapes": [[int(feature_shape[0]), int(feature_shape[1])]],
        "strides": [float(stride)],
        "base_sizes": [float(base_size or stride)],
        "scales": [float(s) for s in scales],
        "aspect_ratios": [float(r) for r in aspect_ratios],
    }


# --- sampling ------------------------------------------------------------------------------------


def _random_rank(mask, keys):
    """Rank (0 = first) of each True entry of `mask` [B, A] in the random order of `keys` (uniform
    [0, 1)); False entries rank after every True one."""
    from keras import ops

    order = ops.argsort(-ops.where(mask, keys, -1.0), axis=-1)
    return ops.argsort(order, axis=-1)


def sample_balanced(positive, negative, num_samples, positive_fraction, seed=None):
    """A random minibatch per image of at most `num_samples` entries: up to
    `positive_fraction · num_samples` positives, filled up with negatives (the papers' sampling:
    RPN 256 anchors at 50 %, Fast R-CNN 128 RoIs at 25 %). Returns (pos_selected, neg_selected), bool [B, A]."""
    from keras import ops, random

    positive = ops.cast(positive, "bool")
    negative = ops.logical_and(ops.cast(negative, "bool"), ops.logical_not(positive))
    # One draw serves both orders: positives and negatives are disjoint (one draw, not four, also
    # halves the XLA compile of the train step).
    keys = random.uniform(ops.shape(positive), seed=seed)
    quota = math.floor(num_samples * positive_fraction)
    num_pos = ops.minimum(ops.sum(ops.cast(positive, "int32"), axis=-1, keepdims=True), quota)
    pos_selected = ops.logical_and(positive, _random_rank(positive, keys) < num_pos)
    neg_selected = ops.logical_and(negative, _random_rank(negative, keys) < num_samples - num_pos)
    return pos_selected, neg_selected


# --- NMS over a batch, into fixed slots -----------------------------------------------------------


def batched_nms(boxes, scores, groups, num_groups, iou_threshold, score_threshold, max_per_image, pitch):
    """Per-image, per-group NMS of a batch: boxes [N, C, 4] xyxy (inside [0, pitch − 1]), scores
    [N, C], groups int [N, C] in 0..num_groups−1 (classes; 0 for class-agnostic proposals).

    Returns (boxes [N, D, 4], scores [N, D], groups [N, D] (-1 pad), count [N]) with D =
    max_per_image, each image's kept boxes best first, padding zeros. One NonMaxSuppressionV4
    over the batch, every (image, group) shifted to its own island (see tasks/detection.py)."""
    import tensorflow as tf

    boxes = tf.cast(boxes, tf.float32)
    scores = tf.cast(scores, tf.float32)
    batch = tf.shape(scores)[0]
    candidates = scores.shape[1]
    offset = tf.cast(tf.range(batch)[:, None] * num_groups + tf.cast(groups, tf.int32), tf.float32) * float(pitch)
    total = batch * candidates
    selected, num_valid = tf.raw_ops.NonMaxSuppressionV4(
        boxes=tf.reshape(boxes + offset[..., None], [-1, 4]),
        scores=tf.reshape(scores, [-1]),
        max_output_size=total,
        iou_threshold=float(iou_threshold),
        score_threshold=float(score_threshold),
        pad_to_max_output_size=True,
    )
    valid = tf.range(total) < num_valid
    image = tf.where(valid, selected // candidates, batch)  # padding goes to a dummy image
    one_hot = tf.one_hot(image, batch + 1, dtype=tf.float32)
    rank = tf.cast(tf.reduce_sum(tf.cumsum(one_hot, axis=0) * one_hot, axis=1), tf.int32) - 1
    keep = valid & (rank < max_per_image)
    slots = tf.stack([tf.where(keep, image, batch), tf.where(keep, rank, 0)], axis=-1)
    shape = tf.stack([batch + 1, max_per_image])
    out_boxes = tf.scatter_nd(slots, tf.gather(tf.reshape(boxes, [-1, 4]), selected), tf.concat([shape, [4]], 0))[:batch]
    out_scores = tf.scatter_nd(slots, tf.gather(tf.reshape(scores, [-1]), selected), shape)[:batch]
    out_groups = tf.scatter_nd(slots, tf.gather(tf.reshape(tf.cast(groups, tf.int32), [-1]), selected) + 1, shape)[:batch] - 1
    per_image = tf.reduce_sum(one_hot[:, :batch] * tf.cast(valid, tf.float32)[:, None], axis=0)
    count = tf.minimum(tf.cast(per_image, tf.int32), max_per_image)
    return out_boxes, out_scores, out_groups, count


def clip_boxes(boxes, image_size):
    from keras import ops

    height, width = float(image_size[0]), float(image_size[1])
    return ops.minimum(ops.maximum(boxes, 0.0), ops.convert_to_tensor([width, height, width, height], "float32"))


def propose(rpn_class_logits, rpn_box_deltas, anchors, image_size, pre_nms_topk, post_nms_topk, iou_threshold):
    """The proposal layer: objectness softmax, anchors decoded by their deltas and clipped to the
    image, the `pre_nms_topk` best per image, NMS at `iou_threshold`, the `post_nms_topk` best kept.
    Returns (proposals [N, P, 4], scores [N, P], valid bool [N, P]), P = post_nms_topk."""
    import tensorflow as tf

    from tasks import detection as det

    objectness = tf.nn.softmax(tf.cast(rpn_class_logits, tf.float32), axis=-1)[..., 1]  # [N, A]
    k = min(int(pre_nms_topk), int(anchors.shape[0]))
    top_scores, top_index = tf.math.top_k(objectness, k=k)
    batch = tf.shape(objectness)[0]
    num_anchors = int(anchors.shape[0])
    flat = tf.reshape(tf.cast(rpn_box_deltas, tf.float32), [-1, 4])
    picked = tf.gather(flat, top_index + tf.range(batch)[:, None] * num_anchors)
    boxes = clip_boxes(det.decode_boxes(tf.gather(tf.constant(anchors), top_index), picked), image_size)
    boxes = tf.stop_gradient(boxes)  # approximate joint training: no gradient through the proposal boxes
    pitch = max(image_size) + 1.0
    proposals, scores, groups, _ = batched_nms(
        boxes, tf.stop_gradient(top_scores), tf.zeros_like(top_index), 1, iou_threshold, 0.0, int(post_nms_topk), pitch
    )
    return proposals, scores, groups >= 0


# --- RoI pooling from gathers ---------------------------------------------------------------------


def _flatten_rois(features, rois):
    """(batch index [M], rois [M, 4]) of rois [N, R, 4]."""
    from keras import ops

    batch = ops.shape(rois)[0]
    count = rois.shape[1]
    index = ops.reshape(ops.repeat(ops.arange(batch)[:, None], count, axis=1), [-1])
    return index, ops.reshape(ops.cast(rois, "float32"), [-1, 4])


def roi_max_pool(features, rois, spatial_scale, output_size):
    """Fast R-CNN's RoI max pooling (its Caffe layer, quantised): each RoI [N, R, 4] (xyxy image
    pixels) is projected onto `features` [N, h, w, C] (× spatial_scale, rounded), split into an
    output_size × output_size grid of bins with integer (floor/ceil) edges, and each bin max pooled;
    an empty bin gives 0. Returns [N, R, ph, pw, C].

    Written with a gather (each RoI's feature map) and separable masked maxima (first over columns
    per column bin, then over rows per row bin), which convert to ONNX and TFLite builtins."""
    from keras import ops

    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    height, width, channels = features.shape[1], features.shape[2], features.shape[3]
    batch_index, boxes = _flatten_rois(features, rois)
    count = rois.shape[1]
    # round(x · scale) for non-negative x, as Caffe's round
    x1, y1, x2, y2 = (ops.floor(boxes[:, i] * spatial_scale + 0.5) for i in range(4))
    roi_w = ops.maximum(x2 - x1 + 1.0, 1.0)
    roi_h = ops.maximum(y2 - y1 + 1.0, 1.0)

    def bin_edges(start, extent, bins, limit):
        i = ops.arange(bins, dtype="float32")[None, :]
        size = extent[:, None] / float(bins)
        low = ops.clip(ops.floor(i * size) + start[:, None], 0.0, float(limit))
        high = ops.clip(ops.ceil((i + 1.0) * size) + start[:, None], 0.0, float(limit))
        return low, high  # [M, bins]

    y_low, y_high = bin_edges(y1, roi_h, ph, height)
    x_low, x_high = bin_edges(x1, roi_w, pw, width)
    rows = ops.arange(height, dtype="float32")
    cols = ops.arange(width, dtype="float32")
    row_mask = ops.logical_and(rows[None, None, :] >= y_low[..., None], rows[None, None, :] < y_high[..., None])  # [M, ph, h]
    col_mask = ops.logical_and(cols[None, None, :] >= x_low[..., None], cols[None, None, :] < x_high[..., None])  # [M, pw, w]
    maps = ops.take(features, batch_index, axis=0)  # [M, h, w, C]
    over_cols = ops.max(ops.where(col_mask[:, None, :, :, None], maps[:, :, None, :, :], _NEGATIVE), axis=3)  # [M, h, pw, C]
    pooled = ops.max(ops.where(row_mask[:, :, :, None, None], over_cols[:, None, :, :, :], _NEGATIVE), axis=2)  # [M, ph, pw, C]
    empty = ops.logical_or((y_high <= y_low)[:, :, None], (x_high <= x_low)[:, None, :])  # [M, ph, pw]
    pooled = ops.where(empty[..., None], 0.0, pooled)
    return ops.reshape(pooled, [-1, count, ph, pw, channels])


def roi_align(features, rois, spatial_scale, output_size, sampling_ratio=2, aligned=True):
    """RoIAlign (He et al. 2017; Detectron2's `aligned=True` half-pixel convention): no
    quantisation; each of the output_size × output_size bins averages sampling_ratio² bilinear
    samples of `features` [N, h, w, C] at regularly spaced points. RoIs [N, R, 4] xyxy image pixels.
    Samples more than one cell outside the map are 0. Returns [N, R, ph, pw, C].

    Bilinear interpolation by four flat gathers and their weights (builtins in both converters;
    also R-CNN's region warping, with sampling_ratio 1 on the image itself)."""
    from keras import ops

    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    height, width, channels = features.shape[1], features.shape[2], features.shape[3]
    batch_index, boxes = _flatten_rois(features, rois)
    count = rois.shape[1]
    shift = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (boxes[:, i] * spatial_scale - shift for i in range(4))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:
        roi_w, roi_h = ops.maximum(roi_w, 1.0), ops.maximum(roi_h, 1.0)
    s = int(sampling_ratio)
    steps_y = (ops.arange(ph * s, dtype="float32") + 0.5) / float(s)  # bin units: i + (iy + ½)/s
    steps_x = (ops.arange(pw * s, dtype="float32") + 0.5) / float(s)
    ys = y1[:, None] + steps_y[None, :] * (roi_h / float(ph))[:, None]  # [M, ph·s]
    xs = x1[:, None] + steps_x[None, :] * (roi_w / float(pw))[:, None]  # [M, pw·s]

    def axis_weights(coord, limit):
        inside = ops.logical_and(coord >= -1.0, coord <= float(limit))
        coord = ops.clip(coord, 0.0, float(limit - 1))
        low = ops.floor(coord)
        high = ops.minimum(low + 1.0, float(limit - 1))
        frac = coord - low
        return ops.cast(low, "int32"), ops.cast(high, "int32"), frac, ops.cast(inside, "float32")

    y_lo, y_hi, fy, y_in = axis_weights(ys, height)
    x_lo, x_hi, fx, x_in = axis_weights(xs, width)
    flat = ops.reshape(features, [-1, channels])
    base = (batch_index * (height * width))[:, None, None]

    def gather(yi, xi):
        index = base + yi[:, :, None] * width + xi[:, None, :]  # [M, ph·s, pw·s]
        return ops.take(flat, ops.reshape(index, [-1]), axis=0)

    size = [-1, ph * s, pw * s, channels]
    top = ops.reshape(gather(y_lo, x_lo), size) * (1.0 - fx)[:, None, :, None] + ops.reshape(gather(y_lo, x_hi), size) * fx[:, None, :, None]
    bottom = ops.reshape(gather(y_hi, x_lo), size) * (1.0 - fx)[:, None, :, None] + ops.reshape(gather(y_hi, x_hi), size) * fx[:, None, :, None]
    values = top * (1.0 - fy)[:, :, None, None] + bottom * fy[:, :, None, None]
    values = values * (y_in[:, :, None] * x_in[:, None, :])[..., None]
    values = ops.reshape(values, [-1, ph, s, pw, s, channels])
    return ops.reshape(ops.mean(values, axis=(2, 4)), [-1, count, ph, pw, channels])


# --- losses --------------------------------------------------------------------------------------


def rpn_losses(anchors, y_true, rpn_class_logits, rpn_box_deltas, seed, batch_per_image=256, positive_fraction=0.5,
               positive_iou=0.7, negative_iou=0.3, box_loss_beta=1.0 / 9.0):
    """Faster R-CNN's RPN losses (§3.1.2): anchors with IoU > 0.7 to a box, or the best anchor of a
    box, are positive, IoU < 0.3 negative; 256 sampled per image (≤ half positive); two-class
    softmax cross-entropy averaged over the sampled anchors; smooth L1 (β = 1/9, the reference
    code's σ = 3) on positives' deltas, divided by the sampled count (the paper's λ = 10 with
    N_reg ≈ 2,400 locations is this weighting to within its own rounding). Returns (cls, box)."""
    from keras import ops

    from tasks import detection as det

    anchors = ops.convert_to_tensor(anchors, "float32")
    gt_boxes = ops.cast(y_true["boxes"], "float32")
    objects = ops.where(ops.cast(y_true["classes"], "int32") >= 0, 0, -1)  # class-agnostic
    matched, labels = det.match_anchors(anchors, gt_boxes, objects, positive_iou, negative_iou, low_quality_matches=True)
    pos, neg = sample_balanced(labels >= 0, labels == det.BACKGROUND, batch_per_image, positive_fraction, seed)
    sampled = ops.cast(ops.logical_or(pos, neg), "float32")
    normaliser = ops.maximum(ops.sum(sampled), 1.0)
    logits = ops.cast(rpn_class_logits, "float32")
    cross_entropy = -ops.sum(ops.one_hot(ops.cast(pos, "int32"), 2) * ops.log_softmax(logits, axis=-1), axis=-1)
    class_loss = ops.sum(cross_entropy * sampled) / normaliser
    targets = det.encode_boxes(anchors, ops.take_along_axis(gt_boxes, matched[..., None], axis=1))
    targets = ops.where(pos[..., None], targets, 0.0)
    box_error = det.smooth_l1(ops.cast(rpn_box_deltas, "float32") - targets, box_loss_beta)
    box_loss = ops.sum(box_error * ops.cast(pos, "float32")[..., None]) / normaliser
    return class_loss, box_loss


def head_targets(rois, roi_valid, y_true, seed, batch_per_image=128, positive_fraction=0.25, foreground_iou=0.5,
                 background_iou=(0.1, 0.5), add_ground_truth=True):
    """Fast R-CNN's RoI minibatch (§2.3): ground-truth boxes join the proposals; RoIs with IoU ≥
    0.5 to a box are foreground (its class), IoU in [0.1, 0.5) background; 128 per image at ≤ 25 %
    foreground. Returns (rois [N, R', 4], labels int [N, R'] with 0 = background and c + 1 for
    class c, box targets [N, R', 4] (normalised deltas), weights [N, R'] (1 = sampled))."""
    from keras import ops

    from tasks import detection as det

    gt_boxes = ops.cast(y_true["boxes"], "float32")
    gt_classes = ops.cast(y_true["classes"], "int32")
    rois = ops.cast(rois, "float32")
    valid = ops.cast(roi_valid, "bool")
    if add_ground_truth:
        rois = ops.concatenate([rois, ops.maximum(gt_boxes, 0.0)], axis=1)
        valid = ops.concatenate([valid, gt_classes >= 0], axis=1)
    iou = det.box_iou(rois, gt_boxes)  # [N, R', M]
    iou = ops.where((gt_classes >= 0)[:, None, :], iou, -1.0)
    best = ops.max(iou, axis=-1)
    matched = ops.cast(ops.argmax(iou, axis=-1), "int32")
    foreground = ops.logical_and(valid, best >= foreground_iou)
    background = ops.logical_and(valid, ops.logical_and(best >= background_iou[0], best < background_iou[1]))
    pos, neg = sample_balanced(foreground, background, batch_per_image, positive_fraction, seed)
    labels = ops.where(pos, ops.take_along_axis(gt_classes, matched, axis=1) + 1, 0)
    matched_boxes = ops.take_along_axis(gt_boxes, matched[..., None], axis=1)
    targets = det.encode_boxes(rois, matched_boxes, variance=list(HEAD_BOX_VARIANCE))
    targets = ops.where(pos[..., None], targets, 0.0)
    return rois, ops.cast(labels, "int32"), targets, ops.cast(ops.logical_or(pos, neg), "float32")


def head_losses(class_logits, box_deltas, labels, box_targets, weights, box_loss_beta=1.0):
    """The multi-task loss (Fast R-CNN eq. 1): softmax cross-entropy over K + 1 classes averaged
    over the sampled RoIs, plus smooth L1 (β = 1) of the true class's deltas on foreground RoIs
    (λ = 1, [u ≥ 1]), divided by the same count. class_logits [N, R, K+1], box_deltas
    [N, R, K+1, 4]. Returns (cls, box)."""
    from keras import ops

    from tasks import detection as det

    normaliser = ops.maximum(ops.sum(weights), 1.0)
    logits = ops.cast(class_logits, "float32")
    num_classes = logits.shape[-1]
    one_hot = ops.one_hot(labels, num_classes)
    class_loss = -ops.sum(ops.sum(one_hot * ops.log_softmax(logits, axis=-1), axis=-1) * weights) / normaliser
    own = ops.sum(ops.cast(box_deltas, "float32") * one_hot[..., None], axis=2)  # [N, R, 4] deltas of the true class
    foreground = ops.cast(labels > 0, "float32") * weights
    box_loss = ops.sum(det.smooth_l1(own - box_targets, box_loss_beta) * foreground[..., None]) / normaliser
    return class_loss, box_loss


# --- decoding ------------------------------------------------------------------------------------


def decode_detections(class_probabilities, box_deltas, rois, roi_valid, image_size, score_threshold, iou_threshold,
                      max_detections, pre_nms_topk, variance=HEAD_BOX_VARIANCE):
    """Per-RoI class scores [N, R, K+1] (column 0 background) and class-specific deltas
    [N, R, K+1, 4] → the endpoint's detections: every (RoI, object class) pair a candidate, its box
    the RoI decoded by that class's deltas; the `pre_nms_topk` best per image; NMS per image and
    class; the `max_detections` best. Returns the Detection endpoint dict."""
    import tensorflow as tf

    from tasks import detection as det

    probabilities = tf.cast(class_probabilities, tf.float32)[:, :, 1:]
    probabilities = probabilities * tf.cast(roi_valid, tf.float32)[..., None]
    count, classes = probabilities.shape[1], probabilities.shape[2]
    batch = tf.shape(probabilities)[0]
    k = min(int(pre_nms_topk), count * classes)
    top_scores, top_index = tf.math.top_k(tf.reshape(probabilities, [batch, count * classes]), k=k)
    roi_index = top_index // classes
    class_index = top_index % classes
    offsets = tf.range(batch)[:, None]
    flat_rois = tf.reshape(tf.cast(rois, tf.float32), [-1, 4])
    picked_rois = tf.gather(flat_rois, roi_index + offsets * count)
    flat_deltas = tf.reshape(tf.cast(box_deltas, tf.float32)[:, :, 1:, :], [-1, 4])
    picked_deltas = tf.gather(flat_deltas, (roi_index + offsets * count) * classes + class_index)
    boxes = clip_boxes(det.decode_boxes(tf.reshape(picked_rois, [-1, 4]), tf.reshape(picked_deltas, [-1, 4]), list(variance)), image_size)
    boxes = tf.reshape(boxes, [batch, k, 4])
    out_boxes, out_scores, out_classes, num = batched_nms(
        boxes, top_scores, class_index, classes, iou_threshold, score_threshold, int(max_detections), max(image_size) + 1.0
    )
    return {"boxes": out_boxes, "scores": out_scores, "classes": out_classes, "num_detections": num}


def proposal_recall(model, x, y, iou_threshold=0.5, batch_size=32):
    """The RPN checked on its own: the share of ground-truth boxes of (x, y) that some proposal of
    the model's proposal layer (all `num_proposals` kept at inference) covers at IoU ≥ `iou_threshold`.
    Returns {"recall": float, "objects": int, "proposals_per_image": float}."""
    import keras

    from tasks import detection as det

    probe = keras.Model(model.inputs, {"rois": model.get_layer("proposals").output[0], "valid": model.get_layer("proposals").output[1]})
    found = total = kept = 0
    for start in range(0, length(x), batch_size):
        out = probe.predict_on_batch(take(x, slice(start, start + batch_size)))
        for rois, valid, boxes, classes in zip(out["rois"], out["valid"], y["boxes"][start : start + batch_size], y["classes"][start : start + batch_size]):
            truth = np.asarray(boxes)[np.asarray(classes) >= 0]
            proposals = np.asarray(rois)[np.asarray(valid) > 0.5]
            kept += len(proposals)
            total += len(truth)
            if len(truth) and len(proposals):
                found += int((det.numpy_iou(truth, proposals).max(axis=1) >= iou_threshold).sum())
    return {"recall": found / max(total, 1), "objects": total, "proposals_per_image": kept / max(length(x), 1)}


# --- proposals from outside the graph -------------------------------------------------------------


def external_proposals(images, count, **options):
    """Selective Search proposals of each image, as a fixed [N, count, 4] xyxy array padded with
    zero boxes (zero area: pooled to nothing and given no score by the decoder)."""
    from tasks.selective_search import selective_search

    images = np.asarray(images)
    out = np.zeros((len(images), count, 4), np.float32)
    for index, image in enumerate(images):
        boxes = selective_search(image, **options)[:count]
        out[index, : len(boxes)] = boxes
    return out


def _needs_proposals(model):
    return getattr(model, "proposal_source", "rpn") == "selective_search"


def _with_proposals(model, x):
    """x for a model that takes {"images", "proposals"}: proposals added where missing."""
    if not _needs_proposals(model) or isinstance(x, dict):
        return x
    return {"images": x, "proposals": external_proposals(x, model.num_proposals, **model.selective_search_options)}


# --- the task ------------------------------------------------------------------------------------


class TwoStageDetection(Detection):
    """Detection with region proposals (rcnn, fast_rcnn, faster_rcnn).

    Same data, targets, scoring, plots and output comparison as `Detection`. Differences:
    - the export endpoint is built by the model (`detection_endpoint()`): the RoIs change per image,
      so the decoder works on the head's per-RoI outputs, not on a fixed anchor set;
    - models with `proposal_source == "selective_search"` take {"images", "proposals"}: proposals
      are computed here (Selective Search, numpy/scikit-image, outside the graph) wherever only
      images are given; geometric augmentation is then off (the proposals would not move);
    - R-CNN trains in stages (`model.fit_svms`): fine-tuning the CNN with `fit`, then per-class
      linear SVMs and box regressors on cached features.
    """

    name = "two_stage_detection"
    data_tasks = ("detection",)  # trains on detection datasets (pipelines/train.py checks this)
    element = Detection.element + "; rcnn and fast_rcnn models take x {images, proposals float32 [N, P, 4]}"
    export_outputs = Detection.export_outputs + " (fast_rcnn and rcnn: inputs images and proposals)"

    def fit_inputs(self, model, x, y, **_):
        inputs = _with_proposals(model, x)
        remember = getattr(model, "remember_training_data", None)
        if remember is not None:  # R-CNN: the first call prepares the training split, the SVM stage's data
            remember(inputs, self.fit_targets(model, y))
        return inputs

    def build_augmentation(self, config, dataset=None, seed=0):
        base = super().build_augmentation(config, dataset, seed)
        if base is None:
            return None

        def augment(x, y):
            if isinstance(x, dict):  # external proposals do not move with the image: no augmentation
                return x, y
            return base(x, y)

        return augment

    def callbacks(self, run_dir, model, x_val=None, y_val=None):
        stage = getattr(model, "post_training_stage", None)
        return [stage()] if stage is not None else []

    def predict(self, model, x, batch_size=32):
        endpoint = self.export_endpoint(model)
        parts = []
        for start in range(0, length(x), batch_size):
            chunk = _with_proposals(model, take(x, slice(start, start + batch_size)))
            parts.append(as_structure(endpoint.predict_on_batch(chunk)))
        return concatenate(parts) if parts else {}

    def example_batch(self, model, n, seed):
        images, y = synthetic_scenes(n, tuple(int(d) for d in model.image_size), int(model.num_classes), seed)
        return _with_proposals(model, images), y

    def export_samples(self, endpoint, x, y):
        if isinstance(x, dict) or "proposals" not in {t.name.split(":")[0] for t in endpoint.inputs}:
            return super().export_samples(endpoint, x, y)
        count = int(endpoint.inputs[1].shape[1])
        options = getattr(endpoint, "selective_search_options", {})
        return {"images": x, "proposals": external_proposals(x, count, **options)}, y

    def fit_example(self, model, x, y, epochs, learning_rate=1e-3, jit_compile=False):
        """Detection's SGD (momentum 0.9, 10 × learning_rate), with the optimiser's variables built
        before `fit` so that the train step is traced (and XLA-compiled) once, not twice."""
        import keras

        from tasks.base import prebuild_training_state

        self.compile(model, keras.optimizers.SGD(10.0 * learning_rate, momentum=0.9), jit_compile=jit_compile)
        targets = self.fit_targets(model, y)
        prebuild_training_state(model, x, targets)
        history = model.fit(x, targets, batch_size=length(x), epochs=epochs, shuffle=False, verbose=0).history
        if hasattr(model, "fit_svms"):
            model.fit_svms(x, self.fit_targets(model, y))
        return history

    def check_training(self, model, x, y, epochs=8, learning_rate=None, jit_compile=False):
        outcome = super().check_training(model, x, y, epochs, learning_rate, jit_compile)
        if not outcome.ok or not hasattr(model, "fit_svms"):
            return outcome
        report = model.svm_report
        if not report.get("fitted"):
            return CheckOutcome(False, f"R-CNN SVM stage did not fit: {report}")
        return CheckOutcome(True, f"{outcome.detail}; SVMs fitted, training accuracy {report['accuracy']:.3f}")

    def export_endpoint(self, model, format=None):
        cached = getattr(model, "_detection_endpoint", None)
        if cached is None:
            cached = model.detection_endpoint()
            object.__setattr__(model, "_detection_endpoint", cached)  # shares the model's weights
        return cached


@functools.cache
def numpy_references():
    """(roi_max_pool, roi_align) written with loops in numpy, after the papers' reference code,
    for the tests."""

    def max_pool(features, rois, spatial_scale, size):
        n, h, w, c = features.shape
        out = np.zeros((n, rois.shape[1], size, size, c), np.float32)
        for b in range(n):
            for r, (x1, y1, x2, y2) in enumerate(rois[b]):
                sx, sy = math.floor(x1 * spatial_scale + 0.5), math.floor(y1 * spatial_scale + 0.5)
                ex, ey = math.floor(x2 * spatial_scale + 0.5), math.floor(y2 * spatial_scale + 0.5)
                rw, rh = max(ex - sx + 1, 1), max(ey - sy + 1, 1)
                for i in range(size):
                    hs = min(max(math.floor(i * rh / size) + sy, 0), h)
                    he = min(max(math.ceil((i + 1) * rh / size) + sy, 0), h)
                    for j in range(size):
                        ws = min(max(math.floor(j * rw / size) + sx, 0), w)
                        we = min(max(math.ceil((j + 1) * rw / size) + sx, 0), w)
                        if he > hs and we > ws:
                            out[b, r, i, j] = features[b, hs:he, ws:we].reshape(-1, c).max(axis=0)
        return out

    def bilinear(fmap, y, x):
        h, w, _ = fmap.shape
        if y < -1.0 or y > h or x < -1.0 or x > w:
            return np.zeros(fmap.shape[-1])
        y, x = max(y, 0.0), max(x, 0.0)
        y0, x0 = int(y), int(x)
        if y0 >= h - 1:
            y0 = y1 = h - 1
            y = float(y0)
        else:
            y1 = y0 + 1
        if x0 >= w - 1:
            x0 = x1 = w - 1
            x = float(x0)
        else:
            x1 = x0 + 1
        ly, lx = y - y0, x - x0
        return (fmap[y0, x0] * (1 - ly) * (1 - lx) + fmap[y0, x1] * (1 - ly) * lx
                + fmap[y1, x0] * ly * (1 - lx) + fmap[y1, x1] * ly * lx)

    def align(features, rois, spatial_scale, size, sampling_ratio):
        n, _, _, c = features.shape
        out = np.zeros((n, rois.shape[1], size, size, c), np.float64)
        for b in range(n):
            for r, box in enumerate(rois[b]):
                x1, y1, x2, y2 = (v * spatial_scale - 0.5 for v in box)
                bh, bw = (y2 - y1) / size, (x2 - x1) / size
                for i in range(size):
                    for j in range(size):
                        total = np.zeros(c)
                        for iy in range(sampling_ratio):
                            for ix in range(sampling_ratio):
                                yy = y1 + i * bh + (iy + 0.5) * bh / sampling_ratio
                                xx = x1 + j * bw + (ix + 0.5) * bw / sampling_ratio
                                total += bilinear(features[b], yy, xx)
                        out[b, r, i, j] = total / sampling_ratio**2
        return out

    return max_pool, align
