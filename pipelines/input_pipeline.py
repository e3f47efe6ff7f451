"""tf.data pipelines: numpy arrays in, batched `(x, y)` datasets out, with cache, shuffle,
parallel augmentation and prefetch (AUTOTUNE)."""

import tensorflow as tf


def make_tf_dataset(x, y, batch_size=32, shuffle=False, augment=None, seed=0, cache=True, drop_remainder=False):
    """A batched `tf.data.Dataset` of `(x, y)`.

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
