"""Encoder–decoders with max unpooling: DeconvNet and SegNet.

Both encode with VGG-16's 13 convolutions and keep the *switches* of every 2×2 max-pooling (where
each maximum was); their decoders put values back at those places (`MaxUnpooling2D`, written once
in `architectures/segmentation/layers.py`) and densify the sparse maps.

- DeconvNet: Noh, Hong & Han, "Learning deconvolution network for semantic segmentation", ICCV
  2015. Encoder = VGG-16's 13 conv layers + fc6 (7×7 conv 4096, valid: 7×7 → 1×1) + fc7 (1×1
  4096); the decoder mirrors it: a 7×7 deconvolution (transposed conv) back to 7×7×512, then per
  stage unpooling and 3×3 deconvolutions (the last of a stage narrows to the next stage's width),
  BatchNorm + ReLU after every conv and deconv layer, 1×1 score. 224×224 object proposals; two-stage
  training (easy centred crops first). 252 M parameters (as the SegNet paper reports).
- SegNet: Badrinarayanan, Kendall & Cipolla, "SegNet: a deep convolutional encoder–decoder
  architecture for image segmentation", TPAMI 2017. Encoder = VGG-16's 13 conv layers with BN
  (no FC layers); each decoder stage unpools with its encoder's indices and densifies with
  ordinary trainable 3×3 convolutions + BN + ReLU (no deconvolution); the last convolution gives K
  channels and a per-pixel softmax. Class balancing by median frequency (`tasks.segmentation.
  median_frequency_weights`, `Segmentation.class_balance = "median_frequency"`). 360×480 CamVid
  images (odd sides such as 45 are pooled with symmetric padding and cropped back when unpooled).
  29.5 M parameters.
"""

import keras

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from architectures.segmentation.fcn import SEGMENTATION_INPUTS, SEGMENTATION_OUTPUTS, VGG16_STAGE_CONVS, VGG16_WIDTHS
from architectures.segmentation.layers import MaxPoolingWithSwitches, MaxUnpooling2D

DECONVNET_PAPER_PARAMS = 252_000_000
SEGNET_PAPER_PARAMS = 29_500_000
_TINY = dict(input_shape=(32, 32, 3), num_classes=5, preprocessing={"scale": 1.0 / 255.0})


def _conv_bn_relu(x, filters, name, transposed=False, kernel=3, padding="same"):
    layer = keras.layers.Conv2DTranspose if transposed else keras.layers.Conv2D
    x = layer(filters, kernel, padding=padding, name=name)(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def switch_encoder(x, stage_convs, widths):
    """VGG stages of conv-BN-ReLU, each ending in a max-pool that keeps its switches. Returns the
    pooled map and [(pre-pooling size, switches)] per stage."""
    memory = []
    for stage, (convs, filters) in enumerate(zip(stage_convs, widths), start=1):
        for index in range(1, convs + 1):
            x = _conv_bn_relu(x, filters, f"block{stage}_conv{index}")
        size = tuple(int(s) for s in x.shape[1:3])
        x, switches = MaxPoolingWithSwitches(name=f"block{stage}_pool")(x)
        memory.append((size, switches))
    return x, memory


def unpooling_decoder(x, memory, stage_convs, widths, transposed, skip_last=False):
    """Mirrored decoder: per stage (deepest first) unpool with the stage's switches, then
    conv-BN-ReLU layers; the last one of a stage narrows to the next shallower stage's width.
    `skip_last` leaves out the final conv of the shallowest stage (SegNet's is the classifier)."""
    for stage in range(len(widths), 0, -1):
        size, switches = memory[stage - 1]
        x = MaxUnpooling2D(size, name=f"unpool{stage}")([x, switches])
        convs = stage_convs[stage - 1]
        for index in range(1, convs + 1):
            last = index == convs
            if skip_last and stage == 1 and last:
                break
            filters = widths[stage - 2] if last and stage > 1 else widths[stage - 1]
            x = _conv_bn_relu(x, filters, f"{'deconv' if transposed else 'dec'}{stage}_{index}", transposed=transposed)
    return x


@keras.saving.register_keras_serializable(package="deepzoo")
class DeconvNet(ZooModel):
    """Noh et al.'s deconvolution network.

    Args:
        input_shape: (height, width, channels), 224×224×3 proposals in the paper; static sides.
        stage_convs, widths: the VGG-16 encoder (mirrored by the decoder).
        fc_units: fc6/fc7 width (4096); fc6's kernel is the pool5 side, so that fc7 is 1×1.
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=21,
        stage_convs=VGG16_STAGE_CONVS,
        widths=VGG16_WIDTHS,
        fc_units=4096,
        dropout=0.0,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        inputs, x = model_input(input_shape, preprocessing)
        x, memory = switch_encoder(x, stage_convs, widths)
        pooled_side = int(x.shape[1])
        if int(x.shape[2]) != pooled_side:
            raise ValueError(f"DeconvNet needs square inputs (fc6 covers the whole pool5 map). Received: input_shape={input_shape}")
        x = _conv_bn_relu(x, fc_units, "fc6", kernel=pooled_side, padding="valid")
        if dropout:
            x = keras.layers.Dropout(dropout, name="fc6_dropout")(x)
        x = _conv_bn_relu(x, fc_units, "fc7", kernel=1)
        if dropout:
            x = keras.layers.Dropout(dropout, name="fc7_dropout")(x)
        x = _conv_bn_relu(x, widths[-1], "deconv_fc6", transposed=True, kernel=pooled_side, padding="valid")
        x = unpooling_decoder(x, memory, stage_convs, widths, transposed=True)
        x = keras.layers.Conv2D(num_classes, 1, name="seg_score")(x)
        if classifier_activation:
            x = keras.layers.Activation(classifier_activation, dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=x, name=name or "deconvnet", **kwargs)


@keras.saving.register_keras_serializable(package="deepzoo")
class SegNet(ZooModel):
    """SegNet: VGG-16 encoder with pooling switches, mirrored decoder of unpooling + convs.

    Args:
        input_shape: (height, width, channels), 360×480×3 in the paper; static sides.
        stage_convs, widths: the VGG-16 encoder (mirrored by the decoder).
    """

    def __init__(
        self,
        input_shape=(360, 480, 3),
        num_classes=12,
        stage_convs=VGG16_STAGE_CONVS,
        widths=VGG16_WIDTHS,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        inputs, x = model_input(input_shape, preprocessing)
        x, memory = switch_encoder(x, stage_convs, widths)
        x = unpooling_decoder(x, memory, stage_convs, widths, transposed=False, skip_last=True)
        # The decoder's last 3×3 convolution is the classifier (conv1_1_D: K outputs, no BN).
        x = keras.layers.Conv2D(num_classes, 3, padding="same", name="classifier")(x)
        if classifier_activation:
            x = keras.layers.Activation(classifier_activation, dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=x, name=name or "segnet", **kwargs)


register(
    ModelSpec(
        name="deconvnet",
        family="segmentation",
        task="segmentation",
        builder=DeconvNet,
        canonical_config=dict(input_shape=(224, 224, 3), num_classes=21),
        tiny_config=dict(stage_convs=(1, 1), widths=(4, 8), fc_units=16, **_TINY),
        reference_params=DECONVNET_PAPER_PARAMS,
        reference_source="P (252 M, as reported in the SegNet paper; our build 251,839,061 incl. BN statistics)",
        paper="Noh, Hong & Han 2015, ICCV",
        seeds=("003", "004"),
        default_dataset="shapes_masks",
        train_recipe=dict(optimizer="momentum", learning_rate=1e-2, momentum=0.9, weight_decay=5e-4, batch_size=64),
        inputs=SEGMENTATION_INPUTS,
        outputs=SEGMENTATION_OUTPUTS,
        notes=(
            "Switch unpooling is MaxUnpooling2D (local switch indices, exported with builtin ops). The paper's "
            "two-stage training (centred proposals first) and instance-wise inference over proposals are data-side "
            "and not part of the model; the tiny config keeps two stages."
        ),
    )
)

register(
    ModelSpec(
        name="segnet",
        family="segmentation",
        task="segmentation",
        builder=SegNet,
        canonical_config=dict(input_shape=(360, 480, 3), num_classes=12),
        tiny_config=dict(stage_convs=(1, 1), widths=(4, 8), **_TINY),
        reference_params=SEGNET_PAPER_PARAMS,
        reference_source="P (29.5 M in the paper; our build 29,465,804 for 12 CamVid classes)",
        paper="Badrinarayanan, Kendall & Cipolla 2017, TPAMI",
        seeds=("003", "004"),
        default_dataset="shapes_masks",
        train_recipe=dict(optimizer="momentum", learning_rate=1e-1, momentum=0.9, batch_size=12),
        inputs=SEGMENTATION_INPUTS,
        outputs=SEGMENTATION_OUTPUTS,
        notes=(
            "Median-frequency class balancing: tasks.segmentation.median_frequency_weights (set "
            "Segmentation.class_balance = 'median_frequency'); the task's default is 1/√frequency."
        ),
    )
)
