"""Inception building blocks shared by GoogLeNet, the Inception-v3/v4/ResNet family and the
detectors built on them (spec §3).

- `inception_module`: the GoogLeNet (v1) module with 1×1 dimension reductions, and
  `naive_inception_module`, the version without them (Szegedy et al. 2015, Fig. 2).
- `conv_bn`: conv (no bias) → BatchNormalization without the γ scale → ReLU, the unit of the
  Inception-v3/v4/ResNet reference implementations (TF-slim, keras.applications), so parameter
  counts match them.
- `ScaledResidual`: x + scale · r, the residual scaling of Inception-ResNet (Szegedy et al. 2017).
- `auxiliary_classifier`: the GoogLeNet auxiliary head (avg-pool 5×5/3 → 1×1 conv 128 → FC 1024 →
  dropout 0.7 → FC K).
- `AuxiliaryOutputsModel`: the base of a model whose graph has training-only auxiliary outputs.
  `model(x)`, `predict`, `evaluate` and every export see the single main output; `fit` sees all
  of them and adds `aux_loss_weight ×` the compiled loss of each auxiliary output.
"""


import keras
from keras import ops

from architectures.base import ZooModel


def conv_bn(
    x, filters, kernel_size, strides=1, padding="same", activation="relu", scale=False, bn_epsilon=1e-3, name=None
):
    """Conv2D (no bias) → BatchNormalization(scale=`scale`) → activation.

    `scale=False` drops BN's γ, as the Inception reference implementations do (a ReLU follows, so γ
    is redundant up to the next layer's weights); BN's β, moving mean and moving variance remain.
    """
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=f"{name}_conv" if name else None
    )(x)
    x = keras.layers.BatchNormalization(scale=scale, epsilon=bn_epsilon, name=f"{name}_bn" if name else None)(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_act" if name else None)(x)
    return x


def inception_module(x, widths, activation="relu", kernel_initializer="glorot_uniform", name=None):
    """GoogLeNet inception module with dimension reduction (Szegedy et al. 2015, Fig. 2b).

    Args:
        widths: (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj), one row of Table 1.

    Four parallel branches on the same input, concatenated on channels in this order: 1×1 conv;
    1×1 reduce → 3×3 conv; 1×1 reduce → 5×5 conv; 3×3/1 max-pool (same) → 1×1 projection. Every
    conv is followed by ReLU; every branch keeps the spatial size.
    """
    n1x1, n3x3_reduce, n3x3, n5x5_reduce, n5x5, pool_proj = widths
    name = name or keras.backend.unique_name("inception")

    def conv(tensor, filters, kernel, suffix):
        return keras.layers.Conv2D(
            filters,
            kernel,
            padding="same",
            activation=activation,
            kernel_initializer=kernel_initializer,
            name=f"{name}_{suffix}",
        )(tensor)

    branch1 = conv(x, n1x1, 1, "1x1")
    branch2 = conv(conv(x, n3x3_reduce, 1, "3x3_reduce"), n3x3, 3, "3x3")
    branch3 = conv(conv(x, n5x5_reduce, 1, "5x5_reduce"), n5x5, 5, "5x5")
    branch4 = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch4 = conv(branch4, pool_proj, 1, "pool_proj")
    return keras.layers.Concatenate(axis=-1, name=f"{name}_output")([branch1, branch2, branch3, branch4])


def naive_inception_module(x, n1x1, n3x3, n5x5, activation="relu", name=None):
    """The naive module (Fig. 2a): parallel 1×1, 3×3, 5×5 convs and a 3×3/1 max-pool, concatenated.

    The pool branch passes the input channels through, so the output has n1x1 + n3x3 + n5x5 + C_in
    channels: the channel growth that motivates the reductions of `inception_module`.
    """
    name = name or keras.backend.unique_name("naive_inception")
    branches = [
        keras.layers.Conv2D(filters, kernel, padding="same", activation=activation, name=f"{name}_{kernel}x{kernel}")(x)
        for filters, kernel in ((n1x1, 1), (n3x3, 3), (n5x5, 5))
    ]
    branches.append(keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x))
    return keras.layers.Concatenate(axis=-1, name=f"{name}_output")(branches)


@keras.saving.register_keras_serializable(package="deepzoo")
class ScaledResidual(keras.layers.Layer):
    """`inputs[0] + scale · inputs[1]`: the scaled residual addition of Inception-ResNet.

    Scaling the residual by 0.1–0.3 before the addition stabilises training of very wide residual
    Inception networks (Szegedy et al. 2017, §3.3).
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        shortcut, residual = inputs
        return shortcut + residual * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def auxiliary_classifier(
    x,
    num_classes,
    conv_filters=128,
    units=1024,
    dropout=0.7,
    classifier_activation="softmax",
    kernel_initializer="glorot_uniform",
    name="aux",
):
    """GoogLeNet auxiliary classifier: avg-pool 5×5/3 → 1×1 conv → ReLU → FC → ReLU → dropout → FC.

    On the 14×14 maps after inception 4a/4d the pool gives 4×4 (2,048 features into the FC layer).
    A map smaller than 5×5 (tiny test inputs) is pooled over its whole extent instead.
    """
    pool = min(5, int(x.shape[1]), int(x.shape[2]))
    x = keras.layers.AveragePooling2D(pool, strides=3 if pool == 5 else pool, name=f"{name}_pool")(x)
    x = keras.layers.Conv2D(
        conv_filters, 1, activation="relu", kernel_initializer=kernel_initializer, name=f"{name}_conv"
    )(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = keras.layers.Dense(units, activation="relu", kernel_initializer=kernel_initializer, name=f"{name}_fc")(x)
    x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return keras.layers.Dense(num_classes, activation=classifier_activation, name=f"{name}_predictions")(x)


class AuxiliaryOutputsModel(ZooModel):
    """A functional model whose outputs are `[main, aux_1, ..., aux_n]` during training only.

    Subclasses build `outputs=[main, *aux]` when they have auxiliary heads, set
    `self.aux_loss_weight` after `super().__init__`, and get:

    - `model(x)`, `model(x, training=False)`, `predict`, `evaluate` and exports: the main output
      only (one tensor, as at inference time in the papers);
    - `model(x, training=True)` and `fit`: the list of all outputs; the loss is
      L(y, main) + aux_loss_weight · Σ_i L(y, aux_i) with L the compiled loss, and the compiled
      metrics track the main output only.

    The auxiliary weights are part of the model (they are saved and counted), as in the papers'
    training setup; they never run outside training.
    """

    aux_loss_weight = 0.0

    @property
    def has_auxiliary_outputs(self):
        return len(self.outputs) > 1

    def call(self, inputs, training=None, mask=None, **kwargs):
        outputs = super().call(inputs, training=training, mask=mask, **kwargs)
        if self.has_auxiliary_outputs and not training:
            return outputs[0]
        return outputs

    def compute_output_spec(self, inputs, training=None, mask=None):
        outputs = super().compute_output_spec(inputs, training=training, mask=mask)
        if self.has_auxiliary_outputs and not training:
            return outputs[0]
        return outputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, (list, tuple)):
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        main, *auxiliary = y_pred
        total = super().compute_loss(x, y, main, sample_weight, training=training)
        if self._compile_loss is not None and self.aux_loss_weight:
            for output in auxiliary:
                total = total + self.aux_loss_weight * ops.cast(
                    self._compile_loss(y, output, sample_weight), total.dtype
                )
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, (list, tuple)):
            y_pred = y_pred[0]
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)
