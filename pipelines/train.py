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
import math
import time
from pathlib import Path

import numpy as np

import architectures
from architectures.registry import constructor_arguments
from common.io import atomic_path, write_json_atomic
from pipelines import augment as augment_lib
from pipelines import optim
from pipelines.datasets import load_dataset
from pipelines.distribute import make_strategy
from pipelines.progress import EpochProgress, TrainingProgress  # noqa: F401 (moved there; re-exported)
from pipelines.runs import (  # noqa: F401 (moved there)
    Run,
    RunTotals,
    default_run_dir,
    evaluate_run,
    resolve_run_dir,
    run_definition,
)
from pipelines.splits import holdout_split
from tasks import get_task
from tasks.base import length, take

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
    task_settings: dict = dataclasses.field(default_factory=dict)  # the task's own settings (`Task.settings`), e.g. {"class_balance": "median_frequency"}
    pretrain_epochs: int = 0  # a model's own pre-training stage before training (`pretraining_stage`; YOLO v1's §2.2), not on resume


@dataclasses.dataclass
class TrainResult:
    run_dir: Path
    model: object
    metrics: dict
    history: dict
    seconds: float


def resolve_jit(jit, spec=None):
    """XLA on the hot path where it pays: on a GPU. On CPU TF's graph mode was measured faster for
    convnets (see benchmarks/bench_jit.py and the README), so "auto" turns XLA off there. A model
    whose registry entry declares an "xla" limitation (an op without an XLA kernel) runs in graph
    mode under "auto"; "on" for such a model is an error that names the reason."""
    if jit not in JIT_CHOICES:
        raise ValueError(f"jit must be one of {JIT_CHOICES}. Received: jit={jit!r}")
    if spec is not None and not spec.supports("xla"):
        if jit == "on":
            raise ValueError(f"Model '{spec.name}' cannot run under XLA: {spec.limitations['xla']}. Use --jit auto or off.")
        return False
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
        return take(self.dataset.x, indices), take(self.dataset.y, indices)


def prepare_data(config):
    """Loads the dataset and makes the test / validation / train index split (stratified where the task asks)."""
    spec = architectures.get_spec(config.model)
    task = get_task(spec.task, config.task_settings)
    data_name = config.data or spec.default_dataset or task.default_dataset
    config.data = data_name
    dataset = load_dataset(data_name, seed=config.seed, **config.data_options)
    if dataset.task not in (spec.task, *task.data_tasks) and not task.accepts_any_data:
        raise ValueError(
            f"Model '{config.model}' is a {spec.task} model but dataset '{data_name}' is {dataset.task} data."
        )
    if config.max_examples and len(dataset) > config.max_examples:
        rng = np.random.default_rng(config.seed)
        dataset = dataset.subset(np.sort(rng.choice(len(dataset), config.max_examples, replace=False)))
    labels = task.stratify_labels(dataset.y) if task.stratify else None
    groups = task.split_groups(dataset.y)
    indices = np.arange(len(dataset))
    rest, test_idx = holdout_split(len(dataset), config.test_fraction, config.seed, labels, groups)
    if config.validation_fraction:
        fraction = config.validation_fraction / (1.0 - config.test_fraction)
        inner_train, inner_val = holdout_split(
            len(rest), fraction, config.seed + 1, labels[rest] if labels is not None else None,
            groups[rest] if groups is not None else None,
        )
        train_idx, val_idx = rest[inner_train], rest[inner_val]
    else:
        train_idx, val_idx = rest, indices[:0]
    return PreparedData(dataset, train_idx, val_idx, test_idx)


def build_model(config, dataset, x_train, y_train=None):
    """Creates the architecture for this dataset: input shape, classes and train-split statistics."""
    spec = architectures.get_spec(config.model)
    accepted = constructor_arguments(spec)
    overrides = dict(config.model_overrides)
    if "input_shape" in accepted:
        overrides.setdefault("input_shape", list(dataset.input_shape))
    # The task first: it knows how its data sizes the model (a binary target for a one-unit
    # regressor, vocabulary sizes of a text model, ...).
    for key, value in get_task(spec.task, config.task_settings).model_overrides(dataset, x_train, accepted, y_train=y_train).items():
        overrides.setdefault(key, value)
    if dataset.num_classes and "num_classes" in accepted:
        overrides.setdefault("num_classes", dataset.num_classes)
    if config.normalize and "preprocessing" in accepted and "preprocessing" not in overrides and isinstance(x_train, np.ndarray):
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


def train(model, data="", run_dir=None, progress=print, callbacks=(), new_run=False, runs_root="runs", **options):
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
    task = get_task(spec.task, config.task_settings)
    jit = resolve_jit(config.jit, spec)
    check_pretraining(spec, config.pretrain_epochs)
    keras.utils.set_random_seed(config.seed)
    prepared = prepare_data(config)
    dataset = prepared.dataset
    x_train, y_train = prepared.arrays("train")
    x_val, y_val = prepared.arrays("val")
    # Found by what defines the run (model, data, options): the same command resumes its own
    # unfinished run; a finished one is never overwritten. Nothing is written yet.
    run_dir, _ = resolve_run_dir(config, run_dir=run_dir, root=runs_root, new_run=new_run)
    definition = run_definition(config)  # before build_model fills in input_shape, num_classes, statistics

    augment_fn, soft_labels = make_augmentation(task, config, dataset)
    task_options = {"label_smoothing": config.label_smoothing, "soft_labels": soft_labels}

    with strategy.scope():
        net = build_model(config, dataset, x_train, y_train)
        if config.initializer:
            optim.reinitialize(net, config.initializer, seed=config.seed)
        if config.init_from:
            source = Path(config.init_from)
            source = source / "model.keras" if source.is_dir() else source
            _copy_backbone(net, source, config.freeze)
        optim.add_weight_penalty(net, l1=config.l1, l2=config.l2)
        steps_per_epoch = max(1, math.ceil(length(x_train) / config.batch_size))
        adapt_batchnorm_momentum(net, config.bn_momentum, steps_per_epoch * config.epochs)
        optimizer = make_optimizer_for(config, steps_per_epoch)
        task.compile(net, optimizer, jit_compile=jit, **task_options)

    def fit_data(x, y):
        # Inputs as the model takes them in training (a seq2seq decoder's teacher-forced targets),
        # targets as its compiled loss takes them (one-hot for soft labels).
        return task.fit_inputs(net, x, y, **task_options), task.fit_targets(net, y, **task_options)

    train_ds = task.make_dataset(*fit_data(x_train, y_train), config.batch_size, shuffle=True, augment=augment_fn, seed=config.seed)
    val_ds = task.make_dataset(*fit_data(x_val, y_val), config.batch_size) if length(x_val) else None

    monitor, mode = task.monitor if val_ds is not None else ("loss", "min")
    totals = RunTotals.begin(run_dir, definition=definition)  # the first write: the folder and run.json
    best_path = run_dir / "checkpoints" / "best.keras"
    best_path.parent.mkdir(exist_ok=True)
    run_callbacks = [
        # The task's first: they may add metrics to the epoch's logs (a GAN's validation Fréchet
        # distance) that checkpoints, the CSV log and early stopping then read.
        *task.callbacks(run_dir, net, x_val, y_val),
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
        totals.callback(),
        *callbacks,
    ]
    if config.early_stopping_patience:
        run_callbacks.append(
            keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=config.early_stopping_patience, restore_best_weights=True)
        )
    if progress:
        sizes = {"train": length(x_train), "validation": length(x_val), "test": len(prepared.test_idx)}
        run_callbacks.append(TrainingProgress(progress, config.epochs, sizes=sizes))

    _write_config(run_dir, config, spec, dataset)
    np.savez(run_dir / "split.npz", train=prepared.train_idx, val=prepared.val_idx, test=prepared.test_idx)
    started = time.perf_counter()
    # A resumed run restores the pretrained weights from its backup: the stage runs once.
    if config.pretrain_epochs and not (run_dir / "backup").exists():
        with strategy.scope():
            pretrain_optimizer = make_optimizer_for(dataclasses.replace(config, epochs=config.pretrain_epochs), steps_per_epoch)
        _pretrain(net, train_ds, config.pretrain_epochs, pretrain_optimizer, progress)
    history = net.fit(train_ds, validation_data=val_ds, epochs=config.epochs, callbacks=run_callbacks, verbose=0, shuffle=False)
    seconds = time.perf_counter() - started

    with atomic_path(run_dir / "model.keras", suffix=".keras") as tmp:
        net.save(tmp)
    metrics = evaluate_model(net, prepared, task)
    metrics.update(totals.finish())  # epochs and seconds over every session of the run
    write_json_atomic(run_dir / "metrics.json", metrics)
    _plots(run_dir, task, net, prepared, metrics)
    return TrainResult(run_dir, net, metrics, history.history, seconds)


def models_with_pretraining():
    """Registered models with their own pre-training stage (a `pretraining_stage` method on the builder)."""
    return [name for name in architectures.list_models() if callable(getattr(architectures.get_spec(name).builder, "pretraining_stage", None))]


def check_pretraining(spec, pretrain_epochs):
    if pretrain_epochs and not callable(getattr(spec.builder, "pretraining_stage", None)):
        raise ValueError(
            f"Model '{spec.name}' has no pre-training stage; pretrain_epochs applies to {', '.join(models_with_pretraining())}. "
            f"Received: pretrain_epochs={pretrain_epochs}"
        )


def _pretrain(net, train_ds, epochs, optimizer, progress):
    """The model's own pre-training stage over the run's training batches, with one progress line
    per epoch (`net.pretraining_stage`: YOLO v1's conv layers as a grid-cell classifier)."""
    import keras

    report = []
    if progress:
        report.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: progress(f"pre-training epoch {epoch + 1}/{epochs}: loss {logs['loss']:.4f}")))
    loss = net.pretraining_stage(train_ds, epochs, optimizer, callbacks=report)
    if progress:
        progress(f"pre-training done after {epochs} epochs (loss {loss:.4f}); training {net.name}")
    return loss


def evaluate_model(model, prepared, task):
    """The task's hold-out report of `model` on the run's test split (`task`: a Task, configured
    with the run's settings)."""
    x_test, y_test = prepared.arrays("test")
    x_train, _ = prepared.arrays("train")
    return task.evaluate(model, x_test, y_test, prepared.dataset.class_names, x_reference=x_train)


def make_augmentation(task, config, dataset):
    """The run's augmentation `fn(x, y) -> (x, y)` (or None) and whether it makes soft labels.

    Image-label tasks use the preset/dict augmentations of `pipelines.augment` (labels pass through,
    mixup/cutmix soften them); tasks with spatial targets build their own, moving boxes, masks and
    keypoints with the image.
    """
    if config.augment in (None, "none", {}):
        return None, False
    if getattr(task, "augmentation", None) == "image_label":
        if dataset.value_range is None:
            return None, False
        fn = augment_lib.build_augmentation(config.augment, value_range=dataset.value_range, seed=config.seed)
        return fn, bool(augment_lib.augmentation_produces_soft_labels(config.augment))
    return task.build_augmentation(config.augment, dataset, config.seed), False


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
            "input_shape": list(dataset.input_shape) if dataset.input_shape is not None else None,
            "value_range": list(dataset.value_range) if dataset.value_range else None,
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        },
    )


def _plots(run_dir, task, model, prepared, report):
    from tasks import plots

    plots.training_curves(run_dir / "history.csv", run_dir / "curves.png")
    x_test, y_test = prepared.arrays("test")
    task.plots(run_dir, model, x_test, y_test, report, prepared.dataset.class_names)
