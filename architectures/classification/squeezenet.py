"""SqueezeNet v1.0 and v1.1.

Reference: Iandola, Han, Moskewicz, Ashraf, Dally & Keutzer, "SqueezeNet: AlexNet-level accuracy
with 50× fewer parameters and < 0.5 MB model size", arXiv 1602.07360 (2016). Fire modules
(`architectures/layers/fire.py`) squeeze with 1×1 convs and expand with concatenated 1×1 and 3×3
convs. v1.0: conv1 96@7×7/2 → max-pool 3/2 → fire2–4 → max-pool → fire5–8 → max-pool → fire9 →
dropout 0.5 → conv10 1×1 (classes) → global average pool → softmax; 1,248,424 parameters. v1.1
(the SqueezeNet repository's v1.1): conv1 64@3×3/2 and the pools moved earlier (after conv1,
fire3, fire5); 1,235,496 parameters, 2.4× less computation. Both counts spec (B).

Initialisation follows the reference PyTorch models: Kaiming-uniform convs, N(0, 0.01) for conv10
(with Keras' default Glorot scaling the activations of the fire stack vanish).
"""

import keras

from architectures.base import ZooModel
from architectures.layers.conv import scaled_width
from architectures.layers.fire import fire_module
from architectures.layers.heads import classifier_head
from architectures.layers.heads import record_pyramid
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

# fire2..fire9: (squeeze s_1x1, expand e_1x1 = e_3x3).
SQUEEZENET_FIRES = ((16, 64), (16, 64), (32, 128), (32, 128), (48, 192), (48, 192), (64, 256), (64, 256))
# version → (conv1 filters, conv1 kernel, layers followed by a 3×3/2 max-pool)
SQUEEZENET_VERSIONS = {
    "1.0": (96, 7, ("conv1", "fire4", "fire8")),
    "1.1": (64, 3, ("conv1", "fire3", "fire5")),
}


@keras.saving.register_keras_serializable(package="deepzoo")
class SqueezeNet(ZooModel):
    """SqueezeNet.

    Args:
        version: "1.0" or "1.1".
        input_shape: (height, width, channels); 224×224×3 canonical.
        num_classes: channels of the final 1×1 conv.
        include_top: whether to end with dropout → conv10 → GAP → softmax; otherwise the fire9
            features, pooled according to `pooling`.
        pooling: None, "avg" or "max" when `include_top=False`.
        dropout: before conv10 (0.5).
        width_multiplier: scales conv1 and every fire module (not the class conv).
        preprocessing, classifier_activation: as every backbone.
    """

    def __init__(
        self,
        version="1.0",
        input_shape=(224, 224, 3),
        num_classes=1000,
        include_top=True,
        pooling=None,
        dropout=0.5,
        width_multiplier=1.0,
        preprocessing=None,
        classifier_activation="softmax",
        name=None,
        **kwargs,
    ):
        if version not in SQUEEZENET_VERSIONS:
            raise ValueError(f"version must be one of {sorted(SQUEEZENET_VERSIONS)}. Received: version={version!r}")
        conv1_filters, conv1_kernel, pool_after = SQUEEZENET_VERSIONS[version]

        def width(filters):
            return scaled_width(filters, width_multiplier)

        inputs, x = model_input(input_shape, preprocessing)
        x = keras.layers.Conv2D(
            width(conv1_filters),
            conv1_kernel,
            strides=2,
            activation="relu",
            kernel_initializer="he_uniform",
            name="conv1",
        )(x)
        layer_names = ["conv1"]
        for index, (squeeze, expand) in enumerate(SQUEEZENET_FIRES, start=2):
            if layer_names[-1] in pool_after:
                x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool_{layer_names[-1]}")(x)
            x = fire_module(x, width(squeeze), width(expand), name=f"fire{index}")
            layer_names.append(f"fire{index}")
        if include_top:
            if dropout:
                x = keras.layers.Dropout(dropout, name="dropout")(x)
            # N(0, 0.01) as in the reference models: the class maps start near zero.
            x = keras.layers.Conv2D(
                num_classes,
                1,
                activation="relu",
                kernel_initializer=keras.initializers.RandomNormal(0.0, 0.01),
                name="conv10",
            )(x)
            x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
            outputs = (
                keras.layers.Activation(classifier_activation, name="predictions")(x) if classifier_activation else x
            )
        else:
            outputs = classifier_head(x, num_classes, include_top=False, pooling=pooling)
        default_name = "squeezenet" if version == "1.0" else "squeezenet1_1"
        super().__init__(inputs=inputs, outputs=outputs, name=name or default_name, **kwargs)
        record_pyramid(self, ((preprocessing or {}).get("resize") or input_shape)[0])


_RECIPE = dict(
    optimizer="momentum",
    learning_rate=0.04,
    momentum=0.9,
    weight_decay=2e-4,
    batch_size=512,
    schedule="linear",  # the reference solver: polynomial (power 1) decay to 0
    epochs=68,
    label_smoothing=0.0,
)

for _name, _version, _count in (("squeezenet", "1.0", 1_248_424), ("squeezenet1_1", "1.1", 1_235_496)):
    register(
        ModelSpec(
            name=_name,
            family="classification",
            task="classification",
            builder=SqueezeNet,
            canonical_config=dict(version=_version, input_shape=(224, 224, 3), num_classes=1000),
            tiny_config=dict(version=_version, input_shape=(64, 64, 3), num_classes=4, width_multiplier=0.125),
            reference_params=_count,
            reference_source="B",
            paper="Iandola et al. 2016, arXiv 1602.07360",
            seeds=("004",),
            default_dataset="shapes10",
            train_recipe=dict(_RECIPE),
            notes=(
                "The canonical row is v1.0; squeezenet1_1 is the optional v1.1 id. conv10 keeps its ReLU "
                "before the global average pool, as in the reference model."
            ),
        )
    )
