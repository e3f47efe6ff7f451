"""tf.distribute strategies for training, and the Keras patch multi-worker training needs.

The strategy must exist before any other TensorFlow op runs in the process (collective ops are
configured at program start-up), so `pipelines.train.train` creates it first.
"""


def make_strategy(distribute):
    """None/"none" → the default strategy; "mirrored" → all local devices; "multiworker" → TF_CONFIG."""
    import tensorflow as tf

    if distribute in (None, "", "none"):
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribute == "multiworker":
        fix_keras_multiworker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"distribute must be mirrored or multiworker. Received: distribute={distribute!r}")


def fix_keras_multiworker():
    """Patches Keras' TF trainer for MultiWorkerMirroredStrategy with more than one worker (idempotent).

    1. `_maybe_symbolic_build` calls `strategy.reduce("MEAN", batch)` on the whole (x, y) tuple of
       per-replica values, which the collective reduction cannot convert; the symbolic build only
       needs shapes, so the local replica's batch is used instead.
    2. `reduce_per_replica(..., "auto")` reduces the scalar step logs with `axis=0`, which fails for
       scalars; they are averaged across workers with `axis=None`.
    Single-worker and non-distributed training take the original code paths.
    """
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer, "_deepzoo_multiworker_fix", False):
        return

    def multi_worker(strategy):
        extended = getattr(strategy, "extended", None)
        return bool(extended is not None and getattr(extended, "_in_multi_worker_mode", lambda: False)())

    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or iterator is None or not multi_worker(strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            batch = next(it)
            data_batch = tree.map_structure(
                lambda v: strategy.experimental_local_results(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v,
                batch,
            )
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    original_reduce = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and multi_worker(strategy) and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer._deepzoo_multiworker_fix = True
