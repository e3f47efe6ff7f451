"""Stacked-LSTM encoder–decoders: Sutskever et al.'s seq2seq and Luong et al.'s global attention.

References:
    Sutskever, Vinyals & Le 2014, "Sequence to sequence learning with neural networks", NIPS:
        a 4-layer LSTM (1000 units, 1000-D embeddings) reads the *reversed* source; its final
        states start a second 4-layer LSTM that predicts the target; softmax over 80,000 words
        (160,000 source words); "384M parameters" (§3.4).
    Luong, Pham & Manning 2015, "Effective approaches to attention-based neural machine
        translation", EMNLP: the same stacked-LSTM encoder–decoder (4 × 1000, reversed source,
        50k vocabularies) with global attention on the top decoder state h_t:
            score(h_t, h̄_s) = h_tᵀ·W_a·h̄_s ("general") or h_tᵀ·h̄_s ("dot"),
            α_t = softmax_s(score), c_t = Σ_s α_ts·h̄_s, h̃_t = tanh(W_c[c_t; h_t]),
            p(y_t | y_<t, x) = softmax(W_s·h̃_t),
        and input feeding: h̃_{t−1} is concatenated with the embedding of y_{t−1} (§3.3).

Both rows implement the decoding protocol of tasks/text.py (`encode`, `decode_step`,
`max_output_length`, the vocabularies), so the translation task's greedy and beam search, the
string (SavedModel) and token-id (ONNX, TFLite) endpoints, sacreBLEU and the alignment plots are
the ones of seq2seq_bahdanau, which this module also shares its step cell, vocabulary check and
`alignments` with. The source is reversed inside the model (its real words; padding stays at the
end), and the encoder's outputs are put back in source order, so alignments index source words.

Export: training runs the recurrences in `keras.layers.RNN` loops (TensorLists; tf2onnx converts
them, the builtins-only TFLite converter does not); `encode(portable=True)` runs the same cells in
a `while_loop` over fixed-shape buffers, as seq2seq_bahdanau does, so the id endpoint converts to
ONNX and to TFLite builtins.
"""

import keras
from keras import ops

from architectures.base import ZooModel
from architectures.registry import ModelSpec, register
from architectures.sequence.seq2seq_bahdanau import Seq2SeqBahdanau, _StepCell
from tasks import TensorSpec
from tasks import text as text_task

text_task.register_keras_objects()

# Sutskever et al. 2014 §3.4: 160k / 80k vocabularies, 1000-D embeddings, 4 layers of 1000 cells.
SUTSKEVER = dict(source_vocabulary_size=160_000, target_vocabulary_size=80_000, embedding_dim=1000, units=1000, num_layers=4)
# Luong et al. 2015 §4.1: 50k vocabularies, 4-layer LSTMs of 1000 cells, 1000-D embeddings.
LUONG = dict(source_vocabulary_size=50_000, target_vocabulary_size=50_000, embedding_dim=1000, units=1000, num_layers=4)
SCORES = ("general", "dot")


def reversal_order(mask):
    """Positions that read each row's real tokens in reverse, padding left at the end: for
    [a b c 0], [2 1 0 3]. The permutation is its own inverse, so it also puts reversed-order
    outputs back in source order."""
    lengths = ops.sum(ops.cast(mask, "int32"), axis=1, keepdims=True)
    positions = ops.expand_dims(ops.arange(ops.shape(mask)[1], dtype="int32"), 0)
    return ops.where(positions < lengths, lengths - 1 - positions, positions)


def take_positions(values, order):
    """values [N, S, D] gathered along axis 1 by order [N, S]."""
    index = ops.broadcast_to(ops.expand_dims(order, -1), ops.shape(values))
    return ops.take_along_axis(values, index, axis=1)


@keras.saving.register_keras_serializable(package="deepzoo")
class StackedLSTMEncoder(keras.layers.Layer):
    """`num_layers` LSTMs over the source, its real words reversed when `reverse`: returns the top
    layer's outputs [N, S, units] in source order and the final states [h_1, c_1, .., h_L, c_L].
    Masked (padding) positions keep the state."""

    def __init__(self, units, num_layers, input_dim, reverse=True, **kwargs):
        super().__init__(**kwargs)
        self.units, self.num_layers, self.input_dim = int(units), int(num_layers), int(input_dim)
        self.reverse = bool(reverse)
        self.cells = [keras.layers.LSTMCell(self.units, name=f"lstm_{i + 1}") for i in range(self.num_layers)]
        step = _StepCell(self.step, [self.units] * (2 * self.num_layers), self.units, name="encoder_step")
        self.rnn = keras.layers.RNN(step, return_sequences=True, return_state=True, name="rnn")

    def build(self, input_shape=None):
        for index, cell in enumerate(self.cells):
            cell.build((None, self.input_dim if index == 0 else self.units))
        self.rnn.build((None, None, self.input_dim + 1))
        self.built = True

    def advance(self, x, keep, states):
        """One step of every layer; a masked position (keep False) keeps every state."""
        new_states = []
        for index, cell in enumerate(self.cells):
            h, c = states[2 * index], states[2 * index + 1]
            x, (new_h, new_c) = cell(x, [h, c])
            new_states += [ops.where(keep, new_h, h), ops.where(keep, new_c, c)]
        return x, new_states

    def step(self, inputs, states):
        keep = inputs[:, -1:] > 0.5
        top, new_states = self.advance(inputs[:, :-1], keep, list(states))
        return top, new_states

    def call(self, embedded, mask, portable=False):
        batch = ops.shape(embedded)[0]
        zeros = [ops.zeros((batch, self.units), embedded.dtype)] * (2 * self.num_layers)
        keep = ops.expand_dims(ops.cast(mask, embedded.dtype), -1)  # reversal keeps padding at the end
        if self.reverse:
            order = reversal_order(mask)
            embedded = take_positions(embedded, order)
        if portable:
            outputs, states = self._portable_call(embedded, keep, zeros)
        else:
            outputs, *states = self.rnn(ops.concatenate([embedded, keep], axis=-1), initial_state=zeros)
        if self.reverse:
            outputs = take_positions(outputs, order)  # back to source order: α indexes source words
        return outputs, list(states)

    def _portable_call(self, embedded, keep, zeros):
        """The same cells in a while loop over fixed-shape buffers (no TensorList: TFLite builtins)."""
        length = ops.shape(embedded)[1]
        positions = ops.reshape(ops.arange(length, dtype="int32"), (1, -1, 1))
        buffer = ops.zeros((ops.shape(embedded)[0], length, self.units), embedded.dtype)

        def body(t, outputs, *states):
            top, states = self.advance(ops.take(embedded, t, axis=1), ops.take(keep, t, axis=1) > 0.5, list(states))
            return (t + 1, ops.where(positions == t, ops.expand_dims(top, 1), outputs), *states)

        start = (ops.convert_to_tensor(0, "int32"), buffer, *zeros)
        _, outputs, *states = ops.while_loop(lambda t, *_: t < length, body, start)
        return outputs, list(states)

    def compute_output_spec(self, embedded, mask, portable=False):
        batch, length = embedded.shape[0], embedded.shape[1]
        # Distinct tensors: the functional graph maps outputs by identity.
        states = [keras.KerasTensor((batch, self.units), dtype=self.compute_dtype) for _ in range(2 * self.num_layers)]
        return keras.KerasTensor((batch, length, self.units), dtype=self.compute_dtype), states

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers, "input_dim": self.input_dim,
                "reverse": self.reverse}


@keras.saving.register_keras_serializable(package="deepzoo")
class StackedLSTMDecoder(keras.layers.Layer):
    """Target embedding → `num_layers` LSTMs started from the encoder's states → (attention) → logits.

    `attention` None: Sutskever's decoder, logits = W·h_t + b. "general" / "dot": Luong's global
    attention with input feeding; the state carries h̃_{t−1} after the LSTM states and the memory
    (annotations h̄_s, their keys, the source mask) rides along as constant states in training.
    """

    def __init__(self, vocabulary_size, embedding_dim, units, num_layers, attention=None, **kwargs):
        super().__init__(**kwargs)
        if attention not in (None, *SCORES):
            raise ValueError(f"attention must be None or one of {SCORES}. Received: attention={attention!r}")
        self.vocabulary_size, self.embedding_dim = int(vocabulary_size), int(embedding_dim)
        self.units, self.num_layers, self.attention = int(units), int(num_layers), attention
        self.embedding = keras.layers.Embedding(self.vocabulary_size, self.embedding_dim, name="target_embedding")
        self.cells = [keras.layers.LSTMCell(self.units, name=f"lstm_{i + 1}") for i in range(self.num_layers)]
        lstm_states = [self.units] * (2 * self.num_layers)
        if attention is None:
            self.output_projection = keras.layers.Dense(self.vocabulary_size, name="softmax")
            step = _StepCell(self.teacher_step, lstm_states, self.units, name="decoder_step")
        else:
            self.key_projection = keras.layers.Dense(self.units, use_bias=False, name="W_a") if attention == "general" else None
            self.attentional = keras.layers.Dense(self.units, activation="tanh", use_bias=False, name="W_c")
            self.output_projection = keras.layers.Dense(self.vocabulary_size, use_bias=False, name="W_s")
            step = _StepCell(self.teacher_step, [*lstm_states, self.units, self.units, self.units, 1], self.units, name="decoder_step")
        self.rnn = keras.layers.RNN(step, return_sequences=True, name="rnn")

    @property
    def input_width(self):
        return self.embedding_dim + (self.units if self.attention else 0)  # input feeding adds h̃_{t−1}

    def build(self, input_shape=None):
        self.embedding.build((None,))
        for index, cell in enumerate(self.cells):
            cell.build((None, self.input_width if index == 0 else self.units))
        if self.attention:
            if self.key_projection is not None:
                self.key_projection.build((None, None, self.units))
            self.attentional.build((None, 2 * self.units))
        self.output_projection.build((None, self.units))
        self.rnn.build((None, None, self.embedding_dim))
        self.built = True

    def memory(self, annotations, source_mask):
        keys = self.key_projection(annotations) if self.attention == "general" else annotations
        return {"annotations": annotations, "keys": keys, "mask": source_mask}

    def attend(self, query, memory):
        """(c_t, α_t) of the top state `query` [N, u] over the source (padding never attended)."""
        scores = ops.sum(memory["keys"] * ops.expand_dims(query, 1), axis=-1)
        scores = ops.where(memory["mask"], scores, ops.full_like(scores, -1e9))
        alignment = ops.softmax(scores, axis=-1)
        return ops.sum(ops.expand_dims(alignment, -1) * memory["annotations"], axis=1), alignment

    def recurrence(self, embedded_previous, state, memory):
        """(output h̃_t or h_t, new state, α_t or None) of one step."""
        lstm_states = state[: 2 * self.num_layers]
        x = embedded_previous if not self.attention else ops.concatenate([embedded_previous, state[-1]], axis=-1)
        new_states = []
        for index, cell in enumerate(self.cells):
            x, (h, c) = cell(x, [lstm_states[2 * index], lstm_states[2 * index + 1]])
            new_states += [h, c]
        if not self.attention:
            return x, new_states, None
        context, alignment = self.attend(x, memory)
        attentional = self.attentional(ops.concatenate([context, x], axis=-1))
        return attentional, [*new_states, attentional], alignment

    def teacher_step(self, embedded_previous, states):
        states = list(states)
        if not self.attention:
            output, new_states, _ = self.recurrence(embedded_previous, states, None)
            return output, new_states
        lstm, constants = states[: 2 * self.num_layers + 1], states[2 * self.num_layers + 1 :]
        annotations, keys, mask = constants
        memory = {"annotations": annotations, "keys": keys, "mask": mask[..., 0] > 0.5}
        output, new_states, _ = self.recurrence(embedded_previous, lstm, memory)
        return output, [*new_states, annotations, keys, mask]

    def initial_state(self, encoder_states):
        if not self.attention:
            return list(encoder_states)
        return [*encoder_states, ops.zeros_like(encoder_states[0])]  # h̃_0 = 0

    def step(self, previous_ids, state, memory):
        output, new_state, alignment = self.recurrence(self.embedding(previous_ids), list(state), memory)
        if alignment is None:
            alignment = ops.zeros_like(ops.cast(memory["mask"], output.dtype))
        return self.output_projection(output), new_state, alignment

    def call(self, decoder_ids, annotations, encoder_states, source_mask):
        embedded = self.embedding(decoder_ids)
        state = self.initial_state(encoder_states)
        if self.attention:
            memory = self.memory(annotations, source_mask)
            mask = ops.expand_dims(ops.cast(source_mask, annotations.dtype), -1)
            state = [*state, annotations, memory["keys"], mask]
        return self.output_projection(self.rnn(embedded, initial_state=state))

    def compute_output_spec(self, decoder_ids, annotations, encoder_states, source_mask):
        return keras.KerasTensor((*decoder_ids.shape, self.vocabulary_size), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(), "vocabulary_size": self.vocabulary_size, "embedding_dim": self.embedding_dim,
            "units": self.units, "num_layers": self.num_layers, "attention": self.attention,
        }


@keras.saving.register_keras_serializable(package="deepzoo")
class Seq2SeqLSTM(ZooModel):
    """Stacked-LSTM encoder–decoder: token ids in, next-token logits out (teacher forcing).

    Inputs: `source_ids` int32 [N, S], `decoder_ids` int32 [N, T] ([start] y_1 .. y_{T−1}), 0 pads.
    Output: logits [N, T, target vocabulary].

    Args:
        source_vocabulary, target_vocabulary, *_vocabulary_size: as `Seq2SeqBahdanau`.
        embedding_dim, units, num_layers: both stacks (the papers: 1000, 1000, 4).
        attention: None (Sutskever et al.), "general" or "dot" (Luong et al.'s global attention).
        reverse_source: feed the source reversed (both papers).
        max_output_length: the decoding limit in tokens, [end] included.
    """

    def __init__(self, source_vocabulary=None, target_vocabulary=None, source_vocabulary_size=160_000,
                 target_vocabulary_size=80_000, embedding_dim=1000, units=1000, num_layers=4, attention=None,
                 reverse_source=True, max_output_length=50, name="seq2seq", **kwargs):
        self.source_vocabulary = Seq2SeqBahdanau._vocabulary(source_vocabulary, source_vocabulary_size, text_task.SOURCE_SPECIALS, "source")
        self.target_vocabulary = Seq2SeqBahdanau._vocabulary(target_vocabulary, target_vocabulary_size, text_task.TARGET_SPECIALS, "target")
        if int(max_output_length) < 1:
            raise ValueError(f"max_output_length must be at least 1. Received: max_output_length={max_output_length}")
        self.max_output_length = int(max_output_length)
        self.reverse_source = bool(reverse_source)
        self.has_attention = attention is not None
        source_ids = keras.Input(shape=(None,), dtype="int32", name="source_ids")
        decoder_ids = keras.Input(shape=(None,), dtype="int32", name="decoder_ids")
        source_embedding = keras.layers.Embedding(len(self.source_vocabulary), int(embedding_dim), name="source_embedding")
        encoder = StackedLSTMEncoder(units, num_layers, embedding_dim, reverse=reverse_source, name="encoder")
        decoder = StackedLSTMDecoder(len(self.target_vocabulary), embedding_dim, units, num_layers, attention, name="decoder")
        mask = ops.not_equal(source_ids, 0)
        annotations, states = encoder(source_embedding(source_ids), mask)
        logits = decoder(decoder_ids, annotations, states, mask)
        super().__init__(inputs={"source_ids": source_ids, "decoder_ids": decoder_ids}, outputs=logits, name=name, **kwargs)

    # --- the decoding protocol of tasks/text.py -------------------------------------------------

    def encode(self, source_ids, portable=False):
        """(memory, initial decoder state) of a batch of source ids; `portable`: no TensorList ops."""
        source_ids = ops.cast(source_ids, "int32")
        mask = ops.not_equal(source_ids, 0)
        annotations, states = self.get_layer("encoder")(self.get_layer("source_embedding")(source_ids), mask, portable=portable)
        decoder = self.get_layer("decoder")
        return decoder.memory(annotations, mask) if self.has_attention else {"mask": mask}, decoder.initial_state(states)

    def decode_step(self, previous_ids, state, memory):
        """(logits [N, V], state, α [N, S]; zeros without attention) of one step."""
        return self.get_layer("decoder").step(ops.cast(previous_ids, "int32"), state, memory)

    alignments = Seq2SeqBahdanau.alignments


def sutskever_parameter_count(source_vocabulary_size, target_vocabulary_size, embedding_dim, units, num_layers, **_):
    lstm = lambda width: 4 * (units * (width + units) + units)
    stack = lstm(embedding_dim) + (num_layers - 1) * lstm(units)
    return (source_vocabulary_size + target_vocabulary_size) * embedding_dim + 2 * stack + units * target_vocabulary_size + target_vocabulary_size


def luong_parameter_count(source_vocabulary_size, target_vocabulary_size, embedding_dim, units, num_layers, attention="general", **_):
    """Luong et al.'s equations, bias-free W_a, W_c, W_s as written (LSTM biases included)."""
    lstm = lambda width: 4 * (units * (width + units) + units)
    encoder = lstm(embedding_dim) + (num_layers - 1) * lstm(units)
    decoder = lstm(embedding_dim + units) + (num_layers - 1) * lstm(units)  # input feeding
    attention_weights = (units * units if attention == "general" else 0) + 2 * units * units
    return (source_vocabulary_size + target_vocabulary_size) * embedding_dim + encoder + decoder + attention_weights + units * target_vocabulary_size


TINY = dict(source_vocabulary_size=48, target_vocabulary_size=48, embedding_dim=8, units=16, num_layers=2, max_output_length=12)
INPUTS = (TensorSpec("source_ids", (None,), "int32"), TensorSpec("decoder_ids", (None,), "int32"))
OUTPUTS = (TensorSpec("translation", (), "string"),)
ENDPOINT = (
    "SavedModel: source string [N] → translation string [N] (TextVectorization, greedy loop, StringLookup in the "
    "graph); ONNX / TFLite: source_ids int32 [N, S] → target_ids int32 [N, max_output_length] with the vocabularies "
    "beside (the string ops do not convert; see seq2seq_bahdanau)"
)

register(
    ModelSpec(
        name="seq2seq",
        family="sequence",
        task="translation",
        builder=Seq2SeqLSTM,
        canonical_config=dict(SUTSKEVER, max_output_length=50),
        tiny_config=dict(TINY),
        reference_params=384_000_000,
        reference_source="P (Sutskever et al. 2014 §3.4: '384M parameters'; ours has 384,112,000 with Keras' LSTM biases)",
        paper="Sutskever, Vinyals & Le 2014, NIPS (Sequence to sequence learning with neural networks)",
        seeds=("000", "003"),
        default_dataset="translation",
        # The paper: SGD lr 0.7 halved every half epoch after epoch 5, batch 128, gradient norm clipped at 5.
        train_recipe=dict(optimizer="adam", learning_rate=3e-3, batch_size=64, epochs=15, clipnorm=5.0),
        inputs=INPUTS,
        outputs=OUTPUTS,
        export_endpoint=ENDPOINT,
        notes=(
            "4-layer LSTMs of 1000 cells, 1000-D embeddings, 160k/80k vocabularies and the reversed source as in "
            "the paper; initialisation U(−0.08, 0.08), SGD and the 8-GPU model parallelism are not reproduced "
            "(Keras defaults; the recipe uses Adam). Beam search is predict(beam_size=...). No attention: the "
            "alignment plot is skipped. Counted with sutskever_parameter_count: "
            f"{sutskever_parameter_count(**SUTSKEVER):,}."
        ),
    )
)

register(
    ModelSpec(
        name="seq2seq_luong",
        family="sequence",
        task="translation",
        builder=Seq2SeqLSTM,
        canonical_config=dict(LUONG, attention="general", max_output_length=50, name="seq2seq_luong"),
        tiny_config=dict(TINY, attention="general", name="seq2seq_luong"),
        reference_params=luong_parameter_count(**LUONG),
        reference_source="B (Luong et al. 2015 equations at §4.1's size: 4 × 1000 LSTMs, 1000-D embeddings, 50k vocabularies, "
        "general score, input feeding; the paper prints no total)",
        paper="Luong, Pham & Manning 2015, EMNLP (Effective approaches to attention-based NMT)",
        seeds=("000", "003"),
        default_dataset="translation",
        # The paper: SGD lr 1 halved after epoch 5, 10–12 epochs, batch 128, norm clipped at 5, dropout 0.2.
        train_recipe=dict(optimizer="adam", learning_rate=3e-3, batch_size=64, epochs=15, clipnorm=5.0),
        inputs=INPUTS,
        outputs=OUTPUTS,
        export_endpoint=ENDPOINT,
        notes=(
            "Global attention with the 'general' score (attention='dot' for h_tᵀh̄_s); input feeding; reversed "
            "source. Not implemented: the concat score, local attention (window D = 10) and dropout. W_a, W_c and "
            "W_s are bias-free as the paper writes them."
        ),
    )
)
