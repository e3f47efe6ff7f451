"""The multi-layer perceptron with task heads, and the time-window (delay-line) network built on it.

References:
    Rumelhart, Hinton & Williams, "Learning representations by back-propagating errors", Nature
        323, 1986. Universal approximation: Cybenko 1989; Hornik, Stinchcombe & White 1989.
    Sejnowski & Rosenberg, "Parallel networks that learn to pronounce English text" (NETtalk),
        Complex Systems 1, 1987: a sliding window of inputs fed to an MLP.

Each layer computes z = W·[1; x]; the parameter count is Σ_l J_l(J_{l−1} + 1) (spec §9 erratum
33: the notes call this "the number of neurons").
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.foundations.common import flat_input
from architectures.layers.preprocessing import model_input
from architectures.registry import ModelSpec, register

# Output heads: linear for regression, tanh for ±1 targets, sigmoid for 0/1 targets (one per
# class for multi-label), softmax over K classes.
HEADS = {"linear": None, "tanh": "tanh", "sigmoid": "sigmoid", "softmax": "softmax"}


def _per_layer(value, count, what):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * count
    if len(values) != count:
        raise ValueError(f"Expected one {what} per hidden layer ({count}). Received: {value!r}")
    return values


def dense_stack(x, hidden_units, hidden_activation, dropout=0.0, prefix="hidden"):
    """Fully connected hidden layers; `hidden_activation` is one name or one per layer."""
    activations = _per_layer(hidden_activation, len(hidden_units), "activation")
    for index, (units, activation) in enumerate(zip(hidden_units, activations), 1):
        x = keras.layers.Dense(units, activation=activation, name=f"{prefix}_{index}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{prefix}_{index}_dropout")(x)
    return x


def output_head(x, units, head, name="predictions"):
    if head not in HEADS:
        raise ValueError(f"head must be one of {sorted(HEADS)}. Received: head={head!r}")
    return keras.layers.Dense(units, activation=HEADS[head], name=name)(x)


@keras.saving.register_keras_serializable(package="deepzoo")
class MLP(ZooModel):
    """Feed-forward network: input (flattened) → Dense hidden layers → task head.

    Args:
        input_shape: shape of one input; flattened to the I input units.
        hidden_units: widths J_1, ..., J_{L−1} of the hidden layers (no layer is skipped).
        num_classes: output units: classes for the softmax/sigmoid heads, targets for the linear head.
        hidden_activation: "sigmoid", "tanh", "relu", ... or a list with one per hidden layer.
        head: "softmax", "sigmoid", "tanh" or "linear" (see `HEADS`).
        dropout: dropout after each hidden layer (0 = none).
        preprocessing: deterministic input preprocessing (see `model_input`).
    """

    def __init__(
        self,
        input_shape=(1024,),
        hidden_units=(84,),
        num_classes=10,
        hidden_activation="sigmoid",
        head="softmax",
        dropout=0.0,
        preprocessing=None,
        name="mlp",
        **kwargs,
    ):
        inputs, x = flat_input(input_shape, preprocessing)
        x = dense_stack(x, hidden_units, hidden_activation, dropout)
        outputs = output_head(x, num_classes, head)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


register(
    ModelSpec(
        name="mlp",
        family="foundations",
        task="classification",
        builder=MLP,
        canonical_config=dict(input_shape=(1024,), hidden_units=(84,), num_classes=10),
        tiny_config=dict(input_shape=(8,), hidden_units=(6, 5), num_classes=3, hidden_activation=("tanh", "relu")),
        reference_params=86_950,
        reference_source="N (000: 1024-84-10)",
        paper="Rumelhart, Hinton & Williams 1986, Nature 323; Cybenko 1989; Hornik, Stinchcombe & White 1989",
        seeds=("000", "001", "002", "003", "004"),
        default_dataset="digits",
        train_recipe=dict(optimizer="adam", learning_rate=1e-3, batch_size=64, epochs=30),
        search_space=dict(hidden_activation=dict(kind="choice", values=["sigmoid", "tanh", "relu"])),
        notes="The digits dataset (32×32 = 1,024 pixels) matches the canonical 1024-84-10 input. The 003 3-3-1 "
        "example (16 params) is `create_model('mlp', input_shape=(3,), hidden_units=(3,), num_classes=1, head='sigmoid')`.",
    )
)


# --- time-window feed-forward network ---------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class DelayLine(keras.layers.Layer):
    """Window extraction: from a history [N, T, I] (or [N, T]) keeps the last `window` steps
    x_{t−τ..t−1} and concatenates them into τ·I input units. Memory-less: nothing older than τ
    steps reaches the network."""

    def __init__(self, window, **kwargs):
        super().__init__(**kwargs)
        self.window = int(window)

    def call(self, inputs):
        recent = inputs[:, -self.window :]
        return ops.reshape(recent, (ops.shape(recent)[0], -1))

    def compute_output_shape(self, input_shape):
        per_step = 1
        for dim in input_shape[2:]:
            per_step *= dim
        return (input_shape[0], self.window * per_step)

    def get_config(self):
        return {**super().get_config(), "window": self.window}


@keras.saving.register_keras_serializable(package="deepzoo")
class TimeWindowFFNN(ZooModel):
    """Time-window (delay-line) network: y_t = MLP(x_{t−τ}, ..., x_{t−1}).

    Args:
        input_shape: (T, I) history of T steps of I values each, T ≥ window (the dataset may hold a
            longer history than the network looks at).
        window: τ, the number of most recent steps fed to the network.
        hidden_units: hidden widths of the MLP.
        hidden_activation: hidden activation(s).
        num_outputs: outputs per prediction.
        head: output head (see `HEADS`); "linear" for series prediction.
        preprocessing: deterministic input preprocessing (see `model_input`).
    """

    def __init__(
        self,
        input_shape=(8, 1),
        window=4,
        hidden_units=(16,),
        hidden_activation="tanh",
        num_outputs=1,
        head="linear",
        preprocessing=None,
        name="time_window_ffnn",
        **kwargs,
    ):
        if len(input_shape) < 1 or not 1 <= int(window) <= input_shape[0]:
            raise ValueError(
                f"window must be between 1 and the history length T = input_shape[0]. "
                f"Received: window={window}, input_shape={tuple(input_shape)}"
            )
        inputs, x = model_input(input_shape, preprocessing)
        x = DelayLine(window, name="delay_line")(x)
        x = dense_stack(x, hidden_units, hidden_activation)
        outputs = output_head(x, num_outputs, head)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)


register(
    ModelSpec(
        name="time_window_ffnn",
        family="foundations",
        task="regression",
        builder=TimeWindowFFNN,
        canonical_config=dict(input_shape=(8, 1), window=4, hidden_units=(16,), num_outputs=1),
        tiny_config=dict(input_shape=(6, 2), window=3, hidden_units=(4,), num_outputs=1),
        paper="Sejnowski & Rosenberg 1987 (NETtalk), Complex Systems 1",
        seeds=("000",),
        default_dataset="ar2_series",
        train_recipe=dict(optimizer="adam", learning_rate=1e-2, batch_size=32, epochs=50),
        search_space=dict(window=dict(kind="int", min_value=1, max_value=8)),
        notes="The paper gives no configuration for series prediction; canonical = a small window-4 tanh MLP on an "
        "8-step history. NETtalk itself is window=7, 29 units per letter, 80 hidden, head='softmax', 26 outputs.",
    )
)
