"""Wide ResNet: WRN-d-k for CIFAR and WRN-50-2 for ImageNet.

Reference: Zagoruyko & Komodakis, "Wide residual networks", BMVC 2016.

WRN-d-k (CIFAR): conv 3×3 16 → three groups of N = (d − 4)/6 pre-activation basic blocks
(BN-ReLU-conv 3×3, dropout, BN-ReLU-conv 3×3) of widths 16k, 32k, 64k on 32², 16², 8² maps (the first
block of groups 2 and 3 has stride 2; a 1×1 projection of the pre-activated input where the width
changes) → BN-ReLU → GAP → FC. WRN-28-10 with dropout 0.3 has ≈36.5 M parameters.

WRN-50-2 (ImageNet): ResNet-50 whose bottleneck inner width is doubled (128, 256, 512, 1024; the
outer widths stay 256 … 2048), stride on the 3×3 conv, convs without bias, as in the reference
implementation (torchvision `wide_resnet50_2`, 68,883,240 trainable parameters).

Training recipe (CIFAR, §3): SGD with Nesterov momentum 0.9, weight decay 5e-4, batch 128, lr 0.1
multiplied by 0.2 at epochs 60, 120 and 160, 200 epochs; dropout 0.3 between the convs.
"""

import keras

from architectures.base import ZooModel
from architectures.classification.resnet import RESNET_RECIPE, RESNET_TINY, ResNet
from architectures.layers.heads import classifier_head, record_pyramid
from architectures.layers.conv import scaled_width
from architectures.layers.preprocessing import model_input
from architectures.layers.residual import preact_basic_block
from architectures.registry import ModelSpec, register

WRN_STEM_WIDTH = 16
WRN_GROUP_WIDTHS = (16, 32, 64)  # × k
WRN_BN = dict(bn_epsilon=1e-5, bn_momentum=0.9)

WRN_RECIPE = dict(
    optimizer="nesterov",
    learning_rate=0.1,
    momentum=0.9,
    weight_decay=5e-4,
    batch_size=128,
    schedule="step",
    schedule_kwargs=dict(factor=0.2, milestones=(60, 120, 160)),
    epochs=200,
    label_smoothing=0.0,
)


@keras.saving.register_keras_serializable(package="deepzoo")
class WideResNet(ZooModel):
    """WRN-d-k with pre-activation basic blocks.

    Args:
        input_shape: (height, width, channels); 32×32×3 for CIFAR.
        num_classes: 10 (CIFAR-10) or 100 (CIFAR-100).
        depth: d = 6N + 4 (28 for WRN-28-10; 10 gives one block per group).
        widen_factor: k.
        dropout: dropout rate between the two convs of every block (0.3 in the paper).
        width_multiplier: scales the stem and group widths on top of k (for tiny test builds).
        include_top, pooling, preprocessing, classifier_activation: as for every backbone.
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        num_classes=10,
        depth=28,
        widen_factor=10,
        dropout=0.3,
        width_multiplier=1.0,
        include_top=True,
        pooling="avg",
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"depth must be 6N + 4 with N >= 1 (e.g. 16, 22, 28, 40). Received: depth={depth!r}")
        blocks = (depth - 4) // 6
        inputs, x = model_input(input_shape, preprocessing)
        image_size = x.shape[1]
        x = keras.layers.Conv2D(
            scaled_width(WRN_STEM_WIDTH, width_multiplier), 3, padding="same", use_bias=False, name="conv1_conv"
        )(x)
        for group, width in enumerate(WRN_GROUP_WIDTHS):
            filters = scaled_width(width * widen_factor, width_multiplier)
            for index in range(blocks):
                stride = 2 if group > 0 and index == 0 else 1
                x = preact_basic_block(
                    x, filters, stride, dropout=dropout, name=f"conv{group + 2}_block{index + 1}", **WRN_BN
                )
        x = keras.layers.BatchNormalization(
            epsilon=WRN_BN["bn_epsilon"], momentum=WRN_BN["bn_momentum"], name="post_bn"
        )(x)
        x = keras.layers.Activation("relu", name="post_relu")(x)
        outputs = classifier_head(x, num_classes, include_top, pooling, classifier_activation=classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"wrn_{depth}_{widen_factor}", **kwargs)
        record_pyramid(self, image_size)


register(
    ModelSpec(
        name="wide_resnet",
        family="classification",
        task="classification",
        builder=WideResNet,
        canonical_config=dict(depth=28, widen_factor=10, dropout=0.3, name="wide_resnet"),
        tiny_config=dict(
            input_shape=(32, 32, 3), num_classes=4, depth=10, widen_factor=1, width_multiplier=0.5, name="wide_resnet"
        ),
        reference_params=36_500_000,
        reference_source="P (WRN-28-10: 36.5 M in the paper; 36,479,194 trainable with 10 classes)",
        paper="Zagoruyko & Komodakis 2016, BMVC (Wide residual networks)",
        seeds=("000", "001"),
        default_dataset="shapes10",
        train_recipe=WRN_RECIPE,
        notes="Pre-activation blocks; the width-changing shortcut projects the pre-activated input (reference code).",
    )
)

register(
    ModelSpec(
        name="wide_resnet50_2",
        family="classification",
        task="classification",
        builder=ResNet,
        canonical_config=dict(
            depth=50, width_per_group=128, stride_in="middle", conv_bias=False, name="wide_resnet50_2"
        ),
        tiny_config=dict(
            RESNET_TINY, depth=50, width_per_group=128, stride_in="middle", conv_bias=False, name="wide_resnet50_2"
        ),
        reference_params=68_883_240,
        reference_source="P (reference implementation, torchvision wide_resnet50_2, trainable)",
        paper="Zagoruyko & Komodakis 2016, BMVC (Wide residual networks), ImageNet WRN-50-2",
        seeds=("000", "001"),
        default_dataset="shapes10",
        train_recipe=RESNET_RECIPE,
        notes="ResNet-50 with the bottleneck inner width doubled; outer widths unchanged.",
    )
)
