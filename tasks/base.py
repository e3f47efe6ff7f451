"""The task contract: the one owner of everything that depends on what a model does.

A `Task` is a class; one instance per task kind lives in `tasks.TASKS`. Training
(`pipelines/train.py`), tuning, the conformance sweep, export verification and the run-directory
plots call these methods and never branch on a task's name. `tasks/` sits at the bottom of the
flow: it imports numpy, keras/tensorflow lazily, and scientific libraries; never `architectures/`,
`pipelines/`, `tuning/`, `export/`, `serving/` or `deepzoo/`.

Data crosses the task boundary as *structures*: a model input or target is either one array or a
dict of named arrays (images, boxes, classes, masks, token ids, noise, ...). `x` is what the model
(or its `train_step`) takes, `y` what its loss takes. A dataset (`pipelines.datasets.Dataset`)
holds them as `x` and `y`; each may be a dict of arrays sliced together along axis 0.

Typed I/O: `TensorSpec(name, shape, dtype)` describes one named tensor, batch dimension excluded,
`None` for a free dimension. A model's export endpoint (`Task.export_endpoint`) is a Keras model
whose inputs are named `keras.Input`s and whose outputs are a dict keyed by output name; export,
verification, metadata and serving read names, shapes and dtypes from it.
"""

import copy
import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One named, typed tensor, batch dimension excluded (`None` = any size)."""

    name: str
    shape: tuple
    dtype: str = "float32"

    def as_dict(self):
        return {"name": self.name, "shape": [-1, *[-1 if d is None else int(d) for d in self.shape]], "dtype": self.dtype}


@dataclasses.dataclass
class CheckOutcome:
    """The result of a task-level check (training check, output comparison)."""

    ok: bool
    detail: str


def as_structure(value):
    """A model's call result as a dict of numpy arrays (`{"output": array}` for a bare tensor)."""
    if isinstance(value, dict):
        return {k: np.asarray(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {f"output_{i}": np.asarray(v) for i, v in enumerate(value)}
    return {"output": np.asarray(value)}


def take(structure, indices):
    """Rows `indices` of an array or of every array in a dict (the dataset slicing primitive)."""
    if structure is None:
        return None
    if isinstance(structure, dict):
        return {k: v[indices] for k, v in structure.items()}
    return structure[indices]


def length(structure):
    if isinstance(structure, dict):
        return len(next(iter(structure.values())))
    return len(structure)


def concatenate(parts):
    """Concatenates a list of structures along axis 0."""
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
    return np.concatenate(parts, axis=0)


@dataclasses.dataclass(frozen=True)
class NumberSetting:
    """A numeric task setting (`Task.settings`): its type and inclusive bounds (None: unbounded)."""

    kind: type = float
    minimum: float | None = None
    maximum: float | None = None

    def check(self, key, value):
        """`value` as `kind`, or a one-line ValueError naming the setting and what it accepts."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (self.kind is int and value != int(value)):
            raise ValueError(f"Task setting {key} expects a number ({self.describe()}). Received: {value!r}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise ValueError(f"Task setting {key} must be {self.describe()}. Received: {value!r}")
        return self.kind(value)

    def describe(self):
        bounds = [f"≥ {self.minimum}" if self.minimum is not None else "", f"≤ {self.maximum}" if self.maximum is not None else ""]
        return " ".join([self.kind.__name__, *filter(None, bounds)])


class Task:
    """Base class: the behaviour of a plain supervised Keras model trained with `fit`.

    Subclasses override what their kind does differently. Class attributes:
        name: task id (`ModelSpec.task`).
        element: human-readable element structure of its datasets.
        default_dataset: embedded dataset when none is named.
        monitor: (metric, mode) that early stopping and checkpoints watch.
        objective: (key of `evaluate`'s report, "max"|"min"): the tuning objective and the metric
            that quantised exports must keep.
        train_check: the sweep's training check: "loss_falls" (a few steps lower the loss on a
            fixed batch) or a task-specific name documented by `check_training`.
        export_outputs: human-readable description of what the exported endpoint returns.
        stratify: whether splits stratify on the target.
        settings: the per-run settings a user may change (`deepzoo train --task-setting KEY=VALUE`,
            `TrainConfig.task_settings`): attribute name -> its allowed values (a tuple) or a
            `NumberSetting` (type and bounds); `with_settings` checks them and returns a configured copy.
    """

    name = "base"
    element = ""
    default_dataset = ""
    monitor = ("val_loss", "min")
    objective = ("loss", "min")
    train_check = "loss_falls"
    export_outputs = ""
    stratify = False
    # Which datasets a model of this task trains on: its own task's, these task kinds' too, or any.
    data_tasks = ()
    accepts_any_data = False
    # Relative headroom a quantised export may lose on `objective` (see `export/verify.py`).
    quantized_tolerance = None
    # Whether exported outputs are compared together (`compare_all`), e.g. detections as sets.
    compare_jointly = False
    settings = {}

    def with_settings(self, settings=None):
        """This task with `settings` ({attribute: value}) set: a copy, so that the shared instance in
        `tasks.TASKS` stays as declared; `self` when there are none. Unknown names and values
        outside `settings` raise a one-line ValueError. The text "none" stands for None."""
        if not settings:
            return self
        task = copy.copy(self)
        for key, value in settings.items():
            if key not in self.settings:
                known = ", ".join(sorted(self.settings)) or "none"
                raise ValueError(f"The {self.name} task has no setting {key!r}. Its settings: {known}.")
            allowed = self.settings[key]
            if isinstance(allowed, tuple):
                value = None if value == "none" and None in allowed else value
                if value not in allowed:
                    choices = ", ".join("none" if choice is None else str(choice) for choice in allowed)
                    raise ValueError(f"Task setting {key} must be one of {choices}. Received: {value!r}")
            else:
                value = allowed.check(key, value)
            setattr(task, key, value)
        return task

    @property
    def objectives(self):
        """Every (report key, direction) a search may optimise; the first is the default."""
        return (self.objective,)

    # --- data ---------------------------------------------------------------------------------

    def stratify_labels(self, y):
        """Labels to stratify splits on, or None."""
        return None

    def split_groups(self, y):
        """Group ids whose examples stay on one side of every split (e.g. identities, so that
        held-out identities are never seen in training), or None for a split by example."""
        return None

    def make_dataset(self, x, y, batch_size, shuffle=False, augment=None, seed=0):
        """A batched `tf.data.Dataset` of `(x, y)` for `fit`; `augment` is a built callable or None."""
        import tensorflow as tf

        dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
        if shuffle:
            dataset = dataset.shuffle(min(length(x), 10_000), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        if augment is not None:
            dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def build_augmentation(self, config, dataset, seed):
        """A callable `(x, y) -> (x, y)` on batches, or None. Geometric transforms must move every
        spatial target (boxes, masks, keypoints) with the image."""
        return None

    def model_overrides(self, dataset, x_train, accepted, y_train=None):
        """Constructor arguments this task derives from the training data (`accepted` = the
        builder's argument names), e.g. vocabulary sizes. Explicit `--set` values win."""
        return {}

    def callbacks(self, run_dir, model, x_val=None, y_val=None):
        """Extra Keras callbacks for a training run (e.g. a sample grid per epoch)."""
        return []

    def fit_targets(self, model, y, **options):
        """Targets as the compiled loss takes them (e.g. one-hot for soft-label classification)."""
        return y

    def fit_inputs(self, model, x, y, **options):
        """Model inputs for `fit` from the dataset's `x` (and `y`, for teacher forcing: a seq2seq
        model takes the shifted target as an input). The default is `x` itself."""
        return x

    # --- training -----------------------------------------------------------------------------

    def loss(self, model):
        import keras

        return keras.losses.MeanSquaredError()

    def metrics(self, model):
        return []

    def compile(self, model, optimizer, jit_compile=False, **options):
        """Compiles `model` with this task's defaults. `options` are task options (e.g.
        label_smoothing); unknown ones are ignored so a generic caller can pass them all."""
        model.compile(optimizer=optimizer, loss=self.loss(model), metrics=self.metrics(model), jit_compile=jit_compile)

    # --- evaluation and decoding --------------------------------------------------------------

    def predict(self, model, x, batch_size=64):
        """Runs the export endpoint (decoding included) over `x`: a dict of output arrays."""
        endpoint = self.export_endpoint(model)
        parts = []
        n = length(x)
        for start in range(0, n, batch_size):
            chunk = take(x, slice(start, start + batch_size))
            parts.append(as_structure(endpoint(chunk, training=False)))
        return concatenate(parts) if parts else {}

    def score(self, y_true, outputs, class_names=None):
        """The hold-out report from the endpoint's outputs (a dict) and the targets."""
        return {"num_examples": int(length(y_true))}

    def evaluate(self, model, x, y, class_names=None, x_reference=None):
        """The full hold-out report of `model` on `(x, y)`. `x_reference` (the training inputs)
        serves tasks whose report compares with the data itself (a generator's real-vs-real
        Fréchet distance); others ignore it."""
        return self.score(y, self.predict(model, x), class_names)

    def plots(self, run_dir, model, x, y, report, class_names=None):
        """Pictures a user looks at, written as PNG into `run_dir` (curves are written by train)."""

    # --- sweep --------------------------------------------------------------------------------

    def example_batch(self, model, n, seed):
        """A fixed `(x, y)` batch for the sweep, built from the model's own input specs."""
        raise NotImplementedError(f"Task '{self.name}' has no example batch.")

    def fit_example(self, model, x, y, epochs, learning_rate=1e-3, jit_compile=False):
        """Compiles `model` with this task's defaults and fits the fixed batch `(x, y)` of
        `example_batch` as one batch per step; returns Keras' history dict. The sweep's training
        check and its XLA column both train through this."""
        import keras

        self.compile(model, keras.optimizers.Adam(learning_rate), jit_compile=jit_compile)
        targets = self.fit_targets(model, y)
        prebuild_training_state(model, x, targets)
        return model.fit(x, targets, batch_size=length(x), epochs=epochs, shuffle=False, verbose=0).history

    # The sweep's learning rate for `check_training`: a task whose models need larger steps to
    # show a falling loss in eight steps says so here.
    check_learning_rate = 1e-3

    def check_training(self, model, x, y, epochs=8, learning_rate=None, jit_compile=False):
        """A few optimisation steps on a fixed batch must lower the loss. `jit_compile`: the
        steps run XLA-compiled (the sweep does so for every row that supports XLA)."""
        learning_rate = self.check_learning_rate if learning_rate is None else learning_rate
        losses = self.fit_example(model, x, y, epochs, learning_rate, jit_compile=jit_compile)["loss"]
        if not all(math.isfinite(v) for v in losses):
            return CheckOutcome(False, f"non-finite loss {losses}")
        if losses[-1] < losses[0]:
            return CheckOutcome(True, f"loss {losses[0]:.4g} -> {losses[-1]:.4g} in {epochs} steps")
        return CheckOutcome(False, f"loss did not fall: {losses[0]:.4g} -> {losses[-1]:.4g}")

    # --- export -------------------------------------------------------------------------------

    def export_endpoint(self, model, format=None):
        """The Keras model that is exported and served: named inputs, a dict of named outputs.

        The default serves the model itself with its outputs as `{"output": ...}`. Tasks whose
        users want decoded results (boxes after NMS, a generator, a decoder loop) build them here.
        `format` is the export format (or "xla", or None for the served default): a task whose
        endpoint cannot be one graph for every runtime returns another endpoint for some formats
        (see `endpoint_variant`).
        """
        return model

    def endpoint_variant(self, format):
        """Formats with the same key share one export endpoint; the default: every format one.
        A text task keys strings-in endpoints (SavedModel) apart from token-id ones (ONNX, TFLite)."""
        return ""

    def export_endpoints(self, model, formats):
        """`[(endpoint, [formats])]`: one endpoint per distinct `endpoint_variant`, in the order
        the formats first appear."""
        groups = {}
        for name in formats:
            groups.setdefault(self.endpoint_variant(name), []).append(name)
        return [(self.export_endpoint(model, format=names[0]), names) for names in groups.values()]

    def export_assets(self, model, format=None):
        """Files written beside an artifact of `format`: {file name: text} (e.g. the vocabularies
        that turn text into the token ids an id endpoint takes). Default: none."""
        return {}

    def export_samples(self, endpoint, x, y):
        """`(inputs, targets)` that verify an export of `endpoint`, from held-out `(x, y)` of the
        task's dataset (also used, targets ignored, for int8 calibration from the train split).

        The default feeds `x` as it is (one array, or the entries of a dict named like the
        endpoint's `keras.Input`s) with `y` as the ground truth of `score`. Tasks whose endpoint
        takes other inputs than training does (a generator takes noise) override this; targets
        None make the quantised check use `quantized_reference` of the Keras outputs.
        """
        if isinstance(x, dict):
            names = {t.name.split(":")[0] for t in endpoint.inputs}
            structure = getattr(endpoint, "_inputs_struct", None)
            names |= set(structure) if isinstance(structure, dict) else set()
            return {key: value for key, value in x.items() if key in names}, y
        return x, y

    def quantized_reference(self, reference_outputs):
        """Targets for a quantised export's `objective` when no ground truth is given, from the
        Keras endpoint's outputs (a dict). The default is those outputs themselves; a task whose
        `score` has no `objective` key is then checked on the outputs' relative error."""
        return reference_outputs

    def compare_all(self, reference, actual, atol, rtol):
        """Every output of an artifact against Keras': {name: CheckOutcome}. Per output by default;
        a task whose outputs only make sense together (detections: a box, its score and its class)
        compares them jointly."""
        if self.compare_jointly:
            return {"outputs": self.compare_outputs(None, reference, actual, atol, rtol)}
        return {name: self.compare_outputs(name, expected, actual.get(name), atol, rtol) for name, expected in reference.items()}

    def compare_outputs(self, name, reference, actual, atol, rtol):
        """Whether an artifact's output `name` agrees with Keras' (float formats)."""
        reference, actual = np.asarray(reference), np.asarray(actual)
        if reference.shape != actual.shape:
            return CheckOutcome(False, f"{name}: shape {actual.shape} differs from Keras {reference.shape}")
        if reference.dtype.kind in "iubOSU":  # integers, booleans and strings must be equal
            agree = float(np.mean(reference == actual)) if reference.size else 1.0
            return CheckOutcome(agree == 1.0, f"{name}: {agree:.4%} equal")
        finite = np.isfinite(reference) & np.isfinite(actual)
        diff = float(np.max(np.abs(actual.astype(np.float64)[finite] - reference[finite]))) if finite.any() else 0.0
        ok = bool(np.allclose(actual, reference, rtol=rtol, atol=atol, equal_nan=True))
        return CheckOutcome(ok, f"{name}: max |diff| {diff:.3g}" + ("" if ok else f" (atol {atol:g}, rtol {rtol:g})"))


def prebuild_training_state(model, x, y):
    """Creates the optimiser's and the compiled metrics' variables before `fit`.

    Keras' TensorFlow trainer creates them while tracing the first train step, and a tf.function
    that creates variables is traced a second time; building them first halves the first step's
    cost (measured on the sweep's 8-step check, CPU seconds: resnet18 3.9 → 2.1, efficientnet_b0
    9.3 → 5.9, inception_v3 10.3 → 6.0).
    """
    model.optimizer.build(model.trainable_variables)
    model.compute_metrics(x, y, model(x, training=False), sample_weight=None)
    model.reset_metrics()


def random_inputs(specs, n, seed, low=0.0, high=1.0):
    """Random inputs for `specs` (a list of TensorSpec), free dimensions set to 8."""
    rng = np.random.default_rng(seed)
    out = {}
    for spec in specs:
        shape = (n, *[8 if d is None else int(d) for d in spec.shape])
        if spec.dtype.startswith("int"):
            out[spec.name] = rng.integers(1, 8, size=shape).astype(spec.dtype)
        else:
            out[spec.name] = rng.uniform(low, high, size=shape).astype(spec.dtype)
    return out


def model_input_specs(model):
    """The TensorSpecs of a Keras model's inputs (names from its `keras.Input`s)."""
    return [
        TensorSpec(t.name.split(":")[0], tuple(None if d is None else int(d) for d in t.shape[1:]), str(t.dtype).replace("tf.", ""))
        for t in model.inputs
    ]
