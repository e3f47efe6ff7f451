"""DenseNet-121/169/201 (DenseNet-BC).

Reference: Huang, Liu, van der Maaten & Weinberger, "Densely connected convolutional networks",
CVPR 2017, Table 1.

Stem conv 7×7/2 64 → BN-ReLU → max-pool 3/2 → dense blocks of [6, 12, 24, 16] (121), [6, 12, 32, 32]
(169) or [6, 12, 48, 32] (201) layers of BN-ReLU-conv 1×1 (4k)-BN-ReLU-conv 3×3 (k), growth k = 32,
with transitions BN-ReLU-conv 1×1 (compression 0.5)-avg-pool 2 between them → BN-ReLU → GAP → FC.
Layer for layer keras.applications.DenseNet121/169/201.

Training recipe (§4.2, ImageNet): SGD with Nesterov momentum 0.9 (no dampening), weight decay 1e-4,
batch 256, 90 epochs, lr 0.1 ÷10 at epochs 30 and 60.
"""

import keras

from architectures.base import ZooModel
from architectures.classification.resnet import IMAGENET_BN, imagenet_stem
from architectures.layers.heads import classifier_head, record_pyramid
from architectures.layers.conv import scaled_width
from architectures.layers.dense import dense_block, transition_block
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

DENSENET_DEPTHS = {121: (6, 12, 24, 16), 169: (6, 12, 32, 32), 201: (6, 12, 48, 32)}
DENSENET_STEM_WIDTH = 64
DENSENET_GROWTH = 32

DENSENET_RECIPE = dict(
    optimizer="nesterov",
    learning_rate=0.1,
    momentum=0.9,
    weight_decay=1e-4,
    batch_size=256,
    schedule="step",
    schedule_kwargs=dict(factor=0.1, milestones=(30, 60)),
    epochs=90,
    label_smoothing=0.0,
)


@keras.saving.register_keras_serializable(package="deepzoo")
class DenseNet(ZooModel):
    """DenseNet-BC for ImageNet-sized inputs.

    Args:
        depth: 121, 169 or 201.
        block_depths: layers per dense block, overriding the depth's (e.g. [2, 2, 2, 2] for tests).
        growth_rate: k (32); scaled by `width_multiplier` together with the stem width.
        compression: θ of the transitions (0.5).
        bottleneck: width factor of the 1×1 bottleneck (4 in -BC; 0 removes it).
        dropout: dropout after each conv of a dense layer (0 on ImageNet in the paper).
        Other arguments as for every backbone.
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=1000,
        depth=121,
        block_depths=None,
        growth_rate=DENSENET_GROWTH,
        compression=0.5,
        bottleneck=4,
        dropout=0.0,
        width_multiplier=1.0,
        include_top=True,
        pooling="avg",
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if depth not in DENSENET_DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DENSENET_DEPTHS)}. Received: depth={depth!r}")
        block_depths = tuple(block_depths or DENSENET_DEPTHS[depth])
        growth = scaled_width(growth_rate, width_multiplier)
        inputs, x = model_input(input_shape, preprocessing)
        image_size = x.shape[1]
        x = imagenet_stem(x, scaled_width(DENSENET_STEM_WIDTH, width_multiplier), use_bias=False, **IMAGENET_BN)
        block_outputs = []
        for index, layers in enumerate(block_depths):
            x = dense_block(x, layers, growth, bottleneck, dropout, name=f"conv{index + 2}", **IMAGENET_BN)
            if index < len(block_depths) - 1:
                block_outputs.append(x)
                x = transition_block(x, compression, name=f"pool{index + 2}", **IMAGENET_BN)
        x = keras.layers.BatchNormalization(
            epsilon=IMAGENET_BN["bn_epsilon"], momentum=IMAGENET_BN["bn_momentum"], name="bn"
        )(x)
        x = keras.layers.Activation("relu", name="relu")(x)
        block_outputs.append(x)
        outputs = classifier_head(x, num_classes, include_top, pooling, classifier_activation=classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"densenet{depth}", **kwargs)
        # The dense-block outputs, not the transition convs that precede each pooling.
        record_pyramid(self, image_size)


DENSENET_VARIANTS = {
    "densenet121": (121, 8_062_504),
    "densenet169": (169, 14_307_880),
    "densenet201": (201, 20_242_984),
}

# The tiny configs fix the block depths, so the depth changes nothing in them: one network.
DENSENET_TINY_TWINS = {"densenet169": "densenet121", "densenet201": "densenet121"}

for _name, (_depth, _params) in DENSENET_VARIANTS.items():
    register(
        ModelSpec(
            name=_name,
            family="classification",
            task="classification",
            builder=DenseNet,
            canonical_config=dict(depth=_depth, name=_name),
            tiny_config=dict(
                input_shape=(32, 32, 3),
                num_classes=4,
                depth=_depth,
                block_depths=(2, 2, 2, 2),
                width_multiplier=0.25,
                name=_name,
            ),
            tiny_twin_of=DENSENET_TINY_TWINS.get(_name),
            reference_params=_params,
            reference_source=f"K (keras.applications.DenseNet{_depth})",
            paper="Huang, Liu, van der Maaten & Weinberger 2017, CVPR (DenseNet)",
            seeds=("000", "001", "004"),
            default_dataset="shapes10",
            train_recipe=DENSENET_RECIPE,
            notes=(
                "The transition is BN-ReLU-conv-pool as in the paper and keras.applications "
                "(the spec's 'BN-conv' omits the ReLU)."
            ),
        )
    )
