"""AlexNet.

Reference: Krizhevsky, Sutskever & Hinton, "ImageNet classification with deep convolutional neural
networks", NIPS 2012: conv1 96@11×11/4 → ReLU → LRN → max-pool 3/2 → conv2 256@5×5 (pad 2) → ReLU →
LRN → max-pool 3/2 → conv3 384@3×3 → conv4 384@3×3 → conv5 256@3×3 → max-pool 3/2 (6×6×256) →
FC 4096 → dropout 0.5 → FC 4096 → dropout 0.5 → FC 1000. 5 conv + 3 FC layers (spec §9 #38).

The input is 227×227: the arithmetic (227 − 11)/4 + 1 = 55 needs it (spec §9 #39; the paper's
text says 224). LRN uses k = 2, n = 5, α = 1e-4, β = 0.75; the max-pools overlap (3×3, stride 2).
`groups=2` is the paper's two-GPU split (conv2, conv4, conv5 only see the channels of their own
GPU; conv3 and the FC layers see both): 60,965,224 parameters; `groups=1` is the single-tower form,
62,378,344 parameters = the notes' 3.7 M conv + 58.6 M FC (both counts spec (B)).

`initializer="paper"` draws weights from N(0, 0.01) with biases 1 in conv2, conv4, conv5 and the
hidden FC layers (0 elsewhere), as §5 of the paper.
"""

import keras

from architectures.base import ZooModel
from architectures.layers.conv import scaled_width
from architectures.layers.heads import classifier_head
from architectures.layers.heads import record_pyramid
from architectures.layers.lrn import LocalResponseNormalization
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

# (name, filters, kernel, stride, padding, grouped in the two-GPU model, LRN after, max-pool after,
#  bias initialised to 1 by the paper)
ALEXNET_CONVS = (
    ("conv1", 96, 11, 4, "valid", False, True, True, False),
    ("conv2", 256, 5, 1, "same", True, True, True, True),
    ("conv3", 384, 3, 1, "same", False, False, False, False),
    ("conv4", 384, 3, 1, "same", True, False, False, True),
    ("conv5", 256, 3, 1, "same", True, False, True, True),
)
ALEXNET_FC = (4096, 4096)


@keras.saving.register_keras_serializable(package="deepzoo")
class AlexNet(ZooModel):
    """AlexNet.

    Args:
        input_shape: (height, width, channels); 227×227×3.
        num_classes: output classes.
        include_top: whether to end with the three FC layers; else the pool5 map, pooled according
            to `pooling`.
        pooling: None, "avg" or "max" when `include_top=False`.
        groups: 1 (single tower) or 2 (the paper's two-GPU split of conv2, conv4 and conv5).
        lrn: keep the two local response normalisation layers.
        width_multiplier: scales every conv width (tiny configs).
        fc_units: width of the two hidden FC layers (4096).
        dropout: after each hidden FC layer (0.5).
        initializer: "paper" (N(0, 0.01), biases 1 in conv2/4/5 and the hidden FC layers) or a Keras
            initializer name for the kernels (biases 0).
        preprocessing, classifier_activation: as every backbone.
    """

    def __init__(
        self,
        input_shape=(227, 227, 3),
        num_classes=1000,
        include_top=True,
        pooling=None,
        groups=1,
        lrn=True,
        width_multiplier=1.0,
        fc_units=4096,
        dropout=0.5,
        initializer="paper",
        preprocessing=None,
        classifier_activation="softmax",
        name="alexnet",
        **kwargs,
    ):
        if groups not in (1, 2):
            raise ValueError(f"groups must be 1 or 2. Received: groups={groups}")

        def init(bias_one):
            if initializer == "paper":
                return dict(
                    kernel_initializer=keras.initializers.RandomNormal(0.0, 0.01),
                    bias_initializer="ones" if bias_one else "zeros",
                )
            return dict(kernel_initializer=initializer, bias_initializer="zeros")

        inputs, x = model_input(input_shape, preprocessing)
        for layer_name, filters, kernel, stride, padding, grouped, norm, pool, bias_one in ALEXNET_CONVS:
            filters = scaled_width(filters, width_multiplier, divisor=groups)
            x = keras.layers.Conv2D(
                filters,
                kernel,
                strides=stride,
                padding=padding,
                groups=groups if grouped else 1,
                activation="relu",
                name=layer_name,
                **init(bias_one),
            )(x)
            if norm and lrn:
                x = LocalResponseNormalization(size=5, alpha=1e-4, beta=0.75, k=2.0, name=f"{layer_name}_lrn")(x)
            if pool:
                x = keras.layers.MaxPooling2D(3, strides=2, name=f"{layer_name}_pool")(x)
        if include_top:
            x = keras.layers.Flatten(name="flatten")(x)
            for index, units in enumerate(ALEXNET_FC, start=6):
                x = keras.layers.Dense(
                    fc_units if units == 4096 else units, activation="relu", name=f"fc{index}", **init(True)
                )(x)
                if dropout:
                    x = keras.layers.Dropout(dropout, name=f"fc{index}_dropout")(x)
            outputs = keras.layers.Dense(num_classes, activation=classifier_activation, name="fc8", **init(False))(x)
        else:
            outputs = classifier_head(x, num_classes, include_top=False, pooling=pooling)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        record_pyramid(self, ((preprocessing or {}).get("resize") or input_shape)[0])


register(
    ModelSpec(
        name="alexnet",
        family="classification",
        task="classification",
        builder=AlexNet,
        canonical_config=dict(input_shape=(227, 227, 3), num_classes=1000, groups=1),
        # 67×67 is the smallest input that leaves a 1×1 map after pool5.
        tiny_config=dict(
            input_shape=(67, 67, 3),
            num_classes=4,
            width_multiplier=0.125,
            fc_units=64,
            dropout=0.0,  # deterministic 8-step loss check
            initializer="glorot_uniform",
        ),
        reference_params=62_378_344,
        reference_source="B (single tower; 60,965,224 with groups=2)",
        paper="Krizhevsky, Sutskever & Hinton 2012, NIPS",
        seeds=("000", "001", "002", "003", "004"),
        default_dataset="shapes10",
        train_recipe=dict(
            optimizer="momentum",
            learning_rate=0.01,
            momentum=0.9,
            weight_decay=5e-4,
            batch_size=128,
            schedule="plateau",  # ÷10 when the validation error stops improving
            epochs=90,
            label_smoothing=0.0,
        ),
        notes=(
            "Canonical = single tower (the notes' 3.7 M + 58.6 M); groups=2 is the paper's two-GPU model. "
            "227×227 input (spec §9 #39). Augmentation (random 224 crops of 256, flips, PCA colour) and "
            "10-crop testing belong to the data pipeline."
        ),
    )
)
