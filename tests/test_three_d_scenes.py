"""Family K, 3-D scenes: LiDAR transforms, PointSeg, BEV CNN, 3-D boxes, ChebNet, SMPL, 3D-R2N2.

The spec's row checks (spec §2 K, issue 18): spherical projection and BEV rasterisation against
numpy loops; PointSeg's fire modules, squeeze reweighting and enlargement; ChebNet against a dense
computation; SMPL differentiable end to end; 3D-R2N2's encoder → 3-D conv-LSTM (4³) → decoder;
3-D boxes scored by BEV IoU.
"""

import math

import numpy as np
import pytest

import architectures
from architectures.three_d import meshes
from pipelines import sources_graphics as graphics
from tasks import detection_3d, voxels


def _random_points(rng, n=300):
    xyz = np.stack([rng.uniform(1, 30, n), rng.uniform(-15, 15, n), rng.uniform(-2.5, 1.5, n)], axis=1)
    return np.concatenate([xyz, rng.uniform(0, 1, (n, 1))], axis=1).astype(np.float32)


# --- data transforms ----------------------------------------------------------------------------


def test_spherical_projection_matches_a_loop():
    rng = np.random.default_rng(0)
    points = _random_points(rng)
    labels = rng.integers(0, 3, len(points))
    height, width = 16, 64
    image, label_image = graphics.spherical_projection(points, labels, height=height, width=width)
    expected = np.zeros((height, width, 5), np.float32)
    expected_labels = np.zeros((height, width), np.int64)
    best = np.full((height, width), np.inf)
    for point, label in zip(points, labels):
        x, y, z, intensity = (float(v) for v in point)
        r = math.sqrt(x * x + y * y + z * z)
        azimuth, elevation = math.degrees(math.atan2(y, x)), math.degrees(math.asin(z / r))
        column = math.floor((45.0 - azimuth) / 90.0 * width)
        row = math.floor((graphics.LIDAR_FOV_UP - elevation) / (graphics.LIDAR_FOV_UP - graphics.LIDAR_FOV_DOWN) * height)
        if 0 <= row < height and 0 <= column < width and r < best[row, column]:
            best[row, column] = r
            expected[row, column] = (x, y, z, intensity, r)
            expected_labels[row, column] = label
    assert np.count_nonzero(best < np.inf) > 50
    np.testing.assert_allclose(image, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(label_image, expected_labels)


def test_bev_raster_matches_a_loop():
    rng = np.random.default_rng(1)
    points = _random_points(rng, 400)
    x_range, y_range, cell, z_range, slices = (0.0, 32.0), (-16.0, 16.0), 2.0, (-2.0, 1.0), 3
    raster = graphics.bev_raster(points, x_range, y_range, cell, z_range, slices)
    rows, cols = 16, 16
    expected = np.zeros((rows, cols, slices + 2), np.float32)
    top = np.full((rows, cols), -np.inf)
    counts = np.zeros((rows, cols))
    slice_height = (z_range[1] - z_range[0]) / slices
    for x, y, z, intensity in points:
        i, j = int(math.floor((x - x_range[0]) / cell)), int(math.floor((y - y_range[0]) / cell))
        if not (0 <= i < rows and 0 <= j < cols and z_range[0] <= z < z_range[1]):
            continue
        h = z - z_range[0]
        k = min(int(h // slice_height), slices - 1)
        expected[i, j, k] = max(expected[i, j, k], h)  # max height per slice
        if z > top[i, j]:
            top[i, j] = z
            expected[i, j, slices] = intensity  # intensity of the highest point (MV3D)
        counts[i, j] += 1
    expected[..., slices + 1] = np.minimum(1.0, np.log(counts + 1) / np.log(64))
    assert counts.sum() > 100
    np.testing.assert_allclose(raster, expected, rtol=1e-5, atol=1e-6)


def test_pillars_hold_offsets_to_mean_and_centre():
    rng = np.random.default_rng(2)
    points = _random_points(rng, 200)
    pillars = graphics.pillarize(points, (0.0, 32.0), (-16.0, 16.0), cell=4.0, max_points=64)
    i, j = 3, 5
    inside = (np.floor(points[:, 0] / 4.0) == i) & (np.floor((points[:, 1] + 16.0) / 4.0) == j)
    cell_points = points[inside]
    assert len(cell_points) >= 1
    stored = pillars[i, j, : len(cell_points)]
    np.testing.assert_allclose(stored[:, :4], cell_points, rtol=1e-6)
    np.testing.assert_allclose(stored[:, 4:7], cell_points[:, :3] - cell_points[:, :3].mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(stored[:, 7:9], cell_points[:, :2] - [(i + 0.5) * 4.0, -16.0 + (j + 0.5) * 4.0], atol=1e-5)
    assert not np.any(pillars[i, j, len(cell_points):])
    assert detection_3d.infer_bev_grid(pillars[None]) == {"x_min": 0.0, "y_min": -16.0, "cell": 4.0}


def test_ray_cast_sweep_hits_ground_cars_and_pedestrians():
    rng = np.random.default_rng(3)
    boxes, classes = graphics.random_lidar_scene(rng)
    points, labels = graphics.ray_cast_sweep(rng, boxes, classes, beams=16, columns=128, range_noise=0.0, dropout=0.0)
    ground = points[labels == 0]
    np.testing.assert_allclose(ground[:, 2], -graphics.LIDAR_HEIGHT, atol=1e-4)
    assert {1, 2} <= set(labels.tolist())
    for cls in (1, 2):  # every object point lies inside (or on) one of its class's boxes
        hits = points[labels == cls]
        inside = np.any([graphics._points_in_box(hits, box) for box, c in zip(boxes, classes) if c == cls], axis=0)
        assert inside.all()


def test_bad_point_clouds_are_one_line_value_errors():
    with pytest.raises(ValueError, match="must be \\[P, 4\\]"):
        graphics.spherical_projection(np.zeros((10, 3)))
    bad = np.zeros((5, 4), np.float32)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        graphics.bev_raster(bad)


# --- PointSeg and the BEV CNN -----------------------------------------------------------------------


def test_pointseg_fire_reweighting_and_enlargement():
    model = architectures.create_model("pointseg", config="tiny", aspp_rates=(2, 3))
    names = [layer.name for layer in model.layers]
    assert sum(name.endswith("_squeeze1x1") and name.startswith("fire") and "deconv" not in name for name in names) == 3
    assert sum(name.startswith("fire_deconv") and name.endswith("_deconv") for name in names) == 4
    # Squeeze reweighting: x · σ(FC(ReLU(FC(GAP x)))) after each of the 3 fire stages.
    for stage in (1, 2, 3):
        assert model.get_layer(f"reweight{stage}_expand").activation.__name__ == "sigmoid"
        assert isinstance(model.get_layer(f"reweight{stage}_excite"), __import__("keras").layers.Multiply)
    rates = sorted(layer.dilation_rate[0] for layer in model.layers if layer.name.startswith("enlargement_rate"))
    assert rates == [2, 3]
    assert model.get_layer("enlargement_pool").__class__.__name__ == "GlobalAveragePooling2D"
    # Width-only down-sampling (rows kept), back to the full grid at the output.
    assert tuple(model.get_layer("enlargement_fuse").output.shape[1:3]) == (8, 2)
    x = np.random.default_rng(0).normal(size=(2, 8, 32, 5)).astype("float32")
    probabilities = np.asarray(model(x))
    assert probabilities.shape == (2, 8, 32, 3)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)


def test_squeeze_reweighting_scales_channels_by_a_gate():
    import keras

    model = architectures.create_model("pointseg", config="tiny")
    probe = keras.Model(model.input, [model.get_layer("fire1_1_concat").output, model.get_layer("reweight1_expand").output,
                                      model.get_layer("reweight1_excite").output])
    x = np.random.default_rng(1).normal(size=(1, 8, 32, 5)).astype("float32")
    features, gate, reweighted = (np.asarray(t) for t in probe(x))
    assert gate.shape == (1, 1, 1, features.shape[-1]) and np.all((gate > 0) & (gate < 1))
    np.testing.assert_allclose(reweighted, features * gate, rtol=1e-5, atol=1e-6)


def test_bev_cnn_is_vgg_with_fcn_upsampling():
    model = architectures.create_model("bev_cnn", config="tiny")
    pools = [layer for layer in model.layers if layer.name.startswith("pool")]
    assert len(pools) == 3  # MV3D drops VGG's 4th pooling: 1/8 resolution
    assert tuple(model.get_layer("score8").output.shape[1:3]) == (2, 2)
    assert tuple(model.output.shape[1:]) == (16, 16, 3)


# --- 3-D boxes and BEV IoU --------------------------------------------------------------------------


def test_bev_iou_of_rotated_boxes():
    box = np.array([0, 0, 0, 4, 2, 1.5, 0.0])
    assert detection_3d.bev_iou(box, box) == pytest.approx(1.0)
    assert detection_3d.bev_iou(box, box + [0, 0, 0, 0, 0, 0, math.pi]) == pytest.approx(1.0)
    assert detection_3d.bev_iou(box, box + [2, 0, 0, 0, 0, 0, 0]) == pytest.approx(4.0 / 12.0)  # half overlap: 4 / (8 + 8 − 4)
    assert detection_3d.bev_iou(box, box + [10, 0, 0, 0, 0, 0, 0]) == 0.0
    square = np.array([0, 0, 0, 2, 2, 1, 0.0])
    turned = square + [0, 0, 0, 0, 0, 0, math.pi / 4]
    octagon = 8 * (math.sqrt(2) - 1)  # intersection of a unit-half square and its 45° turn
    assert detection_3d.bev_iou(square, turned) == pytest.approx(octagon / (8 - octagon), rel=1e-6)
    # Height does not enter a BEV IoU.
    assert detection_3d.bev_iou(box, box + [0, 0, 3, 0, 0, 2, 0]) == pytest.approx(1.0)


def test_bev_ap_is_one_for_perfect_detections_and_zero_for_misses():
    boxes = np.array([[[5, 0, -1, 4, 2, 1.5, 0.3], [10, 3, -1, 0.6, 0.6, 1.7, 0.0]]], np.float32)
    classes = np.array([[0, 1]], np.int32)
    truth = {"boxes": boxes, "classes": classes}
    perfect = {"boxes": boxes, "scores": np.array([[0.9, 0.8]]), "classes": classes}
    assert detection_3d.bev_average_precision(truth, perfect, 2)[0] == pytest.approx(1.0)
    shifted = {"boxes": boxes + [3, 3, 0, 0, 0, 0, 0], "scores": np.array([[0.9, 0.8]]), "classes": classes}
    assert detection_3d.bev_average_precision(truth, shifted, 2)[0] == 0.0


def test_centre_point_targets_decode_back_to_the_boxes():
    model = architectures.create_model("object_detection_3d", config="tiny")
    boxes = np.array([[[4.3, -2.6, -0.9, 3.9, 1.6, 1.5, 0.7], [9.8, 5.2, -0.8, 0.6, 0.6, 1.7, -0.2]]], np.float32)
    classes = np.array([[0, 1]], np.int32)
    targets = detection_3d.encode_targets(boxes, classes, (16, 16), model.bev_grid, 2)
    heat = targets[..., :2]
    raw = np.concatenate([np.log(np.clip(heat, 1e-6, 1 - 1e-6) / (1 - np.clip(heat, 1e-6, 1 - 1e-6))), targets[..., 2:10]], axis=-1)
    decoder = detection_3d.box_decoder_class()(2, model.bev_grid, max_boxes=2)
    decoded = {k: np.asarray(v) for k, v in decoder(raw.astype("float32")).items()}
    order = np.argsort(decoded["classes"][0])
    np.testing.assert_allclose(decoded["boxes"][0][order], boxes[0], atol=1e-4)
    np.testing.assert_array_equal(decoded["classes"][0][order], classes[0])
    # The doubled-angle code: a car turned by π has the same footprint and the same target, and
    # decodes into (−π/2, π/2].
    turned = boxes.copy()
    turned[..., 6] += np.pi
    np.testing.assert_allclose(detection_3d.encode_targets(turned, classes, (16, 16), model.bev_grid, 2), targets, atol=1e-5)


def test_pointpillars_pillar_max_ignores_padding_points():
    model = architectures.create_model("object_detection_3d", config="tiny")
    pooled = model.get_layer("pfn_max")
    features = np.full((1, 2, 2, 3, 4), -5.0, np.float32)
    features[0, 0, 0, 0] = 2.0
    pillars = np.zeros((1, 2, 2, 3, 9), np.float32)
    pillars[0, 0, 0, 0, 0] = 1.0
    out = np.asarray(pooled([np.maximum(features, 0.0), pillars]))
    np.testing.assert_allclose(out[0, 0, 0], 2.0)
    np.testing.assert_allclose(out[0, 1, 1], 0.0)


# --- ChebNet --------------------------------------------------------------------------------------------


def test_chebyshev_convolution_matches_dense_numpy():
    vertices, faces = meshes.icosphere(1)
    assert len(vertices) == 42
    laplacian = meshes.mesh_laplacian(len(vertices), faces)
    scaled = meshes.scaled_laplacian(laplacian)
    eigenvalues = np.linalg.eigvalsh(scaled)
    assert eigenvalues.max() == pytest.approx(1.0) and eigenvalues.min() >= -1.0 - 1e-9
    layer = meshes.ChebyshevConv(5, 4, 1)
    x = np.random.default_rng(0).normal(size=(2, 42, 3)).astype("float32")
    y = np.asarray(layer(x))
    theta = np.asarray(layer.kernel).reshape(4, 3, 5)  # [T_0 x, T_1 x, ...] concatenated on features
    for n in range(2):
        np.testing.assert_allclose(y[n], meshes.chebyshev_filter_numpy(scaled, x[n], theta), rtol=1e-4, atol=1e-4)
    # T_k(L̃) is a polynomial of degree k in L̃: a K = 2 filter reaches only 1-ring neighbours.
    near = meshes.chebyshev_filter_numpy(scaled, np.eye(42)[:, :1], np.ones((2, 1, 1)))
    assert np.count_nonzero(np.abs(near[:, 0]) > 1e-9) == 1 + 5  # the vertex and its 5 neighbours


def test_chebnet_model_takes_vertex_grids():
    model = architectures.create_model("mesh_spectral_cnn", config="tiny")
    out = np.asarray(model(np.zeros((1, 42, 1, 4), np.float32)))
    assert out.shape == (1, 42, 1, 3)
    with pytest.raises(ValueError, match="10·4"):
        architectures.create_model("mesh_spectral_cnn", config="tiny", input_shape=(40, 1, 4))


# --- SMPL -----------------------------------------------------------------------------------------------


def test_smpl_layer_matches_numpy_and_zero_pose_is_template_plus_shape_blend():
    import keras

    layer = meshes.SMPLLayer(48, 8, 3, learn_from_zero=False)
    body = meshes.synthetic_body(48, 8, 3)
    rng = np.random.default_rng(0)
    shape = rng.normal(size=(2, 3)).astype("float32")
    zero = np.asarray(layer([np.zeros((2, 24), np.float32), shape]))
    np.testing.assert_allclose(zero, body["template"][None] + np.einsum("vcb,nb->nvc", body["shapedirs"], shape), atol=1e-5)
    pose = rng.normal(0.0, 0.4, (2, 24)).astype("float32")
    posed = np.asarray(layer([pose, shape]))
    np.testing.assert_allclose(posed, meshes.smpl_forward_numpy(body, pose, shape, meshes.smpl_parents(8)), atol=1e-4)
    assert np.abs(posed - zero).max() > 0.01
    del keras


def test_smpl_is_differentiable_end_to_end():
    import tensorflow as tf

    layer = meshes.SMPLLayer(48, 8, 3, learn_from_zero=False)
    pose = tf.Variable(np.random.default_rng(1).normal(0.0, 0.3, (1, 24)).astype("float32"))
    zero_pose = tf.Variable(np.zeros((1, 24), np.float32))  # the √(‖r‖² + ε) angle keeps θ = 0 differentiable
    shape = tf.Variable(np.random.default_rng(2).normal(size=(1, 3)).astype("float32"))
    for p in (pose, zero_pose):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer([p, shape])[:, :, 1]))
        grad_pose, grad_shape = tape.gradient(loss, [p, shape])
        for grad in (grad_pose, grad_shape):
            assert np.all(np.isfinite(grad.numpy())) and np.abs(grad.numpy()).max() > 1e-6


def test_rodrigues_gives_rotations():
    from architectures.three_d.meshes import _rodrigues

    r = np.random.default_rng(3).normal(size=(2, 5, 3)).astype("float32")
    rotations = np.asarray(_rodrigues(r))
    np.testing.assert_allclose(rotations @ np.swapaxes(rotations, -1, -2), np.broadcast_to(np.eye(3), rotations.shape), atol=1e-5)
    np.testing.assert_allclose(rotations, meshes.rodrigues_numpy(r), atol=1e-5)


# --- 3D-R2N2 ----------------------------------------------------------------------------------------------


def test_r2n2_encoder_conv_lstm_decoder():
    model = architectures.create_model("image_to_3d", config="tiny")
    lstm = model.get_layer("conv_lstm_3d")
    assert tuple(lstm.output.shape[1:4]) == (4, 4, 4)  # the 4³ grid of hidden cells
    assert tuple(model.output.shape[1:]) == (8, 8, 8, 2)
    views = np.random.default_rng(0).uniform(0, 255, (1, 2, 16, 16, 1)).astype("float32")
    out = np.asarray(model(views))
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-5)
    # Recurrent over views: a different order of the views gives a different state.
    swapped = np.asarray(model(views[:, ::-1]))
    assert np.abs(out - swapped).max() > 1e-6
    # One encoder shared by every view: weights do not grow with the number of views.
    three = architectures.create_model("image_to_3d", config="tiny", input_shape=(3, 16, 16, 1))
    assert three.count_params() == model.count_params()


def test_voxel_iou():
    a = np.zeros((1, 4, 4, 4), bool)
    b = np.zeros((1, 4, 4, 4), bool)
    a[0, :2] = True
    b[0, 1:3] = True
    assert voxels.voxel_iou(a, b)[0] == pytest.approx(16 / 48)


# --- canonical sizes (built once) -----------------------------------------------------------------------------


@pytest.mark.large
def test_canonical_sizes():
    pointseg = architectures.create_model("pointseg")
    assert tuple(pointseg.input.shape[1:]) == (64, 512, 5) and tuple(pointseg.output.shape[1:]) == (64, 512, 4)
    smpl = architectures.create_model("smpl_layer")
    assert smpl.count_params() == meshes.SMPL_PARAMS == 4_836_780
    assert tuple(smpl.output.shape[1:]) == (6890, 3)
    r2n2 = architectures.create_model("image_to_3d")
    assert tuple(r2n2.output.shape[1:]) == (32, 32, 32, 2)
