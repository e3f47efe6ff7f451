"""LeNet-5.

Reference: LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 1998. 32×32×1 input; C1 6@5×5 → S2 2×2 subsampling → C3 16@5×5 → S4 →
C5 120@5×5 → F6 84 → 10 outputs; valid convs, so the maps shrink 28 → 14 → 10 → 5 → 1.

The default is the modern simplified form every re-implementation uses (spec (B): 61,706
parameters): tanh, full C3 connectivity, plain average pooling, a softmax dense output. The
paper's own choices are explicit constructor options:

- `activation="scaled_tanh"`: f(a) = 1.7159·tanh(2a/3) (Appendix A), so f(±1) = ±1;
- `c3_connections="paper"`: Table I, each C3 map reads 3, 4 or 6 of the S2 maps (1,516 parameters
  instead of 2,416), which breaks symmetry and saves weights;
- `pooling="trainable"`: each S2/S4 unit adds its four inputs, multiplies the sum by a trainable
  coefficient, adds a trainable bias and applies the activation (2 parameters per map);
- `output_layer="rbf"`: Euclidean RBF units y_i = Σ_j (x_j − w_ij)² with fixed ±1 prototypes (the
  paper draws them as 7×12 bitmaps; here a fixed pseudo-random ±1 code); the model outputs
  `classifier_activation(−y)`, so the usual cross-entropy is the paper's MAP criterion with the
  rejection constant j → ∞.

With all four the network has the paper's 60,000 trainable parameters (+ 840 fixed prototypes).
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

# (filters, kernel) of the convolutional layers C1, C3, C5; pooling follows C1 and C3.
LENET5_CONVS = ((6, 5), (16, 5), (120, 5))
LENET5_DENSE = (84,)

# Table I of the paper: the S2 maps each C3 map is connected to.
LENET5_C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)  # fmt: skip

POOLINGS = ("average", "max", "trainable")
C3_CONNECTIONS = ("full", "paper")
OUTPUT_LAYERS = ("dense", "rbf")


@keras.saving.register_keras_serializable(package="deepzoo")
def scaled_tanh(x):
    """LeCun's squashing function 1.7159·tanh(2x/3)."""
    return 1.7159 * ops.tanh(x * (2.0 / 3.0))


def _activation(name):
    return scaled_tanh if name == "scaled_tanh" else name


@keras.saving.register_keras_serializable(package="deepzoo")
class ConnectionTableConv2D(keras.layers.Layer):
    """Valid 2-D convolution in which output map i only reads the input maps `table[i]`.

    Parameters: Σ_i (k²·|table[i]| + 1). LeNet-5's C3 with Table I has 1,516.
    """

    def __init__(self, table, kernel_size, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.table = [list(map(int, inputs)) for inputs in table]
        self.kernel_size = int(kernel_size)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        channels = input_shape[-1]
        if max(max(inputs) for inputs in self.table) >= channels:
            raise ValueError(
                f"The connection table reads beyond the {channels} input channels. Received: table={self.table}"
            )
        self.kernels = [
            self.add_weight(
                shape=(self.kernel_size, self.kernel_size, len(inputs), 1),
                initializer="glorot_uniform",
                name=f"kernel_{index}",
            )
            for index, inputs in enumerate(self.table)
        ]
        self.bias = self.add_weight(shape=(len(self.table),), initializer="zeros", name="bias")

    def call(self, inputs):
        maps = [
            ops.conv(ops.take(inputs, indices, axis=-1), kernel, padding="valid")
            for indices, kernel in zip(self.table, self.kernels)
        ]
        outputs = ops.concatenate(maps, axis=-1) + self.bias
        return self.activation(outputs) if self.activation is not None else outputs

    def compute_output_shape(self, input_shape):
        shrink = self.kernel_size - 1
        spatial = [None if size is None else size - shrink for size in input_shape[1:3]]
        return (input_shape[0], *spatial, len(self.table))

    def get_config(self):
        return {
            **super().get_config(),
            "table": self.table,
            "kernel_size": self.kernel_size,
            "activation": keras.activations.serialize(self.activation),
        }


@keras.saving.register_keras_serializable(package="deepzoo")
class TrainableSubsampling(keras.layers.Layer):
    """LeNet's subsampling: (sum of each 2×2 block) × coefficient + bias, per map, then activation."""

    def __init__(self, pool_size=2, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        channels = input_shape[-1]
        # Coefficient 1/4 starts the unit as a plain average.
        self.coefficient = self.add_weight(
            shape=(channels,), initializer=keras.initializers.Constant(1.0 / self.pool_size**2), name="coefficient"
        )
        self.bias = self.add_weight(shape=(channels,), initializer="zeros", name="bias")

    def call(self, inputs):
        block_sum = ops.average_pool(inputs, self.pool_size, strides=self.pool_size, padding="valid") * float(
            self.pool_size**2
        )
        outputs = block_sum * self.coefficient + self.bias
        return self.activation(outputs) if self.activation is not None else outputs

    def compute_output_shape(self, input_shape):
        spatial = [None if size is None else size // self.pool_size for size in input_shape[1:3]]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "activation": keras.activations.serialize(self.activation),
        }


@keras.saving.register_keras_serializable(package="deepzoo")
class EuclideanRBF(keras.layers.Layer):
    """Output units y_i = Σ_j (x_j − w_ij)² against fixed ±1 prototypes; returns −y (logits).

    The prototypes are non-trainable, as in the paper (they were "chosen by hand and kept fixed").
    `seed` fixes the pseudo-random ±1 codes that stand in for the paper's 7×12 character bitmaps.
    """

    def __init__(self, units, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.seed = int(seed)

    def build(self, input_shape):
        features = input_shape[-1]
        self.prototypes = self.add_weight(
            shape=(features, self.units), initializer="zeros", trainable=False, name="prototypes"
        )
        codes = np.random.default_rng(self.seed).choice([-1.0, 1.0], size=(features, self.units))
        self.prototypes.assign(codes.astype(self.prototypes.dtype))

    def call(self, inputs):
        # ‖x − w_i‖² = ‖x‖² − 2 x·w_i + ‖w_i‖²
        squared = ops.sum(ops.square(inputs), axis=-1, keepdims=True)
        cross = ops.matmul(inputs, self.prototypes)
        norms = ops.sum(ops.square(self.prototypes), axis=0)
        return -(squared - 2.0 * cross + norms)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "seed": self.seed}


@keras.saving.register_keras_serializable(package="deepzoo")
class LeNet5(ZooModel):
    """LeNet-5 with a width multiplier for tiny test builds and the paper's options.

    Args:
        input_shape: (height, width, channels); the paper uses 32×32×1.
        num_classes: output classes.
        activation: hidden activation; "tanh", or "scaled_tanh" (the paper's 1.7159·tanh(2a/3)).
        pooling: "average" (plain average), "max", or "trainable" (the paper's subsampling units).
        c3_connections: "full" or "paper" (Table I; needs the canonical widths 6 and 16).
        output_layer: "dense" (softmax layer) or "rbf" (the paper's Euclidean RBF units).
        width_multiplier: scales every conv and dense width.
        dropout: dropout before the classifier (0 in the paper).
        preprocessing: deterministic input preprocessing (see `model_input`).
        classifier_activation: "softmax" (probabilities) or None (logits; −RBF distance for "rbf").
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
        c3_connections="full",
        output_layer="dense",
        name="lenet5",
        **kwargs,
    ):
        for option, value, allowed in (
            ("pooling", pooling, POOLINGS),
            ("c3_connections", c3_connections, C3_CONNECTIONS),
            ("output_layer", output_layer, OUTPUT_LAYERS),
        ):
            if value not in allowed:
                raise ValueError(f"{option} must be one of {allowed}. Received: {option}={value!r}")
        hidden = _activation(activation)
        widths = [max(1, int(round(filters * width_multiplier))) for filters, _ in LENET5_CONVS]
        if c3_connections == "paper" and widths[:2] != [6, 16]:
            raise ValueError(
                "c3_connections='paper' is Table I of the paper, for 6 S2 maps and 16 C3 maps. "
                f"Received: width_multiplier={width_multiplier} (C1, C3 widths {widths[:2]})"
            )
        inputs, x = model_input(input_shape, preprocessing)
        for index, ((_, kernel), width) in enumerate(zip(LENET5_CONVS, widths)):
            layer_name = f"c{2 * index + 1}"
            if index == 1 and c3_connections == "paper":
                x = ConnectionTableConv2D(LENET5_C3_TABLE, kernel, activation=hidden, name=layer_name)(x)
            else:
                x = keras.layers.Conv2D(width, kernel, activation=hidden, name=layer_name)(x)
            if index < len(LENET5_CONVS) - 1:
                pool_name = f"s{2 * index + 2}"
                if pooling == "trainable":
                    x = TrainableSubsampling(2, activation=hidden, name=pool_name)(x)
                else:
                    pool_layer = {"average": keras.layers.AveragePooling2D, "max": keras.layers.MaxPooling2D}[pooling]
                    x = pool_layer(2, name=pool_name)(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for units in LENET5_DENSE:
            x = keras.layers.Dense(max(1, int(round(units * width_multiplier))), activation=hidden, name="f6")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        if output_layer == "rbf":
            x = EuclideanRBF(num_classes, name="rbf")(x)
            outputs = (
                keras.layers.Activation(classifier_activation, name="predictions")(x) if classifier_activation else x
            )
        else:
            outputs = keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


# The paper's configuration, as constructor overrides: 60,000 trainable parameters.
LENET5_PAPER_OPTIONS = dict(activation="scaled_tanh", c3_connections="paper", pooling="trainable", output_layer="rbf")

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
        notes=(
            "The paper's options (LENET5_PAPER_OPTIONS): scaled tanh, Table I C3 connections, trainable "
            "subsampling, RBF output; together 60,000 trainable parameters plus 840 fixed RBF prototypes."
        ),
    )
)
