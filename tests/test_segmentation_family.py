"""Family E's own checks from the spec (§2 E): the convolutionalised classifier, direct up-sampling,
shift-and-stitch, the conv-only receptive field, FCN's bilinear and staged initialisation, max
unpooling with switches (DeconvNet, SegNet), median-frequency balancing, ENet's blocks, DeepLab's
atrous rates, the windowed CRF, the optional BatchNorm trunk and SharpMask's refinement modules. The registry sweep covers build, training,
round trips and exports."""

import numpy as np
import pytest

import architectures
from architectures.segmentation.baselines import (
    ConvOnlySegmenter,
    EncoderDecoderSegmenter,
    ShiftAndStitch,
    SlidingWindowSegmenter,
    patch_dataset,
    shift_and_stitch,
)
from architectures.segmentation.fcn import FCNHeatmap, convolutionalise, init_from_coarser
from architectures.segmentation.layers import (
    BedOfNails2D,
    FixedBilinearUpsampling2D,
    MaxPoolingWithSwitches,
    MaxUnpooling2D,
    bilinear_transposed_kernel,
    effective_kernel_size,
    receptive_field,
)
from tasks import get_task
from tasks.segmentation import median_frequency_weights, windowed_crf_mean_field


def _submodel(model, *names):
    """A function of the images returning the outputs of layers `names`."""
    import keras

    inner = keras.Model(model.inputs, [model.get_layer(n).output for n in names])

    def run(images):
        outputs = inner({model.inputs[0].name.split(":")[0]: images}, training=False)
        return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]

    return run


def _random_images(n, size, seed=0, channels=3):
    return np.random.default_rng(seed).uniform(0, 255, size=(n, size, size, channels)).astype("float32")


# --- convolutionalised classifier and direct up-sampling -----------------------------------------


def test_convolutionalised_vgg_reproduces_the_dense_classifier_and_any_size_gives_a_heat_map():
    vgg = architectures.create_model("vgg16", config="tiny", input_shape=(64, 64, 3))
    widths = [vgg.get_layer(f"block{s}_conv1").filters for s in range(1, 6)]
    fcn = FCNHeatmap(
        input_shape=(None, None, 3), num_classes=vgg.output_shape[-1], widths=widths, fc_units=vgg.get_layer("fc1").units,
        fc_kernel=2, dropout=0.0,
    )
    filled = convolutionalise(vgg, fcn)
    assert {"fc6", "fc7", "score", "block5_conv3"} <= set(filled)
    x = _random_images(3, 64)
    dense = np.asarray(vgg(x, training=False))
    heat = np.asarray(fcn(x, training=False))
    assert heat.shape == (3, 1, 1, dense.shape[-1])
    np.testing.assert_allclose(heat[:, 0, 0], dense, rtol=1e-4, atol=1e-6)
    large = np.asarray(fcn(_random_images(2, 160, seed=1), training=False))
    assert large.shape == (2, 160 // 32 - 1, 160 // 32 - 1, dense.shape[-1])  # (H/32 − k + 1)² heat map
    np.testing.assert_allclose(large.sum(axis=-1), 1.0, rtol=1e-5)  # a softmax per pixel


def test_direct_upsampling_gives_each_heat_map_label_its_stride_block():
    model = architectures.create_model("heatmap_direct_upsampling", config="tiny")
    coarse, dense = _submodel(model, "score", "probabilities")(_random_images(2, 32))
    stride = 32 // coarse.shape[1]
    assert stride == 8 and dense.shape[1:3] == (32, 32)
    expanded = np.repeat(np.repeat(np.argmax(coarse, -1), stride, axis=1), stride, axis=2)
    np.testing.assert_array_equal(np.argmax(dense, -1), expanded)


# --- shift-and-stitch ------------------------------------------------------------------------------


@pytest.mark.parametrize("factor, size", [(2, 24), (3, 27)])
def test_shift_and_stitch_equals_the_dilated_network_pixel_for_pixel(factor, size):
    config = dict(input_shape=(None, None, 3), num_classes=3, front_widths=(4,), factor=factor, back_widths=(4, 4), padding="valid",
                  classifier_activation=None)
    dilated = ShiftAndStitch(dilated=True, **config)
    strided = ShiftAndStitch(dilated=False, **config)
    strided.set_weights(dilated.get_weights())
    x = _random_images(2, size, seed=factor)
    dense = np.asarray(dilated(x, training=False))
    stitched = shift_and_stitch(strided, x, factor, dense.shape[1:3])
    assert not np.isnan(stitched).any()  # every output pixel came from one of the f² shifts
    np.testing.assert_allclose(stitched, dense, rtol=1e-4, atol=1e-4)
    assert np.asarray(strided(x)).shape[1] < dense.shape[1] // (factor - 1)  # the strided map alone is coarse


# --- patch classification and conv-only ----------------------------------------------------------


def test_sliding_window_classifies_each_pixel_from_its_own_patch():
    model = SlidingWindowSegmenter(input_shape=(12, 12, 3), num_classes=3, patch_size=7, conv_layers=((4, 3),), dense_units=8,
                                   classifier_activation=None)
    x = _random_images(1, 12, seed=2)
    dense = np.asarray(model(x))
    padded = np.pad(x, ((0, 0), (3, 3), (3, 3), (0, 0)), mode="reflect")
    patches = np.stack([padded[0, r : r + 7, c : c + 7] for r, c in [(0, 0), (5, 8), (11, 11)]])
    per_patch = np.asarray(model.patch_classifier()(patches))
    np.testing.assert_allclose(per_patch, dense[0, [0, 5, 11], [0, 8, 11]], rtol=1e-4, atol=1e-5)


def test_patch_dataset_labels_centres_drops_background_and_balances():
    masks = np.zeros((2, 16, 16), dtype="uint8")
    masks[0, 2:5, 2:5] = 1  # a small object: class 1 has 9 pixels, class 2 has 4
    masks[1, 10:12, 10:12] = 2
    images = np.random.default_rng(0).uniform(size=(2, 16, 16, 1)).astype("float32")
    patches, labels = patch_dataset(images, masks, patch_size=5, background_keep=0.0, seed=1)
    assert patches.shape[1:] == (5, 5, 1)
    counts = np.bincount(labels, minlength=3)
    assert counts[1] == counts[2] == counts[0] > 0  # resampled to the same count per class
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    for patch, label in zip(patches[:20], labels[:20]):  # each patch is a real window labelled by its centre
        hits = [(i, r, c) for i in range(2) for r in range(16) for c in range(16) if np.array_equal(padded[i, r : r + 5, c : c + 5], patch)]
        assert hits and masks[hits[0]] == label
        i, r, c = hits[0]
        assert masks[i, max(r - 2, 0) : r + 3, max(c - 2, 0) : c + 3].any()  # no all-background patch kept


def test_conv_only_receptive_field_is_one_plus_two_per_layer():
    import tensorflow as tf

    for depth in (2, 4):
        model = ConvOnlySegmenter(input_shape=(21, 21, 1), num_classes=1, depth=depth, width=2, classifier_activation=None)
        assert receptive_field(model) == 1 + 2 * depth
        for layer in model.layers:  # positive weights keep every ReLU open: the gradient shows the whole field
            if layer.weights:
                layer.set_weights([np.full(w.shape, 0.1, "float32") for w in layer.get_weights()])
        x = tf.constant(np.ones((1, 21, 21, 1), "float32"))
        with tf.GradientTape() as tape:
            tape.watch(x)
            centre = model(x)[0, 10, 10, 0]
        rows, cols = np.nonzero(np.asarray(tape.gradient(centre, x))[0, :, :, 0])
        assert rows.max() - rows.min() + 1 == 1 + 2 * depth and cols.max() - cols.min() + 1 == 1 + 2 * depth


# --- FCN-32s / 16s / 8s --------------------------------------------------------------------------


def test_fcn_transposed_convolutions_start_as_bilinear_interpolation():
    model = architectures.create_model("fcn8s", config="tiny")
    k = model.output_shape[-1]
    for name in ("upscore2", "upscore_pool4"):
        np.testing.assert_array_equal(model.get_layer(name).get_weights()[0], bilinear_transposed_kernel(4, k, k))
    # A linear ramp is reproduced as the half-pixel bilinear ramp away from the borders.
    ramp = np.broadcast_to(np.arange(6, dtype="float32")[None, None, :, None], (1, 6, 6, 1)).copy()  # varies along the width
    up = np.asarray(FixedBilinearUpsampling2D(8)(ramp))[0, :, :, 0]
    expected = (np.arange(48) + 0.5) / 8 - 0.5
    np.testing.assert_allclose(up[20, 8:40], expected[8:40], atol=1e-5)


def test_fcn_16s_and_8s_start_from_the_coarser_net_with_zero_skip_scores(tmp_path):
    from pipelines.train import _copy_backbone  # what `deepzoo train fcn16s --init-from RUN` runs

    fcn32 = architectures.create_model("fcn32s", config="tiny")
    fcn16 = architectures.create_model("fcn16s", config="tiny")
    copied = init_from_coarser(fcn16, fcn32)
    assert {"block1_conv1", "block5_conv1", "fc6", "fc7", "score_fr"} <= set(copied) and "score_pool4" not in copied
    assert not np.any(fcn16.get_layer("score_pool4").get_weights()[0])
    x = _random_images(2, 32)
    (a,) = _submodel(fcn32, "score_fr")(x)
    b, up, fused = _submodel(fcn16, "score_fr", "upscore2_crop", "fuse_pool4")(x)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(fused), np.asarray(up), atol=1e-6)  # the new skip adds nothing yet
    fcn16.get_layer("score_pool4").set_weights([w + 0.5 for w in fcn16.get_layer("score_pool4").get_weights()])
    path = tmp_path / "fcn16s.keras"
    fcn16.save(path)
    fcn8 = architectures.create_model("fcn8s", config="tiny")
    copied = _copy_backbone(fcn8, path, None)
    assert {"score_fr", "upscore2", "score_pool4"} <= set(copied) and "score_pool3" not in copied
    assert not np.any(fcn8.get_layer("score_pool3").get_weights()[0])
    np.testing.assert_array_equal(fcn8.get_layer("score_pool4").get_weights()[0], fcn16.get_layer("score_pool4").get_weights()[0])


# --- max unpooling, DeconvNet, SegNet ------------------------------------------------------------


def test_max_unpooling_puts_values_back_at_the_switches_like_argmax_scatter():
    import tensorflow as tf

    x = np.random.default_rng(3).normal(size=(2, 6, 8, 3)).astype("float32")
    pooled, switches = MaxPoolingWithSwitches()(x)
    unpooled = np.asarray(MaxUnpooling2D()([pooled, switches]))
    reference, flat = tf.nn.max_pool_with_argmax(x, 2, 2, "VALID", include_batch_in_index=True)
    scattered = tf.scatter_nd(tf.reshape(flat, (-1, 1)), tf.reshape(reference, (-1,)), [x.size]).numpy().reshape(x.shape)
    np.testing.assert_array_equal(np.asarray(pooled), reference.numpy())
    np.testing.assert_array_equal(unpooled, scattered)
    # Ties go to the first position; odd sides are pooled with a symmetric pad and cropped back.
    ties = np.ones((1, 3, 5, 1), "float32")
    pooled, switches = MaxPoolingWithSwitches()(ties)
    assert pooled.shape == (1, 2, 3, 1) and not np.any(np.asarray(switches))
    back = np.asarray(MaxUnpooling2D((3, 5))([pooled, switches]))[0, :, :, 0]
    np.testing.assert_array_equal(back, np.array([[1, 0, 1, 0, 1], [0, 0, 0, 0, 0], [1, 0, 1, 0, 1]], "float32"))
    nails = np.asarray(BedOfNails2D()(np.full((1, 2, 2, 1), 7.0, "float32")))[0, :, :, 0]
    np.testing.assert_array_equal(nails, np.array([[7, 0, 7, 0], [0, 0, 0, 0], [7, 0, 7, 0], [0, 0, 0, 0]], "float32"))


@pytest.mark.parametrize("name", ["segnet", "deconvnet"])
def test_decoders_unpool_with_their_own_encoders_switches(name):
    model = architectures.create_model(name, config="tiny")
    pre_pool, (_, switches), unpooled = _submodel(model, "block1_conv1_relu", "block1_pool", "unpool1")(_random_images(2, 32))
    pre_pool, switches, unpooled = np.asarray(pre_pool), np.asarray(switches), np.asarray(unpooled)
    allowed = np.asarray(MaxUnpooling2D()([np.ones_like(switches, dtype="float32"), switches])) > 0
    assert unpooled.shape == pre_pool.shape
    assert np.all((unpooled != 0) <= allowed)  # non-zeros only where block 1's maxima were
    assert np.sum(allowed) == allowed.size // 4  # one switch per 2×2 window


@pytest.mark.large
def test_segnet_and_deconvnet_canonical_counts_and_layout():
    segnet = architectures.create_model("segnet")
    assert abs(segnet.count_params() - 29_500_000) / 29_500_000 < 0.01
    assert sum(type(layer).__name__ == "MaxUnpooling2D" for layer in segnet.layers) == 5
    assert not any(type(layer).__name__ == "Conv2DTranspose" for layer in segnet.layers)  # densified by plain convs
    assert segnet.output_shape == (None, 360, 480, 12)


def test_median_frequency_balancing_hand_case(monkeypatch):
    masks = np.array([[[0, 0], [0, 1]], [[0, 2], [2, 2]]])
    # freq: class 0 4/8, class 1 1/4 (only image 1), class 2 3/4 (only image 2); median 0.5.
    np.testing.assert_allclose(median_frequency_weights(masks), [1.0, 2.0, 2.0 / 3.0], rtol=1e-6)
    task = get_task("segmentation")
    monkeypatch.setattr(task, "class_balance", "median_frequency")
    np.testing.assert_allclose(task.class_weights(masks), [1.0, 2.0, 2.0 / 3.0], rtol=1e-6)


# --- ENet, DeepLab, SharpMask, encoder–decoder ----------------------------------------------------


@pytest.mark.large
def test_enet_initial_block_bottlenecks_prelu_and_spatial_dropout():
    import keras

    model = architectures.create_model("enet")
    assert model.get_layer("initial_conv").filters == 13 and model.get_layer("initial_concat").output.shape[1:] == (256, 256, 16)
    assert model.get_layer("bottleneck2_0_add").output.shape[1:] == (64, 64, 128)  # 1/8 resolution
    assert model.get_layer("bottleneck1_0_project").kernel_size == (2, 2) and model.get_layer("bottleneck1_0_project").strides == (2, 2)
    rates = [model.get_layer(f"bottleneck2_{i}_conv").dilation_rate[0] for i in (2, 4, 6, 8)]
    assert rates == [2, 4, 8, 16]
    assert model.get_layer("bottleneck3_3_conv_a").kernel_size == (5, 1) and model.get_layer("bottleneck3_3_conv").kernel_size == (1, 5)
    dropouts = {layer.rate for layer in model.layers if isinstance(layer, keras.layers.SpatialDropout2D)}
    assert dropouts == {0.01, 0.1}
    assert sum(isinstance(layer, keras.layers.PReLU) for layer in model.layers) > 40
    assert sum(type(layer).__name__ == "MaxUnpooling2D" for layer in model.layers) == 2
    assert abs(model.count_params() - 370_000) / 370_000 < 0.01
    assert model.output_shape == (None, 512, 512, 12)


@pytest.mark.large
def test_deeplab_atrous_rates_and_effective_kernel():
    import keras

    model = architectures.create_model("deeplab_v1")
    assert [model.get_layer(f"block5_conv{i}").dilation_rate for i in (1, 2, 3)] == [(2, 2)] * 3
    fc6 = model.get_layer("fc6")
    assert fc6.kernel_size == (3, 3) and fc6.dilation_rate == (12, 12) and fc6.filters == 1024
    assert effective_kernel_size(3, 12) == 25 and effective_kernel_size(3, 1) == 3
    assert model.get_layer("fc8").output.shape[1] == 41  # output stride 8 on a 321 crop
    assert model.output_shape == (None, 321, 321, 21)
    for rate in (1, 2, 4):  # the impulse response of a dilated 3×3 spans k + (k − 1)(r − 1)
        conv = keras.layers.Conv2D(1, 3, dilation_rate=rate, padding="same", kernel_initializer="ones", use_bias=False)
        impulse = np.zeros((1, 21, 21, 1), "float32")
        impulse[0, 10, 10, 0] = 1
        rows = np.nonzero(np.asarray(conv(impulse))[0, :, 10, 0])[0]
        assert rows.max() - rows.min() + 1 == effective_kernel_size(3, rate)


@pytest.mark.parametrize("name", ["fcn8s", "deeplab_v1"])
def test_vgg_trunks_take_batch_norm_only_when_asked(name):
    plain = architectures.create_model(name, config="tiny")
    normed = architectures.create_model(name, config="tiny", batch_norm=True)
    convs = [layer.name for layer in plain.layers if layer.name.startswith("block") and "_conv" in layer.name]
    assert not any(layer.name.endswith("_bn") for layer in plain.layers)
    assert all(normed.get_layer(f"{conv}_bn") for conv in convs)
    # Four BatchNorm weights per channel of every trunk conv, nothing else changes.
    channels = sum(plain.get_layer(conv).filters for conv in convs)
    assert normed.count_params() == plain.count_params() + 4 * channels
    if name == "deeplab_v1":
        assert normed.get_layer("block5_conv1").dilation_rate == plain.get_layer("block5_conv1").dilation_rate == (2, 2)


def test_windowed_crf_snaps_noisy_scores_to_the_image_edges():
    rng = np.random.default_rng(0)
    truth = np.zeros((2, 16, 16), "int64")
    truth[:, 4:12, 3:10] = 1
    images = np.where(truth[..., None] == 1, 200.0, 40.0) + rng.normal(0.0, 5.0, (2, 16, 16, 3))
    foreground = np.clip(np.where(truth == 1, 0.6, 0.4) + rng.normal(0.0, 0.2, truth.shape), 0.01, 0.99)
    probabilities = np.stack([1.0 - foreground, foreground], axis=-1).astype("float32")
    assert (probabilities.argmax(-1) == truth).mean() < 0.8
    refined = windowed_crf_mean_field(probabilities, images, window=5)
    assert refined.shape == probabilities.shape and np.allclose(refined.sum(-1), 1.0, atol=1e-5)
    assert (refined.argmax(-1) == truth).all()
    # Without pairwise terms, mean field returns the network's probabilities.
    alone = windowed_crf_mean_field(probabilities, images, window=5, appearance_weight=0.0, smoothness_weight=0.0)
    np.testing.assert_allclose(alone, probabilities, atol=1e-5)


def test_crf_task_setting_reports_the_refined_and_the_network_scores():
    """`--task-setting crf=windowed`: the hold-out report is scored after the CRF, the network's own
    figures kept beside it; a model whose inputs are not images of the output's size is refused."""
    from tasks import get_task

    model = architectures.create_model("deeplab_v1", config="tiny", input_shape=(32, 32, 3), num_classes=3)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 3, (3, 32, 32))
    plain = get_task("segmentation").evaluate(model, x, y, ["background", "a", "b"])
    report = get_task("segmentation", {"crf": "windowed"}).evaluate(model, x, y, ["background", "a", "b"])
    assert report["crf"] == "windowed" and report["miou_without_crf"] == plain["miou"]
    assert report["per_class_iou_without_crf"] == plain["per_class_iou"] and 0.0 <= report["miou"] <= 1.0
    import keras

    inputs = keras.Input((32, 32, 3))
    coarse = keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="softmax")(keras.layers.AveragePooling2D(2)(inputs)))
    with pytest.raises(ValueError, match="The CRF refines a full-size score map of image inputs"):
        get_task("segmentation", {"crf": "windowed"}).evaluate(coarse, x, y, ["background", "a", "b"])


def test_sharpmask_refines_coarse_encoding_with_matching_bottom_up_features():
    model = architectures.create_model("sharpmask", config="tiny")
    encoding = model.get_layer("mask_encoding").output
    assert encoding.shape[1] == 32 // 4  # the trunk pools twice in the tiny config
    for module, feature in ((1, "block3_conv1"), (2, "block2_conv1")):
        skip, merged = model.get_layer(f"refine{module}_skip"), model.get_layer(f"refine{module}_concat")
        assert skip.input.shape[1:3] == model.get_layer(feature).output.shape[1:3]
        assert merged.output.shape[1:3] == skip.output.shape[1:3]  # top-down and bottom-up at one resolution
        assert model.get_layer(f"refine{module}_upsample").output.shape[1] == 2 * merged.output.shape[1]
    assert model.output_shape == (None, 32, 32, 5)


@pytest.mark.parametrize("upsampling", ["nearest", "bed_of_nails", "max_unpooling", "transposed"])
def test_encoder_decoder_builds_with_every_upsampling_operator(upsampling):
    model = EncoderDecoderSegmenter(input_shape=(16, 16, 3), num_classes=3, widths=(4, 4), convs_per_stage=1, upsampling=upsampling)
    out = np.asarray(model(_random_images(2, 16)))
    assert out.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-5)
    learned = any(type(layer).__name__ == "Conv2DTranspose" for layer in model.layers)
    assert learned == (upsampling == "transposed")


# --- U-Net's cells data, border weight map and elastic deformation ------------------------------


def test_cells_touch_and_are_separated_by_background_membranes():
    from scipy import ndimage

    from pipelines.datasets import load_dataset
    from pipelines.sources_cells import generate_cells

    data = load_dataset("cells", seed=5, n=4, image_size=64, grid=4)
    assert data.x.shape == (4, 64, 64, 1) and data.y.dtype == np.uint8 and set(np.unique(data.y)) == {0, 1}
    np.testing.assert_array_equal(load_dataset("cells", seed=5, n=4, image_size=64, grid=4).x, data.x)
    _, masks, instances = generate_cells(seed=5, n=4, image_size=64, grid=4)
    np.testing.assert_array_equal(masks, data.y)
    touching = 0
    for mask, ids in zip(masks, instances):
        _, count = ndimage.label(mask)
        assert count == len(np.unique(ids)) - 1  # membranes keep touching cells apart
        # a membrane pixel has two different cells within one pixel: the cells touch
        grown = [ndimage.binary_dilation(ids == i) for i in np.unique(ids)[1:]]
        touching += int(np.sum(np.sum(grown, axis=0) >= 2))
    assert touching > 20
    assert data.x[data.y == 1].mean() > data.x[data.y == 0].mean() + 50  # bright cells, dark membranes and background


def test_unet_weight_map_is_high_in_narrow_gaps_between_cells():
    from tasks.segmentation import unet_weight_map

    mask = np.zeros((1, 20, 40), dtype="uint8")
    mask[0, 5:15, 5:19] = 1
    mask[0, 5:15, 20:34] = 1  # a one-pixel gap at column 19
    weights = unet_weight_map(mask, class_weights=[1.0, 2.0], w0=10.0, sigma=5.0)
    np.testing.assert_allclose(weights[0, 10, 19], 1.0 + 10.0 * np.exp(-((1 + 1) ** 2) / 50.0), rtol=1e-5)
    assert weights[0, 10, 10] == 2.0  # inside a cell: its class weight only
    assert weights[0, 10, 19] > 9.0 > 1.5 > weights[0, 0, 0]  # far from the gap the border term fades


def test_training_batches_carry_border_weight_maps_that_follow_elastic_deformation(monkeypatch):
    from pipelines.datasets import load_dataset
    from tasks.segmentation import unet_weight_map

    task = get_task("segmentation")
    data = load_dataset("cells", seed=1, n=4, image_size=64, grid=4)
    monkeypatch.setattr(task, "class_balance", "unet_border")
    augment = task.build_augmentation("unet", data, seed=0)  # flips, shifts and elastic deformation (§3.1)
    images, masks, weights = next(iter(task.make_dataset(data.x, data.y, 4, augment=augment)))
    images, masks, weights = np.asarray(images), np.asarray(masks), np.asarray(weights)
    assert not np.array_equal(masks, data.y)  # deformed
    np.testing.assert_allclose(weights, unet_weight_map(masks, task.class_weights(data.y)), rtol=1e-6)
    assert images[masks == 1].mean() > images[masks == 0].mean() + 50  # the masks moved with the images
