"""The fire module of SqueezeNet (Iandola et al. 2016, arXiv 1602.07360), spec §3.

fire(s, e): a 1×1 "squeeze" conv to s channels, then an "expand" layer that concatenates a 1×1 conv
and a 3×3 conv (same padding) of e channels each; ReLU after every conv. The output has 2e channels.
"""

import keras


def fire_module(x, squeeze, expand1x1, expand3x3=None, activation="relu", kernel_initializer="he_uniform", name=None):
    """Applies a fire module to the symbolic tensor `x`.

    Args:
        squeeze: channels of the 1×1 squeeze conv (s_1x1).
        expand1x1: channels of the 1×1 expand conv (e_1x1).
        expand3x3: channels of the 3×3 expand conv (e_3x3); `expand1x1` when None, as in every
            SqueezeNet configuration of the paper.
        kernel_initializer: "he_uniform" by default (the reference PyTorch model's Kaiming-uniform):
            Glorot's fan-average scaling shrinks the 3×3 expand outputs by ≈ (s + e)/s per module,
            and the activations of a deep fire stack vanish.
        name: prefix of the layer names (`{name}_squeeze1x1`, `{name}_expand1x1`, ...).
    """
    name = name or keras.backend.unique_name("fire")
    expand3x3 = expand1x1 if expand3x3 is None else expand3x3
    common = dict(activation=activation, kernel_initializer=kernel_initializer)
    s = keras.layers.Conv2D(squeeze, 1, name=f"{name}_squeeze1x1", **common)(x)
    left = keras.layers.Conv2D(expand1x1, 1, name=f"{name}_expand1x1", **common)(s)
    right = keras.layers.Conv2D(expand3x3, 3, padding="same", name=f"{name}_expand3x3", **common)(s)
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([left, right])


def fire_params(in_channels, squeeze, expand1x1, expand3x3=None):
    """Parameter count of one fire module (weights + biases)."""
    expand3x3 = expand1x1 if expand3x3 is None else expand3x3
    return (in_channels + 1) * squeeze + (squeeze + 1) * expand1x1 + (9 * squeeze + 1) * expand3x3
