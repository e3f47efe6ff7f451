"""ShuffleNet v1 (g = 3) and ShuffleNet v2 1.0×.

References: Zhang, Zhou, Lin & Sun, "ShuffleNet: an extremely efficient convolutional neural network
for mobile devices", CVPR 2018 (Table 1, Fig. 2); Ma, Zhang, Zheng & Sun, "ShuffleNet V2: practical
guidelines for efficient CNN architecture design", ECCV 2018 (Table 5, Fig. 3).

v1 unit: 1×1 group conv (g groups, to a quarter of the output width) → BN-ReLU → channel shuffle →
3×3 depthwise (stride 1 or 2) → BN → 1×1 group conv → BN, then added to the identity (stride 1), or
concatenated after a 3×3/2 average-pooled input (stride 2, the conv producing out − in channels),
then ReLU. Network: conv 3×3/2 24 → max-pool 3/2 → stages of 4, 8, 4 units (240, 480, 960 wide for
g = 3) → GAP → FC. The first 1×1 conv of stage 2 is not grouped (its input has only 24 channels).

v2 unit: stride 1 splits the channels in half, passes one half through and runs the other through
1×1-BN-ReLU → 3×3 depthwise-BN → 1×1-BN-ReLU; stride 2 runs the full input through that branch and
through a depthwise 3×3/2-BN → 1×1-BN-ReLU branch; the halves are concatenated and shuffled
(2 groups). Network: conv 3×3/2 24 → max-pool 3/2 → stages of 4, 8, 4 units (116, 232, 464 wide at
1.0×) → conv 1×1 1024 → GAP → FC.

Training recipe (v1 §4; v2 §4 follows it): SGD momentum 0.9, weight decay 4e-5, batch 1024, lr 0.5
decaying linearly to 0 over 3·10⁵ iterations (≈240 epochs); label smoothing 0.1 in the v2
reference code.
"""

import keras

from architectures.base import ZooModel
from architectures.layers.heads import classifier_head, record_pyramid
from architectures.layers.conv import conv_bn_act, scaled_width
from architectures.layers.mobile import ChannelShuffle, ChannelSplit, grouped_conv_bn_act
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

SHUFFLENET_STEM = 24
SHUFFLENET_STAGE_REPEATS = (4, 8, 4)
# v1: groups -> stage-2 output width (Table 1); stages 3 and 4 double it.
SHUFFLENET_V1_WIDTHS = {1: 144, 2: 200, 3: 240, 4: 272, 8: 384}
# v2: width multiplier -> (stage 2, 3, 4 widths, final 1×1 conv) (Table 5).
SHUFFLENET_V2_WIDTHS = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}

SHUFFLENET_RECIPE = dict(
    optimizer="momentum",
    learning_rate=0.5,
    momentum=0.9,
    weight_decay=4e-5,
    batch_size=1024,
    schedule="linear",
    schedule_kwargs=dict(end_learning_rate=0.0),
    epochs=240,
    label_smoothing=0.0,
)


def _stem(x, filters):
    x = conv_bn_act(x, filters, 3, strides=2, name="conv1")
    return keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)


def _depthwise_bn(x, stride, name):
    x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.BatchNormalization(name=f"{name}_bn")(x)


def shufflenet_v1_unit(x, filters, stride, groups, group_first_conv=True, name=None):
    """ShuffleNet v1 unit (Fig. 2 b/c). Output: `filters` channels (stride 2: concatenated)."""
    in_channels = x.shape[-1]
    branch_filters = filters - in_channels if stride == 2 else filters
    y = grouped_conv_bn_act(x, filters // 4, 1, groups=groups if group_first_conv else 1, name=f"{name}_gconv1")
    if groups > 1:
        y = ChannelShuffle(groups, name=f"{name}_shuffle")(y)
    y = _depthwise_bn(y, stride, f"{name}_dw")
    y = grouped_conv_bn_act(y, branch_filters, 1, groups=groups, activation=None, name=f"{name}_gconv2")
    if stride == 2:
        shortcut = keras.layers.AveragePooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)
        y = keras.layers.Concatenate(name=f"{name}_concat")([shortcut, y])
    else:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


def shufflenet_v2_unit(x, filters, stride, name=None):
    """ShuffleNet v2 unit (Fig. 3 c/d). Output: `filters` channels."""
    branch_filters = filters // 2
    if stride == 1:
        passthrough, y = ChannelSplit(x.shape[-1] // 2, name=f"{name}_split")(x)
    else:
        passthrough = _depthwise_bn(x, stride, f"{name}_left_dw")
        passthrough = conv_bn_act(passthrough, branch_filters, 1, name=f"{name}_left_pw")
        y = x
    y = conv_bn_act(y, branch_filters, 1, name=f"{name}_pw1")
    y = _depthwise_bn(y, stride, f"{name}_dw")
    y = conv_bn_act(y, branch_filters, 1, name=f"{name}_pw2")
    y = keras.layers.Concatenate(name=f"{name}_concat")([passthrough, y])
    return ChannelShuffle(2, name=f"{name}_shuffle")(y)


@keras.saving.register_keras_serializable(package="deepzoo")
class ShuffleNetV1(ZooModel):
    """ShuffleNet v1 "ShuffleNet s× (g = groups)".

    Args:
        groups: g ∈ {1, 2, 3, 4, 8} (3 canonically).
        width_multiplier: s; widths are rounded to multiples of 4g (so every group conv divides).
        stage_repeats: units per stage ((4, 8, 4); fewer for test nets).
        Other arguments as for every backbone.
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=1000,
        groups=3,
        width_multiplier=1.0,
        stage_repeats=SHUFFLENET_STAGE_REPEATS,
        include_top=True,
        pooling="avg",
        preprocessing=None,
        classifier_activation="softmax",
        name="shufflenet_v1",
        **kwargs,
    ):
        if groups not in SHUFFLENET_V1_WIDTHS:
            raise ValueError(f"groups must be one of {sorted(SHUFFLENET_V1_WIDTHS)}. Received: groups={groups!r}")
        inputs, x = model_input(input_shape, preprocessing)
        image_size = x.shape[1]
        x = _stem(x, scaled_width(SHUFFLENET_STEM, width_multiplier, divisor=groups))
        stage_outputs = [x]  # the stride-4 feature is the stem's pooled output
        for stage, repeats in enumerate(stage_repeats):
            filters = scaled_width(SHUFFLENET_V1_WIDTHS[groups] * 2**stage, width_multiplier, divisor=4 * groups)
            for index in range(repeats):
                x = shufflenet_v1_unit(
                    x,
                    filters,
                    2 if index == 0 else 1,
                    groups,
                    group_first_conv=not (stage == 0 and index == 0),
                    name=f"stage{stage + 2}_unit{index + 1}",
                )
            stage_outputs.append(x)
        outputs = classifier_head(x, num_classes, include_top, pooling, classifier_activation=classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        record_pyramid(self, image_size)


@keras.saving.register_keras_serializable(package="deepzoo")
class ShuffleNetV2(ZooModel):
    """ShuffleNet v2 s×.

    Args:
        width_multiplier: s; 0.5, 1.0, 1.5 and 2.0 use the paper's widths (Table 5), other values
            scale the 1.0× widths (multiples of 4) and the 1024-wide final conv (multiples of 8).
        stage_repeats: units per stage ((4, 8, 4); fewer for test nets).
        Other arguments as for every backbone.
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=1000,
        width_multiplier=1.0,
        stage_repeats=SHUFFLENET_STAGE_REPEATS,
        include_top=True,
        pooling="avg",
        preprocessing=None,
        classifier_activation="softmax",
        name="shufflenet_v2",
        **kwargs,
    ):
        if width_multiplier in SHUFFLENET_V2_WIDTHS:
            *widths, head = SHUFFLENET_V2_WIDTHS[width_multiplier]
            stem = SHUFFLENET_STEM
        else:
            *base, base_head = SHUFFLENET_V2_WIDTHS[1.0]
            widths = [scaled_width(w, width_multiplier, divisor=4) for w in base]
            head = scaled_width(base_head, width_multiplier, divisor=8)
            stem = scaled_width(SHUFFLENET_STEM, width_multiplier, divisor=2)
        if len(stage_repeats) != len(widths):
            raise ValueError(f"stage_repeats needs 3 entries (one per stage). Received: stage_repeats={stage_repeats}")
        inputs, x = model_input(input_shape, preprocessing)
        image_size = x.shape[1]
        x = _stem(x, stem)
        stage_outputs = [x]  # the stride-4 feature is the stem's pooled output
        for stage, (filters, repeats) in enumerate(zip(widths, stage_repeats, strict=True)):
            for index in range(repeats):
                x = shufflenet_v2_unit(x, filters, 2 if index == 0 else 1, name=f"stage{stage + 2}_unit{index + 1}")
            stage_outputs.append(x)
        x = conv_bn_act(x, head, 1, name="conv5")
        stage_outputs[-1] = x
        outputs = classifier_head(x, num_classes, include_top, pooling, classifier_activation=classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        record_pyramid(self, image_size)


register(
    ModelSpec(
        name="shufflenet_v1",
        family="classification",
        task="classification",
        builder=ShuffleNetV1,
        canonical_config=dict(groups=3, width_multiplier=1.0),
        tiny_config=dict(
            input_shape=(32, 32, 3), num_classes=4, groups=3, width_multiplier=0.25, stage_repeats=(1, 2, 1)
        ),
        reference_params=1_870_000,
        reference_source="P (≈1.87 M trainable, reference implementation, ShuffleNet 1× g = 3)",
        limitations=dict(
            params=(
                "The reference ≈1.87 M counts trainable weights only; ours has 1,865,728 trainable "
                "(0.23 % off, checked in tests/test_classification_b2.py), but the BN moving statistics "
                "add 24,480, so the keras-convention total 1,890,208 is 1.08 % off, past the 1 % of (P)."
            )
        ),
        paper="Zhang, Zhou, Lin & Sun 2018, CVPR (ShuffleNet)",
        seeds=("004",),
        default_dataset="shapes10",
        train_recipe=SHUFFLENET_RECIPE,
        notes="Grouped 1×1 convs are GroupedConv2D (a Conv2D(groups=g)); shuffle by keras.ops reshape/transpose.",
    )
)

register(
    ModelSpec(
        name="shufflenet_v2",
        family="classification",
        task="classification",
        builder=ShuffleNetV2,
        canonical_config=dict(width_multiplier=1.0),
        tiny_config=dict(input_shape=(32, 32, 3), num_classes=4, width_multiplier=0.25, stage_repeats=(1, 2, 1)),
        reference_params=2_278_604,
        reference_source="P (reference implementation, torchvision shufflenet_v2_x1_0, trainable)",
        paper="Ma, Zhang, Zheng & Sun 2018, ECCV (ShuffleNet V2)",
        seeds=("004",),
        default_dataset="shapes10",
        train_recipe=dict(SHUFFLENET_RECIPE, label_smoothing=0.1),
    )
)
