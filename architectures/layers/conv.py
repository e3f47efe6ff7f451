"""Convolution blocks shared across families."""

import keras


def conv_bn_act(
    x,
    filters,
    kernel_size,
    strides=1,
    padding="same",
    activation="relu",
    use_bias=False,
    groups=1,
    batch_norm=True,
    bn_epsilon=1e-3,
    bn_momentum=0.99,
    kernel_initializer="glorot_uniform",
    name=None,
):
    """Conv2D → BatchNormalization → activation, the unit of most modern CNNs.

    `activation=None` leaves the output linear (e.g. a projection before a residual add).
    `batch_norm=False` gives a plain conv (+ bias if `use_bias`) → activation (AlexNet, VGG).
    Layer names are `{name}_conv`, `{name}_bn`, `{name}_act` so that tables of reference layer
    names can be compared.
    """
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        groups=groups,
        kernel_initializer=kernel_initializer,
        name=f"{name}_conv" if name else None,
    )(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(
            epsilon=bn_epsilon, momentum=bn_momentum, name=f"{name}_bn" if name else None
        )(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_act" if name else None)(x)
    return x


def scaled_width(filters, multiplier, divisor=1, minimum=1):
    """`filters × multiplier`, rounded to a multiple of `divisor` (never below 90 % of the target)."""
    if divisor <= 1:
        return max(minimum, int(round(filters * multiplier)))
    target = filters * multiplier
    rounded = max(minimum, divisor, int(target + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * target:
        rounded += divisor
    return int(rounded)
