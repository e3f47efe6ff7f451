"""Family B part 2 (spec §2 B): ResNet, CIFAR ResNet, Wide ResNet, ResNeXt, DenseNet, MobileNet,
ShuffleNet, EfficientNet, and their shared blocks (layers/residual.py, dense.py, mobile.py).

The registry sweep already builds every tiny config, trains it, round-trips it and checks each
canonical parameter count; these tests add the row-specific checks: layer-for-layer equality with
keras.applications, the paper's trainable counts where the reference is (P), option-A shortcuts,
channel shuffle, feature pyramids, headless backbones and the training recipes.
"""

import numpy as np
import pytest

import architectures
from architectures.layers.heads import feature_pyramid
from pipelines.optim import check_optimizer

B2_MODELS = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet_cifar",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "wide_resnet",
    "wide_resnet50_2",
    "resnext50_32x4d",
    "densenet121",
    "densenet169",
    "densenet201",
    "mobilenet_v1",
    "mobilenet_v2",
    "shufflenet_v1",
    "shufflenet_v2",
    *(f"efficientnet_b{i}" for i in range(8)),
)
# The ImageNet-sized rows (canonical input larger than CIFAR's 32 px) record the four strides a
# detector's FPN takes; read from the registry, not listed.
def _canonical_input_size(name):
    import inspect

    spec = architectures.get_spec(name)
    default = inspect.signature(spec.builder).parameters["input_shape"].default
    return spec.canonical_config.get("input_shape", default)[0]


IMAGENET_BACKBONES = tuple(name for name in B2_MODELS if _canonical_input_size(name) > 32)
# Momentum is not a common key: SGD-family recipes set it directly, RMSProp recipes (MobileNet,
# EfficientNet) pass it as one of the Keras optimiser's own `optimizer_options`.
RECIPE_KEYS = {
    "optimizer",
    "learning_rate",
    "weight_decay",
    "batch_size",
    "schedule",
    "epochs",
    "label_smoothing",
}


def _shapes(model):
    return [tuple(int(d) for d in w.shape) for w in model.weights]


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_every_b2_model_is_registered_as_classification():
    for name in B2_MODELS:
        spec = architectures.get_spec(name)
        assert (spec.family, spec.task) == ("classification", "classification"), name
        recipe = spec.train_recipe
        assert RECIPE_KEYS <= set(recipe), (name, RECIPE_KEYS - set(recipe))
        if recipe["optimizer"] in ("momentum", "nesterov"):
            assert recipe.get("momentum"), (name, "a momentum optimiser without its momentum")
        # The options must be ones the Keras optimiser accepts (raises otherwise).
        check_optimizer(recipe["optimizer"], recipe.get("optimizer_options"))


@pytest.mark.parametrize(
    "name, reference",
    [
        ("resnet50", "ResNet50"),
        ("densenet121", "DenseNet121"),
        ("mobilenet_v2", "MobileNetV2"),
        ("efficientnet_b0", "EfficientNetB0"),
    ],
)
def test_same_network_as_keras_applications(name, reference):
    """Same blocks, same order, same shapes: the ordered weight shapes equal keras.applications'."""
    import keras

    ours = architectures.create_model(name)
    theirs = getattr(keras.applications, reference)(weights=None)
    assert _shapes(ours) == _shapes(theirs)
    assert ours.count_params() == theirs.count_params()
    assert _trainable(ours) == _trainable(theirs)
    assert ours.output.shape == theirs.output.shape == (None, 1000)


@pytest.mark.parametrize(
    "name, trainable",
    [
        ("resnet18", 11_689_512),  # the paper's convention: convs without bias, BN statistics excluded
        ("resnet34", 21_797_672),
        ("resnet20", 269_722),  # 0.27 M in the paper's Table 6, option A
        ("resnext50_32x4d", 25_028_904),  # reference implementation
        ("wide_resnet", 36_479_194),  # WRN-28-10, "36.5 M"
        ("shufflenet_v2", 2_278_604),
    ],
)
def test_trainable_count_equals_the_reference_implementation(name, trainable):
    assert _trainable(architectures.create_model(name)) == trainable


def test_shufflenet_v1_trainable_count_is_within_one_percent_of_the_paper():
    model = architectures.create_model("shufflenet_v1")
    assert _trainable(model) == 1_865_728
    assert abs(_trainable(model) - 1_870_000) / 1_870_000 < 0.01
    assert "params" in architectures.get_spec("shufflenet_v1").limitations


def test_wide_resnet50_2_doubles_only_the_bottleneck_width():
    model = architectures.create_model("wide_resnet50_2")
    assert _trainable(model) == 68_883_240
    assert model.get_layer("conv2_block1_2_conv").kernel.shape == (3, 3, 128, 128)
    assert model.get_layer("conv2_block1_3_conv").kernel.shape == (1, 1, 128, 256)


def test_resnext_uses_grouped_convolution():
    model = architectures.create_model("resnext50_32x4d", config="tiny", cardinality=4, group_width=16)
    layer = model.get_layer("conv2_block1_2_conv")
    assert layer.groups == 4 and layer.kernel.shape == (3, 3, 2, 8)


def test_grouped_conv_equals_keras_grouped_conv():
    """GroupedConv2D (per-group convs, exportable to ONNX) computes exactly Conv2D(groups=g)."""
    import keras

    from architectures.layers.mobile import GroupedConv2D

    x = np.random.default_rng(0).normal(size=(2, 7, 7, 12)).astype("float32")
    native = keras.layers.Conv2D(6, 3, strides=2, padding="same", groups=3)
    ours = GroupedConv2D(6, 3, strides=2, padding="same", groups=3)
    native.build(x.shape)
    ours.build(x.shape)
    ours.set_weights(native.get_weights())
    assert isinstance(ours, keras.layers.Conv2D) and ours.kernel.shape == (3, 3, 4, 6)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(native(x)), rtol=1e-5, atol=1e-5)


def test_zero_pad_shortcut_subsamples_and_appends_zero_channels():
    from architectures.layers.residual import ZeroPadShortcut

    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    y = np.asarray(ZeroPadShortcut(8, 2)(x))
    assert y.shape == (2, 3, 3, 8)
    np.testing.assert_array_equal(y[..., :3], x[:, ::2, ::2, :])
    assert not y[..., 3:].any()


def test_cifar_resnet_option_a_has_no_projection_weights():
    model = architectures.create_model("resnet20")
    assert not [layer for layer in model.layers if layer.name.endswith("_0_conv")]
    assert len([layer for layer in model.layers if layer.name.endswith("_0_pad")]) == 2
    assert model.output.shape == (None, 10)
    with pytest.raises(ValueError, match="6n \\+ 2"):
        architectures.create_model("resnet20", depth=21)


def test_plain_block_has_the_same_weights_as_its_residual_twin_without_additions():
    """`shortcut="none"` (B1's plain nets) drops the additions and keeps every weight shape."""
    residual = architectures.create_model("resnet20", config="tiny")
    plain = architectures.create_model("resnet20", config="tiny", shortcut="none")
    assert _shapes(plain) == _shapes(residual)
    assert not [layer for layer in plain.layers if layer.name.endswith("_add")]


def test_residual_block_functions_are_usable_on_their_own():
    import keras

    from architectures.layers.residual import basic_block, bottleneck_block, preact_basic_block

    inputs = keras.Input((16, 16, 8))
    x = basic_block(inputs, 16, 2, shortcut="projection", name="a")
    x = bottleneck_block(x, 8, 2, groups=2, bottleneck_width=16, stride_in="middle", name="b")
    x = preact_basic_block(x, 32, 1, dropout=0.1, shortcut="zero_pad", name="c")
    assert tuple(x.shape) == (None, 4, 4, 32)
    with pytest.raises(ValueError, match="shortcut must be one of"):
        basic_block(inputs, 8, shortcut="identity")


def test_channel_shuffle_interleaves_groups():
    from architectures.layers.mobile import ChannelShuffle, ChannelSplit

    x = np.arange(6, dtype="float32").reshape(1, 1, 1, 6)
    np.testing.assert_array_equal(np.asarray(ChannelShuffle(3)(x))[0, 0, 0], [0, 2, 4, 1, 3, 5])
    np.testing.assert_array_equal(np.asarray(ChannelShuffle(2)(x))[0, 0, 0], [0, 3, 1, 4, 2, 5])
    left, right = ChannelSplit(2)(x)
    assert np.asarray(left).shape == (1, 1, 1, 2) and np.asarray(right).shape == (1, 1, 1, 4)


def test_dense_block_grows_by_k_per_layer_and_transition_compresses():
    import keras

    from architectures.layers.dense import dense_block, transition_block

    x = dense_block(keras.Input((8, 8, 16)), 3, growth_rate=4, name="d")
    assert x.shape[-1] == 16 + 3 * 4
    assert tuple(transition_block(x, 0.5, name="t").shape) == (None, 4, 4, 14)


def test_depthwise_separable_block_parameter_formula():
    """k²C + C·N weights (+ BN) instead of k²CN."""
    import keras

    from architectures.layers.mobile import depthwise_separable_block

    inputs = keras.Input((8, 8, 16))
    model = keras.Model(inputs, depthwise_separable_block(inputs, 32, name="s"))
    assert model.get_layer("s_dw_conv").count_params() == 3 * 3 * 16
    assert model.get_layer("s_pw_conv").count_params() == 16 * 32


def test_efficientnet_compound_scaling_is_data():
    from architectures.classification.efficientnet import EFFICIENTNET_SCALING

    for variant, (width, depth, resolution, dropout) in EFFICIENTNET_SCALING.items():
        config = architectures.get_spec(f"efficientnet_{variant}").canonical_config
        assert tuple(config["input_shape"]) == (resolution, resolution, 3)
        assert (config["width_coefficient"], config["depth_coefficient"], config["dropout"]) == (width, depth, dropout)


def test_efficientnet_mbconv_has_squeeze_excitation_and_growing_stochastic_depth():
    import keras

    model = architectures.create_model("efficientnet_b0", config="tiny", depth_coefficient=1.0)
    assert model.get_layer("block2a_se_reduce").kernel.shape[-1] == max(1, int(8 * 0.25))
    drops = [
        layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout) and layer.name.endswith("_drop")
    ]
    assert drops == sorted(drops) and 0 < drops[-1] < 0.2
    assert model.get_layer("top_dropout").rate == 0.2


@pytest.mark.parametrize("name", IMAGENET_BACKBONES)
def test_feature_pyramid_strides(name):
    size = 64
    model = architectures.create_model(name, config="tiny", input_shape=(size, size, 3))
    assert sorted(model.pyramid_layers) == [4, 8, 16, 32]
    features = feature_pyramid(model)([np.zeros((1, size, size, 3), "float32")])
    for stride in (4, 8, 16, 32):
        assert features[f"stride_{stride}"].shape[1:3] == (size // stride, size // stride), (name, stride)


def test_feature_pyramid_for_inputs_not_divisible_by_32():
    """EfficientNet-B1 (240 px) ends on an 8×8 map: still stride 32."""
    model = architectures.create_model("efficientnet_b1", config="tiny", input_shape=(240, 240, 3))
    assert sorted(model.pyramid_layers) == [4, 8, 16, 32]
    assert model.get_layer(model.pyramid_layers[32]).output.shape[1] == 8


@pytest.mark.parametrize(
    "name", ["resnet50", "densenet121", "mobilenet_v1", "shufflenet_v2", "efficientnet_b0", "wide_resnet"]
)
@pytest.mark.parametrize("pooling", ["avg", "max", None])
def test_headless_backbone_pooling(name, pooling):
    model = architectures.create_model(name, config="tiny", include_top=False, pooling=pooling)
    assert not [layer for layer in model.layers if layer.name == "predictions"]
    assert len(model.output.shape) == (2 if pooling else 4)


def test_logits_and_preprocessing_options():
    model = architectures.create_model(
        "resnet18",
        config="tiny",
        classifier_activation=None,
        preprocessing={"scale": 1 / 255.0, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
    )
    outputs = np.asarray(model(np.full((2, 32, 32, 3), 128.0, "float32")))
    assert outputs.shape == (2, 4) and not np.allclose(outputs.sum(-1), 1.0)


def test_recipes_follow_the_papers():
    resnet = architectures.get_spec("resnet50").train_recipe
    assert (resnet["learning_rate"], resnet["momentum"], resnet["weight_decay"], resnet["batch_size"]) == (
        0.1,
        0.9,
        1e-4,
        256,
    )
    wrn = architectures.get_spec("wide_resnet").train_recipe
    assert (wrn["optimizer"], wrn["weight_decay"], wrn["schedule_kwargs"]["factor"]) == ("nesterov", 5e-4, 0.2)
    assert tuple(wrn["schedule_kwargs"]["milestones"]) == (60, 120, 160)
    efficientnet = architectures.get_spec("efficientnet_b3").train_recipe
    assert (
        efficientnet["optimizer"],
        efficientnet["learning_rate"],
        efficientnet["schedule_kwargs"]["decay_rate"],
    ) == ("rmsprop", 0.256, 0.97)
    assert architectures.get_spec("mobilenet_v1").train_recipe["optimizer"] == "rmsprop"
