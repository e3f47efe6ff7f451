"""Family G image-to-image rows (pix2pix, cyclegan, srresnet/srgan, gatys_style_transfer,
fast_style_transfer) and family K's sfsnet, intrinsic_reflectance_prior, neural_rendering_pipeline:
the spec's row checks (registry sweep and export parity run elsewhere)."""

import keras
import numpy as np
import pytest

import architectures
from architectures.generative.style_transfer import (
    GatysStyleTransfer,
    transformation_network,
)
from architectures.generative.super_resolution import PixelShuffle, srresnet_generator
from architectures.generative.translation import (
    CycleGAN,
    InstanceNormalization,
    Pix2Pix,
    patchgan_discriminator,
    receptive_field,
    resnet_generator,
    unet_generator,
)
from architectures.three_d.intrinsic import NeuralRenderingPipeline, SfSNet
from tasks.generative import (
    discriminator_loss,
    generator_loss,
    least_squares_discriminator_loss,
    least_squares_generator_loss,
)
from tasks.image_to_image import (
    SH_ATTENUATION,
    SH_CONSTANTS,
    gram_matrix,
    relative_reflectance,
    sh_shading,
    sh_shading_numpy,
    whdr,
)


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 255.0, size=shape).astype("float32")


# --- Pix2Pix ----------------------------------------------------------------------------------------


def test_patchgan_70_has_a_70_pixel_receptive_field_and_a_30x30_grid_at_256():
    discriminator = patchgan_discriminator((256, 256, 6))
    assert receptive_field(discriminator) == 70
    assert tuple(discriminator.output.shape[1:]) == (30, 30, 1)
    trainable = sum(int(np.prod(v.shape)) for v in discriminator.trainable_weights)
    assert abs(trainable - 2_770_000) / 2_770_000 < 0.01  # ≈2.77 M (spec)


def test_pix2pix_generator_loss_is_adversarial_plus_100_l1_and_d_sees_input_target_pairs():
    import keras

    model = Pix2Pix(input_shape=(16, 16, 3), generator_filters=(8, 16), discriminator_filters=(8,), seed=0)
    assert model.l1_weight == 100.0 and architectures.get_spec("pix2pix").builder is Pix2Pix
    assert model.discriminator.input.shape[-1] == 6  # input image concatenated with the real/fake target
    x, y = _pixels((2, 16, 16, 3)), _pixels((2, 16, 16, 3), 1)
    loss, d_loss, parts = model._objectives(x, y, training=False)
    source, target = x / 127.5 - 1.0, y / 127.5 - 1.0
    fake = np.asarray(model.generator(source, training=False))
    fake_logits = model.discriminator(np.concatenate([source, fake], -1), training=False)
    real_logits = model.discriminator(np.concatenate([source, target], -1), training=False)
    l1 = np.mean(np.abs(fake - target))
    np.testing.assert_allclose(float(parts["l1"]), l1, rtol=1e-4)
    np.testing.assert_allclose(float(loss), float(generator_loss(fake_logits)) + 100.0 * l1, rtol=1e-4)
    np.testing.assert_allclose(float(d_loss), float(discriminator_loss(real_logits, fake_logits)), rtol=1e-4)
    assert isinstance(model.generator.get_layer("generator_skip0"), keras.layers.Concatenate)  # U-Net skips


@pytest.mark.large
def test_unet_256_generator_has_the_papers_size():
    trainable = sum(int(np.prod(v.shape)) for v in unet_generator((256, 256, 3)).trainable_weights)
    assert abs(trainable - 54_400_000) / 54_400_000 < 0.01


# --- CycleGAN ---------------------------------------------------------------------------------------


def test_cyclegan_losses_are_lsgan_plus_cycle_and_identity_terms():
    model = CycleGAN(input_shape=(16, 16, 3), filters=4, residual_blocks=1, downsamplings=1, discriminator_filters=(8,), seed=0)
    assert (model.cycle_weight, model.identity_weight) == (10.0, 0.5)
    a, b = _pixels((2, 16, 16, 3)), _pixels((2, 16, 16, 3), 1)
    loss, d_loss, parts = model._objectives(a, b, training=False)
    ua, ub = a / 127.5 - 1.0, b / 127.5 - 1.0
    g, f = (lambda t: np.asarray(model.generator(t, training=False))), (lambda t: np.asarray(model.generator_ba(t, training=False)))
    d_a, d_b = (lambda t: model.discriminator_a(t, training=False)), (lambda t: model.discriminator(t, training=False))
    cycle = np.mean(np.abs(f(g(ua)) - ua)) + np.mean(np.abs(g(f(ub)) - ub))
    identity = np.mean(np.abs(g(ub) - ub)) + np.mean(np.abs(f(ua) - ua))
    adversarial = float(least_squares_generator_loss(d_b(g(ua)))) + float(least_squares_generator_loss(d_a(f(ub))))
    np.testing.assert_allclose(float(parts["cycle"]), cycle, rtol=1e-4)
    np.testing.assert_allclose(float(parts["identity"]), identity, rtol=1e-4)
    np.testing.assert_allclose(float(loss), adversarial + 10.0 * cycle + 5.0 * identity, rtol=1e-4)
    expected_d = float(least_squares_discriminator_loss(d_b(ub), d_b(g(ua)))) + float(least_squares_discriminator_loss(d_a(ua), d_a(f(ub))))
    np.testing.assert_allclose(float(d_loss), expected_d, rtol=1e-4)
    # The endpoint returns G(a) and its cycle F(G(a)) in pixels.
    outputs = model(a, training=False)
    np.testing.assert_allclose(np.asarray(outputs["reconstruction"]) / 127.5 - 1.0, f(g(ua)), atol=1e-4)


def test_instance_norm_normalises_each_example_and_channel():
    x = np.random.default_rng(0).normal(3.0, 5.0, size=(2, 8, 8, 4)).astype("float32")
    y = np.asarray(InstanceNormalization()(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1.0, atol=1e-3)


@pytest.mark.large
def test_cyclegan_resnet_generator_matches_the_reference_count():
    assert resnet_generator((256, 256, 3)).count_params() == 11_378_179


# --- SRResNet / SRGAN -------------------------------------------------------------------------------


def test_pixel_shuffle_is_depth_to_space_and_srresnet_upsamples_by_4():
    import tensorflow as tf

    x = np.random.default_rng(0).normal(size=(2, 3, 5, 12)).astype("float32")
    np.testing.assert_array_equal(np.asarray(PixelShuffle(2)(x)), tf.nn.depth_to_space(x, 2).numpy())
    model = architectures.create_model("srresnet", config="tiny")
    assert tuple(model(_pixels((1, 4, 4, 3)))["generated"].shape) == (1, 16, 16, 3)
    assert any(isinstance(layer, PixelShuffle) for layer in model.generator.layers)


def test_srresnet_canonical_has_16_residual_blocks_and_the_papers_count():
    generator = srresnet_generator((24, 24, 3))
    blocks = {layer.name.split("_")[1] for layer in generator.layers if layer.name.startswith("generator_res")}
    assert len(blocks) == 16
    spec = architectures.get_spec("srresnet")
    assert abs(generator.count_params() - spec.reference_params) / spec.reference_params <= spec.param_tolerance


def test_srresnet_starts_with_icnr_subpixel_convs_and_prelu_slopes_of_a_quarter():
    # ICNR: each conv → pixel shuffle stage starts as a nearest-neighbour ×2 up-sampling (every 2×2
    # block of its output equal), so training starts without checkerboard artefacts.
    generator = srresnet_generator((4, 4, 3), filters=4, residual_blocks=1)
    conv = generator.get_layer("generator_up0_conv")
    shuffled = np.asarray(PixelShuffle(2)(conv(np.random.default_rng(0).normal(size=(2, 4, 4, 4)).astype("float32"))))
    assert np.abs(shuffled).max() > 0.1
    for i, j in ((0, 1), (1, 0), (1, 1)):
        np.testing.assert_allclose(shuffled[:, i::2, j::2], shuffled[:, ::2, ::2], atol=1e-6)
    slopes = [w for layer in generator.layers if isinstance(layer, keras.layers.PReLU) for w in layer.get_weights()]
    assert slopes and all(np.all(w == 0.25) for w in slopes)


# --- style transfer ---------------------------------------------------------------------------------


def test_gram_matrix_is_f_transpose_f():
    features = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
    flat = features.reshape(2, 12, 5)
    np.testing.assert_allclose(np.asarray(gram_matrix(features)), np.einsum("npc,npd->ncd", flat, flat), rtol=1e-5)


def test_gatys_optimises_only_the_pixels_and_lowers_the_style_loss():
    import keras

    model = GatysStyleTransfer(input_shape=(16, 16, 3), vgg_blocks=((4,), (8,)), content_layer="conv2_1", style_layers=("conv1_1", "conv2_1"), content_weight=0.0, seed=0)
    assert [w.path for w in model.trainable_weights] == [model.image.pixels.path]
    rng = np.random.default_rng(0)
    content = rng.uniform(0, 255, (1, 16, 16, 3)).astype("float32")
    style = np.tile(np.where(np.arange(16)[:, None] % 4 < 2, 230.0, 20.0)[None, :, :, None], (1, 1, 16, 3)).astype("float32")
    frozen = [np.asarray(w) for w in model.loss_network.weights]
    before = model.loss_terms(content, style, model(content)["generated"])[1]
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model.fit(content, style, epochs=15, batch_size=1, verbose=0)
    after = model.loss_terms(content, style, model(content)["generated"])[1]
    assert after < 0.5 * before, (before, after)
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(frozen, model.loss_network.weights))  # the loss network stays fixed


def test_fast_style_transformation_net_uses_instance_norm_and_has_the_papers_size():
    network = transformation_network((256, 256, 3))
    assert network.count_params() == 1_679_235  # ≈1.68 M (B, instance-norm version)
    assert sum(isinstance(layer, InstanceNormalization) for layer in network.layers) == 3 + 2 * 5 + 2
    model = architectures.create_model("fast_style_transfer", config="tiny")
    assert not model.loss_network.trainable and model.style_layers and model.content_layer


# --- SfSNet and the SH shading ----------------------------------------------------------------------


def test_sh_shading_matches_numpy_and_the_closed_form_lambertian_terms():
    rng = np.random.default_rng(0)
    normals = rng.normal(size=(2, 4, 4, 3))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    lighting = rng.normal(size=(2, 27)).astype("float32")
    np.testing.assert_allclose(np.asarray(sh_shading(normals.astype("float32"), lighting)), sh_shading_numpy(normals, lighting), rtol=1e-4, atol=1e-5)
    # Band 0 alone: uniform π·Y00·L0; band 1 alone: (2π/3)·c1·(L_y·n_y + L_z·n_z + L_x·n_x).
    ambient = np.zeros((1, 3, 9)); ambient[:, :, 0] = 0.7
    np.testing.assert_allclose(sh_shading_numpy(normals[:1], ambient.reshape(1, 27)), np.pi * SH_CONSTANTS[0] * 0.7, rtol=1e-6)
    linear = np.zeros((1, 3, 9)); linear[:, :, 1:4] = [0.2, -0.3, 0.5]
    expected = SH_ATTENUATION[1] * SH_CONSTANTS[1] * (0.2 * normals[:1, ..., 1] - 0.3 * normals[:1, ..., 2] + 0.5 * normals[:1, ..., 0])
    np.testing.assert_allclose(sh_shading_numpy(normals[:1], linear.reshape(1, 27))[..., 0], expected, rtol=1e-6)


def test_face_renders_are_albedo_times_sh_shading_and_sfsnet_reconstructs_that_way():
    from architectures.three_d.intrinsic import SphericalHarmonicsShading
    from pipelines.sources_graphics import render_faces

    faces = render_faces(3, 16, seed=1)
    shading = np.asarray(SphericalHarmonicsShading()(faces["normals"], faces["lighting"]))
    np.testing.assert_allclose(np.clip(shading, 0.0, None), faces["shading"], atol=1e-4)
    np.testing.assert_allclose(np.clip(faces["albedo"] * faces["shading"], 0, 1) * 255.0, faces["images"], atol=1e-2)
    model = SfSNet(input_shape=(16, 16, 3), filters=(4, 8), residual_blocks=1, light_filters=8)
    outputs = {k: np.asarray(v) for k, v in model(faces["images"], training=False).items()}
    assert outputs["lighting"].shape == (3, 27)
    np.testing.assert_allclose(np.linalg.norm(outputs["normals"], axis=-1), 1.0, atol=1e-4)
    np.testing.assert_allclose(outputs["shading"], sh_shading_numpy(outputs["normals"], outputs["lighting"]), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(outputs["reconstruction"], outputs["albedo"] * outputs["shading"] * 255.0, rtol=1e-4, atol=1e-3)


# --- reflectance prior and neural rendering --------------------------------------------------------


def test_relative_reflectance_and_whdr():
    np.testing.assert_array_equal(relative_reflectance([0.5, 0.5, 0.5], [0.52, 0.7, 0.3]), [0, 1, 2])
    assert whdr([0, 1, 2, 2], [0, 1, 1, 2]) == 0.25
    assert whdr([0, 1], [1, 1], weights=[3.0, 1.0]) == 0.75
    with pytest.raises(ValueError, match="one prediction per judgement"):
        whdr([0, 1], [0])


def test_reflectance_prior_classifies_three_relations_from_balanced_pairs():
    from pipelines.datasets import load_dataset

    data = load_dataset("face_reflectance_pairs", n=30)
    assert np.bincount(data.y).tolist() == [len(data.y) // 3] * 3
    model = architectures.create_model("intrinsic_reflectance_prior", config="tiny")
    probabilities = np.asarray(model(data.x[:4], training=False))
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)


def test_neural_rendering_shading_layer_is_differentiable_in_the_lighting():
    import tensorflow as tf

    from pipelines.sources_graphics import render_faces

    faces = render_faces(2, 16, seed=0)
    model = NeuralRenderingPipeline(image_size=(16, 16), filters=(4,))
    lighting = tf.constant(faces["lighting"])
    with tf.GradientTape() as tape:
        tape.watch(lighting)
        outputs = model({"normals": tf.constant(faces["normals"]), "albedo": tf.constant(faces["albedo"]), "lighting": lighting})
        loss = tf.reduce_mean(tf.abs(outputs["generated"] - faces["images"]))
    gradient = tape.gradient(loss, lighting).numpy()
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0
    np.testing.assert_allclose(np.asarray(outputs["render"]), faces["albedo"] * sh_shading_numpy(faces["normals"], faces["lighting"]) * 255.0, rtol=1e-4, atol=1e-2)


# --- datasets and the task -------------------------------------------------------------------------


def test_datasets_edges_and_bicubic_pairs():
    from pipelines.datasets import load_dataset
    from pipelines.sources_generative import bicubic_downsample

    edges = load_dataset("edges2shapes", num_examples=20)
    assert edges.x.shape == edges.y.shape == (20, 32, 32, 3)
    assert edges.x.max() > 100.0 and np.mean(edges.x > 50.0) < 0.3  # thin bright outlines on black
    sr = load_dataset("shapes_sr4", num_examples=10)
    assert sr.x.shape == (10, 8, 8, 3) and sr.y.shape == (10, 32, 32, 3)
    np.testing.assert_allclose(sr.x, bicubic_downsample(sr.y, 4), atol=1e-4)
    with pytest.raises(ValueError, match="multiple of factor"):
        load_dataset("shapes_sr4", image_size=30)


def test_task_scores_psnr_ssim_and_the_bicubic_baseline():
    from tasks import get_task

    task = get_task("image_to_image")
    target = _pixels((4, 16, 16, 3))
    report = task.score(target, {"generated": target + 1.0})
    assert report["l1"] == pytest.approx(1.0, abs=1e-3) and report["psnr"] == pytest.approx(48.13, abs=0.05) and report["ssim"] > 0.99
    model = architectures.create_model("srresnet", config="tiny")
    report = task.evaluate(model, _pixels((4, 4, 4, 3)), target)
    assert {"psnr", "ssim", "psnr_bicubic", "ssim_bicubic"} <= set(report)
