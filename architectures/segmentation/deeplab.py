"""DeepLab-v1 LargeFOV: atrous convolution instead of down-sampling.

Reference: Chen, Papandreou, Kokkinos, Murphy & Yuille, "Semantic image segmentation with deep
convolutional nets and fully connected CRFs", ICLR 2015, §3.1 and §4 (DeepLab-LargeFOV).

VGG-16 whose pool4 and pool5 keep stride 1 (all pools are 3×3 with padding 1, as in the reference
model), so the output stride is 8; conv5 is dilated by 2 (the "hole" algorithm: a filter upsampled
by r sees an effective kernel of k + (k − 1)(r − 1) at the cost of k × k taps), fc6 is a 3×3
convolution with dilation 12 and 1024 channels (effective kernel 25, a large field of view with
few parameters), fc7 a 1×1 convolution with 1024 channels, dropout 0.5 after both, fc8 1×1 K.
Scores are up-sampled ×8 by bilinear interpolation (a fixed transposed convolution, no weights)
and cropped to the input. 20,505,429 parameters for K = 21 ("20.5M" in the paper).

The fully connected CRF post-processing (mean-field inference, non-trainable) is not part of the
model: its output is the DCNN score map. `tasks.segmentation.windowed_crf_mean_field` applies the
CRF's kernels within a window around each pixel (a ConvCRF-style approximation, not the paper's
permutohedral-lattice inference over all pixel pairs) to the probabilities, as evaluation
post-processing (the family benchmark's `--crf`).
"""

import keras

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from architectures.segmentation.fcn import (
    SEGMENTATION_INPUTS,
    SEGMENTATION_OUTPUTS,
    VGG16_STAGE_CONVS,
    VGG16_WIDTHS,
    vgg_conv,
)
from architectures.segmentation.layers import FixedBilinearUpsampling2D

# Per VGG stage: (pool stride, conv dilation), LargeFOV.
DEEPLAB_STAGES = ((2, 1), (2, 1), (2, 1), (1, 1), (1, 2))
DEEPLAB_PAPER_PARAMS = 20_500_000
OUTPUT_STRIDE = 8


@keras.saving.register_keras_serializable(package="deepzoo")
class DeepLabV1(ZooModel):
    """DeepLab-v1 (LargeFOV by default).

    Args:
        input_shape: (height, width, channels); 321×321 crops in the paper.
        num_classes: K (21).
        stage_convs, widths: the VGG-16 trunk.
        fc_units: fc6/fc7 width (1024 for LargeFOV).
        fc_kernel, fc_dilation: fc6's kernel and atrous rate (3 and 12 for LargeFOV).
        conv5_dilation: atrous rate of conv5 (2).
        dropout: after fc6 and fc7 (0.5).
        batch_norm: BatchNormalization after every trunk convolution (not in the paper; off by
            default, so the canonical net and its count are the paper's).
    """

    def __init__(
        self,
        input_shape=(321, 321, 3),
        num_classes=21,
        stage_convs=VGG16_STAGE_CONVS,
        widths=VGG16_WIDTHS,
        fc_units=1024,
        fc_kernel=3,
        fc_dilation=12,
        conv5_dilation=2,
        dropout=0.5,
        batch_norm=False,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if len(stage_convs) != 5:
            raise ValueError(f"DeepLab-v1 needs the five VGG stages. Received: stage_convs={stage_convs}")
        height, width = tuple(input_shape)[:2]
        inputs, x = model_input(input_shape, preprocessing)
        for stage, (convs, filters) in enumerate(zip(stage_convs, widths), start=1):
            stride = DEEPLAB_STAGES[stage - 1][0]
            dilation = conv5_dilation if stage == 5 else 1
            for index in range(1, convs + 1):
                x = vgg_conv(x, filters, f"block{stage}_conv{index}", batch_norm, dilation)
            x = keras.layers.MaxPooling2D(3, strides=stride, padding="same", name=f"block{stage}_pool")(x)
        x = keras.layers.Conv2D(fc_units, fc_kernel, padding="same", dilation_rate=fc_dilation, activation="relu", name="fc6")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="fc6_dropout")(x)
        x = keras.layers.Conv2D(fc_units, 1, activation="relu", name="fc7")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="fc7_dropout")(x)
        x = keras.layers.Conv2D(num_classes, 1, name="fc8")(x)
        x = FixedBilinearUpsampling2D(OUTPUT_STRIDE, name="upsample8")(x)
        if height is not None and width is not None:
            extra_h, extra_w = int(x.shape[1]) - height, int(x.shape[2]) - width
            if extra_h or extra_w:
                x = keras.layers.Cropping2D(((0, extra_h), (0, extra_w)), name="crop_to_input")(x)
        if classifier_activation:
            x = keras.layers.Activation(classifier_activation, dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=x, name=name or "deeplab_v1", **kwargs)


register(
    ModelSpec(
        name="deeplab_v1",
        family="segmentation",
        task="segmentation",
        builder=DeepLabV1,
        canonical_config=dict(input_shape=(321, 321, 3), num_classes=21),
        tiny_config=dict(
            input_shape=(32, 32, 3), num_classes=5, stage_convs=(1, 1, 1, 1, 1), widths=(4, 8, 8, 16, 16), fc_units=16,
            fc_dilation=2, dropout=0.0, preprocessing={"scale": 1.0 / 255.0},
        ),
        reference_params=DEEPLAB_PAPER_PARAMS,
        reference_source="P (20.5M, DeepLab-LargeFOV in the paper; our build 20,505,429)",
        paper="Chen, Papandreou, Kokkinos, Murphy & Yuille 2015, ICLR",
        seeds=("004", "000"),
        default_dataset="shapes_masks",
        train_recipe=dict(optimizer="momentum", learning_rate=1e-3, momentum=0.9, weight_decay=5e-4, batch_size=20),
        inputs=SEGMENTATION_INPUTS,
        outputs=SEGMENTATION_OUTPUTS,
        notes=(
            "The fully connected CRF is optional, non-trainable post-processing and not part of the model: its "
            "output is the DCNN score map up-sampled ×8; tasks.segmentation.windowed_crf_mean_field is a windowed "
            "(ConvCRF-style) approximation of the CRF for evaluation. The tiny config dilates fc6 by 2 (its map is 4×4)."
        ),
    )
)
