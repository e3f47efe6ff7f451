"""Data in, trained run directory out: sources, splits, augmentation, tf.data, tasks, training."""
