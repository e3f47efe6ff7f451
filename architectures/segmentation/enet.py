"""ENet: real-time semantic segmentation.

Reference: Paszke, Chaurasia, Kim & Culurciello, "ENet: a deep neural network architecture for
real-time semantic segmentation", arXiv 1606.02147 (2016), Table 1, §3 and the reference Torch
code (e-lab/ENet-training).

- Initial block: a 3×3/2 convolution with 13 filters concatenated with a 2×2/2 max-pool of the
  3-channel input → 16 channels (BN + PReLU).
- Bottleneck: a residual block whose extension is 1×1 projection to output/4 channels (2×2/2 when
  down-sampling) → a main convolution, either regular 3×3, dilated 3×3 (rates 2, 4, 8, 16) or
  asymmetric 5×1 then 1×5 → 1×1 expansion; BN + PReLU after each, spatial dropout (0.01 in stage 1,
  0.1 after) at the end. A down-sampling bottleneck's main branch is a 2×2 max-pool whose switches
  are kept, zero-padded to the new width.
- Large encoder (stages 1–3: 16 → 64 → 128 channels at 1/8 resolution), small decoder (stages 4–5):
  up-sampling bottlenecks unpool the main branch with the encoder's switches (after a 1×1 conv)
  and up-sample the extension with a 3×3/2 transposed convolution; ReLU in the decoder. A final
  2×2/2 transposed convolution gives the K-class map at the input resolution.

The notes' "pyramid pooling" is not in ENet (it is PSPNet's); not built. Our build has 363,856
trainable weights for K = 12 (372,208 with the BN moving statistics, Keras' count) against the
paper's 0.37 M.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from architectures.segmentation.fcn import SEGMENTATION_INPUTS, SEGMENTATION_OUTPUTS
from architectures.segmentation.layers import MaxPoolingWithSwitches, MaxUnpooling2D

# Stage 2 (and 3, without its first down-sampling bottleneck), Table 1: (kind, argument).
ENET_STAGE2 = (
    ("regular", None),
    ("dilated", 2),
    ("asymmetric", 5),
    ("dilated", 4),
    ("regular", None),
    ("dilated", 8),
    ("asymmetric", 5),
    ("dilated", 16),
)
ENET_PAPER_PARAMS = 370_000
BN_EPSILON = 1e-3


@keras.saving.register_keras_serializable(package="deepzoo")
class ZeroPadChannels(keras.layers.Layer):
    """Appends `extra` zero channels (the main branch of a widening bottleneck)."""

    def __init__(self, extra, **kwargs):
        super().__init__(**kwargs)
        self.extra = int(extra)

    def call(self, inputs):
        return ops.pad(inputs, [[0, 0], [0, 0], [0, 0], [0, self.extra]])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.extra)

    def get_config(self):
        return {**super().get_config(), "extra": self.extra}


def _bn(x, name):
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)


def _prelu(x, name):
    return keras.layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")(x)


def _initial_block(x, filters):
    conv = keras.layers.Conv2D(filters - int(x.shape[-1]), 3, strides=2, padding="same", name="initial_conv")(x)
    pool = keras.layers.MaxPooling2D(2, name="initial_pool")(x)
    x = keras.layers.Concatenate(name="initial_concat")([conv, pool])
    return _prelu(_bn(x, "initial"), "initial")


def _bottleneck(x, output, name, kind="regular", argument=None, downsample=False, dropout=0.0):
    """Encoder bottleneck; returns (x, switches) (switches None unless down-sampling)."""
    internal = output // 4
    stride = 2 if downsample else 1
    ext = keras.layers.Conv2D(internal, stride, strides=stride, use_bias=False, name=f"{name}_project")(x)
    ext = _prelu(_bn(ext, f"{name}_project"), f"{name}_project")
    if kind == "asymmetric":
        ext = keras.layers.Conv2D(internal, (argument, 1), padding="same", use_bias=False, name=f"{name}_conv_a")(ext)
        ext = keras.layers.Conv2D(internal, (1, argument), padding="same", name=f"{name}_conv")(ext)
    else:
        dilation = argument if kind == "dilated" else 1
        ext = keras.layers.Conv2D(internal, 3, padding="same", dilation_rate=dilation, name=f"{name}_conv")(ext)
    ext = _prelu(_bn(ext, f"{name}_conv"), f"{name}_conv")
    ext = keras.layers.Conv2D(output, 1, use_bias=False, name=f"{name}_expand")(ext)
    ext = _bn(ext, f"{name}_expand")
    if dropout:
        ext = keras.layers.SpatialDropout2D(dropout, name=f"{name}_dropout")(ext)
    main, switches = x, None
    if downsample:
        main, switches = MaxPoolingWithSwitches(name=f"{name}_pool")(x)
        if output > int(main.shape[-1]):
            main = ZeroPadChannels(output - int(main.shape[-1]), name=f"{name}_pad")(main)
    x = keras.layers.Add(name=f"{name}_add")([main, ext])
    return _prelu(x, name), switches


def _upsampling_bottleneck(x, output, name, switches=None, size=None):
    """Decoder bottleneck (ReLU); with `switches`, unpools the main branch and up-samples ×2."""
    internal = output // 4
    ext = keras.layers.Conv2D(internal, 1, use_bias=False, name=f"{name}_project")(x)
    ext = keras.layers.Activation("relu", name=f"{name}_project_relu")(_bn(ext, f"{name}_project"))
    if switches is not None:
        ext = keras.layers.Conv2DTranspose(internal, 3, strides=2, padding="same", name=f"{name}_conv")(ext)
    else:
        ext = keras.layers.Conv2D(internal, 3, padding="same", name=f"{name}_conv")(ext)
    ext = keras.layers.Activation("relu", name=f"{name}_conv_relu")(_bn(ext, f"{name}_conv"))
    ext = keras.layers.Conv2D(output, 1, use_bias=False, name=f"{name}_expand")(ext)
    ext = _bn(ext, f"{name}_expand")
    main = x
    if int(x.shape[-1]) != output or switches is not None:
        main = _bn(keras.layers.Conv2D(output, 1, use_bias=False, name=f"{name}_main_conv")(x), f"{name}_main")
        if switches is not None:
            main = MaxUnpooling2D(size, name=f"{name}_unpool")([main, switches])
    x = keras.layers.Add(name=f"{name}_add")([main, ext])
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


@keras.saving.register_keras_serializable(package="deepzoo")
class ENet(ZooModel):
    """ENet.

    Args:
        input_shape: (height, width, channels), sides divisible by 8 (512×512×3 in the paper).
        num_classes: K.
        widths: channels of the initial block, stage 1 and stages 2–3 (16, 64, 128).
        stage1_repeats: regular bottlenecks after stage 1's down-sampling one (4).
        stage2_blocks: (kind, argument) of stage 2's bottlenecks after its down-sampling one, kind
            "regular", "dilated" (argument = rate) or "asymmetric" (argument = kernel); stage 3
            repeats them (Table 1).
        stage3: whether stage 3 exists (the tiny config drops it).
        decoder_repeats: regular bottlenecks after stage 4's and stage 5's up-sampling ones (2, 1).
        dropout: spatial dropout rates of stage 1 and of the later encoder stages (0.01, 0.1).
    """

    def __init__(
        self,
        input_shape=(512, 512, 3),
        num_classes=12,
        widths=(16, 64, 128),
        stage1_repeats=4,
        stage2_blocks=ENET_STAGE2,
        stage3=True,
        decoder_repeats=(2, 1),
        dropout=(0.01, 0.1),
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        for side in tuple(input_shape)[:2]:
            if side is None or side % 8:
                raise ValueError(f"ENet needs static sides divisible by 8. Received: input_shape={input_shape}")
        initial, narrow, wide = widths
        inputs, x = model_input(input_shape, preprocessing)
        x = _initial_block(x, initial)
        size1 = tuple(int(s) for s in x.shape[1:3])
        x, switches1 = _bottleneck(x, narrow, "bottleneck1_0", downsample=True, dropout=dropout[0])
        for index in range(1, stage1_repeats + 1):
            x, _ = _bottleneck(x, narrow, f"bottleneck1_{index}", dropout=dropout[0])
        size2 = tuple(int(s) for s in x.shape[1:3])
        x, switches2 = _bottleneck(x, wide, "bottleneck2_0", downsample=True, dropout=dropout[1])
        for stage in (2, 3) if stage3 else (2,):
            for index, (kind, argument) in enumerate(stage2_blocks, start=1):
                x, _ = _bottleneck(x, wide, f"bottleneck{stage}_{index}", kind, argument, dropout=dropout[1])
        x = _upsampling_bottleneck(x, narrow, "bottleneck4_0", switches2, size2)
        for index in range(1, decoder_repeats[0] + 1):
            x = _upsampling_bottleneck(x, narrow, f"bottleneck4_{index}")
        x = _upsampling_bottleneck(x, initial, "bottleneck5_0", switches1, size1)
        for index in range(1, decoder_repeats[1] + 1):
            x = _upsampling_bottleneck(x, initial, f"bottleneck5_{index}")
        x = keras.layers.Conv2DTranspose(num_classes, 2, strides=2, name="fullconv")(x)
        if classifier_activation:
            x = keras.layers.Activation(classifier_activation, dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=x, name=name or "enet", **kwargs)


register(
    ModelSpec(
        name="enet",
        family="segmentation",
        task="segmentation",
        builder=ENet,
        canonical_config=dict(input_shape=(512, 512, 3), num_classes=12),
        tiny_config=dict(
            input_shape=(32, 32, 3),
            num_classes=5,
            widths=(8, 16, 16),
            # Graph size dominates a tiny model's first steps (each bottleneck is ~10 layers), so
            # the tiny net keeps the initial block and one down- and one up-sampling bottleneck
            # per stage (they carry the regular 3×3 and the transposed conv); the dilated and
            # asymmetric bottlenecks are plain dilated / 5×1 + 1×5 Conv2Ds, checked on the
            # canonical build in tests/test_segmentation_family.py.
            stage1_repeats=0,
            stage2_blocks=(),
            stage3=False,
            decoder_repeats=(0, 0),
            dropout=(0.0, 0.0),  # deterministic 8-step loss check
            preprocessing={"scale": 1.0 / 255.0},
        ),
        reference_params=ENET_PAPER_PARAMS,
        reference_source="P (0.37 M in the paper; our build 372,208 with BN statistics)",
        paper="Paszke, Chaurasia, Kim & Culurciello 2016, arXiv 1606.02147",
        seeds=("003",),
        default_dataset="shapes_masks",
        train_recipe=dict(optimizer="adam", learning_rate=5e-4, weight_decay=2e-4, batch_size=10),
        inputs=SEGMENTATION_INPUTS,
        outputs=SEGMENTATION_OUTPUTS,
        notes=(
            "The notes list 'pyramid pooling' among ENet's novelties; ENet has none (that is PSPNet), so none is built. "
            "The paper trains the encoder first on down-sampled labels, then the whole net; its class weights are "
            "w_c = 1/ln(1.02 + p_c) (data side)."
        ),
    )
)
