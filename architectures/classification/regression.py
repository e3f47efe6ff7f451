"""Regression CNN: any registered classification backbone with a regression head.

The same structure as a classifier with a different head, loss and annotation (lecture 004): the
backbone's classifier becomes Dense(T, linear), trained with MSE or MAE and scored by MAE.

`head="dex"` is DEX (Rothe, Timofte & Van Gool, "DEX: deep expectation of apparent age from a
single image", ICCV workshops 2015): the backbone (VGG-16 in the paper) ends in a softmax over
`dex_bins` value bins (101 ages 0…100) and the output is the expected value Σ_i p_i·v_i, which
works better than a direct linear regression of the age.
"""

import inspect

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, get_spec, register

HEADS = ("linear", "dex")


@keras.saving.register_keras_serializable(package="deepzoo")
class ExpectedValue(keras.layers.Layer):
    """Σ_i p_i·v_i over `bins` values v_i evenly spaced on [low, high]; output shape (N, 1)."""

    def __init__(self, low=0.0, high=100.0, bins=101, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high, self.bins = float(low), float(high), int(bins)

    def call(self, probabilities):
        values = ops.linspace(self.low, self.high, self.bins)
        return ops.sum(probabilities * ops.cast(values, probabilities.dtype), axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high, "bins": self.bins}


def _accepts(builder, argument):
    target = builder.__init__ if inspect.isclass(builder) else builder
    return argument in inspect.signature(target).parameters


@keras.saving.register_keras_serializable(package="deepzoo")
class RegressionCNN(ZooModel):
    """A registered backbone with a linear or DEX regression head.

    Args:
        backbone: registry id of a classification model (its classifier becomes the head).
        backbone_config: "canonical" or "tiny", the backbone's base configuration.
        backbone_overrides: extra constructor arguments for the backbone (widths, depth, ...).
        input_shape: input shape given to the backbone.
        num_outputs: regression targets T (linear head).
        head: "linear" (Dense(T), no activation) or "dex" (softmax over bins → expected value).
        dex_bins: number of value bins of the DEX head (101).
        value_range: [low, high] of the DEX bin values ([0, 100] years).
        preprocessing: deterministic input preprocessing (see `model_input`).
    """

    def __init__(
        self,
        backbone="vgg16",
        backbone_config="canonical",
        backbone_overrides=None,
        input_shape=(224, 224, 3),
        num_outputs=1,
        head="linear",
        dex_bins=101,
        value_range=(0.0, 100.0),
        preprocessing=None,
        name="regression_cnn",
        **kwargs,
    ):
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}. Received: head={head!r}")
        if head == "dex" and num_outputs != 1:
            raise ValueError(f"The DEX head predicts one value. Received: num_outputs={num_outputs}")
        spec = get_spec(backbone)
        if spec.task != "classification":
            raise ValueError(
                f"backbone must be a classification model. Received: backbone={backbone!r} (task {spec.task})"
            )
        overrides = dict(backbone_overrides or {})
        overrides.update(
            input_shape=tuple(input_shape),
            num_classes=dex_bins if head == "dex" else num_outputs,
            classifier_activation="softmax" if head == "dex" else None,
            name=f"{backbone}_backbone",
        )
        if _accepts(spec.builder, "aux_heads"):
            overrides["aux_heads"] = False  # training-only outputs cannot feed a single regression head
        if backbone_config not in ("canonical", "tiny"):
            raise ValueError(
                f"backbone_config must be 'canonical' or 'tiny'. Received: backbone_config={backbone_config!r}"
            )
        # create_model's own `name` parameter would clash with the backbone's name override.
        base = spec.canonical_config if backbone_config == "canonical" else spec.tiny_config
        network = spec.builder(**{**base, **overrides})

        inputs, x = model_input(input_shape, preprocessing)
        outputs = network(x)
        if head == "dex":
            low, high = value_range
            outputs = ExpectedValue(low, high, dex_bins, name="expected_value")(outputs)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.backbone = network


register(
    ModelSpec(
        name="regression_cnn",
        family="classification",
        task="regression",
        builder=RegressionCNN,
        canonical_config=dict(backbone="vgg16", input_shape=(224, 224, 3), num_outputs=1, head="linear"),
        tiny_config=dict(backbone="simple_cnn", backbone_config="tiny", input_shape=(32, 32, 3), num_outputs=1),
        paper="Any backbone + Dense(1); DEX: Rothe, Timofte & Van Gool 2015, ICCV workshops",
        seeds=("004", "000", "001"),
        default_dataset="shapes10_area",
        train_recipe=dict(
            optimizer="momentum",
            learning_rate=1e-3,
            momentum=0.9,
            weight_decay=5e-4,
            batch_size=32,
            schedule="plateau",
            epochs=30,
            label_smoothing=0.0,
        ),
        notes=(
            "Canonical = VGG-16 with its 1000-way classifier replaced by Dense(1, linear) (134,264,641 "
            "parameters). head='dex' gives DEX's 101-bin softmax and expected value. Report MAE."
        ),
    )
)
