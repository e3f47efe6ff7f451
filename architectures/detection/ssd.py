"""SSD: Single Shot MultiBox Detector.

Reference: Liu, Anguelov, Erhan, Szegedy, Reed, Fu & Berg, "SSD: single shot multibox detector",
ECCV 2016.

SSD300 (Fig. 2, §2.1, §3): a VGG-16 base truncated after conv5_3, pool5 turned into 3 × 3 / 1,
fc6 → a 3 × 3 conv of 1024 with dilation 6 and fc7 → a 1 × 1 conv of 1024; extra feature layers
conv8_2 (1 × 1 256, 3 × 3 / 2 512), conv9_2 (1 × 1 128, 3 × 3 / 2 256), conv10_2 and conv11_2
(1 × 1 128, 3 × 3 valid 256). Predictions come from conv4_3 (38², L2-normalised with a learnt
per-channel scale initialised to 20), fc7 (19²), conv8_2 (10²), conv9_2 (5²), conv10_2 (3²) and
conv11_2 (1²), with 4, 6, 6, 6, 4, 4 default boxes per location: 8,732 boxes. Each source has two
3 × 3 conv predictors, (C + 1) class scores and 4 offsets per default box.

Training (§2.2): each ground-truth box is matched to the default box of best IoU, then every
default box with IoU > 0.5 to some truth is a positive; L = (L_conf + α L_loc) / N, α = 1, softmax
confidence loss, smooth-L1 on centre-size offsets (encoded with variances 0.1, 0.1, 0.2, 0.2, the
reference code's), hard-negative mining keeping negatives:positives at most 3:1 (highest confidence
loss first). The matching, loss and mining are `tasks.detection.softmax_detection_loss`; the
default boxes `tasks.detection.ssd_default_boxes`.

Where we differ, and why:
- Default box scales are the reference code's for 300 × 300 (30, 60, 111, 162, 213, 264, 315 px:
  conv4_3 at 0.1 as §3.1 sets it, then 0.2 … 0.9 plus the extra s'_k of the last level), not the
  plain formula with s_min = 0.2, which §3.1 itself replaces for conv4_3.
- Boxes are matched at IoU ≥ 0.5 (the paper writes > 0.5); the difference is a measure-zero set.
- The class heads start every default box as background with probability 0.99 (RetinaNet's prior
  initialisation: kernels N(0, 0.01), background bias log(0.99 K / 0.01)); with the paper's Xavier
  init and zero bias an untrained SSD (conv4_3 scaled by 20) saturates its softmax, reports
  thousands of random detections at score 1.0, and top-k order among those exact ties differs
  between runtimes (XLA vs TensorFlow), so their NMS keeps different boxes.
"""

import math

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import detection as det

# VGG-16 configuration D up to conv5_3: one list of widths per stage; a 2 × 2 / 2 pool (ceil mode:
# "same") after every stage but the last, which is followed by pool5 3 × 3 / 1.
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
# Extra feature layers: (1 × 1 reduce width, 3 × 3 width, stride, padding).
SSD300_EXTRAS = ((256, 512, 2, "same"), (128, 256, 2, "same"), (128, 256, 1, "valid"), (128, 256, 1, "valid"))
SSD300_RATIOS = ((1.0, 2.0, 0.5), (1.0, 2.0, 0.5, 3.0, 1 / 3), (1.0, 2.0, 0.5, 3.0, 1 / 3), (1.0, 2.0, 0.5, 3.0, 1 / 3), (1.0, 2.0, 0.5), (1.0, 2.0, 0.5))
SSD300_SCALES = (0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05)
VARIANCE = (0.1, 0.1, 0.2, 0.2)


@keras.saving.register_keras_serializable(package="deepzoo")
class L2Normalization(keras.layers.Layer):
    """ParseNet's L2 normalisation over channels with a learnt per-channel scale (SSD's conv4_3)."""

    def __init__(self, initial_scale=20.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_scale = float(initial_scale)

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer=keras.initializers.Constant(self.initial_scale))

    def call(self, x):
        return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-10)) * self.scale

    def get_config(self):
        return {**super().get_config(), "initial_scale": self.initial_scale}


@keras.saving.register_keras_serializable(package="deepzoo")
class SSD(ZooModel):
    """SSD with a VGG base.

    Args:
        input_shape: (height, width, 3); 300 × 300 for SSD300.
        num_classes: object classes C (20 for VOC); the heads predict C + 1 with background 0.
        vgg_stages: widths per VGG stage (`VGG16_STAGES`); the last-but-one stage's output is the
            first, L2-normalised source (conv4_3).
        fc_widths: fc6 / fc7 as convs (1024, 1024); fc6_dilation: 6.
        extras: (reduce, width, stride, padding) per extra layer (`SSD300_EXTRAS`).
        aspect_ratios: per source, the ratios of its default boxes (1 first); each source also has
            the extra square box of scale √(s_k s_{k+1}).
        scales: default box scales as fractions of the image, one more than sources.
        negative_ratio: hard negatives per positive (3). box_loss_weight: α (1).
        score_threshold, iou_threshold, max_detections, pre_nms_topk: the endpoint's NMS settings
            (the paper: 0.01, 0.45, 200; top 200 per image is our cap of detections).
        preprocessing: None subtracts the ImageNet mean as the Caffe VGG does (pixels 0..255).
    """

    def __init__(
        self,
        input_shape=(300, 300, 3),
        num_classes=20,
        vgg_stages=VGG16_STAGES,
        fc_widths=(1024, 1024),
        fc6_dilation=6,
        extras=SSD300_EXTRAS,
        aspect_ratios=SSD300_RATIOS,
        scales=SSD300_SCALES,
        negative_ratio=3.0,
        box_loss_weight=1.0,
        score_threshold=0.01,
        iou_threshold=0.45,
        max_detections=det.DECODER_DEFAULTS["max_detections"],
        pre_nms_topk=det.DECODER_DEFAULTS["pre_nms_topk"],
        preprocessing=None,
        name=None,
        **kwargs,
    ):
        if len(aspect_ratios) != len(extras) + 2 or len(scales) != len(aspect_ratios) + 1:
            raise ValueError(
                f"SSD needs one aspect-ratio list per source (conv4_3, fc7 and each extra: {len(extras) + 2}) and one scale "
                f"more. Received: {len(aspect_ratios)} ratio lists, {len(scales)} scales"
            )
        height, width = int(input_shape[0]), int(input_shape[1])
        inputs, x = model_input(input_shape, preprocessing or {"mean": [123.68, 116.78, 103.94], "std": [1.0, 1.0, 1.0]}, name="images")
        sources = []
        for stage, widths in enumerate(vgg_stages):
            for index, filters in enumerate(widths):
                x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{stage + 1}_{index + 1}")(x)
            if stage == len(vgg_stages) - 2:
                sources.append(L2Normalization(name=f"conv{stage + 1}_{len(widths)}_norm")(x))
            if stage < len(vgg_stages) - 1:
                x = keras.layers.MaxPooling2D(2, 2, padding="same", name=f"pool{stage + 1}")(x)
        x = keras.layers.MaxPooling2D(3, 1, padding="same", name=f"pool{len(vgg_stages)}")(x)
        x = keras.layers.Conv2D(fc_widths[0], 3, padding="same", dilation_rate=fc6_dilation, activation="relu", name="fc6")(x)
        x = keras.layers.Conv2D(fc_widths[1], 1, activation="relu", name="fc7")(x)
        sources.append(x)
        for index, (reduce, filters, strides, padding) in enumerate(extras):
            block = len(vgg_stages) + 3 + index
            x = keras.layers.Conv2D(reduce, 1, activation="relu", name=f"conv{block}_1")(x)
            x = keras.layers.Conv2D(filters, 3, strides=strides, padding=padding, activation="relu", name=f"conv{block}_2")(x)
            sources.append(x)

        per_location = det.boxes_per_location(aspect_ratios)
        # Background logit log(0.99 · K / 0.01) above the others: every box starts as background with
        # probability 0.99 (RetinaNet's prior; the paper's zero bias starts at 1 / (K + 1)).
        background_bias = [math.log(0.99 * num_classes / 0.01)] + [0.0] * num_classes
        class_maps, box_maps = [], []
        for index, (source, boxes) in enumerate(zip(sources, per_location)):
            logits = keras.layers.Conv2D(
                boxes * (num_classes + 1), 3, padding="same", kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                bias_initializer=keras.initializers.Constant(background_bias * boxes),
                name=f"class_head{index + 1}",
            )(source)
            deltas = keras.layers.Conv2D(boxes * 4, 3, padding="same", name=f"box_head{index + 1}")(source)
            class_maps.append(keras.layers.Reshape((-1, num_classes + 1), name=f"class_flatten{index + 1}")(logits))
            box_maps.append(keras.layers.Reshape((-1, 4), name=f"box_flatten{index + 1}")(deltas))
        outputs = {
            "box_deltas": keras.layers.Concatenate(axis=1, name="box_deltas")(box_maps),
            "class_logits": keras.layers.Concatenate(axis=1, name="class_logits")(class_maps),
        }
        super().__init__(inputs=inputs, outputs=outputs, name=name or "ssd", **kwargs)
        feature_shapes = [(int(s.shape[1]), int(s.shape[2])) for s in sources]
        plain = {
            "num_classes": int(num_classes),
            # §3: "we fine-tune with 10⁻³ learning rate"; SGD at 10⁻² diverges without batch norm.
            "initial_learning_rate": 1e-3,
            "feature_shapes": feature_shapes,
            "default_boxes": det.ssd_default_boxes(feature_shapes, (height, width), list(scales), [list(r) for r in aspect_ratios]),
            "loss_settings": dict(negative_ratio=float(negative_ratio), box_loss_weight=float(box_loss_weight), variance=VARIANCE),
            "nms_config": dict(num_classes=int(num_classes), image_size=[height, width], score_threshold=float(score_threshold),
                               iou_threshold=float(iou_threshold), max_detections=int(max_detections), pre_nms_topk=int(pre_nms_topk)),
        }
        for key, value in plain.items():
            object.__setattr__(self, key, value)
        self.conf_loss_tracker = keras.metrics.Mean(name="conf_loss")
        self.loc_loss_tracker = keras.metrics.Mean(name="loc_loss")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total, conf, loc = det.softmax_detection_loss(self.default_boxes, y, y_pred, self.num_classes, **self.loss_settings)
        self.conf_loss_tracker.update_state(conf)
        self.loc_loss_tracker.update_state(loc)
        return ops.add(total, ops.sum(self.losses)) if self.losses else total

    def detection_decoder(self):
        return det.softmax_box_decoder_class()(self.default_boxes, VARIANCE, name="ssd_decode")


# --- registration --------------------------------------------------------------------------------

# ssd.pytorch's SSD300 for VOC (21 classes with background): 26,285,486 weights; the same layers
# (VGG-16 convs, fc6/fc7, extras, L2Norm scale, 6 × 2 heads) built here give the same count.
SSD300_VOC_PARAMS = 26_285_486

SSD_TINY = dict(
    input_shape=(64, 64, 3),
    num_classes=3,
    vgg_stages=((8,), (16,), (24,), (32,), (32,)),
    fc_widths=(32, 32),
    fc6_dilation=1,
    extras=((16, 32, 2, "same"), (16, 32, 2, "same")),
    aspect_ratios=((1.0, 2.0, 0.5), (1.0, 2.0, 0.5, 3.0, 1 / 3), (1.0, 2.0, 0.5, 3.0, 1 / 3), (1.0, 2.0, 0.5)),
    # Shapes on the 128-px scenes are 15–55 px (0.12–0.43 of the side).
    scales=(0.1, 0.2, 0.35, 0.5, 0.65),
    score_threshold=0.05,
    pre_nms_topk=300,
    # Pixels to [−1, 1]: the tiny base has no batch norm, and raw mean-subtracted pixels (the Caffe
    # VGG's input) made the sweep's SGD steps diverge.
    preprocessing={"scale": 1.0 / 127.5, "offset": -1.0},
    name="ssd",
)

register(
    ModelSpec(
        name="ssd",
        family="detection",
        task="detection",
        builder=SSD,
        canonical_config=dict(name="ssd"),
        tiny_config=SSD_TINY,
        reference_params=SSD300_VOC_PARAMS,
        reference_source="P (ssd.pytorch SSD300, VOC: 20 classes + background, 8,732 default boxes)",
        paper="Liu, Anguelov, Erhan, Szegedy, Reed, Fu & Berg 2016, ECCV (SSD: single shot multibox detector)",
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
        export_endpoint="images → boxes, scores, classes, num_detections (default-box decoding, softmax without background, per-class NMS)",
        notes=(
            "Default box scales from the reference code (conv4_3 at 0.1, §3.1); class-head bias starts at background 0.99 "
            "(RetinaNet's prior). Tiny config: one conv per VGG stage "
            "(8–32 channels), fc6/fc7 of 32 without dilation, two stride-2 extras: 4 sources (strides 8–64), 1,520 "
            "default boxes on the 128-px scenes."
        ),
    )
)
