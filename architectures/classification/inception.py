"""Inception-v3, Inception-v4 and Inception-ResNet-v2.

References:
- Szegedy, Vanhoucke, Ioffe, Shlens & Wojna, "Rethinking the Inception architecture for computer
  vision", CVPR 2016 (Inception-v3): 5×5 → two 3×3, n×n → 1×n then n×1, grid reductions with
  parallel stride-2 branches, a BN auxiliary head, label smoothing 0.1, RMSProp (ρ 0.9, ε 1.0).
  23,851,784 parameters (keras.applications InceptionV3; ≈23.9 M, not the notes' "7 million",
  spec §9 #42).
- Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet and the impact of residual
  connections on learning", AAAI 2017: Inception-v4 (stem → 4×A → Reduction-A → 7×B → Reduction-B
  → 3×C; ≈42.7 M) and Inception-ResNet-v2 (residual A/B/C blocks with a linear 1×1 up-projection
  and residual scaling 0.17 / 0.1 / 0.2; 55,873,736 in keras.applications).

Every conv is conv (no bias) → BN without γ → ReLU, as in the reference implementations (TF-slim,
keras.applications), whose parameter counts and layer order these builds reproduce: InceptionV3 and
InceptionResNetV2 match keras.applications layer for layer (tests/test_classification_b1.py).

Modules are data: a module is a tuple of branches concatenated on channels; a branch is a sequence
of ops applied in turn: `("conv", filters, kernel, stride, padding)`, `("avg" | "max", pool, stride,
padding)` or `("split", ((filters, kernel), ...))`, parallel convs on the same tensor, concatenated
(the expanded filter banks of v3's 8×8 modules).
"""

import keras

from architectures.base import ZooModel
from architectures.layers.conv import scaled_width
from architectures.layers.inception import (
    AuxiliaryOutputsModel,
    ScaledResidual,
    conv_bn,
)
from architectures.layers.heads import classifier_head, record_pyramid
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register


def _conv(filters, kernel, stride=1, padding="same"):
    return ("conv", filters, kernel, stride, padding)


_AVG = ("avg", 3, 1, "same")
_MAX = ("max", 3, 2, "valid")


def _split(filters):
    return ("split", ((filters, (1, 3)), (filters, (3, 1))))


# --- Inception-v3 (35×35 A, 17×17 B, 8×8 C modules and two grid reductions) ------------------

V3_STEM = (
    _conv(32, 3, 2, "valid"),
    _conv(32, 3, 1, "valid"),
    _conv(64, 3),
    _MAX,
    _conv(80, 1, 1, "valid"),
    _conv(192, 3, 1, "valid"),
    _MAX,
)


def _v3_a(pool_proj):
    return (
        (_conv(64, 1),),
        (_conv(48, 1), _conv(64, 5)),
        (_conv(64, 1), _conv(96, 3), _conv(96, 3)),
        (_AVG, _conv(pool_proj, 1)),
    )


def _v3_b(inner):
    return (
        (_conv(192, 1),),
        (_conv(inner, 1), _conv(inner, (1, 7)), _conv(192, (7, 1))),
        (_conv(inner, 1), _conv(inner, (7, 1)), _conv(inner, (1, 7)), _conv(inner, (7, 1)), _conv(192, (1, 7))),
        (_AVG, _conv(192, 1)),
    )


_V3_C = (
    (_conv(320, 1),),
    (_conv(384, 1), _split(384)),
    (_conv(448, 1), _conv(384, 3), _split(384)),
    (_AVG, _conv(192, 1)),
)

# Grid stages: three 35×35 A modules, a reduction, four 17×17 B modules, a reduction, two 8×8 C
# modules (keras.applications names mixed0 … mixed10).
INCEPTION_V3_STAGES = (
    (("mixed0", _v3_a(32)), ("mixed1", _v3_a(64)), ("mixed2", _v3_a(64))),
    (("mixed3", ((_conv(384, 3, 2, "valid"),), (_conv(64, 1), _conv(96, 3), _conv(96, 3, 2, "valid")), (_MAX,))),),
    (("mixed4", _v3_b(128)), ("mixed5", _v3_b(160)), ("mixed6", _v3_b(160)), ("mixed7", _v3_b(192))),
    (
        (
            "mixed8",
            (
                (_conv(192, 1), _conv(320, 3, 2, "valid")),
                (_conv(192, 1), _conv(192, (1, 7)), _conv(192, (7, 1)), _conv(192, 3, 2, "valid")),
                (_MAX,),
            ),
        ),
    ),
    (("mixed9", _V3_C), ("mixed10", _V3_C)),
)
INCEPTION_V3_BLOCKS = (3, 4, 2)

# --- Inception-v4 ---------------------------------------------------------------------------

V4_STEM_CONVS = (_conv(32, 3, 2, "valid"), _conv(32, 3, 1, "valid"), _conv(64, 3))
V4_STEM_MODULES = (
    ("mixed_3a", ((_MAX,), (_conv(96, 3, 2, "valid"),))),
    (
        "mixed_4a",
        (
            (_conv(64, 1), _conv(96, 3, 1, "valid")),
            (_conv(64, 1), _conv(64, (1, 7)), _conv(64, (7, 1)), _conv(96, 3, 1, "valid")),
        ),
    ),
    ("mixed_5a", ((_conv(192, 3, 2, "valid"),), (_MAX,))),
)
V4_BLOCK_A = (
    (_conv(96, 1),),
    (_conv(64, 1), _conv(96, 3)),
    (_conv(64, 1), _conv(96, 3), _conv(96, 3)),
    (_AVG, _conv(96, 1)),
)
V4_REDUCTION_A = ((_conv(384, 3, 2, "valid"),), (_conv(192, 1), _conv(224, 3), _conv(256, 3, 2, "valid")), (_MAX,))
V4_BLOCK_B = (
    (_conv(384, 1),),
    (_conv(192, 1), _conv(224, (1, 7)), _conv(256, (7, 1))),
    (_conv(192, 1), _conv(192, (7, 1)), _conv(224, (1, 7)), _conv(224, (7, 1)), _conv(256, (1, 7))),
    (_AVG, _conv(128, 1)),
)
V4_REDUCTION_B = (
    (_conv(192, 1), _conv(192, 3, 2, "valid")),
    (_conv(256, 1), _conv(256, (1, 7)), _conv(320, (7, 1)), _conv(320, 3, 2, "valid")),
    (_MAX,),
)
V4_BLOCK_C = (
    (_conv(256, 1),),
    (_conv(384, 1), _split(256)),
    (_conv(384, 1), _conv(448, (3, 1)), _conv(512, (1, 3)), _split(256)),
    (_AVG, _conv(256, 1)),
)

# --- Inception-ResNet-v2 --------------------------------------------------------------------

IRV2_MIXED_5B = (
    (_conv(96, 1),),
    (_conv(48, 1), _conv(64, 5)),
    (_conv(64, 1), _conv(96, 3), _conv(96, 3)),
    (_AVG, _conv(64, 1)),
)
IRV2_MIXED_6A = ((_conv(384, 3, 2, "valid"),), (_conv(256, 1), _conv(256, 3), _conv(384, 3, 2, "valid")), (_MAX,))
IRV2_MIXED_7A = (
    (_conv(256, 1), _conv(384, 3, 2, "valid")),
    (_conv(256, 1), _conv(288, 3, 2, "valid")),
    (_conv(256, 1), _conv(288, 3), _conv(320, 3, 2, "valid")),
    (_MAX,),
)
# Residual blocks: (name, residual scale, branches); the branches' concatenation is projected
# back to the input width by a linear 1×1 conv with bias, scaled and added to the input.
IRV2_BLOCKS = (
    ("block35", 0.17, ((_conv(32, 1),), (_conv(32, 1), _conv(32, 3)), (_conv(32, 1), _conv(48, 3), _conv(64, 3)))),
    ("block17", 0.10, ((_conv(192, 1),), (_conv(128, 1), _conv(160, (1, 7)), _conv(192, (7, 1))))),
    ("block8", 0.20, ((_conv(192, 1),), (_conv(192, 1), _conv(224, (1, 3)), _conv(256, (3, 1))))),
)


# --- blocks ---------------------------------------------------------------------------------


def _apply_op(x, op, width, name):
    kind = op[0]
    if kind == "conv":
        _, filters, kernel, stride, padding = op
        return conv_bn(x, width(filters), kernel, strides=stride, padding=padding, name=name)
    if kind in ("avg", "max"):
        _, pool, stride, padding = op
        layer = keras.layers.AveragePooling2D if kind == "avg" else keras.layers.MaxPooling2D
        return layer(pool, strides=stride, padding=padding, name=f"{name}_{kind}pool")(x)
    if kind == "split":
        parts = [
            conv_bn(x, width(filters), kernel, name=f"{name}_{index}") for index, (filters, kernel) in enumerate(op[1])
        ]
        return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")(parts)
    raise ValueError(f"Unknown inception op {op!r}.")


def _apply_sequence(x, ops, width, name):
    for index, op in enumerate(ops):
        x = _apply_op(x, op, width, f"{name}_{index}")
    return x


def _module(x, branches, width, name):
    """Parallel branches on `x`, concatenated on channels (layer `name`)."""
    outputs = [_apply_sequence(x, branch, width, f"{name}_b{index}") for index, branch in enumerate(branches)]
    return keras.layers.Concatenate(axis=-1, name=name)(outputs)


def _residual_block(x, branches, scale, width, activation, name):
    mixed = _module(x, branches, width, f"{name}_mixed")
    up = keras.layers.Conv2D(x.shape[-1], 1, use_bias=True, name=f"{name}_conv")(mixed)
    x = ScaledResidual(scale, name=name)([x, up])
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_ac")(x)
    return x


def _v3_auxiliary_head(x, num_classes, width, classifier_activation):
    """Inception-v3 auxiliary classifier on the 17×17 grid: avg-pool 5×5/3 → 1×1 conv 128 → 5×5
    conv 768 (valid) → FC, with BN after both convs (the "BN auxiliary" of the paper)."""
    pool = min(5, int(x.shape[1]))
    x = keras.layers.AveragePooling2D(pool, strides=3 if pool == 5 else pool, name="aux_pool")(x)
    x = conv_bn(x, width(128), 1, name="aux_conv0")
    x = conv_bn(x, width(768), min(5, int(x.shape[1])), padding="valid", name="aux_conv1")
    x = keras.layers.Flatten(name="aux_flatten")(x)
    return keras.layers.Dense(num_classes, activation=classifier_activation, name="aux_predictions")(x)


def _widths(multiplier):
    return lambda filters: scaled_width(filters, multiplier)


def _input_size(input_shape, preprocessing):
    return ((preprocessing or {}).get("resize") or input_shape)[0]


# --- models ---------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class InceptionV3(AuxiliaryOutputsModel):
    """Inception-v3.

    Args:
        input_shape: (height, width, channels); 299×299×3 canonical, at least 75×75.
        num_classes, include_top, pooling, classifier_activation, preprocessing: as every backbone.
        aux_heads: add the BN auxiliary classifier after mixed7 (a training-only output weighted by
            `aux_loss_weight`; 0.4 in the TF-slim reference). keras.applications has none, and the
            reference count (23,851,784) excludes it.
        blocks: (#A, #B, #C) modules, at most (3, 4, 2), the paper's; the first ones of each grid
            are kept (tiny configs).
        width_multiplier: scales every conv width (tiny configs).
        dropout: dropout before the classifier (TF-slim keeps 0.8, i.e. drops 0.2).
    """

    def __init__(
        self,
        input_shape=(299, 299, 3),
        num_classes=1000,
        include_top=True,
        pooling=None,
        aux_heads=False,
        aux_loss_weight=0.4,
        blocks=INCEPTION_V3_BLOCKS,
        width_multiplier=1.0,
        dropout=0.2,
        preprocessing=None,
        classifier_activation="softmax",
        name="inception_v3",
        **kwargs,
    ):
        if len(blocks) != 3 or not all(1 <= b <= m for b, m in zip(blocks, INCEPTION_V3_BLOCKS)):
            raise ValueError(
                f"blocks must give (#A, #B, #C) between 1 and {INCEPTION_V3_BLOCKS}. Received: blocks={blocks}"
            )
        width = _widths(width_multiplier)
        inputs, x = model_input(input_shape, preprocessing)
        x = _apply_sequence(x, V3_STEM, width, "stem")
        repeats = (blocks[0], 1, blocks[1], 1, blocks[2])
        auxiliary = []
        for stage, (modules, count) in enumerate(zip(INCEPTION_V3_STAGES, repeats)):
            for module_name, branches in modules[:count]:
                x = _module(x, branches, width, module_name)
            if aux_heads and include_top and stage == 2:  # after the last 17×17 module (mixed7)
                auxiliary.append(_v3_auxiliary_head(x, num_classes, width, classifier_activation))
        outputs = classifier_head(x, num_classes, include_top, pooling, dropout, classifier_activation)
        super().__init__(inputs=inputs, outputs=[outputs, *auxiliary] if auxiliary else outputs, name=name, **kwargs)
        self.aux_loss_weight = float(aux_loss_weight)
        record_pyramid(self, _input_size(input_shape, preprocessing))


@keras.saving.register_keras_serializable(package="deepzoo")
class InceptionV4(ZooModel):
    """Inception-v4.

    Args:
        blocks: (#Inception-A, #Inception-B, #Inception-C); (4, 7, 3) in the paper.
        dropout: before the classifier (keep probability 0.8 in the paper).
        Others: as `InceptionV3`.
    """

    def __init__(
        self,
        input_shape=(299, 299, 3),
        num_classes=1000,
        include_top=True,
        pooling=None,
        blocks=(4, 7, 3),
        width_multiplier=1.0,
        dropout=0.2,
        preprocessing=None,
        classifier_activation="softmax",
        name="inception_v4",
        **kwargs,
    ):
        if len(blocks) != 3:
            raise ValueError(f"blocks must give (#A, #B, #C). Received: blocks={blocks}")
        width = _widths(width_multiplier)
        inputs, x = model_input(input_shape, preprocessing)
        x = _apply_sequence(x, V4_STEM_CONVS, width, "stem")
        for module_name, branches in V4_STEM_MODULES:
            x = _module(x, branches, width, module_name)
        stages = (
            (V4_BLOCK_A, "inception_a", V4_REDUCTION_A, "reduction_a"),
            (V4_BLOCK_B, "inception_b", V4_REDUCTION_B, "reduction_b"),
            (V4_BLOCK_C, "inception_c", None, None),
        )
        for repeats, (block, block_name, reduction, reduction_name) in zip(blocks, stages):
            for index in range(repeats):
                x = _module(x, block, width, f"{block_name}{index + 1}")
            if reduction is not None:
                x = _module(x, reduction, width, reduction_name)
        outputs = classifier_head(x, num_classes, include_top, pooling, dropout, classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        record_pyramid(self, _input_size(input_shape, preprocessing))


@keras.saving.register_keras_serializable(package="deepzoo")
class InceptionResNetV2(ZooModel):
    """Inception-ResNet-v2.

    Args:
        blocks: (#block35, #block17, #block8); (10, 20, 10) in the paper. The last block8 has
            scale 1.0 and no activation, as in the reference implementations.
        dropout: before the classifier (0 in keras.applications; keep 0.8 in the paper).
        Others: as `InceptionV3`.
    """

    def __init__(
        self,
        input_shape=(299, 299, 3),
        num_classes=1000,
        include_top=True,
        pooling=None,
        blocks=(10, 20, 10),
        width_multiplier=1.0,
        dropout=0.2,
        preprocessing=None,
        classifier_activation="softmax",
        name="inception_resnet_v2",
        **kwargs,
    ):
        if len(blocks) != 3 or min(blocks) < 1:
            raise ValueError(f"blocks must give three positive repeat counts. Received: blocks={blocks}")
        width = _widths(width_multiplier)
        inputs, x = model_input(input_shape, preprocessing)
        x = _apply_sequence(x, V3_STEM, width, "stem")
        x = _module(x, IRV2_MIXED_5B, width, "mixed_5b")
        reductions = (IRV2_MIXED_6A, IRV2_MIXED_7A, None)
        reduction_names = ("mixed_6a", "mixed_7a", None)
        for stage, (repeats, (block_name, scale, branches)) in enumerate(zip(blocks, IRV2_BLOCKS)):
            for index in range(1, repeats + 1):
                last = stage == 2 and index == repeats
                x = _residual_block(
                    x, branches, 1.0 if last else scale, width, None if last else "relu", f"{block_name}_{index}"
                )
            if reductions[stage] is not None:
                x = _module(x, reductions[stage], width, reduction_names[stage])
        x = conv_bn(x, width(1536), 1, name="conv_7b")
        outputs = classifier_head(x, num_classes, include_top, pooling, dropout, classifier_activation)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        record_pyramid(self, _input_size(input_shape, preprocessing))


_INCEPTION_RECIPE = dict(
    optimizer="rmsprop",  # ρ = 0.9 (the default) and ε = 1.0 in the papers
    optimizer_options=dict(epsilon=1.0),
    learning_rate=0.045,
    weight_decay=4e-5,
    batch_size=32,
    schedule="exponential",
    schedule_kwargs=dict(decay_rate=0.94, decay_epochs=2),
    epochs=100,
    label_smoothing=0.1,
)

register(
    ModelSpec(
        name="inception_v3",
        family="classification",
        task="classification",
        builder=InceptionV3,
        canonical_config=dict(input_shape=(299, 299, 3), num_classes=1000),
        tiny_config=dict(input_shape=(75, 75, 3), num_classes=4, width_multiplier=0.0625, blocks=(1, 1, 1)),
        reference_params=23_851_784,
        reference_source="K (keras.applications InceptionV3, no auxiliary head)",
        paper="Szegedy et al. 2016, CVPR, 'Rethinking the Inception architecture for computer vision'",
        seeds=("004",),
        default_dataset="shapes10",
        train_recipe=dict(_INCEPTION_RECIPE),
        notes=(
            "Same network as keras.applications.InceptionV3 layer for layer (plus a dropout before the "
            "classifier). The BN auxiliary head is the option aux_heads=True (training-only output). "
            "RMSProp ε = 1.0 is not a TrainConfig field; pipelines' RMSprop uses Keras' default ε."
        ),
    )
)

register(
    ModelSpec(
        name="inception_v4",
        family="classification",
        task="classification",
        builder=InceptionV4,
        canonical_config=dict(input_shape=(299, 299, 3), num_classes=1000),
        tiny_config=dict(input_shape=(75, 75, 3), num_classes=4, width_multiplier=0.0625, blocks=(1, 1, 1)),
        reference_params=42_679_816,
        reference_source="P (reference implementation: pytorchcv inceptionv4, trainable; BN without γ here)",
        paper="Szegedy, Ioffe, Vanhoucke & Alemi 2017, AAAI",
        seeds=("004",),
        default_dataset="shapes10",
        train_recipe=dict(_INCEPTION_RECIPE),
        notes="BN without γ (TF-slim convention); the count differs from the PyTorch reference by the BN statistics.",
    )
)

register(
    ModelSpec(
        name="inception_resnet_v2",
        family="classification",
        task="classification",
        builder=InceptionResNetV2,
        canonical_config=dict(input_shape=(299, 299, 3), num_classes=1000),
        tiny_config=dict(input_shape=(75, 75, 3), num_classes=4, width_multiplier=0.0625, blocks=(1, 1, 1)),
        reference_params=55_873_736,
        reference_source="K (keras.applications InceptionResNetV2)",
        paper="Szegedy, Ioffe, Vanhoucke & Alemi 2017, AAAI",
        seeds=("004",),
        default_dataset="shapes10",
        train_recipe=dict(_INCEPTION_RECIPE),
        notes="Same network as keras.applications.InceptionResNetV2 layer for layer (plus a dropout before the classifier).",
    )
)
