"""DetectNet: a fully convolutional GoogLeNet that predicts coverage and box corners on a 16-px grid.

Reference: Tao, Barker & Sarathy, "DetectNet: deep neural network for object detection in DIGITS",
NVIDIA developer blog, 2016 (and DIGITS' detectnet_network.prototxt).

Network: GoogLeNet (Szegedy et al. 2015, Table 1) without its data, final pooling and output layers
and without the max-pool between inception 4e and 5a, so inception 5b runs at stride 16: one grid
cell per 16 × 16 pixels. Two 1 × 1 conv heads: a coverage map (one channel per class: is this cell
inside an object) and a bounding-box map (4 channels: the distances from the cell's centre to the
box's corners x_min, y_min, x_max, y_max). Training targets (DIGITS' detectnet_groundtruth_param):
a cell is covered by a box when its centre lies in the box shrunk to `coverage_scale` (0.4) of its
size around its centre, or holds the box's centre (so every box covers a cell); L2 loss on the
coverage, L1 on the corner distances of covered cells (normalised by `box_normalizer` pixels).
Inference: every cell gives a box and a per-class coverage score.

Where we differ, and why: DIGITS clusters the per-cell boxes with OpenCV's groupRectangles
(an equivalence clustering with a minimum cluster size), which has no ONNX or TFLite op; we merge
them with per-class NMS, the op every runtime has, so the exported endpoint is the whole detector.
The coverage head has a sigmoid (the prototxt regresses raw values with L2) so that scores are
probabilities for NMS and COCO evaluation, its bias starting at coverage 0.01 (RetinaNet's prior);
the box head starts at a 16-px box around each cell's centre. Where cells are covered by several boxes, the smallest
box wins (the one in front, for scenes with occlusion).
"""

import math

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.classification.googlenet import GOOGLENET_MODULES
from architectures.layers.inception import inception_module
from architectures.layers.lrn import LocalResponseNormalization
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import detection as det

ALL_MODULES = tuple(entry[0] for entry in GOOGLENET_MODULES if entry != "pool")


def coverage_targets(gt_boxes, gt_classes, grid_shape, stride, num_classes, coverage_scale, box_normalizer):
    """(coverage [B, S, K] 0/1, corners [B, S, 4], covered [B, S] bool) for the S = rows·columns cells."""
    rows, columns = grid_shape
    boxes = ops.cast(gt_boxes, "float32")
    valid = ops.cast(gt_classes, "int32") >= 0
    centres = (ops.convert_to_tensor(det.cell_offsets(rows, columns)) + 0.5) * float(stride)  # [S, 2] (x, y)
    box_centre = (boxes[..., :2] + boxes[..., 2:]) / 2.0
    half = (boxes[..., 2:] - boxes[..., :2]) * (coverage_scale / 2.0)
    lower, upper = box_centre - half, box_centre + half  # [B, M, 2]
    point = centres[None, :, None, :]  # [1, S, 1, 2]
    inside = ops.all(ops.logical_and(point >= lower[:, None], point <= upper[:, None]), axis=-1)  # [B, S, M]
    holds_centre = ops.all(ops.floor(box_centre[:, None] / float(stride)) == ops.floor(point / float(stride)), axis=-1)
    covered_by = ops.logical_and(ops.logical_or(inside, holds_centre), valid[:, None, :])
    area = ops.prod(boxes[..., 2:] - boxes[..., :2], axis=-1)  # [B, M]
    chosen = ops.cast(ops.argmax(ops.where(covered_by, -area[:, None, :], -1e12), axis=-1), "int32")  # smallest box
    covered = ops.any(covered_by, axis=-1)
    truth = det.gather_boxes(boxes, chosen)
    classes = ops.take_along_axis(ops.cast(gt_classes, "int32"), chosen, axis=1)
    coverage = ops.one_hot(ops.maximum(classes, 0), num_classes) * ops.cast(covered, "float32")[..., None]
    corners = (truth - ops.concatenate([centres, centres], axis=-1)[None]) / box_normalizer
    return coverage, corners, covered


@keras.saving.register_keras_serializable(package="deepzoo")
class DetectNetDecoder(keras.layers.Layer):
    """{"coverage" [N, S, K], "bbox" [N, S, 4]} → {"boxes" [N, S, 4] xyxy pixels, "scores" = coverage}."""

    def __init__(self, grid_shape, stride, box_normalizer, **kwargs):
        super().__init__(**kwargs)
        self.grid_shape = [int(v) for v in grid_shape]
        self.stride = int(stride)
        self.box_normalizer = float(box_normalizer)

    def call(self, outputs):
        centres = (ops.convert_to_tensor(det.cell_offsets(*self.grid_shape)) + 0.5) * float(self.stride)
        boxes = ops.cast(outputs["bbox"], "float32") * self.box_normalizer + ops.concatenate([centres, centres], axis=-1)[None]
        return {"boxes": boxes, "scores": ops.cast(outputs["coverage"], "float32")}

    def compute_output_spec(self, outputs):
        shape = outputs["coverage"].shape
        return {"boxes": keras.KerasTensor((shape[0], shape[1], 4), "float32"), "scores": keras.KerasTensor(shape, "float32")}

    def get_config(self):
        return {**super().get_config(), "grid_shape": self.grid_shape, "stride": self.stride, "box_normalizer": self.box_normalizer}


@keras.saving.register_keras_serializable(package="deepzoo")
class DetectNet(ZooModel):
    """DetectNet.

    Args:
        input_shape: (height, width, 3), sides multiples of 16 (DIGITS' KITTI default 1248 × 384).
        num_classes: coverage channels (1 in DIGITS' example: cars).
        modules: the inception modules kept, in GoogLeNet's order (all nine by default).
        width_multiplier: channel multiplier of the stem and the modules.
        coverage_scale: the fraction of a box, around its centre, whose cells are covered (0.4).
        box_normalizer: pixels per unit of the corner regression.
        coverage_weight, bbox_weight: loss weights.
        score_threshold, iou_threshold, max_detections, pre_nms_topk: the endpoint's NMS settings.
        preprocessing: None maps 0..255 to [−1, 1].
    """

    def __init__(
        self,
        input_shape=(384, 1248, 3),
        num_classes=1,
        modules=ALL_MODULES,
        width_multiplier=1.0,
        coverage_scale=0.4,
        box_normalizer=64.0,
        coverage_weight=1.0,
        bbox_weight=1.0,
        score_threshold=0.05,
        iou_threshold=0.5,
        max_detections=det.DECODER_DEFAULTS["max_detections"],
        pre_nms_topk=det.DECODER_DEFAULTS["pre_nms_topk"],
        preprocessing=None,
        name=None,
        **kwargs,
    ):
        height, width = int(input_shape[0]), int(input_shape[1])
        if height % 16 or width % 16:
            raise ValueError(f"input_shape sides must be multiples of 16. Received: input_shape={tuple(input_shape)}")
        unknown = sorted(set(modules) - set(ALL_MODULES))
        if unknown:
            raise ValueError(f"Unknown inception modules {unknown}. Expected some of {ALL_MODULES}")

        def scaled(filters):
            return max(1, round(filters * width_multiplier))

        inputs, x = model_input(input_shape, preprocessing or {"scale": 1.0 / 127.5, "offset": -1.0}, name="images")
        x = keras.layers.Conv2D(scaled(64), 7, strides=2, padding="same", activation="relu", name="conv1_7x7")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
        x = LocalResponseNormalization(name="norm1")(x)
        x = keras.layers.Conv2D(scaled(64), 1, activation="relu", name="conv2_3x3_reduce")(x)
        x = keras.layers.Conv2D(scaled(192), 3, padding="same", activation="relu", name="conv2_3x3")(x)
        x = LocalResponseNormalization(name="norm2")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
        pooled = False
        for entry in GOOGLENET_MODULES:
            if entry == "pool":
                # Only the pool between the 3x and 4x modules: the one before 5a is removed (stride 16).
                if not pooled:
                    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool3")(x)
                    pooled = True
                continue
            module, widths = entry
            if module in modules:
                x = inception_module(x, [scaled(w) for w in widths], name=f"inception_{module}")
        if not pooled:
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool3")(x)
        rows, columns = int(x.shape[1]), int(x.shape[2])
        # Initial outputs: coverage 0.01 everywhere (RetinaNet's prior: the first steps do not chase
        # the empty cells) and a 16-px box around each cell's centre (not a zero-area point).
        coverage = keras.layers.Conv2D(
            num_classes, 1, activation="sigmoid", bias_initializer=keras.initializers.Constant(-math.log(99.0)), name="coverage_conv"
        )(x)
        half_cell = 8.0 / float(box_normalizer)
        bbox = keras.layers.Conv2D(
            4, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
            bias_initializer=keras.initializers.Constant([-half_cell, -half_cell, half_cell, half_cell]), name="bbox_conv",
        )(x)
        outputs = {
            "coverage": keras.layers.Reshape((rows * columns, num_classes), name="coverage")(coverage),
            "bbox": keras.layers.Reshape((rows * columns, 4), name="bbox")(bbox),
        }
        super().__init__(inputs=inputs, outputs=outputs, name=name or "detectnet", **kwargs)
        plain = {
            "num_classes": int(num_classes),
            "grid_shape": (rows, columns),
            "loss_settings": dict(grid_shape=(rows, columns), stride=16, num_classes=int(num_classes), coverage_scale=float(coverage_scale),
                                  box_normalizer=float(box_normalizer)),
            "loss_weights": (float(coverage_weight), float(bbox_weight)),
            "nms_config": dict(num_classes=int(num_classes), image_size=[height, width], score_threshold=float(score_threshold),
                               iou_threshold=float(iou_threshold), max_detections=int(max_detections), pre_nms_topk=int(pre_nms_topk)),
        }
        for key, value in plain.items():
            object.__setattr__(self, key, value)
        self.coverage_loss_tracker = keras.metrics.Mean(name="coverage_loss")
        self.bbox_loss_tracker = keras.metrics.Mean(name="bbox_loss")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        coverage, corners, covered = coverage_targets(y["boxes"], y["classes"], **self.loss_settings)
        batch = ops.cast(ops.shape(coverage)[0], "float32")
        coverage_loss = ops.sum(ops.square(ops.cast(y_pred["coverage"], "float32") - coverage)) / batch
        bbox_error = ops.abs(ops.cast(y_pred["bbox"], "float32") - corners)
        bbox_loss = ops.sum(bbox_error * ops.cast(covered, "float32")[..., None]) / batch
        self.coverage_loss_tracker.update_state(coverage_loss)
        self.bbox_loss_tracker.update_state(bbox_loss)
        total = self.loss_weights[0] * coverage_loss + self.loss_weights[1] * bbox_loss
        return ops.add(total, ops.sum(self.losses)) if self.losses else total

    def detection_decoder(self):
        s = self.loss_settings
        return DetectNetDecoder(s["grid_shape"], s["stride"], s["box_normalizer"], name="detectnet_decode")


register(
    ModelSpec(
        name="detectnet",
        family="detection",
        task="detection",
        builder=DetectNet,
        canonical_config=dict(name="detectnet"),
        tiny_config=dict(input_shape=(64, 64, 3), num_classes=3, modules=("3a", "4a"), width_multiplier=0.125, box_normalizer=32.0,
                         pre_nms_topk=300, name="detectnet"),
        reference_params=5_978_677,
        reference_source=(
            "B (GoogLeNet's 6,998,552 without auxiliary heads, less its FC 1000 (1,025,000), plus the 1 × 1 coverage "
            "(1,025) and bbox (4,100) heads, one class; no count is published)"
        ),
        paper="Tao, Barker & Sarathy 2016, NVIDIA developer blog (DetectNet: deep neural network for object detection in DIGITS)",
        seeds=("004",),
        default_dataset="shapes_scenes",
        inputs=(TensorSpec("images", (None, None, 3), "float32"),),
        outputs=det.ENDPOINT_OUTPUTS,
        limitations={
            "tflite_int8": (
                "full-integer int8 gives each tensor one scale: pixel boxes and the per-(image, class) NMS offsets "
                "quantise to steps of many pixels, so boxes and suppression break; float formats keep float activations"
            ),
        },
        export_endpoint="images → boxes, scores, classes, num_detections (per-cell corner boxes, coverage scores, per-class NMS)",
        notes=(
            "No parameter count published (a blog post): the reference is GoogLeNet's, derived. Per-class NMS instead of OpenCV groupRectangles (no ONNX/TFLite "
            "op); sigmoid coverage. Tiny config: inception 3a and 4a at 1/8 width, stride 16 (4 × 4 cells at 64 px)."
        ),
    )
)
