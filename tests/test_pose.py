"""Family J (pose): the spec's row checks as assertions (spec §2 J, issue 18).

Targets, decoding and metrics come from `tasks/pose.py`; the models from `architectures/pose/`.
Everything here runs on tiny inputs (32-64 px); canonical builds carry `large`.
"""

import numpy as np
import pytest

import architectures
from tasks import pose


def _two_people(size=64, seed=3):
    images, keypoints, boxes = pose.render_stick_figures(1, size, 2, pose.STICK14, seed, min_people=2)
    return images, keypoints, boxes


# --- targets and decoding ------------------------------------------------------------------------


def test_heatmap_decoding_recovers_keypoints_to_sub_pixel():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.uniform(6, 58, size=(2, 1, 14, 2)), np.ones((2, 1, 14, 1))], axis=-1).astype("float32")
    maps = np.asarray(pose.render_heatmaps(points, 64, 64, 4, 4.0))
    assert maps.shape == (2, 16, 16, 14)
    decoded = np.asarray(pose.decode_heatmaps(maps, 4))
    error = np.hypot(*(decoded[..., :2] - points[..., :2]).transpose(3, 0, 1, 2))
    cell_centre = (np.floor(points[..., :2] / 4) + 0.5) * 4  # what the arg-max cell alone gives
    cell_error = np.hypot(*(cell_centre - points[..., :2]).transpose(3, 0, 1, 2))
    assert error.max() < 0.1 and error.mean() < 0.1 * cell_error.mean(), (error.max(), error.mean(), cell_error.mean())
    assert np.allclose(decoded[..., 2], maps.max(axis=(1, 2))[:, None])


def test_openpose_paf_integral_and_greedy_matching_recover_two_skeletons():
    _, keypoints, _ = _two_people()
    stride = 2
    heatmaps = np.asarray(pose.render_heatmaps(keypoints, 64, 64, stride, 1.5))[0]
    pafs = np.asarray(pose.render_pafs(keypoints, pose.STICK14.limbs, 64, 64, stride, 1.5))[0]
    # A limb's own field integrates to ≈ 1 along it and ≈ 0 between two people's joints.
    a, b = pose.STICK14.limbs[2]
    own, fraction = pose.paf_line_integral(pafs[..., 4], pafs[..., 5], keypoints[0, 0, a], keypoints[0, 0, b], stride)
    across, _ = pose.paf_line_integral(pafs[..., 4], pafs[..., 5], keypoints[0, 0, a], keypoints[0, 1, b], stride)
    assert own > 0.8 and fraction > 0.8 and across < 0.3
    peaks = [pose.find_peaks(heatmaps[..., j], 0.3, stride) for j in range(14)]
    assert all(len(p) == 2 for p in peaks)
    people = pose.assemble_people(peaks, pose.STICK14, pose.paf_limb_weights(pafs, stride))
    assert len(people) == 2
    for truth in keypoints[0]:
        errors = [np.abs(person[:, :2] - truth[:, :2]).max() for person in people]
        assert min(errors) < 1.0, errors


def test_greedy_matching_takes_the_heaviest_edges_and_hungarian_the_best_total():
    weights = np.array([[0.9, 0.8], [0.85, 0.1]])
    assert pose.greedy_match(weights) == [(0, 0, 0.9), (1, 1, 0.1)]
    assert sorted(m[:2] for m in pose.hungarian_match(weights)) == [(0, 1), (1, 0)]


def test_deepcut_ilp_partitions_and_labels_a_small_scene():
    # Two people with joints head (0), neck (1), right shoulder (2) + one weak spurious head.
    classes = [0, 1, 2, 0, 1, 2, 0]
    confidence = [0.9, 0.95, 0.9, 0.9, 0.95, 0.85, 0.15]
    person = [0, 0, 0, 1, 1, 1, -1]
    alpha = np.full((7, 14), np.inf)
    for d, (c, p) in enumerate(zip(classes, confidence)):
        alpha[d, c] = np.log((1 - p) / p)
    alpha[1, 2] = np.log(0.8 / 0.2)  # an ambiguous second label the ILP must not pick
    beta = {}
    for d in range(7):
        for e in range(d + 1, 7):
            for c, f in ((classes[d], classes[e]),):
                if {c, f} in ({0, 1}, {1, 2}):  # skeleton neighbours: same person likely iff truly so
                    same = person[d] == person[e] and person[d] >= 0
                    q = 0.95 if same else (0.3 if -1 in (person[d], person[e]) else 0.05)
                    beta[(d, e, c, f)] = np.log((1 - q) / q)
                if c == f:
                    beta[(d, e, c, f)] = 2.0
    labels, clusters = pose.solve_partition_ilp(alpha, beta)
    assert list(labels) == [0, 1, 2, 0, 1, 2, -1]  # uniqueness: one label each; the spurious head suppressed
    assert clusters[0] == clusters[1] == clusters[2] and clusters[3] == clusters[4] == clusters[5]
    assert clusters[0] != clusters[3] and clusters[6] == -1


def test_deepcut_decodes_two_people_from_analytic_maps():
    model = architectures.create_model("deepcut", config="tiny", image_size=64)
    _, keypoints, _ = _two_people()
    y = keypoints.astype("float32")
    heat = np.asarray(model.heatmap_targets(y, model.sigma))[0]
    offsets = np.asarray(model.offset_targets(y)[0])[0]
    people = model.decode_maps({"heatmaps": heat, "offsets": offsets})
    assert len(people) == 2
    for truth in keypoints[0]:
        assert min(np.abs(p[:, :2] - truth[:, :2]).max() for p in people) < 3.0
    # Each candidate keeps the class whose map it peaked in (a shoulder peak is no neck candidate).
    points, probabilities = model.candidates(heat)
    assert np.all(np.count_nonzero(probabilities, axis=1) == 1) and len(points) == 2 * 14


def test_alphapose_sdtn_inverts_the_stn_exactly_and_crops_the_right_place():
    from keras import ops

    rng = np.random.default_rng(1)
    centres = rng.uniform(10, 30, size=(1, 2, 2)).astype("float32")
    sides = np.array([[12.0, 16.0]], "float32")
    theta = (np.eye(2, 3)[None, None] + rng.uniform(-0.2, 0.2, size=(1, 2, 2, 3))).astype("float32")
    image = np.zeros((1, 40, 40, 1), "float32")
    image[0, 20, 17] = 1.0  # a bright pixel at (x, y) = (17.5, 20.5)
    centres[0, 0] = (17.5, 20.5)
    crops, affine = pose.affine_crop(ops.convert_to_tensor(image), centres, sides, 32, theta)
    points = rng.uniform(0, 32, size=(1, 2, 5, 2)).astype("float32")
    back = np.asarray(pose.image_to_crop(pose.crop_to_image(points, affine, 32), affine, 32))
    assert np.allclose(back, points, atol=1e-3)
    crop = np.asarray(crops)[0, ..., 0]
    row, col = np.unravel_index(np.argmax(crop), crop.shape)
    found = np.asarray(pose.crop_to_image(np.array([[[[col + 0.5, row + 0.5]]]], "float32")[:, :1].repeat(2, 1), affine, 32))[0, 0, 0]
    assert np.hypot(*(found - (17.5, 20.5))) < 1.0


def test_alphapose_positive_weight_scales_each_cell_by_one_plus_w_times_its_target():
    import architectures

    model = architectures.create_model("alphapose_rmpe", config="tiny")
    assert model.positive_weight == 20.0 and architectures.create_model("alphapose_rmpe", config="tiny", positive_weight=0.0).positive_weight == 0.0
    rng = np.random.default_rng(0)
    people = np.zeros((2, 2, 14, 3), "float32")
    people[..., :2] = rng.uniform(10, 22, size=(2, 2, 14, 2))
    people[..., 2] = 1.0
    outputs = model({"images": rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32"),
                     "boxes": np.tile(np.array([[4.0, 4.0, 28.0, 28.0]], "float32"), (2, 2, 1))})
    weighted = [float(v) for v in model.pose_losses(people, outputs)]
    model.positive_weight = 0.0
    plain = [float(v) for v in model.pose_losses(people, outputs)]
    # The heat-map term grows (targets are non-negative, some positive); the STN term is unchanged.
    assert weighted[0] > plain[0] > 0 and weighted[-1] == pytest.approx(plain[-1])


def test_parametric_pose_nms_removes_a_near_duplicate():
    _, keypoints, _ = _two_people()
    a, b = keypoints[0, 0].copy(), keypoints[0, 1].copy()
    a[:, 2] = b[:, 2] = 0.9
    duplicate = a.copy()
    duplicate[:, :2] += 0.7
    duplicate[:, 2] = 0.6
    kept = pose.pose_similarity_nms(np.stack([duplicate, a, b]), np.array([0.6, 0.9, 0.85]))
    assert kept == [1, 2]


# --- models ----------------------------------------------------------------------------------------


def test_cpm_supervises_every_stage():
    import tensorflow as tf

    model = architectures.create_model("cpm", config="tiny", stages=3)
    x, y = pose.render_stick_figures(2, 32, 1, pose.STICK14, 0)[:2]
    with tf.GradientTape(persistent=True) as tape:
        outputs = model(x, training=True)
        terms = model.stage_losses(tf.constant(y), outputs)
        total = model.compute_loss(x, y, outputs)
    assert len(terms) == 3
    assert np.isclose(float(total), float(sum(terms)), rtol=1e-5)
    for t, term in enumerate(terms, start=1):  # each stage's own term reaches its own belief layer
        gradient = tape.gradient(term, model.get_layer(f"stage{t}_beliefs").kernel)
        assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0.0


def test_deeppose_cascade_stage_two_refines_stage_one():
    """Stage 1 frozen at its (poor) initial regressor; stage 2, trained on crops around stage 1's
    estimates (here the whole image, σ large), must bring the joints closer than stage 1."""
    import keras

    keras.utils.set_random_seed(0)
    model = architectures.create_model("deeppose", config="tiny", crop_sigma=100.0)
    model.get_layer("stage1").trainable = False
    images, keypoints, _ = pose.render_stick_figures(16, 32, 1, pose.STICK14, 5)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(images, keypoints, batch_size=16, epochs=30, verbose=0)
    errors = [float(e) for e in model.stage_errors(keypoints, model(images, training=False))]
    assert errors[1] < 0.7 * errors[0], errors


def test_flip_augmentation_moves_keypoints_and_swaps_left_and_right():
    images, keypoints, _ = pose.render_stick_figures(8, 32, 1, pose.STICK14, 2)
    augment = pose.make_pose_augmentation({"flip": "horizontal"}, pose.STICK14, seed=0)
    moved_images, moved = (np.asarray(v) for v in augment(images, keypoints))
    flipped = np.all(np.isclose(moved_images, images[:, :, ::-1]), axis=(1, 2, 3))
    assert flipped.any() and (~flipped).any()
    i = int(np.argmax(flipped))
    left, right = pose.STICK14.flip_pairs[0]
    assert np.allclose(moved[i, 0, left, 0], 32 - keypoints[i, 0, right, 0], atol=1e-4)
    assert np.allclose(moved[i, 0, left, 1], keypoints[i, 0, right, 1], atol=1e-4)
    j = int(np.argmin(flipped))
    assert np.allclose(moved[j], keypoints[j], atol=1e-4)


def test_stick_figure_data_and_perfect_scores():
    from pipelines.datasets import load_dataset

    multi = load_dataset("stick_figures_multi", num_examples=6, seed=1)
    assert multi.x["images"].shape == (6, 64, 64, 3) and multi.y.shape == (6, 4, 14, 3)
    people = multi.y[..., 2].max(-1) > 0
    assert np.all((people.sum(1) >= 2) & (people.sum(1) <= 4))
    boxes = multi.x["boxes"]
    inside = (multi.y[..., 0] >= boxes[..., None, 0]) & (multi.y[..., 0] <= boxes[..., None, 2])
    assert np.all(inside[people])
    task = pose.Pose()
    assert task.score(multi.y, {"keypoints": multi.y * [1, 1, 0.9]})["oks_ap50"] == pytest.approx(1.0)
    single = load_dataset("stick_figures", num_examples=4, seed=1)
    assert task.score(single.y, {"keypoints": single.y})["pck@0.2"] == 1.0
    with pytest.raises(ValueError, match="skeleton"):
        architectures.create_model("cpm", config="tiny", skeleton="coco99")


@pytest.mark.large
def test_canonical_configs_have_the_papers_layout():
    cpm = architectures.create_model("cpm")
    assert tuple(cpm.get_layer("stage_beliefs").output.shape[1:]) == (6, 46, 46, 15)  # T = 6 stages of P + 1 maps at stride 8 on 368 px
    openpose = architectures.create_model("openpose")
    assert tuple(openpose.get_layer("heat_stages").output.shape[1:]) == (6, 46, 46, 19)
    assert tuple(openpose.get_layer("paf_stages").output.shape[1:]) == (6, 46, 46, 38)
    deeppose = architectures.create_model("deeppose")
    assert tuple(deeppose.inputs[0].shape[1:]) == (220, 220, 3) and tuple(deeppose.get_layer("stage_joints").output.shape[1:]) == (3, 14, 2)
