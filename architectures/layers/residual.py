"""Residual blocks: basic, bottleneck and pre-activation, with the three shortcut kinds of ResNet.

Reference: He, Zhang, Ren & Sun, "Deep residual learning for image recognition", CVPR 2016 (basic
and bottleneck blocks; shortcut option A = zero-padding, option B = projection where the shape
changes); He et al., "Identity mappings in deep residual networks", ECCV 2016 (pre-activation);
Zagoruyko & Komodakis, "Wide residual networks", BMVC 2016 (dropout between the convs).

Every block is a function on a symbolic tensor, `block(x, filters, stride, ..., name=...)`, whose
`shortcut` argument is one of

- "projection": identity where the shape is kept, else 1×1 conv (stride `stride`) + BN (option B);
- "zero_pad":   identity where the shape is kept, else subsample by `stride` and append zero
                channels (option A, parameter-free; `ZeroPadShortcut`);
- "none":       no addition at all — the block of a *plain* network (He et al.'s plain-18/34).

The post-activation blocks end with ReLU after the addition (the paper's form). Layer names follow
keras.applications (`{name}_1_conv`, `{name}_0_conv` for the projection, `{name}_add`, `{name}_out`).
"""

import keras
from keras import ops

from architectures.layers.conv import conv_bn_act
from architectures.layers.mobile import grouped_conv_bn_act

SHORTCUTS = ("projection", "zero_pad", "none")


@keras.saving.register_keras_serializable(package="deepzoo")
class ZeroPadShortcut(keras.layers.Layer):
    """Option-A shortcut: `x[:, ::stride, ::stride, :]` followed by `filters − C` zero channels.

    The zeros are appended after the identity channels (the paper only says "extra zero entries
    padded"), so the first C channels of the block output are the residual sum over the input.
    """

    def __init__(self, filters, stride=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.stride = int(stride)

    def call(self, inputs):
        x = inputs[:, :: self.stride, :: self.stride, :] if self.stride > 1 else inputs
        extra = self.filters - x.shape[-1]
        if extra < 0:
            raise ValueError(
                f"ZeroPadShortcut cannot reduce channels. Received: filters={self.filters} for an input "
                f"with {x.shape[-1]} channels."
            )
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]]) if extra else x

    def compute_output_shape(self, input_shape):
        def reduced(size):
            return None if size is None else -(-size // self.stride)

        return (input_shape[0], reduced(input_shape[1]), reduced(input_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride}


def _check_shortcut(shortcut):
    if shortcut not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}. Received: shortcut={shortcut!r}")


def _shortcut_branch(x, filters, stride, shortcut, use_bias, bn_epsilon, bn_momentum, name):
    """The shortcut tensor of a block (None for a plain block)."""
    if shortcut == "none":
        return None
    if stride == 1 and x.shape[-1] == filters:
        return x
    if shortcut == "zero_pad":
        return ZeroPadShortcut(filters, stride, name=f"{name}_0_pad")(x)
    return conv_bn_act(
        x,
        filters,
        1,
        strides=stride,
        activation=None,
        use_bias=use_bias,
        bn_epsilon=bn_epsilon,
        bn_momentum=bn_momentum,
        name=f"{name}_0",
    )


def _merge(x, shortcut_tensor, activation, name):
    if shortcut_tensor is not None:
        x = keras.layers.Add(name=f"{name}_add")([shortcut_tensor, x])
    return keras.layers.Activation(activation, name=f"{name}_out")(x) if activation else x


def basic_block(
    x,
    filters,
    stride=1,
    shortcut="projection",
    activation="relu",
    use_bias=False,
    bn_epsilon=1e-5,
    bn_momentum=0.9,
    name=None,
):
    """Two 3×3 conv-BN layers (ReLU between), shortcut added before the final ReLU (ResNet-18/34).

    The stride sits in the first 3×3 conv. Output channels: `filters`.
    """
    _check_shortcut(shortcut)
    name = name or keras.backend.unique_name("basic_block")
    residual = _shortcut_branch(x, filters, stride, shortcut, use_bias, bn_epsilon, bn_momentum, name)
    common = dict(use_bias=use_bias, bn_epsilon=bn_epsilon, bn_momentum=bn_momentum)
    y = conv_bn_act(x, filters, 3, strides=stride, activation=activation, name=f"{name}_1", **common)
    y = conv_bn_act(y, filters, 3, activation=None, name=f"{name}_2", **common)
    return _merge(y, residual, activation, name)


def bottleneck_block(
    x,
    filters,
    stride=1,
    expansion=4,
    groups=1,
    bottleneck_width=None,
    stride_in="first",
    shortcut="projection",
    activation="relu",
    use_bias=False,
    bn_epsilon=1e-5,
    bn_momentum=0.9,
    name=None,
):
    """1×1 reduce → 3×3 (optionally grouped) → 1×1 expand, shortcut added before the final ReLU.

    Args:
        filters: the block's base width w; the output has `expansion · filters` channels.
        bottleneck_width: channels of the inner 1×1/3×3 convs; `filters` when None. ResNeXt-50
            32×4d uses 128 (= 32 groups × 4) in its first stage, WRN-50-2 uses 2·w.
        groups: groups of the 3×3 conv (ResNeXt cardinality), a `GroupedConv2D` when > 1.
        stride_in: "first" puts the stride on the first 1×1 conv (the paper and
            keras.applications ResNet50), "middle" on the 3×3 conv (fb.resnet.torch, torchvision,
            ResNeXt, WRN-50-2). Shapes are the same either way.
    """
    _check_shortcut(shortcut)
    if stride_in not in ("first", "middle"):
        raise ValueError(f"stride_in must be 'first' or 'middle'. Received: stride_in={stride_in!r}")
    name = name or keras.backend.unique_name("bottleneck_block")
    out_filters = expansion * filters
    inner = bottleneck_width or filters
    # The projection is built first, as keras.applications does, so layer order matches it.
    residual = _shortcut_branch(x, out_filters, stride, shortcut, use_bias, bn_epsilon, bn_momentum, name)
    common = dict(use_bias=use_bias, bn_epsilon=bn_epsilon, bn_momentum=bn_momentum)
    first_stride, middle_stride = (stride, 1) if stride_in == "first" else (1, stride)
    y = conv_bn_act(x, inner, 1, strides=first_stride, activation=activation, name=f"{name}_1", **common)
    y = grouped_conv_bn_act(
        y, inner, 3, strides=middle_stride, groups=groups, activation=activation, name=f"{name}_2", **common
    )
    y = conv_bn_act(y, out_filters, 1, activation=None, name=f"{name}_3", **common)
    return _merge(y, residual, activation, name)


def preact_basic_block(
    x,
    filters,
    stride=1,
    dropout=0.0,
    shortcut="projection",
    activation="relu",
    use_bias=False,
    bn_epsilon=1e-5,
    bn_momentum=0.9,
    name=None,
):
    """(BN-ReLU-conv 3×3) ×2 with optional dropout between the convs; no activation after the add.

    The pre-activation form of ResNet v2 and Wide ResNet. Where the shape changes, the shortcut
    (projection or zero-pad) takes the *pre-activated* input, as in the WRN reference code;
    otherwise it is the raw input.
    """
    _check_shortcut(shortcut)
    name = name or keras.backend.unique_name("preact_block")
    preact = keras.layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=f"{name}_preact_bn")(x)
    preact = keras.layers.Activation(activation, name=f"{name}_preact_act")(preact)
    changes_shape = stride != 1 or x.shape[-1] != filters
    if shortcut == "none":
        residual = None
    elif not changes_shape:
        residual = x
    elif shortcut == "zero_pad":
        residual = ZeroPadShortcut(filters, stride, name=f"{name}_0_pad")(preact)
    else:
        residual = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=use_bias, name=f"{name}_0_conv")(preact)
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=use_bias, name=f"{name}_1_conv")(
        preact
    )
    y = keras.layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=f"{name}_2_bn")(y)
    y = keras.layers.Activation(activation, name=f"{name}_2_act")(y)
    if dropout:
        y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=use_bias, name=f"{name}_2_conv")(y)
    return _merge(y, residual, None, name)
