"""Fitting one configuration on the folds of a plan: the part of a trial that trains.

`pipelines.train.train` writes a whole run directory per call; a trial needs K fits on in-memory
index sets and nothing on disk but its scores, so this module re-creates train()'s model set-up
(the same `build_model`, optimiser, penalties, loss, metrics and XLA choice) around a cheaper loop:

* The Keras model of a trial is built and compiled once. Before each fold every model and optimiser
  variable is reset to the values it had right after building, so every fold starts from the same
  fresh initialisation a newly built model (same seed) would have, and the training step is traced
  once per trial instead of once per fold.
* Normalisation uses the statistics of each fold's own training examples. train() bakes them into
  the model as a `Standardize` layer (constants in the graph); here the same `(x − mean) / std` runs
  in the input pipeline, after augmentation, so the graph does not change from fold to fold.

A fold's full state (model and optimiser variables) can be saved and restored (`state` / `restore`):
Hyperband continues each fold's own model from its parent trial that way.
"""

import dataclasses
import math
import time

import numpy as np

import architectures
from pipelines import augment as augment_lib
from pipelines import optim
from pipelines.input_pipeline import make_tf_dataset
from pipelines.tasks import get_task
from pipelines.train import TrainConfig, build_model, make_optimizer_for, normalization_statistics, resolve_jit


def _accepts(builder, argument):
    import inspect

    target = builder.__init__ if inspect.isclass(builder) else builder
    return argument in inspect.signature(target).parameters


def _loss(task, output_shape, categorical, label_smoothing):
    import keras

    if categorical:
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    return task.loss(output_shape)


@dataclasses.dataclass
class PreparedModel:
    """A compiled model for one configuration, with the variables to reset between folds."""

    config: TrainConfig
    net: object
    variables: list
    initial: list
    categorical: bool
    output_shape: tuple
    normalize_in_pipeline: bool
    soft_labels: bool
    seconds: float


@dataclasses.dataclass
class FoldFit:
    metrics: dict  # the epoch's logs whose weights the model ends with (val_* included)
    history: dict
    epochs_run: int
    fit_seconds: float
    early_stopped: bool = False


class FoldTrainer:
    """Builds, resets and fits models of one architecture on index subsets of one dataset."""

    def __init__(self, model, dataset, base_config, monitor=None, patience=None):
        self.spec = architectures.get_spec(model)
        self.task = get_task(self.spec.task)
        self.dataset = dataset
        self.base = base_config
        self.monitor = monitor  # (name, mode) for early stopping inside a fold
        self.patience = patience
        self.jit = resolve_jit(base_config.jit)

    # --- configuration ------------------------------------------------------------------------

    def config_for(self, train_options, model_overrides):
        """The TrainConfig of one configuration: the base config with these options applied."""
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = set(train_options) - fields
        if unknown:
            raise ValueError(f"Unknown training options {sorted(unknown)}.")
        values = dataclasses.asdict(self.base)
        values.update(train_options)
        values["model_overrides"] = {**self.base.model_overrides, **model_overrides}
        return TrainConfig(**values)

    def prepare(self, config, steps_reference):
        """Builds and compiles the configuration's model (seeded), builds its optimiser, snapshots its state."""
        import keras

        started = time.perf_counter()
        keras.backend.clear_session()
        keras.utils.set_random_seed(config.seed)
        normalize_in_pipeline = (
            config.normalize and _accepts(self.spec.builder, "preprocessing") and "preprocessing" not in config.model_overrides
        )
        build_config = dataclasses.replace(config, normalize=False, model_overrides=dict(config.model_overrides))
        net = build_model(build_config, self.dataset, self.dataset.x[:1])
        if config.initializer:
            optim.reinitialize(net, config.initializer, seed=config.seed)
        optim.add_weight_penalty(net, l1=config.l1, l2=config.l2)
        soft_labels = False
        if self._augments(config):
            soft_labels = bool(getattr(augment_lib, "augmentation_produces_soft_labels", lambda c: False)(config.augment))
        steps_per_epoch = max(1, math.ceil(steps_reference / config.batch_size))
        optimizer = make_optimizer_for(config, steps_per_epoch)
        output_shape = tuple(int(d) for d in net.outputs[0].shape[1:])
        categorical = bool(self.task.name == "classification" and output_shape[-1] > 1 and (soft_labels or config.label_smoothing))
        net.compile(
            optimizer=optimizer,
            loss=_loss(self.task, output_shape, categorical, config.label_smoothing),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")] if categorical else self.task.metrics(output_shape),
            jit_compile=self.jit,
        )
        optimizer.build(net.trainable_variables)
        variables = list(net.variables) + list(optimizer.variables)
        initial = [np.array(v.numpy(), copy=True) for v in variables]
        return PreparedModel(
            config, net, variables, initial, categorical, output_shape, normalize_in_pipeline, soft_labels, time.perf_counter() - started
        )

    def _augments(self, config):
        return self.dataset.value_range is not None and config.augment not in (None, "none", {})

    # --- state ----------------------------------------------------------------------------------

    @staticmethod
    def reset(prepared):
        for variable, value in zip(prepared.variables, prepared.initial):
            variable.assign(value)

    @staticmethod
    def state(prepared):
        return [np.array(v.numpy(), copy=True) for v in prepared.variables]

    @staticmethod
    def restore(prepared, arrays):
        if len(arrays) != len(prepared.variables):
            raise ValueError(f"Saved state has {len(arrays)} variables; this model has {len(prepared.variables)}.")
        for variable, value in zip(prepared.variables, arrays):
            if tuple(variable.shape) != tuple(value.shape):
                raise ValueError(f"Saved state does not fit variable {variable.path}: {value.shape} vs {tuple(variable.shape)}")
            variable.assign(value)

    # --- data -----------------------------------------------------------------------------------

    def _targets(self, prepared, y):
        import keras

        return keras.utils.to_categorical(y, prepared.output_shape[-1]).astype("float32") if prepared.categorical else y

    def datasets(self, prepared, train_idx, val_idx, seed):
        """tf.data pipelines of one fold: the training pipeline augments, then standardises."""
        import tensorflow as tf

        config = prepared.config
        x_train = self.dataset.x[train_idx]
        y_train = self._targets(prepared, self.dataset.y[train_idx])
        mean = std = None
        if prepared.normalize_in_pipeline:
            mean, std = normalization_statistics(x_train)
            mean = np.asarray(mean, dtype="float32")
            std = np.asarray(std, dtype="float32")

        def standardize(x):
            return ((x - mean) / std).astype("float32") if mean is not None else x

        augment_fn = None
        if self._augments(config):
            augment = augment_lib.build_augmentation(config.augment, value_range=self.dataset.value_range, seed=seed)
            if mean is not None:
                mean_t, std_t = tf.constant(mean), tf.constant(std)

                def augment_fn(x, y):
                    x, y = augment(x, y)
                    return (tf.cast(x, tf.float32) - mean_t) / std_t, y

            else:
                augment_fn = augment
            train_x = x_train
        else:
            train_x = standardize(x_train)
        train_ds = make_tf_dataset(train_x, y_train, config.batch_size, shuffle=True, augment=augment_fn, seed=seed)
        val_ds = None
        if val_idx is not None and len(val_idx):
            x_val = standardize(self.dataset.x[val_idx])
            val_ds = make_tf_dataset(x_val, self._targets(prepared, self.dataset.y[val_idx]), config.batch_size)
        return train_ds, val_ds

    # --- fitting --------------------------------------------------------------------------------

    def fit(self, prepared, train_idx, val_idx, epochs, initial_epoch=0, seed=0, state=None, callbacks=()):
        """Fits one fold from the fresh state (or from `state`, continuing at `initial_epoch`)."""
        import keras

        if state is None:
            self.reset(prepared)
        else:
            self.restore(prepared, state)
        train_ds, val_ds = self.datasets(prepared, train_idx, val_idx, seed)
        fold_callbacks = [keras.callbacks.TerminateOnNaN(), *callbacks]
        monitor = "val_loss" if val_ds is not None else "loss"
        fold_callbacks += optim.schedule_callbacks(prepared.config.schedule, monitor=monitor)
        stopper = None
        if self.patience and self.monitor and val_ds is not None:
            stopper = keras.callbacks.EarlyStopping(
                monitor=self.monitor[0], mode=self.monitor[1], patience=self.patience, restore_best_weights=True
            )
            fold_callbacks.append(stopper)
        started = time.perf_counter()
        history = prepared.net.fit(
            train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch, callbacks=fold_callbacks, verbose=0, shuffle=False
        )
        seconds = time.perf_counter() - started
        logs = history.history
        runs = len(logs.get("loss", []))
        index = runs - 1
        early = bool(stopper is not None and stopper.stopped_epoch > 0 and stopper.best_weights is not None)
        if early and stopper.best_epoch is not None:
            index = max(0, min(runs - 1, stopper.best_epoch - initial_epoch))
        metrics = {k: float(v[index]) for k, v in logs.items() if len(v) > index and k != "learning_rate"}
        return FoldFit(metrics, {k: [float(x) for x in v] for k, v in logs.items()}, runs, seconds, early)

    def evaluate(self, prepared, train_idx, test_idx):
        """Metrics of the current model on `test_idx` (standardised with `train_idx` statistics):
        Keras' compiled metrics plus the task's full evaluation (accuracy, macro F1, ...)."""
        x_train = self.dataset.x[train_idx]
        x_test = self.dataset.x[test_idx]
        if prepared.normalize_in_pipeline:
            mean, std = normalization_statistics(x_train)
            x_test = ((x_test - np.asarray(mean, "float32")) / np.asarray(std, "float32")).astype("float32")
        y_test = self.dataset.y[test_idx]
        dataset = make_tf_dataset(x_test, self._targets(prepared, y_test), 256)
        keras_metrics = prepared.net.evaluate(dataset, verbose=0, return_dict=True)
        predictions = prepared.net.predict(make_tf_dataset(x_test, y_test, 256), verbose=0)
        if isinstance(predictions, (list, tuple)):
            predictions = predictions[0]
        report = self.task.evaluate(y_test, predictions, self.dataset.class_names)
        report.pop("confusion_matrix", None)
        return {**{k: float(v) for k, v in keras_metrics.items()}, **{f"task_{k}": v for k, v in report.items()}}
