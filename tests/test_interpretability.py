"""Family C's own checks (spec §2 C): the localiser's loss, α and training modes; CAM, Grad-CAM,
Augmented Grad-CAM, saliency, occlusion, activation maximisation, DeepDream, receptive fields and
maximally activating patches, FGSM and adversarial training, the sticker attack, the decoders;
and the `explain` / `attack` commands. The sweep columns come from tests/test_registry_sweep.py."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import architectures
from architectures.interpretability.methods import (
    ExplainedCNN,
    FeatureDecoder,
    TwoHeadLocalizer,
    load_encoder_weights,
)
from tasks import interpretability as interp


def _linear_classifier(size=8, classes=3, seed=0):
    """A conv-free linear softmax classifier with known weights (for hand-computed gradients)."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(seed)
    kernel = rng.normal(size=(size * size * 3, classes)).astype("float32")
    bias = rng.normal(size=classes).astype("float32")
    model.get_layer("predictions").set_weights([kernel, bias])
    return model, kernel, bias


TRAIN_PER_CLASS, TRAIN = 100, 850


@pytest.fixture(scope="module")
def shapes_classifier():
    """A small conv → GAP → Dense classifier trained briefly on shapes-10 (for the pointing game)."""
    from pipelines.datasets import load_dataset

    keras.utils.set_random_seed(0)
    data = load_dataset("shapes10", num_per_class=TRAIN_PER_CLASS)
    x, y = data.x, data.y
    mean, std = x.mean(axis=(0, 1, 2)).tolist(), x.std(axis=(0, 1, 2)).tolist()
    model = ExplainedCNN(input_shape=(32, 32, 3), num_classes=10, filters=(16, 32, 64), convs_per_stage=1, batch_norm=True, preprocessing={"mean": mean, "std": std})
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:TRAIN], y[:TRAIN], batch_size=32, epochs=12, verbose=0)
    return model, x[TRAIN:], y[TRAIN:], data.boxes[TRAIN:, 0]


# --- the two-head localiser -----------------------------------------------------------------------


def _localizer_batch(n=8, seed=0):
    model = TwoHeadLocalizer(input_shape=(16, 16, 3), num_classes=3, filters=(8, 16), convs_per_stage=1, batch_norm=False, hidden_units=8)
    return model, *interp.Localization().example_batch(model, n, seed)


def test_conditional_loss_mask_gives_no_box_or_class_loss_without_an_object():
    y = {"label": np.array([1, 2], "int32"), "box": np.array([[0.5, 0.5, 0.2, 0.2], [0.1, 0.1, 0.1, 0.1]], "float32"), "present": np.array([1.0, 0.0], "float32")}
    prediction = {"probabilities": np.array([[0.2, 0.5, 0.3], [0.3, 0.3, 0.4]], "float32"), "box": np.array([[0.4, 0.5, 0.2, 0.3], [0.9, 0.9, 0.9, 0.9]], "float32"), "objectness": np.array([[0.9], [0.2]], "float32")}
    changed = {**prediction, "box": prediction["box"].copy(), "probabilities": prediction["probabilities"].copy()}
    changed["box"][1] = [0.0, 0.3, 0.5, 0.1]  # another box and class guess on the empty image
    changed["probabilities"][1] = [0.9, 0.05, 0.05]
    masked = [float(interp.localization_loss(y, p, alpha=0.5, conditional_mask=True)) for p in (prediction, changed)]
    unmasked = [float(interp.localization_loss(y, p, alpha=0.5, conditional_mask=False)) for p in (prediction, changed)]
    assert masked[0] == pytest.approx(masked[1], abs=1e-7)  # 003: only (p_c − y_1)² where nothing is present
    assert abs(unmasked[0] - unmasked[1]) > 1e-2
    # The present image's terms: α·(CE + BCE) + (1 − α)·‖b − b̂‖², averaged over the batch.
    expected = 0.5 * (-np.log(0.5) - np.log(0.9) - np.log(0.8)) / 2 + 0.5 * (0.1**2 + 0.1**2) / 2
    assert masked[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("alpha, box_moves, class_moves", [(1.0, False, True), (0.0, True, False), (0.5, True, True)])
def test_alpha_sweep_weights_the_two_heads(alpha, box_moves, class_moves):
    model, x, y = _localizer_batch()
    model.alpha = alpha
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    box_kernel, class_kernel = model.get_layer("box_head").kernel, model.get_layer("class_head").kernel
    box_grad, class_grad = tape.gradient(loss, [box_kernel, class_kernel])
    assert (box_grad is not None and float(tf.reduce_max(tf.abs(box_grad))) > 0) == box_moves
    assert (class_grad is not None and float(tf.reduce_max(tf.abs(class_grad))) > 0) == class_moves


def test_separate_training_trains_the_box_head_on_frozen_features():
    model, x, y = _localizer_batch(32)
    conv = [w.copy() for w in model.get_layer("block1_conv1").get_weights()]
    head, box = model.get_layer("class_head").get_weights()[0].copy(), model.get_layer("box_head").get_weights()[0].copy()
    history = interp.fit_localizer(model, x, y, mode="separate", epochs=(0, 3), batch_size=16, learning_rate=1e-2)
    assert history["box"]["loss"][-1] < history["box"]["loss"][0]
    assert all(np.array_equal(a, b) for a, b in zip(conv, model.get_layer("block1_conv1").get_weights()))
    assert np.array_equal(head, model.get_layer("class_head").get_weights()[0])
    assert not np.allclose(box, model.get_layer("box_head").get_weights()[0])
    assert all(layer.trainable for layer in model.layers) and model.alpha == 0.5  # restored afterwards


def test_joint_training_moves_the_backbone_and_both_heads():
    model, x, y = _localizer_batch(32)
    names = ("block1_conv1", "class_head", "box_head")
    before = {name: model.get_layer(name).get_weights()[0].copy() for name in names}
    history = interp.fit_localizer(model, x, y, mode="joint", epochs=3, batch_size=16, learning_rate=1e-2)
    assert set(history) == {"joint"} and history["joint"]["loss"][-1] < history["joint"]["loss"][0]
    assert all(not np.allclose(before[name], model.get_layer(name).get_weights()[0]) for name in names)
    with pytest.raises(ValueError, match="mode"):
        interp.fit_localizer(model, x, y, mode="alternating")


def test_localization_dataset_has_normalised_boxes_and_empty_images():
    from pipelines.datasets import load_dataset

    data = load_dataset("shapes10_localization", num_per_class=10, empty_fraction=0.2)
    present = data.y["present"]
    assert 0.15 < 1 - present.mean() < 0.25
    boxes = data.y["box"][present > 0]
    assert np.all((boxes > 0) & (boxes <= 1)) and np.all(data.y["box"][present == 0] == 0)


# --- CAM and Grad-CAM ------------------------------------------------------------------------------


def test_cam_box_is_the_largest_region_above_20_percent_of_the_maximum():
    heatmap = np.zeros((20, 20))
    heatmap[2:4, 2:4] = 1.0  # the peak, small
    heatmap[10:18, 4:12] = 0.3  # larger, above 20 % of the peak
    heatmap[0:20, 15:20] = 0.15  # larger still but under 20 %
    assert heatmap_box_equals(interp.heatmap_box(heatmap), [4, 10, 12, 18])
    assert heatmap_box_equals(interp.heatmap_box(heatmap, threshold=0.1), [15, 0, 20, 20])


def heatmap_box_equals(box, expected):
    return np.array_equal(np.asarray(box), np.asarray(expected, "float32"))


def test_cam_is_the_class_weighted_sum_of_the_last_maps_and_equals_grad_cam_on_a_gap_head():
    model = ExplainedCNN(input_shape=(16, 16, 3), num_classes=4, filters=(8, 16), convs_per_stage=1)
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    features = keras.Model(model.inputs, model.get_layer("block2_relu1").output)(images).numpy()
    kernel = model.get_layer("predictions").kernel.numpy()
    manual = np.maximum(np.einsum("nhwk,k->nhw", features, kernel[:, 2]), 0)
    manual /= manual.max(axis=(1, 2), keepdims=True)
    cam = interp.class_activation_map(model, images, class_index=2, upsample=False)
    np.testing.assert_allclose(cam, manual, rtol=1e-4, atol=1e-6)
    # With conv → GAP → Dense, ∂y_c/∂A_k(i, j) = w_ck/(nm): Grad-CAM is CAM.
    grad = interp.grad_cam(model, images, class_index=2, layer="block2_relu1", upsample=False)
    np.testing.assert_allclose(grad, cam, rtol=1e-3, atol=1e-5)


def test_pointing_game_on_held_out_shapes(shapes_classifier):
    """CAM and Grad-CAM of a trained shapes classifier point inside the object (spec: ≥ 0.8 on the
    benchmark's classifier, benchmarks/bench_interpretability.py; here a smaller, faster one)."""
    model, x, y, boxes = shapes_classifier
    # Chance: a uniformly random point hits with the mean box area fraction.
    chance = float(np.mean((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / 32**2))
    for method in ("cam", "grad_cam"):
        maps = interp.explain(model, x, method, class_index=y)
        assert interp.pointing_game(maps, boxes) >= max(0.7, chance + 0.25), (method, chance)


def test_method_endpoints_equal_the_functions():
    images = np.random.default_rng(1).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    for method, function in (("grad_cam", interp.grad_cam), ("saliency_map", interp.saliency_map), ("cam", interp.class_activation_map)):
        model = architectures.create_model(method, config="tiny", value_range=(0.0, 255.0))
        outputs = interp.method_endpoint(model, method)(images)
        np.testing.assert_allclose(outputs[interp.ENDPOINT_OUTPUTS[method]], function(model, images), rtol=1e-4, atol=1e-5)
    model = architectures.create_model("fgsm", config="tiny", value_range=(0.0, 255.0), epsilon=0.01)
    predicted = np.argmax(model(images).numpy(), -1)
    expected = interp.fgsm(model, images, predicted, 0.01)
    np.testing.assert_allclose(interp.method_endpoint(model, "fgsm", **model.method_options)(images)["adversarial_image"], expected, atol=1e-3)


# --- Augmented Grad-CAM ----------------------------------------------------------------------------


def test_tv_super_resolution_recovers_detail_that_one_low_resolution_map_loses():
    size = 16
    yy, xx = np.mgrid[0:size, 0:size]
    truth = np.exp(-((xx - 5.3) ** 2 + (yy - 9.7) ** 2) / 3.0) + 0.7 * np.exp(-((xx - 11) ** 2 + (yy - 4) ** 2) / 2.0)
    transforms = interp.shift_rotation_transforms(size, 12, seed=3)
    warped = interp._affine(np.repeat(truth[None, ..., None].astype("float32"), 12, axis=0), transforms)
    low = np.asarray(keras.ops.nn.average_pool(warped, 4, 4))[..., 0]
    recovered = interp.super_resolve(low, transforms, size, tv_weight=1e-3, steps=300)
    upsampled = np.asarray(interp._upsample(low[:1], (size, size)))[0]
    error = lambda h: float(np.sqrt(np.mean((h - truth) ** 2)))
    assert error(recovered) < 0.7 * error(upsampled), (error(recovered), error(upsampled))
    # λ·TV acts: a heavy weight flattens the map (lower total variation).
    flat = interp.super_resolve(low, transforms, size, tv_weight=1.0, steps=300)
    assert float(interp.total_variation(flat[None])[0]) < float(interp.total_variation(recovered[None])[0])


def test_augmented_grad_cam_returns_a_full_resolution_map(shapes_classifier):
    model, x, y, _ = shapes_classifier
    heatmap = interp.augmented_grad_cam(model, x[0], class_index=int(y[0]), augmentations=6, steps=60)
    assert heatmap.shape == (32, 32) and heatmap.max() == pytest.approx(1.0)


# --- saliency, occlusion --------------------------------------------------------------------------


def test_saliency_is_the_channel_max_of_the_absolute_score_gradient_of_a_linear_model():
    model, kernel, _ = _linear_classifier()
    images = np.random.default_rng(2).normal(size=(2, 8, 8, 3)).astype("float32")
    saliency = interp.saliency_map(model, images, class_index=[1, 2])
    # S_c = w_cᵀ·vec(I) + b_c, so ∂S_c/∂I = w_c (not the softmax's gradient: the score is pre-softmax).
    for n, c in enumerate([1, 2]):
        np.testing.assert_allclose(saliency[n], np.abs(kernel[:, c].reshape(8, 8, 3)).max(axis=-1), rtol=1e-6)


def test_occlusion_sensitivity_is_zero_where_the_model_does_not_look():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", name="conv")(inputs)
    x = keras.layers.Cropping2D(((0, 8), (0, 8)))(x)  # sees only the top-left quadrant
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax", kernel_initializer=keras.initializers.Constant([[0.001, -0.001]]))(x)
    model = keras.Model(inputs, outputs)
    images = np.random.default_rng(3).uniform(100, 255, (2, 16, 16, 3)).astype("float32")
    probabilities, sensitivity = interp.occlusion_sensitivity(model, images, class_index=0, patch=4, stride=4, fill=0.0)
    assert probabilities.shape == (2, 4, 4)
    assert np.all(sensitivity[:, 8:, :] == 0) and np.all(sensitivity[:, :, 8:] == 0)
    assert np.all(sensitivity[:, :8, :8] > 0)  # blacking out what it sees lowers p_0


# --- activation maximisation, DeepDream -----------------------------------------------------------


def test_activation_maximization_ascends_the_score_and_the_l2_penalty_shrinks_the_image():
    keras.utils.set_random_seed(0)
    model = ExplainedCNN(input_shape=(16, 16, 3), num_classes=4, filters=(8, 16), convs_per_stage=1, preprocessing={"mean": [127.5] * 3, "std": [60.0] * 3})
    image, history = interp.activation_maximization(model, class_index=1, steps=40, learning_rate=8.0, l2_decay=1e-3)
    # Ascent (the standard sign): the score of an untrained net's class 1 rises ten-fold its start
    # and the synthesised image is classified as class 1.
    assert history[-1] > history[0] + 0.15 and int(np.argmax(model(image[None]).numpy())) == 1
    strong, _ = interp.activation_maximization(model, class_index=1, steps=40, learning_rate=8.0, l2_decay=0.2)
    assert np.abs(strong - 127.5).mean() < np.abs(image - 127.5).mean()
    assert image.min() >= 0 and image.max() <= 255  # clipping to the pixel range


def test_deep_dream_amplifies_the_layer_activations():
    keras.utils.set_random_seed(0)
    model = ExplainedCNN(input_shape=(16, 16, 3), num_classes=4, filters=(8, 16), convs_per_stage=1)
    start = np.random.default_rng(4).uniform(60, 200, (16, 16, 3)).astype("float32")
    dream, losses = interp.deep_dream(model, start, steps=8, octaves=2)
    features = keras.Model(model.inputs, model.get_layer(interp.last_conv_layer(model)).output)
    energy = lambda image: float(np.mean(np.square(features(image[None]))))
    assert energy(dream) > 1.5 * energy(start) and len(losses) == 16


# --- receptive field and maximally activating patches ---------------------------------------------


def test_receptive_field_calculator_matches_known_networks():
    stack = keras.Sequential([keras.Input((32, 32, 3))] + [keras.layers.Conv2D(4, 3, name=f"c{i}") for i in range(3)])
    size, jump, start = interp.receptive_field(stack, "c2")
    assert list(size) == [7, 7] and list(jump) == [1, 1] and list(start) == [3.5, 3.5]
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    assert list(interp.receptive_field(vgg, "block5_conv3")[0]) == [196, 196]
    size, jump, _ = interp.receptive_field(vgg, "block5_pool")
    assert list(size) == [212, 212] and list(jump) == [32, 32]
    # AlexNet conv1 (11×11/4), pool 3×3/2, conv2 5×5: 11, 19, 51 (the usual table).
    assert interp.receptive_field_of_layers([(11, 4, 0), (3, 2, 0), (5, 1, 2)])[0][0] == 51


def test_max_activating_patches_finds_the_brightest_dot_and_crops_its_receptive_field():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv", kernel_initializer="ones", bias_initializer="zeros")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))
    images = np.zeros((5, 16, 16, 3), "float32")
    dots = [(3, 4), (10, 12), (7, 7), (12, 2), (5, 9)]
    for index, (row, col) in enumerate(dots):
        images[index, row, col] = 1.0 + index  # image 4 holds the brightest dot
    found = interp.max_activating_patches(model, images, layer="conv", unit=0, top_k=2)
    assert list(found["indices"]) == [4, 3]
    x0, y0, x1, y1 = found["boxes"][0]
    assert (x1 - x0, y1 - y0) == (3, 3) and x0 <= 9 < x1 and y0 <= 5 < y1
    assert found["patches"][0].shape == (3, 3, 3) and found["patches"][0].max() == 5.0


# --- FGSM, adversarial training, the sticker ------------------------------------------------------


def test_fgsm_steps_by_epsilon_along_the_sign_of_the_hand_computed_gradient():
    model, kernel, bias = _linear_classifier()
    images = np.random.default_rng(5).uniform(50, 200, (2, 8, 8, 3)).astype("float32")
    labels = np.array([0, 2])
    adversarial = interp.fgsm(model, images, labels, epsilon=0.007)
    logits = images.reshape(2, -1) @ kernel + bias
    p = np.exp(logits - logits.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    gradient = (p - np.eye(3)[labels]) @ kernel.T  # ∂CE/∂x = W (p − onehot)
    np.testing.assert_allclose(adversarial - images, 0.007 * 255 * np.sign(gradient).reshape(images.shape), atol=1e-3)
    with pytest.raises(ValueError, match="epsilon"):
        interp.fgsm(model, images, labels, epsilon=2.0)


def test_adversarial_objective_is_the_alpha_mix_of_clean_and_fgsm_losses():
    model, _, _ = _linear_classifier(seed=1)
    images = np.random.default_rng(6).uniform(50, 200, (4, 8, 8, 3)).astype("float32")
    labels = np.array([0, 1, 2, 0])
    loss = keras.losses.SparseCategoricalCrossentropy()
    clean = float(loss(labels, model(images)))
    attacked = float(loss(labels, model(interp.fgsm(model, images, labels, 0.01))))
    mixed = float(interp.adversarial_objective(model, loss, images, labels, model(images), 0.01, alpha=0.5))
    assert mixed == pytest.approx(0.5 * clean + 0.5 * attacked, rel=1e-4) and attacked > clean


def test_adversarial_training_raises_accuracy_under_attack(shapes_classifier):
    model, x, y, _ = shapes_classifier
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    from pipelines.datasets import load_dataset

    data = load_dataset("shapes10", num_per_class=TRAIN_PER_CLASS)
    _, before = interp.accuracy_under_fgsm(copy, x, y, 0.01)
    interp.adversarial_training(copy, data.x[:TRAIN], data.y[:TRAIN], epsilon=0.01, epochs=2, batch_size=32)
    _, after = interp.accuracy_under_fgsm(copy, x, y, 0.01)
    assert after > before + 0.05, (before, after)  # measured: 0.12 → 0.22 (2 epochs, ε = 0.01)


def test_sticker_attack_is_optimised_over_random_transformations():
    # A linear model whose class 1 score grows with red and falls with green/blue.
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(1, 1, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dense = keras.layers.Dense(2, activation="softmax", kernel_initializer=keras.initializers.Constant([[-0.01, 0.01]]), bias_initializer=keras.initializers.Constant([-1.0, 1.0]))
    outputs = dense(x)  # grey (−128 after the conv) is class 0 with p ≈ 0.64; enough red flips it
    model = keras.Model(inputs, outputs)
    model.get_layer("conv").set_weights([np.array([1.0, -1.0, -1.0], "float32").reshape(1, 1, 3, 1), np.zeros(1, "float32")])
    images = np.full((8, 16, 16, 3), 128.0, "float32")
    transforms, factors = interp.sticker_transforms(4, 16, 6, rng=np.random.default_rng(0))
    assert len({tuple(np.round(t, 3)) for t in transforms}) == 4 and factors.min() != factors.max()
    placed = np.asarray(interp.apply_sticker(images[:4], np.zeros((6, 6, 3), "float32"), transforms, factors))
    covered = (placed[..., 0] < 64).sum(axis=(1, 2))
    assert np.all((covered > 0.5 * 36 * 0.64) & (covered < 36 * 1.44 * 1.3))
    sticker, losses = interp.sticker_attack(model, images, np.zeros(8, "int64"), sticker_size=6, steps=40, samples=8, learning_rate=0.2)
    assert losses[-1] < losses[0]
    red, green, blue = sticker.mean(axis=(0, 1))
    assert red > 200 and green < 55 and blue < 55  # the content that flips class 0 → 1
    assert interp.accuracy_with_sticker(model, images, np.zeros(8, "int64"), sticker) < 0.5


# --- decoders from a fixed classifier -------------------------------------------------------------


def test_feature_decoders_load_the_classifier_encoder_and_keep_it_frozen(tmp_path):
    classifier = ExplainedCNN(input_shape=(16, 16, 3), num_classes=4, filters=(8, 16), convs_per_stage=1)
    path = tmp_path / "classifier.keras"
    classifier.save(path)
    for source in ("feature_map", "feature_vector"):
        decoder = FeatureDecoder(input_shape=(16, 16, 3), filters=(8, 16), convs_per_stage=1, source=source, decoder_filters=(8,), classifier_path=str(path))
        np.testing.assert_array_equal(decoder.get_layer("block2_conv1").get_weights()[0], classifier.get_layer("block2_conv1").get_weights()[0])
        trainable = {w.path.split("/")[0] for w in decoder.trainable_weights}
        assert not any(name.startswith("block") for name in trainable) and "up1" in trainable
    with pytest.raises(ValueError, match="No encoder layer"):
        load_encoder_weights(FeatureDecoder(input_shape=(16, 16, 3), filters=(4, 4), convs_per_stage=1, decoder_filters=(8,)), classifier)


# --- bad input ------------------------------------------------------------------------------------


def test_methods_reject_non_classifiers_wrong_sizes_and_conv_free_models():
    model = ExplainedCNN(input_shape=(16, 16, 3), num_classes=4, filters=(8, 16), convs_per_stage=1)
    with pytest.raises(ValueError, match=r"Expected images of shape \(N, 16, 16, 3\)"):
        interp.grad_cam(model, np.zeros((1, 32, 32, 3)))
    localizer, _, _ = _localizer_batch()
    with pytest.raises(ValueError, match="image classifier"):
        interp.check_image_classifier(localizer)
    linear, _, _ = _linear_classifier()
    with pytest.raises(ValueError, match="no conv layer"):
        interp.explain(linear, np.zeros((1, 8, 8, 3)), "grad_cam")
    with pytest.raises(ValueError, match="Unknown attribution method"):
        interp.explain(model, np.zeros((1, 16, 16, 3)), "lime")


# --- the commands ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    from deepzoo.cli import main

    run = tmp_path_factory.mktemp("runs") / "grad_cam"
    assert main(["train", "grad_cam", "--tiny", "--epochs", "1", "--max-examples", "200", "--run-dir", str(run)]) == 0
    return run


def test_explain_writes_overlays_and_scores_for_a_classifier_run(classifier_run, tmp_path, capsys):
    from deepzoo.cli import main

    out = tmp_path / "explained"
    assert main(["explain", str(classifier_run), "--method", "grad_cam", "--images", "6", "--out", str(out)]) == 0
    report = json.loads((out / "scores.json").read_text())
    assert len(report["per_image"]) == 6 and "pointing_game" in report and (out / "overlays.png").stat().st_size > 1000
    assert "pointing game" in capsys.readouterr().out


def test_attack_reports_accuracy_under_fgsm(classifier_run, tmp_path):
    from deepzoo.cli import main

    out = tmp_path / "attacked"
    assert main(["attack", str(classifier_run), "--method", "fgsm", "--epsilon", "0.05", "--images", "24", "--out", str(out)]) == 0
    before = json.loads((out / "scores.json").read_text())["before"]
    assert before["attacked_accuracy"] <= before["clean_accuracy"] and (out / "examples.png").is_file()


def test_bad_input_is_one_line_and_exit_2(classifier_run, tmp_path, capsys):
    import shutil

    from PIL import Image

    from deepzoo.cli import main

    not_a_classifier = tmp_path / "localizer_run"
    not_a_classifier.mkdir()
    shutil.copy(classifier_run / "config.json", not_a_classifier / "config.json")
    architectures.create_model("two_head_localizer", config="tiny").save(not_a_classifier / "model.keras")
    wrong_size = tmp_path / "wrong.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(wrong_size)
    for argv, message in (
        (["explain", str(not_a_classifier), "--method", "grad_cam"], "not an image classifier"),
        (["explain", str(classifier_run), "--method", "lime"], "--method must be one of"),
        (["attack", str(classifier_run), "--epsilon", "2"], "--epsilon must be"),
        (["explain", str(classifier_run), "--image", str(wrong_size)], "the model takes 32×32"),
    ):
        capsys.readouterr()
        assert main(argv) == 2, argv
        error = capsys.readouterr().err.strip()
        assert message in error and len(error.splitlines()) == 1, (argv, error)

