"""EfficientNet-B0 … B7.

Reference: Tan & Le, "EfficientNet: rethinking model scaling for convolutional neural networks",
ICML 2019 (Table 1: the B0 baseline; §3.3: compound scaling d = α^φ, w = β^φ, r = γ^φ with
α = 1.2, β = 1.1, γ = 1.15).

The whole family is two tables of data: `EFFICIENTNET_B0_BLOCKS`, the baseline's MBConv stages,
and `EFFICIENTNET_SCALING`, each variant's (width, depth, resolution, dropout) coefficients. Widths
are w·c rounded to multiples of 8 (never below 90 % of w·c), repeats ⌈d·n⌉. MBConv = inverted
residual with depthwise conv, squeeze-and-excitation (ratio 0.25 of the block input) and Swish,
linear projection, and stochastic depth whose rate grows linearly to 0.2 over the blocks.

Layer for layer keras.applications.EfficientNetB0…B7, including its input layers: Rescaling(1/255)
and a Normalization layer whose mean/variance/count statistics (7 numbers, non-trainable) are part
of the reference parameter count, e.g. B0 5,330,571.

Training recipe (§5.2): RMSProp decay 0.9, momentum 0.9, BN momentum 0.99, weight decay 1e-5,
initial lr 0.256 decaying by 0.97 every 2.4 epochs, batch 4096, 350 epochs, Swish, AutoAugment,
stochastic depth 0.2, dropout 0.2 (B0) rising to 0.5 (B7); label smoothing 0.1 in the reference code.
"""

import math

import keras

from architectures.base import ZooModel
from architectures.layers.heads import classifier_head, record_pyramid
from architectures.layers.conv import conv_bn_act, scaled_width
from architectures.layers.mobile import inverted_residual_block
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

# The B0 baseline, Table 1: (expand ratio, kernel, first stride, input filters, output filters,
# repeats, squeeze-excitation ratio) per stage.
EFFICIENTNET_B0_BLOCKS = (
    (1, 3, 1, 32, 16, 1, 0.25),
    (6, 3, 2, 16, 24, 2, 0.25),
    (6, 5, 2, 24, 40, 2, 0.25),
    (6, 3, 2, 40, 80, 3, 0.25),
    (6, 5, 1, 80, 112, 3, 0.25),
    (6, 5, 2, 112, 192, 4, 0.25),
    (6, 3, 1, 192, 320, 1, 0.25),
)
EFFICIENTNET_STEM = 32
EFFICIENTNET_HEAD = 1280
# The paper's (and keras.applications') conv and depthwise initialiser. Keras' default Glorot on a
# depthwise kernel scales by the input channels too and shrinks activations ~10× per block.
CONV_INITIALIZER = {"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}
EFFICIENTNET_DIVISOR = 8

# variant -> (width coefficient, depth coefficient, resolution, dropout rate).
EFFICIENTNET_SCALING = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}
# keras.applications count_params(), weights=None, include_top, 1000 classes (spec §2 B).
EFFICIENTNET_PARAMS = {
    "b0": 5_330_571,
    "b1": 7_856_239,
    "b2": 9_177_569,
    "b3": 12_320_535,
    "b4": 19_466_823,
    "b5": 30_562_527,
    "b6": 43_265_143,
    "b7": 66_658_687,
}

EFFICIENTNET_RECIPE = dict(
    optimizer="rmsprop",  # decay (ρ) 0.9, momentum 0.9, ε 1e-3 (the paper and its reference code)
    optimizer_options=dict(momentum=0.9, epsilon=1e-3),
    learning_rate=0.256,
    weight_decay=1e-5,
    batch_size=4096,
    schedule="exponential",
    schedule_kwargs=dict(decay_rate=0.97, decay_epochs=2.4),
    epochs=350,
    label_smoothing=0.1,
)


@keras.saving.register_keras_serializable(package="deepzoo")
class EfficientNet(ZooModel):
    """EfficientNet with compound scaling coefficients.

    Args:
        input_shape: (r, r, 3) with r the variant's resolution.
        num_classes: classifier outputs.
        width_coefficient: w; scales every width (rounded to multiples of 8).
        depth_coefficient: d; stage repeats become ⌈d·n⌉.
        dropout: dropout before the classifier (the variant's rate).
        drop_connect_rate: stochastic-depth rate of the last block (0.2); block b of B gets
            rate·b/B.
        activation: "swish".
        include_rescaling: Rescaling(1/255) + Normalization at the input, as keras.applications
            (raw 0..255 pixels in; the Normalization statistics start at mean 0, variance 1 and
            can be adapted to the training split).
        Other arguments as for every backbone.
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=1000,
        width_coefficient=1.0,
        depth_coefficient=1.0,
        dropout=0.2,
        drop_connect_rate=0.2,
        activation="swish",
        include_rescaling=True,
        include_top=True,
        pooling="avg",
        preprocessing=None,
        classifier_activation="softmax",
        name="efficientnet",
        **kwargs,
    ):
        def width(filters):
            return scaled_width(filters, width_coefficient, divisor=EFFICIENTNET_DIVISOR)

        def repeats(count):
            return int(math.ceil(depth_coefficient * count))

        inputs, x = model_input(input_shape, preprocessing)
        image_size = x.shape[1]
        if include_rescaling:
            x = keras.layers.Rescaling(1.0 / 255.0, name="rescaling")(x)
            x = keras.layers.Normalization(axis=-1, name="normalization")(x)
        x = conv_bn_act(
            x, width(EFFICIENTNET_STEM), 3, strides=2, activation=activation, kernel_initializer=CONV_INITIALIZER, name="stem"
        )
        total_blocks = sum(repeats(stage[5]) for stage in EFFICIENTNET_B0_BLOCKS)
        block = 0
        for stage, (expand, kernel, stride, _, filters_out, count, se_ratio) in enumerate(EFFICIENTNET_B0_BLOCKS):
            for index in range(repeats(count)):
                x = inverted_residual_block(
                    x,
                    width(filters_out),
                    expand_ratio=expand,
                    stride=stride if index == 0 else 1,
                    kernel_size=kernel,
                    se_ratio=se_ratio,
                    activation=activation,
                    drop_rate=drop_connect_rate * block / total_blocks,
                    bn_momentum=0.99,
                    initializer=CONV_INITIALIZER,
                    name=f"block{stage + 1}{chr(ord('a') + index)}" if index < 26 else f"block{stage + 1}_{index}",
                )
                block += 1
        x = conv_bn_act(x, width(EFFICIENTNET_HEAD), 1, activation=activation, kernel_initializer=CONV_INITIALIZER, name="top")
        outputs = classifier_head(x, num_classes, include_top, pooling, dropout, classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        record_pyramid(self, image_size)


for _variant, (_width, _depth, _resolution, _dropout) in EFFICIENTNET_SCALING.items():
    _name = f"efficientnet_{_variant}"
    register(
        ModelSpec(
            name=_name,
            family="classification",
            task="classification",
            builder=EfficientNet,
            canonical_config=dict(
                input_shape=(_resolution, _resolution, 3),
                width_coefficient=_width,
                depth_coefficient=_depth,
                dropout=_dropout,
                name=_name,
            ),
            tiny_config=dict(
                input_shape=(32, 32, 3),
                num_classes=4,
                width_coefficient=0.25,
                depth_coefficient=0.25,
                dropout=0.2,  # one tiny network for B0–B7: the variants differ in their canonical (w, d, r, dropout)
                name=_name,
            ),
            reference_params=EFFICIENTNET_PARAMS[_variant],
            reference_source=f"K (keras.applications.EfficientNet{_variant.upper()}, with Normalization stats)",
            paper="Tan & Le 2019, ICML (EfficientNet)",
            seeds=("000", "001", "004"),
            default_dataset="shapes10",
            train_recipe=dict(EFFICIENTNET_RECIPE),
            notes=f"Compound scaling (w, d, r, dropout) = ({_width}, {_depth}, {_resolution}, {_dropout}). "
            "Eight variants B0–B7 (the notes' 'seven' is spec §9 #44).",
        )
    )
