"""Optimisers, learning-rate schedules, initialisers and regularisers of spec §4, by name.

Keras built-ins wherever they exist; Rprop (spec §4.3) is the one custom optimiser.
"""

import inspect

import keras
from keras import ops

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "nadam", "rprop")
SCHEDULES = ("constant", "exponential", "step", "plateau", "linear", "cosine", "warmup")
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform", "random_normal", "zeros")


@keras.saving.register_keras_serializable(package="deepzoo")
class Rprop(keras.optimizers.Optimizer):
    """Resilient backpropagation (Riedmiller & Braun 1993), the iRprop− variant; full batch only.

    Each weight has its own step Δ that grows by `increase` while the gradient keeps its sign and
    shrinks by `decrease` when it flips (and that update is skipped); the update is −sign(g)·Δ.
    """

    def __init__(self, learning_rate=0.01, increase=1.2, decrease=0.5, min_step=1e-6, max_step=50.0, name="rprop", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.initial_step = float(learning_rate) if isinstance(learning_rate, (int, float)) else 0.01
        self.increase, self.decrease = increase, decrease
        self.min_step, self.max_step = min_step, max_step

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._previous_gradients = [self.add_variable_from_reference(v, "previous_gradient") for v in variables]
        # Δ_0 = the learning rate.
        initial = keras.initializers.Constant(self.initial_step)
        self._steps = [self.add_variable_from_reference(v, "step", initializer=initial) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        previous, step = self._previous_gradients[index], self._steps[index]
        agreement = ops.sign(gradient * previous)
        new_step = ops.where(
            agreement > 0,
            ops.minimum(step * self.increase, self.max_step),
            ops.where(agreement < 0, ops.maximum(step * self.decrease, self.min_step), step),
        )
        gradient = ops.where(agreement < 0, ops.zeros_like(gradient), gradient)  # iRprop−: skip after a flip
        self.assign(step, new_step)
        self.assign(previous, gradient)
        self.assign_sub(variable, ops.sign(gradient) * new_step)

    def get_config(self):
        config = super().get_config()
        config.update(increase=self.increase, decrease=self.decrease, min_step=self.min_step, max_step=self.max_step)
        return config


def make_schedule(
    name,
    learning_rate,
    steps_per_epoch=1,
    epochs=1,
    decay_rate=0.95,
    decay_epochs=1.0,
    end_learning_rate=None,
    warmup_steps=4000,
    model_dim=512,
    **callback_options,
):
    """A learning rate or `LearningRateSchedule` for `name`. "step"/"plateau" are callbacks (see `schedule_callbacks`).

    exponential: × `decay_rate` every `decay_epochs` epochs (spec §4.4: 0.90–0.95 per epoch;
        EfficientNet 0.97 every 2.4 epochs). linear: to `end_learning_rate` (default 1 % of the
        start; 0 for ShuffleNet) over the run, then constant. cosine: to 0. warmup: the Transformer's.
    """
    total_steps = max(1, steps_per_epoch * epochs)
    if name in ("constant", "step", "plateau", None):
        return learning_rate
    if name == "exponential":
        decay_steps = max(1, int(round(steps_per_epoch * decay_epochs)))
        return keras.optimizers.schedules.ExponentialDecay(learning_rate, decay_steps, decay_rate, staircase=True)
    if name == "linear":  # ε_k = (1 − k/τ)ε_0 + (k/τ)ε_τ, then constant
        end = learning_rate * 0.01 if end_learning_rate is None else end_learning_rate
        return keras.optimizers.schedules.PolynomialDecay(learning_rate, total_steps, end, power=1.0)
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, total_steps)
    if name == "warmup":
        return TransformerSchedule(model_dim, warmup_steps)
    raise ValueError(f"Unknown schedule '{name}'. Expected one of {SCHEDULES}.")


@keras.saving.register_keras_serializable(package="deepzoo")
class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lr = d^−0.5 · min(step^−0.5, step · warmup^−1.5) (Vaswani et al. 2017)."""

    def __init__(self, model_dim=512, warmup_steps=4000):
        self.model_dim, self.warmup_steps = model_dim, warmup_steps

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        return ops.power(float(self.model_dim), -0.5) * ops.minimum(ops.power(step, -0.5), step * self.warmup_steps**-1.5)

    def get_config(self):
        return {"model_dim": self.model_dim, "warmup_steps": self.warmup_steps}


class TimeBudgetCosine(keras.callbacks.Callback):
    """Trains for `seconds` of wall time with a linear warm-up and a cosine decay over that time
    (not over steps: the benchmarks compare models at equal time), then stops; prints the epoch's
    losses every `report_every` epochs. The optimiser's learning rate must be a variable."""

    def __init__(self, seconds, peak, warmup=0.05, report_every=1):
        super().__init__()
        self.seconds, self.peak, self.warmup, self.report_every = seconds, peak, warmup, report_every

    def on_train_begin(self, logs=None):
        import time

        self.started = time.perf_counter()

    def _elapsed(self):
        import time

        return time.perf_counter() - self.started

    def on_train_batch_begin(self, batch, logs=None):
        import math

        fraction = min(1.0, self._elapsed() / self.seconds)
        if fraction >= 1.0:
            self.model.stop_training = True
        warm = self.warmup
        rate = self.peak * (fraction / warm if fraction < warm else 0.5 * (1 + math.cos(math.pi * (fraction - warm) / (1 - warm))))
        self.model.optimizer.learning_rate.assign(max(rate, 1e-3 * self.peak))

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.report_every == 0:
            shown = " ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items() if isinstance(v, float) and k != "learning_rate")
            print(f"  epoch {epoch + 1}: {shown} ({self._elapsed():.0f}s)", flush=True)


def schedule_callbacks(name, monitor="val_loss", factor=0.1, patience=3, milestones=None, step_every=30, **schedule_options):
    """Callbacks for callback-driven schedules.

    plateau: × `factor` when `monitor` stalls for `patience` epochs (AlexNet/ResNet ÷10).
    step: × `factor` at each epoch in `milestones` (WRN 60/120/160 × 0.2), else every `step_every`.
    """
    if name == "plateau":
        return [keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=factor, patience=patience, verbose=0)]
    if name == "step":
        points = set(milestones) if milestones else None

        def step_schedule(epoch, lr):
            hit = epoch in points if points is not None else (epoch and epoch % step_every == 0)
            return lr * factor if hit else lr

        return [keras.callbacks.LearningRateScheduler(step_schedule)]
    return []


# Each optimiser's fixed hyper-parameters as spec §4.3 states them; a recipe's `optimizer_options`
# override any of them (e.g. Inception's RMSProp ε = 1.0, MobileNet/EfficientNet's RMSProp momentum 0.9).
OPTIMIZER_DEFAULTS = {
    "sgd": (keras.optimizers.SGD, {}),
    "momentum": (keras.optimizers.SGD, {}),
    "nesterov": (keras.optimizers.SGD, {"nesterov": True}),
    "rmsprop": (keras.optimizers.RMSprop, {"rho": 0.9, "momentum": 0.0}),
    "adagrad": (keras.optimizers.Adagrad, {"epsilon": 1e-7}),
    "adadelta": (keras.optimizers.Adadelta, {"rho": 0.95, "epsilon": 1e-6}),
    "adam": (keras.optimizers.Adam, {}),
    "adamw": (keras.optimizers.AdamW, {}),
    "nadam": (keras.optimizers.Nadam, {}),
    "rprop": (None, {}),  # Rprop, defined below
}


def check_optimizer(name, options=None):
    """(Keras class, default arguments, options) for optimiser `name`; a clear ValueError for an
    unknown name or an option that class does not take (train() calls it before loading data)."""
    name = (name or "adam").lower()
    if name not in OPTIMIZER_DEFAULTS:
        raise ValueError(f"Unknown optimizer '{name}'. Expected one of {OPTIMIZERS}.")
    cls, defaults = OPTIMIZER_DEFAULTS[name]
    cls = cls or Rprop
    options = dict(options or {})
    reserved = sorted(set(options) & {"learning_rate", "weight_decay", "global_clipnorm"})
    if reserved:
        raise ValueError(f"optimizer options cannot set {reserved}: use the training option of that name.")
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for optimizer '{name}' ({cls.__name__}). Accepted: {sorted(accepted - {'name'})}")
    return cls, defaults, options


def make_optimizer(name="adam", learning_rate=1e-3, momentum=0.9, weight_decay=None, clipnorm=None, schedule=None, options=None, **schedule_kwargs):
    """A Keras optimiser by spec §4.3 name; `options` are extra constructor arguments of that Keras
    optimiser (they override the defaults above); `schedule_kwargs` go to `make_schedule`."""
    cls, defaults, options = check_optimizer(name, options)
    lr = make_schedule(schedule, learning_rate, **schedule_kwargs) if schedule else learning_rate
    arguments = {"learning_rate": lr}
    if weight_decay:
        arguments["weight_decay"] = weight_decay
    if clipnorm:
        arguments["global_clipnorm"] = clipnorm
    if (name or "adam").lower() in ("momentum", "nesterov"):
        arguments["momentum"] = momentum
    return cls(**{**defaults, **arguments, **options})


def reinitialize(model, initializer, seed=0):
    """Re-draws every Dense/Conv kernel with `initializer` (spec §4.5 experiments); biases become zero."""
    if initializer not in INITIALIZERS:
        raise ValueError(f"Unknown initializer '{initializer}'. Expected one of {INITIALIZERS}.")
    for index, layer in enumerate(model._flatten_layers(include_self=False)):
        kernel = getattr(layer, "kernel", None)
        if kernel is None or not hasattr(kernel, "assign"):
            continue
        init = keras.initializers.get({"class_name": initializer, "config": {"seed": seed + index}} if initializer != "zeros" else "zeros")
        kernel.assign(init(kernel.shape, kernel.dtype))
        bias = getattr(layer, "bias", None)
        if bias is not None:
            bias.assign(ops.zeros(bias.shape, bias.dtype))


def add_weight_penalty(model, l1=0.0, l2=0.0):
    """Puts an L1/L2 penalty on every Dense/Conv kernel (biases excluded, spec §4.6).

    Keras collects a variable's `regularizer` into `model.losses` at every training step.
    """
    if not (l1 or l2):
        return 0
    regularizer = keras.regularizers.L1L2(l1=l1, l2=l2)
    count = 0
    for layer in model._flatten_layers(include_self=False):
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and hasattr(kernel, "regularizer"):
            kernel.regularizer = regularizer
            count += 1
    return count
