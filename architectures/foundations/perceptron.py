"""Single threshold units: the perceptron, the McCulloch–Pitts neuron and ADALINE.

References:
    McCulloch & Pitts, "A logical calculus of the ideas immanent in nervous activity", Bull. Math.
        Biophysics 5, 1943: the binary threshold unit.
    Rosenblatt, "The perceptron: a probabilistic model for information storage and organization
        in the brain", Psychological Review 65, 1958: y = step(wᵀx + b), w ← w + η(t − y)x.
    Widrow & Hoff, "Adaptive switching circuits", IRE WESCON 1960: ADALINE, the LMS (delta) rule
        on the linear output, the sign quantiser only at prediction.

One bias convention throughout (spec §9 erratum 51): x_0 = 1 and w_0 = b = −threshold. The step
unit fires (outputs its high value) where wᵀx + b ≥ 0. `folded_weights()` / `set_folded_weights()`
read and write the notes' vector (w_0, w_1, ..., w_I), e.g. OR = (−0.5, 1, 1), AND = (−1.5, 1, 1).
"""

import keras
import numpy as np
from keras import ops

from architectures.base import ZooModel
from architectures.foundations.common import (
    RuleTrainedModel,
    Step,
    check_binary,
    flat_input,
    flat_targets,
    input_features,
    online_loop,
)
from architectures.registry import ModelSpec, register

OUTPUT_LEVELS = {"binary": 0.0, "bipolar": -1.0}  # the low output value; the high one is 1


class _ThresholdUnit:
    """Reads and writes the unit's weights as the notes' folded vector (w_0 = b, w_1..w_I)."""

    def folded_weights(self):
        layer = self.get_layer("weights")
        kernel = np.asarray(layer.kernel).reshape(-1)
        bias = np.asarray(layer.bias).reshape(-1) if layer.use_bias else np.zeros(1)
        return np.concatenate([bias, kernel])

    def set_folded_weights(self, weights):
        layer = self.get_layer("weights")
        weights = np.asarray(weights, dtype="float32").reshape(-1)
        expected = layer.kernel.shape[0] + int(layer.use_bias)
        if weights.size != expected:
            raise ValueError(
                f"Expected {expected} weights ({'w_0 = bias, ' if layer.use_bias else ''}then one per input). "
                f"Received: {weights.size} values"
            )
        kernel = weights[int(layer.use_bias):].reshape(layer.kernel.shape)
        layer.set_weights([kernel, weights[:1]] if layer.use_bias else [kernel])


def _unit_weights(layer):
    bias = layer.bias.value if layer.use_bias else ops.zeros((1,), layer.kernel.dtype)
    return ops.reshape(layer.kernel.value, (-1,)), bias


def _assign_unit_weights(layer, kernel, bias):
    layer.kernel.assign(ops.reshape(kernel, layer.kernel.shape))
    if layer.use_bias:
        layer.bias.assign(bias)


# --- perceptron ------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class Perceptron(_ThresholdUnit, RuleTrainedModel):
    """Rosenblatt's perceptron: one step unit trained by the perceptron rule.

    `fit` applies the rule online, one example at a time in batch order: the output is
    y = step(wᵀx + b) and, only where it is wrong, w ← w + η·ε·x and b ← b + η·ε with
    ε = (t − y)/(high − low) ∈ {−1, +1}, i.e. w ← w + η(t − y)x for {0, 1} outputs and w ← w + η·t·x
    for ±1 outputs. The reported loss is the batch's error rate before the batch's updates.

    Args:
        input_shape: shape of one input; flattened to the I inputs of the unit.
        num_classes: 2 (one output unit).
        output: "binary" (outputs {0, 1}) or "bipolar" (outputs {−1, +1}). Class ids 0/1 and ±1
            labels are both accepted as targets.
        use_bias: learn w_0 (the threshold); False for a boundary through the origin.
        learning_rate: η; 1 is enough (the rule is scale-free from a zero start).
        kernel_initializer: initial weights; "zeros" is the classical start.
        preprocessing: deterministic input preprocessing (see `model_input`).
    """

    def __init__(
        self,
        input_shape=(2,),
        num_classes=2,
        output="binary",
        use_bias=True,
        learning_rate=1.0,
        kernel_initializer="zeros",
        preprocessing=None,
        name="perceptron",
        **kwargs,
    ):
        check_binary(num_classes, "The perceptron")
        if output not in OUTPUT_LEVELS:
            raise ValueError(f"output must be one of {sorted(OUTPUT_LEVELS)}. Received: output={output!r}")
        inputs, x = flat_input(input_shape, preprocessing)
        unit = keras.layers.Dense(1, use_bias=use_bias, kernel_initializer=kernel_initializer, trainable=False, name="weights")
        outputs = Step(OUTPUT_LEVELS[output], 1.0, name="step")(unit(x))
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.low = OUTPUT_LEVELS[output]
        self.learning_rate = float(learning_rate)

    def _targets(self, y):
        t = flat_targets(y)
        return ops.where(t > 0, ops.ones_like(t), ops.full_like(t, self.low))

    def learning_objective(self, x, y):
        predicted = ops.reshape(self(x, training=False), (-1,))
        return ops.mean(ops.cast(ops.not_equal(predicted, self._targets(y)), keras.config.floatx()))

    def apply_learning_rule(self, x, y):
        layer = self.get_layer("weights")
        scale = self.learning_rate / (1.0 - self.low)

        def update(x_i, t_i, state):
            kernel, bias = state
            u = ops.sum(kernel * x_i) + bias[0]
            y_i = ops.where(u >= 0, 1.0, self.low)
            error = ops.cast(scale, kernel.dtype) * (t_i - y_i)  # 0 where the unit is right
            return kernel + error * x_i, bias + error

        kernel, bias = online_loop((input_features(self, x), self._targets(y)), update, _unit_weights(layer))
        _assign_unit_weights(layer, kernel, bias)


def _separable_batch(config, seed, n=8, bipolar=False):
    """Two well-separated 2-D clusters (in the unit's input dimension) with labels 0/1."""
    rng = np.random.default_rng(seed)
    dim = int(np.prod(config.get("input_shape", (2,))))
    y = (np.arange(n) % 2).astype("int32")
    direction = np.ones(dim) / np.sqrt(dim)
    x = rng.normal(scale=0.3, size=(n, dim)) + np.where(y[:, None] == 1, 1.5, -1.5) * direction
    x = x.reshape(n, *config.get("input_shape", (2,))).astype("float32")
    return x, y


register(
    ModelSpec(
        name="perceptron",
        family="foundations",
        task="classification",
        builder=Perceptron,
        canonical_config=dict(input_shape=(2,), num_classes=2),
        tiny_config=dict(input_shape=(2,), num_classes=2),
        paper="Rosenblatt 1958, Psychological Review 65(6)",
        seeds=("000", "001", "004"),
        default_dataset="blobs_separable",
        example_batch=_separable_batch,
        train_recipe=dict(batch_size=32, epochs=10),
        notes="Trained by the perceptron rule in train_step (the compiled optimizer is unused). Loss = error "
        "rate before the step's online updates. Step(0) = 1 (fires at the threshold).",
    )
)


# --- McCulloch–Pitts neuron ------------------------------------------------------------------------

ACTIVATIONS = ("step", "sigmoid", "tanh", "piecewise_linear", "hard_sigmoid")


@keras.saving.register_keras_serializable(package="deepzoo")
class NeuronActivation(keras.layers.Layer):
    """φ(λu) for the activations the notes list, with a fixed slope λ.

    step: 1 where u ≥ 0 else 0 (zero gradient); sigmoid: 1/(1 + e^{−λu}); tanh: tanh(λu);
    piecewise_linear: clip(λu + ½, 0, 1) (the saturating linear unit); hard_sigmoid: Keras'
    relu6(λu + 3)/6.
    """

    def __init__(self, kind="sigmoid", slope=1.0, **kwargs):
        super().__init__(**kwargs)
        if kind not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}. Received: activation={kind!r}")
        self.kind, self.slope = kind, float(slope)

    def call(self, inputs):
        u = inputs * self.slope
        if self.kind == "step":
            return ops.where(u >= 0, ops.ones_like(u), ops.zeros_like(u))
        if self.kind == "sigmoid":
            return ops.sigmoid(u)
        if self.kind == "tanh":
            return ops.tanh(u)
        if self.kind == "piecewise_linear":
            return ops.clip(u + 0.5, 0.0, 1.0)
        return ops.hard_sigmoid(u)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "slope": self.slope}


@keras.saving.register_keras_serializable(package="deepzoo")
class McCullochPittsNeuron(_ThresholdUnit, ZooModel):
    """The artificial neuron y = φ(wᵀx + b): a Dense(1) unit with a selectable activation.

    With `activation="step"` it is McCulloch & Pitts' binary threshold unit, whose weights are set
    by hand (`set_folded_weights`), not learned: excitatory inputs have w > 0, inhibitory w < 0,
    and an R-input AND has w_0 = −(R − 0.5). The other activations make it a differentiable
    neuron trained by gradient descent on the compiled loss.

    Args:
        input_shape: shape of one input (flattened).
        num_classes: 2 (one output unit).
        activation: one of `ACTIVATIONS`.
        slope: λ, the fixed slope applied before φ.
        preprocessing: deterministic input preprocessing (see `model_input`).
    """

    def __init__(
        self,
        input_shape=(2,),
        num_classes=2,
        activation="sigmoid",
        slope=1.0,
        preprocessing=None,
        name="mcculloch_pitts_neuron",
        **kwargs,
    ):
        check_binary(num_classes, "The McCulloch–Pitts neuron")
        inputs, x = flat_input(input_shape, preprocessing)
        u = keras.layers.Dense(1, name="weights")(x)
        outputs = NeuronActivation(activation, slope, name="activation")(u)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


register(
    ModelSpec(
        name="mcculloch_pitts_neuron",
        family="foundations",
        task="classification",
        builder=McCullochPittsNeuron,
        canonical_config=dict(input_shape=(2,), num_classes=2, activation="sigmoid"),
        tiny_config=dict(input_shape=(2,), num_classes=2, activation="sigmoid"),
        paper="McCulloch & Pitts 1943, Bull. Math. Biophysics 5",
        seeds=("004", "000", "001", "003"),
        default_dataset="blobs_separable",
        example_batch=_separable_batch,
        train_recipe=dict(optimizer="adam", learning_rate=0.05, batch_size=32, epochs=30),
        notes="activation='step' is the 1943 binary threshold unit: weights set by hand (set_folded_weights), zero "
        "gradient, so it cannot be fitted. The registered configs use the generalised neuron's slope-λ sigmoid "
        "(the row's 'generalised activation') so that `deepzoo train` and the sweep's training check work.",
    )
)


# --- ADALINE ---------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class Adaline(_ThresholdUnit, RuleTrainedModel):
    """Widrow & Hoff's ADALINE: a linear unit trained by the LMS (delta) rule.

    `fit` applies w ← w + η(t − wᵀx − b)x and b ← b + η(t − wᵀx − b) online, one example at a time
    in batch order: stochastic gradient descent on the squared error of the *linear* output, which
    converges (for small η) to the least-squares solution. The reported loss is the batch's mean
    squared error of the linear output before the batch's updates.

    Args:
        input_shape: shape of one input (flattened).
        num_classes: 2 (one output unit).
        quantizer: "sign" outputs sign(wᵀx + b) ∈ {−1, +1} (ADALINE as a classifier; 0/1 class ids
            are taken as −1/+1 targets); None outputs the linear value wᵀx + b and trains on the
            targets as given (ADALINE as a linear regressor).
        learning_rate: η of the LMS rule.
        preprocessing: deterministic input preprocessing (see `model_input`).
    """

    def __init__(
        self,
        input_shape=(2,),
        num_classes=2,
        quantizer="sign",
        learning_rate=0.01,
        preprocessing=None,
        name="adaline",
        **kwargs,
    ):
        check_binary(num_classes, "ADALINE")
        if quantizer not in ("sign", None):
            raise ValueError(f"quantizer must be 'sign' or None. Received: quantizer={quantizer!r}")
        inputs, x = flat_input(input_shape, preprocessing)
        linear = keras.layers.Dense(1, kernel_initializer="zeros", trainable=False, name="weights")(x)
        outputs = Step(-1.0, 1.0, name="sign")(linear) if quantizer else linear
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.quantized = quantizer is not None
        self.learning_rate = float(learning_rate)

    def _targets(self, y):
        t = flat_targets(y)
        return ops.where(t > 0, ops.ones_like(t), -ops.ones_like(t)) if self.quantized else t

    def linear_output(self, x):
        kernel, bias = _unit_weights(self.get_layer("weights"))
        return ops.matmul(input_features(self, x), kernel) + bias[0]

    def learning_objective(self, x, y):
        return ops.mean(ops.square(self._targets(y) - self.linear_output(x)))

    def apply_learning_rule(self, x, y):
        layer = self.get_layer("weights")

        def update(x_i, t_i, state):
            kernel, bias = state
            error = ops.cast(self.learning_rate, kernel.dtype) * (t_i - ops.sum(kernel * x_i) - bias[0])
            return kernel + error * x_i, bias + error

        kernel, bias = online_loop((input_features(self, x), self._targets(y)), update, _unit_weights(layer))
        _assign_unit_weights(layer, kernel, bias)


register(
    ModelSpec(
        name="adaline",
        family="foundations",
        task="classification",
        builder=Adaline,
        canonical_config=dict(input_shape=(2,), num_classes=2),
        tiny_config=dict(input_shape=(2,), num_classes=2, learning_rate=0.05),
        paper="Widrow & Hoff 1960, IRE WESCON Convention Record",
        seeds=("004",),
        default_dataset="blobs_separable",
        example_batch=_separable_batch,
        train_recipe=dict(batch_size=32, epochs=20),
        notes="Trained by the LMS rule in train_step on the linear output (the compiled optimizer is unused); "
        "loss = MSE of the linear output before the step's updates; sign quantiser only at prediction.",
    )
)
