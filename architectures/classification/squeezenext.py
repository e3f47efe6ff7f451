"""SqueezeNext.

Reference: Gholami, Kwon, Wu, Tai, Yue, Jin, Zhao & Keutzer, "SqueezeNext: hardware-aware neural
network design", CVPR workshops 2018 (arXiv 1803.10615). The block squeezes twice with 1×1 convs,
factorises the 3×3 conv into 3×1 then 1×3 (low-rank filters: the notes' "linear approximation of
128 feature maps using 16 independent feature maps"), expands with a 1×1 conv and adds a residual:

    1×1 (C/2) → 1×1 (C/4) → 3×1 (C/2) → 1×3 (C/2) → 1×1 (C), each conv + BN + ReLU.

Where the block changes shape the shortcut is a 1×1 conv-BN-ReLU and the first squeeze uses the
full input width (stride-2 blocks) or a quarter of it (blocks that reduce the width), as in the
reference implementation (pytorchcv `squeezenext`, whose 1.0-SqNxt-23 has 724,056 trainable
parameters). 1.0-SqNxt-23: conv 7×7/2 64 → max-pool 3/2 → stages of [6, 6, 8, 1] blocks with 32,
64, 128, 256 channels (stride 2 at the start of stages 2–4) → 1×1 conv 128 → GAP → FC.
"""

import keras

from architectures.base import ZooModel
from architectures.layers.conv import conv_bn_act
from architectures.layers.heads import classifier_head, record_pyramid
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

SQUEEZENEXT_WIDTHS = (32, 64, 128, 256)
SQUEEZENEXT_DEPTHS = {"23": (6, 6, 8, 1), "23v5": (2, 4, 14, 1)}
STEM_CHANNELS = 64
FINAL_CHANNELS = 128


def _unit(x, filters, stride, name):
    """One SqueezeNext block; conv biases on, as in the reference implementation."""
    in_channels = x.shape[-1]
    if stride != 1:
        reduction, project = 1, True
    elif in_channels > filters:
        reduction, project = 4, True
    else:
        reduction, project = 2, in_channels != filters
    common = dict(use_bias=True, bn_epsilon=1e-5, bn_momentum=0.9)
    shortcut = conv_bn_act(x, filters, 1, strides=stride, name=f"{name}_shortcut", **common) if project else x
    y = conv_bn_act(x, in_channels // reduction, 1, strides=stride, name=f"{name}_squeeze1", **common)
    y = conv_bn_act(y, in_channels // (2 * reduction), 1, name=f"{name}_squeeze2", **common)
    y = conv_bn_act(y, in_channels // reduction, (3, 1), name=f"{name}_conv3x1", **common)
    y = conv_bn_act(y, in_channels // reduction, (1, 3), name=f"{name}_conv1x3", **common)
    y = conv_bn_act(y, filters, 1, name=f"{name}_expand", **common)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


@keras.saving.register_keras_serializable(package="deepzoo")
class SqueezeNext(ZooModel):
    """SqueezeNext, `width_multiplier`-SqNxt-`version`.

    Args:
        version: "23" (blocks [6, 6, 8, 1]) or "23v5" ([2, 4, 14, 1]); ignored when `blocks` is given.
        blocks: explicit blocks per stage (4 stages), e.g. for tiny configs.
        width_multiplier: the paper's width scale (1.0, 1.5, 2.0).
        input_shape, num_classes, include_top, pooling, preprocessing, classifier_activation: as
            every backbone.
    """

    def __init__(
        self,
        version="23",
        blocks=None,
        width_multiplier=1.0,
        input_shape=(224, 224, 3),
        num_classes=1000,
        include_top=True,
        pooling=None,
        preprocessing=None,
        classifier_activation="softmax",
        name="squeezenext",
        **kwargs,
    ):
        if blocks is None:
            if version not in SQUEEZENEXT_DEPTHS:
                raise ValueError(f"version must be one of {sorted(SQUEEZENEXT_DEPTHS)}. Received: version={version!r}")
            blocks = SQUEEZENEXT_DEPTHS[version]
        if len(blocks) != len(SQUEEZENEXT_WIDTHS):
            raise ValueError(f"blocks must give {len(SQUEEZENEXT_WIDTHS)} stages. Received: blocks={blocks}")

        def width(channels):  # the reference truncates, int(c · scale)
            return max(1, int(channels * width_multiplier))

        common = dict(use_bias=True, bn_epsilon=1e-5, bn_momentum=0.9)
        inputs, x = model_input(input_shape, preprocessing)
        x = keras.layers.ZeroPadding2D(1, name="stem_pad")(x)
        x = conv_bn_act(x, width(STEM_CHANNELS), 7, strides=2, padding="valid", name="stem", **common)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
        for stage, (repeats, filters) in enumerate(zip(blocks, SQUEEZENEXT_WIDTHS), start=1):
            for index in range(1, repeats + 1):
                stride = 2 if index == 1 and stage > 1 else 1
                x = _unit(x, width(filters), stride, name=f"stage{stage}_unit{index}")
        x = conv_bn_act(x, width(FINAL_CHANNELS), 1, name="final", **common)
        outputs = classifier_head(x, num_classes, include_top, pooling, 0.0, classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        record_pyramid(self, ((preprocessing or {}).get("resize") or input_shape)[0])


# pytorchcv's 724,056 counts trainable parameters; Keras also counts the BN moving statistics
# (2 × 5,776 BN channels), so the registered reference is 724,056 + 11,552 (the trainable count is
# checked exactly in tests/test_classification_b1.py).
SQNXT23_TRAINABLE = 724_056
SQNXT23_BN_STATISTICS = 11_552

register(
    ModelSpec(
        name="squeezenext",
        family="classification",
        task="classification",
        builder=SqueezeNext,
        canonical_config=dict(version="23", width_multiplier=1.0, input_shape=(224, 224, 3), num_classes=1000),
        tiny_config=dict(blocks=(1, 1, 1, 1), width_multiplier=0.25, input_shape=(64, 64, 3), num_classes=4),
        reference_params=SQNXT23_TRAINABLE + SQNXT23_BN_STATISTICS,
        reference_source="P (reference implementation pytorchcv sqnxt23_w1: 724,056 trainable + BN moving statistics)",
        paper="Gholami et al. 2018, CVPR workshops, 'SqueezeNext: hardware-aware neural network design'",
        seeds=("004",),
        default_dataset="shapes10",
        train_recipe=dict(
            optimizer="momentum",
            learning_rate=0.1,
            momentum=0.9,
            weight_decay=1e-4,
            batch_size=256,
            schedule="linear",  # the paper: linear decay after a warm-up
            epochs=120,
            label_smoothing=0.0,
        ),
        notes="Canonical = 1.0-SqNxt-23. The spec's 4.4 M figure is for a deeper/wider variant that the row does not name.",
    )
)
