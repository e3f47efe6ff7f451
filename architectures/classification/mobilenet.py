"""MobileNet v1 and MobileNet v2.

References: Howard et al., "MobileNets: efficient convolutional neural networks for mobile vision
applications", arXiv 1704.04861 (2017), Table 1; Sandler, Howard, Zhu, Zhmoginov & Chen,
"MobileNetV2: inverted residuals and linear bottlenecks", CVPR 2018, Table 2.

v1: conv 3×3/2 32 → 13 depthwise-separable blocks (dw 3×3-BN-ReLU → pw 1×1-BN-ReLU) with pointwise
widths 64, 128, 128, 256, 256, 512 ×6, 1024, 1024 and stride 2 in blocks 2, 4, 6 and 12 → GAP → FC.
Width multiplier α scales every width (int(α·c)); the resolution multiplier ρ is the input size.
Layer for layer keras.applications.MobileNet (ReLU6, as in the reference TF-slim code; dropout 1e-3
before the classifier, which keras.applications writes as a 1×1 conv on the pooled map — the same
1024·1000 + 1000 weights as our Dense).

v2: conv 3×3/2 32 → inverted residual blocks (t, c, n, s) = (1, 16, 1, 1), (6, 24, 2, 2),
(6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1) → conv 1×1 1280 → GAP →
FC; ReLU6 everywhere except the linear projections; widths rounded to multiples of 8. Layer for
layer keras.applications.MobileNetV2.

Training recipe: RMSProp (decay 0.9, momentum 0.9), weight decay 4e-5, lr 0.045 × 0.98 per epoch,
batch 96 (v2 paper §6.1; the v1 paper gives RMSProp with asynchronous gradient descent and little
regularisation, following Inception-v3).
"""

import math

import keras

from architectures.base import ZooModel
from architectures.layers.heads import classifier_head, record_pyramid
from architectures.layers.conv import conv_bn_act, scaled_width
from architectures.layers.mobile import depthwise_separable_block, inverted_residual_block
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

# MobileNet v1 body: (pointwise filters, stride) of the 13 depthwise-separable blocks, with the
# five stride-1 512-wide blocks written once and repeated `num_middle_blocks` times.
MOBILENET_V1_STEM = 32
MOBILENET_V1_HEAD_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2))
MOBILENET_V1_MIDDLE_BLOCK = (512, 1)
MOBILENET_V1_TAIL_BLOCKS = ((1024, 2), (1024, 1))

# MobileNet v2 body: (expansion t, output channels c, repeats n, first stride s), Table 2.
MOBILENET_V2_STEM = 32
MOBILENET_V2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
MOBILENET_V2_HEAD = 1280
MOBILENET_V2_BN = dict(bn_epsilon=1e-3, bn_momentum=0.999)

MOBILENET_RECIPE = dict(
    optimizer="rmsprop",  # decay (ρ) and momentum both 0.9 in the paper
    optimizer_options=dict(momentum=0.9),
    learning_rate=0.045,
    weight_decay=4e-5,
    batch_size=96,
    schedule="exponential",
    schedule_kwargs=dict(decay_rate=0.98),
    epochs=None,  # not given in the papers
    label_smoothing=0.0,
)


@keras.saving.register_keras_serializable(package="deepzoo")
class MobileNetV1(ZooModel):
    """MobileNet v1.

    Args:
        alpha: width multiplier α (1.0, 0.75, 0.5, 0.25 in the paper).
        depth_multiplier: depthwise channel multiplier (keras.applications' argument; 1).
        num_middle_blocks: how many of the stride-1 512-wide blocks (5); fewer makes a shallower net.
        dropout: dropout before the classifier (1e-3 in keras.applications).
        activation: "relu6" (reference code) or "relu" (paper text).
        Other arguments as for every backbone.
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=1000,
        alpha=1.0,
        depth_multiplier=1,
        num_middle_blocks=5,
        dropout=1e-3,
        activation="relu6",
        include_top=True,
        pooling="avg",
        preprocessing=None,
        classifier_activation="softmax",
        name="mobilenet_v1",
        **kwargs,
    ):
        blocks = MOBILENET_V1_HEAD_BLOCKS + (MOBILENET_V1_MIDDLE_BLOCK,) * num_middle_blocks + MOBILENET_V1_TAIL_BLOCKS
        inputs, x = model_input(input_shape, preprocessing)
        image_size = x.shape[1]
        x = conv_bn_act(x, int(MOBILENET_V1_STEM * alpha), 3, strides=2, activation=activation, name="conv1")
        for index, (filters, stride) in enumerate(blocks, 1):
            x = depthwise_separable_block(
                x,
                int(filters * alpha),
                stride,
                depth_multiplier=depth_multiplier,
                activation=activation,
                name=f"block{index}",
            )
        outputs = classifier_head(x, num_classes, include_top, pooling, dropout, classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        record_pyramid(self, image_size)


@keras.saving.register_keras_serializable(package="deepzoo")
class MobileNetV2(ZooModel):
    """MobileNet v2.

    Args:
        alpha: width multiplier; widths are rounded to multiples of 8, and the 1280-wide head
            conv only grows (α > 1), as in the paper and keras.applications.
        depth_coefficient: repeats per stage become ⌈d·n⌉ (1.0 is the paper's; < 1 for test nets).
        dropout: dropout before the classifier (0 in keras.applications).
        Other arguments as for every backbone.
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=1000,
        alpha=1.0,
        depth_coefficient=1.0,
        dropout=0.0,
        include_top=True,
        pooling="avg",
        preprocessing=None,
        classifier_activation="softmax",
        name="mobilenet_v2",
        **kwargs,
    ):
        inputs, x = model_input(input_shape, preprocessing)
        image_size = x.shape[1]
        x = conv_bn_act(
            x,
            scaled_width(MOBILENET_V2_STEM, alpha, divisor=8),
            3,
            strides=2,
            activation="relu6",
            name="conv1",
            **MOBILENET_V2_BN,
        )
        block = 0
        for expansion, channels, repeats, first_stride in MOBILENET_V2_BLOCKS:
            filters = scaled_width(int(channels * alpha), 1.0, divisor=8)
            for index in range(int(math.ceil(depth_coefficient * repeats))):
                x = inverted_residual_block(
                    x,
                    filters,
                    expansion,
                    first_stride if index == 0 else 1,
                    activation="relu6",
                    name=f"block{block}",
                    **MOBILENET_V2_BN,
                )
                block += 1
        head = scaled_width(MOBILENET_V2_HEAD, alpha, divisor=8) if alpha > 1.0 else MOBILENET_V2_HEAD
        x = conv_bn_act(x, head, 1, activation="relu6", name="head", **MOBILENET_V2_BN)
        outputs = classifier_head(x, num_classes, include_top, pooling, dropout, classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        record_pyramid(self, image_size)


register(
    ModelSpec(
        name="mobilenet_v1",
        family="classification",
        task="classification",
        builder=MobileNetV1,
        canonical_config=dict(alpha=1.0),
        tiny_config=dict(input_shape=(32, 32, 3), num_classes=4, alpha=0.25, num_middle_blocks=1),
        reference_params=4_253_864,
        reference_source="K (keras.applications.MobileNet, α = 1)",
        paper="Howard et al. 2017, arXiv 1704.04861 (MobileNets)",
        seeds=("001", "004"),
        default_dataset="shapes10",
        train_recipe=MOBILENET_RECIPE,
        notes="Depthwise 3×3 + pointwise 1×1 blocks (the notes' 128 → 16 → 128 squeeze is a bottleneck, spec §9 #43).",
    )
)

register(
    ModelSpec(
        name="mobilenet_v2",
        family="classification",
        task="classification",
        builder=MobileNetV2,
        canonical_config=dict(alpha=1.0),
        tiny_config=dict(input_shape=(32, 32, 3), num_classes=4, alpha=0.35, depth_coefficient=0.25),
        reference_params=3_538_984,
        reference_source="K (keras.applications.MobileNetV2, α = 1)",
        paper="Sandler, Howard, Zhu, Zhmoginov & Chen 2018, CVPR (MobileNetV2)",
        seeds=("001", "004"),
        default_dataset="shapes10",
        train_recipe=MOBILENET_RECIPE,
    )
)
