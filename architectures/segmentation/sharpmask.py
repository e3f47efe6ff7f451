"""SharpMask: top-down refinement of a DeepMask trunk.

Reference: Pinheiro, Lin, Collobert & Dollár, "Learning to refine object segments", ECCV 2016
(and DeepMask: Pinheiro, Collobert & Dollár, "Learning to segment object candidates", NIPS 2015).

The bottom-up trunk is DeepMask's: VGG-A's eight 3×3 convolutions with its last max-pool and the
FC layers removed (stride 16, 512 channels). A 3×3 convolution turns the trunk output into the
coarse mask encoding M¹ (k_m¹ channels). Each refinement module Rⁱ takes the top-down map Mⁱ and
the bottom-up features Fⁱ of the same resolution: Sⁱ = ReLU(conv3×3(Fⁱ), k_sⁱ channels), then
Mⁱ⁺¹ = up×2(ReLU(conv3×3(concat(Mⁱ, Sⁱ)), k_mⁱ⁺¹ channels)), bilinear ×2. (§3.2 notes that the
concatenation followed by a convolution equals the sum of two convolutions, the spec's "3×3 convs
on each, sum".) Four modules bring the stride from 16 to 1; a 3×3 convolution gives the mask
scores (one binary mask in the paper; K classes with a per-pixel softmax here).

The paper's final trunk is a ResNet-50 at 160×160 with a 512-d mask encoding; we build the
original DeepMask VGG trunk (source B: the paper prints no count for this configuration).
"""

import keras

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register
from architectures.segmentation.fcn import SEGMENTATION_INPUTS, SEGMENTATION_OUTPUTS
from architectures.segmentation.layers import FixedBilinearUpsampling2D

# VGG-A (configuration A) without pool5: convs per stage and widths.
DEEPMASK_STAGE_CONVS = (1, 1, 2, 2, 2)
DEEPMASK_WIDTHS = (64, 128, 256, 512, 512)
# (k_m, k_s) of the refinement modules, coarse to fine.
SHARPMASK_REFINEMENT = ((32, 32), (16, 16), (8, 8), (4, 4))


def _conv_relu(x, filters, name):
    return keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)


@keras.saving.register_keras_serializable(package="deepzoo")
class SharpMask(ZooModel):
    """DeepMask trunk + SharpMask refinement modules.

    Args:
        input_shape: (height, width, channels), sides divisible by 16 (160×160 in the paper).
        num_classes: K mask classes (2 = object / background).
        stage_convs, widths: the trunk (VGG-A without pool5; the last stage is not pooled).
        refinement: ((k_m, k_s), ...) per refinement module, coarse to fine; one module per pool.
    """

    def __init__(
        self,
        input_shape=(160, 160, 3),
        num_classes=2,
        stage_convs=DEEPMASK_STAGE_CONVS,
        widths=DEEPMASK_WIDTHS,
        refinement=SHARPMASK_REFINEMENT,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        pools = len(stage_convs) - 1
        if len(refinement) != pools:
            raise ValueError(f"SharpMask needs one refinement module per pooling ({pools}). Received: refinement={refinement}")
        for side in tuple(input_shape)[:2]:
            if side is None or side % 2**pools:
                raise ValueError(f"SharpMask needs static sides divisible by {2**pools}. Received: input_shape={input_shape}")
        inputs, x = model_input(input_shape, preprocessing)
        features = []
        for stage, (convs, filters) in enumerate(zip(stage_convs, widths), start=1):
            for index in range(1, convs + 1):
                x = _conv_relu(x, filters, f"block{stage}_conv{index}")
            features.append(x)
            if stage <= pools:
                x = keras.layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
        x = _conv_relu(x, refinement[0][0], "mask_encoding")  # M¹ at stride 2^pools
        for module, (k_m, k_s) in enumerate(refinement, start=1):
            skip = _conv_relu(features[-module], k_s, f"refine{module}_skip")
            x = keras.layers.Concatenate(name=f"refine{module}_concat")([x, skip])
            next_k_m = refinement[module][0] if module < len(refinement) else k_m
            x = _conv_relu(x, next_k_m, f"refine{module}_merge")
            x = FixedBilinearUpsampling2D(2, name=f"refine{module}_upsample")(x)
        x = keras.layers.Conv2D(num_classes, 3, padding="same", name="mask_score")(x)
        if classifier_activation:
            x = keras.layers.Activation(classifier_activation, dtype="float32", name="probabilities")(x)
        super().__init__(inputs=inputs, outputs=x, name=name or "sharpmask", **kwargs)


register(
    ModelSpec(
        name="sharpmask",
        family="segmentation",
        task="segmentation",
        builder=SharpMask,
        canonical_config=dict(input_shape=(160, 160, 3), num_classes=2),
        tiny_config=dict(
            input_shape=(32, 32, 3), num_classes=5, stage_convs=(1, 1, 1), widths=(4, 8, 16), refinement=((8, 4), (4, 4)),
            preprocessing={"scale": 1.0 / 255.0},
        ),
        reference_params=9_624_742,
        reference_source="B (DeepMask VGG-A trunk + four refinement modules, our build; no paper count)",
        paper="Pinheiro, Lin, Collobert & Dollár 2016, ECCV",
        seeds=("004",),
        default_dataset="shapes_masks",
        inputs=SEGMENTATION_INPUTS,
        outputs=SEGMENTATION_OUTPUTS,
        notes=(
            "Built on the original DeepMask VGG-A trunk instead of the paper's final ResNet-50; the DeepMask "
            "object score head and the proposal sampling over scales are not built: the model maps an image "
            "(an object-centred window in the paper) to a refined per-pixel mask."
        ),
    )
)
