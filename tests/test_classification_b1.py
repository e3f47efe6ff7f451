"""Row-specific checks of family B, part 1 (spec §2 B): the lecture worked counts, the paper options,
layer-for-layer equality with keras.applications, auxiliary heads, residual twins, the NAS loop.

Build, forward, training, the .keras round trip, exports and the canonical parameter counts are
covered by the registry sweeps (tests/test_registry_sweep.py, tests/test_export_sweep.py).
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import architectures
from architectures.classification.alexnet import AlexNet
from architectures.classification.googlenet import GoogLeNet, googlenet_params
from architectures.classification.inception import (
    InceptionResNetV2,
    InceptionV3,
    InceptionV4,
)
from architectures.classification.lenet import LENET5_PAPER_OPTIONS, LeNet5, scaled_tanh
from architectures.classification.nas import (
    AccuracyRegressor,
    NASChildNet,
    NASController,
    ReinforceTrainer,
    child_accuracy_reward,
    describe_prototxt,
    random_description,
    search,
    tokenize_description,
)
from architectures.classification.plain import PLAIN34_TRAINABLE, PlainNet
from architectures.classification.regression import ExpectedValue, RegressionCNN
from architectures.classification.simple import (
    LocallyConnected2D,
    LocallyConnectedNet,
    SimpleCNN,
    conv_layer_params,
)
from architectures.classification.squeezenet import SqueezeNet
from architectures.classification.squeezenext import SQNXT23_TRAINABLE, SqueezeNext
from architectures.classification.vgg import VGG
from architectures.layers.fire import fire_module, fire_params
from architectures.layers.heads import feature_pyramid
from architectures.layers.inception import ScaledResidual
from architectures.registry import constructor_arguments
from deepzoo import conformance
from architectures.layers.lrn import LocalResponseNormalization
from pipelines.optim import make_optimizer
from pipelines.train import TrainConfig

B1_MODELS = (
    "lenet5", "simple_cnn", "convnetjs_cifar10", "locally_connected_net", "alexnet", "vgg11", "vgg13",
    "vgg16", "vgg19", "nin", "googlenet", "inception_v3", "inception_v4", "inception_resnet_v2",
    "plain_net", "squeezenet", "squeezenet1_1", "squeezenext", "nas_controller", "nas_child_net",
    "nas_accuracy_regressor", "regression_cnn",
)  # fmt: skip
# Backbones are the models whose constructor offers include_top=False + pooling (the registry's
# signature says so); each must record a feature pyramid. Identical tiny builds are checked once.
B1_BACKBONES = tuple(
    name
    for name in conformance.distinct_tiny_configs(B1_MODELS)
    if {"include_top", "pooling"} <= set(constructor_arguments(architectures.get_spec(name)))
)
TRAIN_CONFIG_FIELDS = {field.name for field in dataclasses.fields(TrainConfig)}
RECIPE_KEYS = {
    "optimizer",
    "learning_rate",
    "weight_decay",
    "batch_size",
    "schedule",
    "epochs",
    "label_smoothing",
}


def trainable_count(model):
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def layer_signature(model):
    """(output shape, weight shapes) of every layer with weights or a shape change, in order."""
    return [
        (tuple(layer.output.shape), tuple(tuple(w.shape) for w in layer.weights))
        for layer in model.layers
        if not isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout))
    ]


# --- registry ------------------------------------------------------------------------------------


def test_every_b1_model_is_registered_with_family_task_and_recipe():
    for name in B1_MODELS:
        spec = architectures.get_spec(name)
        assert spec.family == "classification"
        expected_task = "regression" if name in ("regression_cnn", "nas_accuracy_regressor") else "classification"
        assert spec.task == expected_task, name
        assert spec.train_recipe, name
        if name != "lenet5":  # lenet5's recipe is the demo's; left as it was
            assert RECIPE_KEYS <= set(spec.train_recipe) <= TRAIN_CONFIG_FIELDS, (name, set(spec.train_recipe) ^ RECIPE_KEYS)


def test_paper_recipes():
    alexnet = architectures.get_spec("alexnet").train_recipe
    assert (alexnet["optimizer"], alexnet["learning_rate"], alexnet["momentum"], alexnet["weight_decay"]) == (
        "momentum",
        0.01,
        0.9,
        5e-4,
    )
    assert alexnet["schedule"] == "plateau" and alexnet["batch_size"] == 128
    vgg = architectures.get_spec("vgg16").train_recipe
    assert (vgg["batch_size"], vgg["learning_rate"], vgg["weight_decay"]) == (256, 1e-2, 5e-4)
    inception = architectures.get_spec("inception_v3").train_recipe
    assert inception["optimizer"] == "rmsprop" and inception["label_smoothing"] == 0.1
    # RMSProp with decay 0.9 and ε = 1.0; learning rate × 0.94 every 2 epochs (Szegedy et al. 2016, §8).
    assert inception["optimizer_options"] == {"epsilon": 1.0}
    assert inception["schedule_kwargs"] == {"decay_rate": 0.94, "decay_epochs": 2}
    optimizer = make_optimizer(inception["optimizer"], inception["learning_rate"], options=inception["optimizer_options"])
    assert (optimizer.rho, optimizer.epsilon, optimizer.momentum) == (0.9, 1.0, 0.0)


# --- shared layers ---------------------------------------------------------------------------------


def test_lrn_matches_tensorflow_across_channels():
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 11)).astype("float32") * 30
    ours = LocalResponseNormalization(size=5, alpha=1e-4, beta=0.75, k=2.0)(x)
    reference = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    np.testing.assert_allclose(np.asarray(ours), reference.numpy(), rtol=1e-5, atol=1e-6)


def test_lrn_within_channel_and_config():
    x = np.random.default_rng(1).normal(size=(1, 6, 6, 2)).astype("float32") * 10
    layer = LocalResponseNormalization(size=3, alpha=1e-3, beta=0.5, k=1.0, mode="within_channel")
    padded = np.pad(x**2, ((0, 0), (1, 1), (1, 1), (0, 0)))
    window = sum(padded[:, i : i + 6, j : j + 6, :] for i in range(3) for j in range(3))
    np.testing.assert_allclose(np.asarray(layer(x)), x / (1.0 + 1e-3 * window) ** 0.5, rtol=1e-5)
    clone = LocalResponseNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="mode"):
        LocalResponseNormalization(mode="spatial")


def test_fire_module_shape_and_count():
    inputs = keras.Input((16, 16, 96))
    outputs = fire_module(inputs, 16, 64, name="fire2")
    model = keras.Model(inputs, outputs)
    assert outputs.shape == (None, 16, 16, 128)
    assert model.count_params() == fire_params(96, 16, 64) == 11_920


def test_scaled_residual():
    x, r = np.ones((1, 2, 2, 3), "float32"), np.full((1, 2, 2, 3), 2.0, "float32")
    np.testing.assert_allclose(np.asarray(ScaledResidual(0.17)([x, r])), 1.34)


# --- simple_cnn, convnetjs, locally connected ------------------------------------------------------


def test_simple_cnn_lecture_004_counts():
    # w# = (k²·n_i + 1)·n_o: 9×9 kernels 1 → 64 and 64 → 256.
    model = SimpleCNN(input_shape=(64, 64, 1), filters=(64, 256), convs_per_stage=1, kernel_size=9)
    assert model.get_layer("block1_conv1").count_params() == conv_layer_params(9, 1, 64) == 5_248
    assert model.get_layer("block2_conv1").count_params() == conv_layer_params(9, 64, 256) == 1_327_360


def test_simple_cnn_default_template():
    model = architectures.create_model("simple_cnn")
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [32, 32, 64, 64] and all(c.kernel_size == (3, 3) for c in convs)
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [128, 10]
    output = model(np.zeros((2, 32, 32, 3), "float32"))
    assert output.shape == (2, 10) and output.dtype == "float32"
    # Most parameters are in the FC layers (lecture 004).
    assert model.get_layer("fc1").count_params() > model.count_params() / 2


def test_convnetjs_layout():
    model = architectures.create_model("convnetjs_cifar10")
    assert model.count_params() == 22_466
    assert [layer.output.shape[1] for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)] == [
        16,
        8,
        4,
    ]


def test_locally_connected_parameter_formula_and_conv_equivalence():
    layer = LocallyConnected2D(5, 3, strides=2)
    x = np.random.default_rng(0).normal(size=(2, 11, 9, 4)).astype("float32")
    y = layer(x)
    assert y.shape == (2, 5, 4, 5)
    assert layer.count_params() == 5 * 4 * (3 * 3 * 4 + 1) * 5
    conv = keras.layers.Conv2D(5, 3, strides=2)
    conv(x)
    layer.kernel.assign(np.tile(conv.kernel.numpy().reshape(1, -1, 5), (layer.kernel.shape[0], 1, 1)))
    layer.bias.assign(np.broadcast_to(conv.bias.numpy(), layer.bias.shape))
    np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(conv(x)), rtol=1e-5, atol=1e-5)


def test_deepface_trunk_counts():
    model = LocallyConnectedNet()
    shapes = {name: model.get_layer(name).output.shape[1:] for name in ("c1", "m2", "c3", "l4", "l5", "l6")}
    assert shapes == {
        "c1": (142, 142, 32), "m2": (71, 71, 32), "c3": (63, 63, 16),
        "l4": (55, 55, 16), "l5": (25, 25, 16), "l6": (21, 21, 16),
    }  # fmt: skip
    assert model.get_layer("l4").count_params() == 55 * 55 * (9 * 9 * 16 + 1) * 16
    assert model.count_params() == 118_923_774


# --- LeNet-5 -----------------------------------------------------------------------------------------


def test_lenet5_default_unchanged():
    model = LeNet5()
    assert model.count_params() == 61_706
    assert model.get_config()["c3_connections"] == "full" and model.get_config()["output_layer"] == "dense"


def test_lenet5_paper_options_give_60000_parameters():
    model = LeNet5(**LENET5_PAPER_OPTIONS)
    counts = {name: model.get_layer(name).count_params() for name in ("c1", "s2", "c3", "s4", "c5", "f6", "rbf")}
    assert counts == {"c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120, "f6": 10_164, "rbf": 840}
    assert trainable_count(model) == 60_000
    assert not model.get_layer("rbf").trainable_weights
    probabilities = np.asarray(model(np.random.default_rng(0).random((3, 32, 32, 1)).astype("float32")))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


def test_lenet5_scaled_tanh_and_options_errors():
    np.testing.assert_allclose(np.asarray(scaled_tanh(np.array([-1.0, 0.0, 1.0]))), [-1.0, 0.0, 1.0], atol=1e-4)
    with pytest.raises(ValueError, match="Table I"):
        LeNet5(c3_connections="paper", width_multiplier=0.5)
    with pytest.raises(ValueError, match="pooling"):
        LeNet5(pooling="median")


def test_lenet5_paper_options_learn_digits_and_round_trip(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.pad(digits.images[:192, :, :, None] / 16.0, ((0, 0), (12, 12), (12, 12), (0, 0))).astype("float32")
    y = digits.target[:192]
    model = LeNet5(**LENET5_PAPER_OPTIONS)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", jit_compile=False)
    losses = model.fit(x, y, epochs=4, batch_size=32, verbose=0).history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    model.save(tmp_path / "lenet.keras")
    reloaded = keras.saving.load_model(tmp_path / "lenet.keras")
    np.testing.assert_allclose(np.asarray(reloaded(x[:4])), np.asarray(model(x[:4])), rtol=1e-5, atol=1e-6)


# --- AlexNet ---------------------------------------------------------------------------------------


def test_alexnet_shapes_groups_and_init():
    model = AlexNet()
    assert model.get_layer("conv1").output.shape[1:] == (55, 55, 96)
    assert model.get_layer("conv2_pool").output.shape[1:] == (13, 13, 256)
    assert model.get_layer("conv5_pool").output.shape[1:] == (6, 6, 256)  # "pool5", spec §9 #26
    assert sum(isinstance(layer, LocalResponseNormalization) for layer in model.layers) == 2
    conv = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(conv) == 5 and len(dense) == 3  # 8 layers, spec §9 #38
    conv_params = sum(layer.count_params() for layer in conv)
    assert round(conv_params / 1e6, 1) == 3.7 and round(sum(d.count_params() for d in dense) / 1e6, 1) == 58.6
    biases = {layer.name: float(np.mean(layer.bias.numpy())) for layer in conv + dense}
    assert biases == {
        "conv1": 0.0,
        "conv2": 1.0,
        "conv3": 0.0,
        "conv4": 1.0,
        "conv5": 1.0,
        "fc6": 1.0,
        "fc7": 1.0,
        "fc8": 0.0,
    }
    assert abs(float(np.std(model.get_layer("fc6").kernel.numpy())) - 0.01) < 1e-3
    assert AlexNet(groups=2).count_params() == 60_965_224


# --- VGG and Inception against keras.applications --------------------------------------------------


@pytest.mark.parametrize(
    "ours, reference",
    [
        (lambda: VGG(depth=16), lambda: keras.applications.VGG16(weights=None)),
        (lambda: InceptionV3(), lambda: keras.applications.InceptionV3(weights=None)),
        (lambda: InceptionResNetV2(), lambda: keras.applications.InceptionResNetV2(weights=None)),
    ],
    ids=["vgg16", "inception_v3", "inception_resnet_v2"],
)
def test_same_network_as_keras_applications(ours, reference):
    model = ours()
    expected = layer_signature(reference())
    assert layer_signature(model) == expected
    if model.name == "inception_v3":
        assert model.pyramid_layers == {4: "stem_5_act", 8: "mixed2", 16: "mixed7", 32: "mixed10"}


def test_vgg_configurations():
    def convs(depth):
        model = VGG(depth=depth, input_shape=(32, 32, 3), width_multiplier=0.0625, fc_units=8)
        return sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)

    convs = {depth: convs(depth) for depth in (11, 13, 16, 19)}
    assert convs == {11: 8, 13: 10, 16: 13, 19: 16}
    with pytest.raises(ValueError, match="depth"):
        VGG(depth=17)


def test_inception_v4_module_counts():
    model = InceptionV4(input_shape=(75, 75, 3), width_multiplier=0.0625)
    names = [layer.name for layer in model.layers]
    assert [sum(n == f"inception_{k}{i}" for i in range(1, 9) for n in names) for k in "abc"] == [4, 7, 3]
    assert "reduction_a" in names and "reduction_b" in names


def test_inception_resnet_v2_residual_scales():
    model = InceptionResNetV2(input_shape=(75, 75, 3), width_multiplier=0.0625)
    scales = [layer.scale for layer in model.layers if isinstance(layer, ScaledResidual)]
    assert scales == pytest.approx([0.17] * 10 + [0.1] * 20 + [0.2] * 9 + [1.0])


# --- GoogLeNet and auxiliary heads -------------------------------------------------------------------


def test_googlenet_parameter_counts_with_and_without_auxiliary_heads():
    assert GoogLeNet(aux_heads=False).count_params() == googlenet_params(False) == 6_998_552
    model = GoogLeNet(aux_heads=True)
    assert model.count_params() == googlenet_params(True) == 13_378_280
    assert len(model.outputs) == 3  # main + two auxiliary heads in the training graph
    modules = [
        layer.name for layer in model.layers if layer.name.startswith("inception_") and layer.name.endswith("_output")
    ]
    assert len(modules) == 9  # spec §9 #1


def test_googlenet_inference_has_one_output_training_has_three(tmp_path):
    model = architectures.create_model("googlenet", config="tiny")
    x = np.random.default_rng(0).random((4, 96, 96, 3)).astype("float32")
    assert isinstance(model(x), tf.Tensor) and model(x).shape == (4, 4)
    assert model.predict(x, verbose=0).shape == (4, 4)
    training_outputs = model(x, training=True)
    assert isinstance(training_outputs, list) and [o.shape for o in training_outputs] == [(4, 4)] * 3
    assert keras.Model(model.inputs, model(model.inputs[0])).output.shape == (None, 4)  # symbolic call
    model.save(tmp_path / "g.keras")
    reloaded = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(np.asarray(reloaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    headless = GoogLeNet(input_shape=(96, 96, 3), include_top=False, pooling="avg", width_multiplier=0.125)
    assert len(headless.outputs) == 1


def test_googlenet_auxiliary_loss_weight():
    model = architectures.create_model("googlenet", config="tiny")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", jit_compile=False)
    x = np.random.default_rng(0).random((4, 96, 96, 3)).astype("float32")
    y = np.array([0, 1, 2, 3])
    outputs = model(x, training=True)
    model.compute_loss(x, y, outputs[0])  # builds the compiled loss
    crossentropy = keras.losses.SparseCategoricalCrossentropy()
    expected = float(crossentropy(y, outputs[0])) + 0.3 * sum(float(crossentropy(y, o)) for o in outputs[1:])
    assert float(model.compute_loss(x, y, outputs)) == pytest.approx(expected, rel=1e-5)
    history = model.fit(x, y, epochs=1, verbose=0).history
    assert set(history) == {"loss"}


def test_inception_v3_auxiliary_head_is_training_only():
    model = InceptionV3(
        input_shape=(75, 75, 3), num_classes=3, width_multiplier=0.0625, blocks=(1, 1, 1), aux_heads=True
    )
    x = np.zeros((2, 75, 75, 3), "float32")
    assert model(x).shape == (2, 3) and len(model(x, training=True)) == 2
    assert any(
        isinstance(layer, keras.layers.BatchNormalization) and layer.name.startswith("aux") for layer in model.layers
    )


# --- plain nets ------------------------------------------------------------------------------------


def test_plain34_weights_are_resnet34_without_projections():
    plain = PlainNet(depth=34)
    assert trainable_count(plain) == PLAIN34_TRAINABLE == 21_623_848
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    twin = PlainNet(depth=34, shortcut="zero_pad")
    assert [w.shape for w in plain.weights] == [w.shape for w in twin.weights]
    assert sum(isinstance(layer, keras.layers.Add) for layer in twin.layers) == 16
    resnet = architectures.create_model("resnet34")
    shortcut_free = [tuple(w.shape) for w in resnet.weights if "_0_" not in w.path]
    assert [tuple(w.shape) for w in plain.weights] == shortcut_free


def test_cifar_plain_net_matches_its_residual_twin():
    plain = PlainNet(depth=20, input_shape=(32, 32, 3), num_classes=10)
    assert len([l for l in plain.layers if isinstance(l, keras.layers.Conv2D)]) == 19
    twins = [PlainNet(depth=20, shortcut="zero_pad", input_shape=(32, 32, 3), num_classes=10)]
    if "resnet20" in architectures.list_models():
        twins.append(architectures.create_model("resnet20"))
    for twin in twins:
        assert [tuple(w.shape) for w in plain.weights] == [tuple(w.shape) for w in twin.weights]
    with pytest.raises(ValueError, match="depth"):
        PlainNet(depth=21)


# --- SqueezeNet / SqueezeNext ----------------------------------------------------------------------------


def test_squeezenet_versions():
    for version, count, pool_after in (
        ("1.0", 1_248_424, ("conv1", "fire4", "fire8")),
        ("1.1", 1_235_496, ("conv1", "fire3", "fire5")),
    ):
        model = SqueezeNet(version=version)
        assert model.count_params() == count
        assert [l.name for l in model.layers if isinstance(l, keras.layers.MaxPooling2D)] == [
            f"pool_{n}" for n in pool_after
        ]
        widths = [model.get_layer(f"fire{i}_concat").output.shape[-1] for i in range(2, 10)]
        assert widths == [128, 128, 256, 256, 384, 384, 512, 512]


def test_squeezenext_reference_trainable_counts():
    # pytorchcv's sqnxt23_w1 and sqnxt23v5_w1 trainable counts.
    assert trainable_count(SqueezeNext()) == SQNXT23_TRAINABLE == 724_056
    assert trainable_count(SqueezeNext(version="23v5")) == 921_816
    block = [
        l for l in SqueezeNext().layers if l.name.startswith("stage3_unit2_") and isinstance(l, keras.layers.Conv2D)
    ]
    assert [(l.kernel_size, l.filters) for l in block] == [
        ((1, 1), 64),
        ((1, 1), 32),
        ((3, 1), 64),
        ((1, 3), 64),
        ((1, 1), 128),
    ]


# --- NiN ---------------------------------------------------------------------------------------------------


def test_nin_has_no_dense_layer_and_gap_head():
    model = architectures.create_model("nin")
    assert model.count_params() == 966_986
    assert not any(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    assert model.get_layer("mlpconv3_3").output.shape[-1] == 10
    imagenet = architectures.create_model("nin", variant="imagenet", input_shape=(224, 224, 3), num_classes=1000)
    assert imagenet.get_layer("mlpconv1_1").kernel.shape == (11, 11, 3, 96) and imagenet.output.shape == (None, 1000)


# --- backbone conventions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", B1_BACKBONES)
def test_backbone_headless_pooling_and_pyramid(name):
    pooled = architectures.create_model(name, config="tiny", include_top=False, pooling="avg")
    assert len(pooled.output.shape) == 2
    features = architectures.create_model(name, config="tiny", include_top=False, pooling=None)
    assert len(features.output.shape) == 4
    assert features.pyramid_layers, "no feature pyramid recorded"
    pyramid = feature_pyramid(features)
    size = features.inputs[0].shape[1]
    for key, tensor in pyramid.output.items():
        stride = int(key.split("_")[1])
        assert abs(np.log2(size / tensor.shape[1]) - np.log2(stride)) < 0.5, (key, tensor.shape)


def test_preprocessing_lives_in_the_model():
    model = architectures.create_model("vgg11", config="tiny", preprocessing={"scale": 1 / 255.0})
    assert model.get_layer("rescale") is not None


# --- regression ------------------------------------------------------------------------------------------


def test_regression_cnn_linear_head_replaces_the_classifier():
    backbone = architectures.create_model("simple_cnn")
    model = RegressionCNN(backbone="simple_cnn", input_shape=(32, 32, 3))
    assert model.count_params() == backbone.count_params() - (128 * 10 + 10) + (128 + 1)
    assert model.output.shape == (None, 1)


def test_dex_expected_value():
    probabilities = np.zeros((2, 101), "float32")
    probabilities[0, 30] = 1.0
    probabilities[1, [20, 40]] = 0.5
    np.testing.assert_allclose(np.asarray(ExpectedValue(0.0, 100.0, 101)(probabilities)), [[30.0], [30.0]], atol=1e-4)
    model = RegressionCNN(backbone="googlenet", backbone_config="tiny", input_shape=(96, 96, 3), head="dex")
    values = np.asarray(model(np.random.default_rng(0).random((3, 96, 96, 3)).astype("float32")))
    assert values.shape == (3, 1) and np.all((values >= 0) & (values <= 100))
    assert len(model.backbone.outputs) == 1  # no training-only auxiliary outputs inside a regressor
    with pytest.raises(ValueError, match="head"):
        RegressionCNN(backbone="simple_cnn", head="ordinal")


# --- NAS ----------------------------------------------------------------------------------------------


def test_controller_policy_is_causal_and_normalised():
    controller = NASController(num_layers=3, lstm_units=16)
    layout = controller.layout
    assert layout.rnn_steps == 15 and len(layout.pairs) == 3 and controller.output.shape == (None, 18, 4)
    actions, descriptions = controller.sample(4, seed=0)
    probabilities = np.asarray(controller(actions))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)
    for step in range(layout.steps):
        assert np.all(probabilities[:, step, layout.valid_choices(step) :] < 1e-6)
        assert np.all(actions[:, step] < layout.valid_choices(step))
    changed = actions.copy()
    changed[:, 5] = (changed[:, 5] + 1) % 4
    np.testing.assert_allclose(np.asarray(controller(changed))[:, :6], probabilities[:, :6], atol=1e-6)
    for row, description in zip(actions, descriptions):
        np.testing.assert_array_equal(controller.encode(description), row)
        assert {"filter_height", "filter_width", "filters", "stride", "inputs"} <= set(description[0])
        assert description[0]["filter_height"] in (1, 3, 5, 7) and description[0]["filters"] in (24, 36, 48, 64)


def test_reinforce_with_baseline_learns_a_rewarded_choice():
    keras.utils.set_random_seed(0)
    controller = NASController(num_layers=2, lstm_units=16, skip_connections=False)
    trainer = ReinforceTrainer(controller, learning_rate=0.05, baseline_decay=0.9)

    def reward(description):  # 3×3 filters in the first layer are "accurate"
        return float(description[0]["filter_height"] == 3)

    def p_three():
        return float(np.asarray(controller(np.zeros((1, controller.layout.steps), "float32")))[0, 0, 1])

    before = p_three()
    history = search(controller, reward, steps=25, batch_size=16, trainer=trainer, seed=0)
    assert p_three() > max(0.8, before + 0.4)
    assert history[-1]["mean_reward"] > history[0]["mean_reward"]
    # The baseline is the moving average of the batch rewards.
    b0, rewards = trainer.baseline, np.array([1.0, 0.0, 1.0, 1.0])
    trainer.update(controller.sample(4, seed=1)[0], rewards)
    assert trainer.baseline == pytest.approx(0.9 * b0 + 0.1 * rewards.mean())


def test_child_network_from_a_sample_and_the_accuracy_reward():
    description = [
        {"filter_height": 3, "filter_width": 5, "filters": 24, "stride": 2, "inputs": []},
        {"filter_height": 1, "filter_width": 3, "filters": 36, "stride": 1, "inputs": [0]},
        {"filter_height": 3, "filter_width": 3, "filters": 24, "stride": 3, "inputs": [0, 1]},
    ]
    child = NASChildNet(description=description, input_shape=(16, 16, 3), num_classes=3)
    assert child.get_layer("layer0_conv").kernel.shape == (3, 5, 3, 24)
    assert child.get_layer("layer2_inputs").output.shape[1:] == (8, 8, 60)  # concatenation of layers 0 and 1
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 16, 16, 3)).astype("float32"), rng.integers(0, 3, 32)
    reward = child_accuracy_reward(x, y, x, y, num_classes=3, epochs=1, width_multiplier=0.5)
    # The reward is the child's validation accuracy: a whole number of the 32 examples right.
    value = reward(description)
    assert value * 32 == pytest.approx(round(value * 32))
    with pytest.raises(ValueError, match="earlier"):
        NASChildNet(description=[{"filter_height": 3, "filter_width": 3, "filters": 24, "inputs": [0]}])


def test_accuracy_regressor_over_tokenised_descriptions():
    rng = np.random.default_rng(0)
    descriptions = [random_description(rng, 3) for _ in range(96)]
    text = describe_prototxt(descriptions[0])
    assert text.startswith('layer { name: "layer0" type: "Convolution"')
    tokens = tokenize_description(text, 64)
    renamed = text.replace("layer", "conv").replace("conv {", "layer {")  # other blob names, same wiring
    np.testing.assert_array_equal(tokens, tokenize_description(renamed, 64))
    x = np.stack([tokenize_description(d, 64) for d in descriptions])
    y = np.array([[0.5 + 0.4 * np.mean([layer["filters"] == 64 for layer in d])] for d in descriptions], "float32")
    keras.utils.set_random_seed(0)
    model = AccuracyRegressor(max_tokens=64, embedding_dim=8, lstm_units=16)
    model.compile(keras.optimizers.Adam(1e-2), "mse", jit_compile=False)
    baseline = float(np.mean((y - y.mean()) ** 2))
    model.fit(x[:80], y[:80], epochs=25, batch_size=16, verbose=0)
    assert float(model.evaluate(x[:80], y[:80], verbose=0)) < 0.5 * baseline
