"""Memory-augmented recurrent networks of family H: the Neural Turing Machine, the RL-NTM, the
Neural Random-Access Machine and the stack/queue-augmented RNNs.

References:
    ntm              Graves, Wayne & Danihelka 2014, "Neural Turing Machines" (arXiv 1410.5401):
                     an LSTM controller with an N×M memory, read and write heads addressed by
                     content (softmax(β·cos(k, M_i))), interpolation with the previous weighting
                     (gate g), circular-convolution shift s and sharpening γ; writes erase then add:
                     M_i ← M_i ⊙ (1 − w_i·e) + w_i·a.
    rl_ntm           Zaremba & Sutskever 2015, "Reinforcement Learning Neural Turing Machines"
                     (arXiv 1505.00521): discrete heads on a memory tape whose moves (−1, 0, +1)
                     are sampled and trained with REINFORCE (each move credited with the rewards
                     after it, less a baseline predicted from the controller's state); reads and
                     writes at the head are trained by backpropagation.
    neural_ram       Kurach, Andrychowicz & Sutskever 2016, "Neural Random-Access Machines" (ICLR):
                     R registers holding distributions over the M integers ("fuzzy pointers"), a
                     memory of M cells (each a distribution), a fixed list of modules (constants,
                     INC, ADD, LESS-THAN, READ, WRITE, ...) wired each step by an LSTM controller
                     that sees only P(r_i = 0).
    stack_queue_rnn  Grefenstette, Hermann, Suleyman & Blunsom 2015, "Learning to Transduce with
                     Unbounded Memory" (NIPS): an LSTM controller with a continuous stack (or queue):
                     push strength d, pop strength u, value v; reads the top (front) unit of
                     strength.

The recurrent models are cells (one `ControlledMemoryCell` base: the LSTM controller on the input
and the last read, the bits from its output and the new read) driven by `keras.layers.RNN` over any number of steps (inputs
[N, None, F]), so a model trained on sequences of ≤ 20 steps runs on 40. The NTM's addressing steps
are module-level functions of `keras.ops` (tests compare each with a hand-computed numpy step).
Exports: the RNN loop is a TensorList loop (TFLite builtins reject it; see recurrent.py); the
NRAM runs a fixed number of steps unrolled, so every format converts it.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from tasks import TensorSpec
from tasks import algorithmic as algorithmic_task
from tasks import sequence as sequence_task

algorithmic_task.register_keras_objects()
sequence_task.register_keras_objects()

EPSILON = 1e-8
SHIFTS = (-1, 0, 1)  # the NTM's and RL-NTM's allowed head shifts


# --- NTM addressing (Graves et al. 2014 §3.3), batch-first keras.ops -----------------------------


def roll_right(w, steps=1):
    """w[i − steps] at i (circular), by slicing: tf.roll has no TFLite builtin."""
    return ops.concatenate([w[:, -steps:], w[:, :-steps]], axis=1)


def roll_left(w, steps=1):
    """w[i + steps] at i (circular)."""
    return ops.concatenate([w[:, steps:], w[:, :steps]], axis=1)


def content_weights(memory, key, beta):
    """softmax_i(β·cos(k, M_i)): memory [B, N, M], key [B, M], beta [B] -> [B, N]."""
    dot = ops.sum(memory * key[:, None, :], axis=-1)
    norms = ops.sqrt(ops.sum(ops.square(memory), axis=-1)) * ops.sqrt(ops.sum(ops.square(key), axis=-1))[:, None]
    return ops.softmax(beta[:, None] * dot / (norms + EPSILON), axis=-1)


def interpolate(content, previous, gate):
    """w_g = g·w_c + (1 − g)·w_{t−1}: gate [B]."""
    return gate[:, None] * content + (1.0 - gate[:, None]) * previous


def circular_shift(weights, shift):
    """w̃_i = Σ_j w_j·s(i − j) over the shifts (−1, 0, +1): shift [B, 3] (a distribution)."""
    return shift[:, 0:1] * roll_left(weights) + shift[:, 1:2] * weights + shift[:, 2:3] * roll_right(weights)


def sharpen(weights, gamma):
    """w_i^γ / Σ_j w_j^γ with γ ≥ 1: gamma [B]."""
    powered = ops.exp(gamma[:, None] * ops.log(weights + EPSILON))
    return powered / ops.sum(powered, axis=-1, keepdims=True)


def address(memory, previous, key, beta, gate, shift, gamma):
    """The full NTM addressing: content → interpolation → shift → sharpening."""
    return sharpen(circular_shift(interpolate(content_weights(memory, key, beta), previous, gate), shift), gamma)


def erase_add(memory, weights, erase, add):
    """M_i ← M_i ⊙ (1 − w_i·e) + w_i·a: weights [B, N], erase and add [B, M]."""
    w = weights[:, :, None]
    return memory * (1.0 - w * erase[:, None, :]) + w * add[:, None, :]


def read(memory, weights):
    """r = Σ_i w_i·M_i."""
    return ops.sum(weights[:, :, None] * memory, axis=1)


def _head_parameters(raw, width):
    """Splits a head's raw controller output: key (tanh), β (softplus), g, shift (softmax), γ ≥ 1."""
    key = ops.tanh(raw[:, :width])
    beta = ops.softplus(raw[:, width])
    gate = ops.sigmoid(raw[:, width + 1])
    shift = ops.softmax(raw[:, width + 2 : width + 5], axis=-1)
    gamma = 1.0 + ops.softplus(raw[:, width + 5])
    return key, beta, gate, shift, gamma


HEAD_SIZE_EXTRA = 6  # β, g, three shift logits, γ besides the key


def _one_hot_first(batch, size, dtype):
    return ops.concatenate([ops.ones((batch, 1), dtype), ops.zeros((batch, size - 1), dtype)], axis=1)


class ControlledMemoryCell(keras.layers.Layer):
    """The loop every controller-driven memory cell here shares (NTM, stack/queue, RL-NTM tape):
    `control` runs the LSTM controller on [x_t, r] (r: `read_width` numbers read from the memory),
    the subclass's `call` accesses its memory with the controller's output, and `emit` gives the
    sigmoid bits from [h_t, r_t]. The states start with the controller's (h, c); a subclass lists
    its `memory_layers` (each fed the controller's output) and adds its memory states."""

    def __init__(self, output_bits, controller_units, read_width, **kwargs):
        super().__init__(**kwargs)
        self.output_bits, self.controller_units, self.read_width = int(output_bits), int(controller_units), int(read_width)
        self.controller = keras.layers.LSTMCell(self.controller_units, name="controller")
        self.output_layer = keras.layers.Dense(self.output_bits, activation="sigmoid", name="bits")

    def memory_layers(self):
        return ()

    def input_features(self, input_shape):
        return int(input_shape[-1])

    def build(self, input_shape):
        self.controller.build((None, self.input_features(input_shape) + self.read_width))
        for layer in self.memory_layers():
            layer.build((None, self.controller_units))
        self.output_layer.build((None, self.controller_units + self.read_width))
        super().build(input_shape)

    def controller_state(self, batch_size):
        zeros = ops.zeros((batch_size, self.controller_units), self.compute_dtype)
        return [zeros, zeros]

    def control(self, inputs, reads, h, c, training=None):
        out, (h, c) = self.controller(ops.concatenate([inputs, reads], axis=-1), [h, c], training=training)
        return out, h, c

    def emit(self, out, reads):
        return self.output_layer(ops.concatenate([out, reads], axis=-1))

    def get_config(self):
        return {**super().get_config(), "output_bits": self.output_bits, "controller_units": self.controller_units}


@keras.saving.register_keras_serializable(package="deepzoo")
class NTMCell(ControlledMemoryCell):
    """One NTM step: LSTM controller on [x_t, reads_{t−1}] → write head (erase, add) → read heads
    on the written memory → sigmoid bits from [h_t, reads_t].

    The step's output is [bits (B), read weights (R·N), write weights (N)] so that the weightings
    can be plotted; the model slices the bits. Initial state: memory 1e-6 everywhere (the
    cosine needs a non-zero row), every head's weighting on row 0, zero reads.
    """

    def __init__(self, output_bits, controller_units=100, memory_size=128, memory_width=20, read_heads=1, **kwargs):
        super().__init__(output_bits, controller_units, int(read_heads) * int(memory_width), **kwargs)
        self.memory_size, self.memory_width, self.read_heads = int(memory_size), int(memory_width), int(read_heads)
        n, m, r = self.memory_size, self.memory_width, self.read_heads
        self.read_parameters = keras.layers.Dense(r * (m + HEAD_SIZE_EXTRA), name="read_heads")
        self.write_parameters = keras.layers.Dense(m + HEAD_SIZE_EXTRA + 2 * m, name="write_head")
        # h, c, memory, read weightings, write weighting, reads
        self.state_size = [self.controller_units, self.controller_units, n * m, r * n, n, r * m]
        self.output_size = self.output_bits + r * n + n

    def memory_layers(self):
        return (self.read_parameters, self.write_parameters)

    def get_initial_state(self, batch_size=None):
        n, m, r = self.memory_size, self.memory_width, self.read_heads
        dtype = self.compute_dtype
        first = _one_hot_first(batch_size, n, dtype)
        return [
            *self.controller_state(batch_size),
            ops.full((batch_size, n * m), 1e-6, dtype),
            ops.concatenate([first] * r, axis=1), first,
            ops.zeros((batch_size, r * m), dtype),
        ]

    def call(self, inputs, states, training=None):
        h, c, memory, read_w, write_w, reads = states
        n, m, r = self.memory_size, self.memory_width, self.read_heads
        memory = ops.reshape(memory, (-1, n, m))
        controller_out, h, c = self.control(inputs, reads, h, c, training)
        raw = self.write_parameters(controller_out)
        write_w = address(memory, write_w, *_head_parameters(raw, m))
        erase = ops.sigmoid(raw[:, m + HEAD_SIZE_EXTRA : 2 * m + HEAD_SIZE_EXTRA])
        add = ops.tanh(raw[:, 2 * m + HEAD_SIZE_EXTRA :])
        memory = erase_add(memory, write_w, erase, add)
        raw_reads = self.read_parameters(controller_out)
        new_read_w, new_reads = [], []
        size = m + HEAD_SIZE_EXTRA
        for head in range(r):
            w = address(memory, read_w[:, head * n : (head + 1) * n], *_head_parameters(raw_reads[:, head * size : (head + 1) * size], m))
            new_read_w.append(w)
            new_reads.append(read(memory, w))
        read_w, reads = ops.concatenate(new_read_w, axis=-1), ops.concatenate(new_reads, axis=-1)
        output = ops.concatenate([self.emit(controller_out, reads), read_w, write_w], axis=-1)
        return output, [h, c, ops.reshape(memory, (-1, n * m)), read_w, write_w, reads]

    def get_config(self):
        return {**super().get_config(), "memory_size": self.memory_size, "memory_width": self.memory_width,
                "read_heads": self.read_heads}


@keras.saving.register_keras_serializable(package="deepzoo")
class NeuralTuringMachine(ZooModel):
    """NTM over bit sequences: [N, T, F] → per-step bit probabilities [N, T, B], any T.

    Args:
        input_shape: (T, F); T None = any length.
        output_bits: B, bits per output step.
        controller_units: LSTM controller size.
        memory_size, memory_width: N rows of M numbers.
        read_heads: number of read heads (one write head).
    """

    def __init__(self, input_shape=(None, 9), output_bits=8, controller_units=100, memory_size=128, memory_width=20,
                 read_heads=1, name=None, **kwargs):
        inputs = keras.Input(shape=tuple(input_shape), name="sequence")
        cell = NTMCell(output_bits, controller_units, memory_size, memory_width, read_heads, name="ntm_cell")
        steps = keras.layers.RNN(cell, return_sequences=True, name="memory_rnn")(inputs)
        bits = keras.layers.Lambda(lambda t: t[..., :output_bits], name="probabilities")(steps)
        super().__init__(inputs=inputs, outputs=bits, name=name or "ntm", **kwargs)


def ntm_weightings(model, x):
    """(read weightings [N, T, R, N_mem], write weighting [N, T, N_mem]) of an NTM on `x`."""
    import numpy as np

    cell = model.get_layer("memory_rnn").cell
    raw = np.asarray(keras.Model(model.inputs, model.get_layer("memory_rnn").output)(np.asarray(x, "float32")))
    b, n, r = cell.output_bits, cell.memory_size, cell.read_heads
    reads = raw[..., b : b + r * n].reshape(*raw.shape[:2], r, n)
    return reads, raw[..., b + r * n :]


# --- continuous stack / queue (Grefenstette et al. 2015) -------------------------------------------


def _exclusive_above(strengths):
    """Σ_{j>i} s_j (the strength stacked on top of unit i)."""
    return ops.sum(strengths, axis=1, keepdims=True) - ops.cumsum(strengths, axis=1)


def _exclusive_below(strengths):
    """Σ_{j<i} s_j (the strength queued in front of unit i)."""
    return ops.cumsum(strengths, axis=1) - strengths


def neural_stack_step(values, strengths, cursor, push, pop, value, kind="stack"):
    """One continuous stack (or queue) step of Grefenstette et al. 2015, eqs. 1–3.

    values [B, C, m], strengths [B, C], cursor [B, C] (one-hot: the next free unit), push d and
    pop u [B], value v [B, m]. Pop first removes u of strength from the top (stack) or front
    (queue), then v is pushed with strength d; the read is the strength-weighted sum of the top
    (front) units whose strengths sum to 1. Returns (values, strengths, read).
    """
    before = _exclusive_above(strengths) if kind == "stack" else _exclusive_below(strengths)
    strengths = ops.relu(strengths - ops.relu(pop[:, None] - before)) + cursor * push[:, None]
    values = values + cursor[:, :, None] * value[:, None, :]
    before = _exclusive_above(strengths) if kind == "stack" else _exclusive_below(strengths)
    weights = ops.minimum(strengths, ops.relu(1.0 - before))
    return values, strengths, ops.sum(weights[:, :, None] * values, axis=1)


@keras.saving.register_keras_serializable(package="deepzoo")
class NeuralStackCell(ControlledMemoryCell):
    """LSTM controller on [x_t, r_{t−1}] → (d, u, v, output); the stack/queue step; bits from
    [h_t, r_t]. The memory holds `capacity` units (one pushed per step): sequences longer than
    `capacity` steps stop pushing. kind: "stack" or "queue"."""

    def __init__(self, output_bits, controller_units=256, value_size=64, capacity=64, kind="stack", **kwargs):
        if kind not in ("stack", "queue"):
            raise ValueError(f"kind must be 'stack' or 'queue'. Received: kind={kind!r}")
        super().__init__(output_bits, controller_units, int(value_size), **kwargs)
        self.value_size, self.capacity, self.kind = int(value_size), int(capacity), kind
        self.operations = keras.layers.Dense(2 + self.value_size, name="push_pop_value")
        c, m = self.capacity, self.value_size
        self.state_size = [self.controller_units, self.controller_units, c * m, c, c, m]
        self.output_size = self.output_bits

    def memory_layers(self):
        return (self.operations,)

    def get_initial_state(self, batch_size=None):
        c, m, dtype = self.capacity, self.value_size, self.compute_dtype
        return [*self.controller_state(batch_size), ops.zeros((batch_size, c * m), dtype),
                ops.zeros((batch_size, c), dtype), _one_hot_first(batch_size, c, dtype), ops.zeros((batch_size, m), dtype)]

    def call(self, inputs, states, training=None):
        h, c, values, strengths, cursor, reads = states
        out, h, c = self.control(inputs, reads, h, c, training)
        raw = self.operations(out)
        push, pop, value = ops.sigmoid(raw[:, 0]), ops.sigmoid(raw[:, 1]), ops.tanh(raw[:, 2:])
        values = ops.reshape(values, (-1, self.capacity, self.value_size))
        values, strengths, reads = neural_stack_step(values, strengths, cursor, push, pop, value, self.kind)
        cursor = ops.concatenate([ops.zeros_like(cursor[:, :1]), cursor[:, :-1]], axis=1)  # next unit
        bits = self.emit(out, reads)
        return bits, [h, c, ops.reshape(values, (-1, self.capacity * self.value_size)), strengths, cursor, reads]

    def get_config(self):
        return {**super().get_config(), "value_size": self.value_size, "capacity": self.capacity, "kind": self.kind}


@keras.saving.register_keras_serializable(package="deepzoo")
class StackQueueRNN(ZooModel):
    """Stack- or queue-augmented LSTM (Grefenstette et al. 2015): [N, T, F] → bits [N, T, B]."""

    def __init__(self, input_shape=(None, 9), output_bits=8, controller_units=256, value_size=64, capacity=64,
                 kind="stack", name=None, **kwargs):
        inputs = keras.Input(shape=tuple(input_shape), name="sequence")
        cell = NeuralStackCell(output_bits, controller_units, value_size, capacity, kind, name=f"neural_{kind}_cell")
        bits = keras.layers.RNN(cell, return_sequences=True, name="memory_rnn")(inputs)
        super().__init__(inputs=inputs, outputs=bits, name=name or f"{kind}_rnn", **kwargs)


# --- RL-NTM (Zaremba & Sutskever 2015) ------------------------------------------------------------


@keras.saving.register_keras_serializable(package="deepzoo")
class GumbelNoise(keras.layers.Layer):
    """Gumbel(0, 1) noise [N, T, size] while training (argmax(logits + g) samples the softmax),
    zeros at inference (greedy moves): the sampled head moves of REINFORCE."""

    def __init__(self, size, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.size, self.seed = int(size), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        shape = (ops.shape(inputs)[0], ops.shape(inputs)[1], self.size)
        if not training:
            return ops.zeros(shape, inputs.dtype)
        u = keras.random.uniform(shape, minval=1e-6, maxval=1.0 - 1e-6, dtype=inputs.dtype, seed=self.seed_generator)
        return -ops.log(-ops.log(u))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:2], self.size)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "seed": self.seed}


@keras.saving.register_keras_serializable(package="deepzoo")
class TapeHeadCell(ControlledMemoryCell):
    """RL-NTM step on a memory tape with one discrete head: read the tape at the head, LSTM
    controller on [x_t, read], write a gated vector at the head, output bits, then move the head
    by the chosen shift (−1, 0, +1): argmax(logits + Gumbel noise), so a sample while training and
    the greedy move at inference. Output: [bits (B), log π(move), entropy of π, baseline b_t], the
    baseline predicting the return from the controller's state (no gradient into the controller)."""

    def __init__(self, output_bits, controller_units=100, tape_size=64, tape_width=16, **kwargs):
        super().__init__(output_bits, controller_units, int(tape_width), **kwargs)
        self.tape_size, self.tape_width = int(tape_size), int(tape_width)
        self.move_logits = keras.layers.Dense(len(SHIFTS), name="move_logits")
        self.write_layer = keras.layers.Dense(self.tape_width + 1, name="write")
        self.baseline_layer = keras.layers.Dense(1, name="baseline")
        self.state_size = [self.controller_units, self.controller_units, self.tape_size * self.tape_width, self.tape_size]
        self.output_size = self.output_bits + 3

    def memory_layers(self):
        return (self.move_logits, self.write_layer, self.baseline_layer)

    def input_features(self, input_shape):
        return int(input_shape[-1]) - len(SHIFTS)  # the Gumbel noise rides along the inputs

    def get_initial_state(self, batch_size=None):
        s, m, dtype = self.tape_size, self.tape_width, self.compute_dtype
        return [*self.controller_state(batch_size), ops.zeros((batch_size, s * m), dtype), _one_hot_first(batch_size, s, dtype)]

    def call(self, inputs, states, training=None):
        h, c, tape, head = states
        x, noise = inputs[:, : -len(SHIFTS)], inputs[:, -len(SHIFTS) :]
        tape = ops.reshape(tape, (-1, self.tape_size, self.tape_width))
        value = read(tape, head)
        out, h, c = self.control(x, value, h, c, training)
        bits = self.emit(out, value)
        raw = self.write_layer(out)
        gate = ops.sigmoid(raw[:, :1])[:, :, None] * head[:, :, None]
        tape = tape + gate * (ops.tanh(raw[:, None, 1:]) - tape)
        logits = self.move_logits(out)
        # The argmax as a comparison with the maximum (ties have probability 0): one_hot(argmax)
        # exports to ONNX through a Bitcast that ONNX Runtime lacks.
        scores = logits + noise
        move = ops.stop_gradient(ops.cast(scores >= ops.max(scores, axis=-1, keepdims=True), logits.dtype))
        log_policy = ops.log_softmax(logits, axis=-1)
        log_prob = ops.sum(move * log_policy, axis=-1, keepdims=True)
        entropy = -ops.sum(ops.exp(log_policy) * log_policy, axis=-1, keepdims=True)
        baseline = self.baseline_layer(ops.stop_gradient(out))
        head = move[:, 0:1] * roll_left(head) + move[:, 1:2] * head + move[:, 2:3] * roll_right(head)
        output = ops.concatenate([bits, log_prob, entropy, baseline], axis=-1)
        return output, [h, c, ops.reshape(tape, (-1, self.tape_size * self.tape_width)), head]

    def get_config(self):
        return {**super().get_config(), "tape_size": self.tape_size, "tape_width": self.tape_width}


def returns_after_each_step(step_rewards, discount=1.0):
    """G_t = Σ_{t' > t} γ^(t' − t − 1)·r_t' over [N, T]: the move chosen at step t changes only
    later reads, the next one most directly (γ < 1 weighs it more: less variance, some bias)."""
    index = ops.arange(ops.shape(step_rewards)[1])
    ahead = ops.cast(index[:, None] - index[None, :], step_rewards.dtype)  # t' − t at [t', t]
    weights = ops.where(ahead > 0, ops.power(ops.cast(discount, step_rewards.dtype), ahead - 1.0), 0.0)
    return ops.matmul(step_rewards, weights)


def later_target_mask(y):
    """1 at the steps t of [N, T, B] targets after which a target step follows, else 0 (a move
    there changes no reward: its REINFORCE term is noise)."""
    has_target = ops.cast(ops.any(y >= 0, axis=-1), "float32")
    return ops.cast(returns_after_each_step(has_target) > 0, "float32")


def normalised(values, mask):
    """(values − mean) / std over the masked entries (REINFORCE's advantages at one scale)."""
    total = ops.maximum(ops.sum(mask), 1.0)
    mean = ops.sum(values * mask) / total
    std = ops.sqrt(ops.sum(ops.square(values - mean) * mask) / total)
    return (values - mean) / (std + 1e-6) * mask


@keras.saving.register_keras_serializable(package="deepzoo")
class RLNTM(ZooModel):
    """RL-NTM: a discrete-head tape machine trained with REINFORCE for the head moves.

    The reward of step t is −(its bits' cross-entropy). The loss is the task's bit cross-entropy
    (backpropagated through reads and writes) plus the REINFORCE surrogate
    −Σ_t A_t·log π(a_t), with A_t = G_t − b_t normalised over the batch, G_t the (γ-discounted,
    `discount`) rewards after step t and b_t a baseline predicted from the controller's state
    (trained on (G_t − b_t)²): subtracting it leaves the gradient's expectation and lowers its
    variance. An entropy bonus (`entropy_weight`) keeps the moves exploring. Only steps followed
    by a target count.
    """

    def __init__(self, input_shape=(None, 9), output_bits=8, controller_units=100, tape_size=64, tape_width=16,
                 reinforce_weight=1.0, entropy_weight=0.01, discount=0.9, seed=0, name=None, **kwargs):
        inputs = keras.Input(shape=tuple(input_shape), name="sequence")
        noise = GumbelNoise(len(SHIFTS), seed=seed, name="move_noise")(inputs)
        cell = TapeHeadCell(output_bits, controller_units, tape_size, tape_width, name="tape_cell")
        steps = keras.layers.RNN(cell, return_sequences=True, name="memory_rnn")(keras.layers.Concatenate(name="with_noise")([inputs, noise]))
        bits = keras.layers.Lambda(lambda t: t[..., :output_bits], name="probabilities")(steps)
        policy = keras.layers.Lambda(lambda t: t[..., output_bits:], name="move_log_prob_entropy_baseline")(steps)
        super().__init__(inputs=inputs, outputs=bits, name=name or "rl_ntm", **kwargs)
        object.__setattr__(self, "_policy_graph", keras.Model(inputs, [bits, policy], name="policy"))
        self.reinforce_weight, self.entropy_weight, self.discount = float(reinforce_weight), float(entropy_weight), float(discount)

    def reinforce_terms(self, x, y, training=True):
        """A dict: bits, supervised (bit cross-entropy), surrogate (REINFORCE), baseline_loss,
        entropy (mean over the counted steps) and reward (the batch's mean sequence reward)."""
        bits, policy = self._policy_graph(x, training=training)
        y = ops.cast(y, bits.dtype)
        batch, steps, width = ops.shape(y)[0], ops.shape(y)[1], ops.shape(y)[2]
        step_loss = algorithmic_task.masked_bit_crossentropy(ops.reshape(y, (-1, 1, width)), ops.reshape(bits, (-1, 1, width)))
        rewards = -ops.stop_gradient(ops.reshape(step_loss, (batch, steps)))
        returns = returns_after_each_step(rewards, self.discount)
        counted = later_target_mask(y)
        total = ops.maximum(ops.sum(counted), 1.0)
        log_probs, entropies, baselines = policy[..., 0], policy[..., 1], policy[..., 2]
        advantage = ops.stop_gradient(normalised(returns - baselines, counted))
        return {
            "bits": bits,
            "supervised": ops.mean(algorithmic_task.masked_bit_crossentropy(y, bits)),
            "surrogate": -ops.sum(counted * advantage * log_probs) / total,
            "baseline_loss": ops.sum(counted * ops.square(returns - baselines)) / total,
            "entropy": ops.sum(counted * entropies) / total,
            "reward": ops.mean(ops.sum(rewards, axis=1)),
        }

    def train_step(self, data):
        import tensorflow as tf

        x, y = data[0], data[1]
        with tf.GradientTape() as tape:
            terms = self.reinforce_terms(x, y, training=True)
            loss = (terms["supervised"] + self.reinforce_weight * (terms["surrogate"] + terms["baseline_loss"])
                    - self.entropy_weight * terms["entropy"])
        variables = self.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self._loss_tracker.update_state(terms["supervised"])
        return self.compute_metrics(x, y, terms["bits"], sample_weight=None)


def rl_ntm_head_positions(model, x):
    """The tape cell the head is on after each step [N, T] of an RL-NTM run greedily on `x`."""
    import numpy as np

    cell = model.get_layer("memory_rnn").cell
    x = np.asarray(x, "float32")
    states = cell.get_initial_state(batch_size=x.shape[0])
    no_noise = np.zeros((x.shape[0], len(SHIFTS)), "float32")
    positions = []
    for step in range(x.shape[1]):
        _, states = cell(np.concatenate([x[:, step], no_noise], axis=-1), states, training=False)
        positions.append(np.argmax(np.asarray(states[3]), axis=-1))
    return np.stack(positions, axis=1)


# --- NRAM (Kurach et al. 2016) -----------------------------------------------------------------------

# Module name -> (arity, the integer function mod M). READ and WRITE act on the memory.
NRAM_MODULES = {
    "zero": (0, None), "one": (0, None), "two": (0, None),
    "inc": (1, lambda a, m: (a + 1) % m), "dec": (1, lambda a, m: (a - 1) % m),
    "add": (2, lambda a, b, m: (a + b) % m), "sub": (2, lambda a, b, m: (a - b) % m),
    "less_than": (2, lambda a, b, m: int(a < b)), "less_equal": (2, lambda a, b, m: int(a <= b)),
    "equal": (2, lambda a, b, m: int(a == b)), "min": (2, lambda a, b, m: min(a, b)), "max": (2, lambda a, b, m: max(a, b)),
    "read": (1, None), "write": (2, None),
}


def _module_table(name, size):
    """The one-hot tensor T of an arithmetic module: c_k = Σ_{i(,j)} a_i (b_j) T[i(, j), k]."""
    import numpy as np

    arity, function = NRAM_MODULES[name]
    if arity == 1:
        table = np.zeros((size, size), "float32")
        for a in range(size):
            table[a, function(a, size)] = 1.0
        return table
    table = np.zeros((size, size, size), "float32")
    for a in range(size):
        for b in range(size):
            table[a, b, function(a, b, size)] = 1.0
    return table


@keras.saving.register_keras_serializable(package="deepzoo")
class NRAMCircuit(keras.layers.Layer):
    """`timesteps` steps of the NRAM: each step the controller (an LSTM cell seeing P(r_i = 0)
    of every register) picks, by softmax, every module's arguments among the registers and the
    earlier modules' outputs, and each register's new value among the registers and all module
    outputs. Values are distributions over {0, .., M − 1}: a module on distributions a, b gives
    c_k = Σ_{i,j} a_i b_j [f(i, j) = k]; READ(p) = Σ_i p_i mem_i; WRITE(p, a) sets
    mem_i ← (1 − p_i) mem_i + p_i a (and outputs 0). Input and output: the memory [N, M, M]."""

    def __init__(self, modules=("zero", "one", "inc", "add", "less_than", "read", "write"), registers=4, timesteps=4,
                 controller_units=32, **kwargs):
        super().__init__(**kwargs)
        unknown = [m for m in modules if m not in NRAM_MODULES]
        if unknown:
            raise ValueError(f"Unknown NRAM modules {unknown}. Expected names from {sorted(NRAM_MODULES)}.")
        self.module_names, self.registers = tuple(modules), int(registers)
        self.timesteps, self.controller_units = int(timesteps), int(controller_units)
        self.controller = keras.layers.LSTMCell(self.controller_units, name="controller")
        self.argument_layers = []
        for index, module in enumerate(self.module_names):
            arity = NRAM_MODULES[module][0]
            self.argument_layers.append(
                keras.layers.Dense(arity * (self.registers + index), name=f"{module}_arguments") if arity else None
            )
        self.register_layer = keras.layers.Dense(self.registers * (self.registers + len(self.module_names)), name="register_choice")

    def build(self, input_shape):
        size = int(input_shape[-1])
        self.size = size
        self.controller.build((None, self.registers))
        for layer in self.argument_layers:
            if layer is not None:
                layer.build((None, self.controller_units))
        self.register_layer.build((None, self.controller_units))
        self.tables = {m: ops.convert_to_tensor(_module_table(m, size)) for m in self.module_names if NRAM_MODULES[m][1] is not None}
        super().build(input_shape)

    def _constant(self, module, batch, dtype):
        value = {"zero": 0, "one": 1, "two": 2}[module]
        return ops.broadcast_to(ops.one_hot(ops.convert_to_tensor([value]), self.size, dtype=dtype), (batch, self.size))

    def call(self, memory, training=None):
        batch, dtype = ops.shape(memory)[0], memory.dtype
        memory = memory / ops.maximum(ops.sum(memory, axis=-1, keepdims=True), EPSILON)  # each cell a distribution
        registers = ops.broadcast_to(ops.one_hot(ops.zeros((1, self.registers), "int32"), self.size, dtype=dtype),
                                     (batch, self.registers, self.size))
        h = ops.zeros((batch, self.controller_units), dtype)
        c = ops.zeros((batch, self.controller_units), dtype)
        for _ in range(self.timesteps):
            out, (h, c) = self.controller(registers[:, :, 0], [h, c], training=training)
            available = [registers[:, i] for i in range(self.registers)]
            for index, module in enumerate(self.module_names):
                arity = NRAM_MODULES[module][0]
                if arity == 0:
                    result = self._constant(module, batch, dtype)
                else:
                    choices = ops.stack(available, axis=1)  # [N, R + index, M]
                    logits = ops.reshape(self.argument_layers[index](out), (-1, arity, self.registers + index))
                    args = ops.einsum("nac,ncm->nam", ops.softmax(logits, axis=-1), choices)
                    if module == "read":
                        result = ops.einsum("ni,nim->nm", args[:, 0], memory)
                    elif module == "write":
                        pointer = args[:, 0][:, :, None]
                        memory = (1.0 - pointer) * memory + pointer * args[:, 1][:, None, :]
                        result = self._constant("zero", batch, dtype)
                    elif arity == 1:
                        result = ops.matmul(args[:, 0], self.tables[module])
                    else:
                        result = ops.einsum("ni,nj,ijk->nk", args[:, 0], args[:, 1], self.tables[module])
                available.append(result)
            choices = ops.stack(available, axis=1)
            logits = ops.reshape(self.register_layer(out), (-1, self.registers, self.registers + len(self.module_names)))
            registers = ops.einsum("nrc,ncm->nrm", ops.softmax(logits, axis=-1), choices)
        return memory

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "modules": list(self.module_names), "registers": self.registers,
                "timesteps": self.timesteps, "controller_units": self.controller_units}


@keras.saving.register_keras_serializable(package="deepzoo")
class NeuralRAM(ZooModel):
    """NRAM: memory [N, M, M] (cell i's value as a distribution) → the memory after `timesteps`
    circuit steps, [N, M, M] probabilities (the tagging task scores the cells that have targets)."""

    def __init__(self, memory_size=8, modules=("zero", "one", "inc", "add", "less_than", "read", "write"), registers=4,
                 timesteps=4, controller_units=32, name=None, **kwargs):
        inputs = keras.Input(shape=(int(memory_size), int(memory_size)), name="memory")
        outputs = NRAMCircuit(modules, registers, timesteps, controller_units, name="circuit")(inputs)
        super().__init__(inputs=inputs, outputs=outputs, name=name or "neural_ram", **kwargs)
        self.vocabulary = None
        self.sequence_length = int(memory_size)


# --- registry -----------------------------------------------------------------------------------

TFLITE_REASON = (
    "Keras' RNN loop collects its outputs in TensorLists, which the builtins-only TFLite converter rejects "
    "('tf.TensorListReserve' op requires element_shape to be static; Keras 3.15, TF 2.21); the memory models keep a "
    "dynamic number of steps (trained on 20, run on 40), so the loop is not unrolled. SavedModel and ONNX export it."
)
LOOP_LIMITATIONS = {variant: TFLITE_REASON for variant in ("tflite", "tflite_fp16", "tflite_dynamic", "tflite_int8")}
BITS_INPUT = (TensorSpec("sequence", (None, None), "float32"),)
BITS_OUTPUT = (TensorSpec("probabilities", (None, None), "float32"),)
RECIPE = dict(optimizer="adam", learning_rate=3e-3, batch_size=32, epochs=30, clipnorm=10.0)


def register_bit_memory_row(**fields):
    """Registers a recurrent memory row of the bit_sequence task: the fields every one shares
    (family, task, recipe, bit I/O, the TFLite loop limitation), then the row's own."""
    shared = {"family": "sequence", "task": "bit_sequence", "seeds": ("000",), "train_recipe": RECIPE,
              "inputs": BITS_INPUT, "outputs": BITS_OUTPUT, "limitations": LOOP_LIMITATIONS}
    register(ModelSpec(**{**shared, **fields}))


register_bit_memory_row(
    name="ntm",
    builder=NeuralTuringMachine,
    # Graves et al. 2014 Table 2 (copy, LSTM controller): one head of each kind, 100 units,
    # memory 128 × 20, 8-bit vectors plus a delimiter channel.
    canonical_config=dict(input_shape=(None, 9), output_bits=8, controller_units=100, memory_size=128, memory_width=20),
    tiny_config=dict(input_shape=(None, 9), output_bits=8, controller_units=16, memory_size=16, memory_width=8),
    reference_params=62_260,
    reference_source=(
        "B (Keras build of the canonical config: LSTM(9 + 20 → 100) 52,000, read head Dense(100 → 26), write head Dense(100 → 66), output Dense(120 → 8); "
        "Graves et al. 2014 Table 2 print 67,561 for their LSTM-NTM on copy, with a differently sized head layout)"
    ),
    paper="Graves, Wayne & Danihelka 2014, arXiv 1410.5401",
    default_dataset="copy",
    notes=(
        "The write head writes before the read heads read (one step can read what it wrote); keys pass tanh. "
        "The notes' write M_i ← a_i·w + (1 − a_i)·M_i is erase/add with e = 1; the paper's erase then add is built."
    ),
)

register_bit_memory_row(
    name="stack_queue_rnn",
    builder=StackQueueRNN,
    # Grefenstette et al. 2015 §5: one-layer LSTM controller of 256 units, 64-D stack values.
    canonical_config=dict(input_shape=(None, 9), output_bits=8, controller_units=256, value_size=64, capacity=128, kind="stack"),
    tiny_config=dict(input_shape=(None, 9), output_bits=8, controller_units=16, value_size=8, capacity=48, kind="stack"),
    reference_params=357_450,
    reference_source="B (Keras build: LSTM(9 + 64 → 256), Dense(256 → 2 + 64), Dense(256 + 64 → 8))",
    paper="Grefenstette, Hermann, Suleyman & Blunsom 2015, NIPS (Learning to Transduce with Unbounded Memory)",
    default_dataset="reverse",
    notes=(
        "kind='stack' (reversal) or 'queue' (copy). The memory is a fixed buffer of `capacity` units (one push per "
        "step) where the paper's grows without bound. Grefenstette's tasks are on tokens; ours on bit vectors."
    ),
)

register_bit_memory_row(
    name="rl_ntm",
    builder=RLNTM,
    canonical_config=dict(input_shape=(None, 9), output_bits=8, controller_units=200, tape_size=64, tape_width=16),
    tiny_config=dict(input_shape=(None, 9), output_bits=8, controller_units=16, tape_size=48, tape_width=8),
    reference_params=None,
    paper="Zaremba & Sutskever 2015, arXiv 1505.00521",
    default_dataset="reverse",
    notes=(
        "One discrete memory-tape head (moves −1/0/+1 by REINFORCE: rewards after each move, a baseline predicted "
        "from the controller's state, an entropy bonus); the input and output tapes are read and written in order "
        "(the paper also learns their heads). The paper prints no size."
    ),
)

register(
    ModelSpec(
        name="neural_ram",
        family="sequence",
        task="sequence_tagging",
        builder=NeuralRAM,
        canonical_config=dict(memory_size=10, modules=("zero", "one", "two", "inc", "add", "sub", "dec", "less_than",
                                                       "less_equal", "equal", "min", "max", "read", "write"),
                              registers=4, timesteps=10, controller_units=64),
        tiny_config=dict(memory_size=8, modules=("zero", "read", "write"), registers=2, timesteps=3, controller_units=8),
        reference_params=None,
        paper="Kurach, Andrychowicz & Sutskever 2016, ICLR (arXiv 1511.06392)",
        seeds=("000",),
        default_dataset="memory_access",
        train_recipe=dict(optimizer="adam", learning_rate=1e-2, batch_size=64, epochs=30, clipnorm=10.0),
        inputs=(TensorSpec("memory", (None, None), "float32"),),
        outputs=(TensorSpec("probabilities", (None, None), "float32"),),
        notes=(
            "The full module list (constants, INC, DEC, ADD, SUB, LESS-THAN, LESS-OR-EQUAL, EQUALITY, MIN, MAX, READ, "
            "WRITE); the controller is an LSTM seeing P(r_i = 0). No stop probability f_t: the loss is on the final "
            "memory after `timesteps` steps; the paper's curriculum and entropy/noise tricks are not built."
        ),
    )
)
