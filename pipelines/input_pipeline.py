"""tf.data pipelines: numpy arrays in, batched `(x, y)` datasets out, with cache, shuffle,
parallel augmentation and prefetch (AUTOTUNE); normalisation statistics from the training split
only; test-time augmentation (spec §5.4)."""

import numpy as np
import tensorflow as tf


def make_tf_dataset(x, y, batch_size=32, shuffle=False, augment=None, seed=0, cache=True, drop_remainder=False):
    """A batched `tf.data.Dataset` of `(x, y)`; `y` may be a dict of targets (masks, boxes, ...).

    Augmentation runs after batching (vectorised Keras layers) with parallel calls; it is redrawn
    every epoch because it sits after `cache()`.
    """
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(min(len(x), 10_000), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if augment is not None:
        dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    return dataset.prefetch(tf.data.AUTOTUNE)


# --- normalisation statistics ------------------------------------------------------------------


def compute_normalization(x_train, axis=-1):
    """Per-channel (per-feature) mean and variance of the TRAINING split, float32 arrays.

    Split first, then call this on the training part only; the statistics are applied unchanged
    to validation, test and inference data (`normalization_layer`). `axis` is the kept axis, as
    in `keras.layers.Normalization`.
    """
    x_train = np.asarray(x_train, dtype="float64")
    if len(x_train) == 0:
        raise ValueError("Cannot compute normalisation statistics of an empty training split.")
    axis = axis % x_train.ndim
    reduce = tuple(i for i in range(x_train.ndim) if i != axis)
    return x_train.mean(axis=reduce).astype("float32"), x_train.var(axis=reduce).astype("float32")


def normalization_layer(x_train, axis=-1):
    """A `keras.layers.Normalization` holding the training split's statistics, for inside a model."""
    import keras

    mean, variance = compute_normalization(x_train, axis)
    return keras.layers.Normalization(axis=axis, mean=mean, variance=variance)


# --- test-time augmentation ---------------------------------------------------------------


def _predict(model, images, batch_size):
    return np.asarray(model.predict(images, batch_size=batch_size, verbose=0))


def predict_with_tta(
    model, images, augment, num_samples=8, batch_size=128, include_original=True, value_range=(0.0, 255.0), seed=None
):
    """Self-ensembling: the posterior averaged over `num_samples` random augmentations A_l(I).

    `augment` is an augmentation config (preset name or dict, built for `value_range` and `seed`)
    or a built `fn(x, y)`; it must keep the label (no mixup) and the image size. The plain
    prediction counts as one more sample unless `include_original=False`.
    """
    from pipelines import augment as augmentation

    if not callable(augment):
        if augmentation.augmentation_produces_soft_labels(augment):
            raise ValueError(f"Test-time augmentation must keep the label; mixup/cutmix cannot be used. Received: {augment!r}")
        augment = augmentation.build_augmentation(augment, value_range=value_range, seed=seed)
    if augment is None:
        num_samples = 0
    images = np.asarray(images, dtype="float32")
    predictions = [_predict(model, images, batch_size)] if include_original or not num_samples else []
    dummy_labels = np.zeros(len(images), dtype="int32")
    for _ in range(num_samples):
        augmented, _ = augment(tf.constant(images), tf.constant(dummy_labels))
        predictions.append(_predict(model, np.asarray(augmented), batch_size))
    return np.mean(predictions, axis=0)


def ten_crops(images, crop_size):
    """AlexNet's 10 views [10, N, h, w, C]: 4 corner crops and the centre crop, each also flipped."""
    images = np.asarray(images)
    height, width = images.shape[1:3]
    crop_h, crop_w = (crop_size, crop_size) if np.isscalar(crop_size) else crop_size
    if crop_h > height or crop_w > width:
        raise ValueError(f"crop_size must fit inside the images. Received: crop_size={crop_size} for {height}×{width} images")
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    corners = [(0, 0), (0, width - crop_w), (height - crop_h, 0), (height - crop_h, width - crop_w), (top, left)]
    crops = [images[:, y : y + crop_h, x : x + crop_w] for y, x in corners]
    return np.stack(crops + [crop[:, :, ::-1] for crop in crops])


def predict_ten_crop(model, images, crop_size, batch_size=128):
    """AlexNet 10-crop test: predictions averaged over `ten_crops(images, crop_size)`."""
    return np.mean([_predict(model, view, batch_size) for view in ten_crops(images, crop_size)], axis=0)
