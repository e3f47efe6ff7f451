"""ResNeXt-50 (32×4d).

Reference: Xie, Girshick, Dollár, Tu & He, "Aggregated residual transformations for deep neural
networks", CVPR 2017.

ResNet-50's layout (bottleneck blocks [3, 4, 6, 3]) with the 3×3 conv of every block split into
C = 32 groups ("cardinality") of d = 4 channels in the first stage: 1×1 (128) → grouped 3×3 (128,
32 groups) → 1×1 (256), inner widths doubling per stage. The aggregated transformation is one
`Conv2D(groups=32)` (the paper's form (c), equivalent to the 32 parallel paths of form (a)); it is
`layers.mobile.GroupedConv2D`, a Conv2D subclass that also exports to ONNX.
Stride on the grouped 3×3 conv and convs without bias, as in the reference implementation
(25,028,904 trainable parameters).

Training recipe: as ResNet (SGD 0.1, momentum 0.9, weight decay 1e-4, batch 256, ÷10 three times).
"""

import keras

from architectures.classification.resnet import RESNET_RECIPE, RESNET_TINY, ResNet
from architectures.registry import ModelSpec, register


@keras.saving.register_keras_serializable(package="deepzoo")
class ResNeXt(ResNet):
    """ResNeXt-{depth} ({cardinality}×{group_width}d): a ResNet with grouped bottleneck convs.

    Args:
        depth: 50 or 101 (bottleneck depths of `ResNet`).
        cardinality: groups of the 3×3 conv (C).
        group_width: channels per group in the first stage (d); later stages double it.
        stage_depths, width_multiplier, include_top, pooling, preprocessing,
        classifier_activation: as for `ResNet`.
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=1000,
        depth=50,
        cardinality=32,
        group_width=4,
        stage_depths=None,
        width_multiplier=1.0,
        include_top=True,
        pooling="avg",
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        super().__init__(
            input_shape=input_shape,
            num_classes=num_classes,
            depth=depth,
            stage_depths=stage_depths,
            width_multiplier=width_multiplier,
            groups=cardinality,
            width_per_group=group_width,
            stride_in="middle",
            conv_bias=False,
            include_top=include_top,
            pooling=pooling,
            preprocessing=preprocessing,
            classifier_activation=classifier_activation,
            name=name or f"resnext{depth}_{cardinality}x{group_width}d",
            **kwargs,
        )


register(
    ModelSpec(
        name="resnext50_32x4d",
        family="classification",
        task="classification",
        builder=ResNeXt,
        canonical_config=dict(depth=50, cardinality=32, group_width=4, name="resnext50_32x4d"),
        # Four groups of 16 keep every group non-empty at 1/8 width (inner widths 8 … 64).
        tiny_config=dict(RESNET_TINY, depth=50, cardinality=4, group_width=16, name="resnext50_32x4d"),
        reference_params=25_028_904,
        reference_source="P (reference implementation, torchvision resnext50_32x4d, trainable)",
        paper="Xie, Girshick, Dollár, Tu & He 2017, CVPR (ResNeXt)",
        seeds=("000", "001", "004"),
        default_dataset="shapes10",
        train_recipe=RESNET_RECIPE,
        notes="Grouped 3×3 via GroupedConv2D, a Conv2D(groups=32) subclass that exports to ONNX.",
    )
)
