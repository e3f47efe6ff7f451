"""The two-stage (region-based) detectors: Fast R-CNN and Faster R-CNN.

References:
- Girshick, "Fast R-CNN", ICCV 2015.
- Ren, He, Girshick & Sun, "Faster R-CNN: towards real-time object detection with region proposal
  networks", NeurIPS 2015.

Layout: VGG-16's 13 convolutions (conv5_3, stride 16, its last max pool removed) compute the
feature map once per image. Fast R-CNN projects each Selective Search proposal onto it (× 1/16) and
RoI max pools it to 7 × 7 (§2.1); fc6 and fc7 (4096, ReLU, dropout 0.5) then two siblings: cls_score
(K + 1 softmax) and bbox_pred (4 (K + 1) class-specific deltas). Faster R-CNN adds the RPN on the
same map (§3.1): a 3 × 3 conv of 512 + ReLU, then 1 × 1 convs to 2k objectness logits and 4k deltas
for k = 9 anchors per location (areas 128², 256², 512², ratios 1:2, 1:1, 2:1); its proposal layer
decodes the anchors, keeps the 6000 best, NMS at 0.7, and the 300 best (§3.3, test time) feed
the Fast R-CNN head. Four losses (tasks/two_stage.py): RPN class and box over 256 sampled anchors,
head class and box over 128 sampled RoIs at 25 % foreground; trained end to end by approximate
joint training (no gradient through the proposal coordinates), or with `alternating_training`, the
paper's 4-step scheme.

The model's outputs are raw: per-RoI "class_logits" [N, P, K+1], "box_deltas" [N, P, K+1, 4],
"rois" [N, P, 4], "roi_valid" [N, P], the shared "features" (for the loss's sampled RoIs) and, with
an RPN, "rpn_class_logits" [N, A, 2] and "rpn_box_deltas" [N, A, 4]. `detection_endpoint()` adds the
softmax, the class-specific box decoding and per-class NMS (tasks.two_stage.decode_detections).

Fast R-CNN's endpoint takes two named inputs, "images" and "proposals" [N, P, 4] (xyxy pixels,
zero rows pad): Selective Search (tasks/selective_search.py) is numpy/scikit-image code, not a graph,
so it runs before the endpoint; the task computes it wherever only images are given.

Where we differ, and why:
- Inputs are a fixed size (608 × 800 canonically, the papers' 600-px shorter side rounded to a
  multiple of 16) so that the anchors are constants of the graph; the papers rescale per image.
- A fixed number of RoIs per image after sampling: up to 25 % foreground, the rest background; the
  paper fills a short foreground quota with background the same way. Proposals and ground-truth
  boxes are both candidates (as in the reference code).
- Fast R-CNN's background range [0.1, 0.5) and both heads' settings follow the papers; with the RPN
  the head's background starts at IoU 0 (py-faster-rcnn's end-to-end config, BG_THRESH_LO 0.0), so
  the head also trains on the empty-background proposals it scores at test time. The RPN box loss
  uses the reference code's smooth-L1 σ = 3 (β = 1/9).
- The tiny configs' score threshold is 0.3, above an untrained head's 1 / (K + 1) = 0.25: the
  untrained sweep model reports nothing instead of K near-tied boxes per RoI, whose NMS order flips
  on float rounding between runtimes (tests/test_two_stage.py checks export parity on a head with
  spread-out scores). The benchmark sets the papers' 0.05 back.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import detection as det
from tasks import two_stage as ts

# VGG-16's convolutions as (convs, channels) per block; a 2 × 2 max pool follows every block but
# the last (conv5_3 at stride 16, as both papers use it).
VGG16_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
TINY_BLOCKS = ((1, 8), (1, 16), (1, 16))

FASTER_RCNN_RECIPE = dict(
    optimizer="momentum", learning_rate=0.001, momentum=0.9, weight_decay=5e-4, batch_size=1,
    # PASCAL VOC 07: 60 k mini-batches at 0.001 and 20 k at 0.0001 over 5 k images ≈ 16 epochs.
    epochs=16, schedule="step", schedule_kwargs=dict(factor=0.1, milestones=(12,)),
)


# --- layers --------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class ProposalLayer(keras.layers.Layer):
    """RPN outputs → proposals [N, P, 4] and their validity [N, P] (float 0/1)."""

    def __init__(self, anchor_config, image_size, pre_nms_topk, post_nms_topk, iou_threshold, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "anchor_config", {k: list(v) for k, v in anchor_config.items()})
        self.image_size = [int(v) for v in image_size]
        self.pre_nms_topk, self.post_nms_topk = int(pre_nms_topk), int(post_nms_topk)
        self.iou_threshold = float(iou_threshold)
        self._anchors = det.anchors_from_config(self.anchor_config)

    def call(self, rpn_class_logits, rpn_box_deltas):
        proposals, _, valid = ts.propose(rpn_class_logits, rpn_box_deltas, self._anchors, self.image_size,
                                         self.pre_nms_topk, self.post_nms_topk, self.iou_threshold)
        return proposals, ops.cast(valid, "float32")

    def compute_output_spec(self, rpn_class_logits, rpn_box_deltas):
        batch = rpn_class_logits.shape[0]
        return (keras.KerasTensor((batch, self.post_nms_topk, 4), "float32"), keras.KerasTensor((batch, self.post_nms_topk), "float32"))

    def get_config(self):
        return {**super().get_config(), "anchor_config": self.anchor_config, "image_size": self.image_size,
                "pre_nms_topk": self.pre_nms_topk, "post_nms_topk": self.post_nms_topk, "iou_threshold": self.iou_threshold}


@keras.saving.register_keras_serializable(package="deepzoo")
class RoIPooling(keras.layers.Layer):
    """features [N, h, w, C], rois [N, R, 4] (image pixels) → [N, R, size, size, C]; mode "max"
    (Fast R-CNN's quantised RoI max pooling) or "align" (RoIAlign, bilinear, no quantisation)."""

    def __init__(self, mode, output_size, spatial_scale, sampling_ratio=2, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "align"):
            raise ValueError(f"RoI pooling mode must be 'max' or 'align'. Received: {mode!r}")
        self.mode, self.output_size = mode, int(output_size)
        self.spatial_scale, self.sampling_ratio = float(spatial_scale), int(sampling_ratio)

    def call(self, features, rois):
        if self.mode == "max":
            return ts.roi_max_pool(features, rois, self.spatial_scale, self.output_size)
        return ts.roi_align(features, rois, self.spatial_scale, self.output_size, self.sampling_ratio)

    def compute_output_spec(self, features, rois):
        return keras.KerasTensor((rois.shape[0], rois.shape[1], self.output_size, self.output_size, features.shape[-1]), "float32")

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "output_size": self.output_size,
                "spatial_scale": self.spatial_scale, "sampling_ratio": self.sampling_ratio}


@keras.saving.register_keras_serializable(package="deepzoo")
class TwoStageDecoder(keras.layers.Layer):
    """Per-RoI head outputs → the Detection endpoint's padded detections (tasks.two_stage.decode_detections)."""

    def __init__(self, image_size, score_threshold, iou_threshold, max_detections, pre_nms_topk, **kwargs):
        super().__init__(**kwargs)
        self.image_size = [int(v) for v in image_size]
        self.score_threshold, self.iou_threshold = float(score_threshold), float(iou_threshold)
        self.max_detections, self.pre_nms_topk = int(max_detections), int(pre_nms_topk)

    def call(self, class_logits, box_deltas, rois, roi_valid):
        return ts.decode_detections(ops.softmax(class_logits, axis=-1), box_deltas, rois, roi_valid, self.image_size,
                                    self.score_threshold, self.iou_threshold, self.max_detections, self.pre_nms_topk)

    def compute_output_spec(self, class_logits, box_deltas, rois, roi_valid):
        batch, d = class_logits.shape[0], self.max_detections
        return {"boxes": keras.KerasTensor((batch, d, 4), "float32"), "scores": keras.KerasTensor((batch, d), "float32"),
                "classes": keras.KerasTensor((batch, d), "int32"), "num_detections": keras.KerasTensor((batch,), "int32")}

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size, "score_threshold": self.score_threshold,
                "iou_threshold": self.iou_threshold, "max_detections": self.max_detections, "pre_nms_topk": self.pre_nms_topk}


def _vgg_features(x, blocks):
    for b, (convs, channels) in enumerate(blocks):
        for c in range(convs):
            x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name=f"conv{b + 1}_{c + 1}")(x)
        if b < len(blocks) - 1:
            x = keras.layers.MaxPooling2D(2, name=f"pool{b + 1}")(x)
    return x


# --- the two-stage builder shared with Mask R-CNN (architectures/segmentation/mask_rcnn.py) --------


def rpn_head(feature_maps, channels, per_location, first_level=2):
    """The RPN (Faster R-CNN §3.1): a 3 × 3 conv + ReLU, then 1 × 1 convs to 2k objectness logits
    and 4k deltas, one set of weights over every map (FPN §4.1 shares it over P2–P6). Returns
    (rpn_class_logits [N, A, 2], rpn_box_deltas [N, A, 4]), the maps' anchors in order."""
    init = keras.initializers.RandomNormal(stddev=0.01)
    conv = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", kernel_initializer=init, name="rpn_conv")
    cls = keras.layers.Conv2D(2 * per_location, 1, kernel_initializer=init, name="rpn_cls_score")
    box = keras.layers.Conv2D(4 * per_location, 1, kernel_initializer=init, name="rpn_bbox_pred")
    if len(feature_maps) == 1:
        hidden = conv(feature_maps[0])
        return (keras.layers.Reshape((-1, 2), name="rpn_class_logits")(cls(hidden)),
                keras.layers.Reshape((-1, 4), name="rpn_box_deltas")(box(hidden)))
    logits, deltas = [], []
    for level, fmap in enumerate(feature_maps, start=first_level):
        hidden = conv(fmap)
        logits.append(keras.layers.Reshape((-1, 2), name=f"rpn_logits_p{level}")(cls(hidden)))
        deltas.append(keras.layers.Reshape((-1, 4), name=f"rpn_deltas_p{level}")(box(hidden)))
    return (keras.layers.Concatenate(axis=1, name="rpn_class_logits")(logits),
            keras.layers.Concatenate(axis=1, name="rpn_box_deltas")(deltas))


def box_head(pooled, num_classes, fc_units, dropout=0.0):
    """The Fast R-CNN head on pooled RoIs [N, R, S, S, C]: fc6, fc7 (ReLU, dropout where > 0), then
    cls_score (K + 1) and bbox_pred (class-specific deltas). Returns (class_logits [N, R, K+1],
    box_deltas [N, R, K+1, 4])."""
    count, size, channels = pooled.shape[1], pooled.shape[2], pooled.shape[4]
    x = keras.layers.Reshape((count, size * size * channels), name="roi_flatten")(pooled)
    for index, units in enumerate(fc_units, start=6):
        x = keras.layers.Dense(units, activation="relu", name=f"fc{index}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"drop{index}")(x)
    logits = keras.layers.Dense(num_classes + 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01), name="cls_score")(x)
    deltas = keras.layers.Dense(4 * (num_classes + 1), kernel_initializer=keras.initializers.RandomNormal(stddev=0.001), name="bbox_pred")(x)
    return logits, keras.layers.Reshape((count, num_classes + 1, 4), name="box_deltas")(deltas)


def set_plain_attributes(model, values):
    """Plain Python settings on a built model (object.__setattr__: Keras would track dicts and lists)."""
    for key, value in values.items():
        object.__setattr__(model, key, value)


class TwoStageTraining:
    """What Faster R-CNN and Mask R-CNN share once their graphs are built (a mixin of their models):
    the box head's layers on the loss's sampled RoIs, the RPN and head losses with their trackers,
    and the endpoint's decoder. The model sets `sampling`, `anchors`, `num_classes`, `decoder_config`,
    `seed_generator` and `loss_trackers`."""

    def box_head_on(self, pooled, training=False):
        """The head's layers (shared with the graph) on other pooled RoIs [N, R, S, S, C]."""
        count, size, channels = pooled.shape[1], pooled.shape[2], pooled.shape[4]
        x = ops.reshape(pooled, (-1, count, size * size * channels))
        names = {layer.name for layer in self.layers}
        for index in range(6, 8):
            x = self.get_layer(f"fc{index}")(x)
            if f"drop{index}" in names:
                x = self.get_layer(f"drop{index}")(x, training=training)
        logits = self.get_layer("cls_score")(x)
        deltas = ops.reshape(self.get_layer("bbox_pred")(x), (-1, count, self.num_classes + 1, 4))
        return logits, deltas

    def rpn_loss(self, y, y_pred):
        """RPN class + box loss over the sampled anchors (tasks.two_stage.rpn_losses), tracked."""
        rpn_cls, rpn_box = ts.rpn_losses(self.anchors, y, y_pred["rpn_class_logits"], y_pred["rpn_box_deltas"], self.seed_generator,
                                         batch_per_image=self.sampling["rpn_batch"])
        self.loss_trackers["rpn_cls_loss"].update_state(rpn_cls)
        self.loss_trackers["rpn_box_loss"].update_state(rpn_box)
        return rpn_cls + rpn_box

    def head_loss(self, y, y_pred, pool, training=True):
        """Head class + box loss on the sampled RoI minibatch (tasks.two_stage.head_targets), pooled by
        `pool(rois)`; tracked. Returns (loss, rois, labels, weights) for the losses that follow (masks)."""
        rois, labels, targets, weights = ts.head_targets(
            y_pred["rois"], y_pred["roi_valid"] > 0.5, y, self.seed_generator, batch_per_image=self.sampling["head_batch"],
            positive_fraction=self.sampling["head_foreground_fraction"], background_iou=self.sampling["background_iou"])
        logits, deltas = self.box_head_on(pool(rois), training)
        head_cls, head_box = ts.head_losses(logits, deltas, labels, targets, weights)
        self.loss_trackers["head_cls_loss"].update_state(head_cls)
        self.loss_trackers["head_box_loss"].update_state(head_box)
        return head_cls + head_box, rois, labels, weights

    def decoded(self, raw):
        """The endpoint's detections from the raw per-RoI outputs (softmax, class-specific decoding, NMS)."""
        return TwoStageDecoder(**self.decoder_config, name="detections")(raw["class_logits"], raw["box_deltas"], raw["rois"], raw["roi_valid"])


# --- the model -----------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class TwoStageDetector(TwoStageTraining, ZooModel):
    """Fast R-CNN (proposal_source="selective_search") or Faster R-CNN (proposal_source="rpn").

    Args:
        input_shape: (height, width, 3), sides multiples of the backbone stride.
        num_classes: object classes K (the head has K + 1 outputs, 0 = background).
        proposal_source: "rpn" (Faster R-CNN) or "selective_search" (Fast R-CNN: proposals input).
        backbone_blocks: (convs, channels) per VGG block (VGG-16's by default).
        rpn_channels: the RPN's 3 × 3 conv width (512).
        anchor_scales, aspect_ratios: anchors per location, sides stride × scale (8, 16, 32 → 128 …
            512 px at stride 16) and height / width ratios.
        pre_nms_topk, num_proposals, rpn_nms_iou: proposal layer (6000, 300, 0.7); with
            Selective Search `num_proposals` is the proposals input's size (2000).
        roi_pooling: "max" (RoI max pooling, the papers') or "align" (RoIAlign).
        roi_size: the RoI grid (7).
        fc_units: fc6, fc7 widths (4096, 4096). dropout: after each (0.5).
        rpn_batch, head_batch, head_foreground_fraction: minibatch sampling (256, 128, 0.25).
        head_background_iou: the lower IoU bound of the head's background RoIs; None: 0.1 for
            Selective Search proposals (Fast R-CNN §2.3), 0.0 with the RPN (py-faster-rcnn's
            end-to-end config, BG_THRESH_LO 0.0: the head also sees RoIs on empty background,
            which the RPN proposes at test time).
        score_threshold, iou_threshold, max_detections, pre_nms_topk_detections: the endpoint's
            decoder (0.05, NMS 0.3 as in both papers' test code, 100, 1000 candidates).
        selective_search_options: keyword arguments of tasks.selective_search.selective_search.
        preprocessing: see `model_input`; None maps 0..255 to [−1, 1].
    """

    def __init__(
        self,
        input_shape=(608, 800, 3),
        num_classes=20,
        proposal_source="rpn",
        backbone_blocks=VGG16_BLOCKS,
        rpn_channels=512,
        anchor_scales=ts.ANCHOR_SCALES,
        aspect_ratios=ts.ANCHOR_RATIOS,
        pre_nms_topk=6000,
        num_proposals=300,
        rpn_nms_iou=0.7,
        roi_pooling="max",
        roi_size=7,
        fc_units=(4096, 4096),
        dropout=0.5,
        rpn_batch=256,
        head_batch=128,
        head_foreground_fraction=0.25,
        head_background_iou=None,
        score_threshold=0.05,
        iou_threshold=0.3,
        max_detections=det.DECODER_DEFAULTS["max_detections"],
        pre_nms_topk_detections=1000,
        selective_search_options=None,
        preprocessing=None,
        seed=0,
        name=None,
        **kwargs,
    ):
        if proposal_source not in ("rpn", "selective_search"):
            raise ValueError(f"proposal_source must be 'rpn' or 'selective_search'. Received: {proposal_source!r}")
        stride = 2 ** (len(backbone_blocks) - 1)
        height, width = int(input_shape[0]), int(input_shape[1])
        if len(input_shape) != 3 or height % stride or width % stride:
            raise ValueError(f"input_shape must be (height, width, 3) with sides multiples of {stride}. Received: {tuple(input_shape)}")
        images, x = model_input(input_shape, preprocessing or {"scale": 1.0 / 127.5, "offset": -1.0}, name="images")
        features = _vgg_features(x, backbone_blocks)
        outputs, inputs = {}, images
        anchor_config = None
        if proposal_source == "rpn":
            outputs["rpn_class_logits"], outputs["rpn_box_deltas"] = rpn_head([features], rpn_channels, len(anchor_scales) * len(aspect_ratios))
            anchor_config = ts.rpn_anchor_config(features.shape[1:3], stride, anchor_scales, aspect_ratios)
            rois, valid = ProposalLayer(anchor_config, (height, width), pre_nms_topk, num_proposals, rpn_nms_iou, name="proposals")(
                outputs["rpn_class_logits"], outputs["rpn_box_deltas"])
        else:
            rois = keras.Input(shape=(num_proposals, 4), name="proposals")
            inputs = {"images": images, "proposals": rois}
            valid = keras.layers.Lambda(lambda r: ops.cast(ops.logical_and(r[..., 2] > r[..., 0], r[..., 3] > r[..., 1]), "float32"),
                                        name="proposal_valid")(rois)
        roi_layer = RoIPooling(roi_pooling, roi_size, 1.0 / stride, name="roi_pool")
        class_logits, box_deltas = box_head(roi_layer(features, rois), num_classes, fc_units, dropout)
        outputs.update({"class_logits": class_logits, "box_deltas": box_deltas, "rois": rois, "roi_valid": valid, "features": features})
        super().__init__(inputs=inputs, outputs=outputs, name=name or ("faster_rcnn" if proposal_source == "rpn" else "fast_rcnn"), **kwargs)
        if head_background_iou is None:
            head_background_iou = 0.0 if proposal_source == "rpn" else 0.1
        set_plain_attributes(self, {
            "num_classes": int(num_classes),
            "proposal_source": proposal_source,
            "num_proposals": int(num_proposals),
            "image_size": (height, width),
            "anchors": det.anchors_from_config(anchor_config) if anchor_config else None,
            "selective_search_options": dict(selective_search_options or {}),
            "sampling": dict(rpn_batch=int(rpn_batch), head_batch=int(head_batch), head_foreground_fraction=float(head_foreground_fraction),
                             background_iou=(float(head_background_iou), 0.5)),
            "decoder_config": dict(image_size=[height, width], score_threshold=float(score_threshold), iou_threshold=float(iou_threshold),
                                   max_detections=int(max_detections), pre_nms_topk=int(pre_nms_topk_detections)),
            "loss_terms": ("rpn", "head") if proposal_source == "rpn" else ("head",),
        })
        self.seed_generator = keras.random.SeedGenerator(seed)
        tracked = ("rpn_cls_loss", "rpn_box_loss", "head_cls_loss", "head_box_loss") if proposal_source == "rpn" else ("head_cls_loss", "head_box_loss")
        self.loss_trackers = {key: keras.metrics.Mean(name=key) for key in tracked}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The four losses (RPN cls/box, head cls/box); `loss_terms` picks them (alternating scheme)."""
        total = 0.0
        if "rpn" in self.loss_terms and self.proposal_source == "rpn":
            total = total + self.rpn_loss(y, y_pred)
        if "head" in self.loss_terms:
            pool = self.get_layer("roi_pool")
            total = total + self.head_loss(y, y_pred, lambda rois: pool(y_pred["features"], rois), training)[0]
        return ops.add(total, ops.sum(self.losses)) if self.losses else total

    def set_training_stage(self, stage):
        """Loss terms and trainable layers of one step of the 4-step alternating training (§3.2):
        "joint" (all), "rpn" (step 1: RPN losses, backbone + RPN), "head" (step 2: head losses,
        backbone + head), "rpn_unique" (step 3: RPN losses, only the RPN's own layers), "head_unique"
        (step 4: head losses, only fc6, fc7 and the siblings). Recompile after a change."""
        rpn = {"rpn_conv", "rpn_cls_score", "rpn_bbox_pred"}
        head = {"fc6", "fc7", "cls_score", "bbox_pred"}
        stages = {"joint": (("rpn", "head"), None), "rpn": (("rpn",), "head"), "head": (("head",), "rpn"),
                  "rpn_unique": (("rpn",), "rpn_only"), "head_unique": (("head",), "head_only")}
        if stage not in stages or (self.proposal_source != "rpn" and stage != "joint"):
            raise ValueError(f"training stage must be one of {sorted(stages)} (Faster R-CNN only but 'joint'). Received: {stage!r}")
        terms, frozen = stages[stage]
        object.__setattr__(self, "loss_terms", terms)
        for layer in self.layers:
            if not layer.weights:
                continue
            name = layer.name
            if frozen is None:
                layer.trainable = True
            elif frozen == "head":
                layer.trainable = name not in head
            elif frozen == "rpn":
                layer.trainable = name not in rpn
            elif frozen == "rpn_only":
                layer.trainable = name in rpn
            else:
                layer.trainable = name in head

    def detection_endpoint(self):
        """images (and proposals) → {"boxes", "scores", "classes", "num_detections"}, NMS inside."""
        images = keras.Input(shape=tuple(self.inputs[0].shape[1:]), name="images")
        if self.proposal_source == "rpn":
            inputs, raw = images, self(images, training=False)
        else:
            proposals = keras.Input(shape=(self.num_proposals, 4), name="proposals")
            inputs = {"images": images, "proposals": proposals}
            raw = self(inputs, training=False)
        endpoint = keras.Model(inputs, self.decoded(raw), name=f"{self.name}_detector")
        object.__setattr__(endpoint, "selective_search_options", self.selective_search_options)
        return endpoint


def alternating_training(model, x, y, epochs_per_step=1, learning_rate=1e-3, batch_size=None):
    """Faster R-CNN's 4-step alternating training (§3.2) on one network: (1) RPN with the backbone,
    (2) the Fast R-CNN head with the backbone on (1)'s proposals, (3) the RPN's own layers with
    the shared convolutions fixed, (4) the head's own layers with them fixed. The paper trains
    steps 1 and 2 as two networks and shares convolutions from step 3 on; here one backbone is
    shared from the start. Returns {stage: loss history}; leaves the model in the "joint" stage."""
    histories = {}
    for stage in ("rpn", "head", "rpn_unique", "head_unique"):
        model.set_training_stage(stage)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9))
        histories[stage] = model.fit(x, y, batch_size=batch_size or len(x), epochs=epochs_per_step, shuffle=False, verbose=0).history["loss"]
    model.set_training_stage("joint")
    return histories


# --- registration --------------------------------------------------------------------------------

# py-faster-rcnn VGG16 (PASCAL VOC, 21 classes with background), trainable weights + biases:
# conv1_1 … conv5_3 14,714,688; rpn_conv/3x3 2,359,808; rpn_cls_score 9,234; rpn_bbox_pred 18,468;
# fc6 102,764,544; fc7 16,781,312; cls_score 86,037; bbox_pred 344,148.
FASTER_RCNN_REFERENCE_PARAMS = 137_078_239
FAST_RCNN_REFERENCE_PARAMS = FASTER_RCNN_REFERENCE_PARAMS - 2_359_808 - 9_234 - 18_468  # 134,690,729

_TINY_COMMON = dict(
    input_shape=(32, 32, 3), num_classes=3, backbone_blocks=TINY_BLOCKS, roi_size=4, fc_units=(32, 32), dropout=0.0,
    head_batch=32, max_detections=det.DECODER_DEFAULTS["max_detections"], pre_nms_topk_detections=100,
    # Above an untrained head's 1 / (K + 1) = 0.25 (see the module docstring); the benchmark uses 0.05.
    score_threshold=0.3,
)
FASTER_RCNN_TINY = dict(_TINY_COMMON, rpn_channels=16, anchor_scales=(2.0, 4.0, 8.0), pre_nms_topk=128, num_proposals=32, rpn_batch=64)
FAST_RCNN_TINY = dict(_TINY_COMMON, proposal_source="selective_search", num_proposals=32,
                      selective_search_options=dict(strategies=[["rgb", 50], ["hsv", 50]]))

_OUTPUTS = det.ENDPOINT_OUTPUTS
_INT8 = det.TFLITE_INT8_LIMITATION

register(
    ModelSpec(
        name="faster_rcnn",
        family="detection",
        task="two_stage_detection",
        builder=TwoStageDetector,
        canonical_config=dict(name="faster_rcnn"),
        tiny_config=dict(FASTER_RCNN_TINY, name="faster_rcnn"),
        reference_params=FASTER_RCNN_REFERENCE_PARAMS,
        reference_source="P (py-faster-rcnn VGG16 on PASCAL VOC, 21 classes with background: 137,078,239 weights and biases)",
        paper="Ren, He, Girshick & Sun 2015, NeurIPS (Faster R-CNN)",
        seeds=("004",),
        default_dataset="shapes_scenes",
        train_recipe=FASTER_RCNN_RECIPE,
        inputs=(TensorSpec("images", (None, None, 3), "float32"),),
        outputs=_OUTPUTS,
        limitations={"tflite_int8": _INT8},
        export_endpoint="images → boxes, scores, classes, num_detections (RPN proposals with NMS, RoI pooling, "
                        "class-specific decoding and per-class NMS in the graph)",
        notes=(
            "Fixed input size (608 × 800) so anchors are graph constants; approximate joint training by default, the "
            "4-step alternating scheme with one shared backbone as `alternating_training`. Tiny config: 3 VGG blocks "
            "(stride 4), anchors 8–32 px, 32 proposals, 4 × 4 RoI grid, fc 32."
        ),
    )
)

register(
    ModelSpec(
        name="fast_rcnn",
        family="detection",
        task="two_stage_detection",
        builder=TwoStageDetector,
        canonical_config=dict(name="fast_rcnn", proposal_source="selective_search", num_proposals=2000),
        tiny_config=dict(FAST_RCNN_TINY, name="fast_rcnn"),
        reference_params=FAST_RCNN_REFERENCE_PARAMS,
        reference_source="P (Fast R-CNN VGG16 on PASCAL VOC, 21 classes: 134,690,729 weights and biases)",
        paper="Girshick 2015, ICCV (Fast R-CNN)",
        seeds=("004",),
        default_dataset="shapes_scenes",
        train_recipe=dict(FASTER_RCNN_RECIPE, batch_size=2),
        inputs=(TensorSpec("images", (None, None, 3), "float32"), TensorSpec("proposals", (None, 4), "float32")),
        outputs=_OUTPUTS,
        limitations={"tflite_int8": _INT8},
        export_endpoint="images + proposals [N, P, 4] → boxes, scores, classes, num_detections (RoI max pooling, "
                        "class-specific decoding and per-class NMS in the graph; Selective Search runs before it, in numpy)",
        notes=(
            "Selective Search (scikit-image felzenszwalb + hierarchical grouping) is not a graph: the endpoint takes "
            "proposals as a second input. Fixed input size and proposal count (2000, zero rows pad). Tiny config: 3 VGG "
            "blocks, 32 proposals from two strategies, 4 × 4 RoI grid, fc 32."
        ),
    )
)


# --- R-CNN ---------------------------------------------------------------------------------------

# R-CNN's CNN: CaffeNet (AlexNet with its two-GPU groups) as rows (filters, kernel, stride, padding,
# groups, max pool 3/2 after); LRN is left out (Keras has no layer for it; it has no weights).
CAFFENET_CONVS = ((96, 11, 4, "valid", 1, True), (256, 5, 1, "same", 2, True), (384, 3, 1, "same", 1, False),
                  (384, 3, 1, "same", 2, False), (256, 3, 1, "same", 2, True))
TINY_CONVS = ((8, 3, 1, "same", 1, True), (16, 3, 1, "same", 1, True))


def _context_boxes(boxes, crop_size, padding):
    """R-CNN's warp with context (§2.1, Appendix A): the box grows so that, after warping to
    crop_size, `padding` pixels of image context surround the original box on every side."""
    if padding <= 0:
        return boxes
    factor = crop_size / (crop_size - 2.0 * padding)
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2.0
    half = (boxes[..., 2:] - boxes[..., :2]) / 2.0 * factor
    return ops.concatenate([centre - half, centre + half], axis=-1)


@keras.saving.register_keras_serializable(package="deepzoo")
class RegionWarp(keras.layers.Layer):
    """images [N, H, W, 3], boxes [N, P, 4] → warped regions [N·P, S, S, 3]: each box (with context
    padding) anisotropically scaled to S × S by bilinear sampling at the output pixels' centres
    (tasks.two_stage.roi_align with one sample per bin on the image itself)."""

    def __init__(self, crop_size, context_padding, **kwargs):
        super().__init__(**kwargs)
        self.crop_size, self.context_padding = int(crop_size), float(context_padding)

    def call(self, images, boxes):
        boxes = _context_boxes(ops.cast(boxes, "float32"), self.crop_size, self.context_padding)
        warped = ts.roi_align(images, boxes, 1.0, self.crop_size, sampling_ratio=1)
        return ops.reshape(warped, (-1, self.crop_size, self.crop_size, images.shape[-1]))

    def compute_output_spec(self, images, boxes):
        return keras.KerasTensor((None, self.crop_size, self.crop_size, images.shape[-1]), "float32")

    def get_config(self):
        return {**super().get_config(), "crop_size": self.crop_size, "context_padding": self.context_padding}


@keras.saving.register_keras_serializable(package="deepzoo")
class RegionsToImages(keras.layers.Layer):
    """[N·P, ...] per-region tensors → [N, *shape] (shape starts with P)."""

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.shape = [int(v) for v in shape]

    def call(self, regions):
        return ops.reshape(regions, (-1, *self.shape))

    def compute_output_spec(self, regions):
        return keras.KerasTensor((None, *self.shape), regions.dtype)

    def get_config(self):
        return {**super().get_config(), "shape": self.shape}


@keras.saving.register_keras_serializable(package="deepzoo")
class RCNN(ZooModel):
    """R-CNN (Girshick, Donahue, Darrell & Malik, CVPR 2014).

    Selective Search proposals (outside the graph; input "proposals" [N, P, 4]) are warped to
    crop_size² with 16 px of context (at 227), each through CaffeNet to pool5 and fc7; three
    outputs per region: "class_logits" (K + 1, the fine-tuning softmax, trained with `fit` on
    proposals labelled by IoU ≥ 0.5, 32 foreground of 128), "svm_scores" (K linear SVMs on fc7)
    and "box_deltas" (class-specific linear regression on pool5). The SVMs and regressors are fitted
    by `fit_svms` on cached features (scikit-learn LinearSVC and Ridge) and loaded into the two
    Dense layers, so the endpoint (warp, CNN, SVM scores through a sigmoid, regression, per-class
    NMS) is one exportable graph; only Selective Search runs outside it.

    Args:
        input_shape, num_classes, num_proposals: image size, object classes K, proposals per image.
        convs: the conv table (rows as CAFFENET_CONVS). crop_size: warp size (227).
        context_padding: context pixels at crop_size (16). fc_units: fc6, fc7 (4096, 4096).
        dropout: fine-tuning dropout (0.5). batch_per_image, foreground_fraction: fine-tuning
            minibatch (128, 0.25). svm_c: LinearSVC C (0.001 in the paper's code).
        svm_negative_iou: negatives below this IoU with every box of the class (0.3).
        regression_iou, ridge_alpha: box-regression training pairs (IoU ≥ 0.6) and λ (1000).
        score_threshold, iou_threshold, max_detections: the endpoint's decoder (NMS 0.3).
    """

    def __init__(
        self,
        input_shape=(500, 500, 3),
        num_classes=20,
        num_proposals=2000,
        convs=CAFFENET_CONVS,
        crop_size=227,
        context_padding=16,
        fc_units=(4096, 4096),
        dropout=0.5,
        batch_per_image=128,
        foreground_fraction=0.25,
        svm_c=0.001,
        svm_negative_iou=0.3,
        regression_iou=0.6,
        ridge_alpha=1000.0,
        score_threshold=0.05,
        iou_threshold=0.3,
        max_detections=det.DECODER_DEFAULTS["max_detections"],
        selective_search_options=None,
        preprocessing=None,
        seed=0,
        name=None,
        **kwargs,
    ):
        images, x = model_input(input_shape, preprocessing or {"scale": 1.0 / 127.5, "offset": -1.0}, name="images")
        proposals = keras.Input(shape=(num_proposals, 4), name="proposals")
        crops = RegionWarp(crop_size, context_padding * crop_size / 227.0, name="warp")(x, proposals)
        h = crops
        for index, (filters, kernel, stride, padding, groups, pool) in enumerate(convs):
            h = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, groups=groups, activation="relu", name=f"conv{index + 1}")(h)
            if pool:
                h = keras.layers.MaxPooling2D(3 if crop_size >= 64 else 2, strides=2, name=f"pool{index + 1}")(h)
        pool5 = keras.layers.Flatten(name="pool5_features")(h)
        h = keras.layers.Dense(fc_units[0], activation="relu", name="fc6")(pool5)
        h = keras.layers.Dropout(dropout, name="drop6")(h)
        fc7 = keras.layers.Dense(fc_units[1], activation="relu", name="fc7")(h)
        h = keras.layers.Dropout(dropout, name="drop7")(fc7)
        logits = keras.layers.Dense(num_classes + 1, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01), name="cls_score")(h)
        # Until fit_svms runs the SVMs score every region at −10 (sigmoid ≈ 0): nothing is detected.
        svm = keras.layers.Dense(num_classes, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(-10.0),
                                 trainable=False, name="svm")(fc7)
        regression = keras.layers.Dense(4 * num_classes, kernel_initializer="zeros", trainable=False, name="bbox_regressor")(pool5)
        per_image = lambda t, shape, layer: RegionsToImages(shape, name=layer)(t)
        outputs = {
            "class_logits": per_image(logits, (num_proposals, num_classes + 1), "class_logits"),
            "svm_scores": per_image(svm, (num_proposals, num_classes), "svm_scores"),
            "box_deltas": per_image(regression, (num_proposals, num_classes, 4), "box_deltas"),
        }
        super().__init__(inputs={"images": images, "proposals": proposals}, outputs=outputs, name=name or "rcnn", **kwargs)
        set_plain_attributes(self, {
            "num_classes": int(num_classes),
            "proposal_source": "selective_search",
            "num_proposals": int(num_proposals),
            "image_size": (int(input_shape[0]), int(input_shape[1])),
            "selective_search_options": dict(selective_search_options or {}),
            "sampling": dict(batch_per_image=int(batch_per_image), foreground_fraction=float(foreground_fraction)),
            "svm_settings": dict(c=float(svm_c), negative_iou=float(svm_negative_iou), regression_iou=float(regression_iou),
                                 ridge_alpha=float(ridge_alpha)),
            "decoder_config": dict(image_size=[int(input_shape[0]), int(input_shape[1])], score_threshold=float(score_threshold),
                                   iou_threshold=float(iou_threshold), max_detections=int(max_detections), pre_nms_topk=1000),
            "svm_report": {"fitted": False},
            "_training_data": None,
        })
        self.seed_generator = keras.random.SeedGenerator(seed)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Fine-tuning (§3.1 "Supervised pre-training" → "Domain-specific fine-tuning"): softmax over
        K + 1 on warped proposals, IoU ≥ 0.5 with a box = its class, else background; 25 %
        foreground of `batch_per_image`."""
        proposals = ops.cast(x["proposals"], "float32")
        valid = ops.logical_and(proposals[..., 2] > proposals[..., 0], proposals[..., 3] > proposals[..., 1])
        _, labels, _, weights = ts.head_targets(
            proposals, valid, y, self.seed_generator, batch_per_image=self.sampling["batch_per_image"],
            positive_fraction=self.sampling["foreground_fraction"], background_iou=(0.0, 0.5), add_ground_truth=False)
        logits = ops.cast(y_pred["class_logits"], "float32")
        cross_entropy = -ops.sum(ops.one_hot(labels, self.num_classes + 1) * ops.log_softmax(logits, axis=-1), axis=-1)
        loss = ops.sum(cross_entropy * weights) / ops.maximum(ops.sum(weights), 1.0)
        return ops.add(loss, ops.sum(self.losses)) if self.losses else loss

    def fit_svms(self, x, y, batch_size=8):
        """Caches fc7 and pool5 of every proposal and ground-truth box of (x, y), then fits per class
        a LinearSVC (positives: the class's ground-truth boxes; negatives: proposals under
        `negative_iou` with every box of the class) and a Ridge box regressor (proposals with IoU ≥
        `regression_iou` to a box of the class; targets its normalised deltas), and loads them into
        the "svm" and "bbox_regressor" layers. The paper mines hard negatives; with the few
        thousand regions of these scenes every negative fits in one problem."""
        import numpy as np
        from sklearn.linear_model import Ridge
        from sklearn.svm import LinearSVC

        images, proposals = np.asarray(x["images"], np.float32), np.asarray(x["proposals"], np.float32)
        boxes, classes = np.asarray(y["boxes"], np.float32), np.asarray(y["classes"])
        features = keras.Model(self.inputs, {"fc7": self.get_layer("fc7").output, "pool5": self.get_layer("pool5_features").output})
        count = self.num_proposals

        def cached(region_boxes):
            fc7, pool5 = [], []
            for start in range(0, len(images), batch_size):
                out = features.predict_on_batch({"images": images[start : start + batch_size], "proposals": region_boxes[start : start + batch_size]})
                fc7.append(np.asarray(out["fc7"]).reshape(-1, count, out["fc7"].shape[-1]))
                pool5.append(np.asarray(out["pool5"]).reshape(-1, count, out["pool5"].shape[-1]))
            return np.concatenate(fc7), np.concatenate(pool5)

        gt_regions = np.zeros_like(proposals)
        m = min(boxes.shape[1], count)
        gt_regions[:, :m] = np.where(classes[:, :m, None] >= 0, boxes[:, :m], 0.0)
        proposal_fc7, proposal_pool5 = cached(proposals)
        gt_fc7, _ = cached(gt_regions)
        valid = (proposals[..., 2] > proposals[..., 0]) & (proposals[..., 3] > proposals[..., 1])
        iou = np.stack([det.numpy_iou(p, np.maximum(b, 0.0)) for p, b in zip(proposals, boxes)])  # [N, P, M]
        settings = self.svm_settings
        dim, pool_dim = proposal_fc7.shape[-1], proposal_pool5.shape[-1]
        svm_kernel, svm_bias = np.zeros((dim, self.num_classes), np.float32), np.full(self.num_classes, -10.0, np.float32)
        reg_kernel, reg_bias = np.zeros((pool_dim, 4 * self.num_classes), np.float32), np.zeros(4 * self.num_classes, np.float32)
        correct = total = 0
        for c in range(self.num_classes):
            of_class = classes[:, :m] == c
            positives = gt_fc7[:, :m][of_class]
            class_iou = np.where(of_class[:, None, :], iou[:, :, :m], 0.0).max(axis=-1)  # [N, P]
            negatives = proposal_fc7[valid & (class_iou < settings["negative_iou"])]
            if len(positives) and len(negatives):
                features_c = np.concatenate([positives, negatives])
                labels_c = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
                svm = LinearSVC(C=settings["c"], class_weight="balanced", max_iter=5000).fit(features_c, labels_c)
                svm_kernel[:, c], svm_bias[c] = svm.coef_[0], svm.intercept_[0]
                correct += int((svm.predict(features_c) == labels_c).sum())
                total += len(labels_c)
            pairs = valid & (class_iou >= settings["regression_iou"])
            if pairs.sum() >= 2:
                best = np.argmax(np.where(of_class[:, None, :], iou[:, :, :m], -1.0), axis=-1)  # [N, P]
                targets_boxes = np.take_along_axis(boxes[:, :m], best[..., None], axis=1)
                deltas = np.asarray(det.encode_boxes(proposals[pairs], targets_boxes[pairs], variance=list(ts.HEAD_BOX_VARIANCE)))
                ridge = Ridge(alpha=settings["ridge_alpha"]).fit(proposal_pool5[pairs], deltas)
                reg_kernel[:, 4 * c : 4 * c + 4], reg_bias[4 * c : 4 * c + 4] = ridge.coef_.T, ridge.intercept_
        self.get_layer("svm").set_weights([svm_kernel, svm_bias])
        self.get_layer("bbox_regressor").set_weights([reg_kernel, reg_bias])
        object.__setattr__(self, "svm_report", {"fitted": total > 0, "accuracy": correct / max(total, 1), "samples": total})
        return self.svm_report

    def remember_training_data(self, x, y):
        """The first inputs the task prepares for `fit` (the training split): the SVM stage's data."""
        if self._training_data is None:
            object.__setattr__(self, "_training_data", (x, y))

    def post_training_stage(self):
        """A callback that fits the SVMs and regressors when fine-tuning ends (`deepzoo train`)."""
        model = self

        class FitSVMs(keras.callbacks.Callback):
            def on_train_end(self, logs=None):
                if model._training_data is not None:
                    model.fit_svms(*model._training_data)

        return FitSVMs()

    def detection_endpoint(self):
        """images + proposals → detections: sigmoid of the SVM margins as scores, the class's
        regression on each proposal, per-class NMS."""
        images = keras.Input(shape=(*self.image_size, 3), name="images")
        proposals = keras.Input(shape=(self.num_proposals, 4), name="proposals")
        raw = self({"images": images, "proposals": proposals}, training=False)
        decoder = _SVMDecoder(**self.decoder_config, name="detections")
        outputs = decoder(raw["svm_scores"], raw["box_deltas"], proposals)
        endpoint = keras.Model({"images": images, "proposals": proposals}, outputs, name=f"{self.name}_detector")
        object.__setattr__(endpoint, "selective_search_options", self.selective_search_options)
        return endpoint


@keras.saving.register_keras_serializable(package="deepzoo")
class _SVMDecoder(TwoStageDecoder):
    """R-CNN's scores: sigmoid(SVM margin) per class (no background column: one is prepended)."""

    def call(self, svm_scores, box_deltas, rois):
        probabilities = ops.sigmoid(ops.cast(svm_scores, "float32"))
        probabilities = ops.concatenate([ops.zeros_like(probabilities[..., :1]), probabilities], axis=-1)
        deltas = ops.concatenate([ops.zeros_like(box_deltas[:, :, :1]), box_deltas], axis=2)
        valid = ops.cast(ops.logical_and(rois[..., 2] > rois[..., 0], rois[..., 3] > rois[..., 1]), "float32")
        return ts.decode_detections(probabilities, deltas, rois, valid, self.image_size, self.score_threshold,
                                    self.iou_threshold, self.max_detections, self.pre_nms_topk)

    def compute_output_spec(self, svm_scores, box_deltas, rois):
        return super().compute_output_spec(svm_scores, box_deltas, rois, None)


# CaffeNet with a 21-way fc8 (R-CNN's fine-tuned network on VOC): conv1 34,944, conv2 307,456,
# conv3 885,120, conv4 663,936, conv5 442,624, fc6 37,752,832, fc7 16,781,312, fc8 86,037 =
# 56,954,261; 20 SVMs on fc7 81,940; 20 class-specific regressors on pool5 (9216 × 4 + 4 each) 737,360.
RCNN_REFERENCE_PARAMS = 56_954_261 + 81_940 + 737_360

register(
    ModelSpec(
        name="rcnn",
        family="detection",
        task="two_stage_detection",
        builder=RCNN,
        canonical_config=dict(name="rcnn"),
        tiny_config=dict(name="rcnn", input_shape=(32, 32, 3), num_classes=3, num_proposals=16, convs=TINY_CONVS, crop_size=16,
                         fc_units=(32, 32), dropout=0.0, batch_per_image=64, svm_c=0.1, ridge_alpha=1.0,
                         selective_search_options=dict(strategies=[["rgb", 50], ["hsv", 50]])),
        reference_params=RCNN_REFERENCE_PARAMS,
        reference_source="P (CaffeNet with 21-way fc8 56,954,261 + 20 fc7 SVMs 81,940 + 20 pool5 box regressors 737,360)",
        paper="Girshick, Donahue, Darrell & Malik 2014, CVPR (Rich feature hierarchies: R-CNN)",
        seeds=("004",),
        default_dataset="shapes_scenes",
        train_recipe=dict(optimizer="momentum", learning_rate=0.001, momentum=0.9, batch_size=1, epochs=8),
        inputs=(TensorSpec("images", (None, None, 3), "float32"), TensorSpec("proposals", (None, 4), "float32")),
        outputs=_OUTPUTS,
        limitations={"tflite_int8": _INT8},
        export_endpoint="images + proposals → boxes, scores, classes, num_detections (warp, CNN, the fitted SVMs and box "
                        "regressors as Dense layers, per-class NMS in the graph); Selective Search runs before it, in numpy, "
                        "and the SVM/regressor fitting (scikit-learn) is a training stage, not part of the graph",
        notes=(
            "Training in stages: fine-tuning with fit, then LinearSVC + Ridge on cached features (fit_svms, run by "
            "the task after fit); LRN omitted (no weights); all negatives instead of hard-negative mining; fixed "
            "image size and proposal count. Tiny: 2 convs on 16-px warps, fc 32, 16 proposals "
            "(a minibatch of 64 takes every one: the sweep's loss is not resampled noise)."
        ),
    )
)
