"""Training: dataset + architecture in, run directory out.

    from pipelines.train import train
    result = train("lenet5", data="digits", epochs=15, augment="digits")
    print(result.run_dir, result.metrics["accuracy"])

A run directory holds everything needed to re-evaluate, export or resume the run:

    model.keras          the trained model (best validation weights)
    config.json          the resolved training configuration (model, data, options, seed, versions)
    split.npz            train / validation / test indices into the dataset
    history.csv          per-epoch metrics (keras CSVLogger)
    metrics.json         hold-out test metrics from the task's evaluator
    curves.png           training curves; confusion_matrix.png for classification
    tensorboard/         TensorBoard logs
    backup/              BackupAndRestore state while training: a killed run resumes from it
                         (written then renamed, so a kill mid-write cannot corrupt it)

The test split is never seen during training: early stopping and checkpoints watch a validation
split carved out of the training portion. Normalisation statistics come from the training
portion only and are baked into the model as a preprocessing layer.
"""

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

import architectures
from architectures.registry import constructor_arguments
from deepzoo.io import atomic_path, write_json_atomic
from pipelines import augment as augment_lib
from pipelines import optim
from pipelines.datasets import load_dataset
from pipelines.distribute import make_strategy
from pipelines.input_pipeline import make_tf_dataset
from pipelines.splits import holdout_split
from pipelines.tasks import get_task

JIT_CHOICES = ("auto", "on", "off")


@dataclasses.dataclass
class TrainConfig:
    """Every option of a training run; saved as config.json in the run directory."""

    model: str
    data: str = ""
    data_options: dict = dataclasses.field(default_factory=dict)
    model_config: str = "canonical"  # base config of the architecture: "canonical" or "tiny"
    model_overrides: dict = dataclasses.field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    optimizer_options: dict = dataclasses.field(default_factory=dict)  # extra Keras optimiser arguments, e.g. {"epsilon": 1.0}
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    clipnorm: float | None = None
    schedule: str = "constant"
    schedule_kwargs: dict = dataclasses.field(default_factory=dict)  # e.g. milestones, decay_epochs
    label_smoothing: float = 0.0
    initializer: str | None = None
    augment: object = "none"  # preset name or dict (pipelines.augment)
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    normalize: bool = True
    early_stopping_patience: int | None = 5
    jit: str = "auto"
    distribute: str | None = None  # None, "mirrored", "multiworker"
    init_from: str | None = None
    freeze: str | None = None  # None or "backbone": layers copied by init_from stay frozen
    seed: int = 0
    max_examples: int | None = None
    bn_momentum: object = "auto"  # "auto", "keep" or a float: BatchNorm moving-average momentum while training


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    model: object
    metrics: dict
    history: dict
    seconds: float


def resolve_jit(jit):
    """XLA on the hot path where it pays: on a GPU. On CPU TF's graph mode was measured faster for
    convnets (see benchmarks/bench_jit.py and the README), so "auto" turns XLA off there."""
    if jit not in JIT_CHOICES:
        raise ValueError(f"jit must be one of {JIT_CHOICES}. Received: jit={jit!r}")
    if jit == "auto":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return jit == "on"


def normalization_statistics(x_train):
    """Per-channel (images) or per-feature (tables) mean and std of the training split only."""
    axes = tuple(range(x_train.ndim - 1))
    mean = x_train.mean(axis=axes)
    std = x_train.std(axis=axes)
    std = np.where(std < 1e-6, 1.0, std)
    return [float(v) for v in np.ravel(mean)], [float(v) for v in np.ravel(std)]


@dataclasses.dataclass
class PreparedData:
    dataset: object
    train_idx: np.ndarray
    val_idx: np.ndarray
    test_idx: np.ndarray

    def arrays(self, part):
        indices = {"train": self.train_idx, "val": self.val_idx, "test": self.test_idx}[part]
        return self.dataset.x[indices], self.dataset.y[indices]


def prepare_data(config):
    """Loads the dataset and makes the test / validation / train index split (stratified where the task asks)."""
    spec = architectures.get_spec(config.model)
    data_name = config.data or spec.default_dataset or get_task(spec.task).default_dataset
    config.data = data_name
    dataset = load_dataset(data_name, seed=config.seed, **config.data_options)
    if dataset.task != spec.task and not (spec.task == "unsupervised"):
        raise ValueError(
            f"Model '{config.model}' is a {spec.task} model but dataset '{data_name}' is {dataset.task} data."
        )
    if config.max_examples and len(dataset) > config.max_examples:
        rng = np.random.default_rng(config.seed)
        dataset = dataset.subset(np.sort(rng.choice(len(dataset), config.max_examples, replace=False)))
    stratify = get_task(spec.task).stratify and dataset.y.ndim == 1
    indices = np.arange(len(dataset))
    rest, test_idx = holdout_split(len(dataset), config.test_fraction, config.seed, dataset.y if stratify else None)
    if config.validation_fraction:
        fraction = config.validation_fraction / (1.0 - config.test_fraction)
        inner_train, inner_val = holdout_split(
            len(rest), fraction, config.seed + 1, dataset.y[rest] if stratify else None
        )
        train_idx, val_idx = rest[inner_train], rest[inner_val]
    else:
        train_idx, val_idx = rest, indices[:0]
    return PreparedData(dataset, train_idx, val_idx, test_idx)


def build_model(config, dataset, x_train):
    """Creates the architecture for this dataset: input shape, classes and train-split statistics."""
    spec = architectures.get_spec(config.model)
    accepted = constructor_arguments(spec)
    overrides = dict(config.model_overrides)
    if "input_shape" in accepted:
        overrides.setdefault("input_shape", list(dataset.input_shape))
    if dataset.num_classes and "num_classes" in accepted:
        overrides.setdefault("num_classes", 1 if dataset.num_classes == 2 and spec.task != "classification" else dataset.num_classes)
    if config.normalize and "preprocessing" in accepted and "preprocessing" not in overrides:
        mean, std = normalization_statistics(x_train)
        overrides["preprocessing"] = {"mean": mean, "std": std}
    config.model_overrides = overrides
    return architectures.create_model(config.model, config=config.model_config, **overrides)


SCHEDULE_KWARGS = ("decay_rate", "decay_epochs", "end_learning_rate", "warmup_steps", "model_dim")


def make_optimizer_for(config, steps_per_epoch):
    """The Keras optimiser of a TrainConfig: name, learning rate and schedule, decay, clipping and
    its optimizer_options. "step"/"plateau" schedules are callbacks (optim.schedule_callbacks)."""
    return optim.make_optimizer(
        config.optimizer,
        config.learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay or None,
        clipnorm=config.clipnorm,
        options=config.optimizer_options,
        schedule=config.schedule if config.schedule not in ("step", "plateau") else None,
        steps_per_epoch=steps_per_epoch,
        epochs=config.epochs,
        **{k: v for k, v in config.schedule_kwargs.items() if k in SCHEDULE_KWARGS},
    )


def adapt_batchnorm_momentum(model, setting, total_steps):
    """Sets the moving-average momentum of every BatchNormalization layer for this run.

    A moving average with momentum m spans about 1/(1 − m) steps, and in inference mode the model
    uses it. keras.applications-faithful models use m = 0.999 (MobileNetV2) or 0.99 (EfficientNet),
    tuned for runs of 10⁵–10⁶ steps; on a CPU-sized run the statistics lag the fast-changing early
    weights for epochs and validation accuracy sits at chance (measured: MobileNet-V2 α 0.5 on
    shapes-10, 3,300 steps, m = 0.997: validation exactly 0.100 for 9 epochs while training
    accuracy rose to 0.26, and early stopping ended the run). "auto" lowers m so the average spans
    about 1 % of the run, m = 1 − 100/total_steps, never below 0.9, and never raises a model's own m;
    "keep" leaves the paper's value. Momentum only acts in training, so the saved config is unchanged.
    """
    import keras

    if setting == "keep":
        return None
    target = float(setting) if setting != "auto" else max(0.9, 1.0 - 100.0 / max(1, total_steps))
    changed = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization) and (setting != "auto" or layer.momentum > target):
            layer.momentum = target
            changed += 1
    return target if changed else None


def _copy_backbone(model, source_path, freeze):
    """Loads weights layer by layer (same name, same shapes) from a trained run's model."""
    import keras

    source = keras.saving.load_model(str(source_path))
    copied = []
    for layer in model.layers:
        try:
            other = source.get_layer(layer.name)
        except ValueError:
            continue
        mine, theirs = layer.get_weights(), other.get_weights()
        if mine and len(mine) == len(theirs) and all(a.shape == b.shape for a, b in zip(mine, theirs)):
            layer.set_weights(theirs)
            copied.append(layer.name)
            if freeze == "backbone":
                layer.trainable = False
    if not copied:
        raise ValueError(f"No layer of '{source.name}' matches '{model.name}' by name and shape. Received: init_from={source_path}")
    return copied


def _loss_for(task, output_shape, soft_labels, label_smoothing):
    import keras

    if task.name == "classification" and output_shape[-1] > 1 and (soft_labels or label_smoothing):
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    return task.loss(output_shape)


class EpochProgress:
    """A one-line-per-epoch progress printer (Keras' bar is noisy in logs and CI)."""

    def __new__(cls, print_fn, epochs):
        import keras

        class _Progress(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self._started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                shown = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items() if isinstance(v, (int, float)) and k != "learning_rate")
                print_fn(f"epoch {epoch + 1}/{epochs} {shown} ({time.perf_counter() - self._started:.1f}s)")

        return _Progress()


def default_run_dir(model, data, root="runs"):
    stamp = time.strftime("%Y%m%d-%H%M%S")
    safe_data = data.replace(":", "_").replace("/", "_")
    base = Path(root) / f"{model}-{safe_data}-{stamp}"
    candidate, counter = base, 1
    while candidate.exists():
        candidate, counter = Path(f"{base}-{counter}"), counter + 1
    return candidate


def train(model, data="", run_dir=None, progress=print, callbacks=(), **options):
    """Trains `model` (a registry name) on `data` (a dataset name) and writes a run directory.

    Keyword options are the fields of `TrainConfig`. Returns a `TrainResult`.
    """
    import keras

    from pipelines.checkpoints import AtomicBackupAndRestore, AtomicModelCheckpoint

    config = TrainConfig(model=model, data=data, **options)
    optim.check_optimizer(config.optimizer, config.optimizer_options)  # fail before loading data
    # First: multi-worker collectives must be configured before any other TensorFlow op.
    strategy = make_strategy(config.distribute)
    spec = architectures.get_spec(model)
    task = get_task(spec.task)
    jit = resolve_jit(config.jit)
    keras.utils.set_random_seed(config.seed)
    prepared = prepare_data(config)
    dataset = prepared.dataset
    x_train, y_train = prepared.arrays("train")
    x_val, y_val = prepared.arrays("val")
    run_dir = Path(run_dir) if run_dir else default_run_dir(model, config.data)
    run_dir.mkdir(parents=True, exist_ok=True)

    augment_fn = None
    soft_labels = False
    if dataset.value_range is not None and config.augment not in (None, "none", {}):
        augment_fn = augment_lib.build_augmentation(config.augment, value_range=dataset.value_range, seed=config.seed)
        soft_labels = bool(getattr(augment_lib, "augmentation_produces_soft_labels", lambda c: False)(config.augment))

    with strategy.scope():
        net = build_model(config, dataset, x_train)
        if config.initializer:
            optim.reinitialize(net, config.initializer, seed=config.seed)
        if config.init_from:
            source = Path(config.init_from)
            source = source / "model.keras" if source.is_dir() else source
            _copy_backbone(net, source, config.freeze)
        optim.add_weight_penalty(net, l1=config.l1, l2=config.l2)
        steps_per_epoch = max(1, math.ceil(len(x_train) / config.batch_size))
        adapt_batchnorm_momentum(net, config.bn_momentum, steps_per_epoch * config.epochs)
        optimizer = make_optimizer_for(config, steps_per_epoch)
        output_shape = tuple(int(d) for d in net.outputs[0].shape[1:])
        categorical = task.name == "classification" and output_shape[-1] > 1 and (soft_labels or config.label_smoothing)
        net.compile(
            optimizer=optimizer,
            loss=_loss_for(task, output_shape, soft_labels, config.label_smoothing),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")] if categorical else task.metrics(output_shape),
            jit_compile=jit,
        )

    def to_targets(y):
        return keras.utils.to_categorical(y, output_shape[-1]).astype("float32") if categorical else y

    train_ds = make_tf_dataset(x_train, to_targets(y_train), config.batch_size, shuffle=True, augment=augment_fn, seed=config.seed)
    val_ds = make_tf_dataset(x_val, to_targets(y_val), config.batch_size) if len(x_val) else None

    monitor, mode = task.monitor if val_ds is not None else ("loss", "min")
    best_path = run_dir / "checkpoints" / "best.keras"
    best_path.parent.mkdir(exist_ok=True)
    run_callbacks = [
        AtomicBackupAndRestore(str(run_dir / "backup")),
        AtomicModelCheckpoint(str(best_path), monitor=monitor, mode=mode, save_best_only=True),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False, profile_batch=0),
        keras.callbacks.TerminateOnNaN(),
        *optim.schedule_callbacks(
            config.schedule,
            monitor="val_loss" if val_ds is not None else "loss",
            **{k: v for k, v in config.schedule_kwargs.items() if k in ("factor", "patience", "milestones", "step_every")},
        ),
        *callbacks,
    ]
    if config.early_stopping_patience:
        run_callbacks.append(
            keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=config.early_stopping_patience, restore_best_weights=True)
        )
    if progress:
        run_callbacks.append(EpochProgress(progress, config.epochs))

    _write_config(run_dir, config, spec, dataset)
    np.savez(run_dir / "split.npz", train=prepared.train_idx, val=prepared.val_idx, test=prepared.test_idx)
    started = time.perf_counter()
    history = net.fit(train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=run_callbacks, verbose=0, shuffle=False)
    seconds = time.perf_counter() - started

    with atomic_path(run_dir / "model.keras", suffix=".keras") as tmp:
        net.save(tmp)
    metrics = evaluate_model(net, prepared, spec.task)
    metrics["train_seconds"] = seconds
    metrics["epochs_run"] = len(history.history.get("loss", []))
    write_json_atomic(run_dir / "metrics.json", metrics)
    _plots(run_dir, spec.task, metrics, dataset.class_names)
    return TrainResult(run_dir, net, metrics, history.history, seconds)


def evaluate_model(model, prepared, task_name):
    x_test, y_test = prepared.arrays("test")
    predictions = model.predict(x_test, batch_size=256, verbose=0)
    if isinstance(predictions, (list, tuple)):
        predictions = predictions[0]
    metrics = get_task(task_name).evaluate(y_test, predictions, prepared.dataset.class_names)
    if task_name == "unsupervised":
        # The model's own objective (quantisation error, unstable bits, reconstruction error, ...).
        metrics["objective"] = float(model.evaluate(x_test, y_test, batch_size=256, verbose=0, return_dict=True)["loss"])
    return metrics


def _write_config(run_dir, config, spec, dataset):
    import keras
    import tensorflow as tf

    write_json_atomic(
        run_dir / "config.json",
        {
            **dataclasses.asdict(config),
            "task": spec.task,
            "family": spec.family,
            "class_names": dataset.class_names,
            "input_shape": list(dataset.input_shape),
            "value_range": list(dataset.value_range) if dataset.value_range else None,
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        },
    )


def _plots(run_dir, task, metrics, class_names):
    from pipelines import plots

    plots.training_curves(run_dir / "history.csv", run_dir / "curves.png")
    if task == "classification" and "confusion_matrix" in metrics:
        plots.confusion_matrix(metrics["confusion_matrix"], class_names, run_dir / "confusion_matrix.png")


# --- an existing run ------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """A finished run directory: its config, its model and its data splits, for eval/export/tuning."""

    run_dir: Path
    config: dict

    @classmethod
    def load(cls, run_dir):
        run_dir = Path(run_dir)
        if not (run_dir / "config.json").is_file() or not (run_dir / "model.keras").is_file():
            raise ValueError(f"Not a run directory (needs config.json and model.keras). Received: {run_dir}")
        return cls(run_dir, json.loads((run_dir / "config.json").read_text()))

    @property
    def model_path(self):
        return self.run_dir / "model.keras"

    def load_model(self):
        import keras

        return keras.saving.load_model(str(self.model_path))

    def prepared_data(self):
        config = TrainConfig(**{f.name: self.config[f.name] for f in dataclasses.fields(TrainConfig) if f.name in self.config})
        dataset = load_dataset(config.data, seed=config.seed, **config.data_options)
        split = np.load(self.run_dir / "split.npz")
        if config.max_examples and len(dataset) > config.max_examples:
            # The same seeded subset as at training time.
            rng = np.random.default_rng(config.seed)
            dataset = dataset.subset(np.sort(rng.choice(len(dataset), config.max_examples, replace=False)))
        return PreparedData(dataset, split["train"], split["val"], split["test"])

    def arrays(self, part):
        return self.prepared_data().arrays(part)

    @property
    def metrics(self):
        path = self.run_dir / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else {}


def evaluate_run(run_dir):
    """Re-evaluates a run's saved model on its own hold-out test split; returns the metrics."""
    run = Run.load(run_dir)
    return evaluate_model(run.load_model(), run.prepared_data(), run.config["task"])
