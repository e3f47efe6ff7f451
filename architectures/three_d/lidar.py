"""LiDAR networks: PointSeg (spherical projection), the MV3D bird's-eye-view CNN, PointPillars.

References:
- PointSeg: Wang, Shi, Yun, Tan & Shi, "PointSeg: real-time semantic segmentation based on 3D
  LiDAR point cloud", arXiv 1807.06288 (2018), built on SqueezeSeg (Wu, Wan, Yue & Keutzer, ICRA
  2018). Input: the sweep spherically projected to a 64 × 512 grid of (x, y, z, intensity, range)
  (`pipelines.sources_graphics.spherical_projection`). Fire-module encoder that down-samples the
  width only (the 64 rows are kept), squeeze-reweighting layers (SE channel attention) after each
  fire stage, an enlargement layer (atrous spatial pyramid, rates 6, 9, 12, + image pooling),
  fire-deconv decoder whose outputs are added to the encoder's (SqueezeSeg's skips), a 3×3 conv
  to the per-pixel softmax (car, pedestrian, cyclist + background in the paper).
- BEV CNN: Chen, Ma, Wan, Li & Xia, "Multi-view 3D object detection network for autonomous
  driving" (CVPR 2017), BEV branch: MV3D's bird's-eye-view maps (M height slices of max height,
  intensity of the highest point, density min(1, log(N + 1)/log 64); 0.1 m cells) into VGG-16
  conv1–conv4 (the 4th pooling removed). Here the branch is closed by FCN-8s-style transposed-conv
  up-sampling with skips to a per-cell class map (BEV semantic segmentation of object footprints,
  one of the uses the notes name); MV3D's proposal head and Complex-YOLO are not built.
- PointPillars: Lang, Vora, Caesar, Zhou, Yang & Beijbom, "PointPillars: fast encoders for object
  detection from point clouds" (CVPR 2019): pillar feature net (a per-point Linear + BN + ReLU, a
  PointNet, max over each pillar's points) → BEV pseudo-image → backbone of three blocks (S, 4, C),
  (2S, 6, 2C), (4S, 6, 4C) with C = 64 → each up-sampled to stride S with 2C channels and
  concatenated → detection head. VoxelNet (Zhou & Tuzel 2018) is the same pattern with a 3-D conv
  middle; the pillars are its lighter option (spec row `object_detection_3d`).
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.layers.fire import fire_module
from architectures.layers.mobile import squeeze_excite
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from architectures.segmentation.fcn import SEGMENTATION_OUTPUTS
from tasks import TensorSpec
from tasks.detection_3d import box_decoder_class, centre_point_loss_class

# The 3-D detection task's loss and decoder are Keras classes created on first use (tasks/ stays
# free of TensorFlow at import); creating them here registers them before any saved run loads.
centre_point_loss_class()
box_decoder_class()

# --- block tables ---------------------------------------------------------------------------------

# PointSeg / SqueezeSeg encoder: stages of fire modules (squeeze, expand); a (1, 2) max-pool
# before stages 2 and 3, squeeze reweighting after each stage.
POINTSEG_STAGES = (
    ((16, 64), (16, 64)),  # fire2, fire3
    ((32, 128), (32, 128)),  # fire4, fire5
    ((48, 192), (48, 192), (64, 256), (64, 256)),  # fire6 .. fire9
)
POINTSEG_DECONV_SQUEEZE = (64, 32, 16, 16)  # fire-deconv 10..13; expand = skip channels / 2
SE_REDUCTION = 16

# VGG-16 conv1–conv4 (MV3D BEV branch): (filters, convs); max-pool after the first three.
BEV_VGG_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3))

# PointPillars backbone blocks: (stride multiple of S, layers, filters multiple of C).
PILLAR_BLOCKS = ((1, 4, 1), (2, 6, 2), (4, 6, 4))


# --- private blocks ---------------------------------------------------------------------------------


def _squeeze_reweight(x, name):
    """PointSeg's squeeze-reweighting layer: SE channel attention (reduction 16)."""
    return squeeze_excite(x, max(1, int(x.shape[-1]) // SE_REDUCTION), activation="relu", gate="sigmoid", name=name)


def _enlargement(x, filters, rates, name):
    """PointSeg's enlargement layer: an atrous spatial pyramid (1×1 conv, 3×3 convs at `rates`,
    image-level pooling) concatenated and fused by a 1×1 conv."""
    branches = [keras.layers.Conv2D(filters, 1, activation="relu", name=f"{name}_1x1")(x)]
    for rate in rates:
        branches.append(keras.layers.Conv2D(filters, 3, padding="same", dilation_rate=rate, activation="relu", name=f"{name}_rate{rate}")(x))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    pooled = keras.layers.Conv2D(filters, 1, activation="relu", name=f"{name}_pool_conv")(pooled)
    height, width = int(x.shape[1]), int(x.shape[2])
    branches.append(keras.layers.UpSampling2D((height, width), name=f"{name}_pool_broadcast")(pooled))
    merged = keras.layers.Concatenate(name=f"{name}_concat")(branches)
    return keras.layers.Conv2D(int(x.shape[-1]), 1, activation="relu", name=f"{name}_fuse")(merged)


def _fire_deconv(x, squeeze, expand, name):
    """SqueezeSeg's fire-deconv: 1×1 squeeze → (1, 4) transposed conv, stride (1, 2) → fire expand."""
    s = keras.layers.Conv2D(squeeze, 1, activation="relu", kernel_initializer="he_uniform", name=f"{name}_squeeze1x1")(x)
    s = keras.layers.Conv2DTranspose(squeeze, (1, 4), strides=(1, 2), padding="same", activation="relu", name=f"{name}_deconv")(s)
    left = keras.layers.Conv2D(expand, 1, activation="relu", kernel_initializer="he_uniform", name=f"{name}_expand1x1")(s)
    right = keras.layers.Conv2D(expand, 3, padding="same", activation="relu", kernel_initializer="he_uniform", name=f"{name}_expand3x3")(s)
    return keras.layers.Concatenate(name=f"{name}_concat")([left, right])


def _conv_bn_relu(x, filters, kernel, strides, name):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _check_grid(input_shape, divisor, what):
    shape = tuple(input_shape)
    if len(shape) != 3 or any(d is None for d in shape) or shape[1] % divisor:
        raise ValueError(f"{what} needs a static (height, width, channels) input with width divisible by {divisor}. Received: input_shape={shape}")


# --- models ----------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class PointSeg(ZooModel):
    """PointSeg on a spherically projected LiDAR sweep.

    Args:
        input_shape: (beams, columns, 5): x, y, z, intensity, range (64 × 512 × 5 in the paper);
            columns divisible by 16.
        num_classes: K including background (4 in the paper: background, car, pedestrian, cyclist).
        conv1_filters: the first 3×3 conv (stride (1, 2)) and its 1×1 full-width twin (64).
        stages: fire modules (squeeze, expand) per encoder stage (`POINTSEG_STAGES`).
        deconv_squeeze: squeeze width of the four fire-deconvs.
        aspp_rates: the enlargement layer's dilation rates (6, 9, 12).
        aspp_filters: channels of each pyramid branch (128).
        dropout: before the classifier (0.5, SqueezeSeg's).
    """

    def __init__(
        self,
        input_shape=(64, 512, 5),
        num_classes=4,
        conv1_filters=64,
        stages=POINTSEG_STAGES,
        deconv_squeeze=POINTSEG_DECONV_SQUEEZE,
        aspp_rates=(6, 9, 12),
        aspp_filters=128,
        dropout=0.5,
        preprocessing=None,
        name=None,
        **kwargs,
    ):
        _check_grid(input_shape, 16, "PointSeg")
        if len(stages) != 3 or len(deconv_squeeze) != 4:
            raise ValueError(f"PointSeg needs 3 fire stages and 4 fire-deconvs. Received: {len(stages)} stages, {len(deconv_squeeze)} deconvs")
        inputs, x = model_input(input_shape, preprocessing)
        full = keras.layers.Conv2D(conv1_filters, 1, activation="relu", name="conv1b")(x)  # full-width skip
        conv1 = keras.layers.Conv2D(conv1_filters, 3, strides=(1, 2), padding="same", activation="relu", name="conv1a")(x)
        x = keras.layers.MaxPooling2D((3, 3), strides=(1, 2), padding="same", name="pool1")(conv1)
        skips = []
        for stage, modules in enumerate(stages):
            if stage:
                x = keras.layers.MaxPooling2D((3, 3), strides=(1, 2), padding="same", name=f"pool{stage + 1}")(x)
            for index, (squeeze, expand) in enumerate(modules):
                x = fire_module(x, squeeze, expand, name=f"fire{stage + 1}_{index + 1}")
            x = _squeeze_reweight(x, name=f"reweight{stage + 1}")
            skips.append(x)
        x = _enlargement(x, aspp_filters, aspp_rates, name="enlargement")
        # Decoder: each fire-deconv doubles the width; its output is added to the encoder's map of
        # that width (stage 2, stage 1, conv1a, conv1b), as in SqueezeSeg.
        for index, (squeeze, skip) in enumerate(zip(deconv_squeeze, (skips[1], skips[0], conv1, full))):
            x = _fire_deconv(x, squeeze, int(skip.shape[-1]) // 2, name=f"fire_deconv{index + 10}")
            if int(x.shape[-1]) != int(skip.shape[-1]):
                skip = keras.layers.Conv2D(int(x.shape[-1]), 1, name=f"skip{index + 10}_project")(skip)
            x = keras.layers.Add(name=f"skip{index + 10}")([x, skip])
        if dropout:
            x = keras.layers.Dropout(dropout, name="drop")(x)
        x = keras.layers.Conv2D(num_classes, 3, padding="same", name="conv14")(x)
        x = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=x, name=name or "pointseg", **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class BEVCNN(ZooModel):
    """MV3D's BEV branch (VGG-16 conv1–conv4) closed by FCN-8s up-sampling to a class per cell.

    Args:
        input_shape: (X cells, Y cells, M + 2) MV3D maps (704 × 800 × 6 at 0.1 m with M = 4);
            sides divisible by 8.
        num_classes: K per cell, background included.
        stages: (filters, convs) of the VGG stages (`BEV_VGG_STAGES`); pooling after all but the last.
    """

    def __init__(self, input_shape=(704, 800, 6), num_classes=3, stages=BEV_VGG_STAGES, preprocessing=None, name=None, **kwargs):
        shape = tuple(input_shape)
        if len(shape) != 3 or any(d is None or (i < 2 and d % 8) for i, d in enumerate(shape)):
            raise ValueError(f"The BEV CNN needs a static (X, Y, channels) input with sides divisible by 8. Received: input_shape={shape}")
        inputs, x = model_input(input_shape, preprocessing)
        pooled = []
        for stage, (filters, convs) in enumerate(stages):
            for index in range(convs):
                x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{stage + 1}_{index + 1}")(x)
            if stage < len(stages) - 1:
                x = keras.layers.MaxPooling2D(2, name=f"pool{stage + 1}")(x)
                pooled.append(x)
        # FCN-8s: class scores at 1/8, up-sampled ×2 and added to the scores of pool2 (1/4), then
        # ×2 with pool1 (1/2), then ×2 to the grid (pool3's resolution is the last stage's: no pool4).
        scores = keras.layers.Conv2D(num_classes, 1, name="score8")(x)
        for level, skip in ((4, pooled[1]), (2, pooled[0])):
            scores = keras.layers.Conv2DTranspose(num_classes, 4, strides=2, padding="same", name=f"up_to_{level}")(scores)
            scores = keras.layers.Add(name=f"fuse{level}")([scores, keras.layers.Conv2D(num_classes, 1, name=f"score{level}")(skip)])
        scores = keras.layers.Conv2DTranspose(num_classes, 4, strides=2, padding="same", name="up_to_1")(scores)
        x = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(scores)
        super().__init__(inputs=inputs, outputs=x, name=name or "bev_cnn", **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class PointPillars(ZooModel):
    """PointPillars with a centre-point head on the BEV grid (task `detection_3d`).

    Args:
        input_shape: (X, Y, P, 9) dense pillars (432 × 496 × 100 × 9 on KITTI's car range).
        num_classes: K object classes (no background class: per-class heat maps).
        pillar_grid: {"x_min", "y_min", "cell"} of the pillar grid in metres (KITTI: 0, −39.68, 0.16).
        pillar_features: C of the pillar feature net (64).
        stride: S, the first block's stride and the head's output stride (2 for cars in the paper).
        blocks: (stride multiple, layers, filters multiple) of the backbone (`PILLAR_BLOCKS`).
        max_boxes: boxes the export endpoint keeps.
    """

    def __init__(
        self,
        input_shape=(432, 496, 100, 9),
        num_classes=3,
        pillar_grid=None,
        pillar_features=64,
        stride=2,
        blocks=PILLAR_BLOCKS,
        max_boxes=50,
        name=None,
        **kwargs,
    ):
        shape = tuple(input_shape)
        if len(shape) != 4 or any(d is None for d in shape) or shape[-1] != 9:
            raise ValueError(f"PointPillars needs dense pillars (X, Y, P, 9). Received: input_shape={shape}")
        divisor = stride * max(b[0] for b in blocks)
        if shape[0] % divisor or shape[1] % divisor:
            raise ValueError(f"PointPillars needs X and Y divisible by {divisor}. Received: input_shape={shape}")
        grid = dict(pillar_grid or {"x_min": 0.0, "y_min": -39.68, "cell": 0.16})
        self.num_classes = int(num_classes)
        self.max_boxes = int(max_boxes)
        pillars = keras.Input(shape=shape, name="pillars")
        # Pillar feature net: Linear + BN + ReLU per point, then max over the pillar's points. Padding
        # points (all zero) are masked out of the max so an empty pillar gives a zero feature.
        point_features = keras.layers.Dense(pillar_features, use_bias=False, name="pfn_linear")(pillars)
        point_features = keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name="pfn_bn")(point_features)
        point_features = keras.layers.ReLU(name="pfn_relu")(point_features)
        x = PillarMaxPool(name="pfn_max")([point_features, pillars])
        outputs = []
        for index, (multiple, layers, width) in enumerate(blocks):
            first_stride = stride if index == 0 else 2
            for layer in range(layers):
                x = _conv_bn_relu(x, pillar_features * width, 3, first_stride if layer == 0 else 1, name=f"block{index + 1}_{layer + 1}")
            up = multiple  # up-sample each block back to stride S
            y = keras.layers.Conv2DTranspose(2 * pillar_features, up, strides=up, use_bias=False, name=f"up{index + 1}_deconv")(x)
            y = keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.99, name=f"up{index + 1}_bn")(y)
            outputs.append(keras.layers.ReLU(name=f"up{index + 1}_relu")(y))
        x = keras.layers.Concatenate(name="neck")(outputs)
        heat = keras.layers.Conv2D(self.num_classes, 1, bias_initializer=keras.initializers.Constant(-2.19), name="head_heatmap")(x)
        boxes = keras.layers.Conv2D(8, 1, name="head_boxes")(x)
        raw = keras.layers.Concatenate(dtype="float32", name="raw")([heat, boxes])
        super().__init__(inputs=pillars, outputs=raw, name=name or "pointpillars", **kwargs)
        self.bev_grid = {"x_min": float(grid["x_min"]), "y_min": float(grid["y_min"]), "cell": float(grid["cell"]) * stride}


@keras.saving.register_keras_serializable(package="deepzoo")
class PillarMaxPool(keras.layers.Layer):
    """Max over each pillar's points [N, X, Y, P, C] → [N, X, Y, C], ignoring padding points (rows
    of the raw pillar tensor that are all zero)."""

    def call(self, inputs):
        features, pillars = inputs
        # Features follow a ReLU (≥ 0), so zeroing the padding points keeps them out of the max.
        valid = ops.cast(ops.any(ops.not_equal(pillars, 0.0), axis=-1, keepdims=True), features.dtype)
        return ops.max(features * valid, axis=3)

    def compute_output_shape(self, input_shapes):
        shape = input_shapes[0]
        return (*shape[:3], shape[-1])


# --- variants ---------------------------------------------------------------------------------------

LIDAR_PAPER = "Wang, Shi, Yun, Tan & Shi 2018 (arXiv 1807.06288, PointSeg); Wu et al. 2018 (ICRA, SqueezeSeg)"

register(
    ModelSpec(
        name="pointseg",
        family="three_d",
        task="segmentation",
        builder=PointSeg,
        canonical_config=dict(input_shape=(64, 512, 5), num_classes=4),
        tiny_config=dict(
            input_shape=(8, 32, 5), num_classes=3, conv1_filters=8, stages=(((2, 4),), ((2, 4),), ((4, 8),)),
            deconv_squeeze=(4, 2, 2, 2), aspp_rates=(2,), aspp_filters=4, dropout=0.0,
        ),
        paper=LIDAR_PAPER,
        seeds=("003",),
        default_dataset="lidar_range_images",
        inputs=(TensorSpec("input", (None, None, 5)),),
        outputs=SEGMENTATION_OUTPUTS,
        notes=(
            "The notes' citation is a placeholder; the paper is Wang et al. 2018 (arXiv 1807.06288). The synthetic "
            "scenes have no cyclists, so the default data has 3 classes (background, car, pedestrian); the canonical "
            "config keeps the paper's 4. The paper gives no parameter count."
        ),
    )
)

register(
    ModelSpec(
        name="bev_cnn",
        family="three_d",
        task="segmentation",
        builder=BEVCNN,
        canonical_config=dict(input_shape=(704, 800, 6), num_classes=3),
        tiny_config=dict(input_shape=(16, 16, 6), num_classes=3, stages=((4, 1), (8, 1), (8, 1), (8, 1))),
        paper="Chen, Ma, Wan, Li & Xia 2017 (CVPR, MV3D BEV branch); Long, Shelhamer & Darrell 2015 (FCN-8s up-sampling)",
        seeds=("003",),
        default_dataset="lidar_bev",
        inputs=(TensorSpec("input", (None, None, 6)),),
        outputs=SEGMENTATION_OUTPUTS,
        notes=(
            "MV3D's intensity channel is the reflectance of each cell's highest point (the paper), not the "
            "spec's 'max intensity'. The output is a BEV class map of object footprints (segmentation); MV3D's "
            "proposal head and Complex-YOLO are not built: 3-D boxes are the object_detection_3d row."
        ),
    )
)

register(
    ModelSpec(
        name="object_detection_3d",
        family="three_d",
        task="detection_3d",
        builder=PointPillars,
        canonical_config=dict(input_shape=(432, 496, 100, 9), num_classes=3, pillar_grid={"x_min": 0.0, "y_min": -39.68, "cell": 0.16}),
        tiny_config=dict(
            input_shape=(16, 16, 4, 9), num_classes=2, pillar_grid={"x_min": 0.0, "y_min": -8.0, "cell": 1.0},
            pillar_features=8, stride=1, blocks=((1, 1, 1), (2, 1, 1), (4, 1, 1)), max_boxes=10,
        ),
        paper="Lang et al. 2019 (CVPR, PointPillars); Zhou & Tuzel 2018 (CVPR, VoxelNet)",
        seeds=("003",),
        default_dataset="lidar_pillars",
        inputs=(TensorSpec("pillars", (None, None, None, 9)),),
        outputs=(TensorSpec("boxes", (None, 7)), TensorSpec("scores", (None,)), TensorSpec("classes", (None,), "int32")),
        notes=(
            "PointPillars (the spec's lighter option) with dense pillars [X, Y, P, 9] instead of the paper's "
            "(P, N, D) tensor + scatter, so the graph is static. The head is a centre-point head (per-class "
            "Gaussian heat maps, boxes regressed at the centre cell, CenterNet focal loss, 3×3 max-pool peak "
            "decoding) instead of PointPillars' anchor SSD head with IoU matching and rotated NMS: rotated NMS "
            "has no exportable op. Boxes are scored by BEV IoU (rotated footprints)."
        ),
    )
)
