"""tf.data pipeline, training-split-only normalisation statistics and test-time augmentation."""

import keras
import numpy as np
import pytest

from pipelines import augment, input_pipeline, splits


def test_make_tf_dataset_batches_shuffles_reproducibly_and_augments():
    x = np.arange(10 * 4 * 4 * 1, dtype="float32").reshape(10, 4, 4, 1)
    y = np.arange(10, dtype="int32")
    plain = list(input_pipeline.make_tf_dataset(x, y, batch_size=4).as_numpy_iterator())
    assert [len(b[1]) for b in plain] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in plain]), y)

    def first_epoch(seed):
        dataset = input_pipeline.make_tf_dataset(x, y, batch_size=10, shuffle=True, seed=seed)
        return next(dataset.as_numpy_iterator())[1]

    np.testing.assert_array_equal(first_epoch(3), first_epoch(3))
    assert sorted(first_epoch(3)) == list(range(10))

    flip = augment.build_augmentation({"flip": "horizontal"}, seed=0)
    dataset = input_pipeline.make_tf_dataset(x, y, batch_size=5, shuffle=True, augment=flip, drop_remainder=True)
    for images, labels in dataset.as_numpy_iterator():
        assert images.shape == (5, 4, 4, 1)
        # Each image is still its own example, possibly mirrored: the label stays aligned.
        for image, label in zip(images, labels):
            assert np.array_equal(image, x[label]) or np.array_equal(image, x[label][:, ::-1])


def test_dict_targets_flow_through_the_pipeline():
    x = np.zeros((6, 8, 8, 3), "float32")
    targets = {"mask": np.zeros((6, 8, 8), "uint8"), "boxes": np.ones((6, 2, 4), "float32")}
    batch = next(input_pipeline.make_tf_dataset(x, targets, batch_size=3).as_numpy_iterator())
    assert batch[1]["mask"].shape == (3, 8, 8) and batch[1]["boxes"].shape == (3, 2, 4)


def test_normalisation_statistics_come_from_the_training_split_only():
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[10.0, -3.0, 0.5], scale=[2.0, 1.0, 0.1], size=(200, 5, 5, 3)).astype("float32")
    train, test = splits.holdout_split(len(x), 0.25, seed=0)
    mean, variance = input_pipeline.compute_normalization(x[train])
    assert mean.shape == variance.shape == (3,) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, x[train].mean(axis=(0, 1, 2)), rtol=1e-5)

    # Leakage check: whatever the held-out data holds, the statistics do not move.
    poisoned = x.copy()
    poisoned[test] = 1e6
    mean_again, variance_again = input_pipeline.compute_normalization(poisoned[train])
    np.testing.assert_array_equal(mean, mean_again)
    np.testing.assert_array_equal(variance, variance_again)
    assert not np.allclose(mean, input_pipeline.compute_normalization(poisoned)[0])

    layer = input_pipeline.normalization_layer(x[train])
    normalised = keras.ops.convert_to_numpy(layer(x[train]))
    np.testing.assert_allclose(normalised.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
    np.testing.assert_allclose(normalised.std(axis=(0, 1, 2)), 1.0, atol=1e-3)

    features = rng.normal(size=(50, 4))
    assert input_pipeline.compute_normalization(features)[0].shape == (4,)
    with pytest.raises(ValueError, match="empty training split"):
        input_pipeline.compute_normalization(np.zeros((0, 3)))


def _pooling_model(channels=3, classes=4):
    """Global average pooling then softmax: invariant to flips, so TTA with flips changes nothing."""
    inputs = keras.Input((None, None, channels))
    outputs = keras.layers.Dense(classes, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inputs))
    return keras.Model(inputs, outputs)


def test_self_ensembling_averages_posteriors_over_augmentations():
    model = _pooling_model()
    images = np.random.default_rng(1).uniform(0, 1, size=(6, 8, 8, 3)).astype("float32")
    plain = model.predict(images, verbose=0)
    flips = {"flip": "horizontal_and_vertical"}
    flipped = input_pipeline.predict_with_tta(model, images, flips, num_samples=3, value_range=(0, 1))
    np.testing.assert_allclose(flipped, plain, rtol=1e-5, atol=1e-6)
    noisy = input_pipeline.predict_with_tta(model, images, {"brightness": 0.3}, num_samples=4, value_range=(0, 1), seed=0)
    assert noisy.shape == plain.shape and not np.allclose(noisy, plain)
    np.testing.assert_allclose(noisy.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="keep the label"):
        input_pipeline.predict_with_tta(model, images, {"mixup": 0.2})


def test_ten_crop_views_and_prediction():
    images = np.arange(2 * 6 * 6 * 3, dtype="float32").reshape(2, 6, 6, 3)
    views = input_pipeline.ten_crops(images, 4)
    assert views.shape == (10, 2, 4, 4, 3)
    np.testing.assert_array_equal(views[0], images[:, :4, :4])  # top-left corner
    np.testing.assert_array_equal(views[3], images[:, 2:, 2:])  # bottom-right corner
    np.testing.assert_array_equal(views[4], images[:, 1:5, 1:5])  # centre
    np.testing.assert_array_equal(views[5], images[:, :4, :4][:, :, ::-1])  # flipped top-left

    model = _pooling_model()
    expected = np.mean([model.predict(view, verbose=0) for view in views[:5]], axis=0)  # flips add nothing here
    np.testing.assert_allclose(input_pipeline.predict_ten_crop(model, images, 4), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="crop_size"):
        input_pipeline.ten_crops(images, 8)
