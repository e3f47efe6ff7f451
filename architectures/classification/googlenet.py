"""GoogLeNet (Inception v1) with its two auxiliary classifiers.

Reference: Szegedy, Liu, Jia, Sermanet, Reed, Anguelov, Erhan, Vanhoucke & Rabinovich, "Going
deeper with convolutions", CVPR 2015, Table 1: conv 7×7/2 64 → max-pool 3/2 → LRN → conv 1×1 64 →
conv 3×3 192 → LRN → max-pool 3/2 → 3a, 3b → max-pool → 4a–4e → max-pool → 5a, 5b → avg-pool 7×7 →
dropout 0.4 → FC 1000. 22 weight layers (27 with pooling), 9 inception modules (spec §9 #1); the
large branch is 5×5 (§9 #2) and the pool branch is a 3×3/1 max-pool (§9 #3).

Auxiliary heads after 4a and 4d (avg-pool 5×5/3 → 1×1 conv 128 → FC 1024 → dropout 0.7 → FC 1000)
add 0.3 × their loss during training and are discarded at inference: `aux_heads=True` puts them in
the training graph only (see `AuxiliaryOutputsModel`), so `model(x)`, `predict` and every export
give the single main output. Parameters: 6,998,552 without and 13,378,280 with the heads (no BN).
"""

import keras

from architectures.layers.conv import scaled_width
from architectures.layers.inception import (
    AuxiliaryOutputsModel,
    auxiliary_classifier,
    inception_module,
)
from architectures.layers.lrn import LocalResponseNormalization
from architectures.layers.heads import classifier_head, record_pyramid
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

# Table 1: module name → (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj); "pool" is a
# 3×3/2 max-pool between stages.
GOOGLENET_MODULES = (
    ("3a", (64, 96, 128, 16, 32, 32)),
    ("3b", (128, 128, 192, 32, 96, 64)),
    "pool",
    ("4a", (192, 96, 208, 16, 48, 64)),
    ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)),
    "pool",
    ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
)
AUXILIARY_AFTER = ("4a", "4d")


@keras.saving.register_keras_serializable(package="deepzoo")
class GoogLeNet(AuxiliaryOutputsModel):
    """GoogLeNet / Inception v1.

    Args:
        input_shape: (height, width, channels); 224×224×3 in the paper.
        num_classes: classes of the main (and auxiliary) classifiers.
        include_top: whether to end with avg-pool → dropout → FC; otherwise the 5b feature map,
            pooled according to `pooling`.
        pooling: None, "avg" or "max" when `include_top=False`.
        aux_heads: add the two auxiliary classifiers (training-only outputs, loss weight
            `aux_loss_weight`). Ignored when `include_top=False`.
        aux_loss_weight: weight of each auxiliary loss (0.3 in the paper).
        lrn: keep the two local response normalisation layers of the stem.
        kernel_initializer: initializer of every conv/FC kernel. "he_uniform" by default: without
            BN, Glorot scaling lets the ReLU activations vanish through the 22 layers (the Caffe
            reference offsets this with constant 0.2 biases).
        width_multiplier: scales every conv and FC width (tiny configs).
        dropout: dropout before the main classifier (0.4 in the paper).
        preprocessing: deterministic input preprocessing (see `model_input`).
        classifier_activation: "softmax" or None (logits).
    """

    def __init__(
        self,
        input_shape=(224, 224, 3),
        num_classes=1000,
        include_top=True,
        pooling=None,
        aux_heads=True,
        aux_loss_weight=0.3,
        lrn=True,
        kernel_initializer="he_uniform",
        width_multiplier=1.0,
        dropout=0.4,
        preprocessing=None,
        classifier_activation="softmax",
        name="googlenet",
        **kwargs,
    ):
        def width(filters):
            return scaled_width(filters, width_multiplier)

        inputs, x = model_input(input_shape, preprocessing)
        init = dict(kernel_initializer=kernel_initializer)
        x = keras.layers.Conv2D(width(64), 7, strides=2, padding="same", activation="relu", name="conv1_7x7", **init)(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
        if lrn:
            x = LocalResponseNormalization(name="norm1")(x)
        x = keras.layers.Conv2D(width(64), 1, activation="relu", name="conv2_3x3_reduce", **init)(x)
        x = keras.layers.Conv2D(width(192), 3, padding="same", activation="relu", name="conv2_3x3", **init)(x)
        if lrn:
            x = LocalResponseNormalization(name="norm2")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)

        auxiliary = []
        pools = 2
        for entry in GOOGLENET_MODULES:
            if entry == "pool":
                pools += 1
                x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{pools}")(x)
                continue
            module, widths = entry
            x = inception_module(x, [width(w) for w in widths], name=f"inception_{module}", **init)
            if aux_heads and include_top and module in AUXILIARY_AFTER:
                auxiliary.append(
                    auxiliary_classifier(
                        x,
                        num_classes,
                        conv_filters=width(128),
                        units=width(1024),
                        classifier_activation=classifier_activation,
                        name=f"aux{len(auxiliary) + 1}",
                        **init,
                    )
                )

        outputs = classifier_head(x, num_classes, include_top, pooling, dropout, classifier_activation)
        super().__init__(inputs=inputs, outputs=[outputs, *auxiliary] if auxiliary else outputs, name=name, **kwargs)
        self.aux_loss_weight = float(aux_loss_weight)
        record_pyramid(self, ((preprocessing or {}).get("resize") or input_shape)[0])


def googlenet_params(aux_heads):
    """The spec's reference counts (B, no BN): used by the tests and the registry entry."""
    return 13_378_280 if aux_heads else 6_998_552


register(
    ModelSpec(
        name="googlenet",
        family="classification",
        task="classification",
        builder=GoogLeNet,
        canonical_config=dict(input_shape=(224, 224, 3), num_classes=1000, aux_heads=True),
        tiny_config=dict(input_shape=(96, 96, 3), num_classes=4, width_multiplier=0.125, aux_heads=True),
        reference_params=googlenet_params(aux_heads=True),
        reference_source="B (with the two auxiliary heads used in training; 6,998,552 without them)",
        paper="Szegedy et al. 2015, CVPR, 'Going deeper with convolutions'",
        seeds=("000", "001", "002", "003", "004"),
        default_dataset="shapes10",
        train_recipe=dict(
            optimizer="momentum",
            learning_rate=0.01,
            momentum=0.9,
            weight_decay=2e-4,
            batch_size=128,
            schedule="exponential",  # the paper: −4 % every 8 epochs (and Polyak averaging at test time)
            epochs=90,
            label_smoothing=0.0,
        ),
        notes=(
            "Auxiliary heads are training-only outputs (loss weight 0.3); model(x), predict and exports "
            "return the main output alone. The final 7×7 average pool is a global average pool (the same "
            "at 224×224, and size-agnostic)."
        ),
    )
)
