"""LeNet-5.

Reference: LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 1998. 32×32×1 input; C1 6@5×5 → S2 2×2 subsampling → C3 16@5×5 → S4 →
C5 120@5×5 → F6 84 → 10 outputs; tanh activations; 61,706 parameters with full C3 connectivity
(the paper's partial C3 table gives 60,000 — "about 60 K").

Modern deviations exposed as options: average pooling stands in for the trainable subsampling
units, and the RBF output layer is a softmax dense layer (as in every modern re-implementation).
"""

import keras

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

# (filters, kernel) of the convolutional layers C1, C3, C5; pooling follows C1 and C3.
LENET5_CONVS = ((6, 5), (16, 5), (120, 5))
LENET5_DENSE = (84,)


@keras.saving.register_keras_serializable(package="deepzoo")
class LeNet5(ZooModel):
    """LeNet-5 with a width multiplier for tiny test builds.

    Args:
        input_shape: (height, width, channels); the paper uses 32×32×1.
        num_classes: output classes.
        activation: hidden activation; "tanh" as in the paper.
        pooling: "average" (the paper's subsampling) or "max".
        width_multiplier: scales every conv and dense width.
        dropout: dropout before the classifier (0 in the paper).
        preprocessing: deterministic input preprocessing (see `model_input`).
        classifier_activation: "softmax" (probabilities) or None (logits).
    """

    def __init__(
        self,
        input_shape=(32, 32, 1),
        num_classes=10,
        activation="tanh",
        pooling="average",
        width_multiplier=1.0,
        dropout=0.0,
        preprocessing=None,
        classifier_activation="softmax",
        name="lenet5",
        **kwargs,
    ):
        pool_layer = {"average": keras.layers.AveragePooling2D, "max": keras.layers.MaxPooling2D}[pooling]
        inputs, x = model_input(input_shape, preprocessing)
        for index, (filters, kernel) in enumerate(LENET5_CONVS):
            width = max(1, int(round(filters * width_multiplier)))
            x = keras.layers.Conv2D(width, kernel, activation=activation, name=f"c{2 * index + 1}")(x)
            if index < len(LENET5_CONVS) - 1:
                x = pool_layer(2, name=f"s{2 * index + 2}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for units in LENET5_DENSE:
            x = keras.layers.Dense(max(1, int(round(units * width_multiplier))), activation=activation, name="f6")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        outputs = keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


register(
    ModelSpec(
        name="lenet5",
        family="classification",
        task="classification",
        builder=LeNet5,
        canonical_config=dict(input_shape=(32, 32, 1), num_classes=10),
        tiny_config=dict(input_shape=(32, 32, 1), num_classes=4, width_multiplier=0.5),
        reference_params=61_706,
        reference_source="B (full C3 connectivity; the paper's sparse C3 gives ~60 K)",
        paper="LeCun, Bottou, Bengio & Haffner 1998, Proc. IEEE 86(11)",
        seeds=("000", "001", "002", "003", "004"),
        default_dataset="digits",
        train_recipe=dict(optimizer="adam", learning_rate=2e-3, batch_size=64, epochs=15),
    )
)
