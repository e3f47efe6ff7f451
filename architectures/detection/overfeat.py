"""OverFeat (a convolutional sliding window) and the plain sliding-window detector.

OverFeat — Sermanet, Eigen, Zhang, Mathieu, Fergus & LeCun, "OverFeat: integrated recognition,
localization and detection using convolutional networks", ICLR 2014. The classifier's fully
connected layers are convolutions (FC6 a conv with the kernel of its input map, FC7 and FC8 1 × 1
convs), so on a larger image the network produces a map: each output position is the classifier
applied to one window of the input, all windows sharing the convolutions of their overlap. The
"fast" model (Table 1): conv 96 @ 11 × 11 / 4, max-pool 2, conv 256 @ 5 × 5, max-pool 2, convs 512,
1024, 1024 @ 3 × 3 (zero padding 1), max-pool 2, FC 3072, 4096, 1000 on a 231 × 231 window. The
toy of the notes (A. Ng's course): conv 16 @ 5 × 5, max-pool 2, conv 400 @ 5 × 5, conv 400 @ 1 × 1,
conv 4 @ 1 × 1 softmax: a 14 × 14 window gives one output, a 16 × 16 image a 2 × 2 map.

Detection here: every output position is a window (its receptive field: `receptive_windows`), a
softmax over C + 1 classes (background 0) says what the window holds and a box regressor (1 × 1
conv on the FC7 features, 4 outputs) moves the window onto the object; training matches windows to
boxes at IoU ≥ 0.5 (each box also takes its best window) with hard negatives 3:1
(`tasks.detection.softmax_detection_loss`), inference is softmax scores + NMS.

Where we differ, and why: the paper's regressor is a separate two-layer network on the layer-5
features (4,096 → 1,024 → 4 per class) and its detection merges boxes greedily over 6 input scales;
ours is a class-agnostic 1 × 1 conv on FC7 at one scale (the endpoint is one graph of fixed size),
which with the background logit adds 20,485 weights (+0.014 %) to the fast model's 145,920,872.

The sliding-window detector (the notes' classic baseline, "detection as classification of each
box"): square and rectangular windows at several sizes slide over the image with a stride; each is
cropped and resized (bilinear, from constant gather indices, so the export is plain Gather ops) to
the classifier's input and classified into C + 1 classes with a background class; the boxes are the
windows themselves; NMS merges them. No feature sharing: the classifier runs once per window, so
the cost grows linearly with the number of windows.
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import detection as det

# Table 1, fast model: ("conv", filters, kernel, stride, padding) / ("pool", size); "fc" entries are
# convolutions whose kernel covers their input map on the training window (FC6) or 1 × 1.
OVERFEAT_FAST = (
    ("conv", 96, 11, 4, 0), ("pool", 2),
    ("conv", 256, 5, 1, 0), ("pool", 2),
    ("conv", 512, 3, 1, 1), ("conv", 1024, 3, 1, 1), ("conv", 1024, 3, 1, 1), ("pool", 2),
    ("fc", 3072, 6), ("fc", 4096, 1),
)
OVERFEAT_TOY = (("conv", 16, 5, 1, 0), ("pool", 2), ("fc", 400, 5), ("fc", 400, 1))


def receptive_windows(table, output_shape):
    """xyxy windows [H'·W', 4] (pixels) that each output position of `table` sees, row-major.

    The standard recursion over (kernel k, stride s, padding p): the window grows by (k − 1)·jump,
    its first centre moves by ((k − 1)/2 − p)·jump, and the jump multiplies by s.
    """
    size, jump, start = 1.0, 1.0, 0.5
    for entry in table:
        if entry[0] == "pool":
            kernel, stride, padding = entry[1], entry[1], 0
        elif entry[0] == "conv":
            kernel, stride, padding = entry[2], entry[3], entry[4]
        else:
            kernel, stride, padding = entry[2], 1, 0
        size += (kernel - 1) * jump
        start += ((kernel - 1) / 2.0 - padding) * jump
        jump *= stride
    rows, columns = output_shape
    cy, cx = np.meshgrid(start + np.arange(rows) * jump, start + np.arange(columns) * jump, indexing="ij")
    centres = np.stack([cx.reshape(-1), cy.reshape(-1)], axis=-1)
    return np.concatenate([centres - size / 2.0, centres + size / 2.0], axis=-1).astype("float32"), size, jump


def _detector_settings(model, num_classes, height, width, windows, negative_ratio, score_threshold, iou_threshold, max_detections, pre_nms_topk):
    plain = {
        "num_classes": int(num_classes),
        "windows": windows,
        "loss_settings": dict(negative_ratio=float(negative_ratio), variance=None),
        "nms_config": dict(num_classes=int(num_classes), image_size=[height, width], score_threshold=float(score_threshold),
                           iou_threshold=float(iou_threshold), max_detections=int(max_detections), pre_nms_topk=int(pre_nms_topk)),
    }
    for key, value in plain.items():
        object.__setattr__(model, key, value)
    model.conf_loss_tracker = keras.metrics.Mean(name="conf_loss")
    model.loc_loss_tracker = keras.metrics.Mean(name="loc_loss")


class _WindowDetector(ZooModel):
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total, conf, loc = det.softmax_detection_loss(self.windows, y, y_pred, self.num_classes, **self.loss_settings)
        self.conf_loss_tracker.update_state(conf)
        self.loc_loss_tracker.update_state(loc)
        return ops.add(total, ops.sum(self.losses)) if self.losses else total

    def detection_decoder(self):
        return det.softmax_box_decoder_class()(self.windows, None, name=f"{self.name}_decode")


@keras.saving.register_keras_serializable(package="deepzoo")
class OverFeat(_WindowDetector):
    """OverFeat as a fully convolutional detector.

    Args:
        input_shape: (height, width, 3) of the image the map is computed on (231 × 231: one window
            of the fast model; larger images give larger maps).
        num_classes: C (1000 in the paper); the map has C + 1 channels with background 0.
        layers: the table (`OVERFEAT_FAST`, `OVERFEAT_TOY`); ("fc", units, kernel) are convs.
        box_regression: the class-agnostic 1 × 1 box regressor on the last FC features.
        negative_ratio: hard negatives per positive window (3).
        score_threshold, iou_threshold, max_detections, pre_nms_topk: the endpoint's NMS settings.
        preprocessing: None maps 0..255 to [−1, 1].
    """

    def __init__(
        self,
        input_shape=(231, 231, 3),
        num_classes=1000,
        layers=OVERFEAT_FAST,
        box_regression=True,
        negative_ratio=3.0,
        score_threshold=0.05,
        iou_threshold=0.5,
        max_detections=det.DECODER_DEFAULTS["max_detections"],
        pre_nms_topk=det.DECODER_DEFAULTS["pre_nms_topk"],
        preprocessing=None,
        name=None,
        **kwargs,
    ):
        table = [tuple(entry) for entry in layers]
        inputs, x = model_input(input_shape, preprocessing or {"scale": 1.0 / 127.5, "offset": -1.0}, name="images")
        for index, entry in enumerate(table):
            if entry[0] == "pool":
                x = keras.layers.MaxPooling2D(entry[1], name=f"pool{index + 1}")(x)
            elif entry[0] == "conv":
                _, filters, kernel, stride, padding = entry
                if padding:
                    x = keras.layers.ZeroPadding2D(padding, name=f"pad{index + 1}")(x)
                x = keras.layers.Conv2D(filters, kernel, strides=stride, activation="relu", name=f"conv{index + 1}")(x)
            else:
                x = keras.layers.Conv2D(entry[1], entry[2], activation="relu", name=f"fc{index + 1}")(x)
        rows, columns = int(x.shape[1]), int(x.shape[2])
        if rows < 1 or columns < 1:
            raise ValueError(f"input_shape is smaller than the network's window. Received: input_shape={tuple(input_shape)}")
        logits = keras.layers.Conv2D(num_classes + 1, 1, name="classifier")(x)
        outputs = {"class_logits": keras.layers.Reshape((rows * columns, num_classes + 1), name="class_logits")(logits)}
        if box_regression:
            deltas = keras.layers.Conv2D(4, 1, name="box_regressor")(x)
            outputs["box_deltas"] = keras.layers.Reshape((rows * columns, 4), name="box_deltas")(deltas)
        super().__init__(inputs=inputs, outputs=outputs, name=name or "overfeat", **kwargs)
        windows, _, _ = receptive_windows(table, (rows, columns))
        _detector_settings(self, num_classes, int(input_shape[0]), int(input_shape[1]), windows, negative_ratio,
                           score_threshold, iou_threshold, max_detections, pre_nms_topk)


def window_grid(image_size, window_sizes, aspect_ratios, stride):
    """Every window of the sliding-window detector, xyxy [A, 4]: for each size and ratio (h / w,
    area = size²), top-left corners every `stride` pixels while the window fits in the image."""
    height, width = image_size
    windows = []
    for size in window_sizes:
        for ratio in aspect_ratios:
            w, h = size / np.sqrt(ratio), size * np.sqrt(ratio)
            ys = np.arange(0.0, height - h + 1e-6, stride)
            xs = np.arange(0.0, width - w + 1e-6, stride)
            y0, x0 = np.meshgrid(ys, xs, indexing="ij")
            windows.append(np.stack([x0.ravel(), y0.ravel(), x0.ravel() + w, y0.ravel() + h], axis=-1))
    return np.concatenate(windows, axis=0).astype("float32")


def bilinear_crop_indices(windows, image_size, crop_size):
    """Constant gather indices and weights that crop and resize every window bilinearly:
    ([4, A·s·s] flat pixel indices, [4, A·s·s] weights), sampling each window at s × s cell centres."""
    height, width = image_size
    steps = (np.arange(crop_size) + 0.5) / crop_size
    x = windows[:, None, 0:1] + steps[None, None, :] * (windows[:, None, 2:3] - windows[:, None, 0:1]) - 0.5  # [A, 1, s]
    y = windows[:, 1:2, None] + steps[None, :, None] * (windows[:, 3:4, None] - windows[:, 1:2, None]) - 0.5  # [A, s, 1]
    x = np.broadcast_to(np.clip(x, 0, width - 1), (len(windows), crop_size, crop_size))
    y = np.broadcast_to(np.clip(y, 0, height - 1), (len(windows), crop_size, crop_size))
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = x - x0, y - y0
    indices = [y0 * width + x0, y0 * width + x1, y1 * width + x0, y1 * width + x1]
    weights = [(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx]
    return np.stack([i.reshape(-1) for i in indices]).astype("int32"), np.stack([w.reshape(-1) for w in weights]).astype("float32")


@keras.saving.register_keras_serializable(package="deepzoo")
class WindowCrops(keras.layers.Layer):
    """[N, H, W, C] → [N·A, s, s, C]: every window cropped and resized bilinearly (constant gathers)."""

    def __init__(self, image_size, window_sizes, aspect_ratios, stride, crop_size, **kwargs):
        super().__init__(**kwargs)
        self.image_size = [int(v) for v in image_size]
        self.window_sizes = [float(v) for v in window_sizes]
        self.aspect_ratios = [float(v) for v in aspect_ratios]
        self.stride = float(stride)
        self.crop_size = int(crop_size)
        windows = window_grid(self.image_size, self.window_sizes, self.aspect_ratios, self.stride)
        self.num_windows = len(windows)
        self._indices, self._weights = bilinear_crop_indices(windows, self.image_size, self.crop_size)

    def call(self, images):
        channels = images.shape[-1]
        flat = ops.reshape(images, (-1, self.image_size[0] * self.image_size[1], channels))
        crops = 0.0
        for corner in range(4):
            crops = crops + ops.take(flat, ops.convert_to_tensor(self._indices[corner]), axis=1) * ops.convert_to_tensor(self._weights[corner])[None, :, None]
        return ops.reshape(crops, (-1, self.crop_size, self.crop_size, channels))

    def compute_output_shape(self, shape):
        return (None, self.crop_size, self.crop_size, shape[-1])

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "window_sizes": self.window_sizes,
                "aspect_ratios": self.aspect_ratios, "stride": self.stride, "crop_size": self.crop_size}


@keras.saving.register_keras_serializable(package="deepzoo")
class RegroupWindows(keras.layers.Layer):
    """[N·A, K] → [N, A, K]: the per-window classifier outputs back into their images."""

    def __init__(self, num_windows, **kwargs):
        super().__init__(**kwargs)
        self.num_windows = int(num_windows)

    def call(self, x):
        return ops.reshape(x, (-1, self.num_windows, x.shape[-1]))

    def compute_output_shape(self, shape):
        return (None, self.num_windows, shape[-1])

    def get_config(self):
        return {**super().get_config(), "num_windows": self.num_windows}


@keras.saving.register_keras_serializable(package="deepzoo")
class SlidingWindowDetector(_WindowDetector):
    """Windows at several sizes and ratios, each classified (with a background class) by a small CNN.

    Args:
        input_shape: (height, width, 3).
        num_classes: C; the classifier has C + 1 outputs, background 0.
        window_sizes: window sides (√area) in pixels. aspect_ratios: h / w ratios.
        window_stride: pixels between neighbouring windows.
        crop_size: side the windows are resized to, the classifier's input.
        classifier_filters: the wrapped classifier's conv widths (3 × 3 conv + ReLU + 2 × 2 pool
            each); classifier_units: its hidden dense layer.
        negative_ratio: hard background windows per object window in training (3).
        score_threshold, iou_threshold, max_detections, pre_nms_topk: the endpoint's NMS settings.
        preprocessing: None maps 0..255 to [−1, 1].
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=20,
        window_sizes=(64, 128),
        aspect_ratios=(0.5, 1.0, 2.0),
        window_stride=32,
        crop_size=64,
        classifier_filters=(32, 64, 128),
        classifier_units=256,
        negative_ratio=3.0,
        score_threshold=0.05,
        iou_threshold=0.5,
        max_detections=det.DECODER_DEFAULTS["max_detections"],
        pre_nms_topk=det.DECODER_DEFAULTS["pre_nms_topk"],
        preprocessing=None,
        name=None,
        **kwargs,
    ):
        height, width = int(input_shape[0]), int(input_shape[1])
        if min(window_sizes) * max(np.sqrt(aspect_ratios)) > min(height, width):
            raise ValueError(f"Every window must fit in the image. Received: window_sizes={window_sizes}, input_shape={tuple(input_shape)}")
        inputs, x = model_input(input_shape, preprocessing or {"scale": 1.0 / 127.5, "offset": -1.0}, name="images")
        cropper = WindowCrops((height, width), window_sizes, aspect_ratios, window_stride, crop_size, name="window_crops")
        crops = cropper(x)
        # The wrapped classifier: one model applied to every crop.
        crop_input = keras.Input((crop_size, crop_size, int(input_shape[2])), name="crop")
        h = crop_input
        for index, filters in enumerate(classifier_filters):
            h = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{index + 1}")(h)
            h = keras.layers.MaxPooling2D(2, name=f"pool{index + 1}")(h)
        h = keras.layers.Flatten(name="flatten")(h)
        h = keras.layers.Dense(classifier_units, activation="relu", name="hidden")(h)
        h = keras.layers.Dense(num_classes + 1, name="logits")(h)
        classifier = keras.Model(crop_input, h, name="window_classifier")
        logits = RegroupWindows(cropper.num_windows, name="class_logits")(classifier(crops))
        super().__init__(inputs=inputs, outputs={"class_logits": logits}, name=name or "sliding_window_detector", **kwargs)
        windows = window_grid((height, width), window_sizes, aspect_ratios, window_stride)
        _detector_settings(self, num_classes, height, width, windows, negative_ratio, score_threshold, iou_threshold, max_detections, pre_nms_topk)


# --- registration --------------------------------------------------------------------------------

_OUTPUTS = det.ENDPOINT_OUTPUTS
_INT8_REASON = det.TFLITE_INT8_LIMITATION
# The fast model's classifier (Table 1 + Table 4 "145M"): 145,920,872 weights with 1000 classes; ours
# adds the background logit (4,097) and the 1 × 1 box regressor (16,388).
OVERFEAT_FAST_PARAMS = 145_920_872
# Tiny: windows of 24 px every 4 px (5 × 5 conv, pool, 5 × 5 conv, pool, 3 × 3 "FC6", 1 × 1 FC7).
OVERFEAT_TINY_LAYERS = (("conv", 16, 5, 1, 0), ("pool", 2), ("conv", 32, 5, 1, 0), ("pool", 2), ("fc", 64, 3), ("fc", 64, 1))

register(
    ModelSpec(
        name="overfeat",
        family="detection",
        task="detection",
        builder=OverFeat,
        canonical_config=dict(name="overfeat"),
        tiny_config=dict(input_shape=(64, 64, 3), num_classes=3, layers=OVERFEAT_TINY_LAYERS, pre_nms_topk=300, name="overfeat"),
        reference_params=OVERFEAT_FAST_PARAMS,
        reference_source="P (Sermanet et al. 2014 Table 1 fast model, 1000 classes: 145,920,872; ours +0.014 % for background and box regressor)",
        paper="Sermanet, Eigen, Zhang, Mathieu, Fergus & LeCun 2014, ICLR (OverFeat)",
        seeds=("003",),
        default_dataset="shapes_scenes",
        inputs=(TensorSpec("images", (None, None, 3), "float32"),),
        outputs=_OUTPUTS,
        limitations={"tflite_int8": _INT8_REASON},
        export_endpoint="images → boxes, scores, classes, num_detections (one window per map position, softmax with background, NMS)",
        notes=(
            "One input scale in the endpoint (the paper merges 6); class-agnostic 1 × 1 box regressor on FC7 instead of the "
            "paper's separate regression network; softmax with a background class as in the paper's detection training. "
            "Tiny config: 2 convs + 2 FC-convs, 24-px windows every 4 px."
        ),
    )
)

register(
    ModelSpec(
        name="sliding_window_detector",
        family="detection",
        task="detection",
        builder=SlidingWindowDetector,
        canonical_config=dict(name="sliding_window_detector"),
        tiny_config=dict(input_shape=(32, 32, 3), num_classes=3, window_sizes=(10, 18), aspect_ratios=(1.0,), window_stride=4,
                         crop_size=8, classifier_filters=(8,), classifier_units=16, pre_nms_topk=300, name="sliding_window_detector"),
        paper="Classic baseline (cf. Sermanet et al. 2014, ICLR); the notes' 'detection as classification of each box'",
        seeds=("000", "003", "004"),
        default_dataset="shapes_scenes",
        inputs=(TensorSpec("images", (None, None, 3), "float32"),),
        outputs=_OUTPUTS,
        limitations={"tflite_int8": _INT8_REASON},
        export_endpoint="images → boxes, scores, classes, num_detections (windows cropped by constant gathers, classified, NMS)",
        notes=(
            "No paper and no parameter count (a baseline). Canonical: 224-px image, 64- and 128-px windows at 3 ratios "
            "every 32 px, a 3-conv classifier on 64-px crops. Tiny: 32-px image, 10- and 18-px square windows every 4 px, "
            "8-px crops, one conv."
        ),
    )
)
