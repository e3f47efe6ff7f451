"""DenseNet blocks: the dense block (every layer sees the concatenation of all earlier outputs) and
the transition layer between blocks.

Reference: Huang, Liu, van der Maaten & Weinberger, "Densely connected convolutional networks",
CVPR 2017 (DenseNet-BC: 1×1 bottleneck to 4k channels, transition compression θ = 0.5).
Layer names follow keras.applications.DenseNet (`{name}_block{i}_1_conv`, `{name}_bn`, ...).
"""

import keras


def _bn(x, bn_epsilon, bn_momentum, name):
    return keras.layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=name)(x)


def dense_layer(x, growth_rate, bottleneck=4, dropout=0.0, bn_epsilon=1.001e-5, bn_momentum=0.99, name=None):
    """BN-ReLU-conv 1×1 (bottleneck·k) → BN-ReLU-conv 3×3 (k), concatenated onto the input.

    `bottleneck=0` drops the 1×1 conv (plain DenseNet, not -BC). Output: C + k channels.
    """
    name = name or keras.backend.unique_name("dense_layer")
    y = x
    if bottleneck:
        y = _bn(y, bn_epsilon, bn_momentum, f"{name}_0_bn")
        y = keras.layers.Activation("relu", name=f"{name}_0_relu")(y)
        y = keras.layers.Conv2D(bottleneck * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
        if dropout:
            y = keras.layers.Dropout(dropout, name=f"{name}_1_dropout")(y)
    y = _bn(y, bn_epsilon, bn_momentum, f"{name}_1_bn")
    y = keras.layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = keras.layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    if dropout:
        y = keras.layers.Dropout(dropout, name=f"{name}_2_dropout")(y)
    return keras.layers.Concatenate(name=f"{name}_concat")([x, y])


def dense_block(x, layers, growth_rate, bottleneck=4, dropout=0.0, bn_epsilon=1.001e-5, bn_momentum=0.99, name=None):
    """`layers` dense layers; output channels C + layers·k."""
    name = name or keras.backend.unique_name("dense_block")
    for index in range(layers):
        x = dense_layer(x, growth_rate, bottleneck, dropout, bn_epsilon, bn_momentum, name=f"{name}_block{index + 1}")
    return x


def transition_block(x, compression=0.5, bn_epsilon=1.001e-5, bn_momentum=0.99, name=None):
    """BN-ReLU-conv 1×1 (⌊θ·C⌋ channels) → average pool 2×2/2."""
    name = name or keras.backend.unique_name("transition")
    x = _bn(x, bn_epsilon, bn_momentum, f"{name}_bn")
    x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    x = keras.layers.Conv2D(int(x.shape[-1] * compression), 1, use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)
