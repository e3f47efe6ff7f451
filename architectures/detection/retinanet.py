"""RetinaNet: a one-stage dense detector trained with the focal loss.

Reference: Lin, Goyal, Girshick, He & Dollár, "Focal loss for dense object detection", ICCV 2017.

Layout (§4, Fig. 3): a ResNet backbone (C3–C5) → a feature pyramid P3–P7 of 256 channels (lateral
1×1 convs, nearest ×2 top-down path, 3×3 smoothing convs on P3–P5; P6 = 3×3/2 conv on C5, P7 =
ReLU → 3×3/2 conv on P6) → two subnets shared across levels: the class subnet, 4 × (3×3 conv 256 +
ReLU) + 3×3 conv K·A with sigmoid outputs, and the box subnet, the same with 4·A outputs
(class-agnostic). A = 9 anchors per location: areas 32² … 512² on P3 … P7 (4 × stride), scales
2^0, 2^{1/3}, 2^{2/3}, aspect ratios 1:2, 1:1, 2:1.

Training (§4.1): anchors with IoU ≥ 0.5 are positives, < 0.4 background, in between ignored; the
focal loss (α = 0.25, γ = 2) over all non-ignored anchors plus smooth-L1 box regression over the
positives, both normalised by the number of positive anchors. Initialisation (§4.1): subnet convs
N(0, 0.01) with bias 0, the final class conv's bias −log((1 − π)/π) with π = 0.01 so that every
anchor starts as background with confidence ≈ 0.99 (without it the first steps diverge). SGD
momentum 0.9, weight decay 1e-4, batch 16, lr 0.01, ÷10 at 60 k and 80 k of 90 k iterations.
Inference (§4.1): scores > 0.05, the top 1000 candidates per level, NMS at 0.5 (100 detections
per image, Detectron's cap).

Where we differ, and why:
- The backbone is our ResNet (architectures/classification/resnet.py) with bias-free convs, as in
  Detectron (a bias before batch norm is cancelled by the mean), and trainable BN; the reference
  freezes BN as an affine map of ImageNet statistics. The parameter count therefore exceeds
  Detectron's by ResNet-50's BN tensors (106,240, 0.28 %).
- Candidates before NMS are the top 1000 over all levels (the reference takes 1000 per level); NMS
  runs per class as in the reference. Anchor matching adds Detectron's low-quality matches (each box's
  best anchors are positive), which the paper's text does not mention but its code does.
- The input is a fixed square (800 × 800 canonically, the paper's shorter side) so that anchors
  are constants of the graph.

The model's outputs are the raw head outputs {"box_deltas" [N, A_total, 4], "class_logits"
[N, A_total, K]}; `compute_loss` matches anchors inside the training graph (tasks/detection.py), so
`fit` takes `(images, {"boxes", "classes"})` with padded boxes. The export endpoint with decoding and
NMS is `tasks.get_task("detection").export_endpoint(model)`.
"""

import math

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.classification.resnet import ResNet
from architectures.layers.heads import feature_pyramid
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import detection as det

# Pyramid levels and anchor settings of the paper (§4 "Anchors").
LEVELS = (3, 4, 5, 6, 7)
ANCHOR_SCALES_PER_OCTAVE = 3
ASPECT_RATIOS = (0.5, 1.0, 2.0)
ANCHOR_SIZE_PER_STRIDE = 4.0  # 32² on P3 (stride 8) … 512² on P7 (stride 128)
PRIOR_PROBABILITY = 0.01
# Inputs whose side is a multiple of this keep C3–C5 aligned for the ×2 top-down path.
SIDE_MULTIPLE = 32

RETINANET_RECIPE = dict(
    optimizer="momentum",
    learning_rate=0.01,
    momentum=0.9,
    weight_decay=1e-4,
    batch_size=16,
    # 90 k iterations of 16 images on COCO train2017 (118 k) ≈ 12 epochs, ÷10 at 60 k and 80 k.
    epochs=12,
    schedule="step",
    schedule_kwargs=dict(factor=0.1, milestones=(8, 11)),
)


# --- blocks --------------------------------------------------------------------------------------


def _feature_pyramid_network(c3, c4, c5, channels):
    """P3–P7 from C3–C5 (FPN, Lin et al. 2017, with RetinaNet's P6/P7 from C5)."""

    def conv(filters, kernel, name, strides=1):
        return keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", name=name)

    lateral5 = conv(channels, 1, "fpn_lateral5")(c5)
    lateral4 = conv(channels, 1, "fpn_lateral4")(c4)
    lateral3 = conv(channels, 1, "fpn_lateral3")(c3)
    top_down4 = keras.layers.Add(name="fpn_merge4")([lateral4, keras.layers.UpSampling2D(2, name="fpn_up5")(lateral5)])
    top_down3 = keras.layers.Add(name="fpn_merge3")([lateral3, keras.layers.UpSampling2D(2, name="fpn_up4")(top_down4)])
    p3 = conv(channels, 3, "fpn_p3")(top_down3)
    p4 = conv(channels, 3, "fpn_p4")(top_down4)
    p5 = conv(channels, 3, "fpn_p5")(lateral5)
    p6 = conv(channels, 3, "fpn_p6", strides=2)(c5)
    p7 = conv(channels, 3, "fpn_p7", strides=2)(keras.layers.ReLU(name="fpn_p6_relu")(p6))
    return [p3, p4, p5, p6, p7]


def _subnet(depth, channels, outputs, final_bias, name):
    """The layers of one subnet (shared by every level): depth × (3×3 conv + ReLU) + 3×3 conv."""
    init = keras.initializers.RandomNormal(stddev=0.01)
    layers = [
        keras.layers.Conv2D(channels, 3, padding="same", activation="relu", kernel_initializer=init, name=f"{name}_conv{i + 1}")
        for i in range(depth)
    ]
    layers.append(
        keras.layers.Conv2D(
            outputs, 3, padding="same", kernel_initializer=init,
            bias_initializer=keras.initializers.Constant(final_bias), name=f"{name}_output",
        )
    )
    return layers


def _apply_subnet(layers, features, per_anchor, name):
    """Runs the shared subnet on each level and flattens to [N, Σ H·W·A, per_anchor]."""
    flattened = []
    for level, x in zip(LEVELS, features):
        for layer in layers:
            x = layer(x)
        flattened.append(keras.layers.Reshape((-1, per_anchor), name=f"{name}_flatten_p{level}")(x))
    return keras.layers.Concatenate(axis=1, name=name)(flattened)


# --- the model -----------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class RetinaNet(ZooModel):
    """RetinaNet with a ResNet-FPN backbone.

    Args:
        input_shape: (height, width, 3), sides multiples of 32; 800 × 800 canonically.
        num_classes: object classes K (no background class: sigmoid outputs).
        backbone_depth: ResNet depth (18, 34, 50, 101, 152); 50 in the paper's main results.
        backbone_stage_depths: blocks per ResNet stage, overriding the depth's (tiny configs).
        backbone_width: ResNet width multiplier.
        pyramid_channels: channels of P3–P7 (256).
        head_depth: 3×3 convs before each subnet's output conv (4).
        head_channels: channels of those convs (256).
        anchor_size_per_stride: anchor side at scale 1 ÷ level stride (4: 32 px on P3).
        anchor_scales_per_octave: scales 2^{i/n}, i < n (3).
        aspect_ratios: anchor height / width ratios (0.5, 1, 2).
        prior_probability: π of the class output bias −log((1 − π)/π) (0.01).
        focal_alpha, focal_gamma: focal loss α (0.25) and γ (2).
        box_loss_beta: smooth-L1 β (Detectron: 0.11; 0 gives L1).
        positive_iou, negative_iou: matching thresholds (0.5, 0.4).
        low_quality_matches: each box's best anchors are positives too.
        score_threshold, iou_threshold, max_detections, pre_nms_topk: inference settings of the
            export endpoint (0.05, 0.5, 100, 1000).
        preprocessing: deterministic input preprocessing (see `model_input`); None maps 0..255
            pixels to [−1, 1].
    """

    def __init__(
        self,
        input_shape=(800, 800, 3),
        num_classes=80,
        backbone_depth=50,
        backbone_stage_depths=None,
        backbone_width=1.0,
        pyramid_channels=256,
        head_depth=4,
        head_channels=256,
        anchor_size_per_stride=ANCHOR_SIZE_PER_STRIDE,
        anchor_scales_per_octave=ANCHOR_SCALES_PER_OCTAVE,
        aspect_ratios=ASPECT_RATIOS,
        prior_probability=PRIOR_PROBABILITY,
        focal_alpha=0.25,
        focal_gamma=2.0,
        box_loss_beta=0.11,
        positive_iou=0.5,
        negative_iou=0.4,
        low_quality_matches=True,
        score_threshold=det.DECODER_DEFAULTS["score_threshold"],
        iou_threshold=det.DECODER_DEFAULTS["iou_threshold"],
        max_detections=det.DECODER_DEFAULTS["max_detections"],
        pre_nms_topk=det.DECODER_DEFAULTS["pre_nms_topk"],
        preprocessing=None,
        name=None,
        **kwargs,
    ):
        height, width = int(input_shape[0]), int(input_shape[1])
        if len(input_shape) != 3 or height % SIDE_MULTIPLE or width % SIDE_MULTIPLE:
            raise ValueError(
                f"input_shape must be (height, width, channels) with sides multiples of {SIDE_MULTIPLE}. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        if not 0.0 < prior_probability < 1.0:
            raise ValueError(f"prior_probability must be in (0, 1). Received: prior_probability={prior_probability}")
        inputs, x = model_input(input_shape, preprocessing or {"scale": 1.0 / 127.5, "offset": -1.0}, name="images")
        backbone = ResNet(
            input_shape=tuple(input_shape),
            depth=backbone_depth,
            stage_depths=backbone_stage_depths,
            width_multiplier=backbone_width,
            conv_bias=False,  # every backbone conv feeds a BN: a bias there is cancelled by the mean
            include_top=False,
            pooling=None,
            name=f"resnet{backbone_depth}_backbone",
        )
        pyramid = feature_pyramid(backbone, strides=(8, 16, 32))(x)
        c3, c4, c5 = (pyramid[f"stride_{s}"] for s in (8, 16, 32))
        features = _feature_pyramid_network(c3, c4, c5, pyramid_channels)

        per_location = anchor_scales_per_octave * len(aspect_ratios)
        class_bias = -math.log((1.0 - prior_probability) / prior_probability)
        class_subnet = _subnet(head_depth, head_channels, per_location * num_classes, class_bias, "class_subnet")
        box_subnet = _subnet(head_depth, head_channels, per_location * 4, 0.0, "box_subnet")
        outputs = {
            "box_deltas": _apply_subnet(box_subnet, features, 4, "box_deltas"),
            "class_logits": _apply_subnet(class_subnet, features, num_classes, "class_logits"),
        }
        super().__init__(inputs=inputs, outputs=outputs, name=name or "retinanet", **kwargs)

        strides = [2**level for level in LEVELS]
        anchor_config = {
            "feature_shapes": [[int(f.shape[1]), int(f.shape[2])] for f in features],
            "strides": strides,
            "base_sizes": [anchor_size_per_stride * s for s in strides],
            "scales": [2.0 ** (i / anchor_scales_per_octave) for i in range(anchor_scales_per_octave)],
            "aspect_ratios": [float(r) for r in aspect_ratios],
        }
        # Plain Python data, set past Keras' attribute tracking (which would wrap dicts and lists).
        plain = {
            "num_classes": int(num_classes),
            "anchor_config": anchor_config,
            "anchors": det.anchors_from_config(anchor_config),
            "loss_settings": dict(
                alpha=float(focal_alpha),
                gamma=float(focal_gamma),
                box_loss_beta=float(box_loss_beta),
                positive_iou=float(positive_iou),
                negative_iou=float(negative_iou),
                low_quality_matches=bool(low_quality_matches),
            ),
            # The export endpoint's DetectionDecoder arguments (tasks.detection.Detection.export_endpoint).
            "decoder_config": dict(
                anchor_config=anchor_config,
                num_classes=int(num_classes),
                image_size=[height, width],
                variance=None,
                score_threshold=float(score_threshold),
                iou_threshold=float(iou_threshold),
                max_detections=int(max_detections),
                pre_nms_topk=int(pre_nms_topk),
            ),
        }
        for key, value in plain.items():
            object.__setattr__(self, key, value)
        self.class_loss_tracker = keras.metrics.Mean(name="class_loss")
        self.box_loss_tracker = keras.metrics.Mean(name="box_loss")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Focal + smooth-L1 loss with anchor matching in the graph; y = {"boxes", "classes"}."""
        total, class_loss, box_loss = det.dense_detection_loss(self.anchors, y, y_pred, self.num_classes, **self.loss_settings)
        self.class_loss_tracker.update_state(class_loss)
        self.box_loss_tracker.update_state(box_loss)
        return ops.add(total, ops.sum(self.losses)) if self.losses else total


# The export endpoint's decoding layer, known to keras.saving once architectures is imported.
det.decoder_class()

# --- registration --------------------------------------------------------------------------------

# Detectron / Detectron2 RetinaNet R-50-FPN (80 classes, P6 from C5, frozen BN without parameters):
# ResNet-50 convs 23,454,912 + FPN 918,272 + 1,770,240 + P6 4,718,848 + P7 590,080 + class subnet
# 2,360,320 + 1,659,600 + box subnet 2,360,320 + 82,980 = 37,915,572. torchvision's 34,014,999
# takes P6 from P5 and has 91 classes.
RETINANET_REFERENCE_PARAMS = 37_915_572

RETINANET_TINY = dict(
    input_shape=(128, 128, 3),
    num_classes=3,
    backbone_depth=18,
    backbone_stage_depths=(1, 1, 1, 1),
    backbone_width=0.25,
    pyramid_channels=48,
    head_depth=2,
    head_channels=48,
    # Shapes on the 128-px scenes are about 15–55 px: anchors of 2 × stride (16 px on P3 up to 256 px
    # on P7) cover them; the paper's 4 × stride would start at 32 px.
    anchor_size_per_stride=2.0,
    pre_nms_topk=300,
)

register(
    ModelSpec(
        name="retinanet",
        family="detection",
        task="detection",
        builder=RetinaNet,
        canonical_config=dict(name="retinanet"),
        tiny_config=dict(RETINANET_TINY, name="retinanet"),
        reference_params=RETINANET_REFERENCE_PARAMS,
        reference_source=(
            "P (Detectron's RetinaNet R-50-FPN, 80 classes, P6 from C5: 37,915,572 weights counted from its "
            "config, frozen BN has none; ours adds ResNet-50's trainable BN tensors, +0.28 %)"
        ),
        paper="Lin, Goyal, Girshick, He & Dollár 2017, ICCV (Focal loss for dense object detection)",
        seeds=("004",),
        default_dataset="shapes_scenes",
        train_recipe=RETINANET_RECIPE,
        inputs=(TensorSpec("images", (None, None, 3), "float32"),),
        outputs=det.ENDPOINT_OUTPUTS,
        limitations={
            "tflite_int8": (
                "full-integer int8 gives each tensor one scale: the decoder's pixel boxes and its per-(image, class) "
                "NMS offsets (up to batch × classes × 129 px) quantise to steps of many pixels, so boxes and "
                "suppression break (measured: mAP@0.5 0.0 where Keras had 0.010 on a 2-epoch model); the float "
                "formats and dynamic-range int8 keep float activations"
            ),
        },
        export_endpoint="images → boxes, scores, classes, num_detections (decoding and per-class NMS in the graph)",
        notes=(
            "Backbone BN is trainable (keras.applications layout), the paper freezes it; top 1000 candidates over "
            "all levels instead of per level; Detectron's low-quality matches on. Tiny config: ResNet-18 layout "
            "with one block per stage at width 0.25, 48-channel pyramid and 2-conv subnets, anchors 2 × stride."
        ),
    )
)
