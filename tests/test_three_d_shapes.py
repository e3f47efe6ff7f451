"""Family K shape rows (PointNet, PointNet++, point-cloud AE, D2 → MLP, MVCNN, VoxNet, RGB-D fusion,
DeepPano), PointNet part segmentation on part_primitives, and the 3-D GANs of family G: the spec's
row checks as assertions. The sweep covers
build/train/round trip/exports and the canonical parameter counts (PointNet 3,492,209 and VoxNet
917,866, both matched exactly)."""

import itertools

import keras
import numpy as np
import pytest

import architectures
from architectures.three_d import points as pts
from architectures.three_d import views


def _cloud(n=64, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(2, n, 3)).astype("float32")


def test_pointnet_output_is_invariant_to_point_order():
    model = architectures.create_model("pointnet", config="tiny")
    x = _cloud()
    permuted = x[:, np.random.default_rng(1).permutation(x.shape[1])]
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(model(permuted)), atol=1e-6)


def test_orthogonality_regulariser_is_zero_for_orthogonal_and_matches_numpy():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a = rng.normal(size=(5, 5))
    values = np.asarray(pts.orthogonality_loss(np.stack([q, a]).astype("float32")))
    assert values[0] < 1e-5
    np.testing.assert_allclose(values[1], np.sum((np.eye(5) - a @ a.T) ** 2), rtol=1e-4)


def test_feature_transform_adds_its_weighted_regulariser():
    model = architectures.create_model("pointnet", config="tiny", orthogonality_weight=0.5)
    model(_cloud(), training=True)
    # The T-Nets start at the identity: the regulariser is exactly zero before training.
    assert len(model.losses) == 1 and abs(float(model.losses[0])) < 1e-6


def test_farthest_point_sampling_and_ball_query_match_numpy():
    xyz = _cloud(48, seed=3)
    fps = np.asarray(pts.farthest_point_sample(xyz, 12))
    for b in range(2):
        np.testing.assert_array_equal(fps[b], pts.farthest_point_sample_numpy(xyz[b], 12))
    centroids = np.stack([xyz[b, fps[b]] for b in range(2)])
    groups = np.asarray(pts.ball_query(xyz, centroids, 0.5, 6))
    for b in range(2):
        np.testing.assert_array_equal(groups[b], pts.ball_query_numpy(xyz[b], centroids[b], 0.5, 6))


def test_chamfer_matches_numpy_and_exact_emd_matches_brute_force():
    p, q = _cloud(16, seed=4), _cloud(16, seed=5)
    chamfer = np.asarray(pts.chamfer_distance(p, q))
    for b in range(2):
        np.testing.assert_allclose(chamfer[b], pts.chamfer_distance_numpy(p[b], q[b]), rtol=1e-4)
    small_p, small_q = p[0, :6].astype(np.float64), q[0, :6].astype(np.float64)
    brute = min(np.linalg.norm(small_p - small_q[list(perm)], axis=1).mean() for perm in itertools.permutations(range(6)))
    np.testing.assert_allclose(pts.earth_movers_distance(small_p, small_q), brute, rtol=1e-9)
    assert pts.earth_movers_distance(small_p, small_p[::-1]) == 0.0


def test_d2_histogram_layer_matches_numpy():
    x = _cloud(32, seed=6)
    hist = np.asarray(pts.D2Histogram(bins=16)(x))
    for b in range(2):
        np.testing.assert_allclose(hist[b], pts.d2_histogram_numpy(x[b], bins=16), atol=1e-6)
    assert np.allclose(hist.sum(axis=1), 1.0)


def test_multiview_view_pooling_is_view_order_invariant():
    model = architectures.create_model("multiview_cnn", config="tiny")
    x = np.random.default_rng(0).uniform(size=(2, 12, 16, 16, 1)).astype("float32")
    shuffled = x[:, np.random.default_rng(2).permutation(12)]
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(model(shuffled)), atol=1e-6)


def test_voxnet_pooling_equals_max_pooling_3d():
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 8, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(views.MaxPool3DBy2D()(x)), np.asarray(keras.layers.MaxPooling3D(2)(x)), atol=0)


def test_rgbd_fusion_uses_both_streams():
    model = architectures.create_model("rgbd_fusion", config="tiny")
    fuse = model.get_layer("fuse")
    assert [t.shape[-1] for t in fuse.input] == [16, 16]
    rng = np.random.default_rng(0)
    x = {"rgb": rng.uniform(0, 255, (2, 16, 16, 3)).astype("float32"), "depth": rng.uniform(0, 1, (2, 16, 16, 1)).astype("float32")}
    base = np.asarray(model(x))
    for key in x:
        changed = dict(x, **{key: x[key][::-1]})
        assert not np.allclose(np.asarray(model(changed)), base), key


def test_panorama_cnn_is_invariant_to_rotation_about_the_axis():
    model = architectures.create_model("projection_cnn_3d", config="tiny")  # panorama 8 × 16
    rng = np.random.default_rng(0)
    width = 16
    angle = (rng.integers(0, width, 64) + 0.5) * 2 * np.pi / width - np.pi  # bin centres: binning is exact
    radius, z = rng.uniform(0.2, 1.0, 64), rng.uniform(-0.95, 0.95, 64)
    for steps in (1, 5):
        turned = angle + steps * 2 * np.pi / width
        a = np.stack([radius * np.cos(angle), radius * np.sin(angle), z], -1)[None].astype("float32")
        b = np.stack([radius * np.cos(turned), radius * np.sin(turned), z], -1)[None].astype("float32")
        pano_a, pano_b = (np.asarray(model.get_layer("panorama")(p)) for p in (a, b))
        np.testing.assert_allclose(np.roll(pano_a, steps, axis=2), pano_b, atol=1e-6)
        np.testing.assert_allclose(np.asarray(model(a)), np.asarray(model(b)), atol=1e-6)


def test_gan_3d_updates_the_discriminator_only_below_the_accuracy_threshold():
    real = (np.random.default_rng(0).uniform(size=(8, 8, 8, 8, 1)) < 0.3).astype("float32")
    moved = {}
    for threshold in (0.0, 1.01):
        model = architectures.create_model("gan_3d", config="tiny", d_accuracy_threshold=threshold, seed=1)
        model.compile(keras.optimizers.Adam(1e-2, beta_1=0.5), jit_compile=False)
        d_before = [np.array(w) for w in model.discriminator.trainable_weights]
        g_before = [np.array(w) for w in model.generator.trainable_weights]
        logs = model.fit(real, batch_size=8, epochs=2, verbose=0).history
        moved[threshold] = (
            max(float(np.max(np.abs(np.asarray(w) - b))) for w, b in zip(model.discriminator.trainable_weights, d_before)),
            max(float(np.max(np.abs(np.asarray(w) - b))) for w, b in zip(model.generator.trainable_weights, g_before)),
            logs["d_updated"][-1],
        )
    assert moved[0.0][0] == 0.0 and moved[0.0][2] == 0.0 and moved[0.0][1] > 0.0
    assert moved[1.01][0] > 0.0 and moved[1.01][2] == 1.0


def test_gan_3d_discriminator_learning_rate_is_scaled():
    model = architectures.create_model("gan_3d", config="tiny", d_learning_rate_scale=0.004)
    model.compile(keras.optimizers.Adam(0.0025, beta_1=0.5))
    assert np.isclose(float(model.d_optimizer.learning_rate), 1e-5)


def test_vae_gan_3d_trains_encoder_kl_and_generator_from_image_voxel_pairs():
    model = architectures.create_model("vae_gan_3d", config="tiny", seed=0)
    rng = np.random.default_rng(0)
    voxels = (rng.uniform(size=(8, 8, 8, 8, 1)) < 0.3).astype("float32")
    images = rng.uniform(size=(8, 16, 16, 1)).astype("float32")
    model.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), jit_compile=False)
    encoder_before = [np.array(w) for w in model.image_encoder.trainable_weights]
    logs = model.fit(voxels, images, batch_size=8, epochs=2, verbose=0).history
    assert np.isfinite(logs["kl"][-1]) and logs["kl"][-1] >= 0.0 and np.isfinite(logs["reconstruction"][-1])
    assert any(np.max(np.abs(np.asarray(w) - b)) > 0 for w, b in zip(model.image_encoder.trainable_weights, encoder_before))
    reconstruction = np.asarray(model.reconstruct(images))
    assert reconstruction.shape == voxels.shape and reconstruction.min() >= 0.0 and reconstruction.max() <= 1.0
    with pytest.raises(ValueError, match="pairs"):
        model.train_step(voxels)


def test_datasets_are_deterministic_and_shaped():
    from pipelines.datasets import load_dataset

    a, b = load_dataset("primitives", num_points=64, num_per_class=3), load_dataset("primitives", num_points=64, num_per_class=3)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x.shape == (18, 64, 3) and np.abs(a.x).max() <= 1.05 and sorted(set(a.y.tolist())) == list(range(6))
    voxels = load_dataset("voxel_image_pairs", grid=8, num_per_class=2, image_size=8)
    assert voxels.x.shape == (10, 8, 8, 8, 1) and voxels.y.shape == (10, 8, 8, 1) and voxels.x.max() == 1.0
    rgbd = load_dataset("primitive_rgbd", image_size=8, num_per_class=1)
    assert rgbd.x["rgb"].shape == (6, 8, 8, 3) and rgbd.x["depth"].shape == (6, 8, 8, 1)


def test_bad_point_input_is_a_one_line_value_error():
    with pytest.raises(ValueError, match="num_points, 3"):
        architectures.create_model("pointnet", config="tiny", input_shape=(64, 2))
    model = architectures.create_model("descriptor_mlp_3d", config="tiny")
    bad = _cloud()
    bad[0, 3, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        model(bad)


# --- PointNet part segmentation and the part_primitives data --------------------------------------------


def test_part_primitives_are_deterministic_with_valid_part_labels():
    from pipelines import sources_points as sp
    from pipelines.datasets import load_dataset

    first = load_dataset("part_primitives", seed=3, num_points=64, num_per_category=6)
    again = load_dataset("part_primitives", seed=3, num_points=64, num_per_category=6)
    other = load_dataset("part_primitives", seed=4, num_points=64, num_per_category=6)
    for key in ("points", "category"):
        np.testing.assert_array_equal(first.x[key], again.x[key])
    np.testing.assert_array_equal(first.y, again.y)
    assert not np.array_equal(first.x["points"], other.x["points"])
    points, onehot, parts = first.x["points"], first.x["category"], first.y
    assert points.shape == (24, 64, 3) and onehot.shape == (24, 4) and parts.shape == (24, 64)
    assert first.class_names == list(sp.PART_CLASS_NAMES) and all("/" in name for name in first.class_names)
    categories = onehot.argmax(-1)
    np.testing.assert_array_equal(onehot.sum(-1), 1.0)
    np.testing.assert_array_equal(np.bincount(categories), [6, 6, 6, 6])
    # Centred in the unit sphere (up to the clipped jitter of 0.05 per axis).
    assert np.linalg.norm(points, axis=-1).max() <= 1.0 + 0.05 * np.sqrt(3)
    for cloud_parts, category in zip(parts, categories):
        own = [i for i, name in enumerate(sp.PART_CLASS_NAMES) if name.startswith(sp.PART_CATEGORIES[category] + "/")]
        # Every point carries a part of its own category, and every part of it has points.
        assert set(np.unique(cloud_parts)) == set(own)


def test_part_averaged_iou_follows_the_papers_definition():
    from tasks.segmentation import part_averaged_iou

    names = ["a/x", "a/y", "b/u", "b/v", "b/w"]
    truth = np.array([[0, 0, 1, 1], [2, 2, 3, 3]])
    guess = np.array([[0, 1, 1, 1], [2, 2, 3, 4]])
    report = part_averaged_iou(truth, guess, names)
    # Shape 1 (a): IoU(x) = 1/2, IoU(y) = 2/3. Shape 2 (b): u 1, v 1/2, w absent from the truth but
    # predicted once: 0 (a part absent from both would count 1).
    np.testing.assert_allclose(report["part_miou_per_category"]["a"], (1 / 2 + 2 / 3) / 2)
    np.testing.assert_allclose(report["part_miou_per_category"]["b"], (1 + 1 / 2 + 0) / 3)
    np.testing.assert_allclose(report["part_instance_miou"], ((1 / 2 + 2 / 3) / 2 + (1 + 1 / 2) / 3) / 2)
    perfect = part_averaged_iou(truth, truth, names)
    assert perfect["part_instance_miou"] == 1.0  # b/w, absent from both, counts 1


def test_part_segmentation_output_permutes_with_the_points():
    model = architectures.create_model("pointnet_part_seg", config="tiny")
    points = np.random.default_rng(0).uniform(-1, 1, size=(2, 64, 3)).astype("float32")
    category = np.eye(4, dtype="float32")[[1, 3]]
    order = np.random.default_rng(1).permutation(64)
    scores = np.asarray(model({"points": points, "category": category}))
    permuted = np.asarray(model({"points": points[:, order], "category": category}))
    assert scores.shape == (2, 64, 10)
    np.testing.assert_allclose(permuted, scores[:, order], atol=1e-5)
    # The category input reaches every point's scores.
    other = np.asarray(model({"points": points, "category": category[::-1]}))
    assert np.abs(other - scores).max() > 1e-4


@pytest.mark.large
def test_part_segmentation_canonical_parameter_count_matches_fig2_layer_by_layer():
    def layer(inputs, outputs):  # Dense + BatchNormalization (γ, β, moving mean and variance)
        return inputs * outputs + outputs + 4 * outputs

    def tnet(k):
        return layer(k, 64) + layer(64, 128) + layer(128, 1024) + layer(1024, 512) + layer(512, 256) + 256 * k * k + k * k

    expected = (
        tnet(3) + layer(3, 64) + layer(64, 64) + tnet(64) + layer(64, 64) + layer(64, 128) + layer(128, 1024)
        + layer(64 + 1024 + 16, 512) + layer(512, 256) + layer(256, 128) + layer(128, 128) + 128 * 50 + 50
    )
    assert expected == pts.POINTNET_PART_SEG_PARAMS == architectures.get_spec("pointnet_part_seg").reference_params
    with keras.StatelessScope():
        model = pts.PointNetPartSegmentation(num_points=2048, num_categories=16, num_classes=50)
    assert model.count_params() == expected


def test_point_cloud_augmentation_rotates_about_the_up_axis_and_keeps_labels():
    from tasks.segmentation import point_cloud_augmentation

    points = np.random.default_rng(0).uniform(-1, 1, size=(3, 32, 3)).astype("float32")
    labels = np.arange(96).reshape(3, 32) % 5
    moved, same = point_cloud_augmentation(seed=1, scale=0.0, jitter=0.0)({"points": points, "category": np.eye(3)}, labels)
    moved = np.asarray(moved["points"])
    np.testing.assert_array_equal(np.asarray(same), labels)
    np.testing.assert_allclose(moved[..., 2], points[..., 2], atol=1e-6)  # heights unchanged
    np.testing.assert_allclose(np.linalg.norm(moved[..., :2], axis=-1), np.linalg.norm(points[..., :2], axis=-1), atol=1e-5)
    assert np.abs(moved - points).max() > 1e-2
