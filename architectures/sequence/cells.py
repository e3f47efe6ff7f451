"""Recurrent cells that Keras lacks: the LSTM variants of spec §2 H and §3 (recurrent cells).

References:
    Hochreiter & Schmidhuber 1997, Neural Computation 9(8): the constant error carousel (CEC),
        no forget gate: C_t = C_{t−1} + i_t ⊙ C̃_t.
    Gers, Schmidhuber & Cummins 2000, Neural Computation 12(10): the forget gate.
    Gers & Schmidhuber 2000, IJCNN: peephole connections, diagonal weights from the cell state to
        the gates (p_i ⊙ C_{t−1}, p_f ⊙ C_{t−1}, p_o ⊙ C_t).
    Greff, Srivastava, Koutník, Steunebrink & Schmidhuber 2017, IEEE TNNLS ("LSTM: a search space
        odyssey"): the coupled input–forget gate (CIFG), i_t = 1 − f_t.

Keras has SimpleRNNCell (Elman), LSTMCell (forget gate, no peepholes) and GRUCell (both reset
conventions through `reset_after`); this module adds one cell, `LSTMVariantCell`, whose options
give the peephole, CIFG and CEC variants. The equations, with σ the logistic function and
z_g = W_g·x_t + U_g·h_{t−1} + b_g for each gate block g:

    i_t = σ(z_i + p_i ⊙ C_{t−1})        (CIFG: i_t = 1 − f_t)
    f_t = σ(z_f + p_f ⊙ C_{t−1})        (CEC: no forget gate, f_t = 1)
    C̃_t = tanh(z_c)
    C_t = f_t ⊙ C_{t−1} + i_t ⊙ C̃_t
    o_t = σ(z_o + p_o ⊙ C_t)
    h_t = o_t ⊙ tanh(C_t)

`peephole="diagonal"` (Gers & Schmidhuber: p_* are vectors), `peephole="full"` (the notes' form
f = σ(W_f·[C_{t−1}, h_{t−1}, x_t] + b_f): P_* are n×n matrices, C·P), or None (no peepholes).
Parameters: G·(n(n + m) + n) with G = 4 gate blocks (3 for CIFG or CEC), plus 3n diagonal or 3n²
full peephole weights. The forget-gate bias starts at 1 (Gers et al. 2000; Keras'
`unit_forget_bias`).
"""

import keras
from keras import ops

# Gate blocks in the order of the kernel's columns, per variant (spec §2 H rows lstm,
# lstm_peephole, lstm_coupled, and lstm's forget_gate=False option).
GATE_BLOCKS = {
    "standard": ("i", "f", "c", "o"),
    "coupled": ("f", "c", "o"),  # i = 1 − f
    "no_forget": ("i", "c", "o"),  # the 1997 CEC: f = 1
}
PEEPHOLES = (None, "diagonal", "full")


def lstm_variant_parameter_count(units, input_dim, peephole=None, coupled=False, forget_gate=True):
    """Trainable parameters of one `LSTMVariantCell` (the formulas of the module docstring)."""
    n, m = int(units), int(input_dim)
    blocks = 3 if (coupled or not forget_gate) else 4
    peepholes = {None: 0, "diagonal": 3 * n, "full": 3 * n * n}[peephole]
    return blocks * (n * (n + m) + n) + peepholes


@keras.saving.register_keras_serializable(package="deepzoo")
class LSTMVariantCell(keras.layers.Layer):
    """An LSTM cell with optional peepholes (diagonal or full), coupled input–forget gate (CIFG)
    or no forget gate (the 1997 CEC). State: [h, C]. See the module docstring for the equations."""

    def __init__(self, units, peephole=None, coupled=False, forget_gate=True, **kwargs):
        super().__init__(**kwargs)
        if peephole not in PEEPHOLES:
            raise ValueError(f"peephole must be one of {PEEPHOLES}. Received: peephole={peephole!r}")
        if coupled and not forget_gate:
            raise ValueError("A coupled (CIFG) cell derives its input gate from the forget gate. Received: coupled=True, forget_gate=False")
        self.units = int(units)
        self.peephole = peephole
        self.coupled = bool(coupled)
        self.forget_gate = bool(forget_gate)
        self.variant = "coupled" if coupled else ("standard" if forget_gate else "no_forget")
        self.blocks = GATE_BLOCKS[self.variant]
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    def build(self, input_shape):
        n, m, g = self.units, int(input_shape[-1]), len(self.blocks)
        self.kernel = self.add_weight(shape=(m, g * n), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(n, g * n), initializer="orthogonal", name="recurrent_kernel")
        forget_at = self.blocks.index("f") if "f" in self.blocks else None

        def bias_initializer(shape, dtype=None):
            values = [ops.ones((n,), dtype) if index == forget_at else ops.zeros((n,), dtype) for index in range(g)]
            return ops.concatenate(values)

        self.bias = self.add_weight(shape=(g * n,), initializer=bias_initializer, name="bias")
        if self.peephole is not None:
            shape = (n,) if self.peephole == "diagonal" else (n, n)
            initializer = "zeros" if self.peephole == "diagonal" else "glorot_uniform"
            # i and f peek at C_{t−1}, o at C_t (Gers & Schmidhuber 2000). A CIFG cell has no i gate.
            names = [gate for gate in ("i", "f", "o") if gate in self.blocks]
            self.peephole_weights = {gate: self.add_weight(shape=shape, initializer=initializer, name=f"peephole_{gate}") for gate in names}
        self.built = True

    def _peek(self, gate, cell_state):
        if self.peephole is None:
            return 0.0
        weight = self.peephole_weights[gate]
        return cell_state * weight if self.peephole == "diagonal" else ops.matmul(cell_state, weight)

    def call(self, inputs, states, training=False):
        h_previous, c_previous = states[0], states[1]
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_previous, self.recurrent_kernel) + self.bias
        parts = dict(zip(self.blocks, ops.split(z, len(self.blocks), axis=-1)))
        if "f" in parts:
            forget = ops.sigmoid(parts["f"] + self._peek("f", c_previous))
        else:
            forget = 1.0
        if self.coupled:
            input_gate = 1.0 - forget
        else:
            input_gate = ops.sigmoid(parts["i"] + self._peek("i", c_previous))
        candidate = ops.tanh(parts["c"])
        cell = forget * c_previous + input_gate * candidate
        output_gate = ops.sigmoid(parts["o"] + self._peek("o", cell))
        hidden = output_gate * ops.tanh(cell)
        return hidden, [hidden, cell]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "peephole": self.peephole,
            "coupled": self.coupled,
            "forget_gate": self.forget_gate,
        }


def lstm_cell_update(c_previous, forget, input_gate, candidate):
    """C_t = f ⊙ C_{t−1} + i ⊙ C̃ (the step the notes' worked example (004) computes by hand)."""
    return forget * c_previous + input_gate * candidate


# Cell kinds that recurrent models accept, with their defaults (cell_options override them).
CELL_KINDS = ("simple", "lstm", "peephole", "cifg", "cec", "gru")


def make_cell(kind, units, name=None, **options):
    """A recurrent cell of `kind` (CELL_KINDS) with `units`; `options` go to the cell's constructor
    (e.g. peephole="full", reset_after=False)."""
    if kind == "simple":
        return keras.layers.SimpleRNNCell(units, name=name, **options)
    if kind == "lstm":
        if options.get("forget_gate", True) is False:  # the spec's lstm option: the 1997 CEC cell
            return LSTMVariantCell(units, name=name, **options)
        options = {k: v for k, v in options.items() if k != "forget_gate"}
        return keras.layers.LSTMCell(units, name=name, **options)  # unit_forget_bias=True by default
    if kind == "gru":
        return keras.layers.GRUCell(units, name=name, **options)
    if kind == "peephole":
        return LSTMVariantCell(units, name=name, **{"peephole": "diagonal", **options})
    if kind == "cifg":
        return LSTMVariantCell(units, name=name, **{"coupled": True, **options})
    if kind == "cec":
        return LSTMVariantCell(units, name=name, **{"forget_gate": False, **options})
    raise ValueError(f"Unknown cell kind. Received: cell={kind!r}; expected one of {CELL_KINDS}")


def cell_parameter_count(kind, units, input_dim, **options):
    """Trainable parameters of one cell of `kind` (spec §2 H formulas)."""
    n, m = int(units), int(input_dim)
    if kind == "simple":
        return n * (n + m + 1)
    if kind == "lstm":
        return (4 if options.get("forget_gate", True) else 3) * (n * (n + m) + n)
    if kind == "gru":
        return 3 * (n * (n + m) + n) + (3 * n if options.get("reset_after", True) else 0)
    defaults = {"peephole": {"peephole": "diagonal"}, "cifg": {"coupled": True}, "cec": {"forget_gate": False}}[kind]
    return lstm_variant_parameter_count(n, m, **{**defaults, **options})
