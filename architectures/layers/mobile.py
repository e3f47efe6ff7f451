"""Blocks of the mobile networks: depthwise-separable conv (MobileNet v1), inverted residual with
linear bottleneck (MobileNet v2) and its MBConv form with squeeze-and-excitation and stochastic
depth (EfficientNet), the channel shuffle / channel split of ShuffleNet, and the grouped
convolution of ShuffleNet and ResNeXt in a form every export format accepts.

References: Howard et al. 2017 (arXiv 1704.04861); Sandler et al., CVPR 2018 (MobileNetV2);
Hu, Shen & Sun, CVPR 2018 (squeeze-and-excitation); Tan & Le, ICML 2019 (EfficientNet);
Zhang, Zhou, Lin & Sun, CVPR 2018 and Ma, Zhang, Zheng & Sun, ECCV 2018 (ShuffleNet v1/v2).
"""

import keras
from keras import ops

from architectures.layers.conv import conv_bn_act


@keras.saving.register_keras_serializable(package="deepzoo")
class GroupedConv2D(keras.layers.Conv2D):
    """`Conv2D(groups=g)` computed as g convolutions on channel slices, then concatenated.

    Same kernel (k, k, C/g, N), same outputs, same config as `keras.layers.Conv2D`. Keras'
    TensorFlow backend runs every grouped conv inside a jit-compiled `tf.function` (its CPU
    workaround), which tf2onnx cannot convert; per-group convolutions export to SavedModel, ONNX
    and TFLite alike. Other backends keep the native grouped convolution.
    """

    def convolution_op(self, inputs, kernel):
        if self.groups == 1 or keras.backend.backend() != "tensorflow":
            return super().convolution_op(inputs, kernel)
        channel_axis = -1 if self.data_format == "channels_last" else 1
        inputs_per_group = ops.split(inputs, self.groups, axis=channel_axis)
        pieces = zip(inputs_per_group, ops.split(kernel, self.groups, axis=-1), strict=True)
        return ops.concatenate(
            [
                ops.conv(
                    x,
                    k,
                    strides=list(self.strides),
                    padding=self.padding,
                    dilation_rate=self.dilation_rate,
                    data_format=self.data_format,
                )
                for x, k in pieces
            ],
            axis=channel_axis,
        )


def grouped_conv_bn_act(
    x,
    filters,
    kernel_size,
    strides=1,
    groups=1,
    activation="relu",
    use_bias=False,
    bn_epsilon=1e-3,
    bn_momentum=0.99,
    name=None,
):
    """`conv_bn_act` (same layer names) whose conv is a `GroupedConv2D` when `groups > 1`."""
    if groups == 1:
        return conv_bn_act(
            x,
            filters,
            kernel_size,
            strides=strides,
            activation=activation,
            use_bias=use_bias,
            bn_epsilon=bn_epsilon,
            bn_momentum=bn_momentum,
            name=name,
        )
    x = GroupedConv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        groups=groups,
        use_bias=use_bias,
        name=f"{name}_conv" if name else None,
    )(x)
    x = keras.layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=f"{name}_bn" if name else None)(
        x
    )
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_act" if name else None)(x)
    return x


def _depthwise_bn_act(
    x, kernel_size, stride, activation, depth_multiplier, bn_epsilon, bn_momentum, name, initializer="glorot_uniform"
):
    x = keras.layers.DepthwiseConv2D(
        kernel_size,
        strides=stride,
        padding="same",
        depth_multiplier=depth_multiplier,
        use_bias=False,
        depthwise_initializer=initializer,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=f"{name}_bn")(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_act")(x)
    return x


def depthwise_separable_block(
    x,
    filters,
    stride=1,
    kernel_size=3,
    depth_multiplier=1,
    activation="relu6",
    bn_epsilon=1e-3,
    bn_momentum=0.99,
    name=None,
):
    """Depthwise k×k-BN-act → pointwise 1×1-BN-act (MobileNet v1): k²C + C·N weights, not k²CN.

    `depth_multiplier` is the depthwise channel multiplier (keras.applications' name).
    """
    name = name or keras.backend.unique_name("dw_separable")
    x = _depthwise_bn_act(x, kernel_size, stride, activation, depth_multiplier, bn_epsilon, bn_momentum, f"{name}_dw")
    return conv_bn_act(
        x, filters, 1, activation=activation, bn_epsilon=bn_epsilon, bn_momentum=bn_momentum, name=f"{name}_pw"
    )


def squeeze_excite(x, squeeze_filters, activation="swish", gate="sigmoid", initializer="glorot_uniform", name=None):
    """Squeeze-and-excitation: GAP → 1×1 conv (squeeze, `activation`) → 1×1 conv (C, `gate`) → x·s.

    The two fully connected layers are 1×1 convs on the 1×1 pooled map (equivalent to Dense, and
    the form keras.applications.EfficientNet uses, so weight shapes match it).
    """
    name = name or keras.backend.unique_name("se")
    channels = x.shape[-1]
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = keras.layers.Conv2D(squeeze_filters, 1, activation=activation, kernel_initializer=initializer, name=f"{name}_reduce")(s)
    s = keras.layers.Conv2D(channels, 1, activation=gate, kernel_initializer=initializer, name=f"{name}_expand")(s)
    return keras.layers.Multiply(name=f"{name}_excite")([x, s])


def inverted_residual_block(
    x,
    filters,
    expand_ratio=6,
    stride=1,
    kernel_size=3,
    se_ratio=0.0,
    activation="relu6",
    drop_rate=0.0,
    residual=True,
    bn_epsilon=1e-3,
    bn_momentum=0.999,
    initializer="glorot_uniform",
    name=None,
):
    """Expand 1×1 (×t) → depthwise k×k → [SE] → linear 1×1 projection, + input when shapes match.

    `initializer` is every conv's kernel initialiser: Keras' default for MobileNet v2 (as
    keras.applications), EfficientNet's VarianceScaling(2.0, "fan_out") for MBConv.

    MobileNet v2's block with `se_ratio=0`, `activation="relu6"`; EfficientNet's MBConv with
    `se_ratio=0.25` (squeeze width `int(C_in · se_ratio)`, of the block *input*), `activation="swish"`
    and stochastic depth `drop_rate` (whole residual branch dropped per sample, scaled by 1/keep).
    No expansion conv when `expand_ratio == 1`. The projection is linear (no activation).
    """
    name = name or keras.backend.unique_name("inverted_residual")
    in_channels = x.shape[-1]
    inputs = x
    if expand_ratio != 1:
        x = conv_bn_act(
            x,
            in_channels * expand_ratio,
            1,
            activation=activation,
            bn_epsilon=bn_epsilon,
            bn_momentum=bn_momentum,
            kernel_initializer=initializer,
            name=f"{name}_expand",
        )
    x = _depthwise_bn_act(x, kernel_size, stride, activation, 1, bn_epsilon, bn_momentum, f"{name}_dw", initializer)
    if se_ratio:
        squeeze = max(1, int(in_channels * se_ratio))
        x = squeeze_excite(x, squeeze, activation=activation, initializer=initializer, name=f"{name}_se")
    x = conv_bn_act(
        x, filters, 1, activation=None, bn_epsilon=bn_epsilon, bn_momentum=bn_momentum,
        kernel_initializer=initializer, name=f"{name}_project",
    )
    if residual and stride == 1 and in_channels == filters:
        if drop_rate:
            x = keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
        x = keras.layers.Add(name=f"{name}_add")([inputs, x])
    return x


@keras.saving.register_keras_serializable(package="deepzoo")
class ChannelShuffle(keras.layers.Layer):
    """ShuffleNet's channel shuffle: reshape (H, W, g, C/g) → swap the last two axes → (H, W, C).

    After it, each group of the next grouped conv sees channels from every group of the previous one.
    """

    def __init__(self, groups, **kwargs):
        super().__init__(**kwargs)
        self.groups = int(groups)

    def call(self, inputs):
        channels = inputs.shape[-1]
        if channels % self.groups:
            raise ValueError(
                f"ChannelShuffle needs channels divisible by groups. Received: {channels} channels, "
                f"groups={self.groups}."
            )
        shape = ops.shape(inputs)
        x = ops.reshape(inputs, (-1, shape[1], shape[2], self.groups, channels // self.groups))
        x = ops.transpose(x, (0, 1, 2, 4, 3))
        return ops.reshape(x, (-1, shape[1], shape[2], channels))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="deepzoo")
class ChannelSplit(keras.layers.Layer):
    """Splits the channels at `index` into two tensors (ShuffleNet v2's channel split)."""

    def __init__(self, index, **kwargs):
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, inputs):
        return [inputs[..., : self.index], inputs[..., self.index :]]

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        rest = None if channels is None else channels - self.index
        return [tuple(input_shape[:-1]) + (self.index,), tuple(input_shape[:-1]) + (rest,)]

    def get_config(self):
        return {**super().get_config(), "index": self.index}
