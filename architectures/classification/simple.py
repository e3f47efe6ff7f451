"""The generic prototype CNN, the ConvNetJS CIFAR-10 demo and the locally connected network.

- `simple_cnn`: the cs231n template [(CONV → ReLU) × n → POOL] × k → flatten → FC → softmax. Default:
  two stages of (conv 3×3 same + ReLU) × 2 + max-pool 2 with 32 and 64 filters, Dense 128, Dense K.
  Lecture 004's worked counts w# = (k²·n_i + 1)·n_o (9×9 kernels 1 → 64: 5,248; 64 → 256:
  1,327,360) are layers of this template with `kernel_size=9`, one conv per stage.
- `convnetjs_cifar10`: Karpathy's ConvNetJS CIFAR-10 demo, the same template with conv 16@5×5 →
  pool → conv 20@5×5 → pool → conv 20@5×5 → pool → softmax 10 (22,466 parameters).
- `locally_connected_net`: convolutions without weight sharing (LeCun 1989; DeepFace, Taigman,
  Yang, Ranzato & Wolf, CVPR 2014). Keras 3 has no LocallyConnected2D, so `LocallyConnected2D`
  below extracts the patches with strided slices and applies one kernel per output position with
  a batched matmul (ops every exporter supports). Canonical: the DeepFace network, C1 32@11×11 →
  M2 3×3/2 → C3 16@9×9 → L4 16@9×9 → L5 16@7×7/2 → L6 16@5×5 → F7 4096 → F8 4030 identities, at
  152×152×3 (118,923,774 parameters; the paper says "more than 120 million").
"""

import math

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.layers.conv import scaled_width
from architectures.layers.heads import classifier_head
from architectures.layers.heads import record_pyramid
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register


def _input_size(input_shape, preprocessing):
    return ((preprocessing or {}).get("resize") or input_shape)[0]


def _pair(value):
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


# --- the prototype CNN ----------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class SimpleCNN(ZooModel):
    """[(Conv → activation) × `convs_per_stage` → max-pool 2] per entry of `filters` → FC → softmax.

    Args:
        input_shape: (height, width, channels).
        num_classes: output classes.
        filters: conv width of each stage; a stage ends with a 2×2/2 max-pool.
        convs_per_stage: convs per stage (2 in the default template, 1 for ConvNetJS).
        kernel_size: conv kernel side (3; 5 for ConvNetJS; 9 in lecture 004's counts).
        padding: "same" or "valid" convs.
        dense_units: hidden FC widths before the classifier (empty for none).
        dropout: dropout before each FC layer.
        activation: hidden activation.
        width_multiplier: scales every conv and hidden FC width.
        include_top, pooling, preprocessing, classifier_activation: as every backbone.
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        num_classes=10,
        filters=(32, 64),
        convs_per_stage=2,
        kernel_size=3,
        padding="same",
        dense_units=(128,),
        dropout=0.0,
        activation="relu",
        width_multiplier=1.0,
        include_top=True,
        pooling=None,
        preprocessing=None,
        classifier_activation="softmax",
        name="simple_cnn",
        **kwargs,
    ):
        if not filters:
            raise ValueError(f"filters must list at least one stage width. Received: filters={filters}")
        inputs, x = model_input(input_shape, preprocessing)
        for stage, width in enumerate(filters, start=1):
            for index in range(1, convs_per_stage + 1):
                x = keras.layers.Conv2D(
                    scaled_width(width, width_multiplier),
                    kernel_size,
                    padding=padding,
                    activation=activation,
                    name=f"block{stage}_conv{index}",
                )(x)
            x = keras.layers.MaxPooling2D(2, strides=2, name=f"block{stage}_pool")(x)
        if include_top:
            x = keras.layers.Flatten(name="flatten")(x)
            for index, units in enumerate(dense_units, start=1):
                if dropout:
                    x = keras.layers.Dropout(dropout, name=f"fc{index}_dropout")(x)
                x = keras.layers.Dense(scaled_width(units, width_multiplier), activation=activation, name=f"fc{index}")(
                    x
                )
            if dropout:
                x = keras.layers.Dropout(dropout, name="predictions_dropout")(x)
            outputs = keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
        else:
            outputs = classifier_head(x, num_classes, include_top=False, pooling=pooling)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        record_pyramid(self, _input_size(input_shape, preprocessing))


def conv_layer_params(kernel_size, in_channels, out_channels):
    """Lecture 004's w# = (k²·n_i + 1)·n_o: weights and biases of one conv layer."""
    return (kernel_size**2 * in_channels + 1) * out_channels


# --- locally connected layer and network ----------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class LocallyConnected2D(keras.layers.Layer):
    """2-D convolution without weight sharing: every output position has its own kernel and bias.

    Valid padding. Parameters: H_out·W_out·(k_h·k_w·C_in + 1)·C_out (with bias). With every
    position's kernel equal, the layer equals `Conv2D(padding="valid")` (tested).

    Args:
        filters: output channels.
        kernel_size: int or (k_h, k_w).
        strides: int or (s_h, s_w).
        activation: applied to the output.
        use_bias: one bias per output position and channel.
    """

    def __init__(self, filters, kernel_size, strides=1, activation=None, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)

    def _output_size(self, height, width):
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return (height - kh) // sh + 1, (width - kw) // sw + 1

    def build(self, input_shape):
        height, width, channels = input_shape[1:]
        if height is None or width is None:
            raise ValueError(f"LocallyConnected2D needs a fixed spatial size. Received: input_shape={input_shape}")
        out_h, out_w = self._output_size(height, width)
        if out_h < 1 or out_w < 1:
            raise ValueError(
                f"Kernel {self.kernel_size} does not fit the {height}×{width} input. Received: input_shape={input_shape}"
            )
        patch = self.kernel_size[0] * self.kernel_size[1] * channels
        # Glorot-uniform over one position's (patch → filters) matrix.
        limit = math.sqrt(6.0 / (patch + self.filters))
        self.kernel = self.add_weight(
            shape=(out_h * out_w, patch, self.filters),
            initializer=keras.initializers.RandomUniform(-limit, limit),
            name="kernel",
        )
        self.bias = (
            self.add_weight(shape=(out_h, out_w, self.filters), initializer="zeros", name="bias")
            if self.use_bias
            else None
        )

    def call(self, inputs):
        height, width, channels = inputs.shape[1:]
        out_h, out_w = self._output_size(height, width)
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        # Patch channels are ordered (row, column, channel), the layout of a Conv2D kernel.
        patches = ops.concatenate(
            [
                inputs[:, i : i + sh * (out_h - 1) + 1 : sh, j : j + sw * (out_w - 1) + 1 : sw, :]
                for i in range(kh)
                for j in range(kw)
            ],
            axis=-1,
        )
        patches = ops.transpose(ops.reshape(patches, (-1, out_h * out_w, kh * kw * channels)), (1, 0, 2))
        outputs = ops.transpose(ops.matmul(patches, self.kernel), (1, 0, 2))
        outputs = ops.reshape(outputs, (-1, out_h, out_w, self.filters))
        if self.use_bias:
            outputs = outputs + self.bias
        return self.activation(outputs) if self.activation is not None else outputs

    def compute_output_shape(self, input_shape):
        out_h, out_w = self._output_size(input_shape[1], input_shape[2])
        return (input_shape[0], out_h, out_w, self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
        }


# DeepFace (Taigman et al. 2014, Fig. 2): (kind, name, filters or pool size, kernel, stride).
DEEPFACE_LAYERS = (
    ("conv", "c1", 32, 11, 1),
    ("maxpool", "m2", 3, 3, 2),
    ("conv", "c3", 16, 9, 1),
    ("local", "l4", 16, 9, 1),
    ("local", "l5", 16, 7, 2),
    ("local", "l6", 16, 5, 1),
)


@keras.saving.register_keras_serializable(package="deepzoo")
class LocallyConnectedNet(ZooModel):
    """A trunk of shared convs and unshared (locally connected) layers, then FC layers.

    Args:
        input_shape: (height, width, channels); 152×152×3 for DeepFace.
        num_classes: output classes (4,030 identities in DeepFace).
        layers: table of `(kind, name, filters, kernel, stride)` with kind "conv" (valid shared
            conv + ReLU), "local" (`LocallyConnected2D` + ReLU) or "maxpool" (filters = pool size,
            same padding); DeepFace's C1–L6 by default.
        fc_units: hidden FC widths (F7 = 4096).
        dropout: dropout on the hidden FC layers (0.5 on F7 in DeepFace).
        width_multiplier: scales every conv/local and hidden FC width.
        include_top, pooling, preprocessing, classifier_activation: as every backbone.
    """

    def __init__(
        self,
        input_shape=(152, 152, 3),
        num_classes=4030,
        layers=DEEPFACE_LAYERS,
        fc_units=(4096,),
        dropout=0.5,
        width_multiplier=1.0,
        include_top=True,
        pooling=None,
        preprocessing=None,
        classifier_activation="softmax",
        name="locally_connected_net",
        **kwargs,
    ):
        inputs, x = model_input(input_shape, preprocessing)
        for kind, layer_name, filters, kernel, stride in layers:
            if kind == "maxpool":
                x = keras.layers.MaxPooling2D(kernel, strides=stride, padding="same", name=layer_name)(x)
            elif kind == "conv":
                x = keras.layers.Conv2D(
                    scaled_width(filters, width_multiplier), kernel, strides=stride, activation="relu", name=layer_name
                )(x)
            elif kind == "local":
                x = LocallyConnected2D(
                    scaled_width(filters, width_multiplier), kernel, strides=stride, activation="relu", name=layer_name
                )(x)
            else:
                raise ValueError(
                    f"Layer kind must be 'conv', 'local' or 'maxpool'. Received: {kind!r} in layers={layers}"
                )
        if include_top:
            x = keras.layers.Flatten(name="flatten")(x)
            for index, units in enumerate(fc_units, start=7):
                x = keras.layers.Dense(scaled_width(units, width_multiplier), activation="relu", name=f"f{index}")(x)
                if dropout:
                    x = keras.layers.Dropout(dropout, name=f"f{index}_dropout")(x)
            outputs = keras.layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
        else:
            outputs = classifier_head(x, num_classes, include_top=False, pooling=pooling)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        record_pyramid(self, _input_size(input_shape, preprocessing))


def locally_connected_params(out_height, out_width, kernel_size, in_channels, out_channels):
    """H_out·W_out·(k²·C_in + 1)·C_out, the row's formula."""
    return out_height * out_width * (kernel_size**2 * in_channels + 1) * out_channels


# --- registration ---------------------------------------------------------------------------

register(
    ModelSpec(
        name="simple_cnn",
        family="classification",
        task="classification",
        builder=SimpleCNN,
        canonical_config=dict(input_shape=(32, 32, 3), num_classes=10),
        tiny_config=dict(input_shape=(32, 32, 3), num_classes=4, filters=(8, 16), dense_units=(32,)),
        paper="cs231n prototype CNN (no single paper)",
        seeds=("000", "001", "002", "003", "004"),
        default_dataset="shapes10",
        train_recipe=dict(
            optimizer="adam",
            learning_rate=1e-3,
            momentum=0.0,
            weight_decay=0.0,
            batch_size=64,
            schedule="constant",
            epochs=20,
            label_smoothing=0.0,
        ),
        notes="No reference count: the template has no paper. 591,274 parameters at the default 32×32×3, 10 classes.",
    )
)

register(
    ModelSpec(
        name="convnetjs_cifar10",
        family="classification",
        task="classification",
        builder=SimpleCNN,
        canonical_config=dict(
            input_shape=(32, 32, 3),
            num_classes=10,
            filters=(16, 20, 20),
            convs_per_stage=1,
            kernel_size=5,
            dense_units=(),
            name="convnetjs_cifar10",
        ),
        tiny_config=dict(
            input_shape=(32, 32, 3),
            num_classes=4,
            filters=(16, 20, 20),
            convs_per_stage=1,
            kernel_size=5,
            dense_units=(),
            width_multiplier=0.5,
            name="convnetjs_cifar10",
        ),
        reference_params=22_466,
        reference_source="B",
        paper="Karpathy, ConvNetJS CIFAR-10 demo (cs.stanford.edu/people/karpathy/convnetjs)",
        seeds=("004",),
        default_dataset="shapes10",
        # The demo's trainer: SGD-momentum ("adadelta" in later versions), batch 4, L2 1e-4.
        train_recipe=dict(
            optimizer="momentum",
            learning_rate=0.01,
            momentum=0.9,
            weight_decay=1e-4,
            batch_size=4,
            schedule="constant",
            epochs=10,
            label_smoothing=0.0,
        ),
    )
)

register(
    ModelSpec(
        name="locally_connected_net",
        family="classification",
        task="classification",
        builder=LocallyConnectedNet,
        canonical_config=dict(input_shape=(152, 152, 3), num_classes=4030),
        tiny_config=dict(
            input_shape=(32, 32, 3),
            num_classes=4,
            layers=(
                ("conv", "c1", 8, 3, 1),
                ("maxpool", "m2", 3, 3, 2),
                ("local", "l3", 8, 3, 1),
                ("local", "l4", 8, 3, 2),
            ),
            fc_units=(32,),
        ),
        paper="LeCun 1989; Taigman, Yang, Ranzato & Wolf 2014, CVPR (DeepFace L4–L6)",
        seeds=("004",),
        default_dataset="shapes10",
        train_recipe=dict(
            optimizer="momentum",
            learning_rate=0.01,
            momentum=0.9,
            weight_decay=0.0,
            batch_size=128,
            schedule="plateau",  # DeepFace: ÷10 when the validation error stops improving
            epochs=15,
            label_smoothing=0.0,
        ),
        notes=(
            "Canonical = the DeepFace trunk (118,923,774 parameters by H_out·W_out·(k²·C_in + 1)·C_out; "
            "the paper reports 'more than 120 million', so no exact reference count is registered)."
        ),
    )
)
