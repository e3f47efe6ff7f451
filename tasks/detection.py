"""Object detection (family D): an image in, a set of (box, class, score) out.

Element structure (batched):
    x: images float32 [N, H, W, 3], raw pixels 0..255 (the model rescales them itself).
    y: {"boxes": float32 [N, M, 4] (x_min, y_min, x_max, y_max) in pixels, rows of -1 pad,
        "classes": int32 [N, M] class ids 0..K-1, -1 pad}. Datasets may carry more targets
       (semantic and instance masks); `fit_targets` keeps the two a detector trains on.

The box math lives here, once: anchors (`generate_anchors`), IoU matching (`match_anchors`), delta
coding (keras.utils.bounding_boxes `encode_box_to_deltas` / `decode_deltas_to_boxes`, centre-size
deltas), the sigmoid focal loss and smooth-L1 box loss (`dense_detection_loss`), and decoding with
non-maximum suppression inside the graph (`DetectionDecoder`).

A dense detector (RetinaNet) is a Keras model with outputs {"box_deltas" [N, A, 4],
"class_logits" [N, A, K]} over a fixed anchor set, its own `compute_loss` (matching happens in the
training graph, so tf.data stays light), and a `decoder_config` dict: the `DetectionDecoder`
arguments. `Detection.export_endpoint(model)` wraps it into the model that is exported and served:
images in, {"boxes" [N, D, 4] float32 xyxy pixels, "scores" [N, D] float32, "classes" [N, D] int32
(-1 pad), "num_detections" [N] int32} out, D = max_detections.

Why the decoder looks the way it does: `tf.image.non_max_suppression_padded` is a pure-TF while
loop in TF 2 and `combined_non_max_suppression` needs Flex ops in TFLite. One padded
NonMaxSuppressionV4 call over the whole batch converts to ONNX `NonMaxSuppression` (tf2onnx) and to
the TFLite builtin NON_MAX_SUPPRESSION_V4: per-class, per-image suppression is obtained by shifting
every candidate by an offset unique to its (image, class) pair, so boxes of different pairs never
overlap (the "class offset" trick of torchvision's batched_nms, extended to the batch). Each image's
detections are then ranked with a cumulative sum and scattered into fixed [N, D] slots. Every op is
a builtin in both converters (TopK, Gather, CumSum, OneHot, ScatterND).

Detectors whose heads are not anchor deltas with sigmoid scores (YOLO v1/v2, SSD, OverFeat,
DetectNet, the sliding-window detector) expose `detection_decoder()` (a layer: raw outputs →
{"boxes" [N, A, 4] xyxy pixels, "scores" [N, A, K]}) and `nms_config`; the endpoint then appends
`ScoredBoxesNMS`, the same candidate selection and `suppress_and_pad` NMS. Their shared maths is
here too: grid cells (`cell_offsets`, `assign_to_cells`), SSD's default boxes and MultiBox loss with
hard-negative mining (`ssd_default_boxes`, `softmax_detection_loss`, `hard_negative_mask`),
YOLOv2's dimension clusters (`kmeans_anchors`, d = 1 − IoU) and box rescaling (`rescale_boxes`).

Evaluation is COCO's: mAP@0.5 and mAP@[.5:.95] from faster-coco-eval (a drop-in, C++ COCOeval),
category ids shifted by one (COCO's own convention; keras-cv #2095 shows what class 0 does to
hand-written evaluators). Images without objects count: their detections are false positives.
"""

import functools
import math

import numpy as np

from tasks.base import CheckOutcome, Task, TensorSpec, as_structure, concatenate, length, take

BOX_FORMAT = "xyxy"
# Delta coding: centre and size relative to the anchor (R-CNN's t_x, t_y, t_w, t_h), in the
# (y, x, h, w) order of keras.utils.bounding_boxes' default "center_yxhw".
DELTA_FORMAT = "center_yxhw"
# exp() of a size delta is clamped at log(1000/16) as in Detectron: an untrained head must not
# produce infinite boxes.
MAX_SIZE_DELTA = math.log(1000.0 / 16.0)
BACKGROUND, IGNORE = -1, -2

# The decoder's defaults: the paper's inference settings (§4.1 "Inference"): detections scoring
# above 0.05, at most 1000 candidates before NMS, NMS at IoU 0.5; 100 detections per image is
# Detectron's (and COCO evaluation's) cap.
DECODER_DEFAULTS = dict(score_threshold=0.05, iou_threshold=0.5, max_detections=100, pre_nms_topk=1000)
# Every detector's served endpoint (decoding + NMS inside), as its registry entry declares it.
ENDPOINT_OUTPUTS = (
    TensorSpec("boxes", (DECODER_DEFAULTS["max_detections"], 4), "float32"),
    TensorSpec("scores", (DECODER_DEFAULTS["max_detections"],), "float32"),
    TensorSpec("classes", (DECODER_DEFAULTS["max_detections"],), "int32"),
    TensorSpec("num_detections", (), "int32"),
)
TFLITE_INT8_LIMITATION = (
    "full-integer int8 gives each tensor one scale: pixel boxes and the per-(image, class) NMS offsets quantise to "
    "steps of many pixels, so boxes and suppression break; the float formats and dynamic-range int8 keep float activations"
)


# --- anchors -------------------------------------------------------------------------------------


def anchor_sizes_per_location(base_size, scales, aspect_ratios):
    """(width, height) of the anchors of one location: every scale × every ratio (ratio = h / w)."""
    shapes = []
    for scale in scales:
        for ratio in aspect_ratios:
            area = (base_size * scale) ** 2
            width = math.sqrt(area / ratio)
            shapes.append((width, width * ratio))
    return np.asarray(shapes, dtype="float64")


def generate_anchors(feature_shapes, strides, base_sizes, scales=(1.0, 2 ** (1 / 3), 2 ** (2 / 3)), aspect_ratios=(0.5, 1.0, 2.0)):
    """All anchors of a feature pyramid as float32 [A, 4] xyxy pixels.

    Order (the heads' reshape order): level by level, then row-major positions (y, x), then the
    len(scales) × len(aspect_ratios) shapes of a location. Anchors are centred on their cell,
    ((j + 0.5) · stride, (i + 0.5) · stride).

    Args:
        feature_shapes: [(height, width)] of each level's feature map.
        strides: input pixels per feature cell, per level.
        base_sizes: anchor side at scale 1 and ratio 1:1, per level (RetinaNet: 4 × stride, so
            32² on P3 up to 512² on P7).
        scales: octave scales (2^0, 2^{1/3}, 2^{2/3} in the paper).
        aspect_ratios: height / width ratios (1:2, 1:1, 2:1).
    """
    if not len(feature_shapes) == len(strides) == len(base_sizes):
        raise ValueError(
            f"feature_shapes, strides and base_sizes need one entry per level. Received: "
            f"{len(feature_shapes)}, {len(strides)} and {len(base_sizes)} entries"
        )
    levels = []
    for (height, width), stride, base in zip(feature_shapes, strides, base_sizes):
        shapes = anchor_sizes_per_location(base, scales, aspect_ratios)  # [S, 2]
        cy, cx = np.meshgrid((np.arange(height) + 0.5) * stride, (np.arange(width) + 0.5) * stride, indexing="ij")
        centres = np.stack([cx.reshape(-1), cy.reshape(-1)], axis=-1)[:, None, :]  # [HW, 1, 2]
        half = shapes[None, :, :] / 2.0
        boxes = np.concatenate([centres - half, centres + half], axis=-1)  # [HW, S, 4]
        levels.append(boxes.reshape(-1, 4))
    return np.concatenate(levels, axis=0).astype("float32")


def anchors_from_config(anchor_config):
    """`generate_anchors` from a JSON-friendly dict (what models and the decoder store)."""
    return generate_anchors(
        [tuple(s) for s in anchor_config["feature_shapes"]],
        anchor_config["strides"],
        anchor_config["base_sizes"],
        anchor_config["scales"],
        anchor_config["aspect_ratios"],
    )


# --- matching and delta coding -------------------------------------------------------------------


def box_iou(boxes1, boxes2):
    """Pairwise IoU of xyxy boxes ([A, 4] or [B, A, 4] with [B, M, 4]) via keras.utils.bounding_boxes."""
    import keras

    return keras.utils.bounding_boxes.compute_iou(boxes1, boxes2, bounding_box_format=BOX_FORMAT)


def match_anchors(anchors, gt_boxes, gt_classes, positive_iou=0.5, negative_iou=0.4, low_quality_matches=True):
    """Assigns every anchor a ground-truth box by IoU, in the graph.

    Anchors whose best IoU is ≥ `positive_iou` are positives of that box; below `negative_iou`
    background; in between ignored (no loss). With `low_quality_matches` each box's best anchors
    are positives too (Detectron's RetinaNet), so a box smaller than every anchor is still learnt.

    Args:
        anchors: [A, 4] xyxy. gt_boxes: [B, M, 4] xyxy, padding rows marked by gt_classes < 0.
        gt_classes: [B, M] int, -1 pad.
    Returns:
        (matched_index int32 [B, A] into M, labels int32 [B, A]: class id for positives,
        BACKGROUND (-1), IGNORE (-2)).
    """
    from keras import ops

    gt_boxes = ops.cast(gt_boxes, "float32")
    gt_classes = ops.cast(gt_classes, "int32")
    valid = gt_classes >= 0  # [B, M]
    iou = box_iou(ops.convert_to_tensor(anchors, "float32"), gt_boxes)  # [B, A, M]
    iou = ops.where(valid[:, None, :], iou, -1.0)
    best_iou = ops.max(iou, axis=-1)  # [B, A]
    matched = ops.cast(ops.argmax(iou, axis=-1), "int32")
    positive = best_iou >= positive_iou
    if low_quality_matches:
        best_per_box = ops.max(iou, axis=1, keepdims=True)  # [B, 1, M]
        is_best = ops.logical_and(ops.logical_and(iou >= best_per_box, best_per_box > 0.0), valid[:, None, :])
        forced = ops.any(is_best, axis=-1)
        forced_match = ops.cast(ops.argmax(ops.where(is_best, iou, -1.0), axis=-1), "int32")
        matched = ops.where(ops.logical_and(forced, ops.logical_not(positive)), forced_match, matched)
        positive = ops.logical_or(positive, forced)
    matched_class = ops.take_along_axis(gt_classes, matched, axis=1)
    labels = ops.where(positive, matched_class, ops.where(best_iou < negative_iou, BACKGROUND, IGNORE))
    return matched, ops.cast(labels, "int32")


def encode_boxes(anchors, boxes, variance=None):
    """Deltas of xyxy `boxes` ([A, 4] or [B, A, 4]) relative to `anchors` [A, 4]."""
    import keras

    return keras.utils.bounding_boxes.encode_box_to_deltas(
        anchors, boxes, anchor_format=BOX_FORMAT, box_format=BOX_FORMAT, encoding_format=DELTA_FORMAT, variance=variance
    )


def decode_boxes(anchors, deltas, variance=None):
    """xyxy boxes from deltas (inverse of `encode_boxes`); size deltas clamped at log(1000/16)."""
    import keras
    from keras import ops

    if variance is not None:
        deltas = deltas * ops.convert_to_tensor(variance, deltas.dtype)
    deltas = ops.concatenate([deltas[..., :2], ops.minimum(deltas[..., 2:], MAX_SIZE_DELTA)], axis=-1)
    return keras.utils.bounding_boxes.decode_deltas_to_boxes(
        anchors, deltas, anchor_format=BOX_FORMAT, box_format=BOX_FORMAT, encoded_format=DELTA_FORMAT
    )


# --- losses --------------------------------------------------------------------------------------


def sigmoid_focal_loss(targets, logits, alpha=0.25, gamma=2.0):
    """Element-wise FL(p_t) = −α_t (1 − p_t)^γ log p_t on logits (Lin et al. 2017, eq. 5).

    Written out rather than keras.losses.BinaryFocalCrossentropy because that averages over the
    class axis and cannot mask ignored anchors per element; the test checks both agree.
    """
    from keras import ops

    probabilities = ops.sigmoid(logits)
    cross_entropy = ops.maximum(logits, 0.0) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))
    p_t = probabilities * targets + (1.0 - probabilities) * (1.0 - targets)
    alpha_t = alpha * targets + (1.0 - alpha) * (1.0 - targets)
    return alpha_t * ops.power(1.0 - p_t, gamma) * cross_entropy


def smooth_l1(difference, beta):
    """0.5 x² / β where |x| < β, else |x| − 0.5 β (Fast R-CNN's smooth L1 at β = 1)."""
    from keras import ops

    absolute = ops.abs(difference)
    if beta <= 0:
        return absolute
    return ops.where(absolute < beta, 0.5 * ops.square(absolute) / beta, absolute - 0.5 * beta)


def dense_detection_loss(
    anchors,
    y_true,
    y_pred,
    num_classes,
    alpha=0.25,
    gamma=2.0,
    box_loss_beta=0.11,
    box_loss_weight=1.0,
    positive_iou=0.5,
    negative_iou=0.4,
    low_quality_matches=True,
    variance=None,
):
    """RetinaNet's loss: focal loss over all non-ignored anchors and smooth-L1 over positives,
    both summed and divided by the number of positive anchors in the batch (at least 1, so a batch
    without objects gives a finite background-only loss).

    Returns (total, class_loss, box_loss) scalars.
    """
    from keras import ops

    anchors = ops.convert_to_tensor(anchors, "float32")
    gt_boxes = ops.cast(y_true["boxes"], "float32")
    matched, labels = match_anchors(anchors, gt_boxes, y_true["classes"], positive_iou, negative_iou, low_quality_matches)
    positive = labels >= 0
    num_positive = ops.maximum(ops.sum(ops.cast(positive, "float32")), 1.0)

    logits = ops.cast(y_pred["class_logits"], "float32")
    targets = ops.one_hot(ops.maximum(labels, 0), num_classes) * ops.cast(positive, "float32")[..., None]
    focal = sigmoid_focal_loss(targets, logits, alpha, gamma)
    class_loss = ops.sum(focal * ops.cast(labels != IGNORE, "float32")[..., None]) / num_positive

    matched_boxes = ops.take_along_axis(gt_boxes, matched[..., None], axis=1)  # [B, A, 4], broadcast
    box_targets = encode_boxes(anchors, matched_boxes, variance)
    box_targets = ops.where(positive[..., None], box_targets, 0.0)  # padded rows give log(ε): kept finite
    box_error = smooth_l1(ops.cast(y_pred["box_deltas"], "float32") - box_targets, box_loss_beta)
    box_loss = ops.sum(box_error * ops.cast(positive, "float32")[..., None]) / num_positive
    return class_loss + box_loss_weight * box_loss, class_loss, box_loss


# --- decoding + NMS inside the graph -------------------------------------------------------------


def suppress_and_pad(boxes, scores, classes, num_classes, image_size, iou_threshold, score_threshold, max_detections):
    """Per-image, per-class NMS of candidates and their padding into fixed slots (TensorFlow ops).

    Args:
        boxes: float32 [N, C, 4] xyxy pixels of each image's C candidates.
        scores: float32 [N, C], best first within each image. classes: int32 [N, C].
    Returns the endpoint's dict {"boxes" [N, D, 4], "scores" [N, D], "classes" [N, D] (-1 pad),
    "num_detections" [N]}, D = max_detections.

    One NonMaxSuppressionV4 over the batch: every candidate is shifted by an offset unique to its
    (image, class) pair so that boxes of different pairs never overlap; each image's survivors are
    then ranked with a cumulative sum and scattered into its slots (module docstring).
    """
    import tensorflow as tf

    batch, candidates = tf.shape(scores)[0], int(scores.shape[1])
    height, width = float(image_size[0]), float(image_size[1])
    boxes = tf.minimum(tf.maximum(boxes, 0.0), tf.constant([width, height, width, height]))
    # Boxes are clipped to the image, so a pitch of max side + 1 separates the islands.
    pitch = max(height, width) + 1.0
    group = tf.cast(tf.range(batch)[:, None] * num_classes + classes, tf.float32) * pitch
    total = batch * candidates
    selected, num_valid = tf.raw_ops.NonMaxSuppressionV4(
        boxes=tf.reshape(boxes + group[..., None], [-1, 4]),
        scores=tf.reshape(scores, [-1]),
        max_output_size=total,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        pad_to_max_output_size=True,
    )
    valid = tf.range(total) < num_valid
    image = tf.where(valid, selected // candidates, batch)  # padding goes to a dummy image
    one_hot = tf.one_hot(image, batch + 1, dtype=tf.float32)
    rank = tf.cast(tf.reduce_sum(tf.cumsum(one_hot, axis=0) * one_hot, axis=1), tf.int32) - 1
    keep = valid & (rank < max_detections)
    slots = tf.stack([tf.where(keep, image, batch), tf.where(keep, rank, 0)], axis=-1)
    shape = tf.stack([batch + 1, max_detections])
    # The dummy row `batch` collects padding (ScatterNd adds duplicates) and is cut off.
    out_boxes = tf.scatter_nd(slots, tf.gather(tf.reshape(boxes, [-1, 4]), selected), tf.concat([shape, [4]], 0))[:batch]
    out_scores = tf.scatter_nd(slots, tf.gather(tf.reshape(scores, [-1]), selected), shape)[:batch]
    out_classes = tf.scatter_nd(slots, tf.gather(tf.reshape(classes, [-1]), selected) + 1, shape)[:batch] - 1
    per_image = tf.reduce_sum(one_hot[:, :batch] * tf.cast(valid, tf.float32)[:, None], axis=0)
    num_detections = tf.minimum(tf.cast(per_image, tf.int32), max_detections)
    return {
        "boxes": out_boxes,
        "scores": out_scores,
        "classes": tf.cast(out_classes, tf.int32),
        "num_detections": num_detections,
    }


@functools.cache
def decoder_class():
    """The `DetectionDecoder` Keras layer class, defined on first use so that `import tasks` stays
    free of Keras and TensorFlow (metadata-only CLI commands import the task registry)."""
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="deepzoo")
    class DetectionDecoder(keras.layers.Layer):
        """{"box_deltas" [N, A, 4], "class_logits" [N, A, K]} → padded per-image detections.

        Candidates: the `pre_nms_topk` highest (anchor, class) sigmoid scores per image; boxes
        decoded and clipped to the image; NMS per image and class (one NonMaxSuppressionV4 over the
        batch with (image, class) offsets); the `max_detections` best per image, best first.
        TensorFlow ops (Keras core has no NMS): the endpoint needs the TensorFlow backend.
        """

        def __init__(
            self,
            anchor_config,
            num_classes,
            image_size,
            variance=None,
            score_threshold=DECODER_DEFAULTS["score_threshold"],
            iou_threshold=DECODER_DEFAULTS["iou_threshold"],
            max_detections=DECODER_DEFAULTS["max_detections"],
            pre_nms_topk=DECODER_DEFAULTS["pre_nms_topk"],
            **kwargs,
        ):
            super().__init__(**kwargs)
            # A plain dict (Keras' attribute tracking would wrap it) for get_config.
            object.__setattr__(self, "anchor_config", {k: list(v) for k, v in anchor_config.items()})
            self.num_classes = int(num_classes)
            self.image_size = [int(v) for v in image_size]
            self.variance = None if variance is None else [float(v) for v in variance]
            self.score_threshold = float(score_threshold)
            self.iou_threshold = float(iou_threshold)
            self.max_detections = int(max_detections)
            self.pre_nms_topk = int(pre_nms_topk)
            self._anchors = anchors_from_config(anchor_config)

        def call(self, outputs):
            anchors = tf.constant(self._anchors)
            num_anchors, num_classes = int(self._anchors.shape[0]), self.num_classes
            logits = tf.cast(outputs["class_logits"], tf.float32)
            deltas = tf.cast(outputs["box_deltas"], tf.float32)
            batch = tf.shape(logits)[0]
            candidates = min(self.pre_nms_topk, num_anchors * num_classes)
            scores = tf.reshape(tf.sigmoid(logits), [batch, num_anchors * num_classes])
            top_scores, top_index = tf.math.top_k(scores, k=candidates)  # [N, C], best first
            anchor_index = top_index // num_classes
            classes = top_index % num_classes
            # Flat gathers (no batch_dims): the form both converters map to a plain Gather.
            flat_deltas = tf.reshape(deltas, [-1, 4])
            picked = tf.gather(flat_deltas, anchor_index + tf.range(batch)[:, None] * num_anchors)
            boxes = decode_boxes(tf.gather(anchors, anchor_index), picked, self.variance)
            return suppress_and_pad(
                boxes, top_scores, classes, num_classes, self.image_size, self.iou_threshold, self.score_threshold, self.max_detections
            )

        def compute_output_spec(self, outputs):
            batch = outputs["class_logits"].shape[0]
            d = self.max_detections
            return {
                "boxes": keras.KerasTensor((batch, d, 4), "float32"),
                "scores": keras.KerasTensor((batch, d), "float32"),
                "classes": keras.KerasTensor((batch, d), "int32"),
                "num_detections": keras.KerasTensor((batch,), "int32"),
            }

        def get_config(self):
            return {
                **super().get_config(),
                "anchor_config": self.anchor_config,
                "num_classes": self.num_classes,
                "image_size": self.image_size,
                "variance": self.variance,
                "score_threshold": self.score_threshold,
                "iou_threshold": self.iou_threshold,
                "max_detections": self.max_detections,
                "pre_nms_topk": self.pre_nms_topk,
            }

    return DetectionDecoder


def decoder(**config):
    """A `DetectionDecoder` layer (see `decoder_class`)."""
    return decoder_class()(**config)


@functools.cache
def nms_class():
    """The `ScoredBoxesNMS` Keras layer class (defined on first use, as `decoder_class`)."""
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="deepzoo")
    class ScoredBoxesNMS(keras.layers.Layer):
        """{"boxes" [N, A, 4] xyxy pixels, "scores" [N, A, K] class scores in [0, 1]} → padded
        per-image detections: the `pre_nms_topk` best (box, class) scores per image, clipped,
        per-class NMS, the `max_detections` best (`suppress_and_pad`).

        The NMS half of every detector whose own layer decodes its head (YOLO, SSD, OverFeat,
        DetectNet, the sliding-window detector): a model exposes `detection_decoder()` (its raw
        outputs → boxes and scores) and `nms_config` (this layer's arguments).
        """

        def __init__(
            self,
            num_classes,
            image_size,
            score_threshold=DECODER_DEFAULTS["score_threshold"],
            iou_threshold=DECODER_DEFAULTS["iou_threshold"],
            max_detections=DECODER_DEFAULTS["max_detections"],
            pre_nms_topk=DECODER_DEFAULTS["pre_nms_topk"],
            **kwargs,
        ):
            super().__init__(**kwargs)
            self.num_classes = int(num_classes)
            self.image_size = [int(v) for v in image_size]
            self.score_threshold = float(score_threshold)
            self.iou_threshold = float(iou_threshold)
            self.max_detections = int(max_detections)
            self.pre_nms_topk = int(pre_nms_topk)

        def call(self, inputs):
            boxes = tf.cast(inputs["boxes"], tf.float32)
            scores = tf.cast(inputs["scores"], tf.float32)
            num_boxes, num_classes = int(boxes.shape[1]), self.num_classes
            batch = tf.shape(scores)[0]
            candidates = min(self.pre_nms_topk, num_boxes * num_classes)
            top_scores, top_index = tf.math.top_k(tf.reshape(scores, [batch, num_boxes * num_classes]), k=candidates)
            box_index = top_index // num_classes
            classes = top_index % num_classes
            picked = tf.gather(tf.reshape(boxes, [-1, 4]), box_index + tf.range(batch)[:, None] * num_boxes)
            return suppress_and_pad(
                picked, top_scores, classes, num_classes, self.image_size, self.iou_threshold, self.score_threshold, self.max_detections
            )

        def compute_output_spec(self, inputs):
            batch = inputs["scores"].shape[0]
            d = self.max_detections
            return {
                "boxes": keras.KerasTensor((batch, d, 4), "float32"),
                "scores": keras.KerasTensor((batch, d), "float32"),
                "classes": keras.KerasTensor((batch, d), "int32"),
                "num_detections": keras.KerasTensor((batch,), "int32"),
            }

        def get_config(self):
            return {
                **super().get_config(),
                "num_classes": self.num_classes,
                "image_size": self.image_size,
                "score_threshold": self.score_threshold,
                "iou_threshold": self.iou_threshold,
                "max_detections": self.max_detections,
                "pre_nms_topk": self.pre_nms_topk,
            }

    return ScoredBoxesNMS


def scored_boxes_nms(**config):
    """A `ScoredBoxesNMS` layer (see `nms_class`)."""
    return nms_class()(**config)


# --- grids, default boxes, dimension clusters, hard negatives (YOLO, SSD, OverFeat, DetectNet) ----


def cell_offsets(grid_height, grid_width, per_cell=1):
    """float32 [H·W·per_cell, 2] (column, row) of every cell, row-major, each repeated per_cell
    times: the c_x, c_y of YOLO's decoding b_x = σ(t_x) + c_x."""
    rows, columns = np.meshgrid(np.arange(grid_height), np.arange(grid_width), indexing="ij")
    offsets = np.stack([columns.reshape(-1), rows.reshape(-1)], axis=-1).astype("float32")
    return np.repeat(offsets, per_cell, axis=0)


def rescale_boxes(boxes, from_size, to_size):
    """xyxy boxes from an image of (height, width) `from_size` to one of `to_size`: x scaled by
    the width ratio, y by the height ratio (YOLO's 416×416 grid → 1000×667 image example)."""
    boxes = np.asarray(boxes, np.float64)
    scale_x, scale_y = to_size[1] / from_size[1], to_size[0] / from_size[0]
    return boxes * np.array([scale_x, scale_y, scale_x, scale_y])


def centred_iou(sizes, centroids):
    """IoU of (w, h) sizes [n, 2] with centroids [k, 2] when the boxes share a centre → [n, k]."""
    sizes, centroids = np.asarray(sizes, np.float64), np.asarray(centroids, np.float64)
    intersection = np.minimum(sizes[:, None, 0], centroids[None, :, 0]) * np.minimum(sizes[:, None, 1], centroids[None, :, 1])
    union = np.prod(sizes, -1)[:, None] + np.prod(centroids, -1)[None, :] - intersection
    return intersection / np.maximum(union, 1e-12)


def kmeans_anchors(sizes, k, seed=0, iterations=300):
    """YOLOv2's dimension clusters (Redmon & Farhadi 2017, §2 "Dimension Clusters"): k-means on
    box (w, h) with the distance d(box, centroid) = 1 − IoU(box, centroid), boxes sharing a
    centre, so that large boxes do not dominate as they do under the Euclidean distance.

    Each iteration assigns every box to the centroid of least 1 − IoU and moves each centroid to
    its cluster's mean (w, h); starts from k distinct boxes drawn with `seed`, stops when the
    assignment no longer changes. Returns (centroids [k, 2] sorted by area, mean IoU of each box
    with its centroid).
    """
    sizes = np.asarray(sizes, np.float64).reshape(-1, 2)
    sizes = sizes[np.all(sizes > 0, axis=1)]
    if len(sizes) < k:
        raise ValueError(f"k-means anchors need at least k boxes of positive size. Received: {len(sizes)} boxes, k={k}")
    rng = np.random.default_rng(seed)
    unique = np.unique(sizes, axis=0)
    centroids = unique[rng.choice(len(unique), size=k, replace=False)] if len(unique) >= k else sizes[:k].copy()
    assignment = None
    for _ in range(iterations):
        new_assignment = np.argmin(1.0 - centred_iou(sizes, centroids), axis=1)
        if assignment is not None and np.array_equal(new_assignment, assignment):
            break
        assignment = new_assignment
        for cluster in range(k):
            members = sizes[assignment == cluster]
            if len(members):
                centroids[cluster] = members.mean(axis=0)
    centroids = centroids[np.argsort(np.prod(centroids, axis=1))]
    mean_iou = float(np.mean(np.max(centred_iou(sizes, centroids), axis=1)))
    return centroids, mean_iou


def ssd_default_boxes(feature_shapes, image_size, scales, aspect_ratios):
    """SSD's default boxes (Liu et al. 2016, §2.2 "Choosing scales and aspect ratios") as float32
    [A, 4] xyxy pixels.

    Level k (feature map f_k × f_k) has scale s_k = scales[k] (a fraction of the image); its boxes
    are centred on ((j + 0.5)/f_k, (i + 0.5)/f_k) and have w = s_k √a, h = s_k / √a for every
    ratio a of `aspect_ratios[k]` (1 always first), plus one extra square box of scale
    s'_k = √(s_k s_{k+1}); `scales` has one entry more than there are levels. Order: level by
    level, row-major positions, then the boxes of a location (the heads' reshape order).
    """
    if len(scales) != len(feature_shapes) + 1 or len(aspect_ratios) != len(feature_shapes):
        raise ValueError(
            f"ssd_default_boxes needs one ratio list per level and one scale more than levels. Received: "
            f"{len(feature_shapes)} levels, {len(scales)} scales, {len(aspect_ratios)} ratio lists"
        )
    height, width = float(image_size[0]), float(image_size[1])
    levels = []
    for k, ((rows, columns), ratios) in enumerate(zip(feature_shapes, aspect_ratios)):
        shapes = [(scales[k] * math.sqrt(a), scales[k] / math.sqrt(a)) for a in ratios]
        shapes.insert(1, (math.sqrt(scales[k] * scales[k + 1]),) * 2)
        shapes = np.asarray(shapes, np.float64) * np.array([width, height])  # (w, h) pixels
        cy, cx = np.meshgrid((np.arange(rows) + 0.5) / rows * height, (np.arange(columns) + 0.5) / columns * width, indexing="ij")
        centres = np.stack([cx.reshape(-1), cy.reshape(-1)], axis=-1)[:, None, :]
        half = shapes[None] / 2.0
        levels.append(np.concatenate([centres - half, centres + half], axis=-1).reshape(-1, 4))
    return np.concatenate(levels, axis=0).astype("float32")


def boxes_per_location(aspect_ratios):
    """Default boxes per location of each SSD level: its ratios plus the extra square one."""
    return [len(ratios) + 1 for ratios in aspect_ratios]


def paired_iou(boxes1, boxes2):
    """Element-wise IoU of two xyxy box tensors of the same shape [..., 4] (keras.ops)."""
    from keras import ops

    top_left = ops.maximum(boxes1[..., :2], boxes2[..., :2])
    bottom_right = ops.minimum(boxes1[..., 2:], boxes2[..., 2:])
    intersection = ops.prod(ops.maximum(bottom_right - top_left, 0.0), axis=-1)
    area1 = ops.prod(ops.maximum(boxes1[..., 2:] - boxes1[..., :2], 0.0), axis=-1)
    area2 = ops.prod(ops.maximum(boxes2[..., 2:] - boxes2[..., :2], 0.0), axis=-1)
    return intersection / ops.maximum(area1 + area2 - intersection, 1e-9)


def assign_to_cells(gt_boxes, gt_classes, grid_shape, image_size, slot_of=None, slots_per_cell=1):
    """YOLO's responsibility rule in the graph: each ground-truth box belongs to the grid cell that
    contains its centre (and, with `slot_of`, to one of that cell's slots, e.g. YOLOv2's anchor of
    highest IoU). Where several boxes fall on one slot the first wins.

    Args:
        gt_boxes: [B, M, 4] xyxy pixels; gt_classes: [B, M], -1 pad. grid_shape: (rows, columns).
        slot_of: optional fn(gt_boxes) -> int [B, M] slot within the cell (< slots_per_cell).
    Returns (has_object bool [B, S], gt_index int32 [B, S] into M, cell_column, cell_row [B, M]),
    S = rows · columns · slots_per_cell, in row-major cell order then slot.
    """
    from keras import ops

    rows, columns = int(grid_shape[0]), int(grid_shape[1])
    height, width = float(image_size[0]), float(image_size[1])
    gt_boxes = ops.cast(gt_boxes, "float32")
    valid = ops.cast(gt_classes, "int32") >= 0
    centre_x = (gt_boxes[..., 0] + gt_boxes[..., 2]) / 2.0 / width * columns
    centre_y = (gt_boxes[..., 1] + gt_boxes[..., 3]) / 2.0 / height * rows
    column = ops.clip(ops.cast(ops.floor(centre_x), "int32"), 0, columns - 1)
    row = ops.clip(ops.cast(ops.floor(centre_y), "int32"), 0, rows - 1)
    slot = (row * columns + column) * slots_per_cell
    if slot_of is not None:
        slot = slot + ops.cast(slot_of(gt_boxes), "int32")
    total = rows * columns * slots_per_cell
    assignment = ops.one_hot(slot, total) * ops.cast(valid, "float32")[..., None]  # [B, M, S]
    assignment = ops.transpose(assignment, (0, 2, 1))  # [B, S, M]
    has_object = ops.max(assignment, axis=-1) > 0.5
    gt_index = ops.cast(ops.argmax(assignment, axis=-1), "int32")  # first box of the slot
    return has_object, gt_index, column, row


def gather_boxes(gt_boxes, gt_index):
    """[B, M, 4] boxes picked by int [B, S] indices → [B, S, 4]."""
    from keras import ops

    return ops.take_along_axis(ops.cast(gt_boxes, "float32"), gt_index[..., None], axis=1)


def hard_negative_mask(background_loss, positive, candidate, ratio=3.0):
    """SSD's hard-negative mining (§2.2 "Hard negative mining"): per image, the negatives with the
    highest confidence loss, at most `ratio` × that image's positives.

    Args:
        background_loss: [B, A] confidence loss of each default box as background.
        positive: [B, A] bool. candidate: [B, A] bool, the boxes that may be negatives.
    Returns bool [B, A].
    """
    from keras import ops

    scored = ops.where(candidate, background_loss, -1e9)
    order = ops.argsort(-scored, axis=1)
    rank = ops.argsort(order, axis=1)  # rank 0 = hardest negative
    num_positive = ops.sum(ops.cast(positive, "int32"), axis=1, keepdims=True)
    num_candidate = ops.sum(ops.cast(candidate, "int32"), axis=1, keepdims=True)
    limit = ops.minimum(ops.cast(ratio * ops.cast(num_positive, "float32"), "int32"), num_candidate)
    return ops.logical_and(rank < limit, candidate)


def softmax_detection_loss(
    default_boxes,
    y_true,
    y_pred,
    num_classes,
    negative_ratio=3.0,
    positive_iou=0.5,
    box_loss_weight=1.0,
    variance=(0.1, 0.1, 0.2, 0.2),
    hard_negatives=True,
):
    """SSD's MultiBox loss (Liu et al. 2016, eq. 1): L = (L_conf + α L_loc) / N.

    Matching: each ground-truth box takes the default box of highest IoU, then every default box
    with IoU ≥ `positive_iou` with some box is a positive too; the rest are negatives (no ignore
    band). L_conf: softmax cross-entropy over K + 1 classes (index 0 = background) on the
    positives and the hard negatives (`hard_negative_mask`, `negative_ratio` : 1; all negatives
    when `hard_negatives` is False); L_loc: smooth L1 (β = 1) on the variance-scaled centre-size
    deltas of the positives; N = the number of positives (at least 1).

    y_pred: {"box_deltas" [B, A, 4], "class_logits" [B, A, K + 1]}. Returns (total, conf, loc).
    """
    from keras import ops

    anchors = ops.convert_to_tensor(default_boxes, "float32")
    gt_boxes = ops.cast(y_true["boxes"], "float32")
    matched, labels = match_anchors(anchors, gt_boxes, y_true["classes"], positive_iou, positive_iou, True)
    positive = labels >= 0
    num_positive = ops.maximum(ops.sum(ops.cast(positive, "float32")), 1.0)
    logits = ops.cast(y_pred["class_logits"], "float32")
    log_probabilities = ops.log_softmax(logits, axis=-1)
    target = ops.where(positive, labels + 1, 0)  # background = 0
    cross_entropy = -ops.sum(ops.one_hot(target, num_classes + 1) * log_probabilities, axis=-1)
    negatives = ops.logical_not(positive)
    if hard_negatives:
        negatives = hard_negative_mask(-log_probabilities[..., 0], positive, negatives, negative_ratio)
    conf_loss = ops.sum(cross_entropy * ops.cast(ops.logical_or(positive, negatives), "float32")) / num_positive
    if "box_deltas" not in y_pred:  # a detector whose boxes are its windows (sliding window)
        return conf_loss, conf_loss, ops.zeros_like(conf_loss)
    matched_boxes = ops.take_along_axis(gt_boxes, matched[..., None], axis=1)
    box_targets = ops.where(positive[..., None], encode_boxes(anchors, matched_boxes, None if variance is None else list(variance)), 0.0)
    box_error = smooth_l1(ops.cast(y_pred["box_deltas"], "float32") - box_targets, 1.0)
    loc_loss = ops.sum(box_error * ops.cast(positive, "float32")[..., None]) / num_positive
    return conf_loss + box_loss_weight * loc_loss, conf_loss, loc_loss


@functools.cache
def softmax_box_decoder_class():
    """The `SoftmaxBoxDecoder` layer class: fixed boxes + deltas + softmax with background."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="deepzoo")
    class SoftmaxBoxDecoder(keras.layers.Layer):
        """{"box_deltas" [N, A, 4], "class_logits" [N, A, K + 1]} → {"boxes" [N, A, 4] xyxy pixels,
        "scores" [N, A, K]}: deltas decoded against fixed boxes (SSD's default boxes, OverFeat's
        and the sliding-window detector's windows), softmax over K + 1 with the background
        (index 0) dropped from the scores. `boxes` [A, 4] is a constant; `variance` may be None."""

        def __init__(self, boxes, variance=None, **kwargs):
            super().__init__(**kwargs)
            object.__setattr__(self, "fixed_boxes", [[float(v) for v in row] for row in np.asarray(boxes).reshape(-1, 4)])
            self.variance = None if variance is None else [float(v) for v in variance]
            self._boxes = np.asarray(self.fixed_boxes, np.float32)

        def call(self, outputs):
            probabilities = ops.softmax(ops.cast(outputs["class_logits"], "float32"), axis=-1)
            fixed = ops.convert_to_tensor(self._boxes)
            if "box_deltas" in outputs:
                boxes = decode_boxes(fixed, ops.cast(outputs["box_deltas"], "float32"), self.variance)
            else:  # the windows themselves are the boxes
                boxes = ops.zeros_like(probabilities[..., :1]) + fixed[None]
            return {"boxes": boxes, "scores": probabilities[..., 1:]}

        def compute_output_spec(self, outputs):
            shape = outputs["class_logits"].shape
            return {
                "boxes": keras.KerasTensor((shape[0], shape[1], 4), "float32"),
                "scores": keras.KerasTensor((shape[0], shape[1], shape[2] - 1), "float32"),
            }

        def get_config(self):
            return {**super().get_config(), "boxes": self.fixed_boxes, "variance": self.variance}

    return SoftmaxBoxDecoder


# --- numpy helpers for scoring, plots and comparisons ---------------------------------------------


def valid_targets(y, index):
    """(boxes [m, 4], classes [m]) of example `index` of a target dict, padding dropped."""
    classes = np.asarray(y["classes"][index]).reshape(-1)
    boxes = np.asarray(y["boxes"][index], dtype="float64").reshape(-1, 4)
    keep = classes >= 0
    return boxes[keep], classes[keep].astype(np.int64)


def valid_detections(outputs, index):
    """(boxes, scores, classes) of example `index` of an endpoint's outputs, padding dropped."""
    count = int(np.asarray(outputs["num_detections"][index]))
    return (
        np.asarray(outputs["boxes"][index], dtype="float64")[:count],
        np.asarray(outputs["scores"][index], dtype="float64")[:count],
        np.asarray(outputs["classes"][index]).astype(np.int64)[:count],
    )


def numpy_iou(boxes1, boxes2):
    """Pairwise IoU of xyxy numpy boxes [n, 4] × [m, 4] → [n, m]."""
    boxes1, boxes2 = np.asarray(boxes1, np.float64).reshape(-1, 4), np.asarray(boxes2, np.float64).reshape(-1, 4)
    top_left = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0.0, None), axis=-1)
    area1 = np.prod(np.clip(boxes1[:, 2:] - boxes1[:, :2], 0.0, None), axis=-1)
    area2 = np.prod(np.clip(boxes2[:, 2:] - boxes2[:, :2], 0.0, None), axis=-1)
    union = area1[:, None] + area2[None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)


def coco_evaluation(y_true, outputs, class_names=None, return_curves=False):
    """COCO box AP of endpoint `outputs` against targets `y_true` (faster-coco-eval's COCOeval).

    Returns a dict: map (AP@[.5:.95]), map50, map75, per-class AP@0.5 and counts; with
    `return_curves`, {class name: (recall [101], precision [101] at IoU 0.5, -1 where undefined)}
    instead (the PR curves of `precision_recall_plot`). Images without
    objects are part of the evaluation (detections there are false positives); with no object in
    the whole set AP is undefined and reported as 0.
    """
    from faster_coco_eval import COCO, COCOeval_faster

    n = length(y_true["classes"])
    num_classes = len(class_names) if class_names else int(max(np.max(y_true["classes"], initial=-1), np.max(outputs["classes"], initial=-1)) + 1)
    names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
    images, annotations, results = [], [], []
    for index in range(n):
        images.append({"id": index + 1, "width": 0, "height": 0})
        boxes, classes = valid_targets(y_true, index)
        for box, cls in zip(boxes, classes):
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            annotations.append(
                {"id": len(annotations) + 1, "image_id": index + 1, "category_id": int(cls) + 1,
                 "bbox": [float(box[0]), float(box[1]), w, h], "area": w * h, "iscrowd": 0}
            )
        boxes, scores, classes = valid_detections(outputs, index)
        for box, score, cls in zip(boxes, scores, classes):
            results.append(
                {"image_id": index + 1, "category_id": int(cls) + 1, "score": float(score),
                 "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]}
            )
    report = {"num_examples": int(n), "num_objects": len(annotations), "num_detections": len(results)}
    if not annotations:
        return {**report, "map": 0.0, "map50": 0.0, "map75": 0.0, "ap50_per_class": {}}
    ground_truth = COCO({"images": images, "annotations": annotations, "categories": [{"id": i + 1, "name": nm} for i, nm in enumerate(names)]})
    evaluator = COCOeval_faster(ground_truth, ground_truth.loadRes(results), iouType="bbox", print_function=lambda *a, **k: None)
    evaluator.run()
    if return_curves:
        # precision [T, R, K, A, M] at IoU 0.5, COCO's 101 recall points, area "all", 100 detections.
        curves = evaluator.eval["precision"][0, :, :, 0, -1]
        recall = np.asarray(evaluator.params.recThrs, np.float64)
        return {name: (recall, curves[:, k]) for k, name in enumerate(names) if k < curves.shape[1]}
    stats, per_class = coco_summary(evaluator, names)
    return {**report, "map": stats[0], "map50": stats[1], "map75": stats[2], "ap50_per_class": per_class}


def coco_summary(evaluator, names):
    """([AP@[.5:.95], AP@0.5, AP@0.75], {class name: AP@0.5}) of an evaluated COCOeval (boxes or masks)."""
    stats = [max(0.0, float(v)) for v in evaluator.stats[:3]]  # -1 = undefined (no objects) → 0
    # precision [T, R, K, A, M]: IoU 0.5, every recall, class k, area "all", 100 detections.
    precision = evaluator.eval["precision"][0, :, :, 0, -1]
    per_class = {}
    for k, name in enumerate(names):
        column = precision[:, k] if k < precision.shape[1] else np.array([-1.0])
        column = column[column > -1]
        if column.size:
            per_class[name] = float(np.mean(column))
    return stats, per_class


def precision_recall_plot(path, y_true, outputs, class_names=None):
    """pr_curves.png: COCO's interpolated precision against recall at IoU 0.5, one curve per class
    (faster-coco-eval's accumulated precision), AP@0.5 in the legend. Returns the path or None."""
    from tasks import plots as plot_lib

    if not np.any(np.asarray(y_true["classes"]) >= 0):
        return None
    curves = coco_evaluation(y_true, outputs, class_names, return_curves=True)
    plt = plot_lib._pyplot()
    figure, axis = plt.subplots(figsize=(5, 4))
    for name, (recall, precision) in curves.items():
        defined = precision > -1
        if defined.any():
            axis.plot(recall[defined], precision[defined], label=f"{name} (AP@0.5 {float(np.mean(precision[defined])):.3f})")
    axis.set_xlabel("recall")
    axis.set_ylabel("precision")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.set_title("precision–recall per class, IoU 0.5 (hold-out)", fontsize=9)
    axis.legend(fontsize=7, loc="lower left")
    plot_lib._save(figure, path)
    return path


def match_detections(reference, actual, min_iou=0.99):
    """Matches two detection sets one to one (Hungarian on IoU, same class). Returns
    (pairs [(i, j)], unmatched_reference, unmatched_actual) of pairs with IoU ≥ min_iou."""
    from scipy.optimize import linear_sum_assignment

    ref_boxes, _, ref_classes = reference
    act_boxes, _, act_classes = actual
    if not len(ref_boxes) or not len(act_boxes):
        return [], list(range(len(ref_boxes))), list(range(len(act_boxes)))
    iou = numpy_iou(ref_boxes, act_boxes) * (ref_classes[:, None] == act_classes[None, :])
    rows, cols = linear_sum_assignment(-iou)
    pairs = [(i, j) for i, j in zip(rows, cols) if iou[i, j] >= min_iou]
    matched_ref, matched_act = {i for i, _ in pairs}, {j for _, j in pairs}
    return pairs, [i for i in range(len(ref_boxes)) if i not in matched_ref], [j for j in range(len(act_boxes)) if j not in matched_act]


def compare_detections(reference, actual, min_iou=0.99, score_atol=1e-3):
    """Whether two endpoints' detections agree, image by image: every detection matched one to
    one (Hungarian on IoU, same class) at IoU ≥ min_iou, matched scores within score_atol.

    A detection only one side has is tolerated on a cut-off, where a score moved by less than
    score_atol decides whether it is kept: its score is within score_atol of the lowest score any
    detection has (the score threshold), or, where that side filled all max_detections slots, of
    the image's lowest kept score. Anything else lost or extra fails.
    """
    n = len(np.asarray(reference["num_detections"]))
    if len(np.asarray(actual["num_detections"])) != n:
        return CheckOutcome(False, f"{len(actual['num_detections'])} images differ from Keras' {n}")
    capacity = np.asarray(reference["scores"]).shape[1]
    valid_scores = [np.asarray(side["scores"])[i, : int(side["num_detections"][i])] for side in (reference, actual) for i in range(n)]
    threshold = min((float(v.min()) for v in valid_scores if v.size), default=0.0)
    total, boundary, worst_iou, worst_score = 0, 0, 1.0, 0.0
    for index in range(n):
        sides = (valid_detections(reference, index), valid_detections(actual, index))
        pairs, lost, extra = match_detections(*sides, min_iou)
        for side, unmatched in zip(sides, (lost, extra)):
            floor = float(side[1].min()) if len(side[1]) >= capacity else threshold
            for k in unmatched:
                if side[1][k] > floor + score_atol:
                    return CheckOutcome(
                        False,
                        f"image {index}: {len(lost)} Keras detections without a match (IoU ≥ {min_iou}, same class), "
                        f"{len(extra)} extra; one scores {side[1][k]:.4f}, not on a cut-off",
                    )
        boundary += len(lost) + len(extra)
        for i, j in pairs:
            worst_iou = min(worst_iou, float(numpy_iou(sides[0][0][i : i + 1], sides[1][0][j : j + 1])[0, 0]))
            worst_score = max(worst_score, abs(float(sides[0][1][i]) - float(sides[1][1][j])))
        total += len(pairs)
    if worst_score > score_atol:
        return CheckOutcome(False, f"matched scores differ by up to {worst_score:.3g} (> {score_atol:g})")
    detail = f"{total} detections matched, min IoU {worst_iou:.4f}, max |score diff| {worst_score:.2g}"
    return CheckOutcome(True, detail + (f", {boundary} on the score cut-off in one only" if boundary else ""))


# --- synthetic scenes for the sweep --------------------------------------------------------------


def synthetic_scenes(n, image_size, num_classes, seed, max_objects=3):
    """Images with 1..max_objects filled axis-aligned rectangles whose colour is their class, on a
    noisy grey background: the sweep's fixed batch (the real data are `shapes_scenes`)."""
    rng = np.random.default_rng(seed)
    height, width = int(image_size[0]), int(image_size[1])
    palette = np.array([[230, 40, 40], [40, 200, 60], [50, 80, 230], [230, 200, 40], [200, 60, 220]], np.float32)
    images = rng.normal(110.0, 12.0, size=(n, height, width, 3)).astype("float32")
    boxes = np.full((n, max_objects, 4), -1.0, np.float32)
    classes = np.full((n, max_objects), -1, np.int32)
    for i in range(n):
        for j in range(int(rng.integers(1, max_objects + 1))):
            side_w = int(rng.integers(max(4, width // 8), max(5, width // 2)))
            side_h = int(rng.integers(max(4, height // 8), max(5, height // 2)))
            x0, y0 = int(rng.integers(0, width - side_w)), int(rng.integers(0, height - side_h))
            cls = int(rng.integers(0, num_classes))
            images[i, y0 : y0 + side_h, x0 : x0 + side_w] = palette[cls % len(palette)]
            boxes[i, j] = (x0, y0, x0 + side_w, y0 + side_h)
            classes[i, j] = cls
    return np.clip(images, 0.0, 255.0), {"boxes": boxes, "classes": classes}


# --- augmentation --------------------------------------------------------------------------------

AUGMENT_PRESETS = {
    "none": {},
    "light": {"flip": "horizontal", "translate": 0.1},
    "standard": {"flip": "horizontal", "translate": 0.1, "zoom": 0.2, "brightness": 0.1, "contrast": 0.1},
}
AUGMENT_KEYS = ("flip", "translate", "zoom", "brightness", "contrast")


def _augment_layers(config, value_range, seed):
    """Keras box-aware preprocessing layers for `config` (geometric ones get bounding_box_format)."""
    import keras

    layers = []
    if config.get("flip"):
        mode = "horizontal" if config["flip"] is True else str(config["flip"])
        layers.append(keras.layers.RandomFlip(mode, bounding_box_format=BOX_FORMAT, seed=seed))
    if config.get("translate"):
        f = float(config["translate"])
        layers.append(keras.layers.RandomTranslation(f, f, fill_mode="constant", bounding_box_format=BOX_FORMAT, seed=seed + 1))
    if config.get("zoom"):
        f = float(config["zoom"])
        layers.append(keras.layers.RandomZoom(f, fill_mode="constant", bounding_box_format=BOX_FORMAT, seed=seed + 2))
    if config.get("brightness"):
        layers.append(keras.layers.RandomBrightness(float(config["brightness"]), value_range=value_range, bounding_box_format=BOX_FORMAT, seed=seed + 3))
    if config.get("contrast"):
        layers.append(keras.layers.RandomContrast(float(config["contrast"]), value_range=value_range, bounding_box_format=BOX_FORMAT, seed=seed + 4))
    return layers


# --- the task ------------------------------------------------------------------------------------


class Detection(Task):
    name = "detection"
    element = (
        "(x float32 [N, H, W, 3] pixels 0..255, y {boxes float32 [N, M, 4] xyxy pixels, -1 rows pad; "
        "classes int32 [N, M], -1 pad})"
    )
    default_dataset = "shapes_scenes"
    monitor = ("val_loss", "min")
    objective = ("map50", "max")
    train_check = "loss_falls"
    export_outputs = (
        "boxes float32 [N, D, 4] xyxy pixels, scores float32 [N, D], classes int32 [N, D] (-1 pad), "
        "num_detections int32 [N]; decoding and NMS inside the graph"
    )
    stratify = False
    quantized_tolerance = 0.05
    # Export verification hands compare_outputs the whole output dicts (export/verify.py): boxes,
    # scores and classes of one detection are matched together.
    compare_jointly = True

    # --- data ---

    def fit_targets(self, model, y, **_):
        if not isinstance(y, dict) or "boxes" not in y or "classes" not in y:
            received = sorted(y) if isinstance(y, dict) else type(y).__name__
            raise ValueError(f"Detection targets need a dict with 'boxes' and 'classes'. Received: {received}")
        return {"boxes": np.asarray(y["boxes"], np.float32), "classes": np.asarray(y["classes"], np.int32)}

    def build_augmentation(self, config, dataset=None, seed=0):
        """`fn(x, y) -> (x, y)` on batches: Keras' box-aware RandomFlip / RandomTranslation /
        RandomZoom (+ colour layers, which leave boxes alone). `config`: a preset name
        (none, light, standard) or a dict with keys flip, translate, zoom, brightness, contrast.
        Boxes pushed out of the image, or squeezed under 1 px, become padding (-1)."""
        import tensorflow as tf

        if config in (None, False, "none", {}):
            return None
        if isinstance(config, str):
            if config not in AUGMENT_PRESETS:
                raise ValueError(f"Unknown detection augmentation preset '{config}'. Expected one of {sorted(AUGMENT_PRESETS)} or a dict.")
            config = AUGMENT_PRESETS[config]
        if not isinstance(config, dict) or set(config) - set(AUGMENT_KEYS):
            extra = sorted(set(config) - set(AUGMENT_KEYS)) if isinstance(config, dict) else config
            raise ValueError(f"Detection augmentation takes keys {AUGMENT_KEYS}. Received: {extra}")
        value_range = tuple(getattr(dataset, "value_range", None) or (0.0, 255.0))
        layers = _augment_layers(config, value_range, int(seed or 0))
        if not layers:
            return None

        def augment(x, y):
            images = tf.cast(x, tf.float32)
            padding = y["classes"] < 0
            data = {"images": images, "bounding_boxes": {"boxes": tf.cast(y["boxes"], tf.float32), "labels": y["classes"]}}
            for layer in layers:
                data = layer(data, training=True)
            height, width = tf.cast(tf.shape(images)[1], tf.float32), tf.cast(tf.shape(images)[2], tf.float32)
            boxes = data["bounding_boxes"]["boxes"]
            boxes = tf.minimum(tf.maximum(boxes, 0.0), tf.stack([width, height, width, height]))
            labels = tf.cast(data["bounding_boxes"]["labels"], tf.int32)
            size_ok = (boxes[..., 2] - boxes[..., 0] >= 1.0) & (boxes[..., 3] - boxes[..., 1] >= 1.0)
            keep = ~padding & (labels >= 0) & size_ok
            out = dict(y)
            out["boxes"] = tf.where(keep[..., None], boxes, -1.0)
            out["classes"] = tf.where(keep, tf.cast(y["classes"], tf.int32), -1)
            return tf.clip_by_value(data["images"], value_range[0], value_range[1]), out

        return augment

    # --- training ---

    def loss(self, model, **_):
        return None  # dense detectors compute their loss (with anchor matching) in compute_loss

    def compile(self, model, optimizer, jit_compile=False, **options):
        model.compile(optimizer=optimizer, jit_compile=jit_compile)

    # --- evaluation ---

    def predict(self, model, x, batch_size=32):
        endpoint = self.export_endpoint(model)
        parts = []
        for start in range(0, length(x), batch_size):
            chunk = take(x, slice(start, start + batch_size))
            parts.append(as_structure(endpoint.predict_on_batch(chunk)))
        return concatenate(parts) if parts else {}

    def score(self, y_true, outputs, class_names=None):
        return coco_evaluation(y_true, outputs, class_names)

    def quantized_reference(self, reference_outputs):
        """Keras' own detections as targets, for a quantised export without ground truth."""
        classes = np.where(np.asarray(reference_outputs["scores"]) > 0, reference_outputs["classes"], -1)
        return {"boxes": np.where(classes[..., None] >= 0, reference_outputs["boxes"], -1.0), "classes": classes}

    def plots(self, run_dir, model, x, y, report, class_names=None, count=8, min_score=0.3):
        """detections.png: held-out images with true boxes (green) and predictions (red, score ≥ min_score)."""
        from pathlib import Path

        import keras

        from tasks import plots as plot_lib

        count = min(count, length(x))
        if count == 0:
            return None
        images = np.clip(np.asarray(take(x, slice(0, count)), np.float32), 0, 255).astype("uint8")
        outputs = self.predict(model, images.astype("float32"))
        mapping = {i: str(n) for i, n in enumerate(class_names)} if class_names else None
        truth = keras.visualization.draw_bounding_boxes(
            images, {"boxes": np.asarray(y["boxes"][:count], np.float32), "labels": np.asarray(y["classes"][:count])},
            BOX_FORMAT, class_mapping=mapping, color=(40, 220, 40), line_thickness=1, font_scale=0.35,
        )
        shown = (np.arange(outputs["scores"].shape[1])[None, :] < outputs["num_detections"][:, None]) & (outputs["scores"] >= min_score)
        predicted = keras.visualization.draw_bounding_boxes(
            np.asarray(truth).astype("uint8"),
            {"boxes": np.where(shown[..., None], outputs["boxes"], -1.0).astype("float32"),
             "labels": np.where(shown, outputs["classes"], -1),
             "confidences": np.where(shown, outputs["scores"], 0.0).astype("float32")},
            BOX_FORMAT, class_mapping=mapping, color=(235, 40, 40), line_thickness=1, font_scale=0.35,
        )
        plt = plot_lib._pyplot()
        columns = min(4, count)
        rows = math.ceil(count / columns)
        figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.3 * rows), squeeze=False)
        for axis in axes.ravel():
            axis.axis("off")
        for index in range(count):
            axis = axes.ravel()[index]
            axis.imshow(np.asarray(predicted[index]).astype("uint8"))
            axis.set_title(f"{int(shown[index].sum())} predicted / {len(valid_targets(y, index)[1])} true", fontsize=8)
        title = "green: true, red: predicted"
        if "map50" in report:
            title += f"  (hold-out mAP@0.5 {report['map50']:.3f}, mAP {report.get('map', 0.0):.3f})"
        figure.suptitle(title, fontsize=9)
        path = Path(run_dir) / "detections.png"
        plot_lib._save(figure, path)
        precision_recall_plot(Path(run_dir) / "pr_curves.png", y, self.predict(model, np.asarray(x, np.float32)), class_names)
        return path

    # --- sweep ---

    def fit_example(self, model, x, y, epochs, learning_rate=1e-3, jit_compile=False):
        """Fits the fixed batch with the detectors' own optimiser, SGD with momentum 0.9 (RetinaNet
        §4.1), at 10 × `learning_rate` (the paper's 0.01 for the default 1e-3). Keras' Adam adds
        about 90 graph ops per variable; for a detector's 60-odd variables that was half the
        traced train step and a third of the sweep's time (measured: 12.0 s → 7.4 s)."""
        import keras

        # A detector whose paper starts lower (YOLO v1: 1e-3, "a high learning rate diverges") says so.
        rate = float(getattr(model, "initial_learning_rate", 10.0 * learning_rate))
        self.compile(model, keras.optimizers.SGD(rate, momentum=0.9), jit_compile=jit_compile)
        return model.fit(x, self.fit_targets(model, y), batch_size=length(x), epochs=epochs, shuffle=False, verbose=0).history

    def example_batch(self, model, n, seed):
        image_size = tuple(int(d) for d in model.inputs[0].shape[1:3])
        return synthetic_scenes(n, image_size, int(getattr(model, "num_classes", 3)), seed)

    # --- export ---

    def export_endpoint(self, model, format=None):
        """images [N, H, W, 3] → {"boxes", "scores", "classes", "num_detections"}, NMS inside.

        A model with `detection_decoder()` (a layer: raw outputs → {"boxes", "scores"}) and
        `nms_config` is decoded by its own layer and suppressed by `ScoredBoxesNMS`; otherwise its
        `decoder_config` configures the anchor-delta `DetectionDecoder` (RetinaNet)."""
        import keras

        cached = getattr(model, "_detection_endpoint", None)
        if cached is not None:
            return cached
        images = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name="images")
        raw = model(images, training=False)
        if hasattr(model, "detection_decoder"):
            # Detectors with their own head decoding (YOLO, SSD, ...): decode, then the shared NMS.
            decoded = model.detection_decoder()(raw)
            outputs = scored_boxes_nms(**model.nms_config, name="detections")(decoded)
        else:
            outputs = decoder(**dict(model.decoder_config), name="detections")(raw)
        endpoint = keras.Model(images, outputs, name=f"{model.name}_detector")
        object.__setattr__(model, "_detection_endpoint", endpoint)  # shares the model's weights
        return endpoint

    def compare_outputs(self, name, reference, actual, atol, rtol):
        """Detections are sets: boxes are matched by IoU ≥ 0.99 and class, scores within 1e-3.

        Called with the whole output dicts (what export verification does, `compare_jointly`) it
        matches detections jointly and tolerates ones on the score cut-off (`compare_detections`).
        Called per output it checks what that output alone allows: num_detections exactly, boxes
        as a set (IoU ≥ 0.99), scores and classes as sorted multisets per image.
        """
        if isinstance(reference, dict):
            # Float formats: IoU ≥ 0.99 and scores within 1e-3; looser formats (fp16) loosen both.
            return compare_detections(reference, actual, min_iou=0.99 if atol <= 1e-3 else 0.95, score_atol=max(1e-3, atol))
        reference, actual = np.asarray(reference), np.asarray(actual)
        if reference.shape != actual.shape:
            return CheckOutcome(False, f"{name}: shape {actual.shape} differs from Keras {reference.shape}")
        if name == "num_detections" or reference.dtype.kind in "iub" and reference.ndim == 1:
            equal = bool(np.array_equal(reference, actual))
            return CheckOutcome(equal, f"{name}: {'equal' if equal else f'{actual.tolist()} vs Keras {reference.tolist()}'}")
        if name == "boxes":
            worst = 1.0
            for ref, act in zip(reference, actual):
                ref, act = ref[np.any(ref != 0, axis=-1)], act[np.any(act != 0, axis=-1)]
                if len(ref) != len(act):
                    return CheckOutcome(False, f"boxes: {len(act)} detections vs Keras {len(ref)}")
                pairs, lost, extra = match_detections((ref, None, np.zeros(len(ref))), (act, None, np.zeros(len(act))))
                if lost or extra:
                    return CheckOutcome(False, f"boxes: {len(lost)} Keras boxes without a match at IoU ≥ 0.99")
                worst = min([worst] + [float(numpy_iou(ref[i : i + 1], act[j : j + 1])[0, 0]) for i, j in pairs])
            return CheckOutcome(True, f"boxes: matched, min IoU {worst:.4f}")
        # scores / classes: the same multiset per image (order may differ between tied scores)
        ref_sorted, act_sorted = np.sort(reference, axis=-1), np.sort(actual, axis=-1)
        if reference.dtype.kind in "iub":
            equal = bool(np.array_equal(ref_sorted, act_sorted))
            return CheckOutcome(equal, f"{name}: {'same classes' if equal else 'classes differ'}")
        diff = float(np.max(np.abs(ref_sorted.astype(np.float64) - act_sorted))) if reference.size else 0.0
        tolerance = max(1e-3, atol)
        return CheckOutcome(diff <= tolerance, f"{name}: max |diff| {diff:.3g} (sorted per image, tolerance {tolerance:g})")
