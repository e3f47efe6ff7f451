"""Mask R-CNN: Faster R-CNN with RoIAlign and a parallel per-RoI mask branch.

Reference: He, Gkioxari, Dollár & Girshick, "Mask R-CNN", ICCV 2017 (with the FPN backbone of Lin,
Dollár, Girshick, He, Hariharan & Belongie, "Feature pyramid networks for object detection", CVPR
2017).

Layout (the paper's ResNet-50-FPN, Fig. 4 right):
- backbone: ResNet-50 (architectures/classification/resnet.py), C2–C5 at strides 4–32;
- FPN: lateral 1 × 1 convs to 256 channels, nearest × 2 top-down path, 3 × 3 output convs → P2–P5;
  P6 = P5 subsampled by 2 (max pool 1 × 1 / 2, for the RPN only);
- RPN (FPN §4.1): one head shared by P2–P6 — 3 × 3 conv 256 + ReLU, 1 × 1 convs to 2A objectness
  logits and 4A deltas — with A = 3 anchors per location (ratios 1:2, 1:1, 2:1) of one size per
  level, 32² … 512² (8 × stride); proposals after NMS 0.7 (1000 per image at test time);
- RoIAlign (§3, no quantisation, 2 × 2 bilinear samples per bin) on the FPN level of each RoI,
  k = ⌊4 + log2(√(wh) / 224)⌋ clipped to 2..5 (FPN eq. 1): 7 × 7 for the box head, 14 × 14 for the
  mask head;
- box head: two fc 1024 + ReLU, then K + 1 class scores and (K + 1) · 4 class-specific deltas;
- mask head: 4 × (3 × 3 conv 256 + ReLU), 2 × 2 / 2 transposed conv 256 + ReLU, 1 × 1 conv to K
  mask logits, 28 × 28 per RoI (sigmoid per class: the classes do not compete).

Training: L = L_cls + L_box + L_mask on the head's 512 sampled RoIs (25 % foreground; the tiny
config samples fewer), plus the RPN's two losses (tasks/two_stage.py); L_mask is the mean per-pixel
binary cross-entropy of the ground-truth class's 28 × 28 channel on foreground RoIs against the
instance mask cropped to the RoI by RoIAlign (tasks/instance_segmentation.py).

Inference (the export endpoint, `detection_endpoint()`): proposals → box head → class-specific
decoding and per-class NMS (the 100 best detections) → the mask head on the detection boxes → each
detection's 28 × 28 mask of its predicted class, as probabilities ("masks" [N, D, 28, 28]). Pasting
into the image (resize into the box, threshold 0.5) is `tasks.instance_segmentation.paste_masks`,
outside the graph.

Where we differ, and why:
- Fixed input size (800 × 800 canonically, the paper's shorter side) so that the anchors are
  constants of the graph; the paper resizes each image to a shorter side of 800.
- The RPN's objectness is a two-class softmax per anchor (2A logits) as in Faster R-CNN; Detectron
  uses A sigmoid logits (A weights fewer per level).
- Backbone BN is trainable and counted (keras layout); the reference freezes it as an affine map
  without parameters (+106,240 tensors, +0.24 %).
- Proposals: one top-k (`pre_nms_topk`) over all levels instead of per level.
"""

import math

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.classification.resnet import ResNet
from architectures.detection.rcnn import ProposalLayer, TwoStageTraining, box_head, rpn_head, set_plain_attributes
from architectures.layers.heads import feature_pyramid
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import detection as det
from tasks import instance_segmentation as inst

PYRAMID_STRIDES = (4, 8, 16, 32)  # P2–P5; P6 (stride 64) is P5 subsampled, for the RPN only
RPN_STRIDES = (4, 8, 16, 32, 64)
ASPECT_RATIOS = (0.5, 1.0, 2.0)
SIDE_MULTIPLE = 32

MASK_RCNN_RECIPE = dict(
    optimizer="momentum", learning_rate=0.02, momentum=0.9, weight_decay=1e-4, batch_size=16,
    # §3.1: 160 k iterations of 16 images on COCO trainval35k (≈ 115 k) ≈ 22 epochs, ÷10 at 120 k.
    epochs=22, schedule="step", schedule_kwargs=dict(factor=0.1, milestones=(17,)),
)


# --- layers ---------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class PyramidRoIAlign(keras.layers.Layer):
    """RoIAlign on a feature pyramid: features [P2, P3, ...] (strides `strides`), rois [N, R, 4]
    (xyxy pixels) → [N, R, size, size, C]. Each RoI reads the level k = ⌊k0 + log2(√(wh) /
    canonical_box_size)⌋ (FPN eq. 1, k0 = canonical_level), clipped to the pyramid; one gather
    table over all levels (tasks.instance_segmentation.pyramid_roi_align: plain gathers and sums,
    which convert to ONNX and TFLite builtins)."""

    def __init__(self, output_size, strides, canonical_box_size=224.0, canonical_level=4, sampling_ratio=2, **kwargs):
        super().__init__(**kwargs)
        self.output_size, self.strides = int(output_size), [int(s) for s in strides]
        self.canonical_box_size, self.canonical_level = float(canonical_box_size), int(canonical_level)
        self.sampling_ratio = int(sampling_ratio)

    def call(self, features, rois):
        levels = inst.fpn_levels(rois, len(self.strides), int(round(math.log2(self.strides[0]))), self.canonical_box_size, self.canonical_level)
        return inst.pyramid_roi_align(list(features), rois, self.strides, levels, self.output_size, self.sampling_ratio)

    def compute_output_spec(self, features, rois):
        return keras.KerasTensor((rois.shape[0], rois.shape[1], self.output_size, self.output_size, features[0].shape[-1]), "float32")

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size, "strides": self.strides,
                "canonical_box_size": self.canonical_box_size, "canonical_level": self.canonical_level,
                "sampling_ratio": self.sampling_ratio}


@keras.saving.register_keras_serializable(package="deepzoo")
class ClassMask(keras.layers.Layer):
    """mask_logits [N, D, S, S, K], classes int [N, D] (-1 pad) → the class's mask probabilities
    [N, D, S, S] (sigmoid; zeros for padding)."""

    def call(self, mask_logits, classes):
        classes = ops.cast(classes, "int32")
        pick = ops.one_hot(ops.maximum(classes, 0), mask_logits.shape[-1])[:, :, None, None, :]
        own = ops.sum(ops.cast(mask_logits, "float32") * pick, axis=-1)
        return ops.sigmoid(own) * ops.cast(classes >= 0, "float32")[:, :, None, None]

    def compute_output_spec(self, mask_logits, classes):
        return keras.KerasTensor(tuple(mask_logits.shape[:-1]), "float32")


def _fpn(c_maps, channels):
    """P2–P5 from C2–C5 (lateral 1 × 1, nearest × 2 top-down, 3 × 3 outputs) and P6 = P5 max pooled 1 / 2."""
    levels = range(2, 2 + len(c_maps))
    laterals = [keras.layers.Conv2D(channels, 1, name=f"fpn_lateral{k}")(c) for k, c in zip(levels, c_maps)]
    merged = [laterals[-1]]
    for k, lateral in zip(reversed(list(levels)[:-1]), reversed(laterals[:-1])):
        up = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"fpn_up{k + 1}")(merged[0])
        merged.insert(0, keras.layers.Add(name=f"fpn_merge{k}")([lateral, up]))
    outputs = [keras.layers.Conv2D(channels, 3, padding="same", name=f"fpn_p{k}")(m) for k, m in zip(levels, merged)]
    p6 = keras.layers.MaxPooling2D(1, strides=2, name="fpn_p6")(outputs[-1])
    return outputs, p6


def _mask_layer_names(depth):
    return [f"mask_conv{i + 1}" for i in range(depth)] + ["mask_deconv", "mask_logits"]


# --- the model ------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class MaskRCNN(TwoStageTraining, ZooModel):
    """Mask R-CNN with a ResNet-FPN backbone.

    Args:
        input_shape: (height, width, 3), sides multiples of 32 (800 × 800 canonically).
        num_classes: object classes K (the box head has K + 1 outputs, 0 = background; the mask
            head K). The canonical 90 are COCO's category ids (91 outputs, as the reference).
        backbone_depth, backbone_stage_depths, backbone_width: the ResNet (50; tiny: fewer, narrower).
        pyramid_channels: FPN and RPN width (256).
        anchor_size_per_stride: anchor side ÷ level stride (8: 32² on P2 … 512² on P6).
        aspect_ratios: anchor height / width ratios.
        pre_nms_topk, num_proposals, rpn_nms_iou: proposal layer (2000 candidates, 1000 kept, NMS 0.7).
        canonical_box_size: the RoI side read from P4 (224, FPN eq. 1).
        box_roi_size, mask_roi_size: RoIAlign grids of the two heads (7, 14).
        fc_units: box head widths (1024, 1024).
        mask_depth, mask_channels: the mask head's 3 × 3 convs (4 × 256).
        rpn_batch, head_batch, head_foreground_fraction: minibatch sampling (256, 512, 0.25).
        score_threshold, iou_threshold, max_detections, pre_nms_topk_detections: the endpoint's
            decoder (0.05, NMS 0.5, 100 detections, 1000 candidates).
        preprocessing: see `model_input`; None maps 0..255 to [−1, 1].
    """

    def __init__(
        self,
        input_shape=(800, 800, 3),
        num_classes=90,
        backbone_depth=50,
        backbone_stage_depths=None,
        backbone_width=1.0,
        pyramid_channels=256,
        anchor_size_per_stride=8.0,
        aspect_ratios=ASPECT_RATIOS,
        pre_nms_topk=2000,
        num_proposals=1000,
        rpn_nms_iou=0.7,
        canonical_box_size=224.0,
        box_roi_size=7,
        mask_roi_size=14,
        fc_units=(1024, 1024),
        mask_depth=4,
        mask_channels=256,
        rpn_batch=256,
        head_batch=512,
        head_foreground_fraction=0.25,
        score_threshold=0.05,
        iou_threshold=0.5,
        max_detections=det.DECODER_DEFAULTS["max_detections"],
        pre_nms_topk_detections=1000,
        preprocessing=None,
        seed=0,
        name=None,
        **kwargs,
    ):
        height, width = int(input_shape[0]), int(input_shape[1])
        if len(input_shape) != 3 or height % SIDE_MULTIPLE or width % SIDE_MULTIPLE:
            raise ValueError(f"input_shape must be (height, width, 3) with sides multiples of {SIDE_MULTIPLE}. Received: {tuple(input_shape)}")
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be at least 1. Received: {num_classes}")
        images, x = model_input(input_shape, preprocessing or {"scale": 1.0 / 127.5, "offset": -1.0}, name="images")
        backbone = ResNet(input_shape=tuple(input_shape), depth=backbone_depth, stage_depths=backbone_stage_depths,
                          width_multiplier=backbone_width, conv_bias=False, include_top=False, pooling=None,
                          name=f"resnet{backbone_depth}_backbone")
        c_maps = feature_pyramid(backbone, strides=PYRAMID_STRIDES)(x)
        pyramid, p6 = _fpn([c_maps[f"stride_{s}"] for s in PYRAMID_STRIDES], pyramid_channels)
        per_location = len(aspect_ratios)
        rpn_logits, rpn_deltas = rpn_head([*pyramid, p6], pyramid_channels, per_location)
        anchor_config = {
            "feature_shapes": [[int(f.shape[1]), int(f.shape[2])] for f in [*pyramid, p6]],
            "strides": [float(s) for s in RPN_STRIDES],
            "base_sizes": [float(anchor_size_per_stride * s) for s in RPN_STRIDES],
            "scales": [1.0],
            "aspect_ratios": [float(r) for r in aspect_ratios],
        }
        rois, valid = ProposalLayer(anchor_config, (height, width), pre_nms_topk, num_proposals, rpn_nms_iou, name="proposals")(rpn_logits, rpn_deltas)
        align = dict(strides=PYRAMID_STRIDES, canonical_box_size=canonical_box_size)
        box_pooled = PyramidRoIAlign(box_roi_size, name="box_roi_align", **align)(pyramid, rois)
        class_logits, box_deltas = box_head(box_pooled, num_classes, fc_units)
        mask_pooled = PyramidRoIAlign(mask_roi_size, name="mask_roi_align", **align)(pyramid, rois)
        self_mask = _MaskHead(mask_depth, mask_channels, num_classes)
        mask_logits = self_mask(mask_pooled)
        outputs = {"rpn_class_logits": rpn_logits, "rpn_box_deltas": rpn_deltas, "class_logits": class_logits, "box_deltas": box_deltas,
                   "mask_logits": mask_logits, "rois": rois, "roi_valid": valid}
        outputs.update({f"features_p{k + 2}": fmap for k, fmap in enumerate(pyramid)})
        super().__init__(inputs=images, outputs=outputs, name=name or "mask_rcnn", **kwargs)
        set_plain_attributes(self, {
            "num_classes": int(num_classes),
            "num_proposals": int(num_proposals),
            "image_size": (height, width),
            "anchors": det.anchors_from_config(anchor_config),
            "mask_settings": dict(depth=int(mask_depth), roi_size=int(mask_roi_size), box_roi_size=int(box_roi_size)),
            # background RoIs from IoU 0 (Detectron's BG_THRESH_LO 0.0): the head also learns empty background
            "sampling": dict(rpn_batch=int(rpn_batch), head_batch=int(head_batch), head_foreground_fraction=float(head_foreground_fraction),
                             background_iou=(0.0, 0.5)),
            "decoder_config": dict(image_size=[height, width], score_threshold=float(score_threshold), iou_threshold=float(iou_threshold),
                                   max_detections=int(max_detections), pre_nms_topk=int(pre_nms_topk_detections)),
            "proposal_source": "rpn",
            "selective_search_options": {},
        })
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_trackers = {key: keras.metrics.Mean(name=key) for key in ("rpn_cls_loss", "rpn_box_loss", "head_cls_loss", "head_box_loss", "mask_loss")}

    # --- heads on other RoIs (shared layers) ---

    def _pyramid(self, y_pred):
        return [y_pred[f"features_p{k + 2}"] for k in range(len(PYRAMID_STRIDES))]

    def _mask_head(self, pyramid, rois):
        pooled = self.get_layer("mask_roi_align")(pyramid, rois)
        return _apply_mask_layers([self.get_layer(n) for n in _mask_layer_names(self.mask_settings["depth"])], pooled)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """L = L_rpn_cls + L_rpn_box + L_cls + L_box + L_mask (§3, with Faster R-CNN's RPN terms)."""
        rpn = self.rpn_loss(y, y_pred)
        pyramid = self._pyramid(y_pred)
        box_align = self.get_layer("box_roi_align")
        head, rois, labels, weights = self.head_loss(y, y_pred, lambda sampled: box_align(pyramid, sampled), training)
        matched = inst.match_to_boxes(rois, y["boxes"], y["classes"])
        mask_targets = inst.mask_targets(rois, matched, y["instance_masks"], 2 * self.mask_settings["roi_size"])
        mask = inst.mask_loss(self._mask_head(pyramid, rois), labels, mask_targets, weights)
        self.loss_trackers["mask_loss"].update_state(mask)
        total = rpn + head + mask
        return ops.add(total, ops.sum(self.losses)) if self.losses else total

    def detection_endpoint(self):
        """images → {"boxes", "scores", "classes", "num_detections", "masks" [N, D, 28, 28]}: NMS,
        then the mask head on the detection boxes, each detection's own class channel."""
        images = keras.Input(shape=tuple(self.inputs[0].shape[1:]), name="images")
        raw = self(images, training=False)
        outputs = dict(self.decoded(raw))
        mask_logits = self._mask_head(self._pyramid(raw), outputs["boxes"])
        outputs["masks"] = ClassMask(name="masks")(mask_logits, outputs["classes"])
        return keras.Model(images, outputs, name=f"{self.name}_segmenter")


def _MaskHead(depth, channels, num_classes):
    """The mask head's layers as one callable on pooled RoIs [N, R, S, S, C]."""
    init = keras.initializers.HeNormal()
    layers = [keras.layers.Conv2D(channels, 3, padding="same", activation="relu", kernel_initializer=init, name=f"mask_conv{i + 1}") for i in range(depth)]
    layers.append(keras.layers.Conv2DTranspose(channels, 2, strides=2, activation="relu", kernel_initializer=init, name="mask_deconv"))
    layers.append(keras.layers.Conv2D(num_classes, 1, kernel_initializer=init, name="mask_logits"))
    return lambda pooled: _apply_mask_layers(layers, pooled)


def _apply_mask_layers(layers, pooled):
    count, size, channels = pooled.shape[1], pooled.shape[2], pooled.shape[4]
    h = ops.reshape(pooled, (-1, size, size, channels))
    for layer in layers:
        h = layer(h)
    return ops.reshape(h, (-1, count, 2 * size, 2 * size, h.shape[-1]))


# --- registration ---------------------------------------------------------------------------------

# torchvision maskrcnn_resnet50_fpn (91 classes with background, frozen BN without parameters):
# 44,401,393 parameters (its model card). ResNet-50 convs 23,454,912 + FPN 3,344,384 + RPN 593,935
# + box head 13,895,680 + box predictor 466,375 + mask head 2,360,320 + deconv 262,400 + mask
# predictor 23,387 = 44,401,393.
MASK_RCNN_REFERENCE_PARAMS = 44_401_393

MASK_RCNN_TINY = dict(
    input_shape=(32, 32, 3), num_classes=3, backbone_depth=18, backbone_stage_depths=(1, 1, 1, 1), backbone_width=0.125,
    pyramid_channels=8, anchor_size_per_stride=4.0, pre_nms_topk=64, num_proposals=16, canonical_box_size=64.0,
    box_roi_size=4, mask_roi_size=14, fc_units=(16, 16), mask_depth=1, mask_channels=8, rpn_batch=64, head_batch=16,
    pre_nms_topk_detections=64, max_detections=20,
    # Above an untrained head's 1 / (K + 1) = 0.25 (as faster_rcnn's tiny config); the benchmark uses 0.05.
    score_threshold=0.3,
)

register(
    ModelSpec(
        name="mask_rcnn",
        family="segmentation",
        task="instance_segmentation",
        builder=MaskRCNN,
        canonical_config=dict(name="mask_rcnn"),
        tiny_config=dict(MASK_RCNN_TINY, name="mask_rcnn"),
        reference_params=MASK_RCNN_REFERENCE_PARAMS,
        reference_source=(
            "P (torchvision maskrcnn_resnet50_fpn, 91 classes with background: 44,401,393; ours 44,508,147 adds the BN "
            "tensors, +106,240 (+0.24 %), and the RPN's two-class softmax, +771, and has the paper's K mask channels, "
            "−257, where torchvision has K + 1)"
        ),
        paper="He, Gkioxari, Dollár & Girshick 2017, ICCV (Mask R-CNN)",
        seeds=("000", "003", "004"),
        default_dataset="shapes_scenes",
        train_recipe=MASK_RCNN_RECIPE,
        inputs=(TensorSpec("images", (None, None, 3), "float32"),),
        outputs=(
            *det.ENDPOINT_OUTPUTS,
            TensorSpec("masks", (None, 28, 28), "float32"),
        ),
        limitations={"tflite_int8": det.TFLITE_INT8_LIMITATION},
        export_endpoint=(
            "images → boxes, scores, classes, num_detections, masks [N, D, 28, 28] (RPN proposals with NMS, "
            "pyramid RoIAlign, class-specific decoding, per-class NMS, then the mask head on the detection boxes, "
            "sigmoid of each detection's class channel, all in the graph); pasting a mask into its box at image "
            "size and thresholding at 0.5 is tasks.instance_segmentation.paste_masks"
        ),
        notes=(
            "Fixed input size (800 × 800) so anchors are graph constants; RPN objectness is a 2-way softmax per "
            "anchor (Faster R-CNN) where Detectron has one sigmoid; one proposal top-k over all levels; BN trainable. "
            "The spec's '14×14 up-sampled to a 56×56 RoI' is the paper's 14 × 14 RoIAlign → 28 × 28 mask (§3 "
            "'Network Architecture'): the paper wins. Tiny config: ResNet-18 layout at width 0.125 with one block per "
            "stage, 8-channel pyramid, 16 proposals, 4 × 4 box and 14 × 14 → 28 × 28 mask grids, one mask conv."
        ),
    )
)
