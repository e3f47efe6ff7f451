"""The Neural GPU (Kaiser & Sutskever 2016, "Neural GPUs Learn Algorithms", ICLR; arXiv 1511.08228).

The state is a w × n × m tensor (height w, one column per input position n, m channels): the input
symbols are embedded into its first row, then a stack of convolutional gated recurrent units
(CGRU) is applied n times, as many steps as the input is long:

    CGRU(s) = u ⊙ s + (1 − u) ⊙ tanh(U ∗ (r ⊙ s) + B),  u = σ(U′ ∗ s + B′),  r = σ(U″ ∗ s + B″)

(∗ a k_w × k_h convolution with shared weights over every step), σ and tanh saturating (cut off
at exactly 0 and ±1, as in the released code) so that a closed gate holds a cell over any number
of steps. The output is read from the first row of the final state, one prediction per position. Since every weight is a convolution kernel
and the number of steps follows the length, a model trained on 20-bit additions runs on 200 bits.

The steps loop with `keras.ops.fori_loop` over a dynamic length (a `tf.while_loop`: inference and
export) and are unrolled when the length is static (training batches: XLA cannot differentiate a
while loop whose trip count has no compile-time bound).
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import algorithmic as algorithmic_task

algorithmic_task.register_keras_objects()


def saturating_sigmoid(x, saturation):
    """clip(s·σ(x) − (s − 1)/2, 0, 1): a gate that reaches exactly 0 and 1 (s = 1: the plain σ).
    The released Neural GPU code's `sigmoid_cutoff` (s = 1.2): an exactly closed update gate
    keeps a cell unchanged over any number of steps, which running 200 steps after training on
    20 needs (a σ of 0.999 still leaks over 200 steps)."""
    return ops.clip(saturation * ops.sigmoid(x) - 0.5 * (saturation - 1.0), 0.0, 1.0)


def saturating_tanh(x, saturation):
    """clip(s·tanh(x), −1, 1): the same cut-off on the candidate (it reaches exactly ±1)."""
    return ops.clip(saturation * ops.tanh(x), -1.0, 1.0)


@keras.saving.register_keras_serializable(package="deepzoo")
class CGRUSteps(keras.layers.Layer):
    """Applies `depth` CGRUs (each its own kernels) to the state [N, w, n, m], n times."""

    def __init__(self, channels, kernel_size=3, depth=2, saturation=1.2, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.kernel_size, self.depth = int(channels), int(kernel_size), int(depth)
        self.saturation = float(saturation)
        k = self.kernel_size
        self.gates = [keras.layers.Conv2D(2 * self.channels, k, padding="same", name=f"cgru_{i}_gates") for i in range(self.depth)]
        self.candidates = [keras.layers.Conv2D(self.channels, k, padding="same", name=f"cgru_{i}_candidate") for i in range(self.depth)]

    def build(self, input_shape):
        shape = (None, None, None, self.channels)
        for layer in (*self.gates, *self.candidates):
            layer.build(shape)
        super().build(input_shape)

    def cgru(self, state, index):
        gates = saturating_sigmoid(self.gates[index](state), self.saturation)
        update, reset = gates[..., : self.channels], gates[..., self.channels :]
        candidate = saturating_tanh(self.candidates[index](reset * state), self.saturation)
        return update * state + (1.0 - update) * candidate

    def call(self, state):
        def step(_, s):
            for index in range(self.depth):
                s = self.cgru(s, index)
            return s

        length = state.shape[2]
        if length is None:  # a dynamic length: a while loop (inference and export)
            return ops.fori_loop(0, ops.shape(state)[2], step, state)
        # A static length (every training batch): the steps unrolled, since XLA cannot
        # differentiate a while loop without a compile-time bound on its trip count.
        for index in range(int(length)):
            state = step(index, state)
        return state

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "kernel_size": self.kernel_size, "depth": self.depth,
                "saturation": self.saturation}


@keras.saving.register_keras_serializable(package="deepzoo")
class NeuralGPU(ZooModel):
    """Neural GPU over per-position inputs [N, n, F] → per-position bit probabilities [N, n, B].

    Args:
        input_shape: (n, F); n None = any length.
        output_bits: B.
        height: w, the state's rows.
        channels: m.
        kernel_size: the CGRU kernels' size (k × k).
        depth: CGRUs applied per step (the paper's L = 2).
        saturation: the gates' and candidate's cut-off factor (1.2 as in the released code; 1 = plain σ, tanh).
    """

    def __init__(self, input_shape=(None, 2), output_bits=1, height=4, channels=24, kernel_size=3, depth=2, saturation=1.2,
                 name=None, **kwargs):
        inputs = keras.Input(shape=tuple(input_shape), name="sequence")
        embedded = keras.layers.Dense(channels, name="embedding")(inputs)  # [N, n, m]
        rows = int(height)
        state = keras.layers.Lambda(
            lambda e: ops.concatenate([e[:, None], ops.zeros_like(ops.repeat(e[:, None], rows - 1, axis=1))], axis=1)
            if rows > 1 else e[:, None],
            name="first_row",
        )(embedded)
        state = CGRUSteps(channels, kernel_size, depth, saturation, name="cgru_steps")(state)
        top = keras.layers.Lambda(lambda s: s[:, 0], name="top_row")(state)
        outputs = keras.layers.Dense(output_bits, activation="sigmoid", name="probabilities")(top)
        super().__init__(inputs=inputs, outputs=outputs, name=name or "neural_gpu", **kwargs)


register(
    ModelSpec(
        name="neural_gpu",
        family="sequence",
        task="bit_sequence",
        builder=NeuralGPU,
        # Kaiser & Sutskever 2016 §4: w = 4, m = 24 (their 'size'), 3 × 3 kernels, L = 2 CGRUs.
        canonical_config=dict(input_shape=(None, 2), output_bits=1, height=4, channels=24, kernel_size=3, depth=2),
        tiny_config=dict(input_shape=(None, 2), output_bits=1, height=2, channels=8, kernel_size=3, depth=1),
        reference_params=31_345,
        reference_source="B (Keras build: Dense(2 → 24), two CGRUs of 3·3·24·72 + 72, Dense(24 → 1))",
        paper="Kaiser & Sutskever 2016, ICLR (arXiv 1511.08228)",
        seeds=("000",),
        default_dataset="binary_addition",
        train_recipe=dict(optimizer="adam", learning_rate=3e-3, batch_size=32, epochs=30, clipnorm=1.0),
        inputs=(TensorSpec("sequence", (None, None), "float32"),),
        outputs=(TensorSpec("probabilities", (None, None), "float32"),),
        notes=(
            "The operands enter as two aligned bit channels (LSB first) where the paper embeds one token string. "
            "Gates and candidate saturate (clip(1.2·σ − 0.1, 0, 1), clip(1.2·tanh, −1, 1)) as in the released code; "
            "the curriculum over lengths and the gradient noise are the benchmark's recipe "
            "(benchmarks/bench_memory_networks.py); dropout and the relaxation of shared weights are not built."
        ),
    )
)
