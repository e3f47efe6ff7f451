"""VGG-11/13/16/19 (configurations A, B, D, E).

Reference: Simonyan & Zisserman, "Very deep convolutional networks for large-scale image
recognition", ICLR 2015. Every conv is 3×3, stride 1, same padding, + ReLU; 2×2/2 max-pooling ends
each of the five stages; widths 64, 128, 256, 512, 512; then FC 4096 → FC 4096 → FC 1000 with
dropout 0.5 after the two hidden FC layers. VGG-16 has 13 conv + 3 FC layers with 3 convs in
stages 3–5 (the notes print two, spec §9 #41) and 138,357,544 parameters (not 180 M); VGG-19 has
143,667,240.

Layer names and order are those of keras.applications VGG16/VGG19 (`block{s}_conv{i}`,
`block{s}_pool`, `flatten`, `fc1`, `fc2`, `predictions`); the dropout layers of the paper sit
between them (keras.applications omits them).
"""

import keras

from architectures.base import ZooModel
from architectures.layers.conv import scaled_width
from architectures.layers.heads import classifier_head
from architectures.layers.heads import record_pyramid
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

VGG_WIDTHS = (64, 128, 256, 512, 512)
# Convs per stage, Table 1 of the paper.
VGG_CONFIGS = {
    11: (1, 1, 2, 2, 2),  # A
    13: (2, 2, 2, 2, 2),  # B
    16: (2, 2, 3, 3, 3),  # D
    19: (2, 2, 4, 4, 4),  # E
}
VGG_REFERENCE_PARAMS = {11: (132_863_336, "B"), 13: (133_047_848, "B"), 16: (138_357_544, "K"), 19: (143_667_240, "K")}


@keras.saving.register_keras_serializable(package="deepzoo")
class VGG(ZooModel):
    """VGG network of depth 11, 13, 16 or 19.

    Args:
        depth: 11, 13, 16 or 19 (configurations A, B, D, E).
        input_shape: (height, width, channels); 224×224×3 in the paper.
        num_classes: output classes.
        include_top: whether to end with flatten → FC → FC → FC; else the last pool's feature map,
            pooled according to `pooling`.
        pooling: None, "avg" or "max" when `include_top=False`.
        width_multiplier: scales every conv width (tiny configs).
        fc_units: width of the two hidden FC layers (4096).
        dropout: after each hidden FC layer (0.5).
        batch_norm: insert BatchNormalization after every conv (the later "VGG-BN" variant; False
            in the paper).
        preprocessing, classifier_activation: as every backbone.
    """

    def __init__(
        self,
        depth=16,
        input_shape=(224, 224, 3),
        num_classes=1000,
        include_top=True,
        pooling=None,
        width_multiplier=1.0,
        fc_units=4096,
        dropout=0.5,
        batch_norm=False,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if depth not in VGG_CONFIGS:
            raise ValueError(f"depth must be one of {sorted(VGG_CONFIGS)}. Received: depth={depth}")
        inputs, x = model_input(input_shape, preprocessing)
        for stage, (convs, filters) in enumerate(zip(VGG_CONFIGS[depth], VGG_WIDTHS), start=1):
            for index in range(1, convs + 1):
                layer_name = f"block{stage}_conv{index}"
                x = keras.layers.Conv2D(
                    scaled_width(filters, width_multiplier),
                    3,
                    padding="same",
                    activation=None if batch_norm else "relu",
                    name=layer_name,
                )(x)
                if batch_norm:
                    x = keras.layers.BatchNormalization(name=f"{layer_name}_bn")(x)
                    x = keras.layers.Activation("relu", name=f"{layer_name}_relu")(x)
            x = keras.layers.MaxPooling2D(2, strides=2, name=f"block{stage}_pool")(x)
        if include_top:
            x = keras.layers.Flatten(name="flatten")(x)
            for index in (1, 2):
                x = keras.layers.Dense(fc_units, activation="relu", name=f"fc{index}")(x)
                if dropout:
                    x = keras.layers.Dropout(dropout, name=f"fc{index}_dropout")(x)
            outputs = keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
        else:
            outputs = classifier_head(x, num_classes, include_top=False, pooling=pooling)
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"vgg{depth}", **kwargs)
        record_pyramid(self, ((preprocessing or {}).get("resize") or input_shape)[0])


VGG_RECIPE = dict(
    optimizer="momentum",
    learning_rate=1e-2,
    momentum=0.9,
    weight_decay=5e-4,
    batch_size=256,
    schedule="plateau",  # ÷10 when the validation accuracy stops improving, three times
    epochs=74,
    label_smoothing=0.0,
)

_SEEDS = {11: ("003",), 13: ("003",), 16: ("000", "001", "002", "003", "004"), 19: ("003", "004")}

for _depth, (_count, _source) in VGG_REFERENCE_PARAMS.items():
    register(
        ModelSpec(
            name=f"vgg{_depth}",
            family="classification",
            task="classification",
            builder=VGG,
            canonical_config=dict(depth=_depth, input_shape=(224, 224, 3), num_classes=1000),
            tiny_config=dict(
                depth=_depth,
                input_shape=(32, 32, 3),
                num_classes=4,
                width_multiplier=0.125,
                fc_units=64,
                dropout=0.0,  # deterministic 8-step loss check
            ),
            reference_params=_count,
            reference_source=_source + (" (keras.applications)" if _source == "K" else ""),
            paper="Simonyan & Zisserman 2015, ICLR",
            seeds=_SEEDS[_depth],
            default_dataset="shapes10",
            train_recipe=dict(VGG_RECIPE),
            notes=(
                "Layer for layer the keras.applications network (plus the paper's two dropout layers). "
                "Scale jitter S ∈ [256, 512] is a data-pipeline augmentation, not part of the model."
            ),
        )
    )
