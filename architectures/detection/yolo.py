"""YOLO v1 and YOLOv2: one network looks once at the image and regresses boxes on a grid.

YOLO v1 — Redmon, Divvala, Girshick & Farhadi, "You only look once: unified, real-time object
detection", CVPR 2016. The image (448 × 448) is divided into an S × S grid (S = 7); the cell that
contains an object's centre is responsible for it. Each cell predicts B = 2 boxes (x, y relative to
the cell, √w, √h relative to the image, and a confidence Pr(Object)·IoU) and one set of C = 20
class probabilities: a 7 × 7 × 30 tensor. Network (Fig. 3): 24 convolutional layers + 2 fully
connected layers, leaky ReLU 0.1 everywhere except the linear output, dropout 0.5 after the first
FC. Loss (eq. 3): sum-squared error with λ_coord = 5 on x, y, √w, √h of the responsible predictor
(the one of the cell's B with the highest IoU with the truth), confidence target = that IoU,
λ_noobj = 0.5 on the confidences of every other predictor, and SSE on the class probabilities of
cells that hold an object. Test score: Pr(Class_i | Object) · confidence, then per-class NMS.

YOLOv2 — Redmon & Farhadi, "YOLO9000: better, faster, stronger", CVPR 2017. Darknet-19 with batch
norm and leaky ReLU; detection at 416 × 416 → a 13 × 13 grid (stride 32): the classifier's last
conv is replaced by three 3 × 3 convs of 1024 with a passthrough layer that brings the 26 × 26 ×
512 features (1 × 1 conv to 64 and space-to-depth ×2, as in Darknet's reorg) next to the last
ones, then a 1 × 1 conv to A · (5 + C) outputs. A = 5 anchor shapes from k-means on the training
boxes with d = 1 − IoU (`tasks.detection.kmeans_anchors`). Decoding: b_x = σ(t_x) + c_x,
b_y = σ(t_y) + c_y, b_w = p_w e^{t_w}, b_h = p_h e^{t_h}, objectness σ(t_o), class softmax. Each
object goes to the cell of its centre and the anchor of highest IoU with its shape.

Where we differ, and why (the paper text leaves these to Darknet's code):
- YOLOv2's loss follows Darknet's region layer: squared error on σ(t_x), σ(t_y), t_w, t_h of the
  responsible anchor (coord scale 1), objectness target = IoU of its box with the truth (scale 5),
  no-object squared error (scale 1) on anchors whose box overlaps no truth by more than 0.6; class
  softmax cross-entropy instead of Darknet's squared error on the softmax.
- Multi-scale training (320–608) is a property of the data pipeline, not the model: a model is
  built for one input size so its grid is a constant of the graph.
- Predicted √w, √h of YOLO v1 are linear outputs; boxes use max(√w, 0)² so an untrained head
  gives valid boxes.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import detection as det

# YOLO v1 Fig. 3, as data: ("conv", filters, kernel, stride) or ("pool",) (2 × 2 / 2 max-pool).
YOLO_V1_LAYERS = (
    ("conv", 64, 7, 2), ("pool",),
    ("conv", 192, 3, 1), ("pool",),
    ("conv", 128, 1, 1), ("conv", 256, 3, 1), ("conv", 256, 1, 1), ("conv", 512, 3, 1), ("pool",),
    *(("conv", 256, 1, 1), ("conv", 512, 3, 1)) * 4, ("conv", 512, 1, 1), ("conv", 1024, 3, 1), ("pool",),
    *(("conv", 512, 1, 1), ("conv", 1024, 3, 1)) * 2, ("conv", 1024, 3, 1), ("conv", 1024, 3, 2),
    ("conv", 1024, 3, 1), ("conv", 1024, 3, 1),
)

# Darknet-19 (YOLOv2 Table 6) up to the last 1024 block; "route" marks the 26 × 26 × 512 features
# the passthrough layer takes.
DARKNET19_LAYERS = (
    ("conv", 32, 3, 1), ("pool",),
    ("conv", 64, 3, 1), ("pool",),
    ("conv", 128, 3, 1), ("conv", 64, 1, 1), ("conv", 128, 3, 1), ("pool",),
    ("conv", 256, 3, 1), ("conv", 128, 1, 1), ("conv", 256, 3, 1), ("pool",),
    ("conv", 512, 3, 1), ("conv", 256, 1, 1), ("conv", 512, 3, 1), ("conv", 256, 1, 1), ("conv", 512, 3, 1), ("route",), ("pool",),
    ("conv", 1024, 3, 1), ("conv", 512, 1, 1), ("conv", 1024, 3, 1), ("conv", 512, 1, 1), ("conv", 1024, 3, 1),
)

# YOLOv2's VOC anchors (yolo-voc.cfg), in cells of the 13 × 13 grid, converted to fractions of the image.
YOLO_V2_VOC_ANCHORS = tuple((w / 13.0, h / 13.0) for w, h in (
    (1.3221, 1.73145), (3.19275, 4.00944), (5.05587, 8.09892), (9.47112, 4.84053), (11.2364, 10.0071)))


def _layer_stack(x, table, width, batch_norm, prefix):
    """Applies a conv/pool table; returns (output, the tensor at "route" or None, stride)."""
    route, stride, index = None, 1, 0
    for entry in table:
        if entry[0] == "pool":
            x = keras.layers.MaxPooling2D(2, 2, padding="same", name=f"{prefix}_pool{index}")(x)
            stride *= 2
        elif entry[0] == "route":
            route = x
        else:
            _, filters, kernel, strides = entry
            index += 1
            x = keras.layers.Conv2D(
                max(1, round(filters * width)), kernel, strides=strides, padding="same", use_bias=not batch_norm,
                name=f"{prefix}_conv{index}",
            )(x)
            if batch_norm:
                x = keras.layers.BatchNormalization(name=f"{prefix}_bn{index}")(x)
            x = keras.layers.LeakyReLU(0.1, name=f"{prefix}_leaky{index}")(x)
            stride *= strides
    return x, route, stride


class _Tracked(ZooModel):
    """Adds loss-component trackers and the `detection_decoder` / `nms_config` contract."""

    def _finish(self, plain, components):
        # Plain Python data, set past Keras' attribute tracking (which would wrap dicts and lists).
        for key, value in plain.items():
            object.__setattr__(self, key, value)
        for component in components:
            setattr(self, f"{component}_tracker", keras.metrics.Mean(name=component))

    def _track(self, values):
        for key, value in values.items():
            getattr(self, f"{key}_tracker").update_state(value)


# --- YOLO v1 -------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class YoloV1Decoder(keras.layers.Layer):
    """The S × S × (5B + C) grid → {"boxes" [N, S·S·B, 4] xyxy pixels, "scores" [N, S·S·B, C]}:
    score = Pr(class | object) × box confidence. The SSE-trained outputs are linear, so they are
    projected back to what they estimate: the confidence clipped to [0, 1] and the class outputs
    clipped at 0 and, where they sum above 1, divided by their sum (at most a distribution over the C
    classes; below 1 they are kept, so near-zero outputs of an untrained head are not blown up into
    a distribution that export round-off could reorder). Clipping the product alone scored one box
    at 1.0 in several classes at once (ties at the top of every class's list)."""

    def __init__(self, grid_shape, boxes_per_cell, num_classes, image_size, **kwargs):
        super().__init__(**kwargs)
        self.grid_shape = [int(v) for v in grid_shape]
        self.boxes_per_cell = int(boxes_per_cell)
        self.num_classes = int(num_classes)
        self.image_size = [int(v) for v in image_size]

    def call(self, grid):
        boxes, confidence, probabilities = split_yolo_v1(grid, self.grid_shape, self.boxes_per_cell, self.num_classes)
        xyxy = decode_yolo_v1_boxes(boxes, self.grid_shape, self.image_size)
        probabilities = ops.maximum(probabilities, 0.0)
        probabilities = probabilities / ops.maximum(ops.sum(probabilities, axis=-1, keepdims=True), 1.0)
        scores = ops.clip(confidence, 0.0, 1.0)[..., None] * probabilities[:, :, None, :]
        count = self.grid_shape[0] * self.grid_shape[1] * self.boxes_per_cell
        return {"boxes": ops.reshape(xyxy, (-1, count, 4)), "scores": ops.reshape(scores, (-1, count, self.num_classes))}

    def compute_output_spec(self, grid):
        count = self.grid_shape[0] * self.grid_shape[1] * self.boxes_per_cell
        return {
            "boxes": keras.KerasTensor((grid.shape[0], count, 4), "float32"),
            "scores": keras.KerasTensor((grid.shape[0], count, self.num_classes), "float32"),
        }

    def get_config(self):
        return {**super().get_config(), "grid_shape": self.grid_shape, "boxes_per_cell": self.boxes_per_cell,
                "num_classes": self.num_classes, "image_size": self.image_size}


def split_yolo_v1(grid, grid_shape, boxes_per_cell, num_classes):
    """[N, S, S, 5B + C] → (boxes [N, S·S, B, 4] = (x, y, √w, √h), confidence [N, S·S, B],
    class probabilities [N, S·S, C]); per cell the B boxes come first, then the classes."""
    cells = grid_shape[0] * grid_shape[1]
    flat = ops.reshape(ops.cast(grid, "float32"), (-1, cells, 5 * boxes_per_cell + num_classes))
    boxes = ops.reshape(flat[..., : 5 * boxes_per_cell], (-1, cells, boxes_per_cell, 5))
    return boxes[..., :4], boxes[..., 4], flat[..., 5 * boxes_per_cell :]


def decode_yolo_v1_boxes(boxes, grid_shape, image_size):
    """(x, y) in the cell, (√w, √h) of the image → xyxy pixels, [N, S·S, B, 4]."""
    rows, columns = grid_shape
    height, width = float(image_size[0]), float(image_size[1])
    offsets = ops.convert_to_tensor(det.cell_offsets(rows, columns))[None, :, None, :]  # [1, S·S, 1, 2]
    centre = (boxes[..., :2] + offsets) / ops.convert_to_tensor([float(columns), float(rows)]) * ops.convert_to_tensor([width, height])
    size = ops.square(ops.maximum(boxes[..., 2:4], 0.0)) * ops.convert_to_tensor([width, height])
    return ops.concatenate([centre - size / 2.0, centre + size / 2.0], axis=-1)


def yolo_v1_loss(y_true, grid, grid_shape, boxes_per_cell, num_classes, image_size, lambda_coord=5.0, lambda_noobj=0.5):
    """YOLO v1's sum-squared loss (eq. 3), summed over the grid and averaged over the batch.

    Returns (total, {"coord_loss", "object_loss", "noobject_loss", "class_loss"}).
    """
    rows, columns = grid_shape
    height, width = float(image_size[0]), float(image_size[1])
    boxes, confidence, probabilities = split_yolo_v1(grid, grid_shape, boxes_per_cell, num_classes)
    has_object, gt_index, _, _ = det.assign_to_cells(y_true["boxes"], y_true["classes"], grid_shape, image_size)
    truth = det.gather_boxes(y_true["boxes"], gt_index)  # [N, S·S, 4]
    truth_class = ops.take_along_axis(ops.cast(y_true["classes"], "int32"), gt_index, axis=1)
    # Targets in the predictor's terms: centre within the cell, √ of the size over the image.
    offsets = ops.convert_to_tensor(det.cell_offsets(rows, columns))[None]  # [1, S·S, 2]
    centre = (truth[..., :2] + truth[..., 2:]) / 2.0 / ops.convert_to_tensor([width / columns, height / rows]) - offsets
    root_size = ops.sqrt(ops.maximum(truth[..., 2:] - truth[..., :2], 0.0) / ops.convert_to_tensor([width, height]))
    target = ops.concatenate([centre, root_size], axis=-1)[:, :, None, :]  # [N, S·S, 1, 4]

    predicted = decode_yolo_v1_boxes(boxes, grid_shape, image_size)
    iou = ops.stop_gradient(det.paired_iou(predicted, truth[:, :, None, :]))  # [N, S·S, B]
    responsible = ops.one_hot(ops.argmax(iou, axis=-1), boxes_per_cell) * ops.cast(has_object, "float32")[..., None]
    batch = ops.cast(ops.shape(grid)[0], "float32")
    coord = lambda_coord * ops.sum(responsible[..., None] * ops.square(boxes - target)) / batch
    object_loss = ops.sum(responsible * ops.square(confidence - iou)) / batch
    noobject = lambda_noobj * ops.sum((1.0 - responsible) * ops.square(confidence)) / batch
    class_target = ops.one_hot(ops.maximum(truth_class, 0), num_classes)
    class_loss = ops.sum(ops.cast(has_object, "float32")[..., None] * ops.square(probabilities - class_target)) / batch
    parts = {"coord_loss": coord, "object_loss": object_loss, "noobject_loss": noobject, "class_loss": class_loss}
    return coord + object_loss + noobject + class_loss, parts


@keras.saving.register_keras_serializable(package="deepzoo")
class YoloV1(_Tracked):
    """YOLO v1.

    Args:
        input_shape: (height, width, 3); 448 × 448 in the paper. The grid is the input over the
            backbone's stride (64 for the paper's table: 7 × 7).
        num_classes: C (20 for VOC). boxes_per_cell: B (2).
        layers: the conv/pool table (`YOLO_V1_LAYERS`); width: channel multiplier of the table.
        fc_units: the first FC layer (4096). dropout: after it (0.5).
        batch_norm: batch norm after each conv (not in the paper, which predates it; off by
            default: with the FC head, a model fitted with batch statistics scored far worse with
            its moving averages, measured 0.001 vs 3.49 loss on one memorised batch).
        lambda_coord, lambda_noobj: loss weights (5, 0.5).
        score_threshold, iou_threshold, max_detections, pre_nms_topk: the endpoint's NMS settings.
        preprocessing: deterministic input preprocessing; None maps 0..255 to [0, 1].
    """

    def __init__(
        self,
        input_shape=(448, 448, 3),
        num_classes=20,
        boxes_per_cell=2,
        layers=YOLO_V1_LAYERS,
        width=1.0,
        fc_units=4096,
        dropout=0.5,
        batch_norm=False,
        lambda_coord=5.0,
        lambda_noobj=0.5,
        score_threshold=0.05,
        iou_threshold=0.5,
        max_detections=det.DECODER_DEFAULTS["max_detections"],
        pre_nms_topk=det.DECODER_DEFAULTS["pre_nms_topk"],
        preprocessing=None,
        name=None,
        **kwargs,
    ):
        height, width_px = int(input_shape[0]), int(input_shape[1])
        stride = _table_stride(layers)
        if height % stride or width_px % stride:
            raise ValueError(f"input_shape sides must be multiples of the backbone stride {stride}. Received: input_shape={tuple(input_shape)}")
        inputs, x = model_input(input_shape, preprocessing or {"scale": 1.0 / 255.0}, name="images")
        x, _, stride = _layer_stack(x, [tuple(e) for e in layers], width, bool(batch_norm), "yolo")
        grid_shape = (height // stride, width_px // stride)
        per_cell = 5 * boxes_per_cell + num_classes
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(fc_units, name="fc1")(x)
        x = keras.layers.LeakyReLU(0.1, name="fc1_leaky")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = keras.layers.Dense(grid_shape[0] * grid_shape[1] * per_cell, name="fc2")(x)
        grid = keras.layers.Reshape((*grid_shape, per_cell), name="grid")(x)
        super().__init__(inputs=inputs, outputs=grid, name=name or "yolo_v1", **kwargs)
        self._finish(
            {
                "num_classes": int(num_classes),
                "grid_shape": grid_shape,
                # §2.2: "if we start at a high learning rate our model often diverges": 1e-3 first.
                "initial_learning_rate": 1e-3,
                "loss_settings": dict(grid_shape=grid_shape, boxes_per_cell=int(boxes_per_cell), num_classes=int(num_classes),
                                      image_size=(height, width_px), lambda_coord=float(lambda_coord), lambda_noobj=float(lambda_noobj)),
                "nms_config": dict(num_classes=int(num_classes), image_size=[height, width_px], score_threshold=float(score_threshold),
                                   iou_threshold=float(iou_threshold), max_detections=int(max_detections), pre_nms_topk=int(pre_nms_topk)),
            },
            ("coord_loss", "object_loss", "noobject_loss", "class_loss"),
        )

    def pretraining_stage(self, data, epochs, optimizer, callbacks=(), verbose=0):
        """Pretrains the conv layers before detection training (§2.2); returns the last epoch's loss.

        The paper pretrains its convolutions as an ImageNet classifier so that the FC head starts
        from features that already tell classes apart; its FC head shares no weights across cells, so
        each cell's class outputs otherwise learn only from the objects that fall in that cell
        (measured: from scratch the class loss was still 2.5–2.8 after 10 epochs; chance, ¼
        everywhere, is ≈ 2.6). Without ImageNet here, the classifier labels every grid cell of the
        conv features under the FC head with the class of the object centred in it (a 1 × 1 conv,
        softmax cross-entropy over the cells that hold an object; YOLO's responsibility rule,
        `tasks.detection.assign_to_cells`). It shares the conv layers with the detector, so fitting
        it trains them; its own 1 × 1 conv is then dropped.

        Args:
            data: a tf.data.Dataset of (images, {"boxes", "classes"}) batches, the detection task's
                training batches (augmented: boxes move with the image). Training split only.
            epochs: pre-training epochs. optimizer: a fresh Keras optimiser (its own schedule).
            callbacks: Keras callbacks of the pre-training fit.
        """
        import tensorflow as tf

        features = self.get_layer("flatten").input
        num_classes = self.loss_settings["num_classes"]
        cells = keras.layers.Conv2D(num_classes, 1, activation="softmax", name="pretrain_cell_classes")(features)
        classifier = keras.Model(self.inputs, cells, name="pretrain_cell_classifier")
        grid_shape, image_size = tuple(features.shape[1:3]), self.loss_settings["image_size"]

        def cell_labels(images, targets):
            has_object, gt_index, _, _ = det.assign_to_cells(targets["boxes"], targets["classes"], grid_shape, image_size)
            classes = tf.gather(tf.cast(targets["classes"], tf.int32), gt_index, batch_dims=1)
            return images, tf.reshape(tf.where(has_object, classes, -1), (-1, *grid_shape))

        def masked_cross_entropy(labels, probabilities):  # cells without an object carry no label
            labels = ops.cast(labels, "int32")
            mask = ops.cast(labels >= 0, "float32")
            entropy = keras.losses.sparse_categorical_crossentropy(ops.maximum(labels, 0), probabilities)
            return ops.sum(entropy * mask) / ops.maximum(ops.sum(mask), 1.0)

        classifier.compile(optimizer, masked_cross_entropy)
        labelled = data.map(cell_labels, num_parallel_calls=tf.data.AUTOTUNE)
        history = classifier.fit(labelled, epochs=int(epochs), shuffle=False, verbose=verbose, callbacks=list(callbacks))
        return float(history.history["loss"][-1])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total, parts = yolo_v1_loss(y, y_pred, **self.loss_settings)
        self._track(parts)
        return ops.add(total, ops.sum(self.losses)) if self.losses else total

    def detection_decoder(self):
        s = self.loss_settings
        return YoloV1Decoder(s["grid_shape"], s["boxes_per_cell"], s["num_classes"], s["image_size"], name="yolo_v1_decode")


def _table_stride(table):
    stride = 1
    for entry in table:
        if entry[0] == "pool":
            stride *= 2
        elif entry[0] == "conv":
            stride *= int(entry[3])
    return stride


# --- YOLOv2 --------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class YoloV2Decoder(keras.layers.Layer):
    """[N, S, S, A·(5 + C)] → {"boxes" [N, S·S·A, 4] xyxy pixels, "scores" [N, S·S·A, C]}:
    b = (σ(t_x) + c_x, σ(t_y) + c_y, p_w e^{t_w}, p_h e^{t_h}), score = σ(t_o) · softmax."""

    def __init__(self, grid_shape, anchors, num_classes, image_size, **kwargs):
        super().__init__(**kwargs)
        self.grid_shape = [int(v) for v in grid_shape]
        object.__setattr__(self, "anchors", [[float(a) for a in pair] for pair in anchors])
        self.num_classes = int(num_classes)
        self.image_size = [int(v) for v in image_size]

    def call(self, grid):
        raw = split_yolo_v2(grid, self.grid_shape, len(self.anchors), self.num_classes)
        boxes = decode_yolo_v2_boxes(raw, self.grid_shape, self.anchors, self.image_size)
        scores = ops.sigmoid(raw[..., 4:5]) * ops.softmax(raw[..., 5:], axis=-1)
        return {"boxes": boxes, "scores": scores}

    def compute_output_spec(self, grid):
        count = self.grid_shape[0] * self.grid_shape[1] * len(self.anchors)
        return {
            "boxes": keras.KerasTensor((grid.shape[0], count, 4), "float32"),
            "scores": keras.KerasTensor((grid.shape[0], count, self.num_classes), "float32"),
        }

    def get_config(self):
        return {**super().get_config(), "grid_shape": self.grid_shape, "anchors": self.anchors,
                "num_classes": self.num_classes, "image_size": self.image_size}


def split_yolo_v2(grid, grid_shape, num_anchors, num_classes):
    """[N, S, S, A·(5 + C)] → [N, S·S·A, 5 + C] (t_x, t_y, t_w, t_h, t_o, class logits)."""
    return ops.reshape(ops.cast(grid, "float32"), (-1, grid_shape[0] * grid_shape[1] * num_anchors, 5 + num_classes))


def decode_yolo_v2_boxes(raw, grid_shape, anchors, image_size):
    rows, columns = grid_shape
    height, width = float(image_size[0]), float(image_size[1])
    offsets = ops.convert_to_tensor(det.cell_offsets(rows, columns, len(anchors)))[None]  # [1, S·S·A, 2]
    priors = ops.convert_to_tensor(np_tile_anchors(anchors, rows * columns))[None]  # fractions of the image
    image = ops.convert_to_tensor([width, height])
    centre = (ops.sigmoid(raw[..., :2]) + offsets) / ops.convert_to_tensor([float(columns), float(rows)]) * image
    size = priors * ops.exp(ops.minimum(raw[..., 2:4], det.MAX_SIZE_DELTA)) * image
    return ops.concatenate([centre - size / 2.0, centre + size / 2.0], axis=-1)


def np_tile_anchors(anchors, cells):
    import numpy as np

    return np.tile(np.asarray(anchors, np.float32), (cells, 1))


def yolo_v2_loss(y_true, grid, grid_shape, anchors, num_classes, image_size, coord_scale=1.0, object_scale=5.0,
                 noobject_scale=1.0, class_scale=1.0, ignore_iou=0.6):
    """YOLOv2's loss as Darknet's region layer computes it (module docstring), per image."""
    rows, columns = grid_shape
    height, width = float(image_size[0]), float(image_size[1])
    num_anchors = len(anchors)
    anchor_sizes = ops.convert_to_tensor([[a[0] * width, a[1] * height] for a in anchors], "float32")  # [A, 2] pixels

    def best_anchor(boxes):  # the anchor whose shape overlaps the box's best (both centred)
        size = ops.maximum(boxes[..., 2:] - boxes[..., :2], 0.0)[..., None, :]  # [N, M, 1, 2]
        inter = ops.prod(ops.minimum(size, anchor_sizes), axis=-1)
        union = ops.prod(size, axis=-1) + ops.prod(anchor_sizes, axis=-1) - inter
        return ops.argmax(inter / ops.maximum(union, 1e-9), axis=-1)

    raw = split_yolo_v2(grid, grid_shape, num_anchors, num_classes)
    has_object, gt_index, _, _ = det.assign_to_cells(y_true["boxes"], y_true["classes"], grid_shape, image_size, best_anchor, num_anchors)
    truth = det.gather_boxes(y_true["boxes"], gt_index)  # [N, S·S·A, 4]
    truth_class = ops.take_along_axis(ops.cast(y_true["classes"], "int32"), gt_index, axis=1)
    offsets = ops.convert_to_tensor(det.cell_offsets(rows, columns, num_anchors))[None]
    priors = ops.convert_to_tensor(np_tile_anchors([[a[0] * width, a[1] * height] for a in anchors], rows * columns))[None]
    centre_target = (truth[..., :2] + truth[..., 2:]) / 2.0 / ops.convert_to_tensor([width / columns, height / rows]) - offsets
    size_target = ops.log(ops.maximum(truth[..., 2:] - truth[..., :2], 1.0) / priors)
    obj = ops.cast(has_object, "float32")

    predicted = decode_yolo_v2_boxes(raw, grid_shape, anchors, image_size)
    iou_with_truth = ops.stop_gradient(det.paired_iou(predicted, truth))
    overlaps = det.paired_iou(ops.stop_gradient(predicted)[:, :, None, :], ops.cast(y_true["boxes"], "float32")[:, None, :, :])  # [N, S·S·A, M]
    overlaps = ops.where((ops.cast(y_true["classes"], "int32") >= 0)[:, None, :], overlaps, 0.0)
    ignored = ops.cast(ops.max(overlaps, axis=-1) > ignore_iou, "float32")
    objectness = ops.sigmoid(raw[..., 4])
    batch = ops.cast(ops.shape(grid)[0], "float32")
    coord = coord_scale * ops.sum(obj[..., None] * (ops.square(ops.sigmoid(raw[..., :2]) - centre_target) + ops.square(raw[..., 2:4] - size_target))) / batch
    object_loss = object_scale * ops.sum(obj * ops.square(objectness - iou_with_truth)) / batch
    noobject = noobject_scale * ops.sum((1.0 - obj) * (1.0 - ignored) * ops.square(objectness)) / batch
    log_probabilities = ops.log_softmax(raw[..., 5:], axis=-1)
    cross_entropy = -ops.sum(ops.one_hot(ops.maximum(truth_class, 0), num_classes) * log_probabilities, axis=-1)
    class_loss = class_scale * ops.sum(obj * cross_entropy) / batch
    parts = {"coord_loss": coord, "object_loss": object_loss, "noobject_loss": noobject, "class_loss": class_loss}
    return coord + object_loss + noobject + class_loss, parts


@keras.saving.register_keras_serializable(package="deepzoo")
class YoloV2(_Tracked):
    """YOLOv2 (Darknet-19 detection network with the passthrough layer).

    Args:
        input_shape: (height, width, 3), sides multiples of 32; 416 × 416 in the paper.
        num_classes: C (20 for VOC). anchors: A (w, h) priors as fractions of the image
            (VOC's five k-means anchors by default; `tasks.detection.kmeans_anchors` makes new ones).
        layers: the Darknet-19 table (`DARKNET19_LAYERS`, with a "route" for the passthrough).
        width: channel multiplier. head_filters: the three detection convs' width before the
            multiplier (1024). passthrough_filters: the 1 × 1 conv on the routed features (64).
        score_threshold, iou_threshold, max_detections, pre_nms_topk: the endpoint's NMS settings.
        preprocessing: None maps 0..255 to [0, 1].
    """

    def __init__(
        self,
        input_shape=(416, 416, 3),
        num_classes=20,
        anchors=YOLO_V2_VOC_ANCHORS,
        layers=DARKNET19_LAYERS,
        width=1.0,
        head_filters=1024,
        passthrough_filters=64,
        score_threshold=0.05,
        iou_threshold=0.5,
        max_detections=det.DECODER_DEFAULTS["max_detections"],
        pre_nms_topk=det.DECODER_DEFAULTS["pre_nms_topk"],
        preprocessing=None,
        name=None,
        **kwargs,
    ):
        height, width_px = int(input_shape[0]), int(input_shape[1])
        stride = _table_stride(layers)
        if height % stride or width_px % stride:
            raise ValueError(f"input_shape sides must be multiples of the backbone stride {stride}. Received: input_shape={tuple(input_shape)}")
        anchors = [[float(a) for a in pair] for pair in anchors]
        inputs, x = model_input(input_shape, preprocessing or {"scale": 1.0 / 255.0}, name="images")
        x, route, stride = _layer_stack(x, [tuple(e) for e in layers], width, True, "darknet")
        filters = max(1, round(head_filters * width))

        def conv_bn(tensor, channels, kernel, name):
            tensor = keras.layers.Conv2D(channels, kernel, padding="same", use_bias=False, name=f"{name}_conv")(tensor)
            tensor = keras.layers.BatchNormalization(name=f"{name}_bn")(tensor)
            return keras.layers.LeakyReLU(0.1, name=f"{name}_leaky")(tensor)

        x = conv_bn(x, filters, 3, "head1")
        x = conv_bn(x, filters, 3, "head2")
        if route is not None:
            passthrough = conv_bn(route, max(1, round(passthrough_filters * width)), 1, "passthrough")
            passthrough = _SpaceToDepth(name="reorg")(passthrough)
            x = keras.layers.Concatenate(name="passthrough_concat")([passthrough, x])
        x = conv_bn(x, filters, 3, "head3")
        grid = keras.layers.Conv2D(len(anchors) * (5 + num_classes), 1, name="grid")(x)
        super().__init__(inputs=inputs, outputs=grid, name=name or "yolo_v2", **kwargs)
        grid_shape = (height // stride, width_px // stride)
        self._finish(
            {
                "num_classes": int(num_classes),
                "grid_shape": grid_shape,
                "loss_settings": dict(grid_shape=grid_shape, anchors=anchors, num_classes=int(num_classes), image_size=(height, width_px)),
                "nms_config": dict(num_classes=int(num_classes), image_size=[height, width_px], score_threshold=float(score_threshold),
                                   iou_threshold=float(iou_threshold), max_detections=int(max_detections), pre_nms_topk=int(pre_nms_topk)),
            },
            ("coord_loss", "object_loss", "noobject_loss", "class_loss"),
        )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total, parts = yolo_v2_loss(y, y_pred, **self.loss_settings)
        self._track(parts)
        return ops.add(total, ops.sum(self.losses)) if self.losses else total

    def detection_decoder(self):
        s = self.loss_settings
        return YoloV2Decoder(s["grid_shape"], s["anchors"], s["num_classes"], s["image_size"], name="yolo_v2_decode")


@keras.saving.register_keras_serializable(package="deepzoo")
class _SpaceToDepth(keras.layers.Layer):
    """Darknet's reorg / space-to-depth ×2: [N, H, W, C] → [N, H/2, W/2, 4C] with reshape and
    transpose (keras.ops), so that every converter sees plain Reshape/Transpose ops."""

    def call(self, x):
        height, width, channels = x.shape[1], x.shape[2], x.shape[3]
        x = ops.reshape(x, (-1, height // 2, 2, width // 2, 2, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, height // 2, width // 2, 4 * channels))

    def compute_output_shape(self, shape):
        return (shape[0], shape[1] // 2, shape[2] // 2, 4 * shape[3])


# --- registration --------------------------------------------------------------------------------

_DETECTION_OUTPUTS = det.ENDPOINT_OUTPUTS
_INT8_REASON = det.TFLITE_INT8_LIMITATION

# Tiny tables: stride 16 (a 4 × 4 grid at 64 px, 8 × 8 on the 128-px scenes), one conv per stage.
YOLO_V1_TINY_LAYERS = (("conv", 16, 3, 1), ("pool",), ("conv", 32, 3, 1), ("pool",), ("conv", 48, 3, 1), ("pool",), ("conv", 64, 3, 1), ("pool",), ("conv", 64, 3, 1))
DARKNET_TINY_LAYERS = (("conv", 16, 3, 1), ("pool",), ("conv", 32, 3, 1), ("pool",), ("conv", 48, 3, 1), ("pool",), ("conv", 64, 3, 1), ("route",), ("pool",), ("conv", 64, 3, 1))
# k-means (d = 1 − IoU) on the 1,081 boxes of shapes_scenes(seed 0, n 300), k = 5, seed 0, as fractions
# of the 128-px image (tests/test_detection.py recomputes them); mean IoU 0.850.
SHAPES_SCENES_ANCHORS = ((0.1452, 0.1517), (0.1946, 0.1891), (0.2185, 0.2473), (0.2808, 0.2392), (0.2896, 0.3051))

register(
    ModelSpec(
        name="yolo_v1",
        family="detection",
        task="detection",
        builder=YoloV1,
        canonical_config=dict(name="yolo_v1"),
        tiny_config=dict(input_shape=(64, 64, 3), num_classes=3, layers=YOLO_V1_TINY_LAYERS, fc_units=128, dropout=0.0, name="yolo_v1"),
        reference_params=271_703_550,
        reference_source="B (24 convs with bias, FC 4096, FC 1470 at 448 × 448, 20 classes)",
        paper="Redmon, Divvala, Girshick & Farhadi 2016, CVPR (You only look once)",
        seeds=("000", "003", "004"),
        default_dataset="shapes_scenes",
        inputs=(TensorSpec("images", (None, None, 3), "float32"),),
        outputs=_DETECTION_OUTPUTS,
        limitations={"tflite_int8": _INT8_REASON},
        export_endpoint="images → boxes, scores, classes, num_detections (grid decoding, score = P(class)·confidence, per-class NMS)",
        notes=(
            "Paper's loss and network; √w, √h are linear outputs used as max(·, 0)². Tiny config: stride-16 table of "
            "4 convs (4 × 4 grid at 64 px, 8 × 8 on the 128-px scenes), FC 128, no dropout, no batch norm (as the paper)."
        ),
    )
)

register(
    ModelSpec(
        name="yolo_v2",
        family="detection",
        task="detection",
        builder=YoloV2,
        canonical_config=dict(name="yolo_v2"),
        tiny_config=dict(input_shape=(64, 64, 3), num_classes=3, anchors=SHAPES_SCENES_ANCHORS, layers=DARKNET_TINY_LAYERS,
                         head_filters=64, passthrough_filters=8, name="yolo_v2"),
        paper="Redmon & Farhadi 2017, CVPR (YOLO9000: better, faster, stronger)",
        seeds=("003", "000"),
        default_dataset="shapes_scenes",
        inputs=(TensorSpec("images", (None, None, 3), "float32"),),
        outputs=_DETECTION_OUTPUTS,
        limitations={"tflite_int8": _INT8_REASON},
        export_endpoint="images → boxes, scores, classes, num_detections (σ/exp anchor decoding, score = σ(t_o)·softmax, per-class NMS)",
        notes=(
            "No parameter count in the paper. Loss as Darknet's region layer (coord 1, object 5 with IoU target, "
            "no-object 1 below IoU 0.6) with softmax cross-entropy for classes. Tiny config: stride-16 Darknet table "
            "with the passthrough from stride 8, anchors from k-means (1 − IoU) on the shapes scenes."
        ),
    )
)
