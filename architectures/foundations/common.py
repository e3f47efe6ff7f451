"""Pieces shared by the family-A models: threshold units, flat inputs, and the base class of the
models that learn by their own rule (perceptron, LMS, Hebb, Kohonen, Oja/Sanger) instead of by
gradient descent on a compiled loss.

A rule-trained model still trains with `model.fit`: its `train_step` measures the model's own
objective on the batch *before* applying the rule (so the loss of the first epoch describes the
untrained model), applies the rule to its non-trainable weights, and reports that objective as
`loss` together with the compiled metrics. The compiled optimizer and loss are not used.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.layers.preprocessing import model_input


@keras.saving.register_keras_serializable(package="deepzoo")
class Step(keras.layers.Layer):
    """Threshold (Heaviside) unit: `high` where the input is >= 0, else `low`.

    `low=0` gives the {0, 1} step of the perceptron and McCulloch–Pitts unit; `low=-1` gives the
    bipolar sign used by ADALINE's quantiser. Its gradient is zero almost everywhere.
    """

    def __init__(self, low=0.0, high=1.0, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high = float(low), float(high)

    def call(self, inputs):
        high = ops.full_like(inputs, self.high)
        low = ops.full_like(inputs, self.low)
        return ops.where(inputs >= 0, high, low)

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}


def flat_input(input_shape, preprocessing=None):
    """`(inputs, features)`: the model input, its deterministic preprocessing, flattened to [N, d]."""
    inputs, x = model_input(input_shape, preprocessing)
    if len(x.shape) > 2:
        x = keras.layers.Flatten(name="flatten")(x)
    return inputs, x


def check_binary(num_classes, model):
    """The single-unit classifiers separate two classes; more need `logistic_ova` or `mlp`."""
    if num_classes not in (1, 2):
        raise ValueError(
            f"{model} is a single threshold unit: it separates 2 classes (one output). "
            f"Use logistic_ova, linear_classifier or mlp for more. Received: num_classes={num_classes}"
        )


class RuleTrainedModel(ZooModel):
    """A functional model whose weights are updated by a learning rule, not by an optimizer.

    Subclasses implement:
        `learning_objective(x, y)`: scalar objective of the current weights on the batch;
        `apply_learning_rule(x, y)`: updates the weights in place (variable.assign).
    Both are written with `keras.ops` and run inside the compiled train function (XLA included);
    the in-place updates need a stateful backend (TensorFlow, the project's; or torch). Sample
    weights are not used by the rules.
    """

    def learning_objective(self, x, y):
        raise NotImplementedError

    def apply_learning_rule(self, x, y):
        raise NotImplementedError

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        loss = self.learning_objective(x, y)
        self.apply_learning_rule(x, y)
        return self._report(x, y, y_pred, loss, sample_weight)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        return self._report(x, y, y_pred, self.learning_objective(x, y), sample_weight)

    def _report(self, x, y, y_pred, loss, sample_weight):
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss, sample_weight=ops.shape(x)[0])
        return self.compute_metrics(x, y, y_pred, sample_weight)


def online_loop(arrays, body, state):
    """Runs `state = body(a_i, b_i, ..., state)` for the rows i = 0..N-1 of `arrays` = (a, b, ...)
    in order: the one-example-at-a-time update of the classical rules, as one graph loop (no
    Python unrolling over the batch)."""
    arrays = tuple(arrays)

    def step(index, carry):
        return body(*[ops.take(array, index, axis=0) for array in arrays], carry)

    return ops.fori_loop(0, ops.shape(arrays[0])[0], step, state)


# Layers `model_input`/`flat_input` may put in front of a rule-trained unit, in graph order.
FEATURE_LAYERS = ("resize", "rescale", "normalize", "flatten")


def input_features(model, x):
    """`x` after the model's own preprocessing and flattening: what its learning rule sees."""
    for name in FEATURE_LAYERS:
        try:
            layer = model.get_layer(name)
        except ValueError:
            continue
        x = layer(x)
    return ops.cast(x, keras.config.floatx())


def flat_targets(y):
    return ops.reshape(ops.cast(y, keras.config.floatx()), (-1,))
