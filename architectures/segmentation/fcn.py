"""Fully convolutional networks: the convolutionalised classifier and FCN-32s/16s/8s.

Reference: Long, Shelhamer & Darrell, "Fully convolutional networks for semantic segmentation",
CVPR 2015 (and the TPAMI 2017 version with the reference Caffe models).

- §3.1, convolutionalisation: every fully connected layer Dense(A → B) is a convolution with B
  filters whose kernel covers the whole input it sees: fc6 of VGG-16 (25,088 → 4096 on a 7×7×512
  map) becomes a 7×7×512×4096 convolution, fc7 and fc8 1×1 convolutions. Copying the weights
  (`convolutionalise`) gives the same prediction at the training size; a larger input gives a heat
  map of class scores, one per 32-pixel step (output stride 32, map (H/32 − 6) × (W/32 − 6) with
  the valid fc6). `fcn_heatmap` is that network (softmax per pixel); `heatmap_direct_upsampling` is
  the coarse baseline that expands each heat-map pixel to its f × f block (f = output stride,
  nearest-neighbour), with a same-padded fc6 so that the map is exactly H/f.
- §4.1–4.2, FCN-32s/16s/8s: VGG-16 convolutionalised (fc6 7×7 conv 4096, fc7 1×1 4096, dropout
  0.5), score_fr 1×1 conv K. FCN-32s up-samples the score ×32 with a bilinear transposed
  convolution (fixed). FCN-16s adds a 1×1 score of pool4 (zero-initialised) to the ×2 up-sampled
  score (a transposed convolution initialised to bilinear and learned) and up-samples the sum ×16;
  FCN-8s does the same once more with pool3 and up-samples ×8. Each net is initialised from the
  previous one (`init_from_coarser`; the CLI's `deepzoo train fcn16s --init-from RUN` copies the
  same layers by name and shape) and fine-tuned.

Departures: the reference Caffe nets pad conv1_1 by 100 pixels and crop the up-sampled score back
to the image; here fc6 is same-padded so that the stride-32 map is exactly H/32 and the up-sampled
output is exactly the input size (inputs divisible by the output stride). The parameter counts do
not change: 134,346,581 (32s), 134,364,410 (16s), 134,376,863 (8s) for K = 21, against "134M" in
the paper's Table 1 (the fixed up-sampling kernels are constants, as their `lr_mult: 0` in the
reference models; the learned ×2 ones are weights).
"""

import keras
import numpy as np

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from architectures.segmentation.layers import FixedBilinearUpsampling2D, learned_bilinear_upsampling
from tasks.base import TensorSpec

# VGG-16 (configuration D): convs per stage and widths.
VGG16_STAGE_CONVS = (2, 2, 3, 3, 3)
VGG16_WIDTHS = (64, 128, 256, 512, 512)
VGG16_PARAMS = 138_357_544  # keras.applications VGG16, 1000 classes: the convolutionalised net has as many
FCN_PARAMS = {32: 134_346_581, 16: 134_364_410, 8: 134_376_863}  # our build, K = 21
FCN_PAPER_PARAMS = 134_000_000  # "134M", Table 1 (FCN-VGG16)

TINY_TRUNK = dict(stage_convs=(1, 1, 1, 1, 1), widths=(4, 8, 8, 16, 16), fc_units=16, fc_kernel=3)
SEGMENTATION_OUTPUTS = (TensorSpec("probabilities", (None, None, None)), TensorSpec("class_map", (None, None), "int32"))
SEGMENTATION_INPUTS = (TensorSpec("input", (None, None, None)),)


# --- blocks ------------------------------------------------------------------------------------


def vgg_conv(x, filters, name, batch_norm=False, dilation_rate=1):
    """One VGG 3×3 same convolution + ReLU, optionally with BatchNormalization before the ReLU."""
    x = keras.layers.Conv2D(
        filters, 3, padding="same", dilation_rate=dilation_rate, activation=None if batch_norm else "relu", name=name
    )(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def vgg_trunk(x, stage_convs, widths, batch_norm=False):
    """VGG convolution stages (3×3 same conv + ReLU, 2×2/2 max-pool), keras.applications names
    (`block{s}_conv{i}`, `block{s}_pool`). Returns the pooled map of every stage."""
    if len(stage_convs) != len(widths):
        raise ValueError(f"stage_convs and widths need one entry per stage. Received: {stage_convs}, {widths}")
    pools = []
    for stage, (convs, filters) in enumerate(zip(stage_convs, widths), start=1):
        for index in range(1, convs + 1):
            x = vgg_conv(x, filters, f"block{stage}_conv{index}", batch_norm)
        x = keras.layers.MaxPooling2D(2, strides=2, name=f"block{stage}_pool")(x)
        pools.append(x)
    return pools


def _fully_convolutional_head(x, fc_units, fc_kernel, fc_padding, dropout, num_classes, score_name):
    """fc6 (k×k conv), fc7 (1×1 conv), each ReLU + dropout, then the 1×1 class score."""
    x = keras.layers.Conv2D(fc_units, fc_kernel, padding=fc_padding, activation="relu", name="fc6")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="fc6_dropout")(x)
    x = keras.layers.Conv2D(fc_units, 1, activation="relu", name="fc7")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="fc7_dropout")(x)
    return keras.layers.Conv2D(num_classes, 1, name=score_name)(x)


def _check_divisible(input_shape, stride, what):
    for side in tuple(input_shape)[:2]:
        if side is not None and side % stride:
            raise ValueError(f"{what} needs height and width divisible by its output stride {stride}. Received: input_shape={input_shape}")


# --- the convolutionalised classifier ------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class FCNHeatmap(ZooModel):
    """A VGG classifier with its FC layers as convolutions: any input size → class heat map.

    Args:
        input_shape: (height, width, channels); None sides for any size.
        num_classes: K (1000 for the ImageNet classifier).
        stage_convs, widths: the VGG trunk (VGG-16 by default).
        fc_units: channels of fc6/fc7 (4096).
        fc_kernel: fc6's kernel, the pool5 side the classifier was trained at (7 at 224×224).
        fc_padding: "valid" (the convolutionalised classifier: a window per output pixel) or "same"
            (map exactly H/stride, used with up-sampling).
        upsampling: None (the heat map) or "nearest" (each pixel expanded to its stride × stride block).
        dropout: after fc6 and fc7 (0.5).
    """

    def __init__(
        self,
        input_shape=(None, None, 3),
        num_classes=1000,
        stage_convs=VGG16_STAGE_CONVS,
        widths=VGG16_WIDTHS,
        fc_units=4096,
        fc_kernel=7,
        fc_padding="valid",
        upsampling=None,
        dropout=0.5,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if upsampling not in (None, "nearest"):
            raise ValueError(f"upsampling must be None or 'nearest'. Received: upsampling={upsampling!r}")
        if fc_padding not in ("valid", "same"):
            raise ValueError(f"fc_padding must be 'valid' or 'same'. Received: fc_padding={fc_padding!r}")
        stride = 2 ** len(stage_convs)
        if upsampling:
            _check_divisible(input_shape, stride, "Direct up-sampling")
        inputs, x = model_input(input_shape, preprocessing)
        x = vgg_trunk(x, stage_convs, widths)[-1]
        x = _fully_convolutional_head(x, fc_units, fc_kernel, fc_padding, dropout, num_classes, "score")
        if upsampling:
            # Nearest replication commutes with the softmax and the argmax: the label of each
            # heat-map pixel is assigned to its whole stride × stride block.
            x = keras.layers.UpSampling2D(stride, interpolation="nearest", name="direct_upsampling")(x)
        if classifier_activation:
            x = keras.layers.Activation(classifier_activation, dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=x, name=name or "fcn_heatmap", **kwargs)


def convolutionalise(classifier, fcn, dense_names=("fc1", "fc2", "predictions"), conv_names=("fc6", "fc7", "score")):
    """Copies a VGG classifier's weights into an `FCNHeatmap`: conv layers by name, and each Dense
    kernel [A, B] reshaped into the matching conv kernel [k, k, C, B] (A = k·k·C, the flattened
    pool5 in row-major order). Returns the names of the filled layers."""
    filled = []
    for layer in fcn.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.name.startswith("block"):
            layer.set_weights(classifier.get_layer(layer.name).get_weights())
            filled.append(layer.name)
    for dense_name, conv_name in zip(dense_names, conv_names):
        kernel, bias = classifier.get_layer(dense_name).get_weights()
        conv = fcn.get_layer(conv_name)
        shape = tuple(conv.kernel.shape)
        if int(np.prod(shape[:3])) != kernel.shape[0] or shape[3] != kernel.shape[1]:
            raise ValueError(f"Dense '{dense_name}' {kernel.shape} does not fit conv '{conv_name}' {shape}.")
        conv.set_weights([kernel.reshape(shape), bias])
        filled.append(conv_name)
    return filled


# --- FCN-32s / 16s / 8s --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class FCN(ZooModel):
    """FCN-32s, -16s or -8s on a VGG trunk.

    Args:
        input_shape: (height, width, channels), sides divisible by 32 (the reference nets pad
            instead; see the module docstring).
        num_classes: K (21 for PASCAL VOC).
        output_stride: 32, 16 or 8 (FCN-32s, 16s, 8s).
        stage_convs, widths, fc_units, fc_kernel, dropout: the convolutionalised VGG-16.
        batch_norm: BatchNormalization after every trunk convolution (not in the paper, whose VGG-16
            predates it; off by default, so the canonical nets and their counts are the paper's).
    """

    def __init__(
        self,
        input_shape=(512, 512, 3),
        num_classes=21,
        output_stride=32,
        stage_convs=VGG16_STAGE_CONVS,
        widths=VGG16_WIDTHS,
        fc_units=4096,
        fc_kernel=7,
        dropout=0.5,
        batch_norm=False,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if output_stride not in (32, 16, 8):
            raise ValueError(f"output_stride must be 32, 16 or 8. Received: output_stride={output_stride}")
        if len(stage_convs) != 5:
            raise ValueError(f"FCN needs the five VGG stages. Received: stage_convs={stage_convs}")
        _check_divisible(input_shape, 32, f"FCN-{output_stride}s")
        inputs, x = model_input(input_shape, preprocessing)
        _, _, pool3, pool4, pool5 = vgg_trunk(x, stage_convs, widths, batch_norm)
        score = _fully_convolutional_head(pool5, fc_units, fc_kernel, "same", dropout, num_classes, "score_fr")
        if output_stride <= 16:
            # The new skip score starts at zero, so the net starts as its coarser parent computes.
            score = learned_bilinear_upsampling(score, num_classes, 2, "upscore2")
            skip = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name="score_pool4")(pool4)
            score = keras.layers.Add(name="fuse_pool4")([score, skip])
        if output_stride == 8:
            score = learned_bilinear_upsampling(score, num_classes, 2, "upscore_pool4")
            skip = keras.layers.Conv2D(num_classes, 1, kernel_initializer="zeros", name="score_pool3")(pool3)
            score = keras.layers.Add(name="fuse_pool3")([score, skip])
        x = FixedBilinearUpsampling2D(output_stride, name=f"upscore{output_stride}")(score)
        if classifier_activation:
            x = keras.layers.Activation(classifier_activation, dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=x, name=name or f"fcn{output_stride}s", **kwargs)


def init_from_coarser(model, coarser):
    """Initialises FCN-16s from FCN-32s (or 8s from 16s): every layer with the same name and
    weight shapes is copied; the new skip score layers keep their zero initialisation, so the
    finer net starts from the coarser net's scores. Returns the copied layer names."""
    copied = []
    for layer in model.layers:
        try:
            source = coarser.get_layer(layer.name)
        except ValueError:
            continue
        mine, theirs = layer.get_weights(), source.get_weights()
        if mine and len(mine) == len(theirs) and all(a.shape == b.shape for a, b in zip(mine, theirs)):
            layer.set_weights(theirs)
            copied.append(layer.name)
    if not copied:
        raise ValueError(f"No layer of '{coarser.name}' matches '{model.name}' by name and shape.")
    return copied


# --- registration --------------------------------------------------------------------------------

_FCN_NOTES = (
    "fc6 is same-padded instead of the reference nets' 100-pixel input padding and final crop, so the output "
    "is exactly the input size for sides divisible by 32; parameter counts are unchanged. The final up-sampling "
    "is a fixed bilinear transposed convolution (a constant, not counted), the ×2 ones are learned from a "
    "bilinear initialisation. Staged training: init_from_coarser() or `deepzoo train fcn16s --init-from RUN`."
)

register(
    ModelSpec(
        name="fcn_heatmap",
        family="segmentation",
        task="segmentation",
        builder=FCNHeatmap,
        canonical_config=dict(input_shape=(None, None, 3), num_classes=1000),
        tiny_config=dict(
            input_shape=(32, 32, 3), num_classes=5, stage_convs=(1, 1, 1), widths=(4, 8, 16), fc_units=16, fc_kernel=2,
            dropout=0.0, preprocessing={"scale": 1.0 / 255.0},
        ),
        reference_params=VGG16_PARAMS,
        reference_source="K (keras.applications VGG16: convolutionalising changes no count)",
        paper="Long, Shelhamer & Darrell 2015, CVPR (§3.1)",
        seeds=("000", "001", "002", "003", "004"),
        default_dataset="shapes_masks",
        inputs=SEGMENTATION_INPUTS,
        outputs=SEGMENTATION_OUTPUTS,
        notes=(
            "The output is the coarse heat map ((H/32 − 6) × (W/32 − 6) for VGG-16), not an image-size map "
            "(002's 'same size as the input' holds only after up-sampling: see heatmap_direct_upsampling and fcn32s); "
            "the segmentation task centre-crops targets to it. convolutionalise() copies a trained VGG's Dense weights."
        ),
    )
)

register(
    ModelSpec(
        name="heatmap_direct_upsampling",
        family="segmentation",
        task="segmentation",
        builder=FCNHeatmap,
        canonical_config=dict(input_shape=(224, 224, 3), num_classes=21, fc_padding="same", upsampling="nearest"),
        tiny_config=dict(
            input_shape=(32, 32, 3), num_classes=5, stage_convs=(1, 1, 1), widths=(4, 8, 16), fc_units=16, fc_kernel=2,
            fc_padding="same", upsampling="nearest", dropout=0.0, preprocessing={"scale": 1.0 / 255.0},
        ),
        reference_params=FCN_PARAMS[32],
        reference_source="B (convolutionalised VGG-16 with a 21-class score, same as fcn32s; no paper count)",
        paper="Long, Shelhamer & Darrell 2015, CVPR (baseline)",
        seeds=("000", "001"),
        default_dataset="shapes_masks",
        inputs=SEGMENTATION_INPUTS,
        outputs=SEGMENTATION_OUTPUTS,
        notes="Nearest-neighbour up-sampling by the output stride: each heat-map label fills its f×f block.",
    )
)

for _stride, _seeds in ((32, ("000", "004")), (16, ("000", "004")), (8, ("000", "004"))):
    register(
        ModelSpec(
            name=f"fcn{_stride}s",
            family="segmentation",
            task="segmentation",
            builder=FCN,
            canonical_config=dict(input_shape=(512, 512, 3), num_classes=21, output_stride=_stride),
            tiny_config=dict(
                input_shape=(32, 32, 3), num_classes=5, output_stride=_stride, dropout=0.0,
                preprocessing={"scale": 1.0 / 255.0}, **TINY_TRUNK,
            ),
            reference_params=FCN_PAPER_PARAMS,
            reference_source=f"P (\"134M\", Table 1; our build {FCN_PARAMS[_stride]:,})",
            paper="Long, Shelhamer & Darrell 2015, CVPR",
            seeds=_seeds,
            default_dataset="shapes_masks",
            train_recipe=dict(optimizer="momentum", learning_rate=1e-4, momentum=0.99, batch_size=1),
            inputs=SEGMENTATION_INPUTS,
            outputs=SEGMENTATION_OUTPUTS,
            notes=_FCN_NOTES,
        )
    )
