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
from pipelines import optim
from pipelines.train import TrainConfig, build_model, make_augmentation, make_optimizer_for, normalization_statistics, resolve_jit
from tasks import get_task
from tasks.base import take


def _accepts(builder, argument):
    import inspect

    target = builder.__init__ if inspect.isclass(builder) else builder
    return argument in inspect.signature(target).parameters


@dataclasses.dataclass
class PreparedModel:
    """A compiled model for one configuration, with the variables to reset between folds."""

    config: TrainConfig
    net: object
    variables: list
    initial: list
    task_options: dict
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

    def __init__(self, model, dataset, base_config, monitor=None, patience=None, build_indices=None):
        self.spec = architectures.get_spec(model)
        # Examples the model's data-derived arguments come from (a text model's vocabularies):
        # the search's development split, never its test split.
        self.build_indices = np.arange(len(dataset)) if build_indices is None else np.asarray(build_indices)
        self.task = get_task(self.spec.task, base_config.task_settings)
        self.dataset = dataset
        self.base = base_config
        self.monitor = monitor  # (name, mode) for early stopping inside a fold
        self.patience = patience
        self.jit = resolve_jit(base_config.jit, self.spec)

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
            config.normalize
            and isinstance(self.dataset.x, np.ndarray)
            and _accepts(self.spec.builder, "preprocessing")
            and "preprocessing" not in config.model_overrides
        )
        build_config = dataclasses.replace(config, normalize=False, model_overrides=dict(config.model_overrides))
        net = build_model(build_config, self.dataset, take(self.dataset.x, self.build_indices), take(self.dataset.y, self.build_indices))
        if config.initializer:
            optim.reinitialize(net, config.initializer, seed=config.seed)
        optim.add_weight_penalty(net, l1=config.l1, l2=config.l2)
        _, soft_labels = make_augmentation(self.task, config, self.dataset)
        task_options = {"label_smoothing": config.label_smoothing, "soft_labels": soft_labels}
        steps_per_epoch = max(1, math.ceil(steps_reference / config.batch_size))
        optimizer = make_optimizer_for(config, steps_per_epoch)
        self.task.compile(net, optimizer, jit_compile=self.jit, **task_options)
        if not optimizer.built:  # a model with its own train_step builds its optimisers in compile
            optimizer.build(net.trainable_variables)
        variables = list(net.variables) + [v for opt in _optimizers(net, optimizer) for v in opt.variables]
        initial = [np.array(v.numpy(), copy=True) for v in variables]
        return PreparedModel(
            config, net, variables, initial, task_options, normalize_in_pipeline, soft_labels, time.perf_counter() - started
        )

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
        return self.task.fit_targets(prepared.net, y, **prepared.task_options)

    def _fit_data(self, prepared, indices):
        """Inputs and targets of `indices` as the model trains on them (task hooks)."""
        x, y = take(self.dataset.x, indices), take(self.dataset.y, indices)
        return self.task.fit_inputs(prepared.net, x, y, **prepared.task_options), self._targets(prepared, y)

    def datasets(self, prepared, train_idx, val_idx, seed):
        """tf.data pipelines of one fold: the training pipeline augments, then standardises."""
        import tensorflow as tf

        config = prepared.config
        x_train, y_train = self._fit_data(prepared, train_idx)
        mean = std = None
        if prepared.normalize_in_pipeline:
            mean, std = normalization_statistics(x_train)
            mean = np.asarray(mean, dtype="float32")
            std = np.asarray(std, dtype="float32")

        def standardize(x):
            return ((x - mean) / std).astype("float32") if mean is not None else x

        augment_fn = None
        augment, _ = make_augmentation(self.task, dataclasses.replace(config, seed=seed), self.dataset)
        if augment is not None:
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
        train_ds = self.task.make_dataset(train_x, y_train, config.batch_size, shuffle=True, augment=augment_fn, seed=seed)
        val_ds = None
        if val_idx is not None and len(val_idx):
            x_val, y_val = self._fit_data(prepared, val_idx)
            val_ds = self.task.make_dataset(standardize(x_val), y_val, config.batch_size)
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
        if val_ds is not None and self.monitor and self.monitor[0] not in metrics:
            # A task objective Keras does not log (mAP, BLEU, Fréchet distance): the task's own
            # report on the validation fold, with the model's final (or best) weights.
            report = self.task.evaluate(prepared.net, self._standardized(prepared, train_idx, val_idx), take(self.dataset.y, val_idx), self.dataset.class_names)
            metrics.update({f"val_{k}": float(v) for k, v in report.items() if isinstance(v, (int, float))})
        return FoldFit(metrics, {k: [float(x) for x in v] for k, v in logs.items()}, runs, seconds, early)

    def _standardized(self, prepared, train_idx, indices):
        x = take(self.dataset.x, indices)
        if prepared.normalize_in_pipeline:
            mean, std = normalization_statistics(take(self.dataset.x, train_idx))
            x = ((x - np.asarray(mean, "float32")) / np.asarray(std, "float32")).astype("float32")
        return x

    def evaluate(self, prepared, train_idx, test_idx):
        """Metrics of the current model on `test_idx` (standardised with `train_idx` statistics):
        Keras' compiled metrics plus the task's full evaluation (accuracy, mAP, BLEU, ...)."""
        x_test = self._standardized(prepared, train_idx, test_idx)
        y_test = take(self.dataset.y, test_idx)
        dataset = self.task.make_dataset(self.task.fit_inputs(prepared.net, x_test, y_test, **prepared.task_options), self._targets(prepared, y_test), 256)
        keras_metrics = prepared.net.evaluate(dataset, verbose=0, return_dict=True)
        report = self.task.evaluate(prepared.net, x_test, y_test, self.dataset.class_names)
        scalars = {k: v for k, v in report.items() if isinstance(v, (int, float))}
        return {**{k: float(v) for k, v in keras_metrics.items()}, **{f"task_{k}": v for k, v in scalars.items()}}


def _optimizers(net, optimizer):
    """The optimiser the trainer built, plus any a model with its own train_step keeps (a GAN's)."""
    extra = [opt for opt in getattr(net, "extra_optimizers", ()) if opt is not optimizer]
    return [optimizer, *extra]
