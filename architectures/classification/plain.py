"""Plain deep networks: the residual networks of He et al. without their shortcuts.

Reference: He, Zhang, Ren & Sun, "Deep residual learning for image recognition", CVPR 2016. The
plain-18/34 baselines are ResNet-18/34 with the identity additions removed (Table 1, Fig. 3 middle);
the CIFAR plain-20/32/44/56 are the 6n + 2 networks of §4.2 (widths 16/32/64 on 32², 16², 8² maps).
Their training *and* test error grow with depth: degradation, not overfitting (Fig. 4, Fig. 6).

A plain net has exactly the weights of its option-A residual twin (zero-padding shortcuts carry no
parameters), so the two differ only in the additions. Blocks are `layers/residual.py`'s
`basic_block` with `shortcut="none"`; layer names follow the ResNet builds
(`conv{stage}_block{i}_{1,2}_conv`), so the weight lists line up one to one.
"""

import keras

from architectures.base import ZooModel
from architectures.layers.conv import conv_bn_act, scaled_width
from architectures.layers.heads import classifier_head, record_pyramid
from architectures.layers.preprocessing import model_input
from architectures.layers.residual import SHORTCUTS, basic_block
from architectures.registry import ModelSpec, register

# ImageNet depths: basic blocks per stage (Table 1) and stage widths.
PLAIN_IMAGENET_DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
PLAIN_IMAGENET_WIDTHS = (64, 128, 256, 512)
PLAIN_CIFAR_WIDTHS = (16, 32, 64)
# BatchNormalization settings of the residual twins (keras.applications for ImageNet; the CIFAR
# reference code otherwise).
IMAGENET_BN = dict(bn_epsilon=1.001e-5, bn_momentum=0.99)
CIFAR_BN = dict(bn_epsilon=1e-5, bn_momentum=0.9)


def _imagenet_stem(x, filters):
    """conv 7×7/2 → BN → ReLU → max-pool 3/2 with symmetric explicit padding (Caffe/PyTorch)."""
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = conv_bn_act(x, filters, 7, strides=2, padding="valid", name="conv1", **IMAGENET_BN)
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


@keras.saving.register_keras_serializable(package="deepzoo")
class PlainNet(ZooModel):
    """Plain network of depth 18 or 34 (ImageNet layout) or 6n + 2 (CIFAR layout: 20, 32, 44, 56).

    Args:
        depth: 18 or 34 for the ImageNet layout; 6n + 2 (n ≥ 1) for the CIFAR layout.
        shortcut: "none" (the plain network). "zero_pad" or "projection" build the residual twin
            with the same convolutions, for degradation experiments side by side.
        input_shape, num_classes: 224×224×3 / 1000 (ImageNet) or 32×32×3 / 10 (CIFAR) canonically.
        width_multiplier: scales every width (tiny configs).
        include_top, pooling, preprocessing, classifier_activation: as every backbone.
    """

    def __init__(
        self,
        depth=34,
        shortcut="none",
        input_shape=(224, 224, 3),
        num_classes=1000,
        width_multiplier=1.0,
        include_top=True,
        pooling=None,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}. Received: shortcut={shortcut!r}")
        if depth in PLAIN_IMAGENET_DEPTHS:
            stage_blocks, widths, bn = PLAIN_IMAGENET_DEPTHS[depth], PLAIN_IMAGENET_WIDTHS, IMAGENET_BN
        elif depth >= 8 and (depth - 2) % 6 == 0:
            stage_blocks, widths, bn = ((depth - 2) // 6,) * 3, PLAIN_CIFAR_WIDTHS, CIFAR_BN
        else:
            raise ValueError(
                f"depth must be 18 or 34 (ImageNet) or 6n + 2 with n >= 1 (CIFAR: 20, 32, 44, 56). Received: depth={depth}"
            )
        widths = [scaled_width(w, width_multiplier) for w in widths]
        inputs, x = model_input(input_shape, preprocessing)
        if depth in PLAIN_IMAGENET_DEPTHS:
            x = _imagenet_stem(x, widths[0])
        else:
            x = conv_bn_act(x, widths[0], 3, name="conv1", **bn)
        for stage, (blocks, filters) in enumerate(zip(stage_blocks, widths)):
            for index in range(blocks):
                stride = 2 if stage > 0 and index == 0 else 1
                x = basic_block(x, filters, stride, shortcut=shortcut, name=f"conv{stage + 2}_block{index + 1}", **bn)
        outputs = classifier_head(x, num_classes, include_top, pooling, 0.0, classifier_activation)
        prefix = "plain" if shortcut == "none" else "resnet"
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"{prefix}{depth}", **kwargs)
        record_pyramid(self, ((preprocessing or {}).get("resize") or input_shape)[0])


# ResNet-34 has 21,797,672 trainable parameters (P); its three projection shortcuts hold
# 64·128 + 128·256 + 256·512 = 172,032 conv weights and 2·(128 + 256 + 512) = 1,792 BN parameters.
PLAIN34_TRAINABLE = 21_797_672 - 172_032 - 1_792

register(
    ModelSpec(
        name="plain_net",
        family="classification",
        task="classification",
        builder=PlainNet,
        canonical_config=dict(depth=34, input_shape=(224, 224, 3), num_classes=1000, name="plain_net"),
        tiny_config=dict(depth=8, input_shape=(32, 32, 3), num_classes=4, width_multiplier=0.5, name="plain_net"),
        paper="He, Zhang, Ren & Sun 2016, CVPR (plain-18/34 and CIFAR plain-20/32/44/56 baselines)",
        seeds=("003", "004"),
        default_dataset="shapes10",
        train_recipe=dict(
            optimizer="momentum",
            learning_rate=0.1,
            momentum=0.9,
            weight_decay=1e-4,
            batch_size=256,
            schedule="plateau",
            epochs=120,
            label_smoothing=0.0,
        ),
        notes=(
            "Canonical = plain-34. No reference count in the spec; the test derives plain-34's "
            f"{PLAIN34_TRAINABLE:,} trainable parameters from ResNet-34's 21,797,672 minus its projection shortcuts."
        ),
    )
)
