"""ResNet-18/34/50/101/152 (ImageNet) and the CIFAR ResNets (6n + 2 layers).

Reference: He, Zhang, Ren & Sun, "Deep residual learning for image recognition", CVPR 2016.

ImageNet layout (Table 1): conv 7×7/2 64 → BN-ReLU → max-pool 3/2 → four stages of residual blocks
(widths 64, 128, 256, 512; the first block of stages 3–5 has stride 2) → GAP → FC 1000. Basic
blocks for depths 18/34, bottleneck blocks (expansion 4) for 50/101/152; projection shortcuts
where the shape changes (option B). The bottleneck networks are layer for layer
keras.applications.ResNet50/101/152 (stride on the first 1×1 conv, convs with bias, BN ε 1.001e-5);
ResNet-18/34 follow the paper's count (convs without bias).

CIFAR layout (§4.2): conv 3×3 16 → three stages of n basic blocks (16, 32, 64 filters on 32², 16²,
8² maps) → GAP → FC 10, option-A (zero-padding) shortcuts; n = 3, 5, 7, 9, 18 gives ResNet-20, 32,
44, 56, 110.

Training recipe (§3.4): SGD momentum 0.9, batch 256, weight decay 1e-4 (the notes' 1e-5 is an
error, spec §9 #6), lr 0.1 ÷10 when the error plateaus, 60·10⁴ iterations (≈120 epochs), no dropout.
CIFAR (§4.2): lr 0.1, batch 128, ÷10 at 32 k and 48 k iterations, 64 k in total (≈182 epochs).
"""


import keras

from architectures.base import ZooModel
from architectures.layers.conv import conv_bn_act, scaled_width
from architectures.layers.heads import classifier_head, record_pyramid
from architectures.layers.preprocessing import model_input
from architectures.layers.residual import basic_block, bottleneck_block
from architectures.registry import ModelSpec, register

# depth -> (block kind, blocks per stage). Table 1 of the paper.
RESNET_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
RESNET_STAGE_WIDTHS = (64, 128, 256, 512)
RESNET_STEM_WIDTH = 64
# keras.applications' BatchNormalization settings for ResNet and DenseNet.
IMAGENET_BN = dict(bn_epsilon=1.001e-5, bn_momentum=0.99)

CIFAR_STAGE_WIDTHS = (16, 32, 64)
CIFAR_BN = dict(bn_epsilon=1e-5, bn_momentum=0.9)

RESNET_RECIPE = dict(
    optimizer="momentum",
    learning_rate=0.1,
    momentum=0.9,
    weight_decay=1e-4,
    batch_size=256,
    schedule="plateau",
    schedule_kwargs=dict(factor=0.1),
    epochs=120,
    label_smoothing=0.0,
)
CIFAR_RESNET_RECIPE = dict(
    optimizer="momentum",
    learning_rate=0.1,
    momentum=0.9,
    weight_decay=1e-4,
    batch_size=128,
    schedule="step",
    schedule_kwargs=dict(factor=0.1, milestones=(91, 136)),  # 32 k and 48 k iterations of 64 k
    epochs=182,
    label_smoothing=0.0,
)


def imagenet_stem(x, filters, use_bias, bn_epsilon=1.001e-5, bn_momentum=0.99, name="conv1"):
    """conv 7×7/2 → BN → ReLU → max-pool 3/2, with the explicit padding of keras.applications.

    Explicit 3- and 1-pixel zero padding with "valid" ops reproduces the reference (Caffe/PyTorch)
    symmetric padding; TensorFlow's "same" would pad (2, 3) instead. Shared by ResNet and DenseNet.
    """
    x = keras.layers.ZeroPadding2D(3, name=f"{name}_pad")(x)
    x = conv_bn_act(
        x,
        filters,
        7,
        strides=2,
        padding="valid",
        use_bias=use_bias,
        bn_epsilon=bn_epsilon,
        bn_momentum=bn_momentum,
        name=name,
    )
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def _image_size(x):
    """Height of the (preprocessed) input, for `record_pyramid`; None for variable-size inputs."""
    return x.shape[1]


@keras.saving.register_keras_serializable(package="deepzoo")
class ResNet(ZooModel):
    """ResNet for ImageNet-sized inputs (also the body of ResNeXt and WRN-50-2).

    Args:
        input_shape: (height, width, channels); 224×224×3 canonically.
        num_classes: classifier outputs.
        depth: 18, 34, 50, 101 or 152 (selects the block kind and blocks per stage).
        stage_depths: blocks per stage, overriding the depth's (e.g. [1, 1, 1, 1] for tests).
        width_multiplier: scales the stem and every stage width.
        groups: groups of the bottleneck 3×3 conv (ResNeXt cardinality).
        width_per_group: bottleneck inner width = int(w · width_per_group / 64) · groups for a
            stage of base width w (torchvision's rule); 64 with groups=1 is plain ResNet, 128 is
            WRN-50-2, groups=32 with 4 is ResNeXt-50 32×4d.
        stride_in: "first" (paper, keras.applications) or "middle" (stride on the 3×3 conv).
        shortcut: "projection" (option B), "zero_pad" (option A) or "none" (plain network).
        conv_bias: convs with bias; None follows the reference count of the block kind:
            True for bottleneck (keras.applications), False for basic (the paper's 11.7 M/21.8 M).
        include_top: classifier on top; else the features, pooled per `pooling`.
        pooling: None, "avg" or "max" when `include_top=False`.
        preprocessing: deterministic input preprocessing (see `model_input`).
        classifier_activation: "softmax" or None (logits).
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=1000,
        depth=50,
        stage_depths=None,
        width_multiplier=1.0,
        groups=1,
        width_per_group=64,
        stride_in="first",
        shortcut="projection",
        conv_bias=None,
        include_top=True,
        pooling="avg",
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if depth not in RESNET_DEPTHS:
            raise ValueError(f"depth must be one of {sorted(RESNET_DEPTHS)}. Received: depth={depth!r}")
        block_kind, default_depths = RESNET_DEPTHS[depth]
        stage_depths = tuple(stage_depths or default_depths)
        if len(stage_depths) != len(RESNET_STAGE_WIDTHS):
            raise ValueError(f"stage_depths needs 4 entries (one per stage). Received: stage_depths={stage_depths}")
        use_bias = (block_kind == "bottleneck") if conv_bias is None else bool(conv_bias)
        inputs, x = model_input(input_shape, preprocessing)
        image_size = _image_size(x)
        stage_outputs = []
        x = imagenet_stem(x, scaled_width(RESNET_STEM_WIDTH, width_multiplier), use_bias, **IMAGENET_BN)
        for stage, (width, blocks) in enumerate(zip(RESNET_STAGE_WIDTHS, stage_depths, strict=True)):
            filters = scaled_width(width, width_multiplier)
            for index in range(blocks):
                stride = 2 if stage > 0 and index == 0 else 1
                block_name = f"conv{stage + 2}_block{index + 1}"
                if block_kind == "basic":
                    x = basic_block(
                        x, filters, stride, shortcut=shortcut, use_bias=use_bias, name=block_name, **IMAGENET_BN
                    )
                else:
                    inner = max(1, int(filters * width_per_group / 64)) * groups
                    x = bottleneck_block(
                        x,
                        filters,
                        stride,
                        groups=groups,
                        bottleneck_width=inner,
                        stride_in=stride_in,
                        shortcut=shortcut,
                        use_bias=use_bias,
                        name=block_name,
                        **IMAGENET_BN,
                    )
            stage_outputs.append(x)
        outputs = classifier_head(x, num_classes, include_top, pooling, classifier_activation=classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"resnet{depth}", **kwargs)
        record_pyramid(self, image_size)


@keras.saving.register_keras_serializable(package="deepzoo")
class CifarResNet(ZooModel):
    """ResNet-(6n + 2) for 32×32 inputs (He et al. 2016 §4.2).

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110, or 8 for a one-block-per-stage test net).
        width_multiplier: scales the 16/32/64 stage widths.
        shortcut: "zero_pad" (option A, the paper's CIFAR choice), "projection" or "none" (plain).
        Other arguments as for `ResNet`.
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        num_classes=10,
        depth=20,
        width_multiplier=1.0,
        shortcut="zero_pad",
        include_top=True,
        pooling="avg",
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110). Received: depth={depth!r}")
        blocks = (depth - 2) // 6
        inputs, x = model_input(input_shape, preprocessing)
        image_size = _image_size(x)
        widths = [scaled_width(w, width_multiplier) for w in CIFAR_STAGE_WIDTHS]
        x = conv_bn_act(x, widths[0], 3, name="conv1", **CIFAR_BN)
        for stage, filters in enumerate(widths):
            for index in range(blocks):
                stride = 2 if stage > 0 and index == 0 else 1
                x = basic_block(
                    x, filters, stride, shortcut=shortcut, name=f"conv{stage + 2}_block{index + 1}", **CIFAR_BN
                )
        outputs = classifier_head(x, num_classes, include_top, pooling, classifier_activation=classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"resnet{depth}", **kwargs)
        record_pyramid(self, image_size)


# --- registration -------------------------------------------------------------------------------

# id -> (depth, reference params, source). (K): keras.applications, convs with bias; (B): the spec's
# faithful build with convs without bias, BN statistics included.
RESNET_VARIANTS = {
    "resnet18": (18, 11_699_112, "B (11,689,512 trainable in the paper's convention + BN statistics)"),
    "resnet34": (34, 21_814_696, "B (21,797,672 trainable in the paper's convention + BN statistics)"),
    "resnet50": (50, 25_636_712, "K (keras.applications.ResNet50, convs with bias)"),
    "resnet101": (101, 44_707_176, "K (keras.applications.ResNet101)"),
    "resnet152": (152, 60_419_944, "K (keras.applications.ResNet152)"),
}
RESNET_SEEDS = {
    "resnet18": ("004", "000", "001", "002", "003"),
    "resnet34": ("002", "003", "004"),
    "resnet50": ("001",),
    "resnet101": ("004",),
    "resnet152": ("000", "004"),
}
RESNET_TINY = dict(input_shape=(32, 32, 3), num_classes=4, stage_depths=(1, 1, 1, 1), width_multiplier=0.125)
# With one block per stage the depth only picks the block kind: these tiny builds are one network.
RESNET_TINY_TWINS = {"resnet34": "resnet18", "resnet101": "resnet50", "resnet152": "resnet50"}

for _name, (_depth, _params, _source) in RESNET_VARIANTS.items():
    register(
        ModelSpec(
            name=_name,
            family="classification",
            task="classification",
            builder=ResNet,
            canonical_config=dict(depth=_depth, name=_name),
            tiny_config=dict(RESNET_TINY, depth=_depth, name=_name),
            tiny_twin_of=RESNET_TINY_TWINS.get(_name),
            reference_params=_params,
            reference_source=_source,
            paper="He, Zhang, Ren & Sun 2016, CVPR (Deep residual learning for image recognition)",
            seeds=RESNET_SEEDS[_name],
            default_dataset="shapes10",
            train_recipe=RESNET_RECIPE,
            notes=(
                "Bottleneck depths are keras.applications' network layer for layer (stride on the first "
                "1×1, convs with bias). Weight decay 1e-4 as in the paper (the notes' 1e-5 is spec §9 #6)."
            ),
        )
    )

# id -> (depth, the paper's Table 6 count, rounded there to 0.27/0.46/0.66/0.85/1.7 M). The exact
# trainable counts (10 classes, option A) are what the paper's "0.27 M" etc. round; ours adds
# the BN moving statistics (2 × 688 for ResNet-20), well inside the 1 % tolerance of (P).
CIFAR_VARIANTS = {
    "resnet_cifar": (20, 269_722),
    "resnet20": (20, 269_722),
    "resnet32": (32, 464_154),
    "resnet44": (44, 658_586),
    "resnet56": (56, 853_018),
    "resnet110": (110, 1_727_962),
}

for _name, (_depth, _params) in CIFAR_VARIANTS.items():
    register(
        ModelSpec(
            name=_name,
            family="classification",
            task="classification",
            builder=CifarResNet,
            canonical_config=dict(depth=_depth, name=_name),
            tiny_config=dict(input_shape=(32, 32, 3), num_classes=4, depth=8, width_multiplier=0.5, name=_name),
            reference_params=_params,
            reference_source="P (He et al. 2016 Table 6, e.g. ResNet-20 0.27 M; exact trainable count, option A)",
            paper="He, Zhang, Ren & Sun 2016, CVPR, §4.2 (CIFAR-10)",
            seeds=("004",),
            default_dataset="shapes10",
            train_recipe=CIFAR_RESNET_RECIPE,
            notes="resnet_cifar is ResNet-20; resnet20…resnet110 are the paper's n = 3, 5, 7, 9, 18.",
        )
    )
