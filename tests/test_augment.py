"""Augmentations keep shapes, dtype, value range and label alignment; paired targets move with
the image; mixing makes soft labels that sum to one and match the mixed pixels."""

import numpy as np
import pytest
import tensorflow as tf

from pipelines import augment

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0.0, 255.0, size=(6, 16, 16, 3)).astype("float32")
LABELS = np.arange(6, dtype="int32")

# One test setting per augmentation in the table; a new augmentation must add its own here.
SETTINGS = {
    "flip": "horizontal_and_vertical",
    "crop": 12,
    "pad_crop": 3,
    "scale_jitter": {"range": (16, 24), "size": 12},
    "translate": 0.2,
    "rotate": 0.1,
    "zoom": 0.2,
    "shear": 0.2,
    "perspective": 0.3,
    "elastic": {"sigma": 2.0, "grid": 3},
    "brightness": 0.3,
    "contrast": 0.3,
    "color_jitter": 0.3,
    "hue": 0.2,
    "saturation": 0.5,
    "exposure": 0.5,
    "pca_color": augment.pca_color_statistics(IMAGES),
    "noise": 0.05,
    "erase": 1.0,
    "mixup": 0.2,
    "cutmix": 1.0,
}
OUTPUT_SIZE = {"crop": 12, "scale_jitter": 12}


def test_every_augmentation_has_a_test_setting():
    assert set(SETTINGS) == set(augment.AUGMENTATIONS)


@pytest.mark.parametrize("name", list(augment.AUGMENTATIONS))
def test_augmentation_keeps_shape_dtype_range_and_labels(name):
    fn = augment.build_augmentation({name: SETTINGS[name]}, value_range=(0.0, 255.0), seed=1, num_classes=6)
    images, labels = fn(tf.constant(IMAGES), tf.constant(LABELS))
    images, labels = np.asarray(images), np.asarray(labels)
    size = OUTPUT_SIZE.get(name, 16)
    assert images.shape == (6, size, size, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 255.0 and np.isfinite(images).all()
    if augment.AUGMENTATIONS[name][0] == "mixing":
        assert labels.shape == (6, 6) and labels.dtype == np.float32
        np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-5)
    else:
        np.testing.assert_array_equal(labels, LABELS)
    if name not in OUTPUT_SIZE:
        assert not np.allclose(images, IMAGES), "the augmentation did nothing"


@pytest.mark.parametrize("name", ["flip", "pad_crop", "translate", "rotate", "zoom", "shear", "perspective", "elastic"])
def test_geometric_augmentation_keeps_each_example_in_its_place(name):
    # Constant images with distinct values: moving pixels (with a fill of 0) never brings in
    # another example's value, so the batch order, and with it the label, is kept.
    values = np.array([40.0, 80.0, 120.0, 160.0, 200.0, 240.0], dtype="float32")
    images = np.broadcast_to(values[:, None, None, None], (6, 16, 16, 3)).copy()
    fn = augment.build_augmentation({name: SETTINGS[name]}, seed=2)
    out = np.asarray(fn(tf.constant(images), tf.constant(LABELS))[0])
    np.testing.assert_allclose(out.reshape(6, -1).max(axis=1), values, rtol=1e-4)


def test_mixup_soft_labels_match_the_mixed_pixels():
    # Image k is the constant 20 k + 10 and has class k: a mixed image's mean is then the
    # label-weighted mean of the class values, which holds only if labels mix with their images.
    values = np.arange(6, dtype="float32") * 20 + 10
    images = np.broadcast_to(values[:, None, None, None], (6, 8, 8, 3)).copy()
    for name in ("mixup", "cutmix"):
        fn = augment.build_augmentation({name: {"num_classes": 6}}, seed=5)
        out, soft = (np.asarray(t) for t in fn(tf.constant(images), tf.constant(LABELS)))
        np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-5)
        assert (np.count_nonzero(soft > 1e-6, axis=1) <= 2).all()
        if name == "mixup":
            np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), soft @ values, rtol=1e-4)
        else:  # cutmix pastes a patch: every pixel is one of the two labelled images' values
            for image, row in zip(out, soft):
                assert set(np.unique(image)) <= set(values[row > 1e-6])
    assert augment.augmentation_produces_soft_labels({"mixup": 0.2, "flip": True})
    assert not augment.augmentation_produces_soft_labels("standard")


def test_mixup_accepts_one_hot_labels_and_needs_num_classes_for_ids():
    one_hot = np.eye(6, dtype="float32")
    fn = augment.build_augmentation({"mixup": 0.4}, seed=0)
    _, soft = fn(tf.constant(IMAGES), tf.constant(one_hot))
    np.testing.assert_allclose(np.asarray(soft).sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="num_classes"):
        fn(tf.constant(IMAGES), tf.constant(LABELS))


def test_presets_work_for_both_value_ranges():
    for preset in augment.PRESETS:
        for low, high in ((0.0, 255.0), (0.0, 1.0)):
            fn = augment.build_augmentation(preset, value_range=(low, high), seed=0)
            if fn is None:
                assert preset == "none"
                continue
            images = IMAGES / 255.0 * (high - low) + low
            batch, labels = fn(tf.constant(images), tf.constant(LABELS))
            assert batch.shape == (6, 16, 16, 3) and batch.dtype == tf.float32
            assert low <= np.min(batch) and np.max(batch) <= high
            np.testing.assert_array_equal(labels, LABELS)


def test_augmentation_runs_inside_tf_data():
    fn = augment.build_augmentation("standard", seed=0)
    dataset = tf.data.Dataset.from_tensor_slices((IMAGES, LABELS)).batch(3).map(fn, num_parallel_calls=tf.data.AUTOTUNE)
    batches = list(dataset.as_numpy_iterator())
    assert [b[0].shape for b in batches] == [(3, 16, 16, 3)] * 2
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), LABELS)


def test_same_seed_same_augmentation():
    config = {"translate": 0.2, "brightness": 0.3, "elastic": 2.0}
    first = augment.build_augmentation(config, seed=7)(tf.constant(IMAGES), tf.constant(LABELS))[0]
    second = augment.build_augmentation(config, seed=7)(tf.constant(IMAGES), tf.constant(LABELS))[0]
    other = augment.build_augmentation(config, seed=8)(tf.constant(IMAGES), tf.constant(LABELS))[0]
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


def test_bad_configs_raise_clear_errors():
    with pytest.raises(ValueError, match="Unknown augmentation preset"):
        augment.build_augmentation("heavy")
    with pytest.raises(ValueError, match=r"Unknown augmentation\(s\) \['blur'\]"):
        augment.build_augmentation({"blur": 1})
    with pytest.raises(ValueError, match="value_range"):
        augment.build_augmentation("light", value_range=None)
    with pytest.raises(ValueError, match="Invalid setting for augmentation 'rotate'"):
        augment.build_augmentation({"rotate": "a lot"})
    grey = np.zeros((2, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match="needs RGB images"):
        augment.build_augmentation({"hue": 0.1})(tf.constant(grey), tf.constant([0, 1]))
    with pytest.raises(ValueError, match="cannot move masks"):
        augment.build_paired_augmentation({"mixup": 0.2})
    with pytest.raises(ValueError, match="cannot move masks"):
        augment.build_paired_augmentation({"perspective": 0.2})


def test_pca_colour_statistics_and_offsets():
    stats = augment.pca_color_statistics(IMAGES)
    vectors, values = stats["eigenvectors"], stats["eigenvalues"]
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(3), atol=1e-5)
    assert (np.diff(values) <= 0).all() and values[-1] >= 0
    # Each image moves by one RGB offset, along the eigenvectors, scaled by the eigenvalues.
    layer = augment.PCAColorAugmentation(**stats, std=0.1, seed=0)
    offsets = np.asarray(layer(tf.constant(IMAGES))) - IMAGES
    np.testing.assert_allclose(offsets, np.broadcast_to(offsets[:, :1, :1, :], offsets.shape), atol=1e-3)
    coefficients = offsets[:, 0, 0, :] / 255.0 @ vectors / values
    assert np.abs(coefficients).max() < 0.6  # α ~ N(0, 0.1)
    with pytest.raises(ValueError, match="RGB"):
        augment.pca_color_statistics(np.zeros((2, 4, 4, 1)))


# --- paired augmentation: masks, boxes and keypoints move with the image ---------------------


def _marker_scene(size=40, count=3):
    """Images with `count` bright 5×5 squares per example, masks numbering them 1..count, the
    squares' boxes and their centres as keypoints with visibility."""
    rng = np.random.default_rng(3)
    images = np.zeros((4, size, size, 3), "float32")
    masks = np.zeros((4, size, size), "int32")
    boxes = -np.ones((4, count + 1, 4), "float32")  # the last row is padding
    keypoints = np.zeros((4, count, 3), "float32")
    for b in range(4):
        for k in range(count):
            x, y = rng.integers(10, size - 15, size=2)
            images[b, y : y + 5, x : x + 5] = 255.0
            masks[b, y : y + 5, x : x + 5] = k + 1
            boxes[b, k] = [x, y, x + 5, y + 5]
            keypoints[b, k] = [x + 2.5, y + 2.5, 1.0]
    return images, {"mask": masks, "boxes": boxes, "keypoints": keypoints}


PAIRED = {
    "flip": {"flip": "horizontal_and_vertical"},
    "translate": {"translate": 0.15},
    "pad_crop": {"pad_crop": 4},
    "crop": {"crop": 32},
    "rotate": {"rotate": 0.1},
    "zoom": {"zoom": 0.25},
    "shear": {"shear": 0.2},
    "elastic": {"elastic": {"sigma": 3.0, "grid": 3}},
    "all": {"flip": "horizontal", "translate": 0.1, "rotate": 0.05, "zoom": 0.1, "crop": 36, "elastic": 2.0, "brightness": 0.2},
}


@pytest.mark.parametrize("name", list(PAIRED))
def test_paired_targets_land_on_the_transformed_object(name):
    images, targets = _marker_scene()
    fn = augment.build_paired_augmentation(PAIRED[name], seed=4)
    out, moved = fn(tf.constant(images), {key: tf.constant(value) for key, value in targets.items()})
    out, mask, boxes, keypoints = (np.asarray(t) for t in (out, moved["mask"], moved["boxes"], moved["keypoints"]))
    size = 32 if name == "crop" else 36 if name == "all" else 40
    assert out.shape == (4, size, size, 3) and mask.shape == (4, size, size) and mask.dtype == np.int32
    assert set(np.unique(mask)) <= {0, 1, 2, 3}
    # The mask still marks the bright pixels: image and mask moved together.
    bright, dark = out[..., 0] > 200, out[..., 0] < 50
    assert (mask[bright] > 0).mean() > 0.95 and (mask[dark] == 0).mean() > 0.95
    np.testing.assert_array_equal(boxes[:, -1], -1)  # padding stays padding
    for b in range(4):
        for k in range(3):
            region = mask[b] == k + 1
            x, y, visible = keypoints[b, k]
            if not region.any():  # moved out of the image: its box and visibility say so
                assert visible == 0 or not (0 <= x <= size and 0 <= y <= size) or name in ("elastic", "all")
                continue
            ys, xs = np.nonzero(region)
            # The keypoint is at the centre of its own marker, not another one's.
            if visible:
                assert abs(xs.mean() + 0.5 - x) < 1.5 and abs(ys.mean() + 0.5 - y) < 1.5, (b, k, x, y)
            # The box encloses the moved marker, tightly when the transform keeps axes.
            x_min, y_min, x_max, y_max = boxes[b, k]
            assert x_min <= xs.min() + 1 and y_min <= ys.min() + 1 and x_max >= xs.max() and y_max >= ys.max()
            if name in ("flip", "translate", "pad_crop", "crop"):
                np.testing.assert_allclose(boxes[b, k], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], atol=1.0)


def test_paired_keypoints_leaving_the_image_become_invisible_and_flip_pairs_swap():
    images, targets = _marker_scene()
    targets["keypoints"][:, 0, :2] = [-5.0, 3.0]  # already outside
    fn = augment.build_paired_augmentation({"flip": "horizontal"}, seed=0, keypoint_flip_pairs=[(1, 2)])
    out, moved = fn(tf.constant(images), {key: tf.constant(value) for key, value in targets.items()})
    keypoints = np.asarray(moved["keypoints"])
    assert (keypoints[:, 0, 2] == 0).all()
    flipped = ~np.all(np.asarray(out) == images, axis=(1, 2, 3))
    assert flipped.any() and (~flipped).any()  # seed 0 flips some examples and not others
    for b in range(4):
        source = targets["keypoints"][b]
        if flipped[b]:  # left/right keypoints swap names, each mirrored
            np.testing.assert_allclose(keypoints[b, 1, :2], [40 - source[2, 0], source[2, 1]], atol=1e-4)
        else:
            np.testing.assert_allclose(keypoints[b, 1:], source[1:], atol=1e-4)


def test_elastic_uses_one_field_for_image_and_mask():
    images, targets = _marker_scene()
    fn = augment.build_paired_augmentation({"elastic": {"sigma": 4.0, "grid": 3}}, seed=1)
    out, moved = fn(tf.constant(images), {"mask": tf.constant(targets["mask"])})
    out, mask = np.asarray(out)[..., 0], np.asarray(moved["mask"])
    assert not np.array_equal(mask, targets["mask"])
    # Nearest (mask) and bilinear (image) sampling differ only at a few edge pixels; two different
    # fields would disagree over whole marker borders.
    assert (mask[out > 200] > 0).all() and (mask[out < 50] == 0).all()
    assert ((out > 127.5) == (mask > 0)).mean() > 0.995


def test_paired_augmentation_in_tf_data_with_other_keys_passing_through():
    images, targets = _marker_scene()
    targets["labels"] = np.arange(4)
    fn = augment.build_paired_augmentation({"flip": "horizontal", "rotate": 0.05, "contrast": 0.2}, seed=0)
    dataset = tf.data.Dataset.from_tensor_slices((images, targets)).batch(2).map(fn, num_parallel_calls=tf.data.AUTOTUNE)
    batch = next(dataset.as_numpy_iterator())
    assert batch[0].shape == (2, 40, 40, 3) and batch[1]["boxes"].shape == (2, 4, 4)
    np.testing.assert_array_equal(batch[1]["labels"], [0, 1])


def test_pointnet_augmentation_rotates_about_the_up_axis_and_jitters():
    points = np.random.default_rng(0).normal(size=(3, 64, 4)).astype("float32")
    fn = augment.pointnet_augmentation(seed=0)
    moved, labels = fn(tf.constant(points), tf.constant([0, 1, 2]))
    moved = np.asarray(moved)
    assert moved.shape == points.shape and labels.shape == (3,)
    assert np.abs(moved[..., 1] - points[..., 1]).max() <= 0.05 + 1e-6  # up axis: jitter only
    radius = np.hypot(points[..., 0], points[..., 2])
    assert np.abs(np.hypot(moved[..., 0], moved[..., 2]) - radius).max() < 0.15
    np.testing.assert_array_equal(moved[..., 3], points[..., 3])
    assert not np.allclose(moved[..., 0], points[..., 0], atol=0.1)
